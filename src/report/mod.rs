//! Everything that leaves the process: output folders written atomically, tidy CSV, the JSON
//! run manifest, progress bars, plots and the `verify` summary page.

pub mod manifest;
pub mod output;
pub mod plot;
pub mod progress;
