//! WDC scaling studies: ε of single random layers `k → n` against the width `n`, over
//! independent trials, with power-law fits and the rate the proofs suggest,
//! `ε ~ C √(k ln n / n)` (HV's Lemma: the WDC holds once `n ≥ C_ε k log k`, with
//! `C_ε` growing like `ε^{-2} log(1/ε)`). With certified rows (k ≤ 4) the laws
//! `ε ≈ C k^a n^c (ln n)^{1/2}` and `ε ≈ C (k ln n / n)^b` are fitted to the certified upper
//! and lower ends separately (docs/THEORY.md §17.4), so the fitted scaling in k and n is
//! bracketed by two fits of certified numbers rather than resting on lower bounds alone.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};

use super::certify::certify;
use super::certify_boxes::{BoxSearch, Budget, MAX_INPUT, Tolerance, Witness, certify_boxes};
use super::wdc::{Domain, WdcSearch, estimate_layer};
use crate::core::network::{Network, WeightScale};
use crate::error::{Error, Result};
use crate::exec::Study;
use crate::rng::{Stream, stream};
use crate::stats::{LinearFit, PowerLawFit, linear_fit, power_law_fit, spread};

/// The labels a [`ScalingRow`] can carry, for reading rows back from a shard folder.
const LABELS: [&str; 3] = ["lower_bound", "certified_interval", "normalized"];

/// A fixed label of a row (an alias, so that serde does not treat the field as borrowed from
/// the input when deserializing).
type Label = &'static str;

/// Reads one of [`LABELS`] back as the `&'static str` the row holds.
fn known_label<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<&'static str, D::Error> {
    let text = String::deserialize(d)?;
    LABELS
        .iter()
        .find(|&&l| l == text)
        .copied()
        .ok_or_else(|| serde::de::Error::custom(format!("unknown label {text:?} (known: {})", LABELS.join(", "))))
}

/// One (k, n, trial) of a scaling study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScalingRow {
    /// `lower_bound` (sampled search) or `certified_interval` (k ≤ 4 certificate).
    #[serde(deserialize_with = "known_label")]
    pub kind: Label,
    /// Master seed.
    pub seed: u64,
    /// Weight variance convention.
    #[serde(deserialize_with = "known_label")]
    pub weight_scale: Label,
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
    /// The certificate's tolerance on `upper − lower` (empty for a lower bound).
    #[serde(default)]
    pub tol: Option<f64>,
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
    /// Certify the settings with k ≤ 4 instead of only sampling.
    pub certify: bool,
    /// Certificate tolerance for k = 2.
    pub tol: f64,
    /// Certificate tolerance for k = 3, 4 (`None`: 1e-2 for k = 3, 5e-2 for k = 4).
    pub box_tol: Option<f64>,
}

/// Default tolerance of the box certificate for `k` = 3 or 4 inputs (its cost grows like
/// `tol^{−2(k−1)}`).
pub fn default_box_tolerance(k: usize) -> f64 {
    if k == 3 { 1e-2 } else { 5e-2 }
}

/// Default absolute tolerance of a certificate of a layer with `k` inputs: 1e-3 for k = 2
/// (exact sectors are cheap), [`default_box_tolerance`] for k = 3, 4.
pub fn default_tolerance(k: usize) -> f64 {
    if k == 2 { 1e-3 } else { default_box_tolerance(k) }
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
        tol: None,
        rate: suggested_rate(k, n),
    };
    if plan.certify && k == 2 {
        let c = certify(net.layers()[0].weight.as_ref(), plan.tol);
        return ScalingRow {
            kind: "certified_interval",
            epsilon: c.lower,
            epsilon_upper: Some(c.upper),
            tol: Some(plan.tol),
            ..base
        };
    }
    let mut search = plan.search;
    if plan.grow_pairs {
        search.pairs = search.pairs * n / n_min.max(1);
    }
    let e = estimate_layer(&net, 0, &search, seed, &key, trial);
    if plan.certify && k <= MAX_INPUT {
        // The box search starts from the sampled-and-refined estimate (docs/THEORY.md §14).
        let tol = plan.box_tol.unwrap_or(default_box_tolerance(k));
        let boxes = BoxSearch {
            tolerance: Tolerance::Absolute(tol),
            budget: Budget::Unlimited,
        };
        let witness = Witness {
            value: e.lower_bound,
            x: e.argmax_x.clone(),
            y: e.argmax_y.clone(),
            source: "sampled".into(),
        };
        let c = certify_boxes(net.layers()[0].weight.as_ref(), &boxes, Some(witness), &mut |_| {});
        return ScalingRow {
            kind: "certified_interval",
            pairs: search.pairs,
            epsilon: c.lower,
            epsilon_upper: Some(c.upper),
            tol: Some(tol),
            ..base
        };
    }
    ScalingRow {
        pairs: search.pairs,
        epsilon: e.lower_bound,
        ..base
    }
}

/// Runs every (k, n, trial); `tick` is called after each (for a progress bar). The rows are
/// those of [`ScalingStudy`], in trial-id order.
pub fn run_study(
    ks: &[usize],
    ns: &[usize],
    trials: usize,
    plan: &StudyPlan,
    seed: u64,
    tick: &(dyn Fn() + Sync),
) -> Vec<ScalingRow> {
    let study = ScalingStudy::new(ks, ns, trials, plan, seed);
    (0..study.len())
        .into_par_iter()
        .map(|id| {
            let row = study.row(id);
            tick();
            row
        })
        .collect()
}

/// Everything the rows of a WDC scaling study depend on (recorded in shard manifests).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingConfig {
    /// Input widths k.
    pub ks: Vec<usize>,
    /// Output widths n.
    pub ns: Vec<usize>,
    /// Independent networks per (k, n).
    pub trials: usize,
    /// Sampled pairs per layer at the smallest width.
    pub pairs: usize,
    /// Where pairs come from.
    pub domain: Domain,
    /// Worst sampled pairs refined by local search.
    pub refine_starts: usize,
    /// Local-search steps per start.
    pub refine_steps: usize,
    /// Scale the pair budget with `n / n_min`.
    pub grow_pairs: bool,
    /// Certify the settings with k ≤ 4.
    pub certify: bool,
    /// Certificate tolerance (k = 2).
    pub tol: f64,
    /// Certificate tolerance for k = 3, 4 (`None`: the defaults by k).
    #[serde(default)]
    pub box_tol: Option<f64>,
    /// Master seed.
    pub seed: u64,
}

/// A WDC scaling study as a [`Study`]: trial id `((k index) · |ns| + n index) · trials + t`,
/// i.e. the order k, then n, then trial; each trial returns its one [`ScalingRow`].
#[derive(Clone, Debug)]
pub struct ScalingStudy {
    /// The configuration.
    pub config: ScalingConfig,
}

impl ScalingStudy {
    /// The study of every (k, n, trial) searched by `plan` under master seed `seed`.
    pub fn new(ks: &[usize], ns: &[usize], trials: usize, plan: &StudyPlan, seed: u64) -> Self {
        Self {
            config: ScalingConfig {
                ks: ks.to_vec(),
                ns: ns.to_vec(),
                trials,
                pairs: plan.search.pairs,
                domain: plan.search.domain,
                refine_starts: plan.search.refine_starts,
                refine_steps: plan.search.refine_steps,
                grow_pairs: plan.grow_pairs,
                certify: plan.certify,
                tol: plan.tol,
                box_tol: plan.box_tol,
                seed,
            },
        }
    }

    /// The study a shard manifest recorded (`path` names the manifest in errors).
    pub fn from_recorded(config: &serde_json::Value, path: &Path) -> Result<Self> {
        let config = ScalingConfig::deserialize(config).map_err(|e| Error::Trials {
            path: path.to_path_buf(),
            reason: format!("its configuration is not a WDC scaling study of this version ({e})"),
        })?;
        Ok(Self { config })
    }

    /// The search plan.
    pub fn plan(&self) -> StudyPlan {
        let c = &self.config;
        StudyPlan {
            search: WdcSearch {
                pairs: c.pairs,
                domain: c.domain,
                refine_starts: c.refine_starts,
                refine_steps: c.refine_steps,
            },
            grow_pairs: c.grow_pairs,
            certify: c.certify,
            tol: c.tol,
            box_tol: c.box_tol,
        }
    }

    /// `(k, n, trial)` of trial `id`.
    pub fn setting(&self, id: u64) -> (usize, usize, u64) {
        let c = &self.config;
        let trials = c.trials as u64;
        let (setting, t) = (id / trials, id % trials);
        let nn = c.ns.len() as u64;
        (c.ks[(setting / nn) as usize], c.ns[(setting % nn) as usize], t)
    }

    /// The row of trial `id`.
    pub fn row(&self, id: u64) -> ScalingRow {
        let (k, n, t) = self.setting(id);
        let n_min = self.config.ns.iter().copied().min().unwrap_or(1);
        one(k, n, t, &self.plan(), n_min, self.config.seed)
    }
}

impl Study for ScalingStudy {
    type Row = ScalingRow;

    fn kind(&self) -> &'static str {
        "wdc-scaling"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).expect("a WDC scaling configuration is plain data")
    }

    fn len(&self) -> u64 {
        (self.config.ks.len() * self.config.ns.len() * self.config.trials) as u64
    }

    fn describe(&self, id: u64) -> String {
        let (k, n, t) = self.setting(id);
        format!("k = {k}, n = {n}, trial {t}")
    }

    fn run(&self, id: u64) -> Result<Vec<ScalingRow>> {
        Ok(vec![self.row(id)])
    }
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
    /// Mean of the certified upper ends over trials (empty for lower bounds).
    pub epsilon_upper_mean: Option<f64>,
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
            let uppers: Option<Vec<f64>> = sel.iter().map(|r| r.epsilon_upper).collect();
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
                epsilon_upper_mean: uppers.map(|u| spread(&u).mean),
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

/// The values a scaling law is fitted to: the means per setting of one end of ε.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FitSeries {
    /// Certified settings (k ≤ 4), the upper ends: ε lies below them.
    CertifiedUpper,
    /// Certified settings, the lower ends: ε lies above them.
    CertifiedLower,
    /// Sampled settings: lower bounds of unknown gap.
    SampledLowerBound,
}

impl FitSeries {
    /// Every series, in report order.
    pub const ALL: [Self; 3] = [Self::CertifiedUpper, Self::CertifiedLower, Self::SampledLowerBound];

    /// The CSV label.
    pub fn label(self) -> &'static str {
        match self {
            Self::CertifiedUpper => "certified_upper",
            Self::CertifiedLower => "certified_lower",
            Self::SampledLowerBound => "sampled_lower_bound",
        }
    }

    /// The settings in the series, each with the mean ε of this end.
    fn points(self, summary: &[SettingSummary]) -> Vec<(&SettingSummary, f64)> {
        summary
            .iter()
            .filter_map(|s| match (self, s.kind) {
                (Self::CertifiedUpper, "certified_interval") => s.epsilon_upper_mean.map(|u| (s, u)),
                (Self::CertifiedLower, "certified_interval") | (Self::SampledLowerBound, "lower_bound") => {
                    Some((s, s.epsilon_mean))
                }
                _ => None,
            })
            .collect()
    }
}

/// A scaling law fitted on the log scale (docs/THEORY.md §17.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Law {
    /// `ε ≈ C k^a n^c (ln n)^{1/2}`: `ln ε − ½ ln ln n = ln C + a ln k + c ln n`.
    PowerKn,
    /// `ε ≈ C (k ln n / n)^b`: `ln ε = ln C + b ln(k ln n / n)`; the suggested rate is `b = ½`.
    Rate,
}

impl Law {
    /// Both laws, in report order.
    pub const ALL: [Self; 2] = [Self::PowerKn, Self::Rate];

    /// The law as written in the reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::PowerKn => "C k^a n^c (ln n)^(1/2)",
            Self::Rate => "C (k ln n / n)^b",
        }
    }

    /// Names of the fitted parameters, in the order of the design's columns.
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            Self::PowerKn => &["C", "a", "c"],
            Self::Rate => &["C", "b"],
        }
    }

    /// The design row and the response of one setting (docs/THEORY.md §17.4).
    fn row(self, k: usize, n: usize, epsilon: f64) -> (Vec<f64>, f64) {
        let (k, n) = (k as f64, n as f64);
        match self {
            Self::PowerKn => (vec![1.0, k.ln(), n.ln()], epsilon.ln() - 0.5 * n.ln().ln()),
            Self::Rate => (vec![1.0, (k * n.ln() / n).ln()], epsilon.ln()),
        }
    }

    /// The law's prediction at `(k, n)` from coefficients `beta` (log scale, as fitted).
    pub fn predict(self, beta: &[f64], k: usize, n: usize) -> f64 {
        let (x, _) = self.row(k, n, 1.0);
        let offset = match self {
            Self::PowerKn => 0.5 * (n as f64).ln().ln(),
            Self::Rate => 0.0,
        };
        (x.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>() + offset).exp()
    }
}

/// One law fitted to one series.
#[derive(Clone, Debug, Serialize)]
pub struct LawFit {
    /// The values fitted.
    pub series: FitSeries,
    /// The law.
    pub law: Law,
    /// The least-squares fit on the log scale (coefficient 0 is `ln C`).
    pub fit: LinearFit,
    /// Trials behind the fitted means, all settings together.
    pub trials: usize,
}

/// Fits every law to every series that supports it: a law needs more settings than
/// parameters, and the k–n law needs at least two values of k and two of n (docs/THEORY.md
/// §17.4). Fitted to the means per setting.
pub fn fit_laws(summary: &[SettingSummary]) -> Vec<LawFit> {
    FitSeries::ALL
        .iter()
        .flat_map(|&series| {
            let points = series.points(summary);
            Law::ALL.iter().filter_map(move |&law| {
                let (design, ys): (Vec<Vec<f64>>, Vec<f64>) = points.iter().map(|&(s, e)| law.row(s.k, s.n, e)).unzip();
                let trials = points.iter().map(|(s, _)| s.trials).sum();
                linear_fit(&design, &ys).map(|fit| LawFit {
                    series,
                    law,
                    fit,
                    trials,
                })
            })
        })
        .collect()
}

/// One fitted parameter (a row of `wdc_scaling_fits.csv`).
#[derive(Clone, Debug, Serialize)]
pub struct LawFitRow {
    /// Master seed of the study.
    pub seed: u64,
    /// Trials behind the fitted means, all settings together.
    pub trials: usize,
    /// `certified_upper`, `certified_lower` or `sampled_lower_bound`.
    pub series: &'static str,
    /// The law.
    pub law: &'static str,
    /// `C`, `a`, `c` or `b`.
    pub parameter: &'static str,
    /// Least-squares estimate (`C` on its own scale, exponents as fitted).
    pub estimate: f64,
    /// Lower end of its 95% t interval.
    pub ci95_lo: f64,
    /// Upper end of its 95% t interval.
    pub ci95_hi: f64,
    /// Settings fitted.
    pub settings: usize,
    /// R² on the log scale.
    pub r2: f64,
}

impl LawFit {
    /// The 95% interval of the parameter named `name` (`C` back on its own scale).
    pub fn interval(&self, name: &str, alpha: f64) -> Option<(f64, f64)> {
        let j = self.law.parameters().iter().position(|&p| p == name)?;
        let (lo, hi) = self.fit.interval(j, alpha);
        Some(if j == 0 { (lo.exp(), hi.exp()) } else { (lo, hi) })
    }

    /// The rows of `wdc_scaling_fits.csv` for this fit.
    pub fn rows(&self, seed: u64) -> Vec<LawFitRow> {
        self.law
            .parameters()
            .iter()
            .enumerate()
            .map(|(j, &parameter)| {
                let beta = self.fit.coefficients[j];
                let (lo, hi) = self.interval(parameter, 0.05).unwrap_or((f64::NAN, f64::NAN));
                LawFitRow {
                    seed,
                    trials: self.trials,
                    series: self.series.label(),
                    law: self.law.label(),
                    parameter,
                    estimate: if j == 0 { beta.exp() } else { beta },
                    ci95_lo: lo,
                    ci95_hi: hi,
                    settings: self.fit.points,
                    r2: self.fit.r2,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings whose certified ends follow `1.1 k^{1/2} n^{−1/2} (ln n)^{1/2}` (upper, times
    /// 1.05) and the same law times 0.95 (lower), with a 2% wiggle so the intervals have width.
    fn certified(ks: &[usize], ns: &[usize]) -> Vec<SettingSummary> {
        let mut out = Vec::new();
        for (i, &k) in ks.iter().enumerate() {
            for (j, &n) in ns.iter().enumerate() {
                let law = 1.1 * suggested_rate(k, n) * (1.0 + 0.02 * ((3 * i + 7 * j) as f64).sin());
                out.push(SettingSummary {
                    kind: "certified_interval",
                    k,
                    n,
                    trials: 2,
                    epsilon_mean: 0.95 * law,
                    epsilon_std: 0.0,
                    epsilon_min: 0.95 * law,
                    epsilon_max: 0.95 * law,
                    epsilon_upper_mean: Some(1.05 * law),
                    rate: suggested_rate(k, n),
                    constant_vs_rate: 0.95 * law / suggested_rate(k, n),
                });
            }
        }
        out
    }

    #[test]
    fn both_laws_recover_the_rate_from_both_certified_ends() {
        let fits = fit_laws(&certified(&[2, 3, 4], &[50, 100, 200, 400]));
        // Two series × two laws; no sampled series.
        assert_eq!(fits.len(), 4);
        for f in &fits {
            assert_ne!(f.series, FitSeries::SampledLowerBound);
            let scale = if f.series == FitSeries::CertifiedUpper {
                1.05
            } else {
                0.95
            };
            let (c_lo, c_hi) = f.interval("C", 0.05).unwrap();
            assert!(c_lo < 1.1 * scale && 1.1 * scale < c_hi, "{f:?}");
            for (name, want) in [("a", 0.5), ("c", -0.5), ("b", 0.5)] {
                if let Some((lo, hi)) = f.interval(name, 0.05) {
                    assert!(lo < want && want < hi && hi - lo < 0.2, "{name}: [{lo}, {hi}] in {f:?}");
                }
            }
            // The fitted law reproduces the data within the wiggle.
            let beta = &f.fit.coefficients;
            let fitted = f.law.predict(beta, 3, 200);
            assert!((fitted / (1.1 * scale * suggested_rate(3, 200)) - 1.0).abs() < 0.05);
        }
        let rows: Vec<LawFitRow> = fits.iter().flat_map(|f| f.rows(7)).collect();
        assert_eq!(rows.len(), 2 * (3 + 2));
        assert!(rows.iter().all(|r| r.seed == 7 && r.settings == 12 && r.trials == 24));
    }

    #[test]
    fn the_kn_law_needs_two_values_of_k() {
        let fits = fit_laws(&certified(&[3], &[50, 100, 200, 400]));
        assert!(fits.iter().all(|f| f.law == Law::Rate));
        assert_eq!(fits.len(), 2);
    }
}
