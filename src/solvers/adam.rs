//! Adam on the paper's loss `L(x) = mean_j (|A G(x)|_j − b_j)² = 2 f(x) / m` (docs/THEORY.md §6; the
//! authors' MNIST code: learning rate 0.01, 1000 iterations, β₁ = 0.9, β₂ = 0.999, ε = 1e-8).
//! The two-init variant runs from `x_1` and `−x_1`; the executor runs both (and every
//! restart) in one block, and [`super::Selection`] keeps the lower objective.

use faer::{Mat, MatRef};

use super::executor::Step;

/// Adam's hyper-parameters.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct AdamParams {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay β₁.
    pub beta1: f64,
    /// Second-moment decay β₂.
    pub beta2: f64,
    /// Denominator guard ε.
    pub eps: f64,
}

impl Default for AdamParams {
    fn default() -> Self {
        Self {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam's state for a block of iterates.
#[derive(Clone, Debug)]
pub struct Adam {
    params: AdamParams,
    /// `∇L = loss_scale · v` (`2/m` for the mean squared amplitude loss).
    loss_scale: f64,
    first: Mat<f64>,
    second: Mat<f64>,
    steps: Vec<i32>,
}

impl Adam {
    /// Adam on a loss whose gradient is `loss_scale · v` (see
    /// [`super::executor::Objective::loss_scale`]).
    pub fn new(params: AdamParams, loss_scale: f64) -> Self {
        Self {
            params,
            loss_scale,
            first: Mat::zeros(0, 0),
            second: Mat::zeros(0, 0),
            steps: Vec::new(),
        }
    }
}

impl Step for Adam {
    fn init(&mut self, dim: usize, columns: usize) {
        self.first = Mat::zeros(dim, columns);
        self.second = Mat::zeros(dim, columns);
        self.steps = vec![0; columns];
    }

    fn next_iter(&mut self, x: &mut Mat<f64>, active: &[usize], directions: MatRef<'_, f64>) {
        let AdamParams { lr, beta1, beta2, eps } = self.params;
        for (j, &col) in active.iter().enumerate() {
            self.steps[col] += 1;
            let t = self.steps[col];
            let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
            for i in 0..x.nrows() {
                let g = self.loss_scale * directions[(i, j)];
                let m = beta1 * self.first[(i, col)] + (1.0 - beta1) * g;
                let v = beta2 * self.second[(i, col)] + (1.0 - beta2) * g * g;
                self.first[(i, col)] = m;
                self.second[(i, col)] = v;
                x[(i, col)] -= lr * (m / c1) / ((v / c2).sqrt() + eps);
            }
        }
    }
}
