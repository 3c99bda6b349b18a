//! C4: the descent claim of Theorem II.1 (docs/THEORY.md §5) on standard instances. On each
//! instance (random bias-free ReLU network, `A` with `N(0, 1/m)` entries, `x0 ~ N(0, I_k)`),
//! the probe points of a 2-D grid through `x0` (the `k = 2` plane, or a slice through `x0` and a
//! random orthogonal direction for `k > 2`) are classified with the exact `D_{−v} f`
//! ([`crate::landscape`]); the two balls are fixed *before* probing, from the expected
//! exceptional set `S_τ` times a margin. Pass iff no `no_descent` point lies outside both balls
//! (the origin excluded) and `D_u f(0) < 0` along every random direction `u`.
//! Every number is an exact evaluation on the instance.

use serde::{Deserialize, Serialize};

use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::error::Result;
use crate::landscape::grid::{grid_audit, standard_instance};
use crate::landscape::probes::Lattice;
use crate::report::widths_label;
use crate::solvers::instance::InstanceKey;

/// Parameters of C4 (from `verify/C4-descent.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// Instances: widths `[k, n_1, …, n_d]` with their `m`.
    pub instances: Vec<Instance>,
    /// Grid points per axis.
    pub grid: usize,
    /// Half-width of the grid in units of `‖x0‖`.
    pub range: f64,
    /// `τ` of the expected exceptional set behind the balls.
    pub tau: f64,
    /// Ball radii = margin × the extents of `S_τ`.
    pub margin: f64,
    /// Random directions of the origin check.
    pub origin_directions: usize,
}

/// One standard instance.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Instance {
    /// Widths `[k, n_1, …, n_d]`.
    pub widths: Vec<usize>,
    /// Measurements.
    pub m: usize,
}

/// One row of `c4_instances.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `exact` (evaluations on the instance).
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// Measurements.
    pub m: usize,
    /// Probe points.
    pub points: usize,
    /// `descent` points.
    pub descent: usize,
    /// `no_descent` points.
    pub no_descent: usize,
    /// `critical` points.
    pub critical: usize,
    /// Radius of the ball around `x0`.
    pub radius_pos: f64,
    /// Radius of the ball around `−ρ_d x0`.
    pub radius_neg: f64,
    /// Empirical radius around `x0` (largest flagged distance; empty if none).
    pub empirical_radius_pos: Option<f64>,
    /// Empirical radius around `−ρ_d x0`.
    pub empirical_radius_neg: Option<f64>,
    /// `no_descent` points outside both balls.
    pub counterexamples: usize,
    /// Smallest `v_ratio` outside the balls.
    pub min_v_ratio_outside: Option<f64>,
    /// Origin directions tested.
    pub origin_directions: usize,
    /// Largest `D_u f(0)`.
    pub origin_max_derivative: Option<f64>,
    /// `D_u f(0) < 0` for every direction.
    pub origin_holds: bool,
}

/// Runs C4.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    let lattice = Lattice::new(p.grid, p.range)?;
    let rows: Vec<Row> = p
        .instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let key = InstanceKey {
                seed,
                experiment: "C4",
                trial: i as u64,
            };
            let instance = standard_instance(&inst.widths, inst.m, &key);
            let a = grid_audit(&instance, &lattice, (p.tau, p.margin), p.origin_directions, &key);
            Row {
                kind: "exact",
                seed,
                widths: widths_label(&inst.widths),
                m: inst.m,
                points: a.all.points,
                descent: a.all.counts.descent,
                no_descent: a.all.counts.no_descent,
                critical: a.all.counts.critical,
                radius_pos: a.balls.radius_pos,
                radius_neg: a.balls.radius_neg,
                empirical_radius_pos: a.all.empirical.pos,
                empirical_radius_neg: a.all.empirical.neg,
                counterexamples: a.all.counterexamples,
                min_v_ratio_outside: a.all.min_v_ratio_outside,
                origin_directions: a.origin.directions,
                origin_max_derivative: a.origin.max_derivative,
                origin_holds: a.origin.holds,
            }
        })
        .collect();
    let counterexamples: usize = rows.iter().map(|r| r.counterexamples).sum();
    let origin_ok = rows.iter().all(|r| r.origin_holds);
    let points: usize = rows.iter().map(|r| r.points).sum();
    let min_ratio = rows
        .iter()
        .filter_map(|r| r.min_v_ratio_outside)
        .fold(f64::INFINITY, f64::min);
    let file = dir.write_csv("c4_instances.csv", &rows)?;
    Ok(ClaimReport::new(
        spec,
        format!(
            "{counterexamples} no_descent points outside the balls among {points} grid points on {} instances (exact); \
             smallest ‖v‖/(2^-d max(‖x‖,‖x0‖)) outside the balls {min_ratio:.3e}; origin check {} on every instance",
            rows.len(),
            if origin_ok { "holds" } else { "FAILS" }
        ),
        Verdict::from_bool(counterexamples == 0 && origin_ok),
        vec![file],
        vec![],
    ))
}
