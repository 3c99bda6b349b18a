//! SPARTA, sparse truncated amplitude flow: G. Wang, L. Zhang, G. B. Giannakis, M. Akçakaya,
//! J. Chen, *Sparse phase retrieval via truncated amplitude flow*, IEEE Trans. Signal Process.
//! 66(2):479–491, 2018 (arXiv:1611.07641); defaults from docs/THEORY.md §7.
//!
//! With `ψ_i = b'_i` the amplitudes for unit-variance rows (see [`super::data`]):
//!
//! 1. **Support**: `Ŝ` = the `s` largest marginals `(1/m) Σ_i ψ_i² a_ij²`.
//! 2. **Orthogonality-promoting initialisation**: `I_0` = the `⌈m/6⌉` largest normalised
//!    measurements `ψ_i / ‖a_{i,Ŝ}‖`; `ẑ` = the top eigenvector of
//!    `Y = (1/|I_0|) Σ_{i ∈ I_0} a_{i,Ŝ} a_{i,Ŝ}ᵀ / ‖a_{i,Ŝ}‖²` ([`super::spectral`]); `x_0 = φ ẑ`
//!    on `Ŝ`, with `φ = sqrt((1/m) Σ ψ_i²)`.
//! 3. **Truncated amplitude flow with hard thresholding**:
//!    `x_{t+1} = H_s( x_t − (μ/m) Σ_{i ∈ I_{t+1}} (a_iᵀx_t − ψ_i sgn(a_iᵀx_t)) a_i )`,
//!    `I_{t+1} = { i : |a_iᵀx_t| ≥ ψ_i / (1 + γ) }`, with `μ = 1`, `γ = 0.7`.
//!
//! Reading of the authors' code (Wang's `SPARTA1D.m`, Jagatap's `SparTAF.m`): both take the
//! support from the squared-amplitude marginals and the `I_0` ratios on the rows restricted to
//! `Ŝ`, as here. `Y` is built from the normalised rows as in Wang's code (Jagatap's weights the
//! rows by `ψ_i²` instead). Wang's code scales `ẑ` by a mean-amplitude norm estimate,
//! Jagatap's by `φ` above (used here). Both start the power iteration at random; this one is
//! deterministic ([`super::spectral`]).
//!
//! Equation numbers are not cited: the paper's text was not available when this was written;
//! the steps follow the algorithm as described in its abstract and the authors' code.

use super::data::{PhaselessData, SparseProduct};
use super::spectral::{embed, top_eigenvector};
use super::support::{top_k, top_k_into, zero_outside};
use super::{Recovery, Stopping, check_positive, check_sparsity, iterate};
use crate::core::vector::sgn;
use crate::error::Result;

/// SPARTA's parameters.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `step` | 1.0 | `μ`, the gradient step (docs/THEORY.md §7) | `> 0` |
/// | `truncation` | 0.7 | `γ`: row `i` enters the gradient when `|a_iᵀx| ≥ ψ_i/(1+γ)` | `> 0` |
/// | `init_divisor` | 6 | `|I_0| = ⌈m / init_divisor⌉` rows in the initialisation | `≥ 1` |
/// | `stop` | [`Stopping::default`] | iteration cap and relative-change tolerance | |
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SpartaSettings {
    /// `μ`.
    pub step: f64,
    /// `γ`.
    pub truncation: f64,
    /// `|I_0| = ⌈m / init_divisor⌉`.
    pub init_divisor: usize,
    /// When to stop.
    pub stop: Stopping,
}

impl Default for SpartaSettings {
    fn default() -> Self {
        Self {
            step: 1.0,
            truncation: 0.7,
            init_divisor: 6,
            stop: Stopping::default(),
        }
    }
}

impl SpartaSettings {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        check_positive("sparta step", self.step)?;
        check_positive("sparta truncation", self.truncation)?;
        if self.init_divisor == 0 {
            return Err(crate::Error::param(
                "sparta init_divisor",
                0,
                "|I_0| = ⌈m / init_divisor⌉ needs init_divisor ≥ 1 (the paper: 6)",
            ));
        }
        self.stop.check()
    }
}

/// Runs SPARTA for sparsity `s` (`1 ≤ s ≤ n`).
pub fn sparta(data: &PhaselessData<'_>, s: usize, settings: &SpartaSettings) -> Result<Recovery> {
    check_sparsity(s, data.dimension())?;
    settings.check()?;
    let x0 = initialise(data, s, settings.init_divisor);
    let mut step = Step::new(data, s, settings);
    Ok(iterate(x0, &settings.stop, data.norm_estimate(), |x, next| {
        step.apply(x, next)
    }))
}

/// Steps 1–2: the support estimate and the orthogonality-promoting initialisation.
pub(crate) fn initialise(data: &PhaselessData<'_>, s: usize, init_divisor: usize) -> Vec<f64> {
    let support = top_k(data.marginals(), s);
    let m = data.measurements();
    let g = data.gain();
    let mut row_norms = vec![0.0; m];
    for &j in &support {
        for (r, a) in row_norms.iter_mut().zip(data.columns()[j]) {
            *r += a * a;
        }
    }
    row_norms.iter_mut().for_each(|r| *r = g * r.sqrt());
    // Normalised measurements ψ_i / ‖a_{i,Ŝ}‖ (a zero row carries no direction: ratio 0).
    let ratios: Vec<f64> = data
        .amplitudes()
        .iter()
        .zip(&row_norms)
        .map(|(psi, r)| if *r > 0.0 { psi / r } else { 0.0 })
        .collect();
    let mut rows = Vec::new();
    top_k_into(&ratios, m.div_ceil(init_divisor), &mut Vec::new(), &mut rows);
    let weights: Vec<f64> = rows
        .iter()
        .map(|&i| if row_norms[i] > 0.0 { row_norms[i].powi(-2) } else { 0.0 })
        .collect();
    let v = top_eigenvector(data, &support, &rows, &weights);
    embed(data.dimension(), &support, &v, data.norm_estimate())
}

/// Step 3's workspace: one truncated-gradient step plus hard thresholding, without allocation.
struct Step<'d, 'a> {
    data: &'d PhaselessData<'a>,
    s: usize,
    step: f64,
    cut: f64,
    product: SparseProduct<'d>,
    kept: Vec<usize>,
    scratch: Vec<usize>,
    ax: Vec<f64>,
    grad: Vec<f64>,
}

impl<'d, 'a> Step<'d, 'a> {
    fn new(data: &'d PhaselessData<'a>, s: usize, settings: &SpartaSettings) -> Self {
        let (m, n) = (data.measurements(), data.dimension());
        Self {
            data,
            s,
            step: settings.step,
            cut: 1.0 / (1.0 + settings.truncation),
            product: SparseProduct::default(),
            kept: Vec::with_capacity(n),
            scratch: Vec::with_capacity(n),
            ax: vec![0.0; m],
            grad: vec![0.0; n],
        }
    }

    /// `next = H_s(x − (μ/m) ∇)`; always succeeds.
    fn apply(&mut self, x: &[f64], next: &mut [f64]) -> bool {
        self.data.forward(&mut self.product, x, &mut self.ax);
        for (u, &psi) in self.ax.iter_mut().zip(self.data.amplitudes()) {
            *u = if u.abs() >= self.cut * psi {
                *u - psi * sgn(*u)
            } else {
                0.0
            };
        }
        self.data.adjoint(&self.ax, &mut self.grad);
        let scale = self.step / self.data.measurements() as f64;
        for ((z, &xj), &gj) in next.iter_mut().zip(x).zip(&self.grad) {
            *z = xj - scale * gj;
        }
        top_k_into(next, self.s, &mut self.scratch, &mut self.kept);
        zero_outside(next, &self.kept);
        true
    }
}
