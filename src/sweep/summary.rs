//! From trial rows to what a sweep reports: success rates per setting with Wilson 95%
//! intervals ([`crate::stats::wilson_interval`]), the transition `m*` per success curve
//! ([`super::transition`]), and power-law fits of `m*` against k, d and ln n.
//!
//! The fits are ordinary least squares of `ln m* = a + b ln x` over the curves whose `m*` was
//! interpolated (censored curves are left out and counted), with a t interval for `b`
//! ([`crate::stats::power_law_fit`]). The theorem's sufficient condition
//! `m ≥ C k d² log n` (docs/THEORY.md §5) is the reference: exponent 1 in k, 2 in d, 1 in ln n;
//! being a sufficient condition, it bounds the observed exponents from above rather than
//! predicting them.

use serde::Serialize;

use super::transition::{CurvePoint, transition};
use super::trial::SweepRow;
use crate::core::measure::MeasurementScale;
use crate::core::network::WeightScale;
use crate::exec::TrialRows;
use crate::solvers::{Method, Selection};
use crate::stats::{PowerLawFit, power_law_fit, wilson_interval};

/// What kind of number the sweep's summaries hold (STYLE.md: every Monte Carlo output says
/// so in a column): success rates, `m*` and fitted slopes are estimates from finite trials.
pub const ESTIMATE: &str = "estimate";

/// One row of `success.csv`: one setting over its trials.
#[derive(Clone, Debug, Serialize)]
pub struct SuccessRow {
    /// [`ESTIMATE`]: the success rate is estimated from the trials (Wilson 95% interval).
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Latent dimension.
    pub k: usize,
    /// Widths `k-n_1-…-n_d`.
    pub widths: String,
    /// Depth.
    pub d: usize,
    /// Output width.
    pub n: usize,
    /// Weight variance convention.
    pub weight_scale: WeightScale,
    /// Measurements.
    pub m: usize,
    /// `m / n`.
    pub m_over_n: f64,
    /// Variance convention of `A`.
    pub measurement_scale: MeasurementScale,
    /// SNR in dB (empty: noiseless).
    pub snr_db: Option<f64>,
    /// Solver.
    pub method: Method,
    /// Restarts.
    pub restarts: usize,
    /// Selection among restarts.
    pub selection: Selection,
    /// Success threshold.
    pub success_tol: f64,
    /// Trials.
    pub trials: usize,
    /// Successful trials.
    pub successes: usize,
    /// `successes / trials` (estimate).
    pub success_rate: f64,
    /// Lower end of the Wilson 95% interval.
    pub wilson_lo: f64,
    /// Upper end of the Wilson 95% interval.
    pub wilson_hi: f64,
    /// Median relative error over the trials.
    pub median_relative_error: f64,
    /// Mean iterations of the selected runs.
    pub mean_iterations: f64,
    /// Mean value-and-direction evaluations per trial (all runs).
    pub mean_gradient_evaluations: f64,
}

/// One row of `transitions.csv`: the 50% point of one success curve (all but m fixed).
#[derive(Clone, Debug, Serialize)]
pub struct TransitionRow {
    /// [`ESTIMATE`]: `m*` is estimated from the success curve.
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Latent dimension.
    pub k: usize,
    /// Widths.
    pub widths: String,
    /// Depth.
    pub d: usize,
    /// Output width.
    pub n: usize,
    /// Weight variance convention.
    pub weight_scale: WeightScale,
    /// Variance convention of `A`.
    pub measurement_scale: MeasurementScale,
    /// SNR in dB.
    pub snr_db: Option<f64>,
    /// Solver.
    pub method: Method,
    /// Restarts.
    pub restarts: usize,
    /// Selection among restarts.
    pub selection: Selection,
    /// Success threshold.
    pub success_tol: f64,
    /// Trials per grid point.
    pub trials: usize,
    /// Grid points on the curve.
    pub m_values: usize,
    /// Smallest m of the curve.
    pub m_min: usize,
    /// Largest m of the curve.
    pub m_max: usize,
    /// `m*` (estimate; empty when censored).
    pub m_star: Option<f64>,
    /// Largest grid m significantly below 50% success.
    pub m_star_lo: Option<f64>,
    /// Smallest grid m significantly above 50% success.
    pub m_star_hi: Option<f64>,
    /// `interpolated`, `below_grid` or `above_grid`.
    pub m_star_kind: &'static str,
    /// `m* / k`.
    pub m_star_over_k: Option<f64>,
    /// `m* / n`.
    pub m_star_over_n: Option<f64>,
}

/// One row of `fits.csv`: `ln m* = a + b ln x` over the curves that differ only in `x`.
#[derive(Clone, Debug, Serialize)]
pub struct FitRow {
    /// [`ESTIMATE`]: a least-squares fit to estimated `m*` (95% t interval).
    pub kind: &'static str,
    /// `k`, `d` or `log_n` (then x = ln n).
    pub variable: &'static str,
    /// Solver.
    pub method: Method,
    /// SNR in dB.
    pub snr_db: Option<f64>,
    /// Restarts.
    pub restarts: usize,
    /// Selection among restarts.
    pub selection: Selection,
    /// Latent dimension held fixed (empty when it varies).
    pub k: Option<usize>,
    /// Widths after the latent layer held fixed (only when k varies).
    pub layer_widths: Option<String>,
    /// Depth held fixed (empty when it varies).
    pub d: Option<usize>,
    /// Output width held fixed (empty when it varies).
    pub n: Option<usize>,
    /// Curves in the group.
    pub curves: usize,
    /// Curves with an interpolated `m*` (the points of the fit).
    pub points: usize,
    /// Fitted exponent `b` (empty with fewer than 3 points).
    pub exponent: Option<f64>,
    /// Lower end of its 95% t interval.
    pub exponent_lo: Option<f64>,
    /// Upper end.
    pub exponent_hi: Option<f64>,
    /// Intercept `a` of the log–log line.
    pub intercept: Option<f64>,
    /// `e^a`.
    pub fit_constant: Option<f64>,
    /// R² of the log–log regression.
    pub r2: Option<f64>,
    /// The theorem's exponent (`m ≥ C k d² log n`): 1 for k, 2 for d, 1 for ln n.
    pub reference_exponent: f64,
    /// Whether the reference lies in the interval.
    pub reference_in_interval: Option<bool>,
}

/// Everything a sweep reports.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Per setting.
    pub success: Vec<SuccessRow>,
    /// Per curve.
    pub transitions: Vec<TransitionRow>,
    /// Per fit group.
    pub fits: Vec<FitRow>,
}

impl Analysis {
    /// The rows of one selection rule.
    pub fn only(&self, selection: Selection) -> Analysis {
        Analysis {
            success: self
                .success
                .iter()
                .filter(|r| r.selection == selection)
                .cloned()
                .collect(),
            transitions: self
                .transitions
                .iter()
                .filter(|r| r.selection == selection)
                .cloned()
                .collect(),
            fits: self.fits.iter().filter(|r| r.selection == selection).cloned().collect(),
        }
    }
}

/// Groups `items` by `key` in order of first appearance.
fn groups<T, K: PartialEq>(items: impl IntoIterator<Item = T>, key: impl Fn(&T) -> K) -> Vec<Vec<T>> {
    let mut out: Vec<(K, Vec<T>)> = Vec::new();
    for item in items {
        let k = key(&item);
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push(item),
            None => out.push((k, vec![item])),
        }
    }
    out.into_iter().map(|(_, members)| members).collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Success per setting and selection rule: rows grouped by their setting (`trials`
/// consecutive ids each) and rule.
pub fn success_rows(rows: &TrialRows<SweepRow>, trials: u64) -> Vec<SuccessRow> {
    groups(rows.iter(), |(id, r)| (id / trials, r.selection))
        .into_iter()
        .map(|group| {
            let first = &group[0].1;
            let count = group.len();
            let successes = group.iter().filter(|(_, r)| r.success).count();
            let (wilson_lo, wilson_hi) = wilson_interval(successes as u64, count as u64);
            let mean = |f: &dyn Fn(&SweepRow) -> f64| group.iter().map(|(_, r)| f(r)).sum::<f64>() / count as f64;
            SuccessRow {
                kind: ESTIMATE,
                seed: first.seed,
                k: first.k,
                widths: first.widths.clone(),
                d: first.d,
                n: first.n,
                weight_scale: first.weight_scale,
                m: first.m,
                m_over_n: first.m_over_n,
                measurement_scale: first.measurement_scale,
                snr_db: first.snr_db,
                method: first.method,
                restarts: first.restarts,
                selection: first.selection,
                success_tol: first.success_tol,
                trials: count,
                successes,
                success_rate: successes as f64 / count as f64,
                wilson_lo,
                wilson_hi,
                median_relative_error: median(group.iter().map(|(_, r)| r.relative_error).collect()),
                mean_iterations: mean(&|r| r.iterations as f64),
                mean_gradient_evaluations: mean(&|r| r.gradient_evaluations as f64),
            }
        })
        .collect()
}

/// The key of a success curve: every parameter but m.
fn curve_key(s: &SuccessRow) -> (usize, String, Option<u64>, usize, Method, Selection) {
    (
        s.k,
        s.widths.clone(),
        s.snr_db.map(f64::to_bits),
        s.restarts,
        s.method,
        s.selection,
    )
}

/// The transition of each success curve.
pub fn transition_rows(success: &[SuccessRow]) -> Vec<TransitionRow> {
    groups(success.iter(), |s| curve_key(s))
        .into_iter()
        .map(|mut curve| {
            curve.sort_by_key(|s| s.m);
            let points: Vec<CurvePoint> = curve
                .iter()
                .map(|s| CurvePoint {
                    m: s.m as f64,
                    successes: s.successes as u64,
                    trials: s.trials as u64,
                })
                .collect();
            let t = transition(&points);
            let s = curve[0];
            TransitionRow {
                kind: ESTIMATE,
                seed: s.seed,
                k: s.k,
                widths: s.widths.clone(),
                d: s.d,
                n: s.n,
                weight_scale: s.weight_scale,
                measurement_scale: s.measurement_scale,
                snr_db: s.snr_db,
                method: s.method,
                restarts: s.restarts,
                selection: s.selection,
                success_tol: s.success_tol,
                trials: s.trials,
                m_values: curve.len(),
                m_min: curve[0].m,
                m_max: curve[curve.len() - 1].m,
                m_star: t.m_star,
                m_star_lo: t.lo,
                m_star_hi: t.hi,
                m_star_kind: t.kind.name(),
                m_star_over_k: t.m_star.map(|m| m / s.k as f64),
                m_star_over_n: t.m_star.map(|m| m / s.n as f64),
            }
        })
        .collect()
}

/// The widths after the latent layer, from a `k-n_1-…-n_d` label.
pub fn layers_label(widths: &str) -> &str {
    widths.split_once('-').map_or(widths, |(_, rest)| rest)
}

/// The parameters a fit holds fixed: k, the widths after the latent layer, d, n (each `None`
/// where it varies or is implied).
type Fixed = (Option<usize>, Option<String>, Option<usize>, Option<usize>);

/// One of the three fits: which variable, its value, the reference exponent, and the key of
/// the parameters held fixed.
struct FitAxis {
    variable: &'static str,
    x: fn(&TransitionRow) -> f64,
    reference: f64,
    fixed: fn(&TransitionRow) -> Fixed,
}

const FIT_AXES: [FitAxis; 3] = [
    FitAxis {
        variable: "k",
        x: |t| t.k as f64,
        reference: 1.0,
        fixed: |t| (None, Some(layers_label(&t.widths).to_string()), Some(t.d), Some(t.n)),
    },
    FitAxis {
        variable: "d",
        x: |t| t.d as f64,
        reference: 2.0,
        fixed: |t| (Some(t.k), None, None, Some(t.n)),
    },
    FitAxis {
        variable: "log_n",
        x: |t| (t.n as f64).ln(),
        reference: 1.0,
        fixed: |t| (Some(t.k), None, Some(t.d), None),
    },
];

fn fit_row(axis: &FitAxis, group: &[&TransitionRow]) -> FitRow {
    let t = group[0];
    let (k, layer_widths, d, n) = (axis.fixed)(t);
    let used: Vec<&&TransitionRow> = group.iter().filter(|g| g.m_star.is_some()).collect();
    let xs: Vec<f64> = used.iter().map(|g| (axis.x)(g)).collect();
    let ys: Vec<f64> = used.iter().filter_map(|g| g.m_star).collect();
    let fit: Option<PowerLawFit> = power_law_fit(&xs, &ys);
    FitRow {
        kind: ESTIMATE,
        variable: axis.variable,
        method: t.method,
        snr_db: t.snr_db,
        restarts: t.restarts,
        selection: t.selection,
        k,
        layer_widths,
        d,
        n,
        curves: group.len(),
        points: used.len(),
        exponent: fit.map(|f| f.exponent),
        exponent_lo: fit.map(|f| f.exponent_lo),
        exponent_hi: fit.map(|f| f.exponent_hi),
        intercept: fit.map(|f| f.constant.ln()),
        fit_constant: fit.map(|f| f.constant),
        r2: fit.map(|f| f.r2),
        reference_exponent: axis.reference,
        reference_in_interval: fit.map(|f| f.exponent_lo <= axis.reference && axis.reference <= f.exponent_hi),
    }
}

/// Fits of `m*` against k, d and ln n, for every group of curves that differ only in that
/// variable and take at least two values of it.
pub fn fit_rows(transitions: &[TransitionRow]) -> Vec<FitRow> {
    let mut out = Vec::new();
    for axis in &FIT_AXES {
        let grouped = groups(transitions.iter(), |t| {
            (
                t.method,
                t.snr_db.map(f64::to_bits),
                t.restarts,
                t.selection,
                (axis.fixed)(t),
            )
        });
        for group in grouped {
            let mut xs: Vec<u64> = group.iter().map(|t| (axis.x)(t).to_bits()).collect();
            xs.sort_unstable();
            xs.dedup();
            if xs.len() >= 2 {
                out.push(fit_row(axis, &group));
            }
        }
    }
    out
}

/// Success rates, transitions and fits of a sweep's rows (sorted by trial id).
pub fn analyse(rows: &TrialRows<SweepRow>, trials: u64) -> Analysis {
    let success = success_rows(rows, trials);
    let transitions = transition_rows(&success);
    let fits = fit_rows(&transitions);
    Analysis {
        success,
        transitions,
        fits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tolerance for exact power laws recovered by least squares on logs.
    const EPS: f64 = 1e-10;

    fn row(k: usize, m: usize, trial: u64, success: bool) -> SweepRow {
        SweepRow {
            seed: 1,
            k,
            widths: format!("{k}-50-100"),
            d: 2,
            n: 100,
            weight_scale: WeightScale::Normalized,
            m,
            m_over_n: m as f64 / 100.0,
            measurement_scale: MeasurementScale::Normalized,
            snr_db: None,
            method: Method::Dpr,
            restarts: 1,
            selection: Selection::Objective,
            step: 2.0,
            lr: 0.01,
            trial,
            relative_error: if success { 1e-9 } else { 1.0 },
            success_tol: 1e-4,
            success,
            value: 0.0,
            iterations: 10,
            negations: 0,
            termination: "gradient_tolerance".into(),
            gradient_evaluations: 11,
            value_evaluations: 10,
        }
    }

    /// Success exactly when m ≥ 4k, on a doubling m grid: m* = √(2k · 4k) ∝ k, bracketed by
    /// 2k (0/10, Wilson upper end 0.28) and 4k (10/10, lower end 0.72).
    #[test]
    fn a_linear_threshold_gives_exponent_one() {
        let (ms, trials) = ([2, 4, 8, 16, 32, 64, 128], 10u64);
        let mut rows = Vec::new();
        for k in [2usize, 4, 8] {
            for &m in &ms {
                for t in 0..trials {
                    rows.push((rows.len() as u64, row(k, m, t, m >= 4 * k)));
                }
            }
        }
        let a = analyse(&rows, trials);
        assert_eq!(a.success.len(), 21);
        assert_eq!((a.success[3].successes, a.success[3].trials), (10, 10));
        assert_eq!(a.transitions.len(), 3);
        for t in &a.transitions {
            let expected = ((2 * t.k) as f64 * (4 * t.k) as f64).sqrt();
            assert!((t.m_star.unwrap() - expected).abs() < EPS, "{t:?}");
            assert_eq!(
                (t.m_star_lo, t.m_star_hi),
                (Some(2.0 * t.k as f64), Some(4.0 * t.k as f64))
            );
        }
        assert_eq!(a.fits.len(), 1, "only k varies");
        let f = &a.fits[0];
        assert_eq!(
            (f.variable, f.points, f.layer_widths.as_deref()),
            ("k", 3, Some("50-100"))
        );
        assert!((f.exponent.unwrap() - 1.0).abs() < EPS && (f.r2.unwrap() - 1.0).abs() < EPS);
        // Exact data: a zero-width interval (so `reference_in_interval` is down to rounding).
        assert!(f.exponent_hi.unwrap() - f.exponent_lo.unwrap() < EPS);
    }
}
