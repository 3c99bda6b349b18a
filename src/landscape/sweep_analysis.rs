//! The analysis of a landscape sweep ([`super::sweep`]): the means per size and the fitted
//! exponent of the empirical radius against the WDC ε lower bound, beside the theorem's 1/4.
//! `dpr-audit landscape sweep` writes these; any caller of the study computes the same.

use serde::Serialize;

use super::sweep::{SweepPlan, SweepRow};
use crate::exec::TrialRows;
use crate::stats::{power_law_fit, spread};

/// The theorem's exponent of the radii in ε (Theorem II.1: radii `∝ ε^{1/4}`).
pub const THEOREM_EXPONENT: f64 = 0.25;

/// One row of `landscape_sweep_sizes.csv`: the means over one size's instances.
#[derive(Clone, Debug, Serialize)]
pub struct SizeRow {
    /// Always `estimate` (means over sampled instances).
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Widths `k-n_1-…-n_d`.
    pub widths: String,
    /// First hidden width `n_1`.
    pub n1: usize,
    /// Measurements.
    pub m: usize,
    /// Instances of this size.
    pub trials: u64,
    /// Ball radius around `x0` (margin × the extent of `S_τ`).
    pub radius_pos: f64,
    /// Ball radius around `−ρ_d x0`.
    pub radius_neg: f64,
    /// Mean empirical radius around `x0` over the instances that define one.
    pub empirical_radius_pos_mean: Option<f64>,
    /// Instances that define it.
    pub empirical_radius_pos_instances: usize,
    /// Mean empirical radius around `−ρ_d x0`.
    pub empirical_radius_neg_mean: Option<f64>,
    /// Instances that define it.
    pub empirical_radius_neg_instances: usize,
    /// Probe points outside the balls where `−v` is not a descent direction, summed.
    pub counterexamples_total: usize,
    /// Mean over instances of the grid mean of `|f − F| / F(0)`.
    pub mean_f_gap: f64,
    /// Its standard error.
    pub mean_f_gap_se: f64,
    /// Census clusters away from `x0`, summed.
    pub census_spurious_clusters_total: usize,
    /// Of those, clusters where the negation check would not help (`f(−x) ≥ f(x)`).
    pub census_negation_fails_total: usize,
    /// Mean WDC ε lower bound over the instances that have one.
    pub wdc_epsilon_lower_bound_mean: Option<f64>,
}

/// One row of `landscape_sweep_fit.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct FitRow {
    /// Always `estimate` (a least-squares fit).
    pub kind: &'static str,
    /// `x0` or `neg_rho_x0`.
    pub centre: &'static str,
    /// Always `wdc_epsilon_lower_bound`.
    pub regressor: &'static str,
    /// Instances fitted.
    pub points: usize,
    /// Fitted `p`.
    pub exponent: f64,
    /// Lower end of the 95% t interval of `p`.
    pub exponent_lo: f64,
    /// Upper end.
    pub exponent_hi: f64,
    /// `c`.
    pub fit_constant: f64,
    /// R² of the log–log regression.
    pub r2: f64,
    /// The theorem's `1/4`.
    pub reference_exponent: f64,
    /// Whether `1/4` lies in the interval.
    pub reference_in_interval: bool,
}

/// The mean over the defined values, and how many there were (an instance without a probe
/// point that defines an empirical radius, or without a WDC bound, is left out, not counted
/// as zero).
fn mean_of(values: impl Iterator<Item = Option<f64>>) -> (Option<f64>, usize) {
    let v: Vec<f64> = values.flatten().collect();
    ((!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64), v.len())
}

/// The means over each size's instances (docs/THEORY.md §15.3 for the standard errors).
pub fn size_rows(plan: &SweepPlan, rows: &TrialRows<SweepRow>) -> Vec<SizeRow> {
    plan.sizes
        .iter()
        .enumerate()
        .map(|(s, (widths, m))| {
            let mine: Vec<&SweepRow> = rows
                .iter()
                .filter(|(id, _)| (*id / plan.trials) as usize == s)
                .map(|(_, r)| r)
                .collect();
            let gaps = spread(&mine.iter().map(|r| r.mean_f_gap).collect::<Vec<_>>());
            let (pos_mean, pos_count) = mean_of(mine.iter().map(|r| r.empirical_radius_pos));
            let (neg_mean, neg_count) = mean_of(mine.iter().map(|r| r.empirical_radius_neg));
            SizeRow {
                kind: "estimate",
                seed: plan.seed,
                widths: crate::report::widths_label(widths),
                n1: widths[1],
                m: *m,
                trials: plan.trials,
                radius_pos: mine[0].radius_pos,
                radius_neg: mine[0].radius_neg,
                empirical_radius_pos_mean: pos_mean,
                empirical_radius_pos_instances: pos_count,
                empirical_radius_neg_mean: neg_mean,
                empirical_radius_neg_instances: neg_count,
                counterexamples_total: mine.iter().map(|r| r.counterexamples).sum(),
                mean_f_gap: gaps.mean,
                mean_f_gap_se: gaps.std / (mine.len() as f64).sqrt(),
                census_spurious_clusters_total: mine.iter().map(|r| r.census_spurious_clusters).sum(),
                census_negation_fails_total: mine.iter().map(|r| r.census_negation_fails).sum(),
                wdc_epsilon_lower_bound_mean: mean_of(mine.iter().map(|r| r.wdc_epsilon_lower_bound)).0,
            }
        })
        .collect()
}

/// The power law `radius ≈ c ε^p` around each centre, fitted across instances by least squares
/// on logs (docs/THEORY.md §15.3), beside the theorem's `p = 1/4` (docs/THEORY.md §5).
pub fn fits(rows: &TrialRows<SweepRow>) -> Vec<FitRow> {
    type Radius = fn(&SweepRow) -> Option<f64>;
    let centres: [(&'static str, Radius); 2] = [
        ("x0", |r| r.empirical_radius_pos),
        ("neg_rho_x0", |r| r.empirical_radius_neg),
    ];
    centres
        .iter()
        .filter_map(|(centre, radius)| {
            let (xs, ys): (Vec<f64>, Vec<f64>) = rows
                .iter()
                .filter_map(|(_, r)| Some((r.wdc_epsilon_lower_bound?, radius(r)?)))
                .unzip();
            power_law_fit(&xs, &ys).map(|f| FitRow {
                kind: "estimate",
                centre,
                regressor: "wdc_epsilon_lower_bound",
                points: f.points,
                exponent: f.exponent,
                exponent_lo: f.exponent_lo,
                exponent_hi: f.exponent_hi,
                fit_constant: f.constant,
                r2: f.r2,
                reference_exponent: THEOREM_EXPONENT,
                reference_in_interval: f.exponent_lo <= THEOREM_EXPONENT && THEOREM_EXPONENT <= f.exponent_hi,
            })
        })
        .collect()
}
