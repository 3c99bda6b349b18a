//! C2: the WDC constant of a Gaussian layer falls with its width and grows with its input
//! width (docs/THEORY.md §2). Judged on certified values only: the certified `k = 2` series
//! (exact up to a tolerance) for the fall in `n`, and the certified `k = 2, 3, 4` settings for
//! the growth in `k`; the sampled `k = 20` series (lower bounds, a pair budget growing with
//! `n`, since a fixed budget finds less as the sectors multiply) is reported beside it.
//!
//! The tests (docs/THEORY.md §15.3 and §17.5), three one-sided requirements judged together by
//! [`super::verdicts::all_clear`]:
//!
//! 1. the exponent `p` of `ε ~ c n^p` on the `k = 2` series' mean ε per width is below 0
//!    (`H0: p ≥ 0`; least squares of `ln ε` on `ln n`, t interval with `widths − 2` degrees of
//!    freedom);
//! 2. and 3. the exponent `a` of `k` in `ε ≈ C k^a n^c (ln n)^{1/2}`, fitted to the certified
//!    upper ends and to the certified lower ends, is above 0 (`H0: a ≤ 0`; t interval with
//!    `settings − 3` degrees of freedom).
//!
//! PASS: every 95% interval lies on its required side; FAIL: some `1 − α/3` interval lies
//! entirely on the wrong side (Bonferroni over the three); INCONCLUSIVE: otherwise, or a fit is
//! missing ([`judge`]).

use serde::{Deserialize, Serialize};

use super::verdicts::{Requirement, all_clear};
use super::{ALPHA, ClaimDir, ClaimReport, Spec, Verdict};
use crate::conditions::wdc::{Domain, WdcSearch};
use crate::conditions::wdc_scaling::{
    FitSeries, Law, LawFit, LawFitRow, ScalingRow, StudyPlan, WidthFit, fit_laws, fit_widths, run_study, summarize,
};
use crate::error::{Error, Result};
use crate::report::plot::Series;
use crate::stats::PowerLawFit;

/// Parameters of C2 (from `verify/C2-wdc-scaling.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// Input width of the certified series (must be 2).
    pub certified_k: usize,
    /// Widths of the certified series.
    pub certified_n: Vec<usize>,
    /// Input width of the sampled series.
    pub sampled_k: usize,
    /// Widths of the sampled series.
    pub sampled_n: Vec<usize>,
    /// Independent layers per width.
    pub trials: usize,
    /// Certificate tolerance.
    pub tol: f64,
    /// Pairs at the smallest sampled width (grows linearly with n).
    pub pairs_at_smallest_n: usize,
    /// Refinement starts.
    pub refine_starts: usize,
    /// Refinement steps.
    pub refine_steps: usize,
    /// The certified settings with k = 3 and 4, fitted with the `k = 2` series for the
    /// exponent of k.
    pub k_series: Vec<KSeries>,
}

/// Certified settings of one input width for the k-dependence.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct KSeries {
    /// Input width (3 or 4).
    pub k: usize,
    /// Output widths.
    pub n: Vec<usize>,
    /// Box certificate tolerance (absolute).
    pub tol: f64,
    /// Independent layers per width.
    pub trials: usize,
}

fn validate(p: &Params) -> Result<()> {
    let positive = |t: f64| t.is_finite() && t > 0.0;
    if p.certified_k != 2 || p.certified_n.len() < 3 || p.trials == 0 || !positive(p.tol) {
        return Err(Error::param(
            "C2 parameters",
            format!("{p:?}"),
            "certified_k must be 2, with >= 3 widths, trials >= 1, tol > 0",
        ));
    }
    if let Some(bad) = p
        .k_series
        .iter()
        .find(|s| !(3..=4).contains(&s.k) || s.n.is_empty() || s.trials == 0 || !positive(s.tol))
    {
        return Err(Error::param(
            "C2 k_series",
            format!("{bad:?}"),
            "each k series needs k = 3 or 4, at least one width, trials >= 1 and tol > 0",
        ));
    }
    Ok(())
}

fn describe(fit: &WidthFit) -> String {
    match &fit.fit {
        Some(f) => format!("p = {:.3} [{:.3}, {:.3}]", f.exponent, f.exponent_lo, f.exponent_hi),
        None => "no fit".into(),
    }
}

/// Runs C2.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    validate(&p)?;
    let search = WdcSearch {
        pairs: p.pairs_at_smallest_n,
        domain: Domain::Full,
        refine_starts: p.refine_starts,
        refine_steps: p.refine_steps,
    };
    let certified = run_study(
        &[p.certified_k],
        &p.certified_n,
        p.trials,
        &StudyPlan {
            search,
            grow_pairs: false,
            certify: true,
            tol: p.tol,
            box_tol: None,
        },
        seed,
        &|| {},
    );
    let sampled = run_study(
        &[p.sampled_k],
        &p.sampled_n,
        p.trials,
        &StudyPlan {
            search,
            grow_pairs: true,
            certify: false,
            tol: p.tol,
            box_tol: None,
        },
        seed,
        &|| {},
    );
    let k_rows = p.k_series.iter().flat_map(|s| {
        run_study(
            &[s.k],
            &s.n,
            s.trials,
            &StudyPlan {
                search,
                grow_pairs: false,
                certify: true,
                tol: p.tol,
                box_tol: Some(s.tol),
            },
            seed,
            &|| {},
        )
    });
    let rows: Vec<ScalingRow> = certified.into_iter().chain(k_rows).chain(sampled).collect();
    let summary = summarize(&rows);
    let fits = fit_widths(&summary);
    let laws = fit_laws(&summary);
    let csv = dir.write_csv("c2_trials.csv", &rows)?;
    let csv_summary = dir.write_csv("c2_summary.csv", &summary)?;
    let law_rows: Vec<LawFitRow> = laws.iter().flat_map(|f| f.rows(seed)).collect();
    let csv_laws = dir.write_csv("c2_scaling_laws.csv", &law_rows)?;
    let series: Vec<Series> = fits
        .iter()
        .map(|f| Series {
            label: format!(
                "k = {} ({})",
                f.k,
                if f.k == p.certified_k {
                    "certified"
                } else {
                    "sampled lower bound"
                }
            ),
            points: summary
                .iter()
                .filter(|s| s.k == f.k)
                .map(|s| (s.n as f64, s.epsilon_mean))
                .collect(),
        })
        .collect();
    let figure = dir.line_figure(
        "c2_epsilon_vs_n.png",
        "C2: WDC epsilon vs width (mean over trials)",
        ("layer width n (neurons)", "WDC epsilon (dimensionless)"),
        &series,
        (true, true),
    )?;
    let cert_fit = fits.iter().find(|f| f.k == p.certified_k).and_then(|f| f.fit);
    let k_law = |series: FitSeries| laws.iter().find(|f| f.series == series && f.law == Law::PowerKn);
    let (upper_law, lower_law) = (k_law(FitSeries::CertifiedUpper), k_law(FitSeries::CertifiedLower));
    let verdict = judge(cert_fit.as_ref(), upper_law, lower_law);
    let sampled_fit = fits
        .iter()
        .find(|f| f.k == p.sampled_k)
        .map_or_else(|| "no fit".into(), describe);
    let certified_fit = fits
        .iter()
        .find(|f| f.k == p.certified_k)
        .map_or_else(|| "no fit".into(), describe);
    let measured = format!(
        "certified k = {} (exact ±{}), n = {:?}, {} trials; certified k series {}; rate constant C = {:.3} in ε ≈ C √(k ln n / n); sampled k = {} (lower bounds, not judged): {}",
        p.certified_k,
        p.tol,
        p.certified_n,
        p.trials,
        p.k_series
            .iter()
            .map(|s| format!("k = {} at n = {:?} ({} trials, gap ≤ {})", s.k, s.n, s.trials, s.tol))
            .collect::<Vec<_>>()
            .join(", "),
        fits.iter()
            .find(|f| f.k == p.certified_k)
            .map_or(f64::NAN, |f| f.rate_constant),
        p.sampled_k,
        sampled_fit
    );
    let statistic = format!(
        "certified exponent {certified_fit} (95% t interval, H0: p ≥ 0); exponent of k a = {} on the upper ends, {} on the lower ends (95% t intervals, H0: a ≤ 0)",
        describe_k(upper_law),
        describe_k(lower_law)
    );
    Ok(ClaimReport::new(
        spec,
        measured,
        verdict,
        vec![csv, csv_summary, csv_laws, figure.clone()],
        vec![figure],
    )
    .with_statistic(statistic))
}

/// `a [lo, hi]` of a k–n law, or "no fit".
fn describe_k(fit: Option<&LawFit>) -> String {
    let a = fit.and_then(|f| Some((f.fit.coefficients[1], f.interval("a", ALPHA)?)));
    a.map_or_else(|| "no fit".into(), |(a, (lo, hi))| format!("{a:.3} [{lo:.3}, {hi:.3}]"))
}

/// C2's verdict (see the module doc): `n_fit` is the power law of the certified `k = 2` series
/// in `n`; `upper` and `lower` are the k–n laws fitted to the certified upper and lower ends.
pub fn judge(n_fit: Option<&PowerLawFit>, upper: Option<&LawFit>, lower: Option<&LawFit>) -> Verdict {
    const PARTS: f64 = 3.0;
    let falls_in_n = n_fit.map(|f| Requirement {
        threshold: 0.0,
        above: false,
        interval: f.exponent_interval(ALPHA),
        interval_bonferroni: f.exponent_interval(ALPHA / PARTS),
    });
    let grows_in_k = |fit: Option<&LawFit>| {
        fit.and_then(|f| {
            Some(Requirement {
                threshold: 0.0,
                above: true,
                interval: f.interval("a", ALPHA)?,
                interval_bonferroni: f.interval("a", ALPHA / PARTS)?,
            })
        })
    };
    let parts = [falls_in_n, grows_in_k(upper), grows_in_k(lower)];
    let present: Vec<Requirement> = parts.iter().flatten().copied().collect();
    match all_clear(&present) {
        Verdict::Pass if present.len() < parts.len() => Verdict::Inconclusive,
        verdict => verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{LinearFit, power_law_fit};

    /// The power law `ε ∝ n^p` over five widths within a 5% wiggle.
    fn n_fit(p: f64) -> Option<PowerLawFit> {
        let ns = [50.0, 100.0, 200.0, 400.0, 800.0];
        let wiggle = |i: usize| 1.0 + 0.05 * (i as f64 * 2.3).sin();
        let eps: Vec<f64> = ns
            .iter()
            .enumerate()
            .map(|(i, n): (usize, &f64)| wiggle(i) * n.powf(p))
            .collect();
        power_law_fit(&ns, &eps)
    }

    /// A k–n law with exponent of k `a` and standard error `se` over 9 settings (6 degrees of
    /// freedom: t = 2.447 at 95%, 3.287 at 1 − 0.05/3).
    fn k_fit(series: FitSeries, a: f64, se: f64) -> LawFit {
        LawFit {
            series,
            law: Law::PowerKn,
            fit: LinearFit {
                coefficients: vec![0.1, a, -0.5],
                standard_errors: vec![0.1, se, 0.05],
                r2: 0.9,
                points: 9,
            },
            trials: 27,
        }
    }

    #[test]
    fn the_verdict_needs_a_fall_in_n_and_a_rise_in_k_on_both_certified_ends() {
        let falls = n_fit(-0.5);
        let up = |a, se| k_fit(FitSeries::CertifiedUpper, a, se);
        let low = |a, se| k_fit(FitSeries::CertifiedLower, a, se);
        // ε ∝ n^−1/2 and a = 0.5 ± 0.1 on both ends: every interval on its side.
        assert_eq!(
            judge(falls.as_ref(), Some(&up(0.5, 0.1)), Some(&low(0.45, 0.1))),
            Verdict::Pass
        );
        // ε ∝ n^{+0.3}: a clear rise in n, which a WDC constant must not show.
        assert_eq!(
            judge(n_fit(0.3).as_ref(), Some(&up(0.5, 0.1)), Some(&low(0.45, 0.1))),
            Verdict::Fail
        );
        // ε falls with k on the lower ends (a = −0.6 ± 0.1: the 1 − α/3 interval is below 0).
        assert_eq!(
            judge(falls.as_ref(), Some(&up(0.5, 0.1)), Some(&low(-0.6, 0.1))),
            Verdict::Fail
        );
        // a = 0.2 ± 0.1 on the upper ends: the 95% interval [−0.04, 0.44] contains 0.
        assert_eq!(
            judge(falls.as_ref(), Some(&up(0.2, 0.1)), Some(&low(0.45, 0.1))),
            Verdict::Inconclusive
        );
        // a = −0.3 ± 0.1: below 0 at 95% ([−0.54, −0.06]) but not at 1 − α/3 ([−0.63, 0.03]):
        // not a FAIL.
        assert_eq!(
            judge(falls.as_ref(), Some(&up(0.5, 0.1)), Some(&low(-0.3, 0.1))),
            Verdict::Inconclusive
        );
        // Flat in n within the noise, or a fit missing: the data cannot tell.
        assert_eq!(
            judge(n_fit(0.0).as_ref(), Some(&up(0.5, 0.1)), Some(&low(0.45, 0.1))),
            Verdict::Inconclusive
        );
        assert_eq!(
            judge(falls.as_ref(), None, Some(&low(0.45, 0.1))),
            Verdict::Inconclusive
        );
        assert_eq!(
            judge(None, Some(&up(0.5, 0.1)), Some(&low(0.45, 0.1))),
            Verdict::Inconclusive
        );
        // A missing fit does not hide a significant contradiction elsewhere.
        assert_eq!(judge(None, Some(&up(-0.6, 0.1)), None), Verdict::Fail);
    }

    #[test]
    fn a_rise_in_n_fails_only_at_the_corrected_level() {
        // ε ∝ n^{0.35 ± 0.1} over 5 widths (3 degrees of freedom): the 95% interval
        // [0.032, 0.668] lies above 0, the 1 − α/3 interval [−0.136, 0.836] does not, so the
        // rise is not significant once the three parts are accounted for.
        let fit = PowerLawFit {
            exponent: 0.35,
            exponent_lo: 0.032,
            exponent_hi: 0.668,
            constant: 1.0,
            r2: 0.9,
            points: 5,
            exponent_se: 0.1,
        };
        let up = k_fit(FitSeries::CertifiedUpper, 0.5, 0.1);
        let low = k_fit(FitSeries::CertifiedLower, 0.45, 0.1);
        assert_eq!(judge(Some(&fit), Some(&up), Some(&low)), Verdict::Inconclusive);
        let clear_rise = PowerLawFit { exponent: 0.6, ..fit };
        assert_eq!(judge(Some(&clear_rise), Some(&up), Some(&low)), Verdict::Fail);
    }
}
