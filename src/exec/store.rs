//! A shard's folder on disk, and the final rows file.
//!
//! | file | content |
//! |---|---|
//! | `rows.csv` | header `trial_id,<the study's columns>`, then each completed trial's rows, in completion order |
//! | `done.txt` | one line per completed trial, `<trial id> <row count> <checksum>`, written after the trial's rows; the checksum is the first 16 hex digits of the SHA-256 of the trial's lines in `rows.csv` (newlines included) |
//! | `shard.json` | [`ShardManifest`]: kind, configuration and its hash, the shard, its trial ids, progress |
//!
//! A trial counts as done only when `done.txt` lists it once and `rows.csv` holds exactly its
//! record: as many rows as listed, whose bytes have the listed checksum. So a torn, missing,
//! duplicated or altered row of a listed trial is detected ([`StoredRows::broken`]), as are
//! rows of trials not listed ([`StoredRows::unlisted`]: a trial cut off by a kill) and lines
//! naming no trial. [`read_rows`] keeps only intact records; [`RowSink::open`] rewrites both
//! files with them (atomically) before appending, so a resumed run repairs the folder and runs
//! the dropped trials again, while `merge` refuses a folder that is not intact.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use csv::{ByteRecord, StringRecord};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::shard::Shard;
use crate::error::{Error, Result};
use crate::report::output::{OutputDir, check_finite_csv, write_atomic};

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

/// What a shard folder's rows and done files hold: the intact records of completed trials,
/// and what is wrong with the rest.
#[derive(Clone, Debug, Default)]
pub struct StoredRows {
    /// The row header without `trial_id` (`None` before the first row was written).
    pub header: Option<StringRecord>,
    /// Rows of intact completed trials: `(trial id, fields without the id)`, in `done.txt`
    /// order.
    pub rows: Vec<(u64, StringRecord)>,
    /// Completed trials whose record is intact.
    pub done: BTreeSet<u64>,
    /// Trials `done.txt` lists (or names in a malformed line) whose record is not intact: rows
    /// torn, missing, duplicated or altered, or the trial listed twice.
    pub broken: BTreeSet<u64>,
    /// Trials with rows in `rows.csv` that `done.txt` does not list (a trial cut off by a kill).
    pub unlisted: BTreeSet<u64>,
    /// Lines that name no trial (torn or garbage), e.g. `done.txt line 4`.
    pub unreadable: Vec<String>,
    /// `rows.csv` as it should be: the header, then the intact records.
    kept_rows: Vec<u8>,
    /// `done.txt` as it should be: the intact records' lines.
    kept_done: Vec<u8>,
}

impl StoredRows {
    /// Whether the files hold nothing but intact records of completed trials.
    pub fn is_intact(&self) -> bool {
        self.broken.is_empty() && self.unlisted.is_empty() && self.unreadable.is_empty()
    }

    /// What is wrong with the files, listing trial ids (at most `shown` per list), or `None`
    /// when they are intact.
    pub fn damage(&self, shown: usize) -> Option<String> {
        if self.is_intact() {
            return None;
        }
        let ids = |set: &BTreeSet<u64>| {
            let mut text: Vec<String> = set.iter().take(shown).map(ToString::to_string).collect();
            if set.len() > shown {
                text.push(format!("… and {} more", set.len() - shown));
            }
            text.join(", ")
        };
        let mut parts = Vec::new();
        if !self.broken.is_empty() {
            parts.push(format!(
                "{ROWS_FILE} does not hold the complete record of trials {DONE_FILE} lists (torn, missing, duplicated or altered rows, or listed twice): {}",
                ids(&self.broken)
            ));
        }
        if !self.unlisted.is_empty() {
            parts.push(format!(
                "{ROWS_FILE} holds rows of trials {DONE_FILE} does not list: {}",
                ids(&self.unlisted)
            ));
        }
        if !self.unreadable.is_empty() {
            parts.push(format!("lines naming no trial: {}", self.unreadable.join(", ")));
        }
        Some(parts.join("; "))
    }
}

/// The checksum of a trial's record: the first 16 hex digits of the SHA-256 of its lines.
pub fn record_checksum(lines: &[u8]) -> String {
    Sha256::digest(lines)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The `done.txt` line of trial `id` with `rows` rows whose lines are `lines`.
fn done_line(id: u64, rows: usize, lines: &[u8]) -> String {
    format!("{id} {rows} {}\n", record_checksum(lines))
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

/// Parses `done.txt` into `(trial id, row count, checksum)` in file order; trials listed twice or in malformed lines go to `stored.broken`, lines
/// naming no trial (and a torn last line) to `stored.unreadable`.
fn read_done(bytes: &[u8], stored: &mut StoredRows) -> Vec<(u64, usize, String)> {
    let text = String::from_utf8_lossy(bytes);
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (line_no, line) in lines.iter().enumerate() {
        let place = format!("{DONE_FILE} line {}", line_no + 1);
        let Some(line) = line.strip_suffix('\n') else {
            stored.unreadable.push(format!("{place} (torn)"));
            continue;
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let id = fields.first().and_then(|f| f.parse::<u64>().ok());
        let count = fields.get(1).and_then(|f| f.parse::<usize>().ok());
        let checksum = fields
            .get(2)
            .filter(|c| c.len() == 16 && c.bytes().all(|b| b.is_ascii_hexdigit()));
        match (id, count, checksum, fields.len()) {
            (Some(id), Some(count), Some(checksum), 3) => {
                if seen.insert(id) {
                    order.push((id, count, checksum.to_string()));
                } else {
                    stored.broken.insert(id);
                }
            }
            (Some(id), ..) => {
                stored.broken.insert(id);
            }
            _ => stored.unreadable.push(place),
        }
    }
    order.retain(|(id, ..)| !stored.broken.contains(id));
    order
}

/// One row of `rows.csv`: its byte range and fields.
struct RawRow {
    start: usize,
    end: usize,
    record: ByteRecord,
}

/// Reads a shard folder's `rows.csv` and `done.txt`, keeping the intact records of completed
/// trials (see the module doc). A rows file whose header does not start with `trial_id` is
/// refused: it is not a rows file.
pub fn read_rows(dir: &Path) -> Result<StoredRows> {
    let mut stored = StoredRows::default();
    let listed = read_done(&read_bytes(&dir.join(DONE_FILE))?, &mut stored);
    let path = dir.join(ROWS_FILE);
    let bytes = read_bytes(&path)?;
    let mut groups: BTreeMap<u64, Vec<RawRow>> = BTreeMap::new();
    match bytes.iter().position(|&b| b == b'\n') {
        None if bytes.is_empty() => {}
        None => stored.unreadable.push(format!("{ROWS_FILE} header (torn)")),
        Some(newline) => {
            let header_end = newline + 1;
            let header: StringRecord = String::from_utf8_lossy(&bytes[..newline])
                .trim_end_matches('\r')
                .split(',')
                .collect();
            if header.get(0) != Some(ID_COLUMN) {
                return Err(trials_error(
                    &path,
                    format!("the first column must be {ID_COLUMN}; not a rows file"),
                ));
            }
            stored.header = Some(header.iter().skip(1).collect());
            stored.kept_rows.extend_from_slice(&bytes[..header_end]);
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&bytes[header_end..]);
            let mut record = ByteRecord::new();
            loop {
                let start = header_end + reader.position().byte() as usize;
                let more = reader
                    .read_byte_record(&mut record)
                    .map_err(|e| trials_error(&path, format!("not a readable rows file ({e}); the file is corrupt")))?;
                if !more {
                    break;
                }
                let end = header_end + reader.position().byte() as usize;
                let id = record
                    .get(0)
                    .and_then(|f| std::str::from_utf8(f).ok())
                    .and_then(|f| f.parse::<u64>().ok());
                match id {
                    Some(id) => groups.entry(id).or_default().push(RawRow {
                        start,
                        end,
                        record: record.clone(),
                    }),
                    None => stored.unreadable.push(format!("{ROWS_FILE} byte {start}")),
                }
            }
        }
    }
    for (id, count, checksum) in listed {
        let raw = groups.remove(&id).unwrap_or_default();
        let lines: Vec<u8> = raw.iter().flat_map(|r| bytes[r.start..r.end].iter().copied()).collect();
        let fields: Option<Vec<StringRecord>> = raw
            .iter()
            .map(|r| StringRecord::from_byte_record(r.record.clone()).ok())
            .collect();
        match fields {
            Some(fields) if raw.len() == count && record_checksum(&lines) == checksum => {
                stored.done.insert(id);
                stored.kept_rows.extend_from_slice(&lines);
                stored
                    .kept_done
                    .extend_from_slice(done_line(id, count, &lines).as_bytes());
                stored
                    .rows
                    .extend(fields.into_iter().map(|f| (id, f.iter().skip(1).collect())));
            }
            _ => {
                stored.broken.insert(id);
            }
        }
    }
    stored
        .unlisted
        .extend(groups.into_keys().filter(|id| !stored.broken.contains(id)));
    Ok(stored)
}

/// The header of `row`'s columns (without the id) and its value line with the trial id in front.
fn encode<R: Serialize>(id: u64, row: &R) -> Result<(String, String)> {
    let mut writer = csv::WriterBuilder::new().has_headers(true).from_writer(Vec::new());
    writer.serialize(row)?;
    let bytes = writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    check_finite_csv(ROWS_FILE, &bytes)?;
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

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error(path))
}

impl RowSink {
    /// Rewrites `dir`'s files with the intact records in `stored` (what [`read_rows`] found;
    /// each file replaced atomically) and opens them for appending.
    pub fn open(dir: &Path, stored: &StoredRows) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let (rows, done) = (dir.join(ROWS_FILE), dir.join(DONE_FILE));
        write_atomic(&rows, &stored.kept_rows)?;
        write_atomic(&done, &stored.kept_done)?;
        let header = stored.header.as_ref().map(|h| h.iter().collect::<Vec<_>>().join(","));
        Ok(Self {
            dir: dir.to_path_buf(),
            files: Mutex::new(SinkFiles {
                rows: open_append(&rows)?,
                done: open_append(&done)?,
                header,
            }),
        })
    }

    /// Records trial `id` as done with `rows`: the rows in one write, then the done line with
    /// their count and checksum.
    pub fn append<R: Serialize>(&self, id: u64, rows: &[R]) -> Result<()> {
        let mut header = String::new();
        let mut lines = String::new();
        let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for row in rows {
            let (columns, values) = encode(id, row)?;
            match &files.header {
                None => {
                    header = header_line(&columns);
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
            lines.push_str(&values);
        }
        let rows_path = self.dir.join(ROWS_FILE);
        files
            .rows
            .write_all((header + &lines).as_bytes())
            .map_err(io_error(&rows_path))?;
        let done_path = self.dir.join(DONE_FILE);
        files
            .done
            .write_all(done_line(id, rows.len(), lines.as_bytes()).as_bytes())
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

    /// The lines of a file, as strings.
    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
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
        let done = lines(&dir.join(DONE_FILE));
        let four: String = text.lines().skip(1).take(2).map(|l| format!("{l}\n")).collect();
        assert_eq!(done[0], format!("4 2 {}", record_checksum(four.as_bytes())));
        assert_eq!(done[1], format!("1 0 {}", record_checksum(b"")));
        let stored = read_rows(&dir).unwrap();
        assert!(stored.is_intact(), "{:?}", stored.damage(5));
        assert_eq!(stored.done.iter().copied().collect::<Vec<_>>(), vec![0, 1, 4]);
        let rows: Vec<(u64, Row)> = parse_rows(&dir, stored.header.as_ref(), stored.rows).unwrap();
        assert_eq!(rows, vec![(4, row(1)), (4, row(2)), (0, row(3))]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unfinished_trials_and_torn_lines_are_dropped_and_rewritten() {
        let dir = scratch("torn");
        let sink = RowSink::open(&dir, &StoredRows::default()).unwrap();
        sink.append(2, &[row(2)]).unwrap();
        drop(sink);
        let clean_rows = std::fs::read(dir.join(ROWS_FILE)).unwrap();
        // A trial whose rows were written but whose done line never was, then a torn line.
        let mut rows = OpenOptions::new().append(true).open(dir.join(ROWS_FILE)).unwrap();
        rows.write_all(b"5,5,1.6,\n7,7,2.3").unwrap();
        let mut done = OpenOptions::new().append(true).open(dir.join(DONE_FILE)).unwrap();
        done.write_all(b"5 1").unwrap(); // torn: no newline, so trial 5 is not done
        let stored = read_rows(&dir).unwrap();
        assert_eq!(stored.done.iter().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(stored.unlisted.iter().copied().collect::<Vec<_>>(), vec![5, 7]);
        assert_eq!(stored.unreadable, vec!["done.txt line 2 (torn)".to_string()]);
        assert!(stored.broken.is_empty());
        let sink = RowSink::open(&dir, &stored).unwrap();
        assert_eq!(
            std::fs::read(dir.join(ROWS_FILE)).unwrap(),
            clean_rows,
            "the repair keeps intact records only"
        );
        sink.append(5, &[row(5)]).unwrap();
        assert_eq!(lines(&dir.join(ROWS_FILE)).len(), 3);
        assert_eq!(lines(&dir.join(DONE_FILE)).len(), 2);
        assert!(read_rows(&dir).unwrap().is_intact());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn torn_duplicated_and_altered_records_are_broken() {
        let dir = scratch("broken");
        let fresh = || {
            let _ = std::fs::remove_dir_all(&dir);
            let sink = RowSink::open(&dir, &StoredRows::default()).unwrap();
            for id in 0..4 {
                sink.append(id, &[row(id as usize), row(10 + id as usize)]).unwrap();
            }
        };
        let edit = |file: &str, f: &dyn Fn(Vec<String>) -> Vec<String>| {
            let text: String = f(lines(&dir.join(file))).iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(dir.join(file), text).unwrap();
        };
        let broken_after = |f: &dyn Fn()| {
            fresh();
            f();
            let stored = read_rows(&dir).unwrap();
            assert!(!stored.is_intact());
            (stored.broken.iter().copied().collect::<Vec<u64>>(), stored)
        };
        // Line 3 is trial 1's first row: torn in the middle (the newline kept), duplicated,
        // altered in one digit, removed.
        let (ids, stored) = broken_after(&|| {
            edit(ROWS_FILE, &|mut l| {
                l[3].truncate(4);
                l
            })
        });
        assert_eq!(ids, vec![1]);
        assert_eq!(stored.done.iter().copied().collect::<Vec<_>>(), vec![0, 2, 3]);
        assert!(
            stored.damage(5).unwrap().contains("trials done.txt lists") && stored.damage(5).unwrap().contains(": 1")
        );
        assert_eq!(
            broken_after(&|| edit(ROWS_FILE, &|mut l| {
                l.push(l[3].clone());
                l
            }))
            .0,
            vec![1]
        );
        assert_eq!(
            broken_after(&|| edit(ROWS_FILE, &|mut l| {
                l[3] = l[3].replacen(",1,", ",7,", 1);
                l
            }))
            .0,
            vec![1]
        );
        assert_eq!(
            broken_after(&|| edit(ROWS_FILE, &|mut l| {
                l.remove(3);
                l
            }))
            .0,
            vec![1]
        );
        // Trial 2 listed twice; a garbage line in done.txt; a row of a trial nobody listed.
        assert_eq!(
            broken_after(&|| edit(DONE_FILE, &|mut l| {
                l.push(l[2].clone());
                l
            }))
            .0,
            vec![2]
        );
        let (ids, stored) = broken_after(&|| {
            edit(DONE_FILE, &|mut l| {
                l.insert(1, "x".into());
                l
            })
        });
        assert!(ids.is_empty() && stored.unreadable == vec!["done.txt line 2".to_string()]);
        let (_, stored) = broken_after(&|| {
            edit(ROWS_FILE, &|mut l| {
                l.push("9,9,3,".into());
                l
            })
        });
        assert_eq!(stored.unlisted.iter().copied().collect::<Vec<_>>(), vec![9]);
        // The repair keeps the intact records; the broken trial can be appended again.
        let (_, stored) = broken_after(&|| {
            edit(ROWS_FILE, &|mut l| {
                l.push(l[3].clone());
                l
            })
        });
        let sink = RowSink::open(&dir, &stored).unwrap();
        sink.append(1, &[row(1), row(11)]).unwrap();
        let repaired = read_rows(&dir).unwrap();
        assert!(
            repaired.is_intact() && repaired.done.len() == 4,
            "{:?}",
            repaired.damage(5)
        );
        std::fs::write(dir.join(ROWS_FILE), "m,value\n1,2\n").unwrap();
        assert!(read_rows(&dir).unwrap_err().to_string().contains("trial_id"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
