//! Everything that leaves the process: output folders written atomically, tidy CSV, the JSON
//! run manifest, progress bars, plots and the `verify` summary page.

pub mod latex;
pub mod manifest;
pub mod output;
pub mod plot;
#[cfg(feature = "cli")]
pub mod progress;

/// A vector as one CSV cell: entries in shortest round-trip form, joined by `;`.
pub fn cell_list(v: &[f64]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(";")
}

/// Network widths as a label, e.g. `20-500-500-784`.
pub fn widths_label(widths: &[usize]) -> String {
    widths.iter().map(ToString::to_string).collect::<Vec<_>>().join("-")
}
