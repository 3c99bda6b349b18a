//! C8: the negation check matters. DPR (Algorithm 1) and the same gradient steps without the
//! negation check (GD) solve the same instances from the same starts (a paired sweep,
//! [`crate::sweep`]); the claim is that the check never hurts and sometimes helps
//! significantly.
//!
//! PASS when DPR's success rate (estimate) is at least GD's at every grid point, and at some
//! grid point DPR's Wilson 95% interval lies entirely above GD's; FAIL otherwise.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::error::{Error, Result};
use crate::report::plot::Series;
use crate::solvers::Method;
use crate::sweep::summary::SuccessRow;
use crate::sweep::{SweepConfig, run_into};

/// Parameters of C8 (from `verify/C8-negation-check.toml`): one sweep grid with methods
/// `dpr` and `gd`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The paired sweep.
    pub sweep: SweepConfig,
}

/// DPR's and GD's rows at one grid point.
#[derive(Clone, Copy, Debug)]
pub struct Pair<'a> {
    /// DPR.
    pub dpr: &'a SuccessRow,
    /// GD.
    pub gd: &'a SuccessRow,
}

/// DPR and GD at the same setting (all but the method equal).
pub fn pairs(success: &[SuccessRow]) -> Vec<Pair<'_>> {
    success
        .iter()
        .filter(|s| s.method == Method::Dpr)
        .filter_map(|dpr| {
            success
                .iter()
                .find(|g| {
                    g.method == Method::Gd
                        && (g.k, &g.widths, g.m, g.snr_db, g.restarts)
                            == (dpr.k, &dpr.widths, dpr.m, dpr.snr_db, dpr.restarts)
                })
                .map(|gd| Pair { dpr, gd })
        })
        .collect()
}

/// The verdict (see the module doc) and, for the report, the worst grid point for DPR (largest
/// GD − DPR) and the most significant one (largest gap between the intervals).
pub fn judge<'a>(pairs: &[Pair<'a>]) -> (Verdict, Option<Pair<'a>>, Option<Pair<'a>>) {
    let never_worse = pairs.iter().all(|p| p.dpr.success_rate >= p.gd.success_rate);
    let separated = pairs.iter().any(|p| p.dpr.wilson_lo > p.gd.wilson_hi);
    let worst = pairs
        .iter()
        .copied()
        .max_by(|a, b| (a.gd.success_rate - a.dpr.success_rate).total_cmp(&(b.gd.success_rate - b.dpr.success_rate)));
    let best = pairs
        .iter()
        .copied()
        .max_by(|a, b| (a.dpr.wilson_lo - a.gd.wilson_hi).total_cmp(&(b.dpr.wilson_lo - b.gd.wilson_hi)));
    (
        Verdict::from_bool(!pairs.is_empty() && never_worse && separated),
        worst,
        best,
    )
}

fn show(p: &Pair<'_>) -> String {
    format!(
        "k = {}, m = {}: DPR {}/{} [{:.2}, {:.2}] vs GD {}/{} [{:.2}, {:.2}]",
        p.dpr.k,
        p.dpr.m,
        p.dpr.successes,
        p.dpr.trials,
        p.dpr.wilson_lo,
        p.dpr.wilson_hi,
        p.gd.successes,
        p.gd.trials,
        p.gd.wilson_lo,
        p.gd.wilson_hi
    )
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
    let done = run_into(dir.out, &Path::new(&dir.name).join("sweep"), p.sweep, &source, seed)?;
    let success = &done.analysis.success;
    let pairs = pairs(success);
    let (verdict, worst, best) = judge(&pairs);
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
        ("m", "success rate (estimate)"),
        &series,
        (true, false),
    )?;
    let worse_count = pairs.iter().filter(|p| p.dpr.success_rate < p.gd.success_rate).count();
    let disjoint = pairs.iter().filter(|p| p.dpr.wilson_lo > p.gd.wilson_hi).count();
    let measured = format!(
        "{} paired grid points, {} trials each (success rates are estimates, Wilson 95% intervals): DPR below GD at {worse_count} (largest GD − DPR: {}); DPR's interval entirely above GD's at {disjoint} (most separated: {})",
        pairs.len(),
        done.study.grid.config.trials,
        worst.map_or_else(|| "none".into(), |p| show(&p)),
        best.map_or_else(|| "none".into(), |p| show(&p)),
    );
    let mut files = done.written.files;
    files.push(figure.clone());
    let mut figures = vec![figure];
    figures.extend(done.written.figures);
    Ok(ClaimReport::new(spec, measured, verdict, files, figures))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::wilson_interval;

    fn rate(method: Method, m: usize, successes: usize) -> SuccessRow {
        let (wilson_lo, wilson_hi) = wilson_interval(successes as u64, 40);
        SuccessRow {
            kind: crate::sweep::summary::ESTIMATE,
            seed: 1,
            k: 4,
            widths: "4-50-100".into(),
            d: 2,
            n: 100,
            weight_scale: crate::core::network::WeightScale::Normalized,
            m,
            m_over_n: m as f64 / 100.0,
            measurement_scale: crate::core::measure::MeasurementScale::Normalized,
            snr_db: None,
            method,
            restarts: 1,
            selection: crate::solvers::Selection::Objective,
            success_tol: 1e-4,
            trials: 40,
            successes,
            success_rate: successes as f64 / 40.0,
            wilson_lo,
            wilson_hi,
            median_relative_error: 0.0,
            mean_iterations: 0.0,
            mean_gradient_evaluations: 0.0,
        }
    }

    #[test]
    fn the_verdict_needs_never_worse_and_one_separated_point() {
        let grid = |gd_at_8: usize, dpr_at_64: usize| {
            vec![
                rate(Method::Dpr, 8, 3),
                rate(Method::Gd, 8, gd_at_8),
                rate(Method::Dpr, 64, dpr_at_64),
                rate(Method::Gd, 64, 20),
            ]
        };
        // 38/40 = [0.83, 0.99] vs 20/40 = [0.35, 0.65]: separated.
        let pass = grid(3, 38);
        assert_eq!(judge(&pairs(&pass)).0, Verdict::Pass);
        let worse = grid(4, 38);
        let (verdict, shortfall, _) = judge(&pairs(&worse));
        assert_eq!((verdict, shortfall.unwrap().dpr.m), (Verdict::Fail, 8));
        // 28/40 = [0.55, 0.82] overlaps 20/40: never worse, but never separated.
        assert_eq!(judge(&pairs(&grid(3, 28))).0, Verdict::Fail);
        assert_eq!(judge(&[]).0, Verdict::Fail);
    }
}
