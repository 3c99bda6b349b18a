//! CoSaMP, compressive sampling matching pursuit: D. Needell, J. A. Tropp, *CoSaMP: Iterative
//! signal recovery from incomplete and inaccurate samples*, Appl. Comput. Harmon. Anal.
//! 26(3):301–321, 2009. CoPRAM's inner solver.
//!
//! For `y ≈ A x` with `x` `s`-sparse, from a start `x` (zero, or CoPRAM's current estimate):
//!
//! 1. proxy `p = Aᵀ(y − A x)`; `Ω` = the `2s` largest `|p_j|`;
//! 2. merge: `T = Ω ∪ supp(x)` (at most `3s` indices);
//! 3. estimate: `w = argmin_{supp(w) ⊆ T} ‖y − A w‖`;
//! 4. prune: `x = H_s(w)`;
//!
//! until `‖x_new − x‖ ≤ tol · ‖x_new‖` or the iteration cap.
//!
//! Two implementation choices, both exact reformulations up to a documented regulariser:
//!
//! - The Gram matrix `G = AᵀA` is precomputed once per data ([`PhaselessData`] caches it), so
//!   the proxy is `c − G x` with `c = Aᵀy` (`n·s` work instead of `2mn`) and the normal
//!   equations of step 3 are gathered from `G` (`|T|²` reads instead of `m |T|²` work).
//! - Step 3 solves `(A_Tᵀ A_T + λ I) w = A_Tᵀ y` with `λ = ` [`RIDGE`] `· ‖A_T‖_F² / |T|`, by
//!   Cholesky. When `|T| > m` the least-squares solution is not unique (the paper's
//!   pseudo-inverse picks the minimum-norm one); the tiny ridge makes the system positive
//!   definite and returns that minimum-norm solution up to `O(λ)`. There the equivalent
//!   `m × m` form `w = A_Tᵀ (A_T A_Tᵀ + λ I)⁻¹ y` (the same `w` in exact arithmetic) is used
//!   when it costs fewer operations.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::cholesky::llt::solve::solve_in_place;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, Par};

use super::data::{PhaselessData, SparseProduct};
use super::support::{top_k_into, union_into, zero_outside};
use crate::core::measure::MeasurementScale;
use crate::error::{Error, Result};

/// Relative Tikhonov term of the least-squares step: `λ = RIDGE · mean diagonal`. It keeps
/// the Cholesky factorisation defined when `|T| ≥ m` (singular normal equations) and moves a
/// well-posed solution by a relative `≈ RIDGE · cond(A_T)²`, far below any tolerance used.
pub const RIDGE: f64 = 1e-10;

/// CoSaMP's loop settings.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `max_iterations` | 10 | iterations at most (CoPRAM's inner loop: docs/THEORY.md §7) | `≥ 1` |
/// | `tolerance` | 1e-2 | stop when `‖x_new − x‖ ≤ tolerance · ‖x_new‖` | `≥ 0` |
///
/// The tolerance is the one of Jagatap's `cosamp.m`, used inside CoPRAM, whose outer loop
/// does the fine convergence; a standalone solve wants a smaller one.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CosampSettings {
    /// Iterations at most.
    pub max_iterations: usize,
    /// Relative-change tolerance.
    pub tolerance: f64,
}

impl Default for CosampSettings {
    fn default() -> Self {
        Self {
            max_iterations: 10,
            tolerance: 1e-2,
        }
    }
}

impl CosampSettings {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        if self.max_iterations == 0 {
            return Err(Error::param(
                "cosamp max_iterations",
                0,
                "CoSaMP needs at least one iteration",
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(Error::param(
                "cosamp tolerance",
                self.tolerance,
                "the relative-change tolerance must be finite and ≥ 0",
            ));
        }
        Ok(())
    }
}

/// What a standalone CoSaMP solve returns.
#[derive(Clone, Debug)]
pub struct CosampOutcome {
    /// The `s`-sparse estimate.
    pub estimate: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// True when the relative change fell below the tolerance (false: the cap, or a failed
    /// factorisation, stopped it).
    pub converged: bool,
}

/// Standalone CoSaMP for `y ≈ A x` (no phase): the estimate of an `s`-sparse `x` from zero.
/// `A` may have any scaling.
pub fn cosamp(a: &Mat<f64>, y: &[f64], s: usize, settings: &CosampSettings) -> Result<CosampOutcome> {
    settings.check()?;
    // The data wrapper validates A and y (finite, shapes) and caches AᵀA; y's signs are kept
    // by the solver, which receives `y` itself.
    let data = PhaselessData::new(a, MeasurementScale::Unit, y)?;
    super::check_sparsity(s, data.dimension())?;
    let mut solver = Cosamp::new(&data, s);
    let mut c = vec![0.0; data.dimension()];
    data.adjoint(y, &mut c);
    let mut x = vec![0.0; data.dimension()];
    let (iterations, status) = solver.solve(y, &c, &mut x, settings);
    Ok(CosampOutcome {
        estimate: x,
        iterations,
        converged: status == Status::Converged,
    })
}

/// How a CoSaMP solve ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Converged,
    MaxIterations,
    /// A Cholesky factorisation failed (non-finite data); the estimate is the last good one.
    Breakdown,
}

/// CoSaMP on the unit-variance `A' = g A` of a [`PhaselessData`], with its workspace (no
/// allocation inside `solve`).
pub(crate) struct Cosamp<'d, 'a> {
    data: &'d PhaselessData<'a>,
    gram: &'d Mat<f64>,
    /// The columns of `gram`.
    gram_columns: Vec<&'d [f64]>,
    s: usize,
    product: SparseProduct<'d>,
    proxy: Vec<f64>,
    omega: Vec<usize>,
    merged: Vec<usize>,
    kept: Vec<usize>,
    scratch: Vec<usize>,
    w: Vec<f64>,
    previous: Vec<f64>,
    system: Mat<f64>,
    rhs: Mat<f64>,
    sub: Mat<f64>,
    mem: MemBuffer,
}

impl<'d, 'a> Cosamp<'d, 'a> {
    pub(crate) fn new(data: &'d PhaselessData<'a>, s: usize) -> Self {
        let (m, n) = (data.measurements(), data.dimension());
        let widest = (3 * s).min(n);
        let gram = data.gram();
        Self {
            data,
            gram,
            gram_columns: (0..n).map(|j| gram.col_as_slice(j)).collect(),
            s,
            product: SparseProduct::default(),
            proxy: vec![0.0; n],
            omega: Vec::with_capacity(n),
            merged: Vec::with_capacity(n),
            kept: Vec::with_capacity(n),
            scratch: Vec::with_capacity(n),
            w: vec![0.0; widest],
            previous: vec![0.0; n],
            system: Mat::zeros(widest, widest),
            rhs: Mat::zeros(widest, 1),
            sub: Mat::zeros(if widest > m { m } else { 0 }, if widest > m { widest } else { 0 }),
            mem: MemBuffer::new(cholesky_in_place_scratch::<f64>(widest, Par::Seq, Default::default())),
        }
    }

    /// Runs CoSaMP for `y' ≈ A' x` from the start in `x` (overwritten by the estimate), with
    /// `c = A'ᵀ y'` precomputed. Returns the iterations run and how it ended.
    pub(crate) fn solve(&mut self, y: &[f64], c: &[f64], x: &mut [f64], settings: &CosampSettings) -> (usize, Status) {
        for iteration in 1..=settings.max_iterations {
            self.previous.copy_from_slice(x);
            // Proxy p = c − G' x.
            self.product.apply(&self.gram_columns, x, &mut self.proxy);
            self.proxy.iter_mut().zip(c).for_each(|(p, cj)| *p = cj - *p);
            top_k_into(&self.proxy, 2 * self.s, &mut self.scratch, &mut self.omega);
            union_into(&self.omega, self.product.support(), &mut self.merged);
            if !self.least_squares(y, c) {
                x.copy_from_slice(&self.previous);
                return (iteration, Status::Breakdown);
            }
            x.fill(0.0);
            for (&j, &wj) in self.merged.iter().zip(&self.w) {
                x[j] = wj;
            }
            top_k_into(x, self.s, &mut self.scratch, &mut self.kept);
            zero_outside(x, &self.kept);
            let change = distance(x, &self.previous);
            let size = crate::core::vector::norm(x);
            if change <= settings.tolerance * size {
                return (iteration, Status::Converged);
            }
        }
        (settings.max_iterations, Status::MaxIterations)
    }

    /// Step 3 on `T = self.merged`, writing `w_T` into `self.w[..|T|]`. False if the
    /// factorisation failed.
    fn least_squares(&mut self, y: &[f64], c: &[f64]) -> bool {
        let (k, m) = (self.merged.len(), self.data.measurements());
        let trace: f64 = self.merged.iter().map(|&j| self.gram[(j, j)]).sum();
        let ridge = RIDGE * trace / k.max(1) as f64;
        let solved = if primal_is_cheaper(k, m) {
            self.primal(c, ridge)
        } else {
            self.dual(y, ridge)
        };
        solved && self.w[..k].iter().all(|v| v.is_finite())
    }

    /// `(G'_TT + λI) w = c_T`, gathered from the Gram matrix (the factorisation reads the lower
    /// triangle only).
    fn primal(&mut self, c: &[f64], ridge: f64) -> bool {
        let k = self.merged.len();
        for (b, &jb) in self.merged.iter().enumerate() {
            let col = self.gram_columns[jb];
            let dst = &mut self.system.col_as_slice_mut(b)[b..k];
            for (d, &ja) in dst.iter_mut().zip(&self.merged[b..]) {
                *d = col[ja];
            }
            dst[0] += ridge;
        }
        let rhs = self.rhs.col_as_slice_mut(0);
        for (r, &ja) in rhs.iter_mut().zip(&self.merged) {
            *r = c[ja];
        }
        let h = self.system.as_mut().submatrix_mut(0, 0, k, k);
        if !cholesky_solve(h, self.rhs.as_mut().submatrix_mut(0, 0, k, 1), &mut self.mem) {
            return false;
        }
        self.w[..k].copy_from_slice(&self.rhs.col_as_slice(0)[..k]);
        true
    }

    /// `w = A'_Tᵀ (A'_T A'_Tᵀ + λI)⁻¹ y` (needs `|T| > m`, where `sub` is allocated).
    fn dual(&mut self, y: &[f64], ridge: f64) -> bool {
        let (k, m) = (self.merged.len(), self.data.measurements());
        let g = self.data.gain();
        for (b, &jb) in self.merged.iter().enumerate() {
            let src = self.data.columns()[jb];
            self.sub.col_as_slice_mut(b)[..m]
                .iter_mut()
                .zip(src)
                .for_each(|(d, a)| *d = g * a);
        }
        let sub = self.sub.as_ref().submatrix(0, 0, m, k);
        let mut h = self.system.as_mut().submatrix_mut(0, 0, m, m);
        // Lower triangle only: the factorisation reads nothing else.
        triangular::matmul(
            h.rb_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            sub,
            BlockStructure::Rectangular,
            sub.transpose(),
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        for i in 0..m {
            h[(i, i)] += ridge;
        }
        self.rhs.col_as_slice_mut(0)[..m].copy_from_slice(y);
        if !cholesky_solve(h, self.rhs.as_mut().submatrix_mut(0, 0, m, 1), &mut self.mem) {
            return false;
        }
        let z = self.rhs.as_ref().submatrix(0, 0, m, 1);
        let w = faer::MatMut::from_column_major_slice_mut(&mut self.w[..k], k, 1);
        matmul(w, Accum::Replace, sub.transpose(), z, 1.0, Par::Seq);
        true
    }
}

/// True when the `|T| × |T|` normal equations cost fewer operations (`k³/3`, gathered from
/// the Gram matrix) than the `m × m` form (`m²k/2` to form, `m³/3` to factor); always when
/// `k ≤ m`.
fn primal_is_cheaper(k: usize, m: usize) -> bool {
    k <= m || 2 * k * k * k <= 3 * m * m * k + 2 * m * m * m
}

/// Solves `H z = rhs` in place (`rhs` becomes `z`) by Cholesky (`H` is overwritten by its
/// factor). False if `H` is not numerically positive definite.
fn cholesky_solve(mut h: MatMut<'_, f64>, mut rhs: MatMut<'_, f64>, mem: &mut MemBuffer) -> bool {
    let stack = MemStack::new(mem);
    if cholesky_in_place(
        h.rb_mut(),
        Default::default(),
        Par::Seq,
        &mut *stack,
        Default::default(),
    )
    .is_err()
    {
        return false;
    }
    solve_in_place(h.rb(), rhs.rb_mut(), Par::Seq, stack);
    true
}

/// `‖a − b‖`.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// A noiseless compressed-sensing instance (`m = 80`, `n = 200`, `s = 6`: `m ≈ 2 s log(n/s)`
    /// times two, comfortably inside CoSaMP's regime) is solved to rounding level.
    #[test]
    fn solves_a_noiseless_compressed_sensing_instance() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let (m, n, s) = (80, 200, 6);
        let a = Mat::from_fn(m, n, |_, _| StandardNormal.sample(&mut rng));
        let mut x = vec![0.0; n];
        for j in [3, 50, 51, 120, 150, 199] {
            x[j] = StandardNormal.sample(&mut rng);
        }
        let y: Vec<f64> = (0..m).map(|i| (0..n).map(|j| a[(i, j)] * x[j]).sum()).collect();
        let settings = CosampSettings {
            max_iterations: 30,
            tolerance: 1e-12,
        };
        let out = cosamp(&a, &y, s, &settings).unwrap();
        let err = distance(&out.estimate, &x) / crate::core::vector::norm(&x);
        // Tolerance: the ridge moves the exact solution by ≈ RIDGE · cond² ≈ 1e-9 at most.
        assert!(err < 1e-8, "relative error {err}");
        assert!(out.converged);
    }

    /// When `|T| > m` the two forms of the least-squares step give the same (minimum-norm,
    /// interpolating) solution.
    #[test]
    fn primal_and_dual_least_squares_agree() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let (m, n, s) = (10, 60, 8);
        let a = Mat::from_fn(m, n, |_, _| StandardNormal.sample(&mut rng));
        let y: Vec<f64> = (0..m).map(|_| StandardNormal.sample(&mut rng)).collect();
        let data = PhaselessData::new(&a, MeasurementScale::Unit, &y).unwrap();
        let mut c = vec![0.0; n];
        data.adjoint(&y, &mut c);
        let mut solver = Cosamp::new(&data, s);
        solver.merged = (0..n).step_by(3).collect(); // 20 columns > m = 10
        let k = solver.merged.len();
        let ridge = 1e-10 * solver.merged.iter().map(|&j| solver.gram[(j, j)]).sum::<f64>() / k as f64;
        assert!(solver.primal(&c, ridge));
        let primal = solver.w[..k].to_vec();
        assert!(solver.dual(&y, ridge));
        let dual = solver.w[..k].to_vec();
        // Tolerance: the primal system is singular up to the ridge, so rounding is amplified
        // by ‖G_TT‖/λ ≈ 1e10: relative 1e-16 · 1e10 = 1e-6, with margin.
        let scale = crate::core::vector::norm(&dual);
        assert!(distance(&primal, &dual) < 1e-4 * scale, "{primal:?} vs {dual:?}");
        // The dual solution interpolates: A_T w = y up to the ridge.
        let fit: Vec<f64> = (0..m)
            .map(|i| solver.merged.iter().zip(&dual).map(|(&j, w)| a[(i, j)] * w).sum())
            .collect();
        assert!(distance(&fit, &y) < 1e-6 * crate::core::vector::norm(&y));
    }
}
