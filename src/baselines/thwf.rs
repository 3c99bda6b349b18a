//! Thresholded Wirtinger Flow (ThWF): T. T. Cai, X. Li, Z. Ma, *Optimal rates of convergence
//! for noisy sparse phase retrieval via thresholded Wirtinger flow*, Ann. Statist.
//! 44(5):2221–2251, 2016 (arXiv:1506.03382); defaults from docs/THEORY.md §7. Not PhasePack's
//! *Truncated* Wirtinger Flow (Chen–Candès), a different method.
//!
//! ThWF works on **intensities** `y_i = b'_i²` (this module squares the amplitudes it is given;
//! `b'` is in unit-variance units, see [`super::data`]). With `f(x) = (1/4m) Σ ((a_iᵀx)² − y_i)²`:
//!
//! 1. **Initialisation**: `φ² = (1/m) Σ y_i`; `Ŝ = { j : (1/m) Σ_i y_i a_ij² > (1 + α sqrt(log(mn)/m)) φ² }`;
//!    `v` = the top eigenvector of `(1/m) Σ_i y_i a_{i,Ŝ} a_{i,Ŝ}ᵀ` ([`super::spectral`]);
//!    `x_0 = φ v` on `Ŝ`.
//! 2. **Thresholded gradient steps**: `x_{t+1} = T_{μ τ(x_t)/φ²}( x_t − (μ/φ²) ∇f(x_t) )` with
//!    soft thresholding `T`, `∇f(x) = (1/m) Σ ((a_iᵀx)² − y_i)(a_iᵀx) a_i` and the adaptive level
//!    `τ(x)² = (β log(mn) / m²) Σ ((a_iᵀx)² − y_i)² (a_iᵀx)²`.
//!
//! Defaults `α = 1.5`, `μ = 0.23`, `β = 0.3` (docs/THEORY.md §7; also those of Jagatap's
//! `Thresholded_WF.m`, whose reading this follows; `log` is natural).
//!
//! ThWF does not take the sparsity `s`: its thresholds set the support. [`thwf`] has no `s`
//! argument, and [`super::Method::uses_sparsity`] says so, so a sweep over `s` need run it once.
//!
//! One deviation: when the rule of step 1 selects no coordinate (possible when `m` is small),
//! the initial support is the single largest marginal, so that the iteration can start (from
//! `x_0 = 0` the gradient vanishes and ThWF could never move).
//!
//! Section and equation numbers are not cited: the paper's text was not available when this
//! was written; the steps follow its abstract and Jagatap's implementation.

use super::data::{PhaselessData, SparseProduct};
use super::spectral::{embed, top_eigenvector};
use super::support::soft_threshold;
use super::{Recovery, Stopping, check_positive};
use crate::error::Result;

/// ThWF's parameters.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `alpha` | 1.5 | `α`: support threshold of the initialisation | `> 0` |
/// | `step` | 0.23 | `μ`: gradient step, in units of `1/φ²` | `> 0` |
/// | `beta` | 0.3 | `β`: scale of the adaptive soft threshold `τ` | `> 0` |
/// | `stop` | [`Stopping::default`] | iteration cap and relative-change tolerance | |
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ThwfSettings {
    /// `α`.
    pub alpha: f64,
    /// `μ`.
    pub step: f64,
    /// `β`.
    pub beta: f64,
    /// When to stop.
    pub stop: Stopping,
}

impl Default for ThwfSettings {
    fn default() -> Self {
        Self {
            alpha: 1.5,
            step: 0.23,
            beta: 0.3,
            stop: Stopping::default(),
        }
    }
}

impl ThwfSettings {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        check_positive("thwf alpha", self.alpha)?;
        check_positive("thwf step", self.step)?;
        check_positive("thwf beta", self.beta)?;
        self.stop.check()
    }
}

/// Runs ThWF on the intensities `b'²` of `data`.
pub fn thwf(data: &PhaselessData<'_>, settings: &ThwfSettings) -> Result<Recovery> {
    settings.check()?;
    let x0 = initialise(data, settings.alpha);
    let mut step = Step::new(data, settings);
    Ok(super::iterate(x0, &settings.stop, data.norm_estimate(), |x, next| {
        step.apply(x, next)
    }))
}

/// `log(mn)`, the dimension factor of both thresholds.
fn log_mn(data: &PhaselessData<'_>) -> f64 {
    (data.measurements() as f64 * data.dimension() as f64).ln()
}

/// Step 1: the thresholded support and the spectral initialisation. The marginals of
/// [`PhaselessData::marginals`] are exactly `(1/m) Σ_i y_i a_ij²` with `y = b'²`.
pub(crate) fn initialise(data: &PhaselessData<'_>, alpha: f64) -> Vec<f64> {
    let m = data.measurements() as f64;
    let phi = data.norm_estimate();
    let level = (1.0 + alpha * (log_mn(data) / m).sqrt()) * phi * phi;
    let marginals = data.marginals();
    let mut support: Vec<usize> = (0..marginals.len()).filter(|&j| marginals[j] > level).collect();
    if support.is_empty() {
        let best = (0..marginals.len()).fold(0, |b, j| if marginals[j] > marginals[b] { j } else { b });
        support.push(best);
    }
    let rows: Vec<usize> = (0..data.measurements()).collect();
    let intensities = intensities(data);
    let v = top_eigenvector(data, &support, &rows, &intensities);
    embed(data.dimension(), &support, &v, phi)
}

/// `y = b'²`: ThWF's data are intensities.
pub(crate) fn intensities(data: &PhaselessData<'_>) -> Vec<f64> {
    data.amplitudes().iter().map(|b| b * b).collect()
}

/// Step 2's workspace: one thresholded Wirtinger step, without allocation.
struct Step<'d, 'a> {
    data: &'d PhaselessData<'a>,
    intensities: Vec<f64>,
    /// `μ/φ²`.
    rate: f64,
    /// `β log(mn)`.
    beta_log: f64,
    product: SparseProduct<'d>,
    residual: Vec<f64>,
    grad: Vec<f64>,
}

impl<'d, 'a> Step<'d, 'a> {
    fn new(data: &'d PhaselessData<'a>, settings: &ThwfSettings) -> Self {
        let (m, n) = (data.measurements(), data.dimension());
        let phi = data.norm_estimate();
        Self {
            data,
            intensities: intensities(data),
            rate: settings.step / (phi * phi),
            beta_log: settings.beta * log_mn(data),
            product: SparseProduct::default(),
            residual: vec![0.0; m],
            grad: vec![0.0; n],
        }
    }

    /// `next = T_{μτ/φ²}(x − (μ/φ²) ∇f(x))`; false when `φ = 0` (no step is defined).
    fn apply(&mut self, x: &[f64], next: &mut [f64]) -> bool {
        if !self.rate.is_finite() {
            return false;
        }
        let tau = self.gradient(x);
        for ((z, &xj), &gj) in next.iter_mut().zip(x).zip(&self.grad) {
            *z = xj - self.rate * gj;
        }
        soft_threshold(next, self.rate * tau);
        true
    }

    /// `∇f(x)` into `self.grad`; returns `τ(x)`. `x` is read through its nonzero entries (the
    /// iterates are sparse after soft thresholding).
    fn gradient(&mut self, x: &[f64]) -> f64 {
        self.data.forward(&mut self.product, x, &mut self.residual);
        // r_i = ((a_iᵀx)² − y_i) a_iᵀx; Σ r_i² is the sum inside τ(x)².
        for (u, &yi) in self.residual.iter_mut().zip(&self.intensities) {
            *u *= *u * *u - yi;
        }
        let m = self.data.measurements() as f64;
        let tau = (self.beta_log * self.residual.iter().map(|r| r * r).sum::<f64>()).sqrt() / m;
        self.data.adjoint(&self.residual, &mut self.grad);
        self.grad.iter_mut().for_each(|g| *g /= m);
        tau
    }
}

/// `(∇f(x), τ(x))` of ThWF's loss on the intensities of `data` (for tests and diagnostics).
pub fn wirtinger_gradient(data: &PhaselessData<'_>, x: &[f64]) -> (Vec<f64>, f64) {
    let mut step = Step::new(data, &ThwfSettings::default());
    let tau = step.gradient(x);
    (step.grad, tau)
}
