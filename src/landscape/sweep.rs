//! The landscape sweep across sizes: the empirical neighbourhoods, the gap `|f − F|`, the
//! counterexamples and the critical-point census against the widths and `m`, next to a sampled
//! lower bound on each instance's WDC constant ε. Theorem II.1's balls have radii
//! `∝ ε^{1/4}`; the sweep fits `radius ≈ c ε^p` across instances and reports `p` beside `1/4`.
//!
//! A [`crate::exec::Study`]: trial `id = size · trials + t` is instance `t` of size `size`,
//! keyed by `("landscape-sweep/<widths>/m=<m>", t)`, so sharded, resumed and merged runs give
//! the same rows.

use serde::{Deserialize, Serialize};

use super::census::{CensusSettings, LimitKind, census};
use super::exact::sweep::wdc_lower_bound;
use super::grid::{grid_audit, standard_instance};
use super::probes::Lattice;
use crate::error::Result;
use crate::exec::Study;
use crate::report::widths_label;
use crate::rng::Stream;
use crate::solvers::Method;
use crate::solvers::instance::{self, InstanceKey};

/// Everything the rows depend on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepPlan {
    /// Master seed.
    pub seed: u64,
    /// The sizes: widths `[k, n_1, …, n_d]` with their `m`.
    pub sizes: Vec<(Vec<usize>, usize)>,
    /// Instances per size.
    pub trials: u64,
    /// Grid points per axis of the plane through `x0`.
    pub grid: usize,
    /// Half-width of the grid in units of `‖x0‖`.
    pub range: f64,
    /// `τ` of `S_τ` behind the balls and the empirical radii.
    pub tau: f64,
    /// Ball radii = margin × extents of `S_τ`.
    pub margin: f64,
    /// GD starts of the census (0: no census).
    pub census_starts: usize,
    /// Sampled pairs per layer of the WDC lower bound (0: not measured).
    pub wdc_pairs: usize,
}

/// One row of `landscape_sweep.csv`: one instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepRow {
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// First hidden width `n_1`.
    pub n1: usize,
    /// Measurements.
    pub m: usize,
    /// Instance index within the size.
    pub trial: u64,
    /// Radius of the ball around `x0` (fixed before probing).
    pub radius_pos: f64,
    /// Radius of the ball around `−ρ_d x0`.
    pub radius_neg: f64,
    /// Empirical radius around `x0` (largest flagged distance at the grid's resolution).
    pub empirical_radius_pos: Option<f64>,
    /// Empirical radius around `−ρ_d x0`.
    pub empirical_radius_neg: Option<f64>,
    /// `no_descent` points outside both balls.
    pub counterexamples: usize,
    /// `exceptional` points outside both balls.
    pub exceptional_outside: usize,
    /// Grid mean of `|f − F| / F(0)`.
    pub mean_f_gap: f64,
    /// GD runs of the census reaching `x0`.
    pub census_truth_runs: usize,
    /// Spurious clusters of the census.
    pub census_spurious_clusters: usize,
    /// Spurious clusters where `f(−x) ≥ f(x)` (the negation check would not leave them).
    pub census_negation_fails: usize,
    /// Largest WDC lower bound over the layers (sampled; empty if not measured).
    pub wdc_epsilon_lower_bound: Option<f64>,
}

/// The sweep as a study.
pub struct LandscapeSweep {
    /// The plan.
    pub plan: SweepPlan,
}

impl LandscapeSweep {
    fn size(&self, id: u64) -> (usize, u64) {
        ((id / self.plan.trials) as usize, id % self.plan.trials)
    }
}

impl Study for LandscapeSweep {
    type Row = SweepRow;

    fn kind(&self) -> &'static str {
        "landscape-sweep"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.plan).expect("the plan serialises")
    }

    fn len(&self) -> u64 {
        self.plan.sizes.len() as u64 * self.plan.trials
    }

    fn describe(&self, id: u64) -> String {
        let (s, t) = self.size(id);
        let (widths, m) = &self.plan.sizes[s];
        format!("widths {}, m = {m}, trial {t}", widths_label(widths))
    }

    fn run(&self, id: u64) -> Result<Vec<SweepRow>> {
        let p = &self.plan;
        let (s, trial) = self.size(id);
        let (widths, m) = (&p.sizes[s].0, p.sizes[s].1);
        let experiment = format!("landscape-sweep/{}/m={m}", widths_label(widths));
        let key = InstanceKey {
            seed: p.seed,
            experiment: &experiment,
            trial,
        };
        let inst = standard_instance(widths, m, &key);
        let audit = grid_audit(&inst, &Lattice::new(p.grid, p.range)?, (p.tau, p.margin), 1, &key);
        let (truth_runs, spurious, negation_fails) = census_counts(p, &inst, &key);
        let wdc = wdc_lower_bound(&inst.problem.net, p.wdc_pairs, (p.seed, &experiment, trial));
        Ok(vec![SweepRow {
            seed: p.seed,
            widths: widths_label(widths),
            n1: widths[1],
            m,
            trial,
            radius_pos: audit.balls.radius_pos,
            radius_neg: audit.balls.radius_neg,
            empirical_radius_pos: audit.all.empirical.pos,
            empirical_radius_neg: audit.all.empirical.neg,
            counterexamples: audit.all.counterexamples,
            exceptional_outside: audit.all.exceptional_outside,
            mean_f_gap: audit.all.mean_f_gap,
            census_truth_runs: truth_runs,
            census_spurious_clusters: spurious,
            census_negation_fails: negation_fails,
            wdc_epsilon_lower_bound: wdc,
        }])
    }
}

/// `(runs reaching x0, spurious clusters, spurious clusters with f(−x) ≥ f(x))` of the census.
fn census_counts(p: &SweepPlan, inst: &instance::Instance, key: &InstanceKey<'_>) -> (usize, usize, usize) {
    if p.census_starts == 0 {
        return (0, 0, 0);
    }
    let settings = CensusSettings::sweep_gd(inst.problem.net.depth(), 16);
    let starts = instance::starts(Method::Gd, inst.x0.len(), p.census_starts, key);
    let c = census(
        &inst.problem,
        &inst.x0,
        starts.as_ref(),
        &settings,
        &mut key.stream(Stream::Block(1)),
    );
    let truth = c
        .clusters
        .iter()
        .filter(|cl| cl.kind == LimitKind::Truth)
        .map(|cl| cl.members)
        .sum();
    let spurious: Vec<_> = c.clusters.iter().filter(|cl| cl.kind == LimitKind::Spurious).collect();
    let fails = spurious.iter().filter(|cl| !cl.negation_helps).count();
    (truth, spurious.len(), fails)
}
