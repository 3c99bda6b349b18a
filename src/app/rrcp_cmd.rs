//! `dpr-audit rrcp`: sampled lower bounds on the RRCP constant (docs/THEORY.md §2) of a network and
//! a Gaussian `A` with `m` rows, by random tuples and/or the subspace search, for one or
//! several `m` (a scaling study with a power-law fit of ε against m). The study and its fit
//! are [`crate::conditions::rrcp_study`]'s (the claim C3 runs the same); this module parses,
//! runs the trials (shardable) and prints.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cli::RrcpArgs;
use super::context::{Context, Outcome};
use super::inputs::{flag_names, network_within};
use super::scaleout::{Ran, run_trials, sources};
use crate::claims::ALPHA;
use crate::conditions::rrcp::{SUBSPACE_BLOCK, SearchMode};
use crate::conditions::rrcp_study::{
    FitRow, REFERENCE_EXPONENT, RrcpConfig, RrcpMode, RrcpRow, RrcpStudy, ScalingRow, analyse, decode_trace,
};
use crate::error::Result;
use crate::exec::Study;
use crate::exec::merge::{ShardFolder, collect};
use crate::exec::store::MANIFEST_FILE;
use crate::limits::{Footprint, ROW_WORDS, trial_words};
use crate::report::output::OutputDir;
use crate::report::plot::{Series, line_plot};
use crate::report::widths_label;

/// The study of `args` under master seed `seed`.
fn config(args: &RrcpArgs, seed: u64) -> RrcpConfig {
    RrcpConfig {
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
    let study = RrcpStudy {
        config: config(&args, ctx.seed),
    };
    study.config.validate().map_err(flag_names)?;
    // The memory first (from --widths before anything exists), then the network (a bad
    // weights file fails before any work or file).
    network_within(
        &args.source,
        &ctx.budget,
        |w| footprint(&args, w),
        (ctx.seed, "rrcp", 0),
    )?;
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
    let (net0, origin) = study.network(c.m[0], 0)?;
    let widths = widths_label(&net0.widths());
    let violations = net0.theory_violations();
    let scale_name = rows.first().map(|r| r.measurement_scale.clone()).unwrap_or_default();
    let modes = c.mode.searches();
    let scaling_study = c.m.len() >= 2;
    let analysis = analyse(c, &rows, ALPHA);
    let (scaling, fit_rows) = (&analysis.scaling, &analysis.fits);

    out.write_csv("rrcp.csv", &rows)?;
    out.write_csv("rrcp_trace.csv", &trace)?;
    if scaling_study {
        out.write_csv("rrcp_scaling.csv", scaling)?;
        if !fit_rows.is_empty() {
            out.write_csv("rrcp_fit.csv", fit_rows)?;
        }
        scaling_plot(&out, scaling, fit_rows, &widths)?;
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
    for f in fit_rows {
        human += &format!(
            "  scaling ({}): epsilon ≈ {:.4} · m^{:.3}, {:.1}% interval of the exponent [{:.3}, {:.3}], R² = {:.3}, {} points; \
             the proofs suggest m^-1/2: {}\n",
            f.mode,
            f.fit_constant,
            f.exponent,
            100.0 * f.confidence,
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
        json["scaling"] = serde_json::to_value(scaling)?;
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
fn scaling_plot(out: &OutputDir, scaling: &[ScalingRow], fits: &[FitRow], widths: &str) -> Result<()> {
    let mut series = Vec::new();
    let mut reference = None;
    for mode in RrcpMode::Both.searches() {
        let pts: Vec<(f64, f64)> = scaling
            .iter()
            .filter(|r| r.mode == mode.name())
            .map(|r| (r.m as f64, r.epsilon_mean))
            .collect();
        if pts.is_empty() {
            continue;
        }
        if reference.is_none() {
            let (m0, e0) = pts[0];
            reference = Some(Series {
                label: format!("m^-1/2 reference (through {} at m = {m0})", mode.name()),
                points: pts
                    .iter()
                    .map(|&(m, _)| (m, e0 * (m / m0).powf(REFERENCE_EXPONENT)))
                    .collect(),
            });
        }
        let fit = fits.iter().find(|f| f.mode == mode.name()).map(|f| Series {
            label: format!("{} fit: {:.3} m^{:.2}", mode.name(), f.fit_constant, f.exponent),
            points: pts
                .iter()
                .map(|&(m, _)| (m, f.fit_constant * m.powf(f.exponent)))
                .collect(),
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
        "epsilon = sup / L (dimensionless)",
        &series,
        true,
        true,
    )
}
