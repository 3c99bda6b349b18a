//! `dpr-audit rrcp`: sampled lower bounds on the RRCP constant (THEORY.md §2) of a network and
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

use serde::Serialize;

use super::cli::{RrcpArgs, RrcpMode};
use super::context::{Context, Outcome};
use super::inputs::{NetworkOrigin, at_least, network, positive};
use crate::conditions::rrcp::{SearchMode, SearchOutcome, SearchSettings, StreamKey, search, sign_angle};
use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::Network;
use crate::error::{Error, Result};
use crate::report::output::OutputDir;
use crate::report::plot::{Series, line_plot};
use crate::report::progress;
use crate::report::{cell_list, widths_label};
use crate::rng::{Stream, stream};
use crate::stats::{PowerLawFit, power_law_fit, spread};

/// The exponent of ε in m that the proofs suggest (`ε ~ m^{−1/2}` up to logs).
const REFERENCE_EXPONENT: f64 = -0.5;

/// One row of `rrcp.csv`: one (m, trial, mode) search. Every value is a lower bound.
#[derive(Clone, Debug, Serialize)]
pub struct RrcpRow {
    /// Always `lower_bound`.
    pub kind: &'static str,
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
    pub mode: &'static str,
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
    let a = Measurements::gaussian(m, n, scale, &mut rng).a;
    match scale {
        MeasurementScale::Normalized => a,
        MeasurementScale::Unit => {
            let s = 1.0 / (m as f64).sqrt();
            faer::Mat::from_fn(m, n, |i, j| s * a[(i, j)])
        }
    }
}

/// Runs `dpr-audit rrcp`.
pub fn run(ctx: &Context, args: RrcpArgs) -> Result<Outcome> {
    validate(&args)?;
    // Networks first (a bad weights file fails before any work or file).
    let mut nets: Vec<(Network, NetworkOrigin)> = Vec::with_capacity(args.trials);
    for trial in 0..args.trials as u64 {
        if args.source.weights.is_some() && trial > 0 {
            nets.push(nets[0].clone());
        } else {
            nets.push(network(&args.source, ctx.seed, "rrcp", trial)?);
        }
    }
    let (net0, origin) = (&nets[0].0, nets[0].1.clone());
    let widths = widths_label(&net0.widths());
    let violations = net0.theory_violations();
    let scale_name = serde_json::to_value(args.measurement_scale)?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let modes = modes(args.mode);
    let settings = SearchSettings {
        tuples: args.tuples,
        refine_starts: args.refine_starts,
        refine_steps: args.refine_steps,
    };

    let units: u64 = modes.iter().map(|&md| settings.work_units(md)).sum::<u64>() * (args.m.len() * args.trials) as u64;
    let bar = progress::bar(units, "rrcp", ctx.quiet);
    let mut rows = Vec::new();
    let mut trace = Vec::new();
    for &m in &args.m {
        for (trial, (net, _)) in nets.iter().enumerate() {
            let trial = trial as u64;
            let a = measurement_matrix(ctx.seed, m, net.output_dim(), args.measurement_scale, trial);
            let experiment = format!("rrcp/m={m}");
            let key = StreamKey {
                seed: ctx.seed,
                experiment: &experiment,
                trial,
            };
            for &mode in &modes {
                let found: SearchOutcome = search(net, a.as_ref(), mode, &settings, &key, &|| bar.inc(1));
                trace.extend(found.trace.iter().map(|t| TraceRow {
                    kind: "lower_bound",
                    seed: ctx.seed,
                    m,
                    trial,
                    mode: mode.name(),
                    phase: t.phase,
                    tuples_evaluated: t.evaluated,
                    best_sup: t.best,
                }));
                let t = &found.argmax;
                rows.push(RrcpRow {
                    kind: "lower_bound",
                    seed: ctx.seed,
                    source: origin.source.clone(),
                    widths: widths.clone(),
                    weight_scale: origin.weight_scale.clone(),
                    m,
                    measurement_scale: scale_name.clone(),
                    trial,
                    mode: mode.name(),
                    tuples: args.tuples,
                    refine_starts: args.refine_starts,
                    refine_steps: args.refine_steps,
                    sup_sampled: found.sup_sampled,
                    sup: found.sup,
                    refinement_gain: found.refinement_gain,
                    constant: args.constant,
                    epsilon: found.sup / args.constant,
                    argmax_output_angle: sign_angle(net, t),
                    argmax_x: cell_list(&t.x),
                    argmax_y: cell_list(&t.y),
                    argmax_x1: cell_list(&t.x1),
                    argmax_x2: cell_list(&t.x2),
                    argmax_x3: cell_list(&t.x3),
                    argmax_x4: cell_list(&t.x4),
                    theory_violations: violations.join("; "),
                });
            }
        }
    }
    bar.finish_and_clear();

    // Scaling study: several m.
    let scaling_study = args.m.len() >= 2;
    let mut scaling = Vec::new();
    let mut fits: BTreeMap<&'static str, PowerLawFit> = BTreeMap::new();
    if scaling_study {
        for &mode in &modes {
            for &m in &args.m {
                let eps: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.m == m && r.mode == mode.name())
                    .map(|r| r.epsilon)
                    .collect();
                let s = spread(&eps);
                scaling.push(ScalingRow {
                    kind: "lower_bound",
                    seed: ctx.seed,
                    widths: widths.clone(),
                    mode: mode.name(),
                    m,
                    trials: eps.len(),
                    constant: args.constant,
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

    let out = OutputDir::create(&ctx.out_dir("rrcp"))?;
    out.write_csv("rrcp.csv", &rows)?;
    out.write_csv("rrcp_trace.csv", &trace)?;
    if scaling_study {
        out.write_csv("rrcp_scaling.csv", &scaling)?;
        if !fit_rows.is_empty() {
            out.write_csv("rrcp_fit.csv", &fit_rows)?;
        }
        scaling_plot(&out, &modes, &scaling, &fits, &widths)?;
    }
    let dir = ctx.finish(out, "rrcp", &args)?;

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
        args.constant,
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
        "constant": args.constant,
        "m": args.m,
        "trials": args.trials,
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
