//! Putting shards back together: every trial of the study exactly once, from shards that ran
//! the same configuration with the same version.

use std::path::{Path, PathBuf};

use csv::StringRecord;

use super::store::{ID_COLUMN, MANIFEST_FILE, ShardManifest, StoredRows, parse_rows, read_rows};
use super::{Study, TrialRows, config_hash};
use crate::error::{Error, Result};

/// A shard folder read back.
#[derive(Clone, Debug)]
pub struct ShardFolder {
    /// Where it is.
    pub dir: PathBuf,
    /// Its `shard.json`.
    pub manifest: ShardManifest,
    /// Its completed trials and their rows.
    pub rows: StoredRows,
}

fn refuse(path: &Path, reason: impl Into<String>) -> Error {
    Error::Trials {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The shard folders `dirs` name: each is a shard folder (it holds `shard.json`) or a folder
/// whose `shard-*` sub-folders are shard folders (taken in name order).
pub fn expand(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in dirs {
        if dir.join(MANIFEST_FILE).exists() {
            out.push(dir.clone());
            continue;
        }
        let entries = std::fs::read_dir(dir).map_err(|source| Error::MissingInput {
            path: dir.clone(),
            source,
        })?;
        let mut shards: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("shard-"))
                    && p.join(MANIFEST_FILE).exists()
            })
            .collect();
        if shards.is_empty() {
            return Err(refuse(
                dir,
                format!(
                    "is not a shard folder (no {MANIFEST_FILE}) and holds no shard-* folders; give the folders `sweep --shard i/N` wrote"
                ),
            ));
        }
        shards.sort();
        out.extend(shards);
    }
    Ok(out)
}

/// Reads the shard folders `dirs` name (see [`expand`]) and checks that each holds only intact
/// records (see [`super::store`]; otherwise the damaged trials are listed and the fix is
/// `--resume` on that shard) and that they belong to one study: same kind, same configuration
/// hash.
pub fn read_folders(dirs: &[PathBuf]) -> Result<Vec<ShardFolder>> {
    let folders = expand(dirs)?
        .into_iter()
        .map(|dir| {
            let manifest = ShardManifest::read(&dir)?;
            let rows = read_rows(&dir)?;
            if let Some(damage) = rows.damage(20) {
                return Err(refuse(
                    &dir,
                    format!(
                        "{damage}; rerun this shard with --resume to repair it (the damaged trials run again), then merge"
                    ),
                ));
            }
            if let Some(id) = rows
                .done
                .iter()
                .find(|id| manifest.trial_ids.binary_search(id).is_err())
            {
                return Err(refuse(
                    &dir,
                    format!("holds trial {id}, which its shard does not own; the folder is corrupt"),
                ));
            }
            Ok(ShardFolder { dir, manifest, rows })
        })
        .collect::<Result<Vec<_>>>()?;
    let Some(first) = folders.first() else {
        return Err(Error::param("merge", "no folders", "give at least one shard folder"));
    };
    for other in &folders[1..] {
        if other.manifest.kind != first.manifest.kind || other.manifest.config_hash != first.manifest.config_hash {
            return Err(refuse(
                &other.dir,
                format!(
                    "ran a different study ({} with config hash {}) than {} ({} with config hash {}); merge only shards of one run",
                    other.manifest.kind,
                    other.manifest.config_hash,
                    first.dir.display(),
                    first.manifest.kind,
                    first.manifest.config_hash
                ),
            ));
        }
    }
    Ok(folders)
}

/// At most `shown` trials of `ids`, described, for an error message.
fn listing<S: Study>(study: &S, ids: &[u64], shown: usize) -> String {
    let mut text: Vec<String> = ids
        .iter()
        .take(shown)
        .map(|&id| format!("{id} ({})", study.describe(id)))
        .collect();
    if ids.len() > shown {
        text.push(format!("… and {} more", ids.len() - shown));
    }
    text.join(", ")
}

/// The rows of `study` from `folders`, sorted by trial id, after checking that the folders ran
/// this study's configuration and hold every trial exactly once.
pub fn collect<S: Study>(study: &S, folders: &[ShardFolder]) -> Result<TrialRows<S::Row>> {
    let place = PathBuf::from(
        folders
            .iter()
            .map(|f| f.dir.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let hash = config_hash(study.kind(), &study.config());
    if let Some(f) = folders.iter().find(|f| f.manifest.config_hash != hash) {
        return Err(refuse(
            &f.dir,
            format!(
                "was written by dpr-audit {} with config hash {}, but this dpr-audit {} computes {hash} for its configuration; merge with the version that ran the shards",
                f.manifest.version,
                f.manifest.config_hash,
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    let total = study.len();
    let mut count = vec![0u32; total as usize];
    for f in folders {
        for &id in &f.rows.done {
            let slot = count
                .get_mut(id as usize)
                .ok_or_else(|| refuse(&f.dir, format!("holds trial {id}, but the study has {total} trials")))?;
            *slot += 1;
        }
    }
    let missing: Vec<u64> = (0..total).filter(|&id| count[id as usize] == 0).collect();
    let duplicated: Vec<u64> = (0..total).filter(|&id| count[id as usize] > 1).collect();
    if !missing.is_empty() || !duplicated.is_empty() {
        let mut reason = String::from("every trial must be present exactly once across the shard folders;");
        if !missing.is_empty() {
            reason += &format!(
                " {} of {total} missing: {} (rerun the shards that own them, shard id mod N, with --resume);",
                missing.len(),
                listing(study, &missing, 10)
            );
        }
        if !duplicated.is_empty() {
            reason += &format!(
                " {} present more than once: {} (a folder given twice, or shards of different splits);",
                duplicated.len(),
                listing(study, &duplicated, 10)
            );
        }
        return Err(refuse(&place, reason.trim_end_matches(';').to_string()));
    }
    let mut rows = Vec::new();
    for f in folders {
        let path = f.dir.join(super::store::ROWS_FILE);
        rows.extend(parse_rows::<S::Row>(
            &path,
            f.rows.header.as_ref(),
            f.rows.rows.clone(),
        )?);
    }
    rows.sort_by_key(|(id, _)| *id);
    Ok(rows)
}

/// The manifest `dpr-audit` writes beside its final outputs.
pub const OUTPUT_MANIFEST: &str = "manifest.json";

/// The rows of `study` from a folder of final outputs that `merge` (or an unsharded run) wrote:
/// its `manifest.json` must record this study's configuration hash (same configuration, master
/// seed and version), and its `rows_file` (written by [`super::store::write_rows`]) must hold
/// every trial exactly once. Rows sorted by trial id, as [`collect`] returns them, so whatever
/// is computed from them equals what the unsharded run computes.
pub fn read_merged<S: Study>(study: &S, dir: &Path, rows_file: &str) -> Result<TrialRows<S::Row>> {
    let manifest_path = dir.join(OUTPUT_MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).map_err(|source| Error::MissingInput {
        path: manifest_path.clone(),
        source,
    })?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| refuse(&manifest_path, format!("is not a dpr-audit manifest ({e})")))?;
    let Some(recorded) = manifest.pointer("/parameters/config_hash").and_then(|v| v.as_str()) else {
        return Err(refuse(
            &manifest_path,
            "records no configuration hash: not the output folder of `merge` or of a study run",
        ));
    };
    let config = study.config();
    let hash = config_hash(study.kind(), &config);
    if recorded != hash {
        let seed = |v: &serde_json::Value| v.get("seed").map_or_else(|| "?".to_string(), ToString::to_string);
        return Err(refuse(
            dir,
            format!(
                "holds a run with config hash {recorded} (master seed {}, dpr-audit {}), but the protocol asked for gives {hash} (master seed {}, dpr-audit {}); merge the shards of exactly this configuration, run with the same --seed and version",
                manifest
                    .pointer("/parameters/config")
                    .map_or_else(|| "?".to_string(), seed),
                manifest.get("version").and_then(|v| v.as_str()).unwrap_or("?"),
                seed(&config),
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    let path = dir.join(rows_file);
    let mut reader = csv::Reader::from_path(&path).map_err(|e| refuse(&path, format!("cannot be read ({e})")))?;
    let header = reader
        .headers()
        .map_err(|e| refuse(&path, format!("has no readable header ({e})")))?
        .clone();
    if header.get(0) != Some(ID_COLUMN) {
        return Err(refuse(
            &path,
            format!("the first column must be {ID_COLUMN}; not a rows file"),
        ));
    }
    let columns: StringRecord = header.iter().skip(1).collect();
    let mut raw = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| refuse(&path, format!("line {} is not readable CSV ({e})", line + 2)))?;
        let id = record
            .get(0)
            .and_then(|f| f.parse::<u64>().ok())
            .filter(|&id| id < study.len())
            .ok_or_else(|| {
                refuse(
                    &path,
                    format!(
                        "line {} names no trial of the study's {} (trial_id {:?})",
                        line + 2,
                        study.len(),
                        record.get(0).unwrap_or("")
                    ),
                )
            })?;
        raw.push((id, record.iter().skip(1).collect::<StringRecord>()));
    }
    let mut ids: Vec<u64> = raw.iter().map(|(id, _)| *id).collect();
    ids.dedup();
    let complete = ids.len() as u64 == study.len() && ids.windows(2).all(|w| w[0] < w[1]);
    if !complete {
        return Err(refuse(
            &path,
            format!(
                "must hold each of the study's {} trials once, in order; it holds {} distinct trial ids in {} rows: merge every shard",
                study.len(),
                ids.len(),
                raw.len()
            ),
        ));
    }
    parse_rows(&path, Some(&columns), raw)
}
