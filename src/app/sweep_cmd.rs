//! `dpr-audit sweep --config FILE`: a success-rate sweep ([`crate::sweep`]) over a TOML grid.
//!
//! - Unsharded: the trials run into `OUT/shard-0-of-1/` (rows appended per trial, so
//!   `--resume` continues a killed run), then the final outputs are written from the complete
//!   rows and replace `OUT` (the working folder goes with it).
//! - `--shard i/N` (or a Slurm array task): only shard `i`'s trials run, into
//!   `OUT/shard-i-of-N/`; `dpr-audit merge OUT` (or the shard folders) writes the final outputs.
//!
//! Both paths produce the final outputs with [`finalize`] from rows read back from the shard
//! folders, so their CSV files are byte-identical. (A finished unsharded run keeps its working
//! folder in `OUT`: `--resume` on it runs no trial again.)

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cli::SweepArgs;
use super::context::{Context, Outcome};
use super::scaleout::{Ran, repair_note, run_trials};
use crate::error::Result;
use crate::exec::merge::{ShardFolder, collect};
use crate::exec::{Study, config_hash};
use crate::limits::{Footprint, lockstep_words, measurement_words, network_words, trial_words};
use crate::report::output::OutputDir;
use crate::solvers::Method;
use crate::sweep::config::{Grid, Setting};
use crate::sweep::config::{default_out_name, load};
use crate::sweep::summary::{Analysis, TransitionRow, layers_label};
use crate::sweep::trial::snr_label;
use crate::sweep::{SweepStudy, analyse, write_outputs};

/// The parameters recorded in `manifest.json`.
#[derive(Serialize)]
struct Recorded<'a> {
    config_file: Option<&'a Path>,
    merged_from: Vec<PathBuf>,
    resume: bool,
    config_hash: String,
    config: serde_json::Value,
}

/// What the final outputs hold, for the summary.
pub struct Finished {
    /// The committed output folder.
    pub dir: PathBuf,
    /// The analysis.
    pub analysis: Analysis,
    /// Trials in the study.
    pub trials: u64,
    /// Files written (relative).
    pub files: Vec<String>,
}

/// Reads the rows of `study` back from `folders` (every trial exactly once), analyses them and
/// writes the final outputs into `staging`, then commits it. `command` is `sweep` (then `config_file`
/// and `resume` describe the run) or `merge` (then the manifest lists the folders).
pub fn finalize(
    ctx: &Context,
    study: &SweepStudy,
    folders: &[ShardFolder],
    staging: OutputDir,
    command: &str,
    (config_file, resume): (Option<&Path>, bool),
) -> Result<Finished> {
    let rows = collect(study, folders)?;
    let analysis = analyse(&rows, study.trials());
    let written = write_outputs(&staging, Path::new(""), study, &rows, &analysis)?;
    let config = study.config();
    let recorded = Recorded {
        config_file,
        merged_from: if command == "merge" {
            folders.iter().map(|f| f.dir.clone()).collect()
        } else {
            Vec::new()
        },
        resume,
        config_hash: config_hash(study.kind(), &config),
        config,
    };
    let ctx = Context {
        seed: study.seed,
        ..ctx.clone()
    };
    let dir = ctx.finish(staging, command, &recorded)?;
    Ok(Finished {
        dir,
        analysis,
        trials: study.len(),
        files: written.files,
    })
}

fn describe_transition(t: &TransitionRow) -> String {
    let value = match t.m_star {
        Some(m) => format!("m* = {m:.1} (estimate)"),
        None if t.m_star_kind == "below_grid" => format!("m* < {} (success ≥ 50% on the whole grid)", t.m_min),
        None => format!("m* > {} (success < 50% on the whole grid)", t.m_max),
    };
    let bracket = |v: Option<f64>| v.map_or_else(|| "open".to_string(), |m| format!("{m}"));
    format!(
        "  {:<5} k = {:<3} net {:<12} snr {:<6} {} restarts, {} selection: {value}; Wilson bracket [{}, {}]\n",
        t.method.name(),
        t.k,
        layers_label(&t.widths),
        snr_label(t.snr_db),
        t.restarts,
        t.selection.name(),
        bracket(t.m_star_lo),
        bracket(t.m_star_hi)
    )
}

/// The human and JSON summary of finished outputs.
pub fn summary(done: &Finished, header: String, extra: serde_json::Value) -> Outcome {
    const SHOWN: usize = 40;
    let a = &done.analysis;
    let mut human = header;
    for t in a.transitions.iter().take(SHOWN) {
        human += &describe_transition(t);
    }
    if a.transitions.len() > SHOWN {
        human += &format!("  … {} more curves in transitions.csv\n", a.transitions.len() - SHOWN);
    }
    for f in &a.fits {
        human += &match (f.exponent, f.exponent_lo, f.exponent_hi, f.r2) {
            (Some(b), Some(lo), Some(hi), Some(r2)) => format!(
                "  fit {} ({} selection) m* ∝ {}^b: b = {b:.3} [{lo:.3}, {hi:.3}] (95% t interval, {} curves), R² = {r2:.3}; theorem's exponent {}\n",
                f.method.name(),
                f.selection.name(),
                f.variable,
                f.points,
                f.reference_exponent
            ),
            _ => format!(
                "  fit {} ({} selection) m* against {}: {} of {} curves have an interpolated m*, too few for a fit (it needs 3)\n",
                f.method.name(),
                f.selection.name(),
                f.variable,
                f.points,
                f.curves
            ),
        };
    }
    let json = serde_json::json!({
        "out": done.dir,
        "trials": done.trials,
        "files": done.files,
        "transitions": a.transitions,
        "fits": a.fits,
        "run": extra,
    });
    Outcome {
        human,
        json,
        exit_code: 0,
    }
}

/// The memory of a sweep: one trial of its largest setting at a time (weights, `A`, the runs in
/// lock-step) and every trial's row.
fn footprint(grid: &Grid) -> Footprint {
    let one = |s: &Setting| {
        let widths = s.widths();
        let runs = s.restarts as f64 * if s.method == Method::Adam2 { 2.0 } else { 1.0 };
        network_words(&widths) + measurement_words(s.m, s.n()) + lockstep_words(runs, &widths, s.m)
    };
    let largest = grid.settings.iter().max_by(|a, b| one(a).total_cmp(&one(b)));
    let trials = grid.config.trials as f64 * grid.settings.len() as f64;
    let (words, setting) = largest.map_or((0.0, String::new()), |s| {
        let widths = s.widths().iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-");
        (one(s), format!("m {}, restarts {}, widths {widths}", s.m, s.restarts))
    });
    Footprint::new()
        .words("config setting", setting, "one trial of it", words)
        .words(
            "config key trials",
            grid.config.trials,
            "the trials' rows",
            trial_words(trials, 1.0),
        )
}

/// Runs `dpr-audit sweep`.
pub fn run(ctx: &Context, args: SweepArgs) -> Result<Outcome> {
    let grid = load(&args.config)?;
    ctx.budget.check(&footprint(&grid))?;
    let study = SweepStudy::new(grid, ctx.seed);
    let out = ctx.out_dir(&default_out_name(&args.config));
    let (staging, folders, report, seconds) = match run_trials(ctx, &study, &args.scale_out, &out, "sweep")? {
        Ran::Shard(outcome) => return Ok(outcome),
        Ran::Whole {
            staging,
            folders,
            report,
            seconds,
        } => (staging, folders, report, seconds),
    };
    let done = finalize(
        ctx,
        &study,
        &folders,
        staging,
        "sweep",
        (Some(&args.config), args.scale_out.resume),
    )?;
    let header = format!(
        "sweep {}: {} trials ({} settings × {}; {} run now, {} found done) in {seconds:.1} s ({:.1} trials/s, {} threads) → {}\n{}",
        args.config.display(),
        study.len(),
        study.grid.settings.len(),
        study.trials(),
        report.ran,
        report.reused,
        report.ran as f64 / seconds,
        ctx.threads,
        done.dir.display(),
        repair_note(&report)
    );
    let extra = serde_json::json!({"command": "sweep", "ran": report.ran, "reused": report.reused, "repaired": report.repaired, "seconds": seconds, "threads": ctx.threads});
    Ok(summary(&done, header, extra))
}
