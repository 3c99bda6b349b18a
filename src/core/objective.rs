//! The phase-retrieval objective `f(x) = ½ ‖ |A G(x)| − b ‖²` with `b = |A G(x0)|`
//! (docs/THEORY.md §1), its descent direction `v_{x,x0} = Λ_xᵀ A_{G(x)}ᵀ (|A G(x)| − b)` (the paper's
//! Algorithm 1; `= ∇f(x)` where `f` is differentiable) and the exact one-sided directional
//! derivative `D_u f(x)`, which differs from `⟨v, u⟩` at kinks.

use faer::{Mat, MatRef};

use super::measure::Measurements;
use super::network::{Network, matmul_block};
use super::vector::sgn;
use crate::error::{Error, Result};

/// One instance: a network, a measurement matrix and the observed amplitudes `b`.
#[derive(Clone, Debug)]
pub struct Problem {
    /// The generator `G`.
    pub net: Network,
    /// The measurement matrix `A`.
    pub meas: Measurements,
    /// Observed amplitudes (`|A G(x0)|` when noiseless).
    pub b: Vec<f64>,
}

/// Value and descent direction at one point.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// `f(x)`.
    pub value: f64,
    /// `v_{x,x0}`.
    pub direction: Vec<f64>,
}

impl Problem {
    /// The noiseless instance with truth `x0`.
    pub fn noiseless(net: Network, meas: Measurements, x0: &[f64]) -> Self {
        let b = meas.amplitudes(&net.generate(x0));
        Self { net, meas, b }
    }

    /// Refuses an instance whose arithmetic overflows: `f(0) = ½‖b‖²` (hence every amplitude
    /// `b_j` and `G(x0)`) must be at most `√f64::MAX ≈ 1.3e154`, so that the products of
    /// f-sized numbers that the gradient and the step form stay finite (at `f(0) ≈ 1e307` the
    /// gradient norm is already `inf`). `name` is the parameter that sets the scale of `x0`.
    pub fn check_finite(&self, name: &'static str, x0: &[f64]) -> Result<()> {
        let f_origin = 0.5 * self.b.iter().map(|b| b * b).sum::<f64>();
        if f_origin <= f64::MAX.sqrt() {
            return Ok(());
        }
        let code = x0.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",");
        Err(Error::param(
            name,
            code,
            "f(0) = ½‖b‖² = ½‖A G(x0)‖² exceeds √f64::MAX ≈ 1.3e154, where the gradient overflows; give a smaller x0",
        ))
    }

    /// `½ Σ_j (|c_j| − b_j)²` for `c = A G(x)`.
    fn half_squared_residual(&self, c: &[f64]) -> f64 {
        0.5 * c
            .iter()
            .zip(&self.b)
            .map(|(ci, bi)| (ci.abs() - bi).powi(2))
            .sum::<f64>()
    }

    /// `f(x)`.
    pub fn value(&self, x: &[f64]) -> f64 {
        self.half_squared_residual(&self.meas.apply(&self.net.generate(x)))
    }

    /// `f(x)` and `v_{x,x0} = Λ_xᵀ Aᵀ diag(sgn(AG(x))) (|AG(x)| − b)` (Algorithm 1, line 6).
    pub fn evaluate(&self, x: &[f64]) -> Evaluation {
        let trace = self.net.forward(x);
        let c = self.meas.apply(trace.output());
        let r: Vec<f64> = c
            .iter()
            .zip(&self.b)
            .map(|(ci, bi)| sgn(*ci) * (ci.abs() - bi))
            .collect();
        let direction = self.net.vjp(&trace, &self.meas.apply_transpose(&r));
        Evaluation {
            value: self.half_squared_residual(&c),
            direction,
        }
    }

    /// The exact one-sided directional derivative `D_u f(x) = lim_{t→0+} (f(x+tu) − f(x))/t`
    /// (docs/THEORY.md §1, *derived*): propagate value and derivative through the layers with the
    /// ReLU kink rule, then `Σ_j (|c_j| − b_j) · (sgn(c_j) e_j if c_j ≠ 0, |e_j| if c_j = 0)`
    /// with `c = A G(x)`, `e = A Ġ`. Exact at the origin and at every kink.
    pub fn directional_derivative(&self, x: &[f64], u: &[f64]) -> f64 {
        let trace = self.net.forward(x);
        let c = self.meas.apply(trace.output());
        let e = self.meas.apply(&self.net.one_sided_jvp(&trace, u));
        c.iter()
            .zip(&e)
            .zip(&self.b)
            .map(|((&cj, &ej), &bj)| {
                let rate = if cj == 0.0 { ej.abs() } else { sgn(cj) * ej };
                (cj.abs() - bj) * rate
            })
            .sum()
    }

    /// Values `f` of a `k × B` block of codes (forward passes only); column `j` equals
    /// [`Problem::value`] of column `j` bit for bit.
    pub fn values_batch(&self, x: MatRef<'_, f64>) -> Vec<f64> {
        let (_, out) = self.net.forward_batch(x);
        let c = matmul_block(self.meas.a.as_ref(), out.as_ref());
        (0..x.ncols())
            .map(|j| self.half_squared_residual(c.col_as_slice(j)))
            .collect()
    }

    /// Values and descent directions for a `k × B` block of codes in lock-step, through
    /// matrix–matrix products; column `j` equals [`Problem::evaluate`] of column `j` (the value
    /// bit for bit, the direction up to the rounding of sums taken in another order).
    pub fn evaluate_batch(&self, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>) {
        let (pre, out) = self.net.forward_batch(x);
        self.backward(&pre, matmul_block(self.meas.a.as_ref(), out.as_ref()))
    }

    /// [`Problem::evaluate_batch`] of `x` with [`Problem::values_batch`] of `−x` (DPR's negation
    /// check), through one forward pass of the block `[x, −x]`: the same numbers bit for bit
    /// (every product is computed column by column, in an order that does not depend on the
    /// block: `core::network::kernels`), with one pass over each weight matrix where there
    /// were two. On a wide layer the pass streams the matrix from memory, which bounds the step.
    pub fn evaluate_with_negation_batch(&self, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>, Vec<f64>) {
        let cols = x.ncols();
        let both = Mat::from_fn(x.nrows(), 2 * cols, |i, j| {
            if j < cols { x[(i, j)] } else { -x[(i, j - cols)] }
        });
        let (pre, out) = self.net.forward_batch(both.as_ref());
        let c = matmul_block(self.meas.a.as_ref(), out.as_ref());
        let negated = (cols..2 * cols)
            .map(|j| self.half_squared_residual(c.col_as_slice(j)))
            .collect();
        let pre: Vec<Mat<f64>> = pre.iter().map(|z| z.subcols(0, cols).to_owned()).collect();
        let (values, directions) = self.backward(&pre, c.subcols(0, cols).to_owned());
        (values, directions, negated)
    }

    /// Values and descent directions of a block from its pre-activations `pre` and `c = A G(X)`.
    fn backward(&self, pre: &[Mat<f64>], mut c: Mat<f64>) -> (Vec<f64>, Mat<f64>) {
        let cols = c.ncols();
        let mut values = vec![0.0; cols];
        for (j, value) in values.iter_mut().enumerate() {
            let col = c.col_as_slice_mut(j);
            *value = self.half_squared_residual(col);
            col.iter_mut()
                .zip(&self.b)
                .for_each(|(ci, bi)| *ci = sgn(*ci) * (ci.abs() - bi));
        }
        let back = matmul_block(self.meas.a.transpose(), c.as_ref());
        (values, self.net.vjp_batch(pre, back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::measure::MeasurementScale;
    use crate::core::network::WeightScale;
    use crate::rng::{Stream, stream};

    /// The fused pass of DPR's step gives exactly the numbers of the two separate passes: a
    /// kernel whose rounding depended on the block's other columns would break it.
    #[test]
    fn the_fused_negation_pass_is_the_two_passes_bit_for_bit() {
        let key = |s| stream(3, "objective", 0, s);
        let net = Network::gaussian(&[4, 29, 70], WeightScale::Normalized, &mut key(Stream::Network));
        let meas = Measurements::gaussian(37, 70, MeasurementScale::Normalized, &mut key(Stream::Measurements));
        let p = Problem::noiseless(net, meas, &[0.5, -0.2, 1.1, -0.7]);
        for cols in [1, 3, 13] {
            let x = Mat::from_fn(4, cols, |i, j| ((i * cols + j) as f64 * 0.37).sin());
            let (values, directions) = p.evaluate_batch(x.as_ref());
            let negated = p.values_batch((-x.clone()).as_ref());
            let (fused_values, fused_directions, fused_negated) = p.evaluate_with_negation_batch(x.as_ref());
            assert_eq!((fused_values, fused_negated), (values, negated), "{cols} columns");
            assert_eq!(fused_directions, directions, "{cols} columns");
        }
    }

    #[test]
    fn batch_values_are_the_single_code_values_bit_for_bit() {
        let key = |s| stream(2, "objective", 0, s);
        let net = Network::gaussian(&[5, 37, 61], WeightScale::Normalized, &mut key(Stream::Network));
        let meas = Measurements::gaussian(43, 61, MeasurementScale::Normalized, &mut key(Stream::Measurements));
        let p = Problem::noiseless(net, meas, &[0.3, -1.2, 0.8, 0.1, -0.4]);
        let x = Mat::from_fn(5, 9, |i, j| ((i * 9 + j) as f64 * 0.61).cos());
        let (values, _) = p.evaluate_batch(x.as_ref());
        for (j, &v) in values.iter().enumerate() {
            assert_eq!(v, p.evaluate(x.col_as_slice(j)).value, "column {j}");
        }
    }
}
