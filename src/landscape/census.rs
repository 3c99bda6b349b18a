//! Critical-point census (docs/THEORY.md §4–5): plain gradient descent *without* the negation
//! check ([`crate::solvers::Method::Gd`], the same implementation as the solver) from many
//! random starts; the limits are clustered, and each cluster is described by its radius
//! relative to `ρ_d ‖x0‖`, its angle to `−x0`, `‖v‖` at the limit, a sampled local-minimum
//! test, and whether `f(−x) < f(x)` there — the premise that makes DPR's negation check work.
//!
//! At infinite width the only critical points of `F` are `x0`, `−ρ_d x0` (a degenerate saddle)
//! and `0`; at finite width local minima appear scattered in angle around `−ρ_d x0`.
//!
//! Clustering: limits are taken in run order; a limit joins the first cluster whose
//! representative lies within `cluster_tol · ‖x0‖`, else it founds a new cluster; the
//! representative is the member with the lowest `f` (ties: the first). Deterministic.
//!
//! ```
//! use dpr_audit::core::network::WeightScale;
//! use dpr_audit::landscape::census::{CensusSettings, census};
//! use dpr_audit::landscape::grid::standard_instance;
//! use dpr_audit::rng::{Stream, stream};
//! use dpr_audit::solvers::instance::{InstanceKey, starts};
//! use dpr_audit::solvers::{Method, MethodParams};
//!
//! let key = InstanceKey { seed: 1, experiment: "example", trial: 0 };
//! let inst = standard_instance(&[2, 20, 60], 60, &key);
//! let p = &inst.problem;
//! let step = MethodParams::for_problem(&p.net, Some(WeightScale::Normalized), &p.meas, None, 0.01).step;
//! let settings = CensusSettings {
//!     step,
//!     settings: Method::Gd.settings_with(Some(300), None, None, false),
//!     cluster_tol: 1e-3,
//!     truth_tol: 1e-4,
//!     test_directions: 8,
//!     test_radius: 1e-3,
//! };
//! let from = starts(Method::Gd, 2, 6, &key);
//! let result = census(p, &inst.x0, from.as_ref(), &settings, &mut stream(1, "example", 0, Stream::Probe));
//! assert_eq!(result.runs.len(), 6);
//! assert!(result.assignment.iter().all(|&c| c < result.clusters.len()));
//! ```

use faer::MatRef;
use rand::Rng;
use serde::Serialize;

use super::certified::{MinStatus, certify_minimum};
use crate::core::expected::rho_pr;
use crate::core::objective::Problem;
use crate::core::vector::{angle, axpy, norm, scale, sub, unit};
use crate::rng::standard_normal_vector;
use crate::solvers::{Method, MethodParams, Run, Settings, solve};

/// What kind of limit a cluster is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Within the truth tolerance of `x0`.
    Truth,
    /// Anything else: a spurious limit.
    Spurious,
}

impl LimitKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Truth => "truth",
            LimitKind::Spurious => "spurious",
        }
    }
}

/// Census settings.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CensusSettings {
    /// GD step size `α`.
    pub step: f64,
    /// GD loop settings.
    pub settings: Settings,
    /// Limits closer than `cluster_tol · ‖x0‖` share a cluster.
    pub cluster_tol: f64,
    /// A limit within `truth_tol · ‖x0‖` of `x0` is the truth.
    pub truth_tol: f64,
    /// Random directions of the sampled local-minimum test.
    pub test_directions: usize,
    /// Radius of the local-minimum test, relative to `‖x‖` of the limit.
    pub test_radius: f64,
}

impl CensusSettings {
    /// The sweeps' census: plain GD at the DPR step of depth `depth` (docs/THEORY.md §6) with
    /// its default loop, clusters within 1e-3 ‖x0‖, the truth within 1e-4 ‖x0‖, and
    /// `test_directions` sampled directions of radius 1e-3 for the local-minimum test.
    pub fn sweep_gd(depth: usize, test_directions: usize) -> Self {
        CensusSettings {
            step: crate::solvers::dpr_step(depth, 1.0, 1.0),
            settings: Method::Gd.default_settings(),
            cluster_tol: 1e-3,
            truth_tol: 1e-4,
            test_directions,
            test_radius: 1e-3,
        }
    }
}

/// One cluster of GD limits.
#[derive(Clone, Debug, Serialize)]
pub struct Cluster {
    /// Runs that ended in the cluster.
    pub members: usize,
    /// Index of the representative run.
    pub representative: usize,
    /// The representative limit.
    pub x: Vec<f64>,
    /// `Truth` or `Spurious`.
    pub kind: LimitKind,
    /// `f` at the representative.
    pub value: f64,
    /// `f(−x)` at the representative.
    pub value_negated: f64,
    /// `f(−x) < f(x)`: the negation check would leave this limit.
    pub negation_helps: bool,
    /// `‖x‖ / (ρ_d ‖x0‖)`.
    pub radius_ratio: f64,
    /// `∠(x, −x0)` in radians.
    pub angle_to_negative_truth: f64,
    /// `‖x − x0‖ / ‖x0‖`.
    pub distance_to_truth: f64,
    /// Largest `‖v‖` at the members' limits.
    pub gradient_norm_max: f64,
    /// Sampled test: `f(x + δu) > f(x)` for every tested direction `u`.
    pub local_minimum: bool,
    /// The exact certificate of the representative ([`certify_minimum`]): `certified`,
    /// `not_min` or `undecided`.
    pub certificate: MinStatus,
    /// The certified or refuted critical point lies on a kink.
    pub certificate_on_kink: bool,
    /// Largest spread of the members around the representative, relative to `‖x0‖`.
    pub spread: f64,
    /// The share of the runs that ended here: an estimate of the probability that a start
    /// descends into this cluster ([`basin_share`]).
    pub share_estimate: f64,
    /// The standard error of `share_estimate`.
    pub share_se: f64,
}

/// The basin share of a cluster holding `members` of `runs` GD runs from independent starts
/// (docs/THEORY.md §16.7): the estimate `p̂ = members / runs` of the probability that a start
/// ends in the cluster, with its binomial standard error `√(p̂ (1 − p̂) / runs)`. A count of
/// independent Bernoulli outcomes, so the estimate is unbiased; the error is 0 at `p̂ ∈ {0, 1}`
/// (use [`crate::stats::wilson_interval`] for an interval there). `(0, 0)` without runs.
pub fn basin_share(members: usize, runs: usize) -> (f64, f64) {
    if runs == 0 {
        return (0.0, 0.0);
    }
    let p = members as f64 / runs as f64;
    (p, (p * (1.0 - p) / runs as f64).sqrt())
}

/// GD runs from every start and the clusters of their limits.
pub struct Census {
    /// One run per start.
    pub runs: Vec<Run>,
    /// The clusters, in order of first appearance.
    pub clusters: Vec<Cluster>,
    /// The cluster of each run.
    pub assignment: Vec<usize>,
    /// `ρ_d` of the network's depth.
    pub rho: f64,
}

/// Runs the census from the columns of `starts`; `rng` draws the local-minimum test directions.
pub fn census<R: Rng>(
    problem: &Problem,
    x0: &[f64],
    starts: MatRef<'_, f64>,
    census: &CensusSettings,
    rng: &mut R,
) -> Census {
    let params = MethodParams {
        step: census.step,
        adam: Default::default(),
    };
    let runs = solve(problem, Method::Gd, &params, &census.settings, starts);
    let scale0 = norm(x0);
    let groups = cluster_limits(&runs, census.cluster_tol * scale0);
    let rho = rho_pr(problem.net.depth());
    let directions: Vec<Vec<f64>> = (0..census.test_directions)
        .map(|_| unit(&standard_normal_vector(rng, x0.len())))
        .collect();
    let clusters = groups
        .iter()
        .map(|members| describe(problem, x0, rho, &runs, members, &directions, census))
        .collect();
    let mut assignment = vec![0; runs.len()];
    for (c, members) in groups.iter().enumerate() {
        members.iter().for_each(|&j| assignment[j] = c);
    }
    Census {
        runs,
        clusters,
        assignment,
        rho,
    }
}

/// Groups run indices by the greedy rule of the module doc.
fn cluster_limits(runs: &[Run], radius: f64) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (j, run) in runs.iter().enumerate() {
        match groups.iter_mut().find(|g| norm(&sub(&run.x, &runs[g[0]].x)) <= radius) {
            Some(g) => g.push(j),
            None => groups.push(vec![j]),
        }
    }
    groups
}

/// The summary of one cluster.
fn describe(
    problem: &Problem,
    x0: &[f64],
    rho: f64,
    runs: &[Run],
    members: &[usize],
    directions: &[Vec<f64>],
    census: &CensusSettings,
) -> Cluster {
    let representative = *members
        .iter()
        .min_by(|&&a, &&b| runs[a].value.total_cmp(&runs[b].value))
        .expect("a cluster has members");
    let x = runs[representative].x.clone();
    let scale0 = norm(x0);
    let value = problem.value(&x);
    let value_negated = problem.value(&scale(-1.0, &x));
    let distance_to_truth = norm(&sub(&x, x0)) / scale0;
    let delta = census.test_radius * norm(&x);
    let local_minimum = directions.iter().all(|u| problem.value(&axpy(&x, delta, u)) > value);
    let certificate = certify_minimum(problem, &x);
    let (share_estimate, share_se) = basin_share(members.len(), runs.len());
    Cluster {
        members: members.len(),
        representative,
        kind: if distance_to_truth <= census.truth_tol {
            LimitKind::Truth
        } else {
            LimitKind::Spurious
        },
        value,
        value_negated,
        negation_helps: value_negated < value,
        radius_ratio: norm(&x) / (rho * scale0),
        angle_to_negative_truth: angle(&x, &scale(-1.0, x0)),
        distance_to_truth,
        gradient_norm_max: members.iter().map(|&j| runs[j].gradient_norm).fold(0.0, f64::max),
        local_minimum,
        certificate: certificate.status,
        certificate_on_kink: !certificate.kink.is_empty(),
        spread: members
            .iter()
            .map(|&j| norm(&sub(&runs[j].x, &x)) / scale0)
            .fold(0.0, f64::max),
        x,
        share_estimate,
        share_se,
    }
}

#[cfg(test)]
mod tests {
    use super::basin_share;

    /// Tolerance of closed forms evaluated in f64.
    const TOL: f64 = 1e-15;

    #[test]
    fn basin_share_is_the_binomial_proportion_and_its_standard_error() {
        // 25 of 100 runs: p̂ = 1/4, SE = √(1/4 · 3/4 / 100) = √3 / 40.
        let (p, se) = basin_share(25, 100);
        assert!(
            (p - 0.25).abs() < TOL && (se - 3f64.sqrt() / 40.0).abs() < TOL,
            "{p} {se}"
        );
        // Every run in one cluster: certain, no sampling error.
        assert_eq!(basin_share(7, 7), (1.0, 0.0));
        assert_eq!(basin_share(0, 0), (0.0, 0.0));
    }
}
