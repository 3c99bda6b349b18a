//! `dpr-audit solve`: one random instance (network, `A` with m rows, `x0`), solved by DPR
//! (Algorithm 1), GD (no negation check) or Adam two-init (docs/THEORY.md §6), every restart in
//! lock-step. Reports the sign-invariant relative error `min(‖x̂−x0‖, ‖x̂+x0‖)/‖x0‖` of the
//! solution chosen by objective (default) and/or by the oracle (labelled replication mode).
//!
//! Random objects: the network from `inputs::network(…, "solve", 0)`, everything else from
//! [`crate::solvers::instance`] with experiment `"solve"`, trial 0.

use std::time::Instant;

use serde::Serialize;

use super::cli::SolveArgs;
use super::context::{Context, Outcome};
use super::inputs::{at_least, positive, run_instance, save_requested};
use crate::core::network::Network;
use crate::core::vector::relative_error_up_to_sign;
use crate::error::{Error, Result};
use crate::limits::{Footprint, lockstep_words, trial_words};
use crate::report::widths_label;
use crate::solvers::instance::{self, InstanceKey};
use crate::solvers::{Chosen, Method, MethodParams, Run, Settings, check_step, choose, run_origin, solve};

/// The settings of a method with the user's overrides applied.
pub fn loop_settings(
    method: Method,
    max_iters: Option<usize>,
    grad_tol: Option<f64>,
    f_tol: Option<f64>,
    trace: bool,
) -> Result<Settings> {
    let settings = method.settings_with(max_iters, grad_tol, f_tol, trace);
    at_least(
        "--max-iters",
        settings.max_iters,
        1,
        "allow at least one iteration, e.g. --max-iters 1000",
    )?;
    for (name, value) in [("--grad-tol", settings.grad_tol), ("--f-tol", settings.f_tol)] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::param(
                name,
                value,
                "give a finite tolerance ≥ 0 (0 switches the test off)",
            ));
        }
    }
    Ok(settings)
}

/// Method parameters: the given step or DPR's default rescaled to the variances in use.
pub fn method_params(
    net: &Network,
    random_scale: Option<crate::core::network::WeightScale>,
    meas: &crate::core::measure::Measurements,
    step: Option<f64>,
    lr: f64,
) -> Result<MethodParams> {
    let params = MethodParams::for_problem(net, random_scale, meas, step, lr);
    check_step(params.step)?;
    positive("--lr", lr)?;
    Ok(params)
}

/// One row of `runs.csv`: one run (one start) of the solve.
#[derive(Clone, Debug, Serialize)]
struct RunRow {
    seed: u64,
    source: String,
    widths: String,
    weight_scale: String,
    m: usize,
    measurement_scale: String,
    snr_db: Option<f64>,
    method: &'static str,
    step: f64,
    lr: f64,
    restart: usize,
    init_sign: i8,
    value: f64,
    gradient_norm: f64,
    iterations: usize,
    termination: &'static str,
    gradient_evaluations: usize,
    value_evaluations: usize,
    negations: usize,
    relative_error: f64,
}

/// One row of `solve.csv`: the solution one selection rule picks.
#[derive(Clone, Debug, Serialize)]
struct SolutionRow {
    seed: u64,
    widths: String,
    m: usize,
    method: &'static str,
    restarts: usize,
    selection: &'static str,
    restart: usize,
    init_sign: i8,
    relative_error: f64,
    success_tol: f64,
    success: bool,
    value: f64,
    iterations: usize,
    negations: usize,
    termination: &'static str,
}

/// One row of `trace.csv`.
#[derive(Clone, Debug, Serialize)]
struct TraceRow {
    seed: u64,
    restart: usize,
    init_sign: i8,
    iteration: usize,
    value: f64,
    gradient_norm: f64,
    negated: bool,
}

fn validate(args: &SolveArgs) -> Result<()> {
    at_least("--m", args.m, 1, "use at least one measurement, e.g. --m 200")?;
    at_least(
        "--restarts",
        args.restarts,
        1,
        "use at least one start, e.g. --restarts 5",
    )?;
    positive("--success-tol", args.success_tol)?;
    if let Some(snr) = args.snr_db
        && !snr.is_finite()
    {
        return Err(Error::param(
            "--snr-db",
            snr,
            "give a finite signal-to-noise ratio in dB, e.g. --snr-db 30",
        ));
    }
    Ok(())
}

/// Runs `dpr-audit solve`.
pub fn run(ctx: &Context, mut args: SolveArgs) -> Result<Outcome> {
    validate(&args)?;
    let settings = loop_settings(args.method, args.max_iters, args.grad_tol, args.f_tol, args.trace)?;
    let (m, restarts, method, trace_on, max_iters) =
        (args.m, args.restarts, args.method, args.trace, settings.max_iters);
    let footprint = move |widths: &[usize]| {
        let runs = restarts as f64 * if method == Method::Adam2 { 2.0 } else { 1.0 };
        let trace = if trace_on { runs * max_iters as f64 * 8.0 } else { 0.0 };
        Footprint::new()
            .network("--widths", widths)
            .measurements("--m", m, widths)
            .words(
                "--restarts",
                restarts,
                "the runs in lock-step and their rows",
                lockstep_words(runs, widths, m) + trial_words(runs, 1.0),
            )
            .words("--max-iters", max_iters, "the trace", trace)
    };
    let key = InstanceKey {
        seed: ctx.seed,
        experiment: "solve",
        trial: 0,
    };
    let (inst, origin, random_scale) = run_instance(
        args.instance.as_deref(),
        &args.source,
        (args.m, args.measurement_scale, args.x0.as_ref(), args.snr_db),
        &ctx.budget,
        footprint,
        &key,
    )?;
    (args.m, args.measurement_scale) = (inst.problem.b.len(), inst.problem.meas.scale);
    let params = method_params(&inst.problem.net, random_scale, &inst.problem.meas, args.step, args.lr)?;
    let starts = instance::starts(args.method, inst.x0.len(), args.restarts, &key);

    let clock = Instant::now();
    let runs = solve(&inst.problem, args.method, &params, &settings, starts.as_ref());
    let seconds = clock.elapsed().as_secs_f64();

    let widths = widths_label(&inst.problem.net.widths());
    let scale_name = args.measurement_scale.name();
    let run_rows: Vec<RunRow> = runs
        .iter()
        .enumerate()
        .map(|(j, r)| {
            let (restart, init_sign) = run_origin(j, args.restarts);
            RunRow {
                seed: ctx.seed,
                source: origin.source.clone(),
                widths: widths.clone(),
                weight_scale: origin.weight_scale.clone(),
                m: args.m,
                measurement_scale: scale_name.into(),
                snr_db: args.snr_db,
                method: args.method.name(),
                step: params.step,
                lr: params.adam.lr,
                restart,
                init_sign,
                value: r.value,
                gradient_norm: r.gradient_norm,
                iterations: r.iterations,
                termination: r.termination.name(),
                gradient_evaluations: r.counters.gradient_evaluations,
                value_evaluations: r.counters.value_evaluations,
                negations: r.counters.negations,
                relative_error: relative_error_up_to_sign(&r.x, &inst.x0),
            }
        })
        .collect();
    let chosen: Vec<Chosen> = args
        .select
        .selections()
        .into_iter()
        .map(|s| choose(&runs, &inst.x0, s))
        .collect();
    let solution_rows: Vec<SolutionRow> = chosen
        .iter()
        .map(|c| solution_row(ctx.seed, &widths, &args, c, &runs[c.run]))
        .collect();

    let out = ctx.create_out(&ctx.out_dir("solve"))?;
    out.write_csv("runs.csv", &run_rows)?;
    out.write_csv("solve.csv", &solution_rows)?;
    if args.trace {
        out.write_csv("trace.csv", &trace_rows(ctx.seed, &runs, args.restarts))?;
    }
    save_requested(
        args.save_instance.as_deref(),
        (ctx.seed, "solve"),
        &origin,
        &inst.problem,
        &inst.x0,
    )?;
    let dir = ctx.finish(out, "solve", &args)?;
    Ok(outcome(&args, &widths, params.step, &solution_rows, seconds, &dir))
}

fn solution_row(seed: u64, widths: &str, args: &SolveArgs, c: &Chosen, run: &Run) -> SolutionRow {
    let (restart, init_sign) = run_origin(c.run, args.restarts);
    SolutionRow {
        seed,
        widths: widths.into(),
        m: args.m,
        method: args.method.name(),
        restarts: args.restarts,
        selection: c.selection.name(),
        restart,
        init_sign,
        relative_error: c.relative_error,
        success_tol: args.success_tol,
        success: c.relative_error <= args.success_tol,
        value: c.value,
        iterations: run.iterations,
        negations: run.counters.negations,
        termination: run.termination.name(),
    }
}

fn trace_rows(seed: u64, runs: &[Run], restarts: usize) -> Vec<TraceRow> {
    runs.iter()
        .enumerate()
        .flat_map(|(j, r)| {
            let (restart, init_sign) = run_origin(j, restarts);
            r.trace.iter().map(move |t| TraceRow {
                seed,
                restart,
                init_sign,
                iteration: t.iteration,
                value: t.value,
                gradient_norm: t.gradient_norm,
                negated: t.negated,
            })
        })
        .collect()
}

fn outcome(
    args: &SolveArgs,
    widths: &str,
    step: f64,
    rows: &[SolutionRow],
    seconds: f64,
    dir: &std::path::Path,
) -> Outcome {
    let mut human = format!(
        "{} on network {widths}, m = {} ({} runs) → {}\n",
        args.method.name(),
        args.m,
        args.restarts * args.method.starts_per_restart(),
        dir.display()
    );
    if args.method != Method::Adam2 {
        human += &format!("  step size α = {step:.6} (recorded in runs.csv)\n");
    }
    for r in rows {
        let label = match r.selection {
            "oracle" => "selected by distance to the truth (ORACLE, replication mode only)",
            _ => "selected by objective",
        };
        human += &format!(
            "  {label}: relative error min(‖x̂−x0‖,‖x̂+x0‖)/‖x0‖ = {:.3e} ({} at tol {:.0e}), f = {:.3e}, \
             {} iterations, {} negations, stopped by {}\n",
            r.relative_error,
            if r.success { "success" } else { "FAILURE" },
            r.success_tol,
            r.value,
            r.iterations,
            r.negations,
            r.termination
        );
    }
    human += &format!("  time: {seconds:.3} s (wall clock; not written to the CSV files)\n");
    let first = &rows[0];
    let json = serde_json::json!({
        "command": "solve",
        "method": args.method.name(),
        "widths": widths,
        "m": args.m,
        "step": step,
        "relative_error": first.relative_error,
        "success": first.success,
        "selection": first.selection,
        "objective": first.value,
        "iterations": first.iterations,
        "negations": first.negations,
        "seconds": seconds,
        "solutions": rows,
        "out": dir.display().to_string(),
    });
    Outcome {
        human,
        json,
        exit_code: 0,
    }
}
