//! Sparse phase-retrieval baselines (docs/THEORY.md §7, the paper's comparison): SPARTA
//! ([`sparta()`]), CoPRAM ([`copram()`]) and Thresholded Wirtinger Flow ([`thwf()`]; not
//! PhasePack's *Truncated* WF), implemented from their papers (each module cites its source),
//! with CoSaMP ([`cosamp()`]) as CoPRAM's inner solver.
//!
//! ## Interface
//!
//! - Input: a [`PhaselessData`] — the measurement matrix `A` (a faer `Mat<f64>`, m × n, iid
//!   Gaussian entries), its [`MeasurementScale`] (`N(0,1)` as in the paper's experiments, or
//!   `N(0,1/m)`; the papers' formulas assume unit-variance rows, and other scales are rescaled
//!   internally, see [`data`]), and the amplitudes `b = |A x|` (ThWF squares them itself).
//!   Build it once per `(A, b)`: it caches what every run of a sparsity sweep shares.
//! - The sparsity `s` (`1 ≤ s ≤ n`) for SPARTA and CoPRAM; ThWF sets its support by
//!   thresholds and takes no `s` ([`Method::uses_sparsity`]).
//! - Settings: one struct per method ([`SpartaSettings`], [`CopramSettings`],
//!   [`ThwfSettings`]) with the papers' defaults, each holding a [`Stopping`] (iteration cap
//!   and relative-change tolerance); [`Settings`] bundles the three for [`run`].
//! - Output: a [`Recovery`] — the estimate (defined up to a global sign), the iterations run
//!   and the [`Termination`] reason. [`crate::core::vector::relative_error_up_to_sign`] measures
//!   it against a known truth.
//!
//! Every method is a deterministic function of its inputs: the spectral initialisations use
//! power iteration from a fixed start ([`spectral`]), ties in every top-`s` selection go to the
//! smaller index ([`support`]), and all arithmetic is sequential (a caller parallelises across
//! runs, e.g. with rayon; the results do not depend on the thread count).
//!
//! ## Cost
//!
//! One SPARTA or ThWF iteration is one product `A x` over the support of `x` (`m·|supp x|`)
//! and one dense `Aᵀ r` (`m·n`, bound by memory bandwidth). One CoPRAM iteration is one of each
//! plus at most 10 CoSaMP iterations on the cached Gram matrix, each a Cholesky solve of order
//! `|T| ≤ 3s` (or `m`, whichever is cheaper; about 2 ms at `3s = 636`); the first CoPRAM run on
//! a data computes the Gram matrix (`m n²/2`). CoPRAM's factorisations dominate a sparsity
//! sweep when `s` is large and the run does not converge. `benches/baselines.rs` times runs.

pub mod copram;
pub mod cosamp;
pub mod data;
pub mod sparta;
pub mod spectral;
pub mod support;
pub mod thwf;

pub use copram::{CopramSettings, copram};
pub use cosamp::{CosampOutcome, CosampSettings, cosamp};
pub use data::PhaselessData;
pub use sparta::{SpartaSettings, sparta};
pub use thwf::{ThwfSettings, thwf};

pub use crate::core::measure::MeasurementScale;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

use crate::core::vector::norm;
use crate::error::{Error, Result};

/// Iterations at most, by default: enough for the linear convergence seen in the recoverable
/// regime (tens of iterations to the tolerance) while bounding the cost of runs that never
/// converge (about 0.7 ms per iteration at `m = 1500`, `n = 1024`).
pub const DEFAULT_MAX_ITERATIONS: usize = 100;
/// Default relative-change tolerance: for a linearly convergent method with rate `ρ ≤ 0.9`
/// the remaining error is at most `9×` the last change, below the `1e-4` success criterion of
/// docs/THEORY.md §6 with margin.
pub const DEFAULT_TOLERANCE: f64 = 1e-6;
/// An iterate larger than this multiple of the norm estimate `φ ≈ ‖x‖` has left every
/// meaningful region (`φ` is within a factor 2 of `‖x‖` already at `m = 25`; Jagatap's codes
/// stop at a relative error of 5 against the truth, which a reconstruction cannot see); the
/// run stops as [`Termination::Diverged`].
pub const DIVERGENCE_RATIO: f64 = 10.0;

/// When an iteration stops.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `max_iterations` | [`DEFAULT_MAX_ITERATIONS`] | iterations at most (0: return the initialisation) | `≥ 0` |
/// | `tolerance` | [`DEFAULT_TOLERANCE`] | stop when `‖x_{t+1} − x_t‖ ≤ tolerance · ‖x_{t+1}‖` | finite, `≥ 0` |
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Stopping {
    /// Iterations at most.
    pub max_iterations: usize,
    /// Relative-change tolerance.
    pub tolerance: f64,
}

impl Default for Stopping {
    fn default() -> Self {
        Self {
            max_iterations: DEFAULT_MAX_ITERATIONS,
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

impl Stopping {
    /// Checks the tolerance.
    pub fn check(&self) -> Result<()> {
        if self.tolerance.is_finite() && self.tolerance >= 0.0 {
            Ok(())
        } else {
            Err(Error::param(
                "tolerance",
                self.tolerance,
                "the relative-change tolerance must be finite and ≥ 0",
            ))
        }
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// The relative change fell to the tolerance.
    Converged,
    /// The iteration cap was reached.
    MaxIterations,
    /// An iterate was not finite or exceeded [`DIVERGENCE_RATIO`]` · φ`; the estimate is the
    /// last iterate before it.
    Diverged,
    /// A step could not be computed (a failed factorisation, or `φ = 0` for ThWF); the
    /// estimate is the last iterate before it.
    Breakdown,
}

impl Termination {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Termination::Converged => "converged",
            Termination::MaxIterations => "max_iterations",
            Termination::Diverged => "diverged",
            Termination::Breakdown => "breakdown",
        }
    }
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The estimate of `x` (up to a global sign).
    pub estimate: Vec<f64>,
    /// Iterations run (CoPRAM: phase updates, each with up to 10 CoSaMP iterations).
    pub iterations: usize,
    /// Why the run stopped.
    pub termination: Termination,
}

/// The three baselines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// [`sparta()`].
    Sparta,
    /// [`copram()`].
    Copram,
    /// [`thwf()`].
    Thwf,
}

impl Method {
    /// All three, in the paper's order of mention.
    pub const ALL: [Method; 3] = [Method::Sparta, Method::Copram, Method::Thwf];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Sparta => "sparta",
            Method::Copram => "copram",
            Method::Thwf => "thwf",
        }
    }

    /// False for ThWF, whose thresholds set the support: a sweep over `s` need run it once.
    pub fn uses_sparsity(self) -> bool {
        !matches!(self, Method::Thwf)
    }
}

/// The settings of all three methods (the papers' defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Settings {
    /// SPARTA's.
    pub sparta: SpartaSettings,
    /// CoPRAM's.
    pub copram: CopramSettings,
    /// ThWF's.
    pub thwf: ThwfSettings,
}

/// Runs `method` with sparsity `s` (ignored by ThWF, see [`Method::uses_sparsity`]).
pub fn run(method: Method, data: &PhaselessData<'_>, s: usize, settings: &Settings) -> Result<Recovery> {
    match method {
        Method::Sparta => sparta(data, s, &settings.sparta),
        Method::Copram => copram(data, s, &settings.copram),
        Method::Thwf => thwf(data, &settings.thwf),
    }
}

/// The `s`-sparse test signal of the papers' synthetic experiments: a uniformly random
/// support of size `s` (partial Fisher–Yates shuffle) carrying `N(0, 1)` values.
pub fn sparse_gaussian_signal<R: Rng + ?Sized>(n: usize, s: usize, rng: &mut R) -> Vec<f64> {
    let s = s.min(n);
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..s {
        let j = rng.random_range(i..n);
        order.swap(i, j);
    }
    let mut x = vec![0.0; n];
    for &j in &order[..s] {
        x[j] = StandardNormal.sample(rng);
    }
    x
}

/// `1 ≤ s ≤ n`.
pub(crate) fn check_sparsity(s: usize, n: usize) -> Result<()> {
    if (1..=n).contains(&s) {
        Ok(())
    } else {
        Err(Error::param(
            "s",
            s,
            format!("the sparsity must be between 1 and the signal length n = {n}"),
        ))
    }
}

/// `value > 0` and finite.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::param(name, value, "must be a positive finite number"))
    }
}

/// The loop every method shares: from `x0`, `step(x, next)` writes the next iterate (false:
/// it could not). Stops on the relative change, the cap, a non-finite or runaway iterate
/// (beyond [`DIVERGENCE_RATIO`]` · phi`), or a failed step.
pub(crate) fn iterate(
    x0: Vec<f64>,
    stop: &Stopping,
    phi: f64,
    mut step: impl FnMut(&[f64], &mut [f64]) -> bool,
) -> Recovery {
    let mut x = x0;
    let mut next = vec![0.0; x.len()];
    for iteration in 1..=stop.max_iterations {
        if !step(&x, &mut next) {
            return Recovery {
                estimate: x,
                iterations: iteration,
                termination: Termination::Breakdown,
            };
        }
        let size = norm(&next);
        if !(size.is_finite() && size <= DIVERGENCE_RATIO * phi) {
            return Recovery {
                estimate: x,
                iterations: iteration,
                termination: Termination::Diverged,
            };
        }
        let change = x.iter().zip(&next).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        std::mem::swap(&mut x, &mut next);
        if change <= stop.tolerance * size {
            return Recovery {
                estimate: x,
                iterations: iteration,
                termination: Termination::Converged,
            };
        }
    }
    Recovery {
        estimate: x,
        iterations: stop.max_iterations,
        termination: Termination::MaxIterations,
    }
}
