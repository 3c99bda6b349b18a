//! The RRCP scaling study: sampled lower bounds on the RRCP constant ε (docs/THEORY.md §2) of a
//! network and a Gaussian `A` with `m` rows, over a grid of `m` and independent trials, and its
//! analysis, the power law `ε ≈ c m^p` fitted to every trial row (docs/THEORY.md §15.3).
//! `dpr-audit rrcp` and the claim C3 both run this study and this fit.
//!
//! Random objects: for `(m, trial)`, a random network from `(seed, "rrcp/m=<m>", trial)`'s
//! network stream (a file is the same in every trial), `A` from its measurement stream, and
//! the search of each mode from streams keyed by `"rrcp/m=<m>/<mode>"` (see [`super::rrcp`]).
//! Every `(m, trial)` is a fresh, independent draw, so the trial rows are independent
//! observations and the least-squares interval over them is valid.
//!
//! The RRCP is stated for `A` with `N(0, 1/m)` entries. With a `unit` measurement scale
//! (`N(0, 1)`, the paper's MNIST experiment) `E[A_zᵀA_w] = m Φ`, so `A/√m` is tested; the
//! recorded scale says which `A` was drawn.
//!
//! ```
//! use dpr_audit::conditions::rrcp_study::{RrcpConfig, RrcpMode, analyse, run_study};
//! use dpr_audit::core::measure::MeasurementScale;
//! use dpr_audit::core::network::WeightScale;
//!
//! let config = RrcpConfig {
//!     widths: Some(vec![2, 8, 20]),
//!     weights: None,
//!     weight_scale: WeightScale::Normalized,
//!     m: vec![10, 20, 40],
//!     measurement_scale: MeasurementScale::Normalized,
//!     mode: RrcpMode::Random,
//!     tuples: 10,
//!     refine_starts: 1,
//!     refine_steps: 2,
//!     constant: 31.0,
//!     trials: 1,
//!     seed: 1,
//! };
//! let rows = run_study(&config).unwrap();
//! assert!(rows.iter().all(|r| r.kind == "lower_bound" && r.epsilon > 0.0));
//! let analysis = analyse(&config, &rows, 0.05);
//! let fit = &analysis.fits[0];
//! assert!(fit.exponent_lo <= fit.exponent && fit.exponent <= fit.exponent_hi);
//! ```

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::rrcp::{SearchMode, SearchOutcome, SearchSettings, StreamKey, TracePoint, search, sign_angle};
use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::{Network, WeightScale, validate_widths};
use crate::core::source::{NetworkOrigin, NetworkSpec};
use crate::error::{Error, Result};
use crate::exec::Study;
use crate::exec::store::ROWS_FILE;
use crate::report::{cell_list, widths_label};
use crate::rng::{Stream, stream};
use crate::stats::{PowerLawFit, power_law_fit, spread};

/// The exponent of ε in m that the proofs suggest (`ε ~ m^{−1/2}` up to logs).
pub const REFERENCE_EXPONENT: f64 = -0.5;

/// RRCP search modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum RrcpMode {
    /// Random latent tuples (x, y, x1, x2, x3, x4).
    Random,
    /// Spectral norm over the linear pieces through G(x1) and G(x3) (docs/THEORY.md §2).
    Subspace,
    /// Both.
    Both,
}

impl RrcpMode {
    /// The search modes it runs, in order.
    pub fn searches(self) -> Vec<SearchMode> {
        match self {
            Self::Random => vec![SearchMode::Random],
            Self::Subspace => vec![SearchMode::Subspace],
            Self::Both => vec![SearchMode::Random, SearchMode::Subspace],
        }
    }
}

/// One (m, trial, mode) search. Every value is a lower bound.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RrcpRow {
    /// Always `lower_bound`.
    pub kind: String,
    /// Master seed.
    pub seed: u64,
    /// `random` or the weights file.
    pub source: String,
    /// Widths `k-n_1-…-n_d`.
    pub widths: String,
    /// Weight variance convention.
    pub weight_scale: String,
    /// Measurements m.
    pub m: usize,
    /// How `A` was drawn (`normalized` or `unit`; `unit` is tested as `A/√m`).
    pub measurement_scale: String,
    /// Trial index.
    pub trial: u64,
    /// `random` or `subspace`.
    pub mode: String,
    /// Sampled tuples.
    pub tuples: usize,
    /// Refined tuples.
    pub refine_starts: usize,
    /// Local-search steps per refined tuple.
    pub refine_steps: usize,
    /// Best sampled ratio.
    pub sup_sampled: f64,
    /// Best ratio after refinement.
    pub sup: f64,
    /// `sup − sup_sampled`.
    pub refinement_gain: f64,
    /// `L`.
    pub constant: f64,
    /// `sup / L`.
    pub epsilon: f64,
    /// `∠(G(x), G(y))` of the maximising tuple.
    pub argmax_output_angle: f64,
    /// Maximising `x` (semicolon-separated).
    pub argmax_x: String,
    /// Maximising `y`.
    pub argmax_y: String,
    /// Maximising `x_1`.
    pub argmax_x1: String,
    /// Maximising `x_2`.
    pub argmax_x2: String,
    /// Maximising `x_3`.
    pub argmax_x3: String,
    /// Maximising `x_4`.
    pub argmax_x4: String,
    /// Hypotheses of the theory the network breaks (semicolon-separated; empty if none).
    pub theory_violations: String,
    /// The search trace, encoded (see [`decode_trace`]; `None` once decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// The best ratio after a number of evaluated tuples.
#[derive(Clone, Debug, Serialize)]
pub struct TraceRow {
    /// Always `lower_bound`.
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Measurements m.
    pub m: usize,
    /// Trial index.
    pub trial: u64,
    /// Search mode.
    pub mode: &'static str,
    /// `sample` or `refine`.
    pub phase: &'static str,
    /// Tuples evaluated so far (refinement: all starts in lockstep).
    pub tuples_evaluated: usize,
    /// Best ratio so far.
    pub best_sup: f64,
}

/// ε over the trials of one (m, mode).
#[derive(Clone, Debug, Serialize)]
pub struct ScalingRow {
    /// Always `lower_bound` (each trial's ε is one).
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// Search mode.
    pub mode: &'static str,
    /// Measurements m.
    pub m: usize,
    /// Trials.
    pub trials: usize,
    /// `L`.
    pub constant: f64,
    /// Mean ε over trials.
    pub epsilon_mean: f64,
    /// Sample standard deviation of ε (0 for one trial).
    pub epsilon_std: f64,
    /// Smallest ε.
    pub epsilon_min: f64,
    /// Largest ε.
    pub epsilon_max: f64,
}

/// The power law `ε ≈ c m^p` fitted to every (m, trial) row of a mode.
#[derive(Clone, Debug, Serialize)]
pub struct FitRow {
    /// `estimate_of_lower_bounds`: a least-squares fit to sampled lower bounds on ε (a trend of
    /// the bounds, not of ε itself).
    pub kind: &'static str,
    /// Search mode.
    pub mode: &'static str,
    /// Points fitted.
    pub points: usize,
    /// `p`.
    pub exponent: f64,
    /// Lower end of the t interval of `p` at level [`FitRow::confidence`].
    pub exponent_lo: f64,
    /// Upper end.
    pub exponent_hi: f64,
    /// Level of the interval: `1 − α / modes` (Bonferroni over the modes fitted).
    pub confidence: f64,
    /// `c`.
    pub fit_constant: f64,
    /// R² of the log–log regression.
    pub r2: f64,
    /// The proofs' rate `−1/2`.
    pub reference_exponent: f64,
    /// Whether `−1/2` lies in the interval.
    pub reference_in_interval: bool,
}

/// The analysis of a study: per (mode, m) summaries and per mode fits.
#[derive(Clone, Debug)]
pub struct RrcpAnalysis {
    /// One row per (mode, m), modes in order, m in the configured order.
    pub scaling: Vec<ScalingRow>,
    /// One row per mode with a fit (at least 3 positive rows).
    pub fits: Vec<FitRow>,
    /// The fit of each mode, in the order of [`RrcpMode::searches`] (`None`: too few points).
    pub power_laws: Vec<Option<PowerLawFit>>,
}

/// Everything the rows of a study depend on (recorded in shard manifests).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrcpConfig {
    /// Widths of a random network (or `weights`).
    pub widths: Option<Vec<usize>>,
    /// A saved network (the same in every trial).
    pub weights: Option<PathBuf>,
    /// Variance of random weights.
    pub weight_scale: WeightScale,
    /// Numbers of measurements.
    pub m: Vec<usize>,
    /// Entries of A.
    pub measurement_scale: MeasurementScale,
    /// Search mode(s).
    pub mode: RrcpMode,
    /// Sampled tuples per mode.
    pub tuples: usize,
    /// Refined tuples.
    pub refine_starts: usize,
    /// Local-search steps per refined tuple.
    pub refine_steps: usize,
    /// `L`.
    pub constant: f64,
    /// Trials per m.
    pub trials: usize,
    /// Master seed.
    pub seed: u64,
}

impl RrcpConfig {
    /// The network description of the configuration.
    pub fn network_spec(&self) -> Result<NetworkSpec> {
        NetworkSpec::one_of(self.widths.as_deref(), self.weights.as_deref(), self.weight_scale)
    }

    /// Checks every parameter; errors name the field (`m`, `tuples`, …).
    pub fn validate(&self) -> Result<()> {
        if self.m.is_empty() {
            return Err(Error::param(
                "m",
                "(none)",
                "give at least one number of measurements, e.g. 200",
            ));
        }
        if let Some(&bad) = self.m.iter().find(|&&m| m == 0) {
            return Err(Error::param(
                "m",
                bad,
                "every number of measurements must be at least 1, e.g. 25,50,100",
            ));
        }
        let mut seen = self.m.clone();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::param(
                "m",
                w[0],
                "each value of m may appear once; remove the duplicate",
            ));
        }
        if self.tuples == 0 {
            return Err(Error::param("tuples", 0, "sample at least one tuple, e.g. 2000"));
        }
        if self.trials == 0 {
            return Err(Error::param("trials", 0, "run at least one trial, e.g. 5"));
        }
        if self.refine_starts > self.tuples {
            return Err(Error::param(
                "refine_starts",
                self.refine_starts,
                format!(
                    "at most tuples = {} sampled tuples can be refined; lower it or raise tuples",
                    self.tuples
                ),
            ));
        }
        if !self.constant.is_finite() || self.constant <= 0.0 {
            return Err(Error::param(
                "constant",
                format!("{:?}", self.constant),
                "give a finite number greater than 0",
            ));
        }
        if let Some(widths) = &self.widths {
            validate_widths(widths)?;
        }
        self.network_spec().map(|_| ())
    }
}

/// A study as a [`Study`]: trial id `(m index) · trials + trial` (the order m, then trial);
/// each trial returns one [`RrcpRow`] per mode, its search trace encoded in `trace`.
#[derive(Clone, Debug)]
pub struct RrcpStudy {
    /// The configuration.
    pub config: RrcpConfig,
}

/// `"phase:evaluated:best"` per trace point, `;`-separated (floats in Rust's shortest
/// round-trip form, so decoding gives the same numbers).
fn encode_trace(trace: &[TracePoint]) -> String {
    trace
        .iter()
        .map(|t| format!("{}:{}:{}", t.phase, t.evaluated, t.best))
        .collect::<Vec<_>>()
        .join(";")
}

/// The trace rows of a stored row (inverse of the encoding the study writes).
pub fn decode_trace(row: &RrcpRow, seed: u64) -> Result<Vec<TraceRow>> {
    let bad = |text: &str| Error::Trials {
        path: PathBuf::from(ROWS_FILE),
        reason: format!(
            "trace point {text:?} of m = {}, trial {} is not phase:evaluated:best",
            row.m, row.trial
        ),
    };
    let mode = RrcpMode::Both
        .searches()
        .into_iter()
        .find(|md| md.name() == row.mode)
        .ok_or_else(|| bad(&row.mode))?;
    let text = row.trace.as_deref().unwrap_or_default();
    text.split(';')
        .filter(|p| !p.is_empty())
        .map(|point| {
            let mut parts = point.split(':');
            let phase = match parts.next() {
                Some("sample") => "sample",
                Some("refine") => "refine",
                _ => return Err(bad(point)),
            };
            let evaluated = parts.next().and_then(|v| v.parse().ok()).ok_or_else(|| bad(point))?;
            let best = parts.next().and_then(|v| v.parse().ok()).ok_or_else(|| bad(point))?;
            Ok(TraceRow {
                kind: "lower_bound",
                seed,
                m: row.m,
                trial: row.trial,
                mode: mode.name(),
                phase,
                tuples_evaluated: evaluated,
                best_sup: best,
            })
        })
        .collect()
}

impl RrcpStudy {
    /// The study a shard manifest recorded (`path` names the manifest in errors).
    pub fn from_recorded(config: &serde_json::Value, path: &Path) -> Result<Self> {
        let config = RrcpConfig::deserialize(config).map_err(|e| Error::Trials {
            path: path.to_path_buf(),
            reason: format!("its configuration is not an rrcp run of this version ({e})"),
        })?;
        Ok(Self { config })
    }

    /// The network of `(m, trial)` (a file is the same in every trial).
    pub fn network(&self, m: usize, trial: u64) -> Result<(Network, NetworkOrigin)> {
        self.config
            .network_spec()?
            .build(self.config.seed, &format!("rrcp/m={m}"), trial)
    }

    /// `(m, trial)` of trial `id`.
    fn setting(&self, id: u64) -> (usize, u64) {
        let trials = self.config.trials as u64;
        (self.config.m[(id / trials) as usize], id % trials)
    }

    fn settings(&self) -> SearchSettings {
        SearchSettings {
            tuples: self.config.tuples,
            refine_starts: self.config.refine_starts,
            refine_steps: self.config.refine_steps,
        }
    }
}

impl Study for RrcpStudy {
    type Row = RrcpRow;

    fn kind(&self) -> &'static str {
        "rrcp"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).expect("an rrcp configuration is plain data")
    }

    fn len(&self) -> u64 {
        (self.config.m.len() * self.config.trials) as u64
    }

    fn describe(&self, id: u64) -> String {
        let (m, trial) = self.setting(id);
        format!("m = {m}, trial {trial}")
    }

    fn run(&self, id: u64) -> Result<Vec<RrcpRow>> {
        let c = &self.config;
        let (m, trial) = self.setting(id);
        let (net, origin) = self.network(m, trial)?;
        let experiment = format!("rrcp/m={m}");
        let mut rng = stream(c.seed, &experiment, trial, Stream::Measurements);
        let a = Measurements::gaussian(m, net.output_dim(), c.measurement_scale, &mut rng)
            .normalized()
            .a;
        let key = StreamKey {
            seed: c.seed,
            experiment: &experiment,
            trial,
        };
        let violations = net.theory_violations().join("; ");
        let rows = c
            .mode
            .searches()
            .into_iter()
            .map(|mode| {
                let found: SearchOutcome = search(&net, a.as_ref(), mode, &self.settings(), &key, &|| {});
                let t = &found.argmax;
                RrcpRow {
                    kind: "lower_bound".into(),
                    seed: c.seed,
                    source: origin.source.clone(),
                    widths: widths_label(&net.widths()),
                    weight_scale: origin.weight_scale.clone(),
                    m,
                    measurement_scale: c.measurement_scale.name().into(),
                    trial,
                    mode: mode.name().into(),
                    tuples: c.tuples,
                    refine_starts: c.refine_starts,
                    refine_steps: c.refine_steps,
                    sup_sampled: found.sup_sampled,
                    sup: found.sup,
                    refinement_gain: found.refinement_gain,
                    constant: c.constant,
                    epsilon: found.sup / c.constant,
                    argmax_output_angle: sign_angle(&net, t),
                    argmax_x: cell_list(&t.x),
                    argmax_y: cell_list(&t.y),
                    argmax_x1: cell_list(&t.x1),
                    argmax_x2: cell_list(&t.x2),
                    argmax_x3: cell_list(&t.x3),
                    argmax_x4: cell_list(&t.x4),
                    theory_violations: violations.clone(),
                    trace: Some(encode_trace(&found.trace)),
                }
            })
            .collect();
        Ok(rows)
    }
}

/// Runs every `(m, trial)` of `config` (in parallel; the rows in the order m, trial, mode and
/// identical whatever the thread count), after validating it.
pub fn run_study(config: &RrcpConfig) -> Result<Vec<RrcpRow>> {
    config.validate()?;
    let study = RrcpStudy { config: config.clone() };
    let per_trial: Vec<Vec<RrcpRow>> = (0..study.len())
        .into_par_iter()
        .map(|id| study.run(id))
        .collect::<Result<_>>()?;
    Ok(per_trial.into_iter().flatten().collect())
}

/// The analysis of `rows` (docs/THEORY.md §15.3): per (mode, m) the spread of ε, and per mode
/// the least-squares fit of `ln ε` on `ln m` over every trial row (the independent
/// observations), with its t interval at level `1 − alpha / modes` (Bonferroni over the modes,
/// so the intervals hold together at level `1 − alpha`). With one `m` there is no fit.
pub fn analyse(config: &RrcpConfig, rows: &[RrcpRow], alpha: f64) -> RrcpAnalysis {
    let modes = config.mode.searches();
    let level = alpha / modes.len() as f64;
    let mut analysis = RrcpAnalysis {
        scaling: Vec::new(),
        fits: Vec::new(),
        power_laws: Vec::new(),
    };
    for &mode in &modes {
        let of_mode = || rows.iter().filter(move |r| r.mode == mode.name());
        for &m in &config.m {
            let eps: Vec<f64> = of_mode().filter(|r| r.m == m).map(|r| r.epsilon).collect();
            let s = spread(&eps);
            analysis.scaling.push(ScalingRow {
                kind: "lower_bound",
                seed: config.seed,
                widths: of_mode().next().map(|r| r.widths.clone()).unwrap_or_default(),
                mode: mode.name(),
                m,
                trials: eps.len(),
                constant: config.constant,
                epsilon_mean: s.mean,
                epsilon_std: s.std,
                epsilon_min: s.min,
                epsilon_max: s.max,
            });
        }
        let (xs, ys): (Vec<f64>, Vec<f64>) = of_mode().map(|r| (r.m as f64, r.epsilon)).unzip();
        let fit = if config.m.len() >= 2 {
            power_law_fit(&xs, &ys)
        } else {
            None
        };
        if let Some(f) = &fit {
            let (lo, hi) = f.exponent_interval(level);
            analysis.fits.push(FitRow {
                kind: "estimate_of_lower_bounds",
                mode: mode.name(),
                points: f.points,
                exponent: f.exponent,
                exponent_lo: lo,
                exponent_hi: hi,
                confidence: 1.0 - level,
                fit_constant: f.constant,
                r2: f.r2,
                reference_exponent: REFERENCE_EXPONENT,
                reference_in_interval: lo <= REFERENCE_EXPONENT && REFERENCE_EXPONENT <= hi,
            });
        }
        analysis.power_laws.push(fit);
    }
    analysis
}
