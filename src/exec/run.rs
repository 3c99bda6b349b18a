//! Running a study's trials: one shard into its folder (resumable), or all of them in memory.
//!
//! Trials run in parallel on rayon's pool, one trial per task (`with_max_len(1)`), so the pool
//! stays busy however unequal the trials are; whatever a trial parallelises inside itself
//! (a solver's lock-step batch split by columns) nests in the same pool. Results never depend
//! on the thread count: a trial depends only on its id, and outputs are sorted by id.

use std::path::Path;

use rayon::prelude::*;

use super::shard::Shard;
use super::store::{MANIFEST_FILE, RowSink, ShardManifest, StoredRows, read_rows};
use super::{Study, TrialRows, config_hash, flatten};
use crate::error::{Error, Result};
use crate::report::manifest::utc_now;
use crate::report::output::OutputLock;

/// How a shard run was invoked (recorded in `shard.json`).
#[derive(Clone, Copy, Debug)]
pub struct Invocation<'a> {
    /// Continue from the rows already in the folder.
    pub resume: bool,
    /// The command line.
    pub command_line: &'a [String],
    /// Worker threads.
    pub threads: usize,
}

/// What a shard run did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ShardReport {
    /// The shard.
    pub shard: Shard,
    /// Trials the shard owns.
    pub trials: usize,
    /// Trials found completed in the folder (resume).
    pub reused: usize,
    /// Trials run now.
    pub ran: usize,
    /// Trials listed as done whose records were damaged (torn, missing, duplicated or altered
    /// rows): dropped and run again.
    pub repaired: Vec<u64>,
}

fn refuse(dir: &Path, reason: String) -> Error {
    Error::Trials {
        path: dir.to_path_buf(),
        reason,
    }
}

/// Checks that the rows in `dir` may be continued by this run, and returns the manifest to
/// keep (the earlier one when resuming).
fn check_existing(
    dir: &Path,
    stored: &StoredRows,
    hash: &str,
    ids: &[u64],
    resume: bool,
) -> Result<Option<ShardManifest>> {
    if !resume {
        let earlier = stored.done.len() + stored.broken.len();
        if earlier > 0 {
            return Err(refuse(
                dir,
                format!(
                    "holds {earlier} completed trials of an earlier run; pass --resume to continue it (on a finished run it runs nothing again), or remove the folder to start over"
                ),
            ));
        }
        return Ok(None);
    }
    if !dir.join(MANIFEST_FILE).exists() {
        if stored.done.is_empty() {
            return Ok(None);
        }
        return Err(refuse(
            dir,
            format!("has completed trials but no {MANIFEST_FILE}; remove the folder to start over"),
        ));
    }
    let manifest = ShardManifest::read(dir)?;
    if manifest.config_hash != hash {
        return Err(refuse(
            dir,
            format!(
                "was run with a different configuration or version (hash {} ≠ {hash}); use another --out, or remove the folder to start over",
                manifest.config_hash
            ),
        ));
    }
    if let Some(id) = stored.done.iter().find(|id| ids.binary_search(id).is_err()) {
        return Err(refuse(
            dir,
            format!("holds trial {id}, which this shard does not own; the folder is corrupt"),
        ));
    }
    Ok(Some(manifest))
}

/// Runs the trials of `shard` that are not yet done in `dir` (all of them unless resuming),
/// appending each completed trial's rows; `tick` is called after each trial. The lock of
/// `dir` is held throughout (a second process on the same shard is refused at once); records
/// of trials that are not intact are dropped and those trials run again.
pub fn run_shard<S: Study>(
    study: &S,
    shard: Shard,
    dir: &Path,
    how: Invocation<'_>,
    tick: &(dyn Fn() + Sync),
) -> Result<ShardReport> {
    let config = study.config();
    let hash = config_hash(study.kind(), &config);
    let ids = shard.ids(study.len());
    let _lock = OutputLock::acquire(dir)?;
    let found = read_rows(dir)?;
    let earlier = check_existing(dir, &found, &hash, &ids, how.resume)?;
    // Without a matching earlier manifest nothing in the folder is kept (not even a header).
    let (stored, repaired) = if earlier.is_some() {
        let repaired = found.broken.iter().copied().collect();
        (found, repaired)
    } else {
        (StoredRows::default(), Vec::new())
    };
    let missing: Vec<u64> = ids.iter().copied().filter(|id| !stored.done.contains(id)).collect();
    let sink = RowSink::open(dir, &stored)?;
    let now = utc_now();
    let mut manifest = ShardManifest {
        tool: "dpr-audit".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        kind: study.kind().into(),
        config_hash: hash,
        config,
        shard,
        trials_total: study.len(),
        trial_ids: ids.clone(),
        trials_done: stored.done.len() as u64,
        complete: missing.is_empty(),
        resumed: earlier.as_ref().map_or(0, |m| m.resumed + 1),
        command_line: how.command_line.to_vec(),
        threads: how.threads,
        started_utc: earlier.map_or_else(|| now.clone(), |m| m.started_utc),
        updated_utc: now,
    };
    manifest.write(dir)?;
    missing.par_iter().with_max_len(1).try_for_each(|&id| {
        crate::cancel::poll();
        let rows = study.run(id)?;
        sink.append(id, &rows)?;
        tick();
        Ok::<(), Error>(())
    })?;
    manifest.trials_done = ids.len() as u64;
    manifest.complete = true;
    manifest.updated_utc = utc_now();
    manifest.write(dir)?;
    Ok(ShardReport {
        shard,
        trials: ids.len(),
        reused: ids.len() - missing.len(),
        ran: missing.len(),
        repaired,
    })
}

/// Runs every trial of `study` in memory (no files), in parallel; rows sorted by trial id.
pub fn run_all<S: Study>(study: &S, tick: &(dyn Fn() + Sync)) -> Result<TrialRows<S::Row>> {
    let ids: Vec<u64> = (0..study.len()).collect();
    let trials = ids
        .into_par_iter()
        .with_max_len(1)
        .map(|id| {
            crate::cancel::poll();
            let rows = study.run(id)?;
            tick();
            Ok((id, rows))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(flatten(trials))
}
