//! Exact sweeps (docs/THEORY.md §16.1): the exact `k = 2` landscape ([`super::exact_landscape`])
//! on many standard instances over a ladder of widths, one row per instance: how many spurious
//! local minima, how far the farthest lies from `−ρ_d x0` (the **spread**), its largest angle
//! to `−x0`, the negation premise at each of them, what a small GD census finds, and sampled
//! lower bounds on the instance's WDC ε and on the RRCP ε of its `A` over its network
//! (docs/THEORY.md §16.6); then the per-rung summaries and the fits of `ln spread` against
//! `ln n_1`, against `ln ε_WDC` and against `ln ε_RRCP` (docs/THEORY.md §16.2). `landscape exact --sweep` and
//! the claims C4 and C5 run this same study, so they cannot disagree.
//!
//! A [`crate::exec::Study`]: trial `id = rung · trials + t` is instance `t` of rung `rung`,
//! keyed by `("landscape-exact-sweep/<widths>/m=<m>", t)`, so sharded, resumed and merged runs
//! (and any thread count) give the same rows, and the claims' instances are those of
//! `landscape exact --sweep` with the same seed and ladder.
//!
//! Kinds of numbers: counts, spreads, angles and ratios are exact closed forms in f64 on the
//! instance (each decision certified or counted `undecided`, [`super::critical::Status`]); the
//! GD columns are estimates over the census's starts; `wdc_epsilon_lower_bound` and
//! `rrcp_epsilon_sampled_lower_bound` are sampled lower bounds; the fits are least-squares estimates with 95% t intervals.

use serde::{Deserialize, Serialize};

use super::critical::{PointType, Status};
use super::{CriticalPoint, ExactLandscape, exact_landscape};
use crate::conditions::rrcp::{RRCP_CONSTANT, SearchMode, SearchSettings, StreamKey, search};
use crate::conditions::wdc::{Domain, WdcSearch, estimate_network};
use crate::core::network::Network;
use crate::core::vector::norm;
use crate::error::Result;
use crate::exec::{Study, TrialRows};
use crate::landscape::Truth;
use crate::landscape::census::{CensusSettings, LimitKind, census};
use crate::landscape::grid::standard_instance;
use crate::landscape::neighbourhoods::Balls;
use crate::landscape::origin::{origin_check, summarise_origin};
use crate::landscape::probes::random_unit;
use crate::report::widths_label;
use crate::rng::Stream;
use crate::solvers::Method;
use crate::solvers::instance::{self, Instance, InstanceKey};
use crate::stats::{PowerLawFit, power_law_fit};

/// The experiment name of the sweep's random streams (before `/<widths>/m=<m>`).
pub const EXPERIMENT: &str = "landscape-exact-sweep";
/// Random directions of the origin identity `D_u f(0) = −⟨|A G(u)|, b⟩ ≤ 0` per instance.
const ORIGIN_DIRECTIONS: usize = 16;
/// A GD limit within this distance (units of `‖x0‖`) of an exact local minimum found it: ten
/// times the census's cluster tolerance, since GD creeps into kink minima.
pub const MATCH_TOL: f64 = 1e-2;
/// Relative tolerance of the negation premise `f(−x) < f(x)`: a ratio `f(−x)/f(x)` within it
/// of 1 is `undecided` (both values are sums of `m` squares, each with relative rounding error
/// far below this).
pub const RATIO_TOL: f64 = 1e-9;
/// Worst sampled tuples of the RRCP lower bound refined by local search, and its steps: one
/// short refinement, so the search costs about `tuples + 4` tuple evaluations.
const RRCP_REFINE: (usize, usize) = (1, 4);

/// Everything the rows depend on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExactSweepPlan {
    /// Master seed.
    pub seed: u64,
    /// The rungs: widths `[2, n_1, …, n_d]` with their `m`.
    pub rungs: Vec<(Vec<usize>, usize)>,
    /// Instances per rung.
    pub trials: u64,
    /// A spurious local minimum counts when its basin depth in `φ` exceeds
    /// `min_depth · ½‖b‖²` (relative to `f(0)`).
    pub min_depth: f64,
    /// `τ` of `S_τ` behind the old fixed balls.
    pub tau: f64,
    /// Old fixed-ball radii = margin × the extents of `S_τ`.
    pub margin: f64,
    /// GD starts of the census per instance (0: no census).
    pub census_starts: usize,
    /// Sampled pairs per layer of the WDC lower bound (0: not measured).
    pub wdc_pairs: usize,
    /// Sampled tuples of the RRCP lower bound (subspace search; 0: not measured).
    #[serde(default)]
    pub rrcp_tuples: usize,
}

impl ExactSweepPlan {
    /// `(rung, instance)` of trial `id`.
    pub fn locate(&self, id: u64) -> (usize, u64) {
        ((id / self.trials) as usize, id % self.trials)
    }

    /// The experiment name of a rung's streams.
    pub fn experiment(&self, rung: usize) -> String {
        let (widths, m) = &self.rungs[rung];
        format!("{EXPERIMENT}/{}/m={m}", widths_label(widths))
    }

    /// The standard instance of trial `id` (the same one the trial audits): for saving it.
    pub fn instance(&self, id: u64) -> Instance {
        let (rung, trial) = self.locate(id);
        let experiment = self.experiment(rung);
        let (widths, m) = &self.rungs[rung];
        standard_instance(
            widths,
            *m,
            &InstanceKey {
                seed: self.seed,
                experiment: &experiment,
                trial,
            },
        )
    }
}

/// The negation premise at one spurious local minimum (docs/THEORY.md §16.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Negation {
    /// `f(−x) < f(x)`, decided.
    Holds,
    /// `f(−x) ≥ f(x)`, decided.
    Fails,
    /// The minimum is `undecided`, or the ratio is within [`RATIO_TOL`] of 1.
    Undecided,
}

/// The negation premise of a point with values `f(x)`, `f(−x)` whose type is certified or not.
pub fn negation(f: f64, f_negated: f64, certified: bool) -> Negation {
    let ratio = f_negated / f;
    if !certified || !ratio.is_finite() || (ratio - 1.0).abs() <= RATIO_TOL {
        Negation::Undecided
    } else if ratio < 1.0 {
        Negation::Holds
    } else {
        Negation::Fails
    }
}

/// One row of `exact_sweep.csv`: one instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExactSweepRow {
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// First hidden width `n_1`.
    pub n1: usize,
    /// Measurements.
    pub m: usize,
    /// Instance index within the rung.
    pub trial: u64,
    /// The depth threshold (relative to `f(0)`).
    pub min_depth: f64,
    /// Sectors on the circle (exact).
    pub sectors: usize,
    /// Local minima, `x0` included (exact).
    pub local_min: usize,
    /// Saddles (exact).
    pub saddle: usize,
    /// Critical points reported `undecided`.
    pub undecided: usize,
    /// Spurious local minima of any depth.
    pub spurious_all: usize,
    /// Certified spurious local minima deeper than the threshold: the counted ones.
    pub spurious: usize,
    /// Spurious minima deeper than the threshold but `undecided` (not counted).
    pub spurious_undecided: usize,
    /// Largest `‖x + ρ_d x0‖ / ‖x0‖` over the counted minima (0 when none): the spread.
    pub spread: f64,
    /// Largest `∠(x, −x0)` over the counted minima, degrees (0 when none).
    pub max_angle_neg_deg: f64,
    /// Largest `‖x‖ / (ρ_d ‖x0‖)` over the counted minima (empty when none).
    pub max_radius_ratio: Option<f64>,
    /// Counted minima where `f(−x) < f(x)`.
    pub negation_holds: usize,
    /// Counted minima where `f(−x) ≥ f(x)`.
    pub negation_fails: usize,
    /// Counted minima with the premise too close to call.
    pub negation_undecided: usize,
    /// Largest `f(−x)/f(x)` over the counted minima (empty when none).
    pub max_negation_ratio: Option<f64>,
    /// Spurious critical points (minima and saddles) outside the old fixed balls.
    pub outside_fixed_balls: usize,
    /// The global minimum is `x0` and no other local minimum ties with it.
    pub x0_unique_global: bool,
    /// Largest `D_u f(0)` over the random directions (≤ 0 by an identity: a check).
    pub origin_max_derivative: f64,
    /// GD starts of the census.
    pub gd_starts: usize,
    /// Share of the starts ending in a spurious limit (estimate; empty without a census).
    pub gd_spurious_fraction: Option<f64>,
    /// Basin-weighted share of the counted minima that some GD limit reached (empty without a
    /// census or without counted minima).
    pub gd_found_basin_fraction: Option<f64>,
    /// Largest WDC lower bound over the layers (sampled; empty if not measured).
    pub wdc_epsilon_lower_bound: Option<f64>,
    /// RRCP ε of the instance's `A` over its network: a sampled lower bound (subspace search,
    /// supremum / L with L = 31; empty if not measured).
    pub rrcp_epsilon_sampled_lower_bound: Option<f64>,
}

/// The sweep as a study.
pub struct ExactSweep {
    /// The plan.
    pub plan: ExactSweepPlan,
}

impl Study for ExactSweep {
    type Row = ExactSweepRow;

    fn kind(&self) -> &'static str {
        EXPERIMENT
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.plan).expect("the plan serialises")
    }

    fn len(&self) -> u64 {
        self.plan.rungs.len() as u64 * self.plan.trials
    }

    fn describe(&self, id: u64) -> String {
        let (rung, t) = self.plan.locate(id);
        let (widths, m) = &self.plan.rungs[rung];
        format!("widths {}, m = {m}, instance {t}", widths_label(widths))
    }

    fn run(&self, id: u64) -> Result<Vec<ExactSweepRow>> {
        let p = &self.plan;
        let (rung, trial) = p.locate(id);
        let experiment = p.experiment(rung);
        let key = InstanceKey {
            seed: p.seed,
            experiment: &experiment,
            trial,
        };
        let (widths, m) = (&p.rungs[rung].0, p.rungs[rung].1);
        let inst = standard_instance(widths, m, &key);
        let truth = Truth::new(&inst.x0, inst.problem.net.depth());
        let epsilon = wdc_lower_bound(&inst.problem.net, p.wdc_pairs, (p.seed, &experiment, trial));
        let rrcp = rrcp_lower_bound(&inst, p.rrcp_tuples, &key);
        let land = exact_landscape(&inst.problem, &truth, p.tau, epsilon)?;
        let counted = counted_minima(&land, p.min_depth);
        let outcomes: Vec<Negation> = counted
            .iter()
            .map(|c| negation(c.f, c.f_negated, c.status == Status::Certified))
            .collect();
        let certified: Vec<&CriticalPoint> = counted
            .iter()
            .copied()
            .filter(|c| c.status == Status::Certified)
            .collect();
        let fold_max = |v: &dyn Fn(&CriticalPoint) -> f64| certified.iter().map(|c| v(c)).reduce(f64::max);
        let balls = Balls::new(truth.d, truth.norm, p.tau, p.margin, (None, None));
        let outside = land
            .points
            .iter()
            .filter(|c| c.kind != PointType::Flat && c.dist_x0 > super::SAME_POINT)
            .filter(|c| c.dist_x0 * truth.norm > balls.radius_pos && c.dist_neg * truth.norm > balls.radius_neg)
            .count();
        let mut rng = key.stream(Stream::Block(0));
        let directions: Vec<Vec<f64>> = (0..ORIGIN_DIRECTIONS).map(|_| random_unit(2, &mut rng)).collect();
        let origin = summarise_origin(&origin_check(&inst.problem, &directions));
        let gd = gd_census(p, &inst, &certified, &key);
        let count = |n: Negation| outcomes.iter().filter(|&&o| o == n).count();
        Ok(vec![ExactSweepRow {
            seed: p.seed,
            widths: widths_label(widths),
            n1: widths[1],
            m,
            trial,
            min_depth: p.min_depth,
            sectors: land.sectors,
            local_min: land.counts.local_min,
            saddle: land.counts.saddle,
            undecided: land.counts.undecided,
            spurious_all: land.counts.spurious_min,
            spurious: certified.len(),
            spurious_undecided: counted.len() - certified.len(),
            spread: fold_max(&|c| c.dist_neg).unwrap_or(0.0),
            max_angle_neg_deg: fold_max(&|c| c.angle_neg_x0.to_degrees()).unwrap_or(0.0),
            max_radius_ratio: fold_max(&|c| norm(&c.x) / (truth.rho * truth.norm)),
            negation_holds: count(Negation::Holds),
            negation_fails: count(Negation::Fails),
            negation_undecided: count(Negation::Undecided),
            max_negation_ratio: fold_max(&|c| c.f_negated / c.f),
            outside_fixed_balls: outside,
            x0_unique_global: land.global_is_x0 && land.global_unique,
            origin_max_derivative: origin.max_derivative.unwrap_or(0.0),
            gd_starts: p.census_starts,
            gd_spurious_fraction: gd.map(|g| g.0),
            gd_found_basin_fraction: gd.and_then(|g| g.1),
            wdc_epsilon_lower_bound: epsilon,
            rrcp_epsilon_sampled_lower_bound: rrcp,
        }])
    }
}

/// The spurious local minima deeper than `min_depth · f(0)` (certified or not).
pub fn counted_minima(land: &ExactLandscape, min_depth: f64) -> Vec<&CriticalPoint> {
    land.points
        .iter()
        .filter(|c| c.spurious && c.depth.is_some_and(|d| d > min_depth * land.f_origin))
        .collect()
}

/// The largest sampled WDC deviation over the layers of `net` (`pairs` per layer, streams of
/// `(seed, experiment, trial)`): a lower bound on the network's ε; `None` when `pairs = 0`.
pub fn wdc_lower_bound(net: &Network, pairs: usize, (seed, experiment, trial): (u64, &str, u64)) -> Option<f64> {
    (pairs > 0).then(|| {
        let search = WdcSearch {
            pairs,
            domain: Domain::Full,
            refine_starts: 2,
            refine_steps: 10,
        };
        estimate_network(net, &search, seed, experiment, trial)
            .iter()
            .map(|e| e.lower_bound)
            .fold(0.0, f64::max)
    })
}

/// The RRCP ε of the instance's `A` over its network (docs/THEORY.md §16.6): the subspace
/// search of [`crate::conditions::rrcp`] with `tuples` sampled tuples and one short refinement,
/// from streams keyed by `"<experiment>/rrcp"` and the instance; a sampled lower bound on the
/// supremum divided by the paper's `L`. `None` when `tuples = 0`.
pub fn rrcp_lower_bound(inst: &Instance, tuples: usize, key: &InstanceKey<'_>) -> Option<f64> {
    (tuples > 0).then(|| {
        let (refine_starts, refine_steps) = RRCP_REFINE;
        let settings = SearchSettings {
            tuples,
            refine_starts,
            refine_steps,
        };
        let experiment = format!("{}/rrcp", key.experiment);
        let stream_key = StreamKey {
            seed: key.seed,
            experiment: &experiment,
            trial: key.trial,
        };
        let net = &inst.problem.net;
        search(
            net,
            inst.problem.meas.a.as_ref(),
            SearchMode::Subspace,
            &settings,
            &stream_key,
            &|| {},
        )
        .sup / RRCP_CONSTANT
    })
}

/// The census on the instance: `(share of starts ending in a spurious limit, basin-weighted
/// share of the counted minima some limit reached)` (docs/THEORY.md §16.5); `None` without
/// starts.
fn gd_census(
    p: &ExactSweepPlan,
    inst: &Instance,
    counted: &[&CriticalPoint],
    key: &InstanceKey<'_>,
) -> Option<(f64, Option<f64>)> {
    if p.census_starts == 0 {
        return None;
    }
    let settings = CensusSettings::sweep_gd(inst.problem.net.depth(), 0);
    let starts = instance::starts(Method::Gd, 2, p.census_starts, key);
    let c = census(
        &inst.problem,
        &inst.x0,
        starts.as_ref(),
        &settings,
        &mut key.stream(Stream::Block(1)),
    );
    let spurious_runs: usize = c
        .clusters
        .iter()
        .filter(|cl| cl.kind == LimitKind::Spurious)
        .map(|cl| cl.members)
        .sum();
    let x0_norm = norm(&inst.x0);
    let limits: Vec<&[f64]> = c.clusters.iter().map(|cl| cl.x.as_slice()).collect();
    let found: Vec<bool> = counted
        .iter()
        .map(|m| limits.iter().any(|x| distance(x, &m.x) <= MATCH_TOL * x0_norm))
        .collect();
    let basins: Vec<f64> = counted.iter().map(|m| m.basin_width.unwrap_or(0.0)).collect();
    Some((
        spurious_runs as f64 / p.census_starts as f64,
        basin_weighted_share(&basins, &found),
    ))
}

/// `‖a − b‖`.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

/// `Σ_{found} w_i / Σ w_i` (docs/THEORY.md §16.5); `None` when the weights sum to 0.
pub fn basin_weighted_share(weights: &[f64], found: &[bool]) -> Option<f64> {
    let total: f64 = weights.iter().sum();
    (total > 0.0).then(|| {
        weights
            .iter()
            .zip(found)
            .filter(|(_, f)| **f)
            .map(|(w, _)| w)
            .sum::<f64>()
            / total
    })
}

/// One rung's summary (a row of `exact_sweep_rungs.csv`).
#[derive(Clone, Debug, Serialize)]
pub struct RungSummary {
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// `n_1`.
    pub n1: usize,
    /// Measurements.
    pub m: usize,
    /// Instances.
    pub instances: usize,
    /// Counted spurious minima, all instances (exact).
    pub spurious_total: usize,
    /// Mean counted spurious minima per instance.
    pub spurious_mean: f64,
    /// Instances without a counted spurious minimum (spread 0).
    pub zero_spread: usize,
    /// Median spread (zeros included).
    pub spread_median: f64,
    /// Largest spread.
    pub spread_max: f64,
    /// Median of the largest angles to `−x0` (degrees, zeros included).
    pub max_angle_neg_median_deg: f64,
    /// Largest `f(−x)/f(x)` at a counted minimum (empty when none).
    pub max_negation_ratio: Option<f64>,
    /// Counted minima where the negation premise fails.
    pub negation_fails: usize,
    /// Spurious critical points outside the old fixed balls, all instances.
    pub outside_fixed_balls: usize,
    /// Instances whose unique global minimiser is `x0`.
    pub x0_unique_global: usize,
    /// Mean share of GD starts ending in a spurious limit (estimate).
    pub gd_spurious_fraction_mean: Option<f64>,
    /// Mean basin-weighted share of the counted minima GD reached (estimate).
    pub gd_found_basin_fraction_mean: Option<f64>,
    /// Mean WDC lower bound.
    pub wdc_epsilon_lower_bound_mean: Option<f64>,
    /// Mean sampled RRCP lower bound.
    pub rrcp_epsilon_sampled_lower_bound_mean: Option<f64>,
}

/// The median of a nonempty slice (mean of the middle two for an even length).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The mean of the defined values (`None` when none is).
fn mean_defined(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The per-rung summaries of the sweep's rows (rungs without rows are left out).
pub fn rung_summaries(plan: &ExactSweepPlan, rows: &TrialRows<ExactSweepRow>) -> Vec<RungSummary> {
    (0..plan.rungs.len())
        .filter_map(|rung| {
            let mine: Vec<&ExactSweepRow> = rows
                .iter()
                .filter(|(id, _)| plan.locate(*id).0 == rung)
                .map(|(_, r)| r)
                .collect();
            let first = mine.first()?;
            let spreads: Vec<f64> = mine.iter().map(|r| r.spread).collect();
            let angles: Vec<f64> = mine.iter().map(|r| r.max_angle_neg_deg).collect();
            let total: usize = mine.iter().map(|r| r.spurious).sum();
            Some(RungSummary {
                seed: plan.seed,
                widths: first.widths.clone(),
                n1: first.n1,
                m: first.m,
                instances: mine.len(),
                spurious_total: total,
                spurious_mean: total as f64 / mine.len() as f64,
                zero_spread: mine.iter().filter(|r| r.spurious == 0).count(),
                spread_median: median(&spreads),
                spread_max: spreads.iter().copied().fold(0.0, f64::max),
                max_angle_neg_median_deg: median(&angles),
                max_negation_ratio: mine.iter().filter_map(|r| r.max_negation_ratio).reduce(f64::max),
                negation_fails: mine.iter().map(|r| r.negation_fails).sum(),
                outside_fixed_balls: mine.iter().map(|r| r.outside_fixed_balls).sum(),
                x0_unique_global: mine.iter().filter(|r| r.x0_unique_global).count(),
                gd_spurious_fraction_mean: mean_defined(mine.iter().map(|r| r.gd_spurious_fraction)),
                gd_found_basin_fraction_mean: mean_defined(mine.iter().map(|r| r.gd_found_basin_fraction)),
                wdc_epsilon_lower_bound_mean: mean_defined(mine.iter().map(|r| r.wdc_epsilon_lower_bound)),
                rrcp_epsilon_sampled_lower_bound_mean: mean_defined(
                    mine.iter().map(|r| r.rrcp_epsilon_sampled_lower_bound),
                ),
            })
        })
        .collect()
}

/// One instance as the fits see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpreadPoint {
    /// First hidden width `n_1`.
    pub n1: f64,
    /// WDC lower bound (sampled), if measured.
    pub wdc_epsilon: Option<f64>,
    /// RRCP lower bound (sampled), if measured.
    pub rrcp_epsilon: Option<f64>,
    /// The spread (0 when no counted minimum).
    pub spread: f64,
}

/// The fits of the spread (docs/THEORY.md §16.2): `ln spread` on `ln n_1`, on `ln ε_WDC` and on
/// `ln ε_RRCP`, over the instances with a positive spread; the zero spreads are excluded and
/// counted.
#[derive(Clone, Debug, Serialize)]
pub struct SpreadFits {
    /// Slope of `ln spread` on `ln n_1` (`None` with fewer than 3 positive spreads or one width).
    pub width: Option<PowerLawFit>,
    /// Slope of `ln spread` on `ln ε` (WDC lower bound; `None` without ε).
    pub epsilon: Option<PowerLawFit>,
    /// Slope of `ln spread` on `ln ε_RRCP` (sampled lower bound; `None` without it).
    pub rrcp_epsilon: Option<PowerLawFit>,
    /// Instances with spread 0, left out of every fit.
    pub zero_spreads: usize,
    /// Instances in all.
    pub instances: usize,
}

/// The [`SpreadFits`] of the instances.
pub fn spread_fits(points: &[SpreadPoint]) -> SpreadFits {
    let positive: Vec<&SpreadPoint> = points.iter().filter(|p| p.spread > 0.0).collect();
    let against = |x: fn(&SpreadPoint) -> Option<f64>| {
        let (xs, ys): (Vec<f64>, Vec<f64>) = positive.iter().filter_map(|p| Some((x(p)?, p.spread))).unzip();
        power_law_fit(&xs, &ys)
    };
    SpreadFits {
        width: against(|p| Some(p.n1)),
        epsilon: against(|p| p.wdc_epsilon),
        rrcp_epsilon: against(|p| p.rrcp_epsilon),
        zero_spreads: points.len() - positive.len(),
        instances: points.len(),
    }
}

/// The [`SpreadPoint`]s of the sweep's rows.
pub fn spread_points(rows: &TrialRows<ExactSweepRow>) -> Vec<SpreadPoint> {
    rows.iter()
        .map(|(_, r)| SpreadPoint {
            n1: r.n1 as f64,
            wdc_epsilon: r.wdc_epsilon_lower_bound,
            rrcp_epsilon: r.rrcp_epsilon_sampled_lower_bound,
            spread: r.spread,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_premise_is_decided_only_away_from_a_tie() {
        assert_eq!(negation(1.0, 0.5, true), Negation::Holds);
        assert_eq!(negation(1.0, 1.5, true), Negation::Fails);
        assert_eq!(negation(1.0, 1.0 + 1e-12, true), Negation::Undecided);
        assert_eq!(negation(1.0, 0.5, false), Negation::Undecided);
    }

    #[test]
    fn basin_weighted_share_weights_by_basin() {
        let share = basin_weighted_share(&[3.0, 1.0], &[true, false]).unwrap();
        assert!((share - 0.75).abs() < 1e-15);
        assert!(basin_weighted_share(&[], &[]).is_none());
    }

    #[test]
    fn spread_fits_exclude_zero_spreads_and_count_them() {
        // spread = 2 n^-0.5 exactly, ε_WDC = 1/n, ε_RRCP = n^-0.25 (missing on one instance),
        // plus two zero spreads.
        let point = |n: f64, wdc_epsilon, rrcp_epsilon, spread| SpreadPoint {
            n1: n,
            wdc_epsilon,
            rrcp_epsilon,
            spread,
        };
        let mut pts: Vec<SpreadPoint> = [50.0_f64, 100.0, 200.0, 400.0]
            .iter()
            .map(|&n| point(n, Some(1.0 / n), (n < 400.0).then(|| n.powf(-0.25)), 2.0 * n.powf(-0.5)))
            .collect();
        pts.push(point(800.0, Some(1e-3), Some(0.1), 0.0));
        pts.push(point(800.0, None, None, 0.0));
        let fits = spread_fits(&pts);
        assert_eq!((fits.zero_spreads, fits.instances), (2, 6));
        let w = fits.width.unwrap();
        assert_eq!(w.points, 4);
        assert!((w.exponent + 0.5).abs() < 1e-12);
        assert!((fits.epsilon.unwrap().exponent - 0.5).abs() < 1e-12);
        let r = fits.rrcp_epsilon.unwrap();
        assert_eq!(r.points, 3);
        assert!((r.exponent - 2.0).abs() < 1e-12);
    }

    #[test]
    fn the_plan_locates_trials_by_rung() {
        let plan = ExactSweepPlan {
            seed: 1,
            rungs: vec![(vec![2, 5, 10], 10), (vec![2, 10, 20], 20)],
            trials: 3,
            min_depth: 1e-6,
            tau: 0.01,
            margin: 1.5,
            census_starts: 0,
            wdc_pairs: 0,
            rrcp_tuples: 0,
        };
        assert_eq!(plan.locate(4), (1, 1));
        assert_eq!(plan.experiment(1), "landscape-exact-sweep/2-10-20/m=20");
        assert_eq!(ExactSweep { plan }.len(), 6);
    }
}
