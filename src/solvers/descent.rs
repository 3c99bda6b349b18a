//! Algorithm 1 of the paper (DPR) and its ablation without the negation check (GD), as one
//! step (docs/THEORY.md §6): at iterate `x_i`, DPR first replaces `x_i` by `−x_i` when
//! `f(−x_i) < f(x_i)`; both then move `x_{i+1} = x_i − α v_{x_i,x0}`.
//!
//! The negation check needs `f(−x)` of every iterate, which the executor evaluates in the
//! same forward pass as `f(x)` ([`Step::checks_negation`]), and a full evaluation only for the
//! iterates it flips.

use faer::{Mat, MatRef};

use super::executor::{self, Block, Counters, Objective, Step, gather};

/// Gradient steps of size `α`, with or without the negation check.
#[derive(Clone, Debug)]
pub struct Descent {
    /// Step size `α`.
    pub step: f64,
    /// Whether to apply the negation check (DPR) or not (GD).
    pub negation_check: bool,
}

impl Descent {
    /// Algorithm 1 (DPR).
    pub fn dpr(step: f64) -> Self {
        Self {
            step,
            negation_check: true,
        }
    }

    /// Plain gradient descent (no negation check).
    pub fn gd(step: f64) -> Self {
        Self {
            step,
            negation_check: false,
        }
    }
}

/// Flips the iterates of the block where `f(−x) < f(x)` and replaces their values and
/// directions by those at `−x` (Algorithm 1, lines 3–5).
fn negation_check<O: Objective>(problem: &O, x: &mut Mat<f64>, block: &mut Block<'_>, counts: &mut [Counters]) {
    let negative = -gather(x.as_ref(), block.columns);
    let at_negative = block
        .negated_values
        .take()
        .expect("the executor evaluates f(−x) for a step that checks negations");
    counts.iter_mut().for_each(|c| c.value_evaluations += 1);
    let flip: Vec<usize> = (0..block.columns.len())
        .filter(|&s| at_negative[s] < block.values[s])
        .collect();
    if flip.is_empty() {
        return;
    }
    let flipped = gather(negative.as_ref(), &flip);
    let (values, directions) = executor::evaluate(problem, flipped.as_ref());
    for (f, &slot) in flip.iter().enumerate() {
        let col = block.columns[slot];
        x.col_mut(col).copy_from(flipped.col(f));
        block.values[slot] = values[f];
        block.directions.col_mut(slot).copy_from(directions.col(f));
        block.negated[slot] = true;
        counts[slot].negations += 1;
        counts[slot].gradient_evaluations += 1;
    }
}

impl Step for Descent {
    fn init(&mut self, _dim: usize, _columns: usize) {}

    fn checks_negation(&self) -> bool {
        self.negation_check
    }

    fn adjust<O: Objective>(&mut self, problem: &O, x: &mut Mat<f64>, block: &mut Block<'_>, counts: &mut [Counters]) {
        if self.negation_check {
            negation_check(problem, x, block, counts);
        }
    }

    fn next_iter(&mut self, x: &mut Mat<f64>, active: &[usize], directions: MatRef<'_, f64>) {
        for (j, &col) in active.iter().enumerate() {
            let v = directions.col(j);
            x.col_mut(col)
                .iter_mut()
                .zip(v.iter())
                .for_each(|(xi, vi)| *xi -= self.step * vi);
        }
    }
}
