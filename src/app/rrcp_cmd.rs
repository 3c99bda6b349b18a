//! `dpr-audit rrcp`: sampled lower bounds on the RRCP constant (docs/THEORY.md §2) of a network and
//! a Gaussian `A` with `m` rows, by random tuples and/or the subspace search, for one or
//! several `m` (a scaling study with a power-law fit of ε against m).
//!
//! Random objects: the network of trial `t` comes from `inputs::network(…, "rrcp", t)` (the same
//! network for every `m`; a `--weights` file is the same in every trial), `A` for `(m, t)` from
//! `stream(seed, "rrcp/m=<m>", t, Stream::Measurements)`, and the search of each mode from
//! streams keyed by `"rrcp/m=<m>/<mode>"` (see [`crate::conditions::rrcp`]).
//!
//! The RRCP is stated for `A` with `N(0, 1/m)` entries. With `--measurement-scale unit`
//! (`N(0, 1)`, the paper's MNIST experiment) `E[A_zᵀA_w] = m Φ`, so `A/√m` is tested; the
//! recorded scale says which `A` was drawn.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cli::{NetworkSource, RrcpArgs, RrcpMode};
use super::context::{Context, Outcome};
use super::inputs::{NetworkOrigin, at_least, network, positive};
use super::scaleout::{Ran, run_trials, sources};
use crate::conditions::rrcp::{
    SUBSPACE_BLOCK, SearchMode, SearchOutcome, SearchSettings, StreamKey, TracePoint, search, sign_angle,
};
use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::WeightScale;
use crate::core::network::{Network, validate_widths};
use crate::error::{Error, Result};
use crate::exec::Study;
use crate::exec::merge::{ShardFolder, collect};
use crate::exec::store::{MANIFEST_FILE, ROWS_FILE};
use crate::limits::{Footprint, ROW_WORDS, trial_words};
use crate::report::output::OutputDir;
use crate::report::plot::{Series, line_plot};
use crate::report::{cell_list, widths_label};
use crate::rng::{Stream, stream};
use crate::stats::{PowerLawFit, power_law_fit, spread};

/// The exponent of ε in m that the proofs suggest (`ε ~ m^{−1/2}` up to logs).
const REFERENCE_EXPONENT: f64 = -0.5;

/// One row of `rrcp.csv`: one (m, trial, mode) search. Every value is a lower bound.
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
    /// The search trace, encoded (shard folders only; `rrcp_trace.csv` in the final outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// One row of `rrcp_trace.csv`: the best ratio after a number of evaluated tuples.
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

/// One row of `rrcp_scaling.csv`: ε over the trials of one (m, mode).
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

/// One row of `rrcp_fit.csv`: the power law `ε ≈ c m^p` fitted to every (m, trial) of a mode.
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
    /// Lower end of the 95% interval of `p`.
    pub exponent_lo: f64,
    /// Upper end.
    pub exponent_hi: f64,
    /// `c`.
    pub fit_constant: f64,
    /// R² of the log–log regression.
    pub r2: f64,
    /// The proofs' rate `−1/2`.
    pub reference_exponent: f64,
    /// Whether `−1/2` lies in the interval.
    pub reference_in_interval: bool,
}

fn validate(args: &RrcpArgs) -> Result<()> {
    if args.m.is_empty() {
        return Err(Error::param(
            "--m",
            "(none)",
            "give at least one number of measurements, e.g. --m 200",
        ));
    }
    if let Some(&bad) = args.m.iter().find(|&&m| m == 0) {
        return Err(Error::param(
            "--m",
            bad,
            "every number of measurements must be at least 1, e.g. --m 25,50,100",
        ));
    }
    let mut seen = args.m.clone();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::param(
            "--m",
            w[0],
            "each value of m may appear once; remove the duplicate",
        ));
    }
    at_least(
        "--tuples",
        args.tuples,
        1,
        "sample at least one tuple, e.g. --tuples 2000",
    )?;
    at_least("--trials", args.trials, 1, "run at least one trial, e.g. --trials 5")?;
    if args.refine_starts > args.tuples {
        return Err(Error::param(
            "--refine-starts",
            args.refine_starts,
            format!(
                "at most --tuples = {} sampled tuples can be refined; lower it or raise --tuples",
                args.tuples
            ),
        ));
    }
    positive("--constant", args.constant)
}

fn modes(mode: RrcpMode) -> Vec<SearchMode> {
    match mode {
        RrcpMode::Random => vec![SearchMode::Random],
        RrcpMode::Subspace => vec![SearchMode::Subspace],
        RrcpMode::Both => vec![SearchMode::Random, SearchMode::Subspace],
    }
}

/// `A` for `(m, trial)`, scaled to the theorem's `N(0, 1/m)` convention.
fn measurement_matrix(seed: u64, m: usize, n: usize, scale: MeasurementScale, trial: u64) -> faer::Mat<f64> {
    let mut rng = stream(seed, &format!("rrcp/m={m}"), trial, Stream::Measurements);
    Measurements::gaussian(m, n, scale, &mut rng).normalized().a
}

/// Everything the rows of an `rrcp` run depend on (recorded in shard manifests).
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

/// An `rrcp` run as a [`Study`]: trial id `(m index) · trials + trial` (the order m, then
/// trial); each trial returns one [`RrcpRow`] per mode, its search trace encoded in `trace`.
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

/// The trace rows of a stored row (inverse of [`encode_trace`]).
fn decode_trace(row: &RrcpRow, seed: u64) -> Result<Vec<TraceRow>> {
    let bad = |text: &str| Error::Trials {
        path: PathBuf::from(ROWS_FILE),
        reason: format!(
            "trace point {text:?} of m = {}, trial {} is not phase:evaluated:best",
            row.m, row.trial
        ),
    };
    let mode = modes(RrcpMode::Both)
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
    /// The study of `args` under master seed `seed`.
    pub fn new(args: &RrcpArgs, seed: u64) -> Self {
        Self {
            config: RrcpConfig {
                widths: args.source.widths.clone(),
                weights: args.source.weights.clone(),
                weight_scale: args.source.weight_scale,
                m: args.m.clone(),
                measurement_scale: args.measurement_scale,
                mode: args.mode,
                tuples: args.tuples,
                refine_starts: args.refine_starts,
                refine_steps: args.refine_steps,
                constant: args.constant,
                trials: args.trials,
                seed,
            },
        }
    }

    /// The study a shard manifest recorded (`path` names the manifest in errors).
    pub fn from_recorded(config: &serde_json::Value, path: &Path) -> Result<Self> {
        let config = RrcpConfig::deserialize(config).map_err(|e| Error::Trials {
            path: path.to_path_buf(),
            reason: format!("its configuration is not an rrcp run of this version ({e})"),
        })?;
        Ok(Self { config })
    }

    /// The network of `trial` (a `--weights` file is the same in every trial).
    fn network(&self, trial: u64) -> Result<(Network, NetworkOrigin)> {
        let c = &self.config;
        let source = NetworkSource {
            widths: c.widths.clone(),
            weights: c.weights.clone(),
            weight_scale: c.weight_scale,
        };
        network(&source, c.seed, "rrcp", if c.weights.is_some() { 0 } else { trial })
    }

    /// `(m, trial)` of trial `id`.
    fn setting(&self, id: u64) -> (usize, u64) {
        let trials = self.config.trials as u64;
        (self.config.m[(id / trials) as usize], id % trials)
    }

    fn scale_name(&self) -> String {
        serde_json::to_value(self.config.measurement_scale)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
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
        let (net, origin) = self.network(trial)?;
        let a = measurement_matrix(c.seed, m, net.output_dim(), c.measurement_scale, trial);
        let experiment = format!("rrcp/m={m}");
        let key = StreamKey {
            seed: c.seed,
            experiment: &experiment,
            trial,
        };
        let violations = net.theory_violations().join("; ");
        let rows = modes(c.mode)
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
                    measurement_scale: self.scale_name(),
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

/// The memory of a run on a network of these widths: the weights, `A` for the largest m (and
/// its product with a subspace basis), and every trial's rows with their traces.
fn footprint(args: &RrcpArgs, widths: &[usize]) -> Footprint {
    let m_max = args.m.iter().copied().max().unwrap_or(0);
    let trace_points = (args.tuples as f64 / SUBSPACE_BLOCK as f64).ceil() + args.refine_steps as f64;
    let rows_each = 2.0 * (1.0 + 3.0 * trace_points / ROW_WORDS);
    Footprint::new()
        .network("--widths", widths)
        .measurements("--m", m_max, widths)
        .measurements("--m", m_max, widths)
        .words(
            "--trials",
            args.trials,
            "the trials' rows",
            trial_words((args.trials * args.m.len()) as f64, rows_each),
        )
}

/// Runs `dpr-audit rrcp`.
pub fn run(ctx: &Context, args: RrcpArgs) -> Result<Outcome> {
    validate(&args)?;
    let study = RrcpStudy::new(&args, ctx.seed);
    // The memory first (from --widths before anything exists), then the network (a bad
    // weights file fails before any work or file).
    if let Some(widths) = &args.source.widths {
        validate_widths(widths)?;
        ctx.budget.check(&footprint(&args, widths))?;
    }
    let (net, _) = study.network(0)?;
    ctx.budget.check(&footprint(&args, &net.widths()))?;
    let out = ctx.out_dir("rrcp");
    match run_trials(ctx, &study, &args.scale_out, &out, "rrcp")? {
        Ran::Shard(outcome) => Ok(outcome),
        Ran::Whole { staging, folders, .. } => finalize(ctx, &study, &folders, staging, ("rrcp", &args)),
    }
}

/// `dpr-audit merge` of rrcp shards: the outputs of the unsharded run.
pub fn merge(ctx: &Context, folders: &[ShardFolder], staging: OutputDir) -> Result<Outcome> {
    let first = &folders[0];
    let study = RrcpStudy::from_recorded(&first.manifest.config, &first.dir.join(MANIFEST_FILE))?;
    let recorded = serde_json::json!({"merged_from": sources(folders), "config": study.config()});
    finalize(ctx, &study, folders, staging, ("merge", &recorded))
}

/// Writes the final outputs from the rows in `folders` (every trial exactly once) into `out`;
/// `command` and its parameters go to `manifest.json`.
fn finalize(
    ctx: &Context,
    study: &RrcpStudy,
    folders: &[ShardFolder],
    out: OutputDir,
    (command, params): (&str, &impl Serialize),
) -> Result<Outcome> {
    let c = &study.config;
    let mut rows: Vec<RrcpRow> = collect(study, folders)?.into_iter().map(|(_, row)| row).collect();
    let mut trace = Vec::new();
    for row in &mut rows {
        trace.extend(decode_trace(row, c.seed)?);
        row.trace = None;
    }
    let (net0, origin) = study.network(0)?;
    let widths = widths_label(&net0.widths());
    let violations = net0.theory_violations();
    let scale_name = study.scale_name();
    let modes = modes(c.mode);

    // Scaling study: several m.
    let scaling_study = c.m.len() >= 2;
    let mut scaling = Vec::new();
    let mut fits: BTreeMap<&'static str, PowerLawFit> = BTreeMap::new();
    if scaling_study {
        for &mode in &modes {
            for &m in &c.m {
                let eps: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.m == m && r.mode == mode.name())
                    .map(|r| r.epsilon)
                    .collect();
                let s = spread(&eps);
                scaling.push(ScalingRow {
                    kind: "lower_bound",
                    seed: c.seed,
                    widths: widths.clone(),
                    mode: mode.name(),
                    m,
                    trials: eps.len(),
                    constant: c.constant,
                    epsilon_mean: s.mean,
                    epsilon_std: s.std,
                    epsilon_min: s.min,
                    epsilon_max: s.max,
                });
            }
            let (xs, ys): (Vec<f64>, Vec<f64>) = rows
                .iter()
                .filter(|r| r.mode == mode.name())
                .map(|r| (r.m as f64, r.epsilon))
                .unzip();
            if let Some(fit) = power_law_fit(&xs, &ys) {
                fits.insert(mode.name(), fit);
            }
        }
    }
    let fit_rows: Vec<FitRow> = fits
        .iter()
        .map(|(&mode, f)| FitRow {
            kind: "estimate_of_lower_bounds",
            mode,
            points: f.points,
            exponent: f.exponent,
            exponent_lo: f.exponent_lo,
            exponent_hi: f.exponent_hi,
            fit_constant: f.constant,
            r2: f.r2,
            reference_exponent: REFERENCE_EXPONENT,
            reference_in_interval: f.exponent_lo <= REFERENCE_EXPONENT && REFERENCE_EXPONENT <= f.exponent_hi,
        })
        .collect();

    out.write_csv("rrcp.csv", &rows)?;
    out.write_csv("rrcp_trace.csv", &trace)?;
    if scaling_study {
        out.write_csv("rrcp_scaling.csv", &scaling)?;
        if !fit_rows.is_empty() {
            out.write_csv("rrcp_fit.csv", &fit_rows)?;
        }
        scaling_plot(&out, &modes, &scaling, &fits, &widths)?;
    }
    let ctx = Context {
        seed: c.seed,
        ..ctx.clone()
    };
    let dir = ctx.finish(out, command, params)?;

    // The largest lower bound of each mode over every (m, trial).
    let best_of = |mode: SearchMode| -> Option<&RrcpRow> {
        rows.iter()
            .filter(|r| r.mode == mode.name())
            .max_by(|a, b| a.sup.total_cmp(&b.sup).then(b.m.cmp(&a.m)))
    };
    let mut human = format!(
        "RRCP of {} network {widths} (weights {}) with A: m × {} Gaussian ({}), L = {} → {}\n  \
         every value is a LOWER BOUND on the supremum (sampled and refined tuples can refute a claimed ε, never certify one)\n",
        origin.source,
        origin.weight_scale,
        net0.output_dim(),
        scale_name,
        c.constant,
        dir.display()
    );
    if !violations.is_empty() {
        human += &format!(
            "  warning: not a bias-free ReLU network ({}); the RRCP is stated for such generators; \
             'linear pieces' are then tangent spaces (Λ_x is the Jacobian)\n",
            violations.join("; ")
        );
    }
    human += "       m  trial  mode      sup_sampled  sup (lower bound)  +refinement  epsilon = sup/L (lower bound)\n";
    for r in &rows {
        human += &format!(
            "  {:>6}  {:>5}  {:<8}  {:>11.5}  {:>17.5}  {:>11.2e}  {:.6}\n",
            r.m, r.trial, r.mode, r.sup_sampled, r.sup, r.refinement_gain, r.epsilon
        );
    }
    for &mode in &modes {
        if let Some(b) = best_of(mode) {
            human += &format!(
                "  {}: sup = {:.6} (lower bound), epsilon = {:.6} (lower bound), at m = {}, trial {}\n",
                mode.name(),
                b.sup,
                b.epsilon,
                b.m,
                b.trial
            );
        }
    }
    for f in &fit_rows {
        human += &format!(
            "  scaling ({}): epsilon ≈ {:.4} · m^{:.3}, 95% interval of the exponent [{:.3}, {:.3}], R² = {:.3}, {} points; \
             the proofs suggest m^-1/2: {}\n",
            f.mode,
            f.fit_constant,
            f.exponent,
            f.exponent_lo,
            f.exponent_hi,
            f.r2,
            f.points,
            if f.reference_in_interval {
                "consistent"
            } else {
                "outside the interval"
            }
        );
    }
    if scaling_study && fit_rows.is_empty() {
        human += "  scaling: too few positive points for a power-law fit (need 3)\n";
    }

    let mut json = serde_json::json!({
        "command": "rrcp",
        "out": dir,
        "kind": "lower_bound",
        "source": origin.source,
        "widths": net0.widths(),
        "weight_scale": origin.weight_scale,
        "measurement_scale": scale_name,
        "constant": c.constant,
        "m": c.m,
        "trials": c.trials,
        "theory_violations": violations,
        "results": rows,
    });
    for &mode in &modes {
        if let Some(b) = best_of(mode) {
            json[mode.name()] = serde_json::json!({
                "kind": "lower_bound", "sup": b.sup, "epsilon": b.epsilon, "sup_sampled": b.sup_sampled,
                "refinement_gain": b.refinement_gain, "m": b.m, "trial": b.trial,
            });
        }
    }
    if scaling_study {
        json["scaling"] = serde_json::to_value(&scaling)?;
        json["fit"] = serde_json::to_value(fit_rows.iter().map(|f| (f.mode, f)).collect::<BTreeMap<_, _>>())?;
    }
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}

/// `rrcp_scaling.png`: mean ε against m per mode (log–log), the fitted power laws, and the
/// `m^{−1/2}` reference through the first mean.
fn scaling_plot(
    out: &OutputDir,
    modes: &[SearchMode],
    scaling: &[ScalingRow],
    fits: &BTreeMap<&'static str, PowerLawFit>,
    widths: &str,
) -> Result<()> {
    let mut series = Vec::new();
    let mut reference = None;
    for &mode in modes {
        let pts: Vec<(f64, f64)> = scaling
            .iter()
            .filter(|r| r.mode == mode.name())
            .map(|r| (r.m as f64, r.epsilon_mean))
            .collect();
        if reference.is_none()
            && let Some(&(m0, e0)) = pts.first()
        {
            reference = Some(Series {
                label: format!("m^-1/2 reference (through {} at m = {m0})", mode.name()),
                points: pts
                    .iter()
                    .map(|&(m, _)| (m, e0 * (m / m0).powf(REFERENCE_EXPONENT)))
                    .collect(),
            });
        }
        let fit = fits.get(mode.name()).map(|f| Series {
            label: format!("{} fit: {:.3} m^{:.2}", mode.name(), f.constant, f.exponent),
            points: pts.iter().map(|&(m, _)| (m, f.constant * m.powf(f.exponent))).collect(),
        });
        series.push(Series {
            label: format!("{} (mean ε, lower bound)", mode.name()),
            points: pts,
        });
        series.extend(fit);
    }
    series.extend(reference);
    line_plot(
        &out.file("rrcp_scaling.png"),
        &format!("RRCP ε (lower bound) vs m, network {widths}"),
        "m (measurements)",
        "epsilon = sup / L",
        &series,
        true,
        true,
    )
}
