//! The numerical core: vectors, the generator, measurements, the objective and the expected
//! (width → ∞) closed forms. Everything else in the crate is built on these.

pub mod expected;
pub mod instance;
pub mod measure;
pub mod network;
pub mod objective;
pub mod source;
pub mod vector;
pub mod weights;
