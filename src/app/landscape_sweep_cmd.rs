//! `dpr-audit landscape sweep`: the landscape audit against the widths and `m`
//! ([`crate::landscape::sweep`]), shardable (`--shard i/N`, Slurm array defaults), resumable
//! (`--resume`) and mergeable (`dpr-audit merge`) like every study ([`crate::exec`]).
//!
//! Outputs: `landscape_sweep.csv` (one row per instance, with `trial_id`),
//! `landscape_sweep_sizes.csv` (means per size), `landscape_sweep_fit.csv` (the fitted
//! exponent of the empirical radius against the WDC ε lower bound, beside the theorem's 1/4),
//! and the radius and gap figures.

use super::cli::LandscapeSweepArgs;
use super::context::{Context, Outcome};
use super::inputs::at_least;
use super::scaleout::{Ran, run_trials};
use crate::core::network::validate_widths;
use crate::error::{Error, Result};
use crate::exec::merge::{ShardFolder, collect};
use crate::exec::store::write_rows;
use crate::exec::{Study, config_hash};
use crate::landscape::neighbourhoods::check_tau;
use crate::landscape::probes::Lattice;
use crate::landscape::sweep::{LandscapeSweep, SweepPlan};
use crate::landscape::sweep_analysis::{SizeRow, fits, size_rows};
use crate::limits::{
    Footprint, check_grid, lockstep_words, measurement_words, network_words, probe_words, trial_words,
    wdc_search_words, wdc_workspace_words,
};
use crate::report::output::OutputDir;
use crate::report::plot;
use crate::report::plot::Series;

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
        "first hidden width n_1 (neurons)",
        "radius (latent units)",
        &radii,
        true,
        false,
    )?;
    plot::line_plot(
        &out.file("landscape_sweep_gap.png"),
        "Empirical f against expected F",
        "first hidden width n_1 (neurons)",
        "mean |f - F| / F(0) (dimensionless)",
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
