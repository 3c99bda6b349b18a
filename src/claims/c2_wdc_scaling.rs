//! C2: the WDC constant of a Gaussian layer falls with its width (docs/THEORY.md §2). Judged on
//! the certified `k = 2` series (exact up to a tolerance); the sampled `k = 20` series (lower
//! bounds, a pair budget growing with `n`, since a fixed budget finds less as the sectors
//! multiply) is reported beside it.
//!
//! The test (docs/THEORY.md §15.3): least squares of `ln ε` on `ln n` over the certified
//! series' mean ε per width, with the 95% t interval of the slope `p` (`widths − 2` degrees of
//! freedom). `H0: p ≥ 0` (ε does not fall). PASS: the interval lies below 0; FAIL: it lies at
//! or above 0 (a rise, or no fall, is significant); INCONCLUSIVE: it contains 0, or there are
//! fewer than 3 widths ([`judge`], [`super::verdicts::decay_exponent`]).

use serde::{Deserialize, Serialize};

use super::verdicts::decay_exponent;
use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::conditions::wdc::{Domain, WdcSearch};
use crate::conditions::wdc_scaling::{ScalingRow, StudyPlan, WidthFit, fit_widths, run_study, summarize};
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
}

fn validate(p: &Params) -> Result<()> {
    if p.certified_k != 2 || p.certified_n.len() < 3 || p.trials == 0 || !(p.tol.is_finite() && p.tol > 0.0) {
        return Err(Error::param(
            "C2 parameters",
            format!("{p:?}"),
            "certified_k must be 2, with >= 3 widths, trials >= 1, tol > 0",
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
    let rows: Vec<ScalingRow> = certified.into_iter().chain(sampled).collect();
    let summary = summarize(&rows);
    let fits = fit_widths(&summary);
    let csv = dir.write_csv("c2_trials.csv", &rows)?;
    let csv_summary = dir.write_csv("c2_summary.csv", &summary)?;
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
        ("n", "epsilon"),
        &series,
        (true, true),
    )?;
    let cert_fit = fits.iter().find(|f| f.k == p.certified_k).and_then(|f| f.fit);
    let verdict = judge(cert_fit.as_ref());
    let sampled_fit = fits
        .iter()
        .find(|f| f.k == p.sampled_k)
        .map_or_else(|| "no fit".into(), describe);
    let certified_fit = fits
        .iter()
        .find(|f| f.k == p.certified_k)
        .map_or_else(|| "no fit".into(), describe);
    let measured = format!(
        "certified k = {} (exact ±{}), n = {:?}, {} trials; rate constant C = {:.3} in ε ≈ C √(k ln n / n); sampled k = {} (lower bounds, not judged): {}",
        p.certified_k,
        p.tol,
        p.certified_n,
        p.trials,
        fits.iter()
            .find(|f| f.k == p.certified_k)
            .map_or(f64::NAN, |f| f.rate_constant),
        p.sampled_k,
        sampled_fit
    );
    let statistic = format!("certified exponent {certified_fit} (95% t interval, H0: p ≥ 0)");
    Ok(ClaimReport::new(
        spec,
        measured,
        verdict,
        vec![csv, csv_summary, figure.clone()],
        vec![figure],
    )
    .with_statistic(statistic))
}

/// C2's verdict on the certified series' fit (see the module doc).
pub fn judge(fit: Option<&PowerLawFit>) -> Verdict {
    decay_exponent(fit.map(|f| (f.exponent_lo, f.exponent_hi)), (f64::NEG_INFINITY, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::power_law_fit;

    #[test]
    fn the_verdict_follows_the_slope_interval() {
        let ns = [50.0, 100.0, 200.0, 400.0, 800.0];
        let wiggle = |i: usize| 1.0 + 0.05 * (i as f64 * 2.3).sin();
        let fit_of = |p: f64| {
            let eps: Vec<f64> = ns
                .iter()
                .enumerate()
                .map(|(i, n): (usize, &f64)| wiggle(i) * n.powf(p))
                .collect();
            power_law_fit(&ns, &eps)
        };
        // ε ∝ n^−1/2 within 5%: a clear fall.
        assert_eq!(judge(fit_of(-0.5).as_ref()), Verdict::Pass);
        // ε ∝ n^{+0.3}: a clear rise, which a WDC constant must not show.
        assert_eq!(judge(fit_of(0.3).as_ref()), Verdict::Fail);
        // Flat within the noise: the interval contains 0.
        assert_eq!(judge(fit_of(0.0).as_ref()), Verdict::Inconclusive);
        assert_eq!(judge(None), Verdict::Inconclusive);
    }
}
