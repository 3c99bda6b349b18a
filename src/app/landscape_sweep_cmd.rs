//! `dpr-audit landscape sweep`: the landscape audit against the widths and `m`
//! ([`crate::landscape::sweep`]), shardable (`--shard i/N`, Slurm array defaults), resumable
//! (`--resume`) and mergeable (`dpr-audit merge`) like every study ([`crate::exec`]).
//!
//! Outputs: `landscape_sweep.csv` (one row per instance, with `trial_id`),
//! `landscape_sweep_sizes.csv` (means per size), `landscape_sweep_fit.csv` (the fitted
//! exponent of the empirical radius against the WDC ε lower bound, beside the theorem's 1/4),
//! and the radius and gap figures.

use serde::Serialize;

use super::cli::LandscapeSweepArgs;
use super::context::{Context, Outcome};
use super::inputs::at_least;
use super::scaleout::{Ran, run_trials};
use crate::core::network::validate_widths;
use crate::error::{Error, Result};
use crate::exec::merge::{ShardFolder, collect};
use crate::exec::store::write_rows;
use crate::exec::{Study, TrialRows, config_hash};
use crate::landscape::neighbourhoods::check_tau;
use crate::landscape::probes::Lattice;
use crate::landscape::sweep::{LandscapeSweep, SweepPlan, SweepRow};
use crate::limits::{
    Footprint, check_grid, lockstep_words, measurement_words, network_words, probe_words, trial_words,
    wdc_search_words, wdc_workspace_words,
};
use crate::report::output::OutputDir;
use crate::report::plot;
use crate::report::plot::Series;
use crate::stats::{power_law_fit, spread};

/// The theorem's exponent of the radii in ε (Theorem II.1: radii `∝ ε^{1/4}`).
const THEOREM_EXPONENT: f64 = 0.25;

/// One row of `landscape_sweep_sizes.csv`: the means over one size's instances.
#[derive(Clone, Debug, Serialize)]
struct SizeRow {
    kind: &'static str,
    seed: u64,
    widths: String,
    n1: usize,
    m: usize,
    trials: u64,
    radius_pos: f64,
    radius_neg: f64,
    empirical_radius_pos_mean: Option<f64>,
    empirical_radius_pos_instances: usize,
    empirical_radius_neg_mean: Option<f64>,
    empirical_radius_neg_instances: usize,
    counterexamples_total: usize,
    mean_f_gap: f64,
    mean_f_gap_se: f64,
    census_spurious_clusters_total: usize,
    census_negation_fails_total: usize,
    wdc_epsilon_lower_bound_mean: Option<f64>,
}

/// One row of `landscape_sweep_fit.csv`.
#[derive(Clone, Debug, Serialize)]
struct FitRow {
    kind: &'static str,
    centre: &'static str,
    regressor: &'static str,
    points: usize,
    exponent: f64,
    exponent_lo: f64,
    exponent_hi: f64,
    fit_constant: f64,
    r2: f64,
    reference_exponent: f64,
    reference_in_interval: bool,
}

/// The mean over the defined values, and how many there were (an instance without a probe
/// point that defines an empirical radius, or without a WDC bound, is left out, not counted
/// as zero).
fn mean_of(values: impl Iterator<Item = Option<f64>>) -> (Option<f64>, usize) {
    let v: Vec<f64> = values.flatten().collect();
    ((!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64), v.len())
}

fn size_rows(plan: &SweepPlan, rows: &TrialRows<SweepRow>) -> Vec<SizeRow> {
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

fn fits(rows: &TrialRows<SweepRow>) -> Vec<FitRow> {
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

fn figures(out: &OutputDir, sizes: &[SizeRow]) -> Result<()> {
    let line = |label: &str, f: &dyn Fn(&SizeRow) -> Option<f64>| Series {
        label: label.into(),
        points: sizes.iter().filter_map(|s| Some((s.n1 as f64, f(s)?))).collect(),
    };
    let radii = [
        line("empirical radius around x0 (mean)", &|s| s.empirical_radius_pos_mean),
        line("empirical radius around -rho_d x0 (mean)", &|s| {
            s.empirical_radius_neg_mean
        }),
        line("ball radius around x0 (from S_tau)", &|s| Some(s.radius_pos)),
        line("ball radius around -rho_d x0 (from S_tau)", &|s| Some(s.radius_neg)),
    ];
    plot::line_plot(
        &out.file("landscape_sweep_radii.png"),
        "Neighbourhoods against width",
        "first hidden width n_1",
        "radius (latent units)",
        &radii,
        true,
        false,
    )?;
    plot::line_plot(
        &out.file("landscape_sweep_gap.png"),
        "Empirical f against expected F",
        "first hidden width n_1",
        "mean |f - F| / F(0)",
        &[line("grid mean of |f - F| / F(0)", &|s| Some(s.mean_f_gap))],
        true,
        true,
    )
}

/// Reads the rows back from `folders`, writes the final outputs into `staging` and commits it.
pub fn finalize(
    ctx: &Context,
    study: &LandscapeSweep,
    folders: &[ShardFolder],
    staging: OutputDir,
    command: &str,
) -> Result<Outcome> {
    let rows = collect(study, folders)?;
    let sizes = size_rows(&study.plan, &rows);
    let fit_rows = fits(&rows);
    write_rows(&staging, "landscape_sweep.csv", &rows)?;
    staging.write_csv("landscape_sweep_sizes.csv", &sizes)?;
    if !fit_rows.is_empty() {
        staging.write_csv("landscape_sweep_fit.csv", &fit_rows)?;
    }
    figures(&staging, &sizes)?;
    let config = study.config();
    let recorded = serde_json::json!({"config": config, "config_hash": config_hash(study.kind(), &config)});
    let dir = ctx.finish(staging, command, &recorded)?;
    let mut human = format!("landscape sweep: {} instances → {}\n", rows.len(), dir.display());
    human += "  widths            m      ball r+   emp r+ (mean)  ball r-   emp r- (mean)  counterex.  |f-F|/F(0) ± SE    spurious (f(-x)>=f(x))  WDC eps (lower bound, mean)\n";
    for s in &sizes {
        let opt = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |x| format!("{x:.4}"));
        human += &format!(
            "  {:<16} {:>6}  {:>8.4}  {:>13}  {:>8.4}  {:>13}  {:>10}  {:.4} ± {:.4}  {:>8} ({})  {}\n",
            s.widths,
            s.m,
            s.radius_pos,
            opt(s.empirical_radius_pos_mean),
            s.radius_neg,
            opt(s.empirical_radius_neg_mean),
            s.counterexamples_total,
            s.mean_f_gap,
            s.mean_f_gap_se,
            s.census_spurious_clusters_total,
            s.census_negation_fails_total,
            opt(s.wdc_epsilon_lower_bound_mean)
        );
    }
    for f in &fit_rows {
        human += &format!(
            "  fit around {}: empirical radius ≈ {:.3} · eps^{:.3} with eps the WDC lower bound (the RRCP part of the theorem's eps is not in it), 95% interval [{:.3}, {:.3}] ({} instances, R² = {:.3}); theorem: eps^1/4 ({})\n",
            f.centre,
            f.fit_constant,
            f.exponent,
            f.exponent_lo,
            f.exponent_hi,
            f.points,
            f.r2,
            if f.reference_in_interval {
                "inside the interval"
            } else {
                "OUTSIDE the interval"
            }
        );
    }
    let json = serde_json::json!({"command": command, "out": dir, "sizes": sizes, "fits": fit_rows});
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}

/// The memory of the sweep: one instance of the largest size at a time (weights, `A`, the
/// grid's points, the census runs, the WDC pair search) and every trial's rows.
fn footprint(args: &LandscapeSweepArgs, sizes: &[(Vec<usize>, usize)]) -> Footprint {
    let instance = |(widths, m): &(Vec<usize>, usize)| {
        let n = widths.last().copied().unwrap_or(0);
        network_words(widths)
            + measurement_words(*m, n)
            + lockstep_words(args.census_starts as f64, widths, *m)
            + widths
                .windows(2)
                .map(|w| wdc_search_words(args.wdc_pairs, 1, w[0]) + wdc_workspace_words(w[1]))
                .fold(0.0, f64::max)
    };
    let largest = sizes.iter().map(instance).fold(0.0, f64::max);
    Footprint::new()
        .words("--hidden", args.hidden.join(","), "one instance", largest)
        .words(
            "--grid",
            args.grid,
            "the grid's points",
            probe_words((args.grid as f64).powi(2), args.k),
        )
        .words(
            "--trials",
            args.trials,
            "the trials' rows",
            trial_words((args.trials * sizes.len()) as f64, 1.0 + args.census_starts as f64),
        )
}

fn plan(ctx: &Context, args: &LandscapeSweepArgs) -> Result<SweepPlan> {
    if args.hidden.is_empty() {
        return Err(Error::param(
            "--hidden",
            "(none)",
            "give at least one size, e.g. --hidden 100x400,200x800",
        ));
    }
    let hidden: Vec<Vec<usize>> = args
        .hidden
        .iter()
        .map(|h| {
            h.split('x')
                .map(|n| n.trim().parse::<usize>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| Error::param("--hidden", h, "give hidden widths like 100x400 (n_1 x n_2 x …)"))
        })
        .collect::<Result<_>>()?;
    let ms: Vec<usize> = match args.m.len() {
        1 => vec![args.m[0]; hidden.len()],
        n if n == hidden.len() => args.m.clone(),
        n => {
            return Err(Error::param(
                "--m",
                n,
                format!("give one m for every size or one for all ({} sizes)", hidden.len()),
            ));
        }
    };
    let mut sizes = Vec::new();
    for (h, &m) in hidden.iter().zip(&ms) {
        let widths: Vec<usize> = std::iter::once(args.k).chain(h.iter().copied()).collect();
        validate_widths(&widths)?;
        at_least("--m", m, 1, "use at least one measurement, e.g. --m 800")?;
        sizes.push((widths, m));
    }
    at_least(
        "--trials",
        args.trials,
        1,
        "run at least one instance per size, e.g. --trials 3",
    )?;
    check_grid("--grid", args.grid)?;
    Lattice::new(args.grid, args.range)?;
    check_tau(args.tau)?;
    ctx.budget.check(&footprint(args, &sizes))?;
    super::inputs::positive("--margin", args.margin)?;
    Ok(SweepPlan {
        seed: ctx.seed,
        sizes,
        trials: args.trials as u64,
        grid: args.grid,
        range: args.range,
        tau: args.tau,
        margin: args.margin,
        census_starts: args.census_starts,
        wdc_pairs: args.wdc_pairs,
    })
}

/// Runs `dpr-audit landscape sweep`.
pub fn run(ctx: &Context, args: LandscapeSweepArgs) -> Result<Outcome> {
    let study = LandscapeSweep {
        plan: plan(ctx, &args)?,
    };
    let out = ctx.out_dir("landscape-sweep");
    match run_trials(ctx, &study, &args.scale_out, &out, "landscape sweep")? {
        Ran::Shard(outcome) => Ok(outcome),
        Ran::Whole { staging, folders, .. } => finalize(ctx, &study, &folders, staging, "landscape sweep"),
    }
}
