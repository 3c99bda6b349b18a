//! Phaseless measurements `b = |A y|` with `A ∈ R^{m × n}` (docs/THEORY.md §1), optional amplitude
//! noise, and the sign-adjusted matrix `A_z = diag(sgn(Az)) A` (so that `|Az| = A_z z`).

use faer::Mat;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::network::matvec;
use super::vector::{norm, sgn};

/// Variance convention of the entries of `A` (docs/THEORY.md §1; record it with every result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum MeasurementScale {
    /// `N(0, 1/m)`: the theorems' convention.
    Normalized,
    /// `N(0, 1)`: the paper's MNIST experiment.
    Unit,
}

impl MeasurementScale {
    /// The name reports record: `normalized` or `unit`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Normalized => "normalized",
            Self::Unit => "unit",
        }
    }
}

/// The measurement matrix `A`.
#[derive(Clone, Debug)]
pub struct Measurements {
    /// `A ∈ R^{m × n}`.
    pub a: Mat<f64>,
    /// How its entries were drawn.
    pub scale: MeasurementScale,
}

impl Measurements {
    /// `A` with iid Gaussian entries, filled column by column from `rng`.
    pub fn gaussian<R: Rng + ?Sized>(m: usize, n: usize, scale: MeasurementScale, rng: &mut R) -> Self {
        let sd = match scale {
            MeasurementScale::Normalized => 1.0 / (m as f64).sqrt(),
            MeasurementScale::Unit => 1.0,
        };
        let mut a = Mat::zeros(m, n);
        for j in 0..n {
            for v in a.col_as_slice_mut(j) {
                let z: f64 = StandardNormal.sample(rng);
                *v = sd * z;
            }
        }
        Self { a, scale }
    }

    /// The same `A` in the theorems' `N(0, 1/m)` convention: `A/√m` when it was drawn `N(0, 1)`,
    /// unchanged otherwise. The audits (RRCP, landscape) test the conditions in that convention;
    /// the draw, and so the seed-to-matrix map, is that of `A` as drawn.
    pub fn normalized(self) -> Self {
        match self.scale {
            MeasurementScale::Normalized => self,
            MeasurementScale::Unit => {
                let s = 1.0 / (self.count() as f64).sqrt();
                let a = Mat::from_fn(self.a.nrows(), self.a.ncols(), |i, j| s * self.a[(i, j)]);
                Self {
                    a,
                    scale: MeasurementScale::Normalized,
                }
            }
        }
    }

    /// Number of measurements `m`.
    pub fn count(&self) -> usize {
        self.a.nrows()
    }

    /// `A y`.
    pub fn apply(&self, y: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.count()];
        matvec(&mut out, self.a.as_ref(), y);
        out
    }

    /// `Aᵀ r`.
    pub fn apply_transpose(&self, r: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.a.ncols()];
        matvec(&mut out, self.a.transpose(), r);
        out
    }

    /// Noiseless amplitudes `b = |A y|`.
    pub fn amplitudes(&self, y: &[f64]) -> Vec<f64> {
        self.apply(y).into_iter().map(f64::abs).collect()
    }

    /// Amplitudes with additive Gaussian noise at signal-to-noise ratio `snr_db`:
    /// `b_j = |a_jᵀ y| + σ ξ_j` with `σ = (‖|Ay|‖/√m) · 10^{−snr_db/20}`. Noisy amplitudes are
    /// not clipped at zero (the objective only needs them as targets).
    pub fn noisy_amplitudes<R: Rng + ?Sized>(&self, y: &[f64], snr_db: f64, rng: &mut R) -> Vec<f64> {
        let clean = self.amplitudes(y);
        let sigma = norm(&clean) / (clean.len() as f64).sqrt() * 10f64.powf(-snr_db / 20.0);
        clean
            .into_iter()
            .map(|b| {
                let z: f64 = StandardNormal.sample(rng);
                b + sigma * z
            })
            .collect()
    }

    /// `A_z = diag(sgn(Az)) A` with `sgn(0) = 0` (docs/THEORY.md §1).
    pub fn signed(&self, z: &[f64]) -> Mat<f64> {
        let s: Vec<f64> = self.apply(z).into_iter().map(sgn).collect();
        Mat::from_fn(self.a.nrows(), self.a.ncols(), |i, j| s[i] * self.a[(i, j)])
    }
}
