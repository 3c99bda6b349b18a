//! C5: the negation premise `f(−x) < f(x)` at the certified spurious local minima of `f`
//! (docs/THEORY.md §16.4–§16.5), the premise that lets DPR's negation step leave them.
//!
//! Judged exactly: on the exact `k = 2` lists ([`crate::landscape::exact::sweep`]) of the
//! rungs the spec fixes before any data (`n_1 ≥ judged_from_n1`), at every certified spurious
//! local minimum deeper than the threshold; and, for `k = 5, 10`, at every spurious GD limit of
//! a census whose cell or kink [`crate::landscape::certified::certify_minimum`] certifies as a
//! strict local minimum. Each case is `holds`, `fails` or `undecided`
//! ([`crate::landscape::exact::sweep::negation`]); [`judge`]: FAIL at any decided violation,
//! PASS when every judged case holds and at least `min_judged` are decided, INCONCLUSIVE
//! otherwise. Rungs below `judged_from_n1`, the ratio `f(−x)/f(x)` per rung, the spread and
//! angle of the minima as a trend, and the basin-weighted share of the exact minima a GD
//! census finds are reported as information.

use serde::{Deserialize, Serialize};

use super::c4_spread_trend::{ladder_plan, save_extremes};
use super::{ClaimDir, ClaimReport, Instance, Spec, Verdict};
use crate::error::Result;
use crate::exec::run::run_all;
use crate::landscape::census::{CensusSettings, LimitKind, census};
use crate::landscape::certified::MinStatus;
use crate::landscape::exact::sweep::{ExactSweep, ExactSweepPlan, Negation, negation, rung_summaries};
use crate::landscape::grid::standard_instance;
use crate::report::{cell_list, widths_label};
use crate::rng::Stream;
use crate::solvers::instance::{self, InstanceKey};
use crate::solvers::{Method, dpr_step};

/// Parameters of C5 (from `verify/C5-negation-premise.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// The `k = 2` rungs' first hidden widths `n_1` (networks `2-n_1-4n_1`, `m = 4 n_1`).
    pub ladder: Vec<usize>,
    /// Rungs with `n_1` at least this are judged; smaller ones are information.
    pub judged_from_n1: usize,
    /// Instances per `k = 2` rung.
    pub trials: u64,
    /// Depth threshold of a judged spurious minimum, relative to `f(0)`.
    pub min_depth: f64,
    /// GD starts of the census on each `k = 2` instance (the share of the exact minima found).
    pub census_starts_k2: usize,
    /// The census instances (`k = 5, 10`).
    pub census: Vec<Instance>,
    /// GD starts per census instance.
    pub starts: usize,
    /// GD iteration cap.
    pub max_iters: usize,
    /// Limits closer than this (relative to `‖x0‖`) share a cluster.
    pub cluster_tol: f64,
    /// A limit this close to `x0` (relative) is the truth.
    pub truth_tol: f64,
    /// Decided judged cases needed for a PASS.
    pub min_judged: usize,
    /// `k = 2` rungs with `n_1` at most this have their largest-ratio instance saved.
    pub max_saved_n1: usize,
}

/// One row of `c5_census.csv`: one spurious cluster of a `k = 5, 10` census.
#[derive(Clone, Debug, Serialize)]
pub struct CensusRow {
    /// `exact` (GD limits, certificate and values evaluated on the instance).
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
    /// `certified`, `not_min` or `undecided`.
    pub certificate: &'static str,
    /// `f(x)`.
    pub value: f64,
    /// `f(−x)`.
    pub value_negated: f64,
    /// `f(−x)/f(x)`.
    pub ratio: f64,
    /// `holds`, `fails`, `undecided` (not a certified minimum: `undecided`).
    pub negation: Negation,
    /// `‖x‖/(ρ_d ‖x0‖)`.
    pub radius_ratio: f64,
    /// `∠(x, −x0)` (radians).
    pub angle_to_negative_truth: f64,
    /// The representative limit.
    pub x: String,
}

/// The C5 verdict on the judged cases (docs/THEORY.md §16.4): FAIL at any decided violation,
/// PASS when none fails and at least `min_judged` hold, INCONCLUSIVE otherwise (too few, or
/// only `undecided` ones).
pub fn judge(cases: &[Negation], min_judged: usize) -> Verdict {
    let holds = cases.iter().filter(|&&c| c == Negation::Holds).count();
    if cases.contains(&Negation::Fails) {
        Verdict::Fail
    } else if holds >= min_judged.max(1) {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// The census on one `k = 5, 10` instance: its spurious clusters that are minima candidates
/// (`not_min` clusters are not minima and are left out).
fn census_rows(p: &Params, seed: u64, i: usize, size: &Instance) -> Vec<CensusRow> {
    let key = InstanceKey {
        seed,
        experiment: "C5",
        trial: i as u64,
    };
    let inst = standard_instance(&size.widths, size.m, &key);
    let settings = CensusSettings {
        step: dpr_step(inst.problem.net.depth(), 1.0, 1.0),
        settings: crate::solvers::Settings {
            max_iters: p.max_iters,
            ..Method::Gd.default_settings()
        },
        cluster_tol: p.cluster_tol,
        truth_tol: p.truth_tol,
        test_directions: 0,
        test_radius: 1e-3,
    };
    let starts = instance::starts(Method::Gd, size.widths[0], p.starts, &key);
    let result = census(
        &inst.problem,
        &inst.x0,
        starts.as_ref(),
        &settings,
        &mut key.stream(Stream::Probe),
    );
    result
        .clusters
        .iter()
        .enumerate()
        .filter(|(_, cl)| cl.kind == LimitKind::Spurious && cl.certificate != MinStatus::NotMin)
        .map(|(c, cl)| CensusRow {
            kind: "exact",
            seed,
            widths: widths_label(&size.widths),
            m: size.m,
            cluster: c,
            members: cl.members,
            certificate: cl.certificate.name(),
            value: cl.value,
            value_negated: cl.value_negated,
            ratio: cl.value_negated / cl.value,
            negation: negation(cl.value, cl.value_negated, cl.certificate == MinStatus::Certified),
            radius_ratio: cl.radius_ratio,
            angle_to_negative_truth: cl.angle_to_negative_truth,
            x: cell_list(&cl.x),
        })
        .collect()
}

/// Runs C5.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    let plan = ExactSweepPlan {
        census_starts: p.census_starts_k2,
        ..ladder_plan(seed, &p.ladder, p.trials, p.min_depth)
    };
    let study = ExactSweep { plan };
    let rows = run_all(&study, &|| {})?;
    let rungs = rung_summaries(&study.plan, &rows);
    let census: Vec<CensusRow> = p
        .census
        .iter()
        .enumerate()
        .flat_map(|(i, size)| census_rows(&p, seed, i, size))
        .collect();
    let judged_rows = rows.iter().map(|(_, r)| r).filter(|r| r.n1 >= p.judged_from_n1);
    let mut cases: Vec<Negation> = Vec::new();
    for r in judged_rows {
        cases.extend(std::iter::repeat_n(Negation::Holds, r.negation_holds));
        cases.extend(std::iter::repeat_n(Negation::Fails, r.negation_fails));
        cases.extend(std::iter::repeat_n(Negation::Undecided, r.negation_undecided));
    }
    cases.extend(census.iter().map(|c| c.negation));
    let verdict = judge(&cases, p.min_judged);
    let count = |n: Negation| cases.iter().filter(|&&c| c == n).count();
    let instances: Vec<_> = rows.iter().map(|(_, r)| r.clone()).collect();
    let mut files = vec![
        dir.write_csv("c5_instances.csv", &instances)?,
        dir.write_csv("c5_rungs.csv", &rungs)?,
        dir.write_csv("c5_census.csv", &census)?,
    ];
    files.extend(save_extremes(dir, &study.plan, &rows, p.max_saved_n1, |r| {
        r.max_negation_ratio.unwrap_or(0.0)
    })?);
    let opt = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |x| format!("{x:.3}"));
    let per_rung: Vec<String> = rungs
        .iter()
        .map(|s| {
            format!(
                "{}{}: max f(−x)/f(x) {}, {} fail, median spread {:.3}, median max ∠(x,−x0) {:.0}°, GD finds {} of the minima (basin-weighted)",
                s.widths,
                if s.n1 >= p.judged_from_n1 { "" } else { " (information)" },
                opt(s.max_negation_ratio),
                s.negation_fails,
                s.spread_median,
                s.max_angle_neg_median_deg,
                opt(s.gd_found_basin_fraction_mean),
            )
        })
        .collect();
    let census_max = census
        .iter()
        .filter(|c| c.negation != Negation::Undecided)
        .map(|c| c.ratio)
        .reduce(f64::max);
    let measured = format!(
        "exact k = 2 lists, {} instances per rung: {}; k = 5, 10 census: {} certified spurious GD limits, max f(−x)/f(x) {}",
        p.trials,
        per_rung.join("; "),
        census.iter().filter(|c| c.negation != Negation::Undecided).count(),
        opt(census_max),
    );
    let statistic = format!(
        "judged minima (n_1 ≥ {} and certified census limits): {} hold, {} fail, {} undecided (PASS needs ≥ {} holding and none failing)",
        p.judged_from_n1,
        count(Negation::Holds),
        count(Negation::Fails),
        count(Negation::Undecided),
        p.min_judged
    );
    Ok(ClaimReport::new(spec, measured, verdict, files, vec![]).with_statistic(statistic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_spec_parses_for_both_protocols() {
        let spec = Spec::parse(
            "C5-negation-premise.toml",
            include_str!("../../verify/C5-negation-premise.toml"),
        )
        .expect("spec");
        assert_eq!(spec.id, "C5");
        for full in [false, true] {
            spec.params::<Params>(full).expect("typed parameters");
        }
    }

    #[test]
    fn every_judged_minimum_holding_passes() {
        let cases: Vec<Negation> = (0..30)
            .map(|i| negation(1.0, 0.1 + 0.02 * f64::from(i), true))
            .collect();
        assert_eq!(judge(&cases, 20), Verdict::Pass);
    }

    #[test]
    fn one_spurious_minimum_with_f_of_minus_x_above_fails() {
        // A constructed certified spurious minimum with f(−x)/f(x) = 1.23 (the 2-50-200
        // case) among holding ones: the premise is violated, whatever the count.
        let mut cases: Vec<Negation> = (0..30).map(|_| negation(1.0, 0.5, true)).collect();
        cases.push(negation(1.0, 1.23, true));
        assert_eq!(judge(&cases, 20), Verdict::Fail);
        assert_eq!(judge(&[negation(2.0, 2.0 * 1.01, true)], 20), Verdict::Fail);
    }

    #[test]
    fn too_few_or_only_undecided_minima_are_inconclusive() {
        let few: Vec<Negation> = (0..5).map(|_| negation(1.0, 0.5, true)).collect();
        assert_eq!(judge(&few, 20), Verdict::Inconclusive);
        // Undecided cases (uncertified minima, or a tie within rounding) never decide.
        let undecided = vec![negation(1.0, 1.5, false), negation(1.0, 1.0 + 1e-12, true)];
        assert_eq!(judge(&undecided, 1), Verdict::Inconclusive);
        assert_eq!(judge(&[], 0), Verdict::Inconclusive);
    }
}
