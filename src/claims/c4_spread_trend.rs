//! C4: the spurious critical set of `f` concentrates around `−ρ_d x0` as the network widens
//! (docs/THEORY.md §16.2–§16.3), judged on the exact `k = 2` landscape
//! ([`crate::landscape::exact::sweep`], the study behind `landscape exact --sweep`).
//!
//! Theorem II.1 puts every critical point of `f` away from the origin in two balls, around
//! `x0` and `−ρ_d x0`, of radii `∝ ε^{1/4}`; its hypothesis is out of reach of any computable
//! instance, so what it predicts there is a trend: the spread (largest `‖x + ρ_d x0‖/‖x0‖`
//! over the certified spurious local minima deeper than the spec's threshold) shrinks as `n_1`
//! grows. The test: least squares of `ln spread` on `ln n_1` over the instances of the width
//! ladder (`m = 4 n_1`), with a 95% t interval for the slope; PASS when the interval lies below
//! 0, FAIL when it lies above 0, INCONCLUSIVE otherwise ([`judge`]). Instances without a
//! counted spurious minimum (spread 0) are left out of the fit and counted
//! (docs/THEORY.md §16.2).
//!
//! Also reported, not judged: the slope against the WDC lower bound ε beside the theorem's 1/4,
//! the spurious minima per rung, the spurious critical points outside the old fixed balls (the
//! old C4's count), and two checks that are not evidence: `x0` is the unique global minimiser
//! (noiseless) and `D_u f(0) ≤ 0` (an identity).

use serde::{Deserialize, Serialize};

use super::verdicts::decay_exponent;
use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::error::Result;
use crate::exec::run::run_all;
use crate::landscape::exact::sweep::{
    ExactSweep, ExactSweepPlan, ExactSweepRow, RungSummary, SpreadFits, SpreadPoint, rung_summaries, spread_fits,
    spread_points,
};
use crate::report::plot::Series;
use crate::solvers::instance::InstanceKey;
use crate::stats::PowerLawFit;

/// Parameters of C4 (from `verify/C4-spread-trend.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// The rungs' first hidden widths `n_1` (networks `2-n_1-4n_1`, `m = 4 n_1`).
    pub ladder: Vec<usize>,
    /// Instances per rung (from the power computation in the spec).
    pub trials: u64,
    /// Depth threshold of a counted spurious minimum, relative to `f(0)`.
    pub min_depth: f64,
    /// `τ` of the old fixed balls.
    pub tau: f64,
    /// Margin of the old fixed balls.
    pub margin: f64,
    /// Sampled pairs per layer of the WDC lower bound.
    pub wdc_pairs: usize,
    /// Sampled tuples of the RRCP lower bound (reported, not judged).
    pub rrcp_tuples: usize,
    /// Rungs with `n_1` at most this have their largest-spread instance saved.
    pub max_saved_n1: usize,
}

/// The sweep plan of a ladder `2-n_1-4n_1`, `m = 4 n_1` (shared with C5).
pub fn ladder_plan(seed: u64, ladder: &[usize], trials: u64, min_depth: f64) -> ExactSweepPlan {
    ExactSweepPlan {
        seed,
        rungs: ladder.iter().map(|&n| (vec![2, n, 4 * n], 4 * n)).collect(),
        trials,
        min_depth,
        tau: 0.01,
        margin: 1.5,
        census_starts: 0,
        wdc_pairs: 0,
        rrcp_tuples: 0,
    }
}

/// The C4 verdict on the table of instances, with the fits
/// (docs/THEORY.md §16.3): PASS when the 95% interval of the slope of `ln spread` on `ln n_1`
/// (zero spreads left out) lies below 0, FAIL when above 0, INCONCLUSIVE otherwise or when no
/// fit is possible (fewer than 3 positive spreads, or a single width).
pub fn judge(points: &[SpreadPoint]) -> (Verdict, SpreadFits) {
    let fits = spread_fits(points);
    let interval = fits.width.map(|f| (f.exponent_lo, f.exponent_hi));
    (decay_exponent(interval, (f64::NEG_INFINITY, 0.0)), fits)
}

/// Saves, on each rung with `n_1 ≤ max_n1`, the instance of the row that maximises `key_of`
/// (C4: the spread; C5: the negation ratio) into the claim's folder; returns the files.
pub fn save_extremes(
    dir: &ClaimDir<'_>,
    plan: &ExactSweepPlan,
    rows: &[(u64, ExactSweepRow)],
    max_n1: usize,
    key_of: fn(&ExactSweepRow) -> f64,
) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for rung in 0..plan.rungs.len() {
        let best = rows
            .iter()
            .filter(|(id, r)| plan.locate(*id).0 == rung && r.n1 <= max_n1)
            .max_by(|a, b| key_of(&a.1).total_cmp(&key_of(&b.1)));
        if let Some((id, r)) = best {
            let experiment = plan.experiment(rung);
            let key = InstanceKey {
                seed: plan.seed,
                experiment: &experiment,
                trial: r.trial,
            };
            let file = format!("instance-{}-trial{}.safetensors", r.widths, r.trial);
            files.push(dir.save_instance(&file, &plan.instance(*id), &key)?);
        }
    }
    Ok(files)
}

/// Runs C4.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    let plan = ExactSweepPlan {
        tau: p.tau,
        margin: p.margin,
        wdc_pairs: p.wdc_pairs,
        rrcp_tuples: p.rrcp_tuples,
        ..ladder_plan(seed, &p.ladder, p.trials, p.min_depth)
    };
    let study = ExactSweep { plan };
    let rows = run_all(&study, &|| {})?;
    let rungs = rung_summaries(&study.plan, &rows);
    let (verdict, fits) = judge(&spread_points(&rows));
    let instances: Vec<ExactSweepRow> = rows.iter().map(|(_, r)| r.clone()).collect();
    let mut files = vec![
        dir.write_csv("c4_instances.csv", &instances)?,
        dir.write_csv("c4_rungs.csv", &rungs)?,
    ];
    let figure = dir.line_figure(
        "c4_spread.png",
        "C4: spread of the spurious minima around -rho_d x0 against n_1",
        ("first hidden width n_1 (neurons)", "spread (units of |x0|)"),
        &[
            spread_series("median spread (zeros included)", &rungs, |s| s.spread_median),
            spread_series("largest spread", &rungs, |s| s.spread_max),
        ],
        (true, true),
    )?;
    files.push(figure.clone());
    files.extend(save_extremes(dir, &study.plan, &rows, p.max_saved_n1, |r| r.spread)?);
    let checks_ok = instances
        .iter()
        .all(|r| r.x0_unique_global && r.origin_max_derivative <= 0.0);
    let per_rung: Vec<String> = rungs
        .iter()
        .map(|s| {
            format!(
                "{}: {:.1} spurious/inst., median spread {:.3}, {} zero, {} outside old balls",
                s.widths, s.spurious_mean, s.spread_median, s.zero_spread, s.outside_fixed_balls
            )
        })
        .collect();
    let eps_fit = |fit: Option<PowerLawFit>, which: &str| {
        fit.map_or_else(
            || format!("no {which} fit"),
            |f| {
                format!(
                    "slope on ln {which} {:.3} [{:.3}, {:.3}] beside the theorem's 0.25",
                    f.exponent, f.exponent_lo, f.exponent_hi
                )
            },
        )
    };
    let eps = format!(
        "{}; {}",
        eps_fit(fits.epsilon, "ε (WDC lower bound)"),
        eps_fit(fits.rrcp_epsilon, "ε_RRCP (sampled lower bound)")
    );
    let measured = format!(
        "exact k = 2 landscapes of {} instances ({} per rung, m = 4 n_1); {}; {eps}; checks (not evidence): x0 the unique global minimiser and D_u f(0) ≤ 0 on every instance: {}",
        instances.len(),
        p.trials,
        per_rung.join("; "),
        if checks_ok { "yes" } else { "NO (see c4_instances.csv)" },
    );
    let statistic = fits.width.map_or_else(
        || format!("no fit ({} of {} spreads are 0)", fits.zero_spreads, fits.instances),
        |f| {
            format!(
                "slope of ln spread on ln n_1 = {:.3}, 95% interval [{:.3}, {:.3}] ({} instances, {} zero spreads left out)",
                f.exponent, f.exponent_lo, f.exponent_hi, f.points, fits.zero_spreads
            )
        },
    );
    Ok(ClaimReport::new(spec, measured, verdict, files, vec![figure]).with_statistic(statistic))
}

/// A per-rung line against `n_1`.
fn spread_series(label: &str, rungs: &[RungSummary], value: fn(&RungSummary) -> f64) -> Series {
    Series {
        label: label.into(),
        points: rungs.iter().map(|s| (s.n1 as f64, value(s))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_spec_parses_for_both_protocols() {
        let spec = Spec::parse(
            "C4-spread-trend.toml",
            include_str!("../../verify/C4-spread-trend.toml"),
        )
        .expect("spec");
        assert_eq!(spec.id, "C4");
        for full in [false, true] {
            spec.params::<Params>(full).expect("typed parameters");
        }
    }

    /// Five rungs of `per_rung` instances with spread `c n^slope · e^{±noise}` (alternating
    /// signs, so the noise is deterministic and balanced on every rung).
    fn ladder(slope: f64, noise: f64, per_rung: usize) -> Vec<SpreadPoint> {
        [50.0_f64, 100.0, 200.0, 400.0, 800.0]
            .iter()
            .flat_map(|&n| {
                (0..per_rung).map(move |i| {
                    let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                    SpreadPoint {
                        n1: n,
                        wdc_epsilon: Some(n.powf(-0.5)),
                        rrcp_epsilon: Some(n.powf(-0.25)),
                        spread: 3.0 * n.powf(slope) * (sign * noise * (1.0 + i as f64 / 4.0)).exp(),
                    }
                })
            })
            .collect()
    }

    #[test]
    fn a_shrinking_spread_passes() {
        // slope −0.3 with ±20% noise on 9 per rung: the interval lies well below 0.
        let (verdict, fits) = judge(&ladder(-0.3, 0.2, 9));
        assert_eq!(verdict, Verdict::Pass);
        assert!((fits.width.unwrap().exponent + 0.3).abs() < 0.05);
    }

    #[test]
    fn a_growing_spread_fails() {
        assert_eq!(judge(&ladder(0.3, 0.2, 9)).0, Verdict::Fail);
    }

    #[test]
    fn a_flat_noisy_spread_is_inconclusive() {
        assert_eq!(judge(&ladder(0.0, 0.5, 9)).0, Verdict::Inconclusive);
        // Almost every spread 0: no fit, no verdict either way.
        let zeros: Vec<SpreadPoint> = (0..20)
            .map(|i| SpreadPoint {
                n1: 50.0 * f64::from(i % 5 + 1),
                wdc_epsilon: None,
                rrcp_epsilon: None,
                spread: 0.0,
            })
            .collect();
        let (verdict, fits) = judge(&zeros);
        assert_eq!((verdict, fits.zero_spreads), (Verdict::Inconclusive, 20));
    }
}
