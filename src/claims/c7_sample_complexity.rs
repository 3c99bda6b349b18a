//! C7: the sample complexity of DPR is linear in the latent dimension k (the paper's headline,
//! `m = O(k d² log n)`, docs/THEORY.md §5). Three success-rate sweeps ([`crate::sweep`]): over k at
//! a fixed network (judged), over the depth d and over the width n (reported with intervals,
//! since the theorem's `d²` and `log n` factors are claims too).
//!
//! Judged on the fit `ln m* = a + b ln k` over the k sweep's interpolated transitions
//! (ordinary least squares, 95% t interval for b): PASS when the interval contains 1 and
//! excludes 2, FAIL when it excludes 1, INCONCLUSIVE when it contains both or there are fewer
//! than three interpolated `m*` (the data cannot separate linear from quadratic).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::error::Result;
use crate::solvers::Method;
use crate::sweep::summary::FitRow;
use crate::sweep::{Completed, SweepConfig};

/// Parameters of C7 (from `verify/C7-sample-complexity.toml`): three sweep grids.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Varies k at a fixed network (the judged fit).
    pub k_sweep: SweepConfig,
    /// Varies the depth d.
    pub d_sweep: SweepConfig,
    /// Varies the width n.
    pub n_sweep: SweepConfig,
}

/// The first DPR fit against `variable` with an exponent.
fn dpr_fit<'a>(done: &'a Completed, variable: &str) -> Option<&'a FitRow> {
    done.analysis
        .fits
        .iter()
        .find(|f| f.variable == variable && f.method == Method::Dpr && f.exponent.is_some())
}

/// `b = … [lo, hi] (n curves, R² …)` or why there is no fit.
fn describe(done: &Completed, variable: &str) -> String {
    let curves = done
        .analysis
        .transitions
        .iter()
        .filter(|t| t.method == Method::Dpr)
        .count();
    let interpolated = done
        .analysis
        .transitions
        .iter()
        .filter(|t| t.method == Method::Dpr && t.m_star.is_some())
        .count();
    match dpr_fit(done, variable) {
        Some(f) => format!(
            "b = {:.3} [{:.3}, {:.3}] (95% t interval, {} of {curves} curves with interpolated m*, R² = {:.3}; theorem {})",
            f.exponent.unwrap_or(f64::NAN),
            f.exponent_lo.unwrap_or(f64::NAN),
            f.exponent_hi.unwrap_or(f64::NAN),
            f.points,
            f.r2.unwrap_or(f64::NAN),
            f.reference_exponent
        ),
        None => format!("no fit ({interpolated} of {curves} curves with interpolated m*; 3 needed)"),
    }
}

/// The verdict on the k fit (see the module doc).
pub fn judge(fit: Option<&FitRow>) -> Verdict {
    let Some((lo, hi)) = fit.and_then(|f| f.exponent_lo.zip(f.exponent_hi)) else {
        return Verdict::Inconclusive;
    };
    let contains = |b: f64| lo <= b && b <= hi;
    match (contains(1.0), contains(2.0)) {
        (true, false) => Verdict::Pass,
        (false, _) => Verdict::Fail,
        (true, true) => Verdict::Inconclusive,
    }
}

/// Runs C7.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    let part = |config: SweepConfig, name: &str| {
        dir.sweep(
            name,
            config,
            &PathBuf::from(format!("verify/{} {name}", dir.name)),
            seed,
        )
    };
    let k = part(p.k_sweep, "k_sweep")?;
    let d = part(p.d_sweep, "d_sweep")?;
    let n = part(p.n_sweep, "n_sweep")?;
    let verdict = judge(dpr_fit(&k, "k"));
    let ks = &k.study.grid.config.k;
    let measured = format!(
        "DPR, {} trials per point, m* = 50% success (isotonic interpolation, estimate); not judged, beside the k fit: ln m* vs ln d: {} — {}; vs ln ln n: {} — {}",
        k.study.grid.config.trials,
        describe(&d, "d"),
        compatibility(dpr_fit(&d, "d"), D_BOUND),
        describe(&n, "log_n"),
        compatibility(dpr_fit(&n, "log_n"), LOG_N_BOUND),
    );
    let statistic = format!(
        "ln m* vs ln k (k = {ks:?}): {} (H0: b = 1 rejected if 1 is outside; b = 2 rejected if 2 is outside)",
        describe(&k, "k")
    );
    let mut files = Vec::new();
    let mut figures = Vec::new();
    for done in [k, d, n] {
        files.extend(done.written.files);
        figures.extend(done.written.figures);
    }
    Ok(ClaimReport::new(spec, measured, verdict, files, figures).with_statistic(statistic))
}

/// The theorem's exponent of d in `m = O(k d² log n)`: an upper bound.
pub const D_BOUND: f64 = 2.0;
/// The theorem's exponent of `log n`: an upper bound.
pub const LOG_N_BOUND: f64 = 1.0;

/// Whether a fitted exponent is compatible with the theorem's upper bound `bound` on it: yes
/// when its 95% interval reaches down to the bound or below (the bound is not rejected), no
/// when the whole interval lies above it. Information beside the verdict, not judged.
pub fn compatibility(fit: Option<&FitRow>, bound: f64) -> String {
    match fit.and_then(|f| f.exponent_lo.zip(f.exponent_hi)) {
        Some((lo, _)) if lo <= bound => format!("compatible with the bound (exponent ≤ {bound})"),
        Some((lo, _)) => format!("NOT compatible with the bound (exponent ≤ {bound}): the interval starts at {lo:.3}"),
        None => "no interval to compare with the bound".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solvers::Selection;

    fn fit(lo: f64, hi: f64) -> FitRow {
        FitRow {
            kind: crate::sweep::summary::ESTIMATE,
            variable: "k",
            method: Method::Dpr,
            snr_db: None,
            restarts: 1,
            selection: Selection::Objective,
            k: None,
            layer_widths: None,
            d: None,
            n: None,
            curves: 4,
            points: 4,
            exponent: Some((lo + hi) / 2.0),
            exponent_lo: Some(lo),
            exponent_hi: Some(hi),
            intercept: Some(1.0),
            fit_constant: Some(1.0f64.exp()),
            r2: Some(0.9),
            reference_exponent: 1.0,
            reference_in_interval: Some(lo <= 1.0 && 1.0 <= hi),
        }
    }

    #[test]
    fn the_verdict_follows_the_interval() {
        assert_eq!(judge(Some(&fit(0.8, 1.3))), Verdict::Pass);
        assert_eq!(judge(Some(&fit(1.2, 1.9))), Verdict::Fail);
        assert_eq!(judge(Some(&fit(1.6, 2.4))), Verdict::Fail);
        assert_eq!(judge(Some(&fit(0.5, 2.5))), Verdict::Inconclusive);
        assert_eq!(judge(None), Verdict::Inconclusive);
    }

    #[test]
    fn an_exponent_is_compatible_with_an_upper_bound_unless_its_interval_lies_above_it() {
        assert!(compatibility(Some(&fit(0.5, 2.5)), D_BOUND).starts_with("compatible"));
        assert!(compatibility(Some(&fit(1.2, 1.9)), D_BOUND).starts_with("compatible"));
        // d⁴ growth with a tight interval would contradict the theorem's d² bound.
        assert!(compatibility(Some(&fit(2.1, 4.0)), D_BOUND).starts_with("NOT"));
        assert!(compatibility(None, LOG_N_BOUND).starts_with("no interval"));
    }
}
