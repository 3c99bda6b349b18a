//! The paper's experiments beyond the theorem (docs/THEORY.md §6–8), as library code behind
//! `dpr-audit mnist reconstruct | synthetic | audit` and the claims C9, C10.
//!
//! | module | what | main items |
//! |---|---|---|
//! | [`reconstruct`] | Figures 2–3 of the paper: DPR (Adam two-init) on trained decoders against SPARTA, CoPRAM and ThWF on db4 wavelet coefficients, per (image, m) | [`reconstruct::run`], [`reconstruct::Protocol`], [`reconstruct::summarize`] |
//! | [`decoders`] | the shipped decoders (checked against `models/SHA256SUMS`) or a weights file | [`decoders::select`], [`decoders::DecoderChoice`] |
//! | [`figures`] | Figure 2 (mean error and SSIM against m, with min–max bars) and Figure 3 (image grids) | [`figures::figure2`], [`figures::figure3`] |
//! | [`synthetic`] | the synthetic comparison of the full paper: s-sparse signals for the sparse methods, a random ReLU generator (k = 10) for DPR; success rates with Wilson intervals | [`synthetic::run`] |
//! | [`decoder_audit`] | the trained decoders against Theorem II.1's hypotheses (assumption audit, WDC and RRCP lower bounds) beside a random network of the same widths | [`decoder_audit::run`] |
//!
//! Every random object draws from [`crate::rng::stream`] keyed by the experiment, the cell
//! (image, m) or trial, and the object, so results do not depend on the grid around a cell or
//! on the thread count.

pub mod decoder_audit;
pub mod decoders;
pub mod figures;
pub mod reconstruct;
pub mod synthetic;
