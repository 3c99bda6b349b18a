//! Sparse spectral initialisation, shared by the three methods: the top eigenvector of a
//! weighted correlation matrix restricted to an estimated support `Ŝ`,
//!
//! `Y = Σ_{i ∈ R} w_i a'_{i,Ŝ} a'_{i,Ŝ}ᵀ`,
//!
//! (rows `R` and weights `w_i ≥ 0` chosen by each method), scaled to the norm estimate `φ`.
//!
//! The eigenvector comes from power iteration, as in the authors' codes (Wang's SPARTA code:
//! 100 power iterations from a random start; Jagatap's `svd_power`: at most 20, relative
//! tolerance 1e-6), but **deterministic**: it starts from the coordinate vector `e_{j*}` of the
//! largest diagonal entry `Y_{j*j*}` — the coordinate with the largest marginal, which in
//! expectation is where the signal has its largest entry, so the start has overlap
//! `≥ 1/√|Ŝ|` with the top eigenvector of `E Y` — and it never forms `Y`: each step costs
//! `2 |R| |Ŝ|` multiply–adds on a gathered copy of the sub-matrix. `Y` is positive
//! semi-definite, so the iterates do not flip sign and convergence is measured by
//! `‖v_{t+1} − v_t‖`.

use faer::Mat;

use super::data::PhaselessData;
use crate::core::network::kernels::{colmajor_product, transposed_product};
use crate::core::vector::norm;

/// Power-iteration steps at most (Wang's SPARTA code runs 100; the step costs `2 |R| |Ŝ|`).
pub const POWER_MAX_STEPS: usize = 100;
/// Stop when consecutive unit iterates differ by at most this: far below what an
/// initialisation needs (it only has to land in the basin of the iteration that follows).
pub const POWER_TOLERANCE: f64 = 1e-10;

/// The unit top eigenvector (up to [`POWER_TOLERANCE`] or [`POWER_MAX_STEPS`]) of
/// `Σ_{i ∈ rows} w_i a'_{i,S} a'_{i,S}ᵀ`, one entry per element of `support`. `weights[r]`
/// belongs to `rows[r]`. A zero matrix gives the start vector.
pub fn top_eigenvector(data: &PhaselessData<'_>, support: &[usize], rows: &[usize], weights: &[f64]) -> Vec<f64> {
    let k = support.len();
    if k == 0 {
        return Vec::new();
    }
    let sub = gather(data, support, rows);
    let cols: Vec<&[f64]> = (0..k).map(|j| sub.col_as_slice(j)).collect();
    let diagonal: Vec<f64> = cols
        .iter()
        .map(|c| c.iter().zip(weights).map(|(a, w)| w * a * a).sum())
        .collect();
    let start = (0..k).fold(0, |best, j| if diagonal[j] > diagonal[best] { j } else { best });
    let mut v = vec![0.0; k];
    v[start] = 1.0;
    let (mut av, mut next) = (vec![0.0; rows.len()], vec![0.0; k]);
    for _ in 0..POWER_MAX_STEPS {
        colmajor_product(&cols, rows.len(), &[&v], &mut [&mut av]);
        av.iter_mut().zip(weights).for_each(|(a, w)| *a *= w);
        transposed_product(&cols, &[&av], &mut [&mut next]);
        let r = norm(&next);
        if !(r > 0.0 && r.is_finite()) {
            break;
        }
        next.iter_mut().for_each(|x| *x /= r);
        let change: f64 = v.iter().zip(&next).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        std::mem::swap(&mut v, &mut next);
        if change <= POWER_TOLERANCE {
            break;
        }
    }
    v
}

/// `(a'_{i,j})_{i ∈ rows, j ∈ support}` as a contiguous column-major matrix (the gain `g`
/// included, so that it is the unit-variance sub-matrix).
fn gather(data: &PhaselessData<'_>, support: &[usize], rows: &[usize]) -> Mat<f64> {
    let (columns, g) = (data.columns(), data.gain());
    Mat::from_fn(rows.len(), support.len(), |r, j| g * columns[support[j]][rows[r]])
}

/// The dense length-`n` vector `φ v` supported on `support` (the initial estimate).
pub fn embed(n: usize, support: &[usize], v: &[f64], phi: f64) -> Vec<f64> {
    let mut x = vec![0.0; n];
    for (&j, &vj) in support.iter().zip(v) {
        x[j] = phi * vj;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::measure::MeasurementScale;
    use faer::Side;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// Power iteration from the largest diagonal entry reaches the top eigenvector of the
    /// weighted matrix, as an exact symmetric eigensolver computes it.
    #[test]
    fn power_iteration_finds_the_top_eigenvector() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let (m, n) = (120, 40);
        let a = Mat::from_fn(m, n, |_, _| StandardNormal.sample(&mut rng));
        let x: Vec<f64> = (0..n)
            .map(|j| if j % 7 == 0 { 1.0 + j as f64 / 10.0 } else { 0.0 })
            .collect();
        let b: Vec<f64> = (0..m)
            .map(|i| (0..n).map(|j| a[(i, j)] * x[j]).sum::<f64>().abs())
            .collect();
        let data = PhaselessData::new(&a, MeasurementScale::Unit, &b).unwrap();
        let support: Vec<usize> = (0..n).step_by(2).collect();
        let rows: Vec<usize> = (0..m).step_by(3).collect();
        let weights: Vec<f64> = rows.iter().map(|&i| b[i] * b[i]).collect();
        let v = top_eigenvector(&data, &support, &rows, &weights);
        let k = support.len();
        let y = Mat::from_fn(k, k, |p, q| {
            rows.iter()
                .zip(&weights)
                .map(|(&i, w)| w * a[(i, support[p])] * a[(i, support[q])])
                .sum::<f64>()
        });
        let eig = y.self_adjoint_eigen(Side::Lower).unwrap();
        let top = eig.U().col(k - 1);
        let overlap: f64 = (0..k).map(|p| top[p] * v[p]).sum::<f64>().abs();
        // Tolerance: POWER_TOLERANCE bounds the last step; the eigengap of this matrix makes
        // the remaining angle of the same order, far below 1e-8.
        assert!(1.0 - overlap < 1e-8, "1 − |⟨v, u₁⟩| = {}", 1.0 - overlap);
    }
}
