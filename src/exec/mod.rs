//! Trials, shards, resume and merge: the machinery that lets any long study run on one machine,
//! be split across a job array, survive being killed, and be put back together with output
//! byte-identical to a single uninterrupted run.
//!
//! A **study** ([`Study`]) is an ordered list of trials with stable ids `0..len` (the id is the
//! trial's position in the study's fixed order, e.g. settings of a grid × independent trials).
//! A trial's rows depend only on its id and the study's configuration, never on the thread,
//! the shard or what ran before (every random object draws from a stream keyed by the trial's
//! parameters, see [`crate::rng`]).
//!
//! | piece | what it does |
//! |---|---|
//! | [`shard::Shard`] | `--shard i/N` (or the Slurm array defaults): trial `id` belongs to shard `id mod N` |
//! | [`store`] | a shard's folder: `rows.csv` (a `trial_id` column, then the study's row) and `done.txt` (per completed trial: its id, row count and rows' checksum), appended and flushed per trial; `shard.json` (kind, config and its SHA-256, the shard, its trial ids) |
//! | [`run::run_shard`] | runs the shard's missing trials in parallel (rayon), resuming when asked, holding the shard folder's lock |
//! | [`run::run_all`] | the same in memory, without files (the `verify` claims) |
//! | [`merge::collect`] | reads shard folders, checks the configs agree and every trial is present exactly once |
//! | [`store::write_rows`] | the final rows file, sorted by trial id |
//!
//! **Durability.** A trial's rows are written in one `write` and then its id to `done.txt`,
//! both straight to the file (no user-space buffer): a killed process loses only the trials in
//! flight. On `--resume` only the intact records are kept (a trial listed once in `done.txt`
//! whose rows match its row count and checksum): torn lines, rows of trials not listed and
//! damaged records are dropped, and only the missing trials run, so none is lost or
//! duplicated; `merge` refuses a folder holding anything but intact records. (A crash of the machine
//! itself can lose what the kernel had not yet written to disk; no `fsync` is issued.)
//!
//! **Determinism.** Final outputs are produced from the complete set of rows sorted by trial id
//! (rows within a trial in the order the trial returned them), so an unsharded run, a resumed
//! run and a merge of shards give byte-identical CSV files; timestamps live only in the JSON
//! manifests.
//!
//! **Retrofitting a study** (wdc/rrcp scaling, landscape sweeps): implement [`Study`] (list the
//! trials, run one by id, return its rows), then call [`run::run_shard`] for `--shard` runs,
//! [`run::run_all`] or [`run::run_shard`] on [`shard::Shard::WHOLE`] for a local run, and
//! [`merge::collect`] behind `dpr-audit merge` (which dispatches on [`Study::kind`]; see
//! `app/sweep_cmd.rs` and `app/merge_cmd.rs` for the whole flow).
//!
//! ```
//! use dpr_audit::exec::{Study, run::run_all};
//!
//! /// Trial `id` squares `id` (a stand-in for, e.g., one (k, n, trial) of a WDC study).
//! struct Squares(u64);
//!
//! impl Study for Squares {
//!     type Row = (u64, u64);
//!     fn kind(&self) -> &'static str { "squares" }
//!     fn config(&self) -> serde_json::Value { serde_json::json!({ "n": self.0 }) }
//!     fn len(&self) -> u64 { self.0 }
//!     fn describe(&self, id: u64) -> String { format!("x = {id}") }
//!     fn run(&self, id: u64) -> dpr_audit::Result<Vec<(u64, u64)>> { Ok(vec![(id, id * id)]) }
//! }
//!
//! let rows = run_all(&Squares(4), &|| {}).unwrap();
//! assert_eq!(rows, vec![(0, (0, 0)), (1, (1, 1)), (2, (2, 4)), (3, (3, 9))]);
//! ```

pub mod merge;
pub mod run;
pub mod shard;
pub mod store;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::Result;

/// An ordered list of independent trials with stable ids `0..len`.
pub trait Study: Sync {
    /// One row of the study's tidy CSV (every parameter in its own column; the trial id is
    /// added by this layer as the first column, `trial_id`).
    type Row: Serialize + DeserializeOwned + Send;

    /// The kind of study (e.g. `"sweep"`), recorded in each shard manifest; `merge` rebuilds the
    /// study from its kind and configuration.
    fn kind(&self) -> &'static str;

    /// Everything the rows depend on (parameters and master seed), as JSON: hashed
    /// ([`config_hash`]), recorded in every shard manifest, and handed back to `merge`.
    fn config(&self) -> serde_json::Value;

    /// The number of trials.
    fn len(&self) -> u64;

    /// Whether the study has no trials.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A short description of trial `id` for messages (e.g. `k = 4, m = 20, dpr, trial 3`).
    fn describe(&self, id: u64) -> String;

    /// Runs trial `id` and returns its rows (possibly none). Must depend only on `id` and the
    /// configuration.
    fn run(&self, id: u64) -> Result<Vec<Self::Row>>;
}

/// The SHA-256 (hex) of a study's kind, the crate version and its configuration: two runs may
/// share rows only when their hashes agree. `serde_json` maps are sorted by key, so the text
/// hashed is canonical.
pub fn config_hash(kind: &str, config: &serde_json::Value) -> String {
    let text = serde_json::json!({
        "kind": kind,
        "version": env!("CARGO_PKG_VERSION"),
        "config": config,
    })
    .to_string();
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// Rows of a study tagged by trial id, sorted by id (rows of one trial in their order).
pub type TrialRows<R> = Vec<(u64, R)>;

/// Turns per-trial row lists into [`TrialRows`] sorted by trial id (stable within a trial).
pub fn flatten<R>(mut trials: Vec<(u64, Vec<R>)>) -> TrialRows<R> {
    trials.sort_by_key(|(id, _)| *id);
    trials
        .into_iter()
        .flat_map(|(id, rows)| rows.into_iter().map(move |r| (id, r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_hash_is_canonical_and_sensitive() {
        let a = serde_json::json!({"m": [1, 2], "seed": 1});
        let b: serde_json::Value = serde_json::from_str(r#"{"seed": 1, "m": [1, 2]}"#).unwrap();
        assert_eq!(config_hash("sweep", &a), config_hash("sweep", &b));
        assert_ne!(config_hash("sweep", &a), config_hash("other", &a));
        let c = serde_json::json!({"m": [1, 3], "seed": 1});
        assert_ne!(config_hash("sweep", &a), config_hash("sweep", &c));
        assert_eq!(config_hash("sweep", &a).len(), 64);
    }

    #[test]
    fn flatten_sorts_by_trial_and_keeps_order_within_a_trial() {
        let rows = flatten(vec![(2, vec!["c"]), (0, vec!["a1", "a2"]), (1, vec![])]);
        assert_eq!(rows, vec![(0, "a1"), (0, "a2"), (2, "c")]);
    }
}
