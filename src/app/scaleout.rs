//! The shared flow of a subcommand whose work is a [`Study`] (`wdc`/`rrcp` scaling studies):
//! run the trials into `OUT/shard-0-of-1/` (or, with `--shard i/N`, only shard `i`'s trials
//! into `OUT/shard-i-of-N/`), resumable with `--resume`, then hand the folders to the
//! command's finaliser, which `dpr-audit merge` calls too, so both paths write byte-identical
//! CSV files (see [`crate::exec`]).
//!
//! An unsharded run takes the lock of `OUT` and checks that it may replace it before the
//! first trial (so a second run on `OUT` is refused at once); its final outputs keep the
//! working folder `shard-0-of-1/`, so `--resume` on a finished output runs nothing again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cli::ScaleOutArgs;
use super::context::{Context, Outcome};
use crate::error::{Error, Result};
use crate::exec::Study;
use crate::exec::merge::{ShardFolder, read_folders};
use crate::exec::run::{Invocation, ShardReport, run_shard};
use crate::exec::shard::Shard;
use crate::report::output::OutputDir;
use crate::report::progress;

/// What running a study's trials left to do.
pub enum Ran {
    /// A shard ran; its summary (the final outputs come from `merge`).
    Shard(Outcome),
    /// Every trial ran (or was found done): the folder to finalise from.
    Whole {
        /// The staging folder of `OUT`, holding the working folder `shard-0-of-1/` already.
        staging: OutputDir,
        /// The one shard folder, `OUT/shard-0-of-1`.
        folders: Vec<ShardFolder>,
        /// What the run did.
        report: ShardReport,
        /// Wall-clock seconds.
        seconds: f64,
    },
}

/// Refuses `--shard`/`--resume` for a run that is not a study (e.g. `wdc` of one network).
pub fn refuse_for_single(args: &ScaleOutArgs, fix: &str) -> Result<()> {
    if let Some(shard) = &args.shard {
        return Err(Error::param("--shard", shard, fix));
    }
    if args.resume {
        return Err(Error::param("--resume", "set", fix));
    }
    Ok(())
}

/// Refuses an unsharded run into a folder holding shards of a sharded run (writing the final
/// outputs replaces the folder, which would delete them).
pub fn check_no_foreign_shards(out: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    let mut shards: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("shard-") && *name != Shard::WHOLE.folder_name())
        .collect();
    if shards.is_empty() {
        return Ok(());
    }
    shards.sort();
    Err(Error::param(
        "--out",
        out.display(),
        format!(
            "it holds shard folders of a sharded run ({}), which this unsharded run would replace; merge them with `dpr-audit --out <folder> merge {}`, or choose another --out",
            shards.join(", "),
            out.display()
        ),
    ))
}

/// Runs `study`'s trials (the shard's, with `--shard` or in a Slurm array task) under `out`,
/// with a progress bar per trial; `command` names the subcommand in messages.
pub fn run_trials<S: Study>(ctx: &Context, study: &S, args: &ScaleOutArgs, out: &Path, command: &str) -> Result<Ran> {
    let shard = Shard::resolve(args.shard.as_deref())?;
    let staging = match shard {
        None => {
            let staging = ctx.create_out(out)?;
            check_no_foreign_shards(out)?;
            Some(staging)
        }
        Some(_) => None,
    };
    let running = shard.unwrap_or(Shard::WHOLE);
    let how = Invocation {
        resume: args.resume,
        command_line: &ctx.command_line,
        threads: ctx.threads,
    };
    let bar = progress::bar(running.ids(study.len()).len() as u64, command, ctx.quiet);
    let clock = Instant::now();
    let work = out.join(running.folder_name());
    let report = run_shard(study, running, &work, how, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let seconds = clock.elapsed().as_secs_f64();
    let Some(staging) = staging else {
        return Ok(Ran::Shard(shard_outcome(command, &report, &work, out, seconds)));
    };
    staging.adopt(&work, &running.folder_name())?;
    Ok(Ran::Whole {
        staging,
        folders: read_folders(&[work])?,
        report,
        seconds,
    })
}

/// What a shard run of `command` reports: its trials, where they went, and the merge to run
/// when every shard is done.
pub fn shard_outcome(command: &str, report: &ShardReport, dir: &Path, out: &Path, seconds: f64) -> Outcome {
    let human = format!(
        "{command} shard {}: {} trials ({} run now, {} found done) in {seconds:.1} s → {}\n{}  when every shard is done: dpr-audit --out <merged folder> merge {}\n",
        report.shard.label(),
        report.trials,
        report.ran,
        report.reused,
        dir.display(),
        repair_note(report),
        out.display()
    );
    let json = serde_json::json!({
        "command": command,
        "shard": report,
        "out": dir,
        "seconds": seconds,
    });
    Outcome {
        human,
        json,
        exit_code: 0,
    }
}

/// A line saying which damaged trial records a resumed run dropped and ran again (empty if none).
pub fn repair_note(report: &ShardReport) -> String {
    if report.repaired.is_empty() {
        return String::new();
    }
    let ids: Vec<String> = report.repaired.iter().map(ToString::to_string).collect();
    format!(
        "  repaired: the records of trials {} were damaged (torn, missing, duplicated or altered rows); dropped and run again\n",
        ids.join(", ")
    )
}

/// The shard folders a merged output came from (for its manifest).
pub fn sources(folders: &[ShardFolder]) -> Vec<PathBuf> {
    folders.iter().map(|f| f.dir.clone()).collect()
}
