//! The validated input of every baseline: a Gaussian measurement matrix `A` (m × n), the
//! amplitudes `b = |A x|`, and the variance convention of `A`'s entries.
//!
//! The three papers state their formulas for rows `a_i ~ N(0, I_n)` (unit-variance entries,
//! the paper's MNIST experiment). A matrix drawn with `N(0, 1/m)` entries (the theorems'
//! convention, [`MeasurementScale::Normalized`]) is handled by rescaling: with `σ` the entry
//! standard deviation and `g = 1/σ`, the methods run on `A' = g A` and `b' = g b`, which
//! describe the *same* signal (`|A' x| = g |A x| = b'`). The rescaling is never a copy of `A`:
//! products are taken with `A` and multiplied by `g`.
//!
//! Per-data quantities that every run of a sparsity sweep shares are computed once, on first
//! use: the marginals `M_j = (1/m) Σ_i b'_i² a'_ij²` (the support statistic of all three
//! initialisations) and, for CoPRAM's least squares, the Gram matrix `AᵀA` (computed by the
//! first CoPRAM run). Build one [`PhaselessData`] per `(A, b)` and reuse it across sparsities
//! (it is `Sync`: a rayon sweep can share it).

use std::sync::OnceLock;

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, Par};

use super::support::nonzeros_into;
use crate::core::measure::MeasurementScale;
use crate::core::network::kernels::{colmajor_product, transposed_product};
use crate::core::vector::all_finite;
use crate::error::{Error, Result};

/// Amplitudes `b = |A x|` with their measurement matrix, validated once.
#[derive(Debug)]
pub struct PhaselessData<'a> {
    a: &'a Mat<f64>,
    /// The columns of `A` (contiguous: an owned faer matrix is column-major).
    columns: Vec<&'a [f64]>,
    /// `b' = g b`, the amplitudes in unit-variance units.
    amplitudes: Vec<f64>,
    /// `g = 1/σ`, the factor that makes the entries of `g A` unit-variance.
    gain: f64,
    marginals: OnceLock<Vec<f64>>,
    gram: OnceLock<Mat<f64>>,
}

impl<'a> PhaselessData<'a> {
    /// Checks the inputs: `A` has at least one row and one column and finite entries, `b` has
    /// one finite entry per row of `A`. `scale` is how `A`'s entries were drawn.
    pub fn new(a: &'a Mat<f64>, scale: MeasurementScale, b: &[f64]) -> Result<Self> {
        let (m, n) = (a.nrows(), a.ncols());
        if m == 0 {
            return Err(Error::param("m", m, "phase retrieval needs at least one measurement"));
        }
        if n == 0 {
            return Err(Error::param(
                "n",
                n,
                "the signal needs at least one entry (A has no columns)",
            ));
        }
        if b.len() != m {
            return Err(Error::param(
                "amplitudes",
                format!("{} values", b.len()),
                format!("give one amplitude per row of A ({m} rows)"),
            ));
        }
        if let Some(i) = b.iter().position(|v| !v.is_finite()) {
            return Err(Error::param(
                "amplitudes",
                format!("b[{i}] = {}", b[i]),
                "every amplitude must be finite",
            ));
        }
        let columns: Vec<&[f64]> = (0..n).map(|j| a.col_as_slice(j)).collect();
        if !columns.iter().all(|c| all_finite(c)) {
            return Err(Error::param(
                "A",
                "a non-finite entry",
                "every entry of A must be finite",
            ));
        }
        let gain = match scale {
            MeasurementScale::Unit => 1.0,
            MeasurementScale::Normalized => (m as f64).sqrt(),
        };
        Ok(Self {
            a,
            columns,
            amplitudes: b.iter().map(|v| gain * v).collect(),
            gain,
            marginals: OnceLock::new(),
            gram: OnceLock::new(),
        })
    }

    /// Number of measurements `m`.
    pub fn measurements(&self) -> usize {
        self.amplitudes.len()
    }

    /// Signal length `n`.
    pub fn dimension(&self) -> usize {
        self.columns.len()
    }

    /// `b' = g b`: the amplitudes for unit-variance rows.
    pub fn amplitudes(&self) -> &[f64] {
        &self.amplitudes
    }

    /// The columns of the raw `A`.
    pub(crate) fn columns(&self) -> &[&'a [f64]] {
        &self.columns
    }

    /// `g = 1/σ`.
    pub(crate) fn gain(&self) -> f64 {
        self.gain
    }

    /// `φ = sqrt((1/m) Σ b'_i²)`, the moment estimate of `‖x‖` (`E (a_iᵀx)² = ‖x‖²` for
    /// unit-variance rows) used by all three initialisations.
    pub fn norm_estimate(&self) -> f64 {
        let m = self.measurements() as f64;
        (self.amplitudes.iter().map(|b| b * b).sum::<f64>() / m).sqrt()
    }

    /// `M_j = (1/m) Σ_i b'_i² a'_ij²`, `j = 1..n` (cached): `E M_j = ‖x‖² + 2 x_j²`, so the
    /// largest marginals point at the support.
    pub fn marginals(&self) -> &[f64] {
        self.marginals.get_or_init(|| {
            let scale = self.gain * self.gain / self.measurements() as f64;
            let weights: Vec<f64> = self.amplitudes.iter().map(|b| b * b).collect();
            self.columns
                .iter()
                .map(|col| scale * col.iter().zip(&weights).map(|(a, w)| w * a * a).sum::<f64>())
                .collect()
        })
    }

    /// `A'ᵀA' = g² AᵀA` (n × n, cached; the first call costs `m n²/2` multiply–adds: the lower
    /// triangle, then mirrored).
    pub(crate) fn gram(&self) -> &Mat<f64> {
        self.gram.get_or_init(|| {
            let n = self.dimension();
            let mut g = Mat::zeros(n, n);
            triangular::matmul(
                g.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Replace,
                self.a.transpose(),
                BlockStructure::Rectangular,
                self.a.as_ref(),
                BlockStructure::Rectangular,
                self.gain * self.gain,
                Par::Seq,
            );
            for j in 0..n {
                for i in 0..j {
                    g[(i, j)] = g[(j, i)];
                }
            }
            g
        })
    }

    /// `out = A' x`, reading `x` through its nonzero entries (`m·nnz(x)` multiply–adds; the
    /// iterates of all three methods are sparse).
    pub(crate) fn forward<'c>(&'c self, product: &mut SparseProduct<'c>, x: &[f64], out: &mut [f64]) {
        product.apply(&self.columns, x, out);
        out.iter_mut().for_each(|v| *v *= self.gain);
    }

    /// `out = A'ᵀ r` (dense: `m·n` multiply–adds).
    pub(crate) fn adjoint(&self, r: &[f64], out: &mut [f64]) {
        transposed_product(&self.columns, &[r], &mut [out]);
        out.iter_mut().for_each(|v| *v *= self.gain);
    }
}

/// Workspace for `out = Σ_j x_j c_j` over the nonzero entries of a dense `x` and a set of
/// columns `c_j` (of `A`, or of the Gram matrix in CoSaMP); no allocation after the first use.
#[derive(Debug, Default)]
pub(crate) struct SparseProduct<'c> {
    support: Vec<usize>,
    values: Vec<f64>,
    cols: Vec<&'c [f64]>,
}

impl<'c> SparseProduct<'c> {
    /// `out = Σ_{x_j ≠ 0} x_j columns[j]`.
    pub(crate) fn apply(&mut self, columns: &[&'c [f64]], x: &[f64], out: &mut [f64]) {
        nonzeros_into(x, &mut self.support);
        self.values.clear();
        self.values.extend(self.support.iter().map(|&j| x[j]));
        self.cols.clear();
        self.cols.extend(self.support.iter().map(|&j| columns[j]));
        if self.cols.is_empty() {
            out.fill(0.0);
        } else {
            colmajor_product(&self.cols, out.len(), &[&self.values], &mut [out]);
        }
    }

    /// The nonzero pattern of the last `x`, in increasing order.
    pub(crate) fn support(&self) -> &[usize] {
        &self.support
    }
}
