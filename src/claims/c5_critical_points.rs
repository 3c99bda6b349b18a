//! C5: where plain gradient descent (no negation check) ends (docs/THEORY.md §4): the census of
//! [`crate::landscape::census`] from random starts on standard instances. Pass iff every
//! spurious limit (not within `truth_tol ‖x0‖` of `x0`) lies near `−ρ_d x0` — radius within
//! `radius_tol` (15%) of `ρ_d ‖x0‖` and angle to `−x0` at most `max_angle` — and has
//! `f(−x) < f(x)`, the premise that makes DPR's negation check work. The limits, values and
//! tests are exact evaluations on the instances; the local-minimum flag is a sampled test.

use serde::{Deserialize, Serialize};

use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::error::Result;
use crate::landscape::census::{CensusSettings, LimitKind, census};
use crate::landscape::grid::standard_instance;
use crate::report::{cell_list, widths_label};
use crate::rng::Stream;
use crate::solvers::instance::{self, InstanceKey};
use crate::solvers::{Method, dpr_step};

/// Parameters of C5 (from `verify/C5-critical-points.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// Instances.
    pub instances: Vec<super::c4_descent::Instance>,
    /// GD starts per instance.
    pub starts: usize,
    /// GD iteration cap.
    pub max_iters: usize,
    /// Limits closer than this (relative to ‖x0‖) share a cluster.
    pub cluster_tol: f64,
    /// A limit this close to x0 (relative) is the truth.
    pub truth_tol: f64,
    /// Allowed relative deviation of a spurious radius from `ρ_d ‖x0‖`.
    pub radius_tol: f64,
    /// Largest angle (radians) between a spurious limit and `−x0`.
    pub max_angle: f64,
    /// Directions of the sampled local-minimum test.
    pub test_directions: usize,
}

/// One row of `c5_clusters.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `exact` (limits of GD on the instance).
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// Measurements.
    pub m: usize,
    /// Cluster index.
    pub cluster: usize,
    /// Runs in the cluster.
    pub members: usize,
    /// `truth` or `spurious`.
    pub limit_kind: &'static str,
    /// `‖x‖/(ρ_d ‖x0‖)`.
    pub radius_ratio: f64,
    /// `∠(x, −x0)`.
    pub angle_to_negative_truth: f64,
    /// `f(x)`.
    pub value: f64,
    /// `f(−x)`.
    pub value_negated: f64,
    /// `f(−x) < f(x)`.
    pub negation_helps: bool,
    /// Largest `‖v‖` at the members' limits.
    pub gradient_norm_max: f64,
    /// Sampled local-minimum test.
    pub local_minimum_sampled: bool,
    /// Whether the cluster satisfies the claim (always true for `truth`).
    pub pass: bool,
    /// The representative limit.
    pub x: String,
}

/// Runs C5.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    let mut rows = Vec::new();
    for (i, inst) in p.instances.iter().enumerate() {
        let key = InstanceKey {
            seed,
            experiment: "C5",
            trial: i as u64,
        };
        let problem = standard_instance(&inst.widths, inst.m, &key);
        let d = problem.problem.net.depth();
        let settings = CensusSettings {
            step: dpr_step(d, 1.0, 1.0),
            settings: crate::solvers::Settings {
                max_iters: p.max_iters,
                ..Method::Gd.default_settings()
            },
            cluster_tol: p.cluster_tol,
            truth_tol: p.truth_tol,
            test_directions: p.test_directions,
            test_radius: 1e-3,
        };
        let starts = instance::starts(Method::Gd, inst.widths[0], p.starts, &key);
        let result = census(
            &problem.problem,
            &problem.x0,
            starts.as_ref(),
            &settings,
            &mut key.stream(Stream::Probe),
        );
        rows.extend(result.clusters.iter().enumerate().map(|(c, cl)| {
            let near = (cl.radius_ratio - 1.0).abs() <= p.radius_tol && cl.angle_to_negative_truth <= p.max_angle;
            Row {
                kind: "exact",
                seed,
                widths: widths_label(&inst.widths),
                m: inst.m,
                cluster: c,
                members: cl.members,
                limit_kind: cl.kind.name(),
                radius_ratio: cl.radius_ratio,
                angle_to_negative_truth: cl.angle_to_negative_truth,
                value: cl.value,
                value_negated: cl.value_negated,
                negation_helps: cl.negation_helps,
                gradient_norm_max: cl.gradient_norm_max,
                local_minimum_sampled: cl.local_minimum,
                pass: cl.kind == LimitKind::Truth || (near && cl.negation_helps),
                x: cell_list(&cl.x),
            }
        }));
    }
    let spurious: Vec<&Row> = rows.iter().filter(|r| r.limit_kind == "spurious").collect();
    let runs_spurious: usize = spurious.iter().map(|r| r.members).sum();
    let failing = spurious.iter().filter(|r| !r.pass).count();
    let file = dir.write_csv("c5_clusters.csv", &rows)?;
    let ratios: Vec<String> = spurious.iter().map(|r| format!("{:.3}", r.radius_ratio)).collect();
    Ok(ClaimReport::new(
        spec,
        format!(
            "{} spurious clusters ({runs_spurious} of {} runs) on {} instances (exact GD limits); radius/(ρ_d‖x0‖) = [{}]; \
             {failing} violate the criterion (far from −ρ_d x0 or f(−x) ≥ f(x))",
            spurious.len(),
            p.starts * p.instances.len(),
            p.instances.len(),
            ratios.join(", ")
        ),
        Verdict::from_bool(failing == 0),
        vec![file],
        vec![],
    ))
}
