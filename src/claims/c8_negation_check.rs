//! C8: the negation check matters. DPR (Algorithm 1) and the same gradient steps without the
//! negation check (GD) solve the same instances from the same starts (a paired sweep,
//! [`crate::sweep`]); the claim is that the check never hurts and sometimes helps
//! significantly.
//!
//! The test (docs/THEORY.md §15.1–15.2): at each grid point, the exact McNemar test on the
//! discordant pairs — `b` trials where DPR succeeds and GD fails, `c` the reverse — with
//! `H0: P(b-type) = P(c-type)` (two-sided exact binomial on `b` given `b + c`); Holm's
//! step-down adjustment over the grid points keeps the family-wise error at
//! [`ALPHA`]. PASS: DPR significantly better (adjusted p < α, `b > c`) at some
//! point and significantly worse at none; FAIL: significantly worse (adjusted p < α, `c > b`)
//! at some point; INCONCLUSIVE otherwise.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ALPHA, ClaimDir, ClaimReport, Spec, Verdict};
use crate::error::{Error, Result};
use crate::exec::TrialRows;
use crate::report::plot::Series;
use crate::solvers::{Method, Selection};
use crate::stats::{holm_adjust, mcnemar_exact};
use crate::sweep::{SweepConfig, SweepRow};

/// Parameters of C8 (from `verify/C8-negation-check.toml`): one sweep grid with methods
/// `dpr` and `gd`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The paired sweep.
    pub sweep: SweepConfig,
}

/// The paired outcomes at one grid point (`c8_mcnemar.csv`): counts are exact, the p-values
/// are those of the exact McNemar test.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedPoint {
    /// Master seed.
    pub seed: u64,
    /// Latent dimension.
    pub k: usize,
    /// Widths `k-…-n`.
    pub widths: String,
    /// Measurements.
    pub m: usize,
    /// The rule choosing among restarts (a sweep with `selection = "both"` has a point per rule).
    pub selection: Selection,
    /// Pairs (trials solved by both methods).
    pub pairs: u64,
    /// Both succeed.
    pub both: u64,
    /// `b`: DPR succeeds, GD fails.
    pub dpr_only: u64,
    /// `c`: GD succeeds, DPR fails.
    pub gd_only: u64,
    /// Both fail.
    pub neither: u64,
    /// Two-sided exact McNemar p-value (filled by [`judge`]).
    pub p_value: f64,
    /// Holm-adjusted p-value over the grid (filled by [`judge`]).
    pub p_holm: f64,
    /// `dpr_better`, `dpr_worse` or `not_significant` at level α after Holm.
    pub finding: &'static str,
}

/// Pairs DPR's and GD's trials of the same setting (all but the method equal) and the same
/// trial index, and counts the four outcomes per grid point (p-values left at 1 for
/// [`judge`]).
pub fn paired_points(rows: &TrialRows<SweepRow>) -> Vec<PairedPoint> {
    type Key = (usize, String, usize, Option<u64>, usize, &'static str, u64);
    let key = |r: &SweepRow| -> Key {
        (
            r.k,
            r.widths.clone(),
            r.m,
            r.snr_db.map(f64::to_bits),
            r.restarts,
            r.selection.name(),
            r.trial,
        )
    };
    let gd: BTreeMap<Key, bool> = rows
        .iter()
        .filter(|(_, r)| r.method == Method::Gd)
        .map(|(_, r)| (key(r), r.success))
        .collect();
    let mut points: Vec<PairedPoint> = Vec::new();
    for (_, r) in rows.iter().filter(|(_, r)| r.method == Method::Dpr) {
        let Some(&gd_success) = gd.get(&key(r)) else { continue };
        let at = points
            .iter()
            .position(|p| (p.k, p.widths.as_str(), p.m, p.selection) == (r.k, r.widths.as_str(), r.m, r.selection));
        let point = match at {
            Some(i) => &mut points[i],
            None => {
                points.push(PairedPoint {
                    seed: r.seed,
                    k: r.k,
                    widths: r.widths.clone(),
                    m: r.m,
                    selection: r.selection,
                    pairs: 0,
                    both: 0,
                    dpr_only: 0,
                    gd_only: 0,
                    neither: 0,
                    p_value: 1.0,
                    p_holm: 1.0,
                    finding: "not_significant",
                });
                points.last_mut().expect("just pushed")
            }
        };
        point.pairs += 1;
        match (r.success, gd_success) {
            (true, true) => point.both += 1,
            (true, false) => point.dpr_only += 1,
            (false, true) => point.gd_only += 1,
            (false, false) => point.neither += 1,
        }
    }
    points
}

/// The verdict (see the module doc) on the paired counts at level `alpha`; fills in each
/// point's p-values and finding.
pub fn judge(points: &mut [PairedPoint], alpha: f64) -> Verdict {
    let p: Vec<f64> = points.iter().map(|x| mcnemar_exact(x.dpr_only, x.gd_only)).collect();
    for (point, (&raw, adjusted)) in points.iter_mut().zip(p.iter().zip(holm_adjust(&p))) {
        point.p_value = raw;
        point.p_holm = adjusted;
        point.finding = match (adjusted < alpha, point.dpr_only.cmp(&point.gd_only)) {
            (true, std::cmp::Ordering::Greater) => "dpr_better",
            (true, std::cmp::Ordering::Less) => "dpr_worse",
            _ => "not_significant",
        };
    }
    if points.iter().any(|x| x.finding == "dpr_worse") {
        Verdict::Fail
    } else if points.iter().any(|x| x.finding == "dpr_better") {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// `m = 8: b/c = 3/6, p_Holm = 1` for each point.
fn describe(points: &[PairedPoint]) -> String {
    points
        .iter()
        .map(|x| {
            format!(
                "k = {}, m = {}: b/c = {}/{} (p_Holm = {:.2e})",
                x.k, x.m, x.dpr_only, x.gd_only, x.p_holm
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs C8.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    let source = PathBuf::from(format!("verify/{} sweep", dir.name));
    if !(p.sweep.methods.contains(&Method::Dpr) && p.sweep.methods.contains(&Method::Gd)) {
        return Err(Error::Config {
            path: source,
            reason: "key `methods`: C8 compares \"dpr\" with \"gd\"; list both".into(),
        });
    }
    let done = dir.sweep("sweep", p.sweep, &source, seed)?;
    let mut points = paired_points(&done.rows);
    let verdict = judge(&mut points, ALPHA);
    let success = &done.analysis.success;
    let series: Vec<Series> = [Method::Dpr, Method::Gd]
        .iter()
        .flat_map(|&method| {
            done.analysis
                .transitions
                .iter()
                .filter(move |t| t.method == method)
                .map(move |t| Series {
                    label: format!("{} (k = {}, {})", method.name(), t.k, t.widths),
                    points: success
                        .iter()
                        .filter(|s| s.method == method && s.k == t.k && s.widths == t.widths && s.snr_db == t.snr_db)
                        .map(|s| (s.m as f64, s.success_rate))
                        .collect(),
                })
        })
        .collect();
    let figure = dir.line_figure(
        "c8_dpr_vs_gd.png",
        "C8: success rate of DPR vs GD (same instances and starts)",
        ("m (measurements)", "success rate (fraction of instances, estimate)"),
        &series,
        (true, false),
    )?;
    let csv = dir.write_csv("c8_mcnemar.csv", &points)?;
    let count = |finding: &str| points.iter().filter(|x| x.finding == finding).count();
    let measured = format!(
        "{} paired grid points, {} pairs each (exact counts): DPR significantly better at {}, significantly worse at {} (exact McNemar, Holm over the grid, α = {ALPHA})",
        points.len(),
        done.study.grid.config.trials,
        count("dpr_better"),
        count("dpr_worse"),
    );
    let statistic = format!(
        "discordant pairs b (DPR only) / c (GD only) and Holm-adjusted exact McNemar p: {}",
        describe(&points)
    );
    let mut files = done.written.files;
    files.push(csv);
    files.push(figure.clone());
    let mut figures = vec![figure];
    figures.extend(done.written.figures);
    Ok(ClaimReport::new(spec, measured, verdict, files, figures).with_statistic(statistic))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(m: usize, dpr_only: u64, gd_only: u64) -> PairedPoint {
        PairedPoint {
            seed: 1,
            k: 4,
            widths: "4-100-300".into(),
            m,
            selection: Selection::Objective,
            pairs: 60,
            both: 10,
            dpr_only,
            gd_only,
            neither: 50 - dpr_only - gd_only,
            p_value: 1.0,
            p_holm: 1.0,
            finding: "not_significant",
        }
    }

    #[test]
    fn one_significant_gain_and_no_loss_passes() {
        // b/c = 14/0 at m = 32: raw p = 2⁻¹³ = 1.2e-4, × 3 grid points = 3.7e-4 < 0.05. A
        // judge that ignored the direction, the adjustment or the gain would not say PASS here.
        let mut grid = vec![point(8, 3, 6), point(16, 5, 2), point(32, 14, 0)];
        assert_eq!(judge(&mut grid, 0.05), Verdict::Pass);
        assert_eq!(grid[2].finding, "dpr_better");
        assert!((grid[2].p_holm - 3.0 * 2f64.powi(-13)).abs() < 1e-15);
        assert_eq!(grid[0].finding, "not_significant");
    }

    #[test]
    fn a_significant_loss_fails_even_beside_a_gain() {
        // 0/14 at m = 8 is as significant against DPR as 14/0 is for it.
        let mut grid = vec![point(8, 0, 14), point(32, 14, 0)];
        assert_eq!(judge(&mut grid, 0.05), Verdict::Fail);
        assert_eq!(grid[0].finding, "dpr_worse");
    }

    #[test]
    fn noise_at_every_point_is_inconclusive() {
        // The quick run: 3 vs 6 successes is no evidence either way; nor is 6/0 once
        // Holm accounts for five points (raw p = 1/32, adjusted 5/32). The old rule (DPR's
        // rate ≥ GD's everywhere) called the first FAIL.
        let mut grid = vec![
            point(8, 3, 6),
            point(16, 6, 0),
            point(32, 4, 4),
            point(64, 2, 0),
            point(128, 0, 0),
        ];
        assert_eq!(judge(&mut grid, 0.05), Verdict::Inconclusive);
        assert!((grid[1].p_value - 1.0 / 32.0).abs() < 1e-15 && (grid[1].p_holm - 5.0 / 32.0).abs() < 1e-15);
        assert_eq!(judge(&mut [], 0.05), Verdict::Inconclusive);
    }

    #[test]
    fn an_adjusted_p_value_equal_to_the_level_rejects_nothing() {
        // One grid point, so Holm leaves p as it is: judged at α = p itself, the point is not
        // significant (the test rejects when p < α); just above it, it is.
        let p = mcnemar_exact(10, 1);
        let mut grid = vec![point(32, 10, 1)];
        assert_eq!(judge(&mut grid, p), Verdict::Inconclusive);
        assert_eq!(judge(&mut grid, p * (1.0 + 1e-12)), Verdict::Pass);
    }

    #[test]
    fn pairs_are_matched_by_setting_and_trial() {
        let row = |method: Method, m: usize, trial: u64, success: bool| {
            let r = SweepRow {
                seed: 1,
                k: 4,
                widths: "4-100-300".into(),
                d: 2,
                n: 300,
                weight_scale: crate::core::network::WeightScale::Normalized,
                m,
                m_over_n: m as f64 / 300.0,
                measurement_scale: crate::core::measure::MeasurementScale::Normalized,
                snr_db: None,
                method,
                restarts: 1,
                selection: crate::solvers::Selection::Objective,
                step: 0.1,
                lr: 0.01,
                trial,
                relative_error: if success { 0.0 } else { 1.0 },
                success_tol: 1e-4,
                success,
                value: 0.0,
                iterations: 1,
                negations: 0,
                termination: String::new(),
                gradient_evaluations: 1,
                value_evaluations: 1,
            };
            (trial, r)
        };
        let rows = vec![
            row(Method::Dpr, 8, 0, true),
            row(Method::Dpr, 8, 1, false),
            row(Method::Dpr, 8, 2, true),
            row(Method::Gd, 8, 0, false),
            row(Method::Gd, 8, 1, true),
            row(Method::Gd, 8, 2, true),
            row(Method::Dpr, 16, 0, false),
            row(Method::Gd, 16, 0, false),
        ];
        let mut rows = rows;
        // A sweep with `selection = "both"` writes each trial once per rule: the oracle rows of
        // trial 0 at m = 8 form their own point instead of being counted twice.
        for i in [0, 3] {
            let (id, mut r) = rows[i].clone();
            r.selection = Selection::Oracle;
            rows.push((id, r));
        }
        let points = paired_points(&rows);
        assert_eq!(points.len(), 3);
        assert_eq!(
            (points[2].selection, points[2].pairs, points[2].dpr_only),
            (Selection::Oracle, 1, 1)
        );
        assert_eq!(
            (
                points[0].pairs,
                points[0].both,
                points[0].dpr_only,
                points[0].gd_only,
                points[0].neither
            ),
            (3, 1, 1, 1, 0)
        );
        assert_eq!((points[1].m, points[1].neither), (16, 1));
    }
}
