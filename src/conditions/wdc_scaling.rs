//! WDC scaling studies: ε of single random layers `k → n` against the width `n`, over
//! independent trials, with power-law fits and the rate the proofs suggest,
//! `ε ~ C √(k ln n / n)` (HV's Lemma: the WDC holds once `n ≥ C_ε k log k`, with
//! `C_ε` growing like `ε^{-2} log(1/ε)`).

use rayon::prelude::*;

use super::certify::certify;
use super::wdc::{WdcSearch, estimate_layer};
use crate::core::network::{Network, WeightScale};
use crate::rng::{Stream, stream};
use crate::stats::{PowerLawFit, power_law_fit, spread};

/// One (k, n, trial) of a scaling study.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScalingRow {
    /// `lower_bound` (sampled search) or `certified_interval` (k = 2 certificate).
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Weight variance convention.
    pub weight_scale: &'static str,
    /// Input width k.
    pub k: usize,
    /// Output width n.
    pub n: usize,
    /// Trial index (an independent network).
    pub trial: u64,
    /// Pairs sampled (0 for a certificate).
    pub pairs: usize,
    /// ε: the sampled-and-refined lower bound, or the certificate's lower end.
    pub epsilon: f64,
    /// The certificate's upper end (empty for a lower bound).
    pub epsilon_upper: Option<f64>,
    /// `√(k ln n / n)`, the rate the proofs suggest.
    pub rate: f64,
}

/// How to search each setting.
#[derive(Clone, Copy, Debug)]
pub struct StudyPlan {
    /// The search at the smallest width; see `grow_pairs`.
    pub search: WdcSearch,
    /// Scale the pair budget linearly with `n / n_min` (a fixed budget finds less as the
    /// sectors multiply).
    pub grow_pairs: bool,
    /// Certify the k = 2 settings instead of sampling.
    pub certify: bool,
    /// Certificate tolerance.
    pub tol: f64,
}

/// `√(k ln n / n)`.
pub fn suggested_rate(k: usize, n: usize) -> f64 {
    (k as f64 * (n as f64).ln() / n as f64).sqrt()
}

/// One setting's ε.
fn one(k: usize, n: usize, trial: u64, plan: &StudyPlan, n_min: usize, seed: u64) -> ScalingRow {
    let key = format!("wdc-scaling/k{k}/n{n}");
    let net = Network::gaussian(
        &[k, n],
        WeightScale::Normalized,
        &mut stream(seed, &key, trial, Stream::Network),
    );
    let base = ScalingRow {
        kind: "lower_bound",
        seed,
        weight_scale: "normalized",
        k,
        n,
        trial,
        pairs: 0,
        epsilon: f64::NAN,
        epsilon_upper: None,
        rate: suggested_rate(k, n),
    };
    if plan.certify && k == 2 {
        let c = certify(net.layers()[0].weight.as_ref(), plan.tol);
        return ScalingRow {
            kind: "certified_interval",
            epsilon: c.lower,
            epsilon_upper: Some(c.upper),
            ..base
        };
    }
    let mut search = plan.search;
    if plan.grow_pairs {
        search.pairs = search.pairs * n / n_min.max(1);
    }
    let e = estimate_layer(&net, 0, &search, seed, &key, trial);
    ScalingRow {
        pairs: search.pairs,
        epsilon: e.lower_bound,
        ..base
    }
}

/// Runs every (k, n, trial); `tick` is called after each (for a progress bar).
pub fn run_study(
    ks: &[usize],
    ns: &[usize],
    trials: usize,
    plan: &StudyPlan,
    seed: u64,
    tick: &(dyn Fn() + Sync),
) -> Vec<ScalingRow> {
    let n_min = ns.iter().copied().min().unwrap_or(1);
    let tasks: Vec<(usize, usize, u64)> = ks
        .iter()
        .flat_map(|&k| ns.iter().flat_map(move |&n| (0..trials as u64).map(move |t| (k, n, t))))
        .collect();
    tasks
        .into_par_iter()
        .map(|(k, n, t)| {
            let row = one(k, n, t, plan, n_min, seed);
            tick();
            row
        })
        .collect()
}

/// Per (k, n): the spread of ε over trials.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SettingSummary {
    /// Kind of the underlying values.
    pub kind: &'static str,
    /// Input width.
    pub k: usize,
    /// Output width.
    pub n: usize,
    /// Trials.
    pub trials: usize,
    /// Mean ε over trials.
    pub epsilon_mean: f64,
    /// Sample standard deviation of ε over trials.
    pub epsilon_std: f64,
    /// Smallest ε.
    pub epsilon_min: f64,
    /// Largest ε.
    pub epsilon_max: f64,
    /// `√(k ln n / n)`.
    pub rate: f64,
    /// Mean ε divided by the rate: the constant C of `ε ≈ C √(k ln n / n)`.
    pub constant_vs_rate: f64,
}

/// Summaries per setting, in the order of `rows`' first appearance.
pub fn summarize(rows: &[ScalingRow]) -> Vec<SettingSummary> {
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for r in rows {
        if !keys.contains(&(r.k, r.n)) {
            keys.push((r.k, r.n));
        }
    }
    keys.into_iter()
        .map(|(k, n)| {
            let sel: Vec<&ScalingRow> = rows.iter().filter(|r| r.k == k && r.n == n).collect();
            let eps: Vec<f64> = sel.iter().map(|r| r.epsilon).collect();
            let s = spread(&eps);
            let rate = suggested_rate(k, n);
            SettingSummary {
                kind: sel[0].kind,
                k,
                n,
                trials: sel.len(),
                epsilon_mean: s.mean,
                epsilon_std: s.std,
                epsilon_min: s.min,
                epsilon_max: s.max,
                rate,
                constant_vs_rate: s.mean / rate,
            }
        })
        .collect()
}

/// The fit of mean ε against n for one k.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WidthFit {
    /// Input width.
    pub k: usize,
    /// The fit `ε ≈ c n^p` (None with fewer than 3 widths).
    pub fit: Option<PowerLawFit>,
    /// `C` of `ε ≈ C √(k ln n / n)`, least squares over the widths.
    pub rate_constant: f64,
}

/// Fits per k.
pub fn fit_widths(summary: &[SettingSummary]) -> Vec<WidthFit> {
    let mut ks: Vec<usize> = summary.iter().map(|s| s.k).collect();
    ks.dedup();
    ks.into_iter()
        .map(|k| {
            let sel: Vec<&SettingSummary> = summary.iter().filter(|s| s.k == k).collect();
            let ns: Vec<f64> = sel.iter().map(|s| s.n as f64).collect();
            let eps: Vec<f64> = sel.iter().map(|s| s.epsilon_mean).collect();
            let (num, den) = sel.iter().fold((0.0, 0.0), |(a, b), s| {
                (a + s.epsilon_mean * s.rate, b + s.rate * s.rate)
            });
            WidthFit {
                k,
                fit: power_law_fit(&ns, &eps),
                rate_constant: num / den,
            }
        })
        .collect()
}
