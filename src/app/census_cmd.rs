//! `dpr-audit landscape census`: plain gradient descent without the negation check from many
//! random starts on one instance, and the clusters of its limits ([`crate::landscape::census`]).
//!
//! Random objects: the same instance as `landscape` with the same seed (experiment
//! `"landscape"`, trial 0: network, `A`, `x0`), the starts `x_r ~ N(0, I_k)` from
//! `Stream::Restart(r)`, the local-minimum test directions from `"landscape/census"`.

use serde::Serialize;

use super::cli::CensusArgs;
use super::context::{Context, Outcome};
use super::inputs::{at_least, positive, run_instance, save_requested};
use super::solve_cmd::{loop_settings, method_params};
use crate::error::{Error, Result};
use crate::landscape::census::{Census, CensusSettings, Cluster, census};
use crate::limits::{Footprint, lockstep_words, probe_words};
use crate::report::{cell_list, widths_label};
use crate::rng::{Stream, stream};
use crate::solvers::Method;
use crate::solvers::instance::{self, InstanceKey};

/// The experiment key shared with `landscape` (same seed → same instance).
const EXPERIMENT: &str = "landscape";

/// One row of `census_runs.csv`: one GD run.
#[derive(Clone, Debug, Serialize)]
struct RunRow {
    seed: u64,
    widths: String,
    m: usize,
    start: usize,
    cluster: usize,
    value: f64,
    gradient_norm: f64,
    iterations: usize,
    termination: &'static str,
    x: String,
}

/// One row of `census_clusters.csv`: one cluster of limits.
#[derive(Clone, Debug, Serialize)]
struct ClusterRow {
    seed: u64,
    widths: String,
    m: usize,
    starts: usize,
    cluster: usize,
    members: usize,
    limit_kind: &'static str,
    rho_pr: f64,
    radius_ratio: f64,
    angle_to_negative_truth: f64,
    distance_to_truth: f64,
    value: f64,
    value_negated: f64,
    negation_helps: bool,
    gradient_norm_max: f64,
    local_minimum_sampled: bool,
    /// Exact certificate of the representative: certified, not_min or undecided.
    certificate: &'static str,
    certificate_on_kink: bool,
    spread: f64,
    /// Estimate (with `share_se`) of the probability that a start ends in this cluster.
    share_estimate: f64,
    share_se: f64,
    x: String,
}

fn validate(args: &CensusArgs) -> Result<()> {
    at_least("--m", args.m, 1, "use at least one measurement, e.g. --m 800")?;
    at_least("--starts", args.starts, 1, "use at least one start, e.g. --starts 200")?;
    at_least(
        "--test-directions",
        args.test_directions,
        1,
        "test at least one direction, e.g. --test-directions 64",
    )?;
    for (name, value) in [
        ("--cluster-tol", args.cluster_tol),
        ("--truth-tol", args.truth_tol),
        ("--test-radius", args.test_radius),
    ] {
        positive(name, value)?;
    }
    Ok(())
}

/// Runs `dpr-audit landscape census`.
pub fn run(ctx: &Context, mut args: CensusArgs) -> Result<Outcome> {
    validate(&args)?;
    let settings = loop_settings(Method::Gd, Some(args.max_iters), args.grad_tol, args.f_tol, false)?;
    let (m, starts, test_directions) = (args.m, args.starts, args.test_directions);
    let footprint = move |widths: &[usize]| {
        let k = widths.first().copied().unwrap_or(0);
        Footprint::new()
            .network("--widths", widths)
            .measurements("--m", m, widths)
            .words(
                "--starts",
                starts,
                "the runs and their rows",
                lockstep_words(starts as f64, widths, m) + probe_words(starts as f64, k),
            )
            .words(
                "--test-directions",
                test_directions,
                "the local-minimum test",
                test_directions as f64 * k as f64,
            )
    };
    let key = InstanceKey {
        seed: ctx.seed,
        experiment: EXPERIMENT,
        trial: 0,
    };
    let (inst, origin, random_scale) = run_instance(
        args.instance.as_deref(),
        &args.source,
        (args.m, args.measurement_scale, args.x0.as_ref(), None),
        &ctx.budget,
        footprint,
        &key,
    )?;
    (args.m, args.measurement_scale) = (inst.problem.b.len(), inst.problem.meas.scale);
    if inst.problem.net.depth() < 1 {
        return Err(Error::param(
            "--widths",
            inst.problem.net.depth(),
            "the network needs at least one layer",
        ));
    }
    let params = method_params(&inst.problem.net, random_scale, &inst.problem.meas, args.step, 0.01)?;
    let starts = instance::starts(Method::Gd, inst.x0.len(), args.starts, &key);
    let census_settings = CensusSettings {
        step: params.step,
        settings,
        cluster_tol: args.cluster_tol,
        truth_tol: args.truth_tol,
        test_directions: args.test_directions,
        test_radius: args.test_radius,
    };
    let mut rng = stream(ctx.seed, "landscape/census", 0, Stream::Probe);
    let result = census(&inst.problem, &inst.x0, starts.as_ref(), &census_settings, &mut rng);

    let widths = widths_label(&inst.problem.net.widths());
    let (run_rows, cluster_rows) = rows(ctx.seed, &widths, &args, &result);
    let out = ctx.create_out(&ctx.out_dir("landscape-census"))?;
    out.write_csv("census_runs.csv", &run_rows)?;
    out.write_csv("census_clusters.csv", &cluster_rows)?;
    save_requested(
        args.save_instance.as_deref(),
        (ctx.seed, "landscape census"),
        &origin,
        &inst.problem,
        &inst.x0,
    )?;
    let dir = ctx.finish(out, "landscape census", &args)?;
    Ok(outcome(&widths, &args, params.step, &result, &cluster_rows, &dir))
}

fn rows(seed: u64, widths: &str, args: &CensusArgs, result: &Census) -> (Vec<RunRow>, Vec<ClusterRow>) {
    let run_rows = result
        .runs
        .iter()
        .enumerate()
        .map(|(j, r)| RunRow {
            seed,
            widths: widths.into(),
            m: args.m,
            start: j,
            cluster: result.assignment[j],
            value: r.value,
            gradient_norm: r.gradient_norm,
            iterations: r.iterations,
            termination: r.termination.name(),
            x: cell_list(&r.x),
        })
        .collect();
    let cluster_rows = result
        .clusters
        .iter()
        .enumerate()
        .map(|(c, cl)| cluster_row(seed, widths, args, result.rho, c, cl))
        .collect();
    (run_rows, cluster_rows)
}

fn cluster_row(seed: u64, widths: &str, args: &CensusArgs, rho: f64, index: usize, cl: &Cluster) -> ClusterRow {
    ClusterRow {
        seed,
        widths: widths.into(),
        m: args.m,
        starts: args.starts,
        cluster: index,
        members: cl.members,
        limit_kind: cl.kind.name(),
        rho_pr: rho,
        radius_ratio: cl.radius_ratio,
        angle_to_negative_truth: cl.angle_to_negative_truth,
        distance_to_truth: cl.distance_to_truth,
        value: cl.value,
        value_negated: cl.value_negated,
        negation_helps: cl.negation_helps,
        gradient_norm_max: cl.gradient_norm_max,
        local_minimum_sampled: cl.local_minimum,
        certificate: cl.certificate.name(),
        certificate_on_kink: cl.certificate_on_kink,
        spread: cl.spread,
        share_estimate: cl.share_estimate,
        share_se: cl.share_se,
        x: cell_list(&cl.x),
    }
}

fn outcome(
    widths: &str,
    args: &CensusArgs,
    step: f64,
    result: &Census,
    rows: &[ClusterRow],
    dir: &std::path::Path,
) -> Outcome {
    let mut human = format!(
        "critical-point census: GD without the negation check (step α = {step:.6}) from {} starts on {widths}, \
         m = {} → {}\n  ρ_d = {:.6}; clusters of limits within {} ‖x0‖ of each other:\n",
        args.starts,
        args.m,
        dir.display(),
        result.rho,
        args.cluster_tol
    );
    human += "  cluster  runs  kind      ‖x‖/(ρ_d‖x0‖)  ∠(x,−x0)  ‖x−x0‖/‖x0‖   f(x)        f(−x)       f(−x)<f(x)  ‖v‖ max    local min (sampled)\n";
    for r in rows {
        human += &format!(
            "  {:>7}  {:>4}  {:<8}  {:>13.4}  {:>8.4}  {:>11.3e}  {:>10.3e}  {:>10.3e}  {:<10}  {:>9.2e}  {}\n",
            r.cluster,
            r.members,
            r.limit_kind,
            r.radius_ratio,
            r.angle_to_negative_truth,
            r.distance_to_truth,
            r.value,
            r.value_negated,
            r.negation_helps,
            r.gradient_norm_max,
            r.local_minimum_sampled
        );
    }
    let truth_runs: usize = rows.iter().filter(|r| r.limit_kind == "truth").map(|r| r.members).sum();
    human += &format!(
        "  {truth_runs} of {} runs reached x0; the local-minimum test samples {} directions at radius {} ‖x‖ \
         (a sampled test, not a proof)\n",
        args.starts, args.test_directions, args.test_radius
    );
    let json = serde_json::json!({
        "command": "landscape census",
        "widths": widths,
        "m": args.m,
        "starts": args.starts,
        "step": step,
        "rho_pr": result.rho,
        "runs_reaching_truth": truth_runs,
        "clusters": rows,
        "out": dir.display().to_string(),
    });
    Outcome {
        human,
        json,
        exit_code: 0,
    }
}
