//! `dpr-audit landscape exact --sweep`: the exact `k = 2` landscape on many standard instances
//! over a ladder of widths ([`crate::landscape::exact::sweep`]), shardable (`--shard i/N`),
//! resumable (`--resume`) and mergeable (`dpr-audit merge`) like every study ([`crate::exec`]).
//!
//! Outputs: `exact_sweep.csv` (one row per instance, with `trial_id`), `exact_sweep_rungs.csv`
//! (per-rung summaries), `exact_sweep_fit.csv` (the slopes of `ln spread` on `ln n_1`, on
//! `ln ε_WDC` and on `ln ε_RRCP`, with 95% intervals and the zero spreads left out), and the figures
//! `exact_sweep_spread.png` and `exact_sweep_counts.png`.

use serde::Serialize;

use super::cli::LandscapeExactArgs;
use super::context::{Context, Outcome};
use super::inputs::{at_least, positive};
use super::scaleout::{Ran, run_trials};
use crate::core::network::validate_widths;
use crate::error::{Error, Result};
use crate::exec::merge::{ShardFolder, collect};
use crate::exec::store::write_rows;
use crate::exec::{Study, config_hash};
use crate::landscape::exact::sweep::{
    ExactSweep, ExactSweepPlan, RungSummary, SpreadFits, SpreadPoint, spread_fits, spread_points,
};
use crate::landscape::neighbourhoods::check_tau;
use crate::limits::{
    Footprint, exact_enumeration_words, lockstep_words, measurement_words, network_words, rrcp_search_words,
    trial_words, wdc_search_words, wdc_workspace_words,
};
use crate::report::output::OutputDir;
use crate::report::plot::{Series, line_plot, line_plot_with_dots};
use crate::stats::PowerLawFit;

/// The theorem's exponent of the radii in ε (Theorem II.1: radii `∝ ε^{1/4}`).
const THEOREM_EXPONENT: f64 = 0.25;

/// One row of `exact_sweep_fit.csv`.
#[derive(Clone, Debug, Serialize)]
struct FitRow {
    kind: &'static str,
    seed: u64,
    regressor: &'static str,
    points: usize,
    zero_spreads_excluded: usize,
    slope: f64,
    slope_lo: f64,
    slope_hi: f64,
    fit_constant: f64,
    r2: f64,
    reference_slope: Option<f64>,
}

fn fit_rows(seed: u64, fits: &SpreadFits) -> Vec<FitRow> {
    let row = |regressor, fit: &Option<PowerLawFit>, reference| {
        fit.map(|f| FitRow {
            kind: "estimate",
            seed,
            regressor,
            points: f.points,
            zero_spreads_excluded: fits.zero_spreads,
            slope: f.exponent,
            slope_lo: f.exponent_lo,
            slope_hi: f.exponent_hi,
            fit_constant: f.constant,
            r2: f.r2,
            reference_slope: reference,
        })
    };
    [
        row("ln_n1", &fits.width, None),
        row("ln_wdc_epsilon_lower_bound", &fits.epsilon, Some(THEOREM_EXPONENT)),
        row(
            "ln_rrcp_epsilon_sampled_lower_bound",
            &fits.rrcp_epsilon,
            Some(THEOREM_EXPONENT),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn figures(out: &OutputDir, rungs: &[RungSummary], points: &[SpreadPoint]) -> Result<()> {
    let line = |label: &str, f: &dyn Fn(&RungSummary) -> f64| Series {
        label: label.into(),
        points: rungs.iter().map(|s| (s.n1 as f64, f(s))).collect(),
    };
    line_plot_with_dots(
        &out.file("exact_sweep_spread.png"),
        "Spread of the spurious minima around -rho_d x0 against width",
        "first hidden width n_1 (neurons)",
        "spread max |x + rho_d x0| (units of |x0|)",
        &[
            line("median over the rung's instances", &|s| s.spread_median),
            line("largest", &|s| s.spread_max),
        ],
        &[Series {
            label: "one instance".into(),
            points: points.iter().map(|p| (p.n1, p.spread)).collect(),
        }],
    )?;
    line_plot(
        &out.file("exact_sweep_counts.png"),
        "Spurious local minima (deeper than the threshold) against width",
        "first hidden width n_1 (neurons)",
        "spurious minima per instance (count, mean)",
        &[line("counted spurious minima", &|s| s.spurious_mean)],
        true,
        false,
    )
}

/// Reads the rows back from `folders`, writes the final outputs into `staging` and commits it.
pub fn finalize(
    ctx: &Context,
    study: &ExactSweep,
    folders: &[ShardFolder],
    staging: OutputDir,
    command: &str,
) -> Result<Outcome> {
    let rows = collect(study, folders)?;
    let rungs = crate::landscape::exact::sweep::rung_summaries(&study.plan, &rows);
    let points = spread_points(&rows);
    let fits = spread_fits(&points);
    let fit_table = fit_rows(study.plan.seed, &fits);
    write_rows(&staging, "exact_sweep.csv", &rows)?;
    staging.write_csv("exact_sweep_rungs.csv", &rungs)?;
    if !fit_table.is_empty() {
        staging.write_csv("exact_sweep_fit.csv", &fit_table)?;
    }
    figures(&staging, &rungs, &points)?;
    let config = study.config();
    let recorded = serde_json::json!({"config": config, "config_hash": config_hash(study.kind(), &config)});
    let dir = ctx.finish(staging, command, &recorded)?;
    let mut human = format!(
        "exact landscape sweep: {} instances → {}\n  counted: certified spurious local minima with basin depth > {:.1e} f(0); spread = largest |x + ρ_d x0|/|x0| among them (0 when none)\n",
        rows.len(),
        dir.display(),
        study.plan.min_depth
    );
    human += "  widths          m      inst  spurious (mean)  zero  spread median  max     ∠(x,−x0) median  max f(−x)/f(x)  fails  outside old balls  GD spurious runs  GD found (basin)  WDC ε ≥ (mean)  RRCP ε ≥ (mean, sampled)\n";
    let opt = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |x| format!("{x:.3}"));
    for s in &rungs {
        human += &format!(
            "  {:<14} {:>6}  {:>4}  {:>15.2}  {:>4}  {:>13.3}  {:>6.3}  {:>14.1}°  {:>14}  {:>5}  {:>17}  {:>16}  {:>16}  {:>14}  {}\n",
            s.widths,
            s.m,
            s.instances,
            s.spurious_mean,
            s.zero_spread,
            s.spread_median,
            s.spread_max,
            s.max_angle_neg_median_deg,
            opt(s.max_negation_ratio),
            s.negation_fails,
            s.outside_fixed_balls,
            opt(s.gd_spurious_fraction_mean),
            opt(s.gd_found_basin_fraction_mean),
            opt(s.wdc_epsilon_lower_bound_mean),
            opt(s.rrcp_epsilon_sampled_lower_bound_mean),
        );
    }
    for f in &fit_table {
        human += &format!(
            "  fit: ln spread = {:.3} · {} + c, 95% interval [{:.3}, {:.3}] ({} instances, {} with spread 0 left out, R² = {:.3}){}\n",
            f.slope,
            f.regressor,
            f.slope_lo,
            f.slope_hi,
            f.points,
            f.zero_spreads_excluded,
            f.r2,
            f.reference_slope.map_or_else(String::new, |r| format!(
                "; theorem: ε^{r} (ε here is a sampled lower bound)"
            )),
        );
    }
    let json = serde_json::json!({"command": command, "out": dir, "rungs": rungs, "fits": fit_table});
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}

/// The memory of the sweep: one instance of the largest rung per thread (weights, `A`, the
/// enumeration, the census runs, the WDC pair search, the RRCP tuple search) and every trial's
/// row.
fn footprint(args: &LandscapeExactArgs, rungs: &[(Vec<usize>, usize)], threads: usize) -> Footprint {
    let instance = |(widths, m): &(Vec<usize>, usize)| {
        let n = widths.last().copied().unwrap_or(0);
        network_words(widths)
            + measurement_words(*m, n)
            + exact_enumeration_words(widths, *m)
            + lockstep_words(args.census_starts as f64, widths, *m)
            + widths
                .windows(2)
                .map(|w| wdc_search_words(args.wdc_pairs, 2, w[0]) + wdc_workspace_words(w[1]))
                .fold(0.0, f64::max)
    };
    let largest = rungs.iter().map(instance).fold(0.0, f64::max);
    let rrcp = rungs
        .iter()
        .map(|(widths, m)| rrcp_search_words(args.rrcp_tuples, widths, *m))
        .fold(0.0, f64::max);
    Footprint::new()
        .words(
            "--ladder",
            rungs.iter().map(|r| r.0[1].to_string()).collect::<Vec<_>>().join(","),
            "one instance per thread",
            largest * threads.max(1) as f64,
        )
        .words(
            "--rrcp-tuples",
            args.rrcp_tuples,
            "one RRCP tuple search per thread",
            rrcp * threads.max(1) as f64,
        )
        .words(
            "--trials",
            args.trials,
            "the trials' rows",
            trial_words((args.trials * rungs.len()) as f64, 1.0),
        )
}

/// The sweep's plan from the options (every value checked, sizes before allocating).
fn plan(ctx: &Context, args: &LandscapeExactArgs) -> Result<ExactSweepPlan> {
    if args.ladder.is_empty() {
        return Err(Error::param(
            "--ladder",
            "(none)",
            "give at least one first hidden width, e.g. --ladder 50,100,200",
        ));
    }
    let mut rungs = Vec::new();
    for &n1 in &args.ladder {
        let widths = vec![2, n1, 4 * n1];
        validate_widths(&widths)?;
        let m = args.m.unwrap_or(4 * n1);
        at_least(
            "--m",
            m,
            1,
            "use at least one measurement, e.g. --m 800 (default: 4 n_1)",
        )?;
        rungs.push((widths, m));
    }
    at_least(
        "--trials",
        args.trials,
        1,
        "run at least one instance per rung, e.g. --trials 9",
    )?;
    if !(args.min_depth.is_finite() && (0.0..1.0).contains(&args.min_depth)) {
        return Err(Error::param(
            "--min-depth",
            args.min_depth,
            "give a depth threshold relative to f(0) in [0, 1), e.g. --min-depth 1e-6",
        ));
    }
    check_tau(args.tau)?;
    positive("--margin", args.margin)?;
    ctx.budget.check(&footprint(args, &rungs, ctx.threads))?;
    Ok(ExactSweepPlan {
        seed: ctx.seed,
        rungs,
        trials: args.trials as u64,
        min_depth: args.min_depth,
        tau: args.tau,
        margin: args.margin,
        census_starts: args.census_starts,
        wdc_pairs: args.wdc_pairs,
        rrcp_tuples: args.rrcp_tuples,
    })
}

/// Runs `dpr-audit landscape exact --sweep`.
pub fn run(ctx: &Context, args: &LandscapeExactArgs) -> Result<Outcome> {
    let study = ExactSweep { plan: plan(ctx, args)? };
    let out = ctx.out_dir("landscape-exact-sweep");
    match run_trials(ctx, &study, &args.scale_out, &out, "landscape exact --sweep")? {
        Ran::Shard(outcome) => Ok(outcome),
        Ran::Whole { staging, folders, .. } => finalize(ctx, &study, &folders, staging, "landscape exact --sweep"),
    }
}
