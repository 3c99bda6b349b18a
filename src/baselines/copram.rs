//! CoPRAM, compressive phase retrieval with alternating minimisation: G. Jagatap, C. Hegde,
//! *Fast, sample-efficient algorithms for structured phase retrieval*, NeurIPS 2017
//! (arXiv:1705.06412; journal version IEEE Trans. Inf. Theory 65(7):4434–4456, 2019,
//! *Sample-efficient algorithms for recovering structured signals from magnitude-only
//! measurements*); defaults from docs/THEORY.md §7.
//!
//! With `y_i = b'_i` the amplitudes for unit-variance rows (see [`super::data`]):
//!
//! 1. **Sparse spectral initialisation** from all `m` measurements: `Ŝ` = the `s` largest
//!    marginals `M_j = (1/m) Σ_i y_i² a_ij²`; `v` = the top eigenvector of
//!    `M_Ŝ = (1/m) Σ_i y_i² a_{i,Ŝ} a_{i,Ŝ}ᵀ` ([`super::spectral`]); `x_0 = φ v` on `Ŝ`,
//!    `φ = sqrt((1/m) Σ y_i²)`.
//! 2. **Alternating minimisation**: phases `p_t = sgn(A x_t)`, then
//!    `x_{t+1} = CoSaMP(A/√m, (p_t ∘ y)/√m, s, x_t)` ([`super::cosamp()`], started at `x_t`,
//!    10 iterations at most). The `1/√m` scaling of the paper changes neither the
//!    least-squares solutions nor the proxy's ranking, so it is dropped.
//!
//! Reading of the authors' code (Jagatap's `CoPRAM.m` and `cosamp.m`): the initialisation uses
//! all `m` rows (its truncated variant is off "to align with the paper"), the power iteration
//! starts at random (here: deterministic, [`super::spectral`]) and the inner CoSaMP stops at a
//! relative change of 1e-2 ([`CosampSettings::default`]). Their outer loop stops on errors
//! against the ground truth, which a reconstruction cannot see; here it stops on the relative
//! change of the estimate ([`Stopping`]).
//!
//! Algorithm and equation numbers are not cited: the paper's text was not available when this
//! was written; the steps follow its abstract and the authors' code.

use super::cosamp::{Cosamp, CosampSettings, Status};
use super::data::{PhaselessData, SparseProduct};
use super::spectral::{embed, top_eigenvector};
use super::support::top_k;
use super::{Recovery, Stopping, check_sparsity};
use crate::core::vector::sgn;
use crate::error::Result;

/// CoPRAM's parameters.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `cosamp` | 10 iterations, tolerance 1e-2 | the inner CoSaMP solve (docs/THEORY.md §7) | see [`CosampSettings`] |
/// | `stop` | [`COPRAM_MAX_ITERATIONS`] iterations, tolerance [`super::DEFAULT_TOLERANCE`] | outer (phase-update) iterations and tolerance | |
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CopramSettings {
    /// The inner CoSaMP solve.
    pub cosamp: CosampSettings,
    /// When the outer loop stops.
    pub stop: Stopping,
}

/// Outer iterations at most, by default: the value of Jagatap's experiment script
/// (`phase_retrieval_sparse.m`, `iter = 30`). Each outer iteration runs up to 10 CoSaMP
/// iterations, each a Cholesky solve of order up to `3s`, so the cap bounds the cost of the
/// runs that never converge (large `s`, few measurements); recoverable instances converge in
/// well under 30 (4–14 seen at `n ≈ 1000`, `s ≤ 50`).
pub const COPRAM_MAX_ITERATIONS: usize = 30;

impl Default for CopramSettings {
    fn default() -> Self {
        Self {
            cosamp: CosampSettings::default(),
            stop: Stopping {
                max_iterations: COPRAM_MAX_ITERATIONS,
                ..Stopping::default()
            },
        }
    }
}

impl CopramSettings {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        self.cosamp.check()?;
        self.stop.check()
    }
}

/// Runs CoPRAM for sparsity `s` (`1 ≤ s ≤ n`). The first CoPRAM run on a [`PhaselessData`]
/// computes its Gram matrix `AᵀA` (`m n²` multiply–adds), which later runs reuse.
pub fn copram(data: &PhaselessData<'_>, s: usize, settings: &CopramSettings) -> Result<Recovery> {
    check_sparsity(s, data.dimension())?;
    settings.check()?;
    let x0 = initialise(data, s);
    let mut step = Step::new(data, s, settings.cosamp);
    Ok(super::iterate(x0, &settings.stop, data.norm_estimate(), |x, next| {
        step.apply(x, next)
    }))
}

/// Step 1: the sparse spectral initialisation from all measurements.
pub(crate) fn initialise(data: &PhaselessData<'_>, s: usize) -> Vec<f64> {
    let support = top_k(data.marginals(), s);
    let rows: Vec<usize> = (0..data.measurements()).collect();
    let weights: Vec<f64> = data.amplitudes().iter().map(|y| y * y).collect();
    let v = top_eigenvector(data, &support, &rows, &weights);
    embed(data.dimension(), &support, &v, data.norm_estimate())
}

/// Step 2's workspace: one phase update and one CoSaMP solve.
struct Step<'d, 'a> {
    data: &'d PhaselessData<'a>,
    cosamp: Cosamp<'d, 'a>,
    settings: CosampSettings,
    product: SparseProduct<'d>,
    signed: Vec<f64>,
    correlation: Vec<f64>,
}

impl<'d, 'a> Step<'d, 'a> {
    fn new(data: &'d PhaselessData<'a>, s: usize, settings: CosampSettings) -> Self {
        let (m, n) = (data.measurements(), data.dimension());
        Self {
            data,
            cosamp: Cosamp::new(data, s),
            settings,
            product: SparseProduct::default(),
            signed: vec![0.0; m],
            correlation: vec![0.0; n],
        }
    }

    /// `next = CoSaMP(A', sgn(A'x) ∘ y, s, x)`; false if a factorisation failed.
    fn apply(&mut self, x: &[f64], next: &mut [f64]) -> bool {
        self.data.forward(&mut self.product, x, &mut self.signed);
        for (u, &y) in self.signed.iter_mut().zip(self.data.amplitudes()) {
            *u = sgn(*u) * y;
        }
        self.data.adjoint(&self.signed, &mut self.correlation);
        next.copy_from_slice(x);
        let (_, status) = self.cosamp.solve(&self.signed, &self.correlation, next, &self.settings);
        status != Status::Breakdown
    }
}
