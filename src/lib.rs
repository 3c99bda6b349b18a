//! # dpr-audit
//!
//! A numerical audit of phase retrieval under deep generative priors (Hand, Leong, Voroninski,
//! *Phase Retrieval Under a Generative Prior*, NeurIPS 2018). The theory says: if the weights of
//! a ReLU generator `G` satisfy the Weight Distribution Condition (WDC) and the measurement
//! matrix `A` the Range Restricted Concentration Property (RRCP), then outside two small balls
//! around `x0` and `−ρ_d x0` the objective `f(x) = ½ ‖|A G(x)| − |A G(x0)|‖²` has a strict
//! descent direction, and a gradient method with a negation check recovers `x0` from
//! `m = O(k d² log n)` phaseless measurements.
//!
//! Every formula follows `docs/THEORY.md` (with the corrected signs, the derivations the code
//! relies on and reference values); each lives in one named function whose doc cites its section.
//!
//! ## Notation ↔ code
//!
//! | paper | code |
//! |---|---|
//! | `G(x)`, `W_{+,x}`, `Λ_x` | [`core::network::Network`] (`generate`, `forward`, `active_product`, `jvp`, `vjp`) |
//! | `A`, `b = |Ay|`, `A_z` | [`core::measure::Measurements`] |
//! | `f`, `v_{x,x0}`, `D_u f` | [`core::objective::Problem`] |
//! | `g`, `θ̄`, `ξ`, `ζ`, `ρ_d`, `κ`, `M`, `Q`, `Φ`, `h`, `F` | [`core::expected`] |
//!
//! ## Module map
//!
//! - [`core`]: the numerical core (generator, measurements, objective, closed forms, weights I/O).
//! - [`rng`]: one master seed → one ChaCha stream per `(experiment, trial, stream)`.
//! - [`cancel`]: a cancellation token the long studies poll (Ctrl-C from Python stops the work).
//! - [`limits`]: what a run may use: the memory estimate and its budget, the thread cap, the largest depths and grids.
//! - [`report`]: tidy CSV, the JSON manifest, atomic output folders, progress, plots.
//! - [`images`]: MNIST (checksummed IDX, fixture, padding), db4 wavelets, SSIM (Wang 2004), pixel errors.
//! - [`solvers`]: DPR (Algorithm 1), GD without the negation check, Adam two-init; one executor.
//! - [`baselines`]: sparse phase retrieval (SPARTA, CoPRAM with CoSaMP, Thresholded WF), docs/THEORY.md §7.
//! - [`landscape`]: probes of `D_{−v} f` on grids, slices, rays and shells; the two neighbourhoods; the origin check.
//! - [`exec`]: studies as ordered trials: `--shard i/N`, per-trial appends, `--resume`, `merge`.
//! - [`sweep`]: success-rate sweeps over grids (m, k, d, widths, methods, noise): Wilson intervals, the transition `m*`, fits.
//! - [`experiments`]: the paper's image experiment (Figures 2–3), the synthetic sparse comparison, the decoder audit.
//! - [`claims`]: the claims `verify` checks, one module each.
//! - [`app`]: the subcommands behind the `dpr-audit` binary.

#[cfg(feature = "cli")]
pub mod app;
pub mod baselines;
pub mod cancel;
pub mod claims;
pub mod conditions;
pub mod core;
pub mod error;
pub mod exec;
pub mod experiments;
pub mod images;
pub mod landscape;
pub mod limits;
pub mod report;
pub mod rng;
pub mod solvers;
pub mod stats;
pub mod sweep;

pub use error::{Error, Result};
