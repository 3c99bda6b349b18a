//! The two random-matrix conditions of the theory (docs/THEORY.md §2) and the tools to measure
//! them: the Weight Distribution Condition (WDC) of each layer and the Range Restricted
//! Concentration Property (RRCP) of the measurement matrix, plus the assumption audit of
//! Theorem II.1.
//!
//! Both conditions are suprema over all inputs. Sampling gives a **lower bound** (it can
//! refute a claimed ε, never certify one); for layers with two inputs [`certify`] computes the
//! WDC supremum exactly up to a stated tolerance (a **certified interval**).
pub mod audit;
pub mod certify;
pub mod certify_boxes;
pub mod certify_check;
pub mod certify_k2_check;
pub mod certify_range;
pub mod certify_range_check;
pub mod rrcp;
pub mod rrcp_study;
pub mod spectral;
pub mod wdc;
pub mod wdc_scaling;
