//! A shard's folder on disk, and the final rows file.
//!
//! | file | content |
//! |---|---|
//! | `rows.csv` | header `trial_id,<the study's columns>`, then each completed trial's rows, in completion order |
//! | `done.txt` | one completed trial id per line, written after the trial's rows |
//! | `shard.json` | [`ShardManifest`]: kind, configuration and its hash, the shard, its trial ids, progress |
//!
//! A trial counts as done only once its id is in `done.txt`; its rows were written before in
//! one `write` call, so on reading, rows after the last completed trial (a trial cut off by a
//! kill) and a torn last line are dropped, and [`RowSink::open`] truncates them away before
//! appending.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use csv::StringRecord;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::shard::Shard;
use crate::error::{Error, Result};
use crate::report::output::{OutputDir, write_atomic};

/// The rows file of a shard.
pub const ROWS_FILE: &str = "rows.csv";
/// The completed-trials file of a shard.
pub const DONE_FILE: &str = "done.txt";
/// The manifest of a shard.
pub const MANIFEST_FILE: &str = "shard.json";
/// The name of the trial id column, first in every rows file.
pub const ID_COLUMN: &str = "trial_id";

/// `shard.json`: what a shard folder holds and how it was made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardManifest {
    /// Always `dpr-audit`.
    pub tool: String,
    /// Crate version that wrote the rows.
    pub version: String,
    /// The study's kind (e.g. `sweep`).
    pub kind: String,
    /// SHA-256 of kind, version and configuration ([`super::config_hash`]).
    pub config_hash: String,
    /// The study's configuration (parameters and master seed).
    pub config: serde_json::Value,
    /// This shard.
    pub shard: Shard,
    /// Trials in the whole study.
    pub trials_total: u64,
    /// The ids of this shard's trials.
    pub trial_ids: Vec<u64>,
    /// Trials of this shard completed so far.
    pub trials_done: u64,
    /// Whether every trial of the shard is done.
    pub complete: bool,
    /// How many times the shard was resumed.
    pub resumed: u32,
    /// The latest command line.
    pub command_line: Vec<String>,
    /// Worker threads of the latest run (rows do not depend on it).
    pub threads: usize,
    /// When the shard was first started (UTC).
    pub started_utc: String,
    /// When this manifest was last written (UTC).
    pub updated_utc: String,
}

fn trials_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Trials {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Output {
        path: path.to_path_buf(),
        source,
    }
}

impl ShardManifest {
    /// Reads `dir/shard.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::MissingInput {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| trials_error(&path, format!("not a shard manifest ({e})")))
    }

    /// Writes `dir/shard.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        write_atomic(&dir.join(MANIFEST_FILE), text.as_bytes())
    }
}

/// What a shard folder's rows and done files hold (after dropping incomplete trials).
#[derive(Clone, Debug, Default)]
pub struct StoredRows {
    /// The row header without `trial_id` (`None` before the first row was written).
    pub header: Option<StringRecord>,
    /// Rows of completed trials: `(trial id, fields without the id)`, in file order.
    pub rows: Vec<(u64, StringRecord)>,
    /// Completed trial ids.
    pub done: BTreeSet<u64>,
    /// Bytes of `rows.csv` that belong to completed trials.
    rows_len: u64,
    /// Bytes of `done.txt` up to its last complete line.
    done_len: u64,
}

/// The bytes of a file (empty if it does not exist).
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(Error::MissingInput {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Length of the prefix of `bytes` up to and including its last newline (drops a torn line).
fn complete_lines(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

fn read_done(path: &Path) -> Result<(BTreeSet<u64>, u64)> {
    let bytes = read_bytes(path)?;
    let len = complete_lines(&bytes);
    let mut done = BTreeSet::new();
    for (line_no, line) in String::from_utf8_lossy(&bytes[..len]).lines().enumerate() {
        let id: u64 = line.trim().parse().map_err(|_| {
            trials_error(
                path,
                format!("line {} is {line:?}, not a trial id; the file is corrupt", line_no + 1),
            )
        })?;
        if !done.insert(id) {
            return Err(trials_error(
                path,
                format!("trial {id} is listed twice; the file is corrupt"),
            ));
        }
    }
    Ok((done, len as u64))
}

/// Reads a shard folder's `rows.csv` and `done.txt`, keeping the rows of completed trials.
pub fn read_rows(dir: &Path) -> Result<StoredRows> {
    let (done, done_len) = read_done(&dir.join(DONE_FILE))?;
    let path = dir.join(ROWS_FILE);
    let bytes = read_bytes(&path)?;
    let usable = complete_lines(&bytes);
    let mut stored = StoredRows {
        done,
        done_len,
        ..StoredRows::default()
    };
    if usable == 0 {
        return Ok(stored);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&bytes[..usable]);
    let corrupt = |e: csv::Error| trials_error(&path, format!("not a readable rows file ({e}); the file is corrupt"));
    let header = reader.headers().map_err(corrupt)?.clone();
    if header.get(0) != Some(ID_COLUMN) {
        return Err(trials_error(
            &path,
            format!("the first column must be {ID_COLUMN}; not a rows file"),
        ));
    }
    stored.header = Some(header.iter().skip(1).collect());
    stored.rows_len = reader.position().byte();
    let mut record = StringRecord::new();
    let mut cut = false;
    loop {
        let start = reader.position().byte();
        if !reader.read_record(&mut record).map_err(corrupt)? {
            break;
        }
        let id: u64 = record[0]
            .parse()
            .map_err(|_| trials_error(&path, format!("row at byte {start} has trial id {:?}", &record[0])))?;
        if stored.done.contains(&id) {
            if cut {
                return Err(trials_error(
                    &path,
                    format!("rows of completed trial {id} follow rows of an unfinished trial; the file is corrupt"),
                ));
            }
            stored.rows.push((id, record.iter().skip(1).collect()));
            stored.rows_len = reader.position().byte();
        } else {
            cut = true;
        }
    }
    Ok(stored)
}

/// The header of `row`'s columns (without the id) and its value line with the trial id in front.
fn encode<R: Serialize>(id: u64, row: &R) -> Result<(String, String)> {
    let mut writer = csv::WriterBuilder::new().has_headers(true).from_writer(Vec::new());
    writer.serialize(row)?;
    let bytes = writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    let text = String::from_utf8(bytes).map_err(|e| Error::Trials {
        path: PathBuf::from(ROWS_FILE),
        reason: format!("a row is not UTF-8 ({e})"),
    })?;
    let (header, values) = text.split_once('\n').unwrap_or((&text, ""));
    Ok((header.to_string(), format!("{id},{values}")))
}

/// The header line of a rows file with `columns` after the id.
fn header_line(columns: &str) -> String {
    format!("{ID_COLUMN},{columns}\n")
}

/// Appends completed trials to a shard folder (thread-safe; one trial at a time).
pub struct RowSink {
    dir: PathBuf,
    files: Mutex<SinkFiles>,
}

struct SinkFiles {
    rows: File,
    done: File,
    /// The header in the file, if any (without the id column).
    header: Option<String>,
}

fn open_truncated(path: &Path, len: u64) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error(path))?;
    file.set_len(len).map_err(io_error(path))?;
    Ok(file)
}

impl RowSink {
    /// Opens `dir`'s files for appending after `stored` (what [`read_rows`] found), cutting off
    /// rows of unfinished trials and a torn last line.
    pub fn open(dir: &Path, stored: &StoredRows) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let header = stored.header.as_ref().map(|h| h.iter().collect::<Vec<_>>().join(","));
        Ok(Self {
            dir: dir.to_path_buf(),
            files: Mutex::new(SinkFiles {
                rows: open_truncated(&dir.join(ROWS_FILE), stored.rows_len)?,
                done: open_truncated(&dir.join(DONE_FILE), stored.done_len)?,
                header,
            }),
        })
    }

    /// Records trial `id` as done with `rows`: the rows in one write, then the id.
    pub fn append<R: Serialize>(&self, id: u64, rows: &[R]) -> Result<()> {
        let mut text = String::new();
        let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for row in rows {
            let (columns, values) = encode(id, row)?;
            match &files.header {
                None => {
                    text.push_str(&header_line(&columns));
                    files.header = Some(columns);
                }
                Some(existing) if *existing != columns => {
                    return Err(trials_error(
                        &self.dir.join(ROWS_FILE),
                        format!(
                            "the file's columns ({existing}) differ from this version's ({columns}); use another output folder"
                        ),
                    ));
                }
                Some(_) => {}
            }
            text.push_str(&values);
        }
        let rows_path = self.dir.join(ROWS_FILE);
        files.rows.write_all(text.as_bytes()).map_err(io_error(&rows_path))?;
        let done_path = self.dir.join(DONE_FILE);
        files
            .done
            .write_all(format!("{id}\n").as_bytes())
            .map_err(io_error(&done_path))
    }
}

/// Deserializes stored rows with their header.
pub fn parse_rows<R: DeserializeOwned>(
    path: &Path,
    header: Option<&StringRecord>,
    rows: Vec<(u64, StringRecord)>,
) -> Result<Vec<(u64, R)>> {
    rows.into_iter()
        .map(|(id, record)| {
            record.deserialize(header).map(|row| (id, row)).map_err(|e| {
                trials_error(
                    path,
                    format!("row of trial {id} does not fit this version's columns ({e})"),
                )
            })
        })
        .collect()
}

/// Writes `rows` (sorted by trial id) as `name` in `out`, with `trial_id` as the first column
/// (an empty file when there are no rows).
pub fn write_rows<R: Serialize>(out: &OutputDir, name: &str, rows: &[(u64, R)]) -> Result<()> {
    let mut text = String::new();
    for (i, (id, row)) in rows.iter().enumerate() {
        let (columns, values) = encode(*id, row)?;
        if i == 0 {
            text.push_str(&header_line(&columns));
        }
        text.push_str(&values);
    }
    out.write_text(name, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        m: usize,
        value: f64,
        note: Option<f64>,
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dpr-audit-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn row(m: usize) -> Row {
        Row {
            m,
            value: m as f64 / 3.0,
            note: m.is_multiple_of(2).then_some(0.1),
        }
    }

    #[test]
    fn appended_rows_read_back_exactly() {
        let dir = scratch("roundtrip");
        let sink = RowSink::open(&dir, &StoredRows::default()).unwrap();
        sink.append(4, &[row(1), row(2)]).unwrap();
        sink.append(1, &Vec::<Row>::new()).unwrap();
        sink.append(0, &[row(3)]).unwrap();
        let text = std::fs::read_to_string(dir.join(ROWS_FILE)).unwrap();
        assert!(text.starts_with("trial_id,m,value,note\n4,1,"), "{text}");
        let stored = read_rows(&dir).unwrap();
        assert_eq!(stored.done.iter().copied().collect::<Vec<_>>(), vec![0, 1, 4]);
        let rows: Vec<(u64, Row)> = parse_rows(&dir, stored.header.as_ref(), stored.rows).unwrap();
        assert_eq!(rows, vec![(4, row(1)), (4, row(2)), (0, row(3))]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unfinished_trials_and_torn_lines_are_dropped_and_truncated() {
        let dir = scratch("torn");
        let sink = RowSink::open(&dir, &StoredRows::default()).unwrap();
        sink.append(2, &[row(2)]).unwrap();
        drop(sink);
        // A trial whose rows were written but whose id never reached done.txt, then a torn line.
        let mut rows = OpenOptions::new().append(true).open(dir.join(ROWS_FILE)).unwrap();
        rows.write_all(b"5,5,1.6,\n7,7,2.3").unwrap();
        let mut done = OpenOptions::new().append(true).open(dir.join(DONE_FILE)).unwrap();
        done.write_all(b"5").unwrap(); // torn: no newline, so trial 5 is not done
        let stored = read_rows(&dir).unwrap();
        assert_eq!(stored.done.len(), 1);
        assert_eq!(stored.rows.len(), 1);
        let sink = RowSink::open(&dir, &stored).unwrap();
        sink.append(5, &[row(5)]).unwrap();
        let text = std::fs::read_to_string(dir.join(ROWS_FILE)).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert_eq!(std::fs::read_to_string(dir.join(DONE_FILE)).unwrap(), "2\n5\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_files_are_refused() {
        let dir = scratch("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(DONE_FILE), "1\nx\n").unwrap();
        assert!(read_rows(&dir).unwrap_err().to_string().contains("not a trial id"));
        std::fs::write(dir.join(DONE_FILE), "1\n1\n").unwrap();
        assert!(read_rows(&dir).unwrap_err().to_string().contains("twice"));
        std::fs::write(dir.join(DONE_FILE), "1\n2\n").unwrap();
        std::fs::write(dir.join(ROWS_FILE), "trial_id,m,value,note\n1,1,0.5,\n3,3,1,\n2,2,1,\n").unwrap();
        assert!(read_rows(&dir).unwrap_err().to_string().contains("corrupt"));
        std::fs::write(dir.join(ROWS_FILE), "m,value\n1,2\n").unwrap();
        assert!(read_rows(&dir).unwrap_err().to_string().contains("trial_id"));
        // A record with a field cut out: a usage error naming the file, not an I/O failure.
        std::fs::write(dir.join(ROWS_FILE), "trial_id,m,value,note\n1,1,0.5,\n2,2,\n").unwrap();
        let err = read_rows(&dir).unwrap_err();
        assert!(
            err.is_usage() && err.to_string().contains("not a readable rows file"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
