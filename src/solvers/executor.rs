//! The one loop every solver runs in (argmin's executor): evaluate the active iterates as one
//! block, let the step adjust them (DPR's negation check), test termination, take the step.
//!
//! Termination reasons, tested in this order after the step's adjustment:
//! [`Termination::ZeroObjective`] (`f = 0` exactly: a noiseless instance solved to the last
//! bit), [`Termination::GradientTolerance`] (`‖v‖ ≤ grad_tol · ‖v‖` at the first iterate: the
//! test is free of the problem's scale), [`Termination::RelativeChange`] (`|f_prev − f| ≤
//! f_tol · f_prev`: stalled, e.g. oscillating across a kink), [`Termination::MaxIterations`].
//! A finished iterate is frozen (no step) and its reported value is the value at the
//! reported point.
//!
//! Determinism: the block is split across threads by columns, and each column's value and
//! direction do not depend on the other columns of its block (`evaluate_batch` works column
//! by column inside its products), so results are bit-identical for any thread count.

use faer::{Mat, MatRef};
use rayon::prelude::*;
use serde::Serialize;

use crate::core::expected::{expected_gradient, expected_objective};
use crate::core::objective::Problem;
use crate::core::vector::norm;

/// What a solver minimises: values and descent directions of blocks of codes, column by
/// column (a column's result must not depend on the other columns of its block).
pub trait Objective: Sync {
    /// `f` and `v` of every column of `x`.
    fn evaluate_batch(&self, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>);
    /// `f` of every column of `x`.
    fn values_batch(&self, x: MatRef<'_, f64>) -> Vec<f64>;
    /// `f` and `v` of every column of `x` and `f` of every column of `−x` (DPR's negation
    /// check); by default [`Objective::evaluate_batch`] and [`Objective::values_batch`].
    fn evaluate_with_negation_batch(&self, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>, Vec<f64>) {
        let (values, directions) = self.evaluate_batch(x);
        (values, directions, self.values_batch((-x.to_owned()).as_ref()))
    }
    /// The factor `c` with `∇L = c v` for the loss `L` Adam minimises (docs/THEORY.md §6: the mean
    /// squared amplitude misfit `2f/m` of a problem; `f` itself by default).
    fn loss_scale(&self) -> f64 {
        1.0
    }
}

impl Objective for Problem {
    fn evaluate_batch(&self, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>) {
        Problem::evaluate_batch(self, x)
    }

    fn values_batch(&self, x: MatRef<'_, f64>) -> Vec<f64> {
        Problem::values_batch(self, x)
    }

    fn evaluate_with_negation_batch(&self, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>, Vec<f64>) {
        Problem::evaluate_with_negation_batch(self, x)
    }

    fn loss_scale(&self) -> f64 {
        2.0 / self.b.len() as f64
    }
}

/// The expected objective `F` with gradient `h` (docs/THEORY.md §4): the width → ∞, m → ∞ limit of
/// `f`, on which the solvers' behaviour is known in closed form. At `x = 0`, where `h` is
/// undefined, the direction is 0.
#[derive(Clone, Debug)]
pub struct ExpectedObjective {
    /// The truth `x0`.
    pub x0: Vec<f64>,
    /// The depth `d`.
    pub depth: usize,
}

impl Objective for ExpectedObjective {
    fn evaluate_batch(&self, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>) {
        let mut directions = Mat::zeros(x.nrows(), x.ncols());
        let values = (0..x.ncols())
            .map(|j| {
                let xj: Vec<f64> = x.col(j).iter().copied().collect();
                if let Some(h) = expected_gradient(&xj, &self.x0, self.depth) {
                    directions.col_as_slice_mut(j).copy_from_slice(&h);
                }
                expected_objective(&xj, &self.x0, self.depth)
            })
            .collect();
        (values, directions)
    }

    fn values_batch(&self, x: MatRef<'_, f64>) -> Vec<f64> {
        (0..x.ncols())
            .map(|j| expected_objective(&x.col(j).iter().copied().collect::<Vec<_>>(), &self.x0, self.depth))
            .collect()
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// The iteration budget ran out.
    MaxIterations,
    /// `‖v‖` fell below `grad_tol` times its first value.
    GradientTolerance,
    /// `f` changed by at most `f_tol` relatively.
    RelativeChange,
    /// `f = 0` exactly.
    ZeroObjective,
}

impl Termination {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Termination::MaxIterations => "max_iterations",
            Termination::GradientTolerance => "gradient_tolerance",
            Termination::RelativeChange => "relative_change",
            Termination::ZeroObjective => "zero_objective",
        }
    }
}

/// Loop settings shared by every solver.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Settings {
    /// Most steps per run.
    pub max_iters: usize,
    /// Stop when `‖v‖ ≤ grad_tol · ‖v_1‖` (0 disables).
    pub grad_tol: f64,
    /// Stop when `|f_prev − f| ≤ f_tol · f_prev` (0 disables).
    pub f_tol: f64,
    /// Keep a per-iteration trace.
    pub trace: bool,
}

/// Per-run counters a step may update.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counters {
    /// Value-and-direction evaluations (one forward and one backward pass each).
    pub gradient_evaluations: usize,
    /// Value-only evaluations (one forward pass each; DPR's `f(−x)`).
    pub value_evaluations: usize,
    /// Negations taken by the negation check.
    pub negations: usize,
}

/// One point of a run's trace, recorded after the step's adjustment.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TracePoint {
    /// Iteration (0 = the start).
    pub iteration: usize,
    /// `f` at the iterate.
    pub value: f64,
    /// `‖v‖` at the iterate.
    pub gradient_norm: f64,
    /// Whether the negation check flipped the iterate in this iteration.
    pub negated: bool,
}

/// The result of one run (one start).
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The final iterate.
    pub x: Vec<f64>,
    /// `f(x)`.
    pub value: f64,
    /// `‖v_{x,x0}‖` at `x`.
    pub gradient_norm: f64,
    /// Steps taken.
    pub iterations: usize,
    /// Why it stopped.
    pub termination: Termination,
    /// Evaluation and negation counts.
    pub counters: Counters,
    /// Per-iteration trace (empty unless asked for).
    pub trace: Vec<TracePoint>,
}

/// The iterates of the active columns, with their values and directions, handed to a step.
pub struct Block<'a> {
    /// Indices (into the whole batch) of the active columns, in order.
    pub columns: &'a [usize],
    /// Values `f` of the active columns.
    pub values: Vec<f64>,
    /// Directions `v` of the active columns (`k × columns.len()`).
    pub directions: Mat<f64>,
    /// Whether the step flipped each active column (DPR).
    pub negated: Vec<bool>,
    /// `f(−x)` of the active columns, evaluated with them when the step checks negations
    /// ([`Step::checks_negation`]).
    pub negated_values: Option<Vec<f64>>,
}

/// A solver as a step on a batch of iterates (argmin's `Solver`).
pub trait Step {
    /// Called once with the latent dimension and the number of starts.
    fn init(&mut self, dim: usize, columns: usize);

    /// Whether [`Step::adjust`] compares `f(x)` with `f(−x)`: the executor then evaluates `f(−x)`
    /// of every iterate in the same pass as `f(x)` ([`Block::negated_values`]). Default: no.
    fn checks_negation(&self) -> bool {
        false
    }

    /// May change iterates after their evaluation, updating the block consistently (DPR's
    /// negation check). The default does nothing.
    fn adjust<O: Objective>(
        &mut self,
        _problem: &O,
        _x: &mut Mat<f64>,
        _block: &mut Block<'_>,
        _counts: &mut [Counters],
    ) {
    }

    /// Moves every iterate in `active` (a subset of the block's columns, in order) given its
    /// direction (column `j` of `directions` belongs to `active[j]`).
    fn next_iter(&mut self, x: &mut Mat<f64>, active: &[usize], directions: MatRef<'_, f64>);
}

/// Columns of `x` gathered into a new block.
pub fn gather(x: MatRef<'_, f64>, columns: &[usize]) -> Mat<f64> {
    Mat::from_fn(x.nrows(), columns.len(), |i, j| x[(i, columns[j])])
}

/// Splits the columns of `x` into one chunk per thread and applies `f` to each in parallel;
/// the chunks' results are returned in column order.
fn per_chunk<T: Send>(x: MatRef<'_, f64>, f: impl Fn(MatRef<'_, f64>) -> T + Sync) -> Vec<T> {
    let cols = x.ncols();
    let chunks = rayon::current_num_threads().clamp(1, cols.max(1));
    let size = cols.div_ceil(chunks);
    (0..cols.div_ceil(size.max(1)))
        .into_par_iter()
        .map(|c| {
            let start = c * size;
            f(x.subcols(start, size.min(cols - start)))
        })
        .collect()
}

/// Values and directions of a block, split across threads by columns.
pub fn evaluate<O: Objective>(problem: &O, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>) {
    stitch(x, per_chunk(x, |chunk| problem.evaluate_batch(chunk)))
}

/// [`evaluate`] with the values at `−x` ([`Objective::evaluate_with_negation_batch`]).
pub fn evaluate_with_negation<O: Objective>(problem: &O, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>, Vec<f64>) {
    let (parts, negated): (Vec<_>, Vec<_>) = per_chunk(x, |chunk| {
        let (values, directions, negated) = problem.evaluate_with_negation_batch(chunk);
        ((values, directions), negated)
    })
    .into_iter()
    .unzip();
    let (values, directions) = stitch(x, parts);
    (values, directions, negated.concat())
}

/// The values and directions of `x`'s column chunks, in column order, as one block.
fn stitch(x: MatRef<'_, f64>, parts: Vec<(Vec<f64>, Mat<f64>)>) -> (Vec<f64>, Mat<f64>) {
    let mut values = Vec::with_capacity(x.ncols());
    let mut directions = Mat::zeros(x.nrows(), x.ncols());
    let mut col = 0;
    for (v, d) in parts {
        for j in 0..d.ncols() {
            directions.col_mut(col + j).copy_from(d.col(j));
        }
        col += d.ncols();
        values.extend(v);
    }
    (values, directions)
}

/// Per-column bookkeeping of the executor.
struct Tracker {
    first_gradient_norm: Option<f64>,
    previous_value: Option<f64>,
    value: f64,
    gradient_norm: f64,
    iterations: usize,
    termination: Option<Termination>,
    counters: Counters,
    trace: Vec<TracePoint>,
}

impl Tracker {
    fn new() -> Self {
        Self {
            first_gradient_norm: None,
            previous_value: None,
            value: f64::NAN,
            gradient_norm: f64::NAN,
            iterations: 0,
            termination: None,
            counters: Counters::default(),
            trace: Vec::new(),
        }
    }

    /// Records an evaluation and decides whether the run stops here.
    fn record(&mut self, value: f64, direction_norm: f64, negated: bool, settings: &Settings) {
        let first = *self.first_gradient_norm.get_or_insert(direction_norm);
        self.value = value;
        self.gradient_norm = direction_norm;
        if settings.trace {
            self.trace.push(TracePoint {
                iteration: self.iterations,
                value,
                gradient_norm: direction_norm,
                negated,
            });
        }
        let stalled = self
            .previous_value
            .is_some_and(|prev| (prev - value).abs() <= settings.f_tol * prev);
        self.termination = if value == 0.0 {
            Some(Termination::ZeroObjective)
        } else if direction_norm <= settings.grad_tol * first {
            Some(Termination::GradientTolerance)
        } else if stalled && settings.f_tol > 0.0 {
            Some(Termination::RelativeChange)
        } else if self.iterations >= settings.max_iters {
            Some(Termination::MaxIterations)
        } else {
            None
        };
        self.previous_value = Some(value);
    }
}

/// Runs `step` from every column of `starts` in lock-step until each run terminates.
pub fn run<O: Objective>(problem: &O, step: &mut impl Step, starts: MatRef<'_, f64>, settings: &Settings) -> Vec<Run> {
    let mut x = starts.to_owned();
    let cols = x.ncols();
    step.init(x.nrows(), cols);
    let mut trackers: Vec<Tracker> = (0..cols).map(|_| Tracker::new()).collect();
    loop {
        crate::cancel::poll();
        let active: Vec<usize> = (0..cols).filter(|&j| trackers[j].termination.is_none()).collect();
        if active.is_empty() {
            break;
        }
        let iterates = gather(x.as_ref(), &active);
        let (values, directions, negated_values) = if step.checks_negation() {
            let (values, directions, negated) = evaluate_with_negation(problem, iterates.as_ref());
            (values, directions, Some(negated))
        } else {
            let (values, directions) = evaluate(problem, iterates.as_ref());
            (values, directions, None)
        };
        let mut block = Block {
            columns: &active,
            values,
            directions,
            negated: vec![false; active.len()],
            negated_values,
        };
        let mut counts: Vec<Counters> = active.iter().map(|&j| trackers[j].counters).collect();
        counts.iter_mut().for_each(|c| c.gradient_evaluations += 1);
        step.adjust(problem, &mut x, &mut block, &mut counts);
        let mut moving = Vec::with_capacity(active.len());
        for (slot, &j) in active.iter().enumerate() {
            let tracker = &mut trackers[j];
            tracker.counters = counts[slot];
            let direction_norm = norm(block.directions.col_as_slice(slot));
            tracker.record(block.values[slot], direction_norm, block.negated[slot], settings);
            if tracker.termination.is_none() {
                tracker.iterations += 1;
                moving.push(slot);
            }
        }
        let moving_columns: Vec<usize> = moving.iter().map(|&s| active[s]).collect();
        step.next_iter(
            &mut x,
            &moving_columns,
            gather(block.directions.as_ref(), &moving).as_ref(),
        );
    }
    trackers
        .into_iter()
        .enumerate()
        .map(|(j, t)| Run {
            x: x.col_as_slice(j).to_vec(),
            value: t.value,
            gradient_norm: t.gradient_norm,
            iterations: t.iterations,
            termination: t.termination.expect("the loop ends when every run has terminated"),
            counters: t.counters,
            trace: t.trace,
        })
        .collect()
}
