//! Output folders that appear whole or not at all, have one writer at a time, and never
//! destroy anything the tool did not write.
//!
//! - **Staging.** A subcommand writes into a staging folder beside the requested one
//!   (`.<name>.partial-<pid>`); [`OutputDir::commit`] moves the old folder aside
//!   (`.<name>.replaced-<pid>`), renames the staging folder into place and removes the old one.
//!   Dropping an uncommitted [`OutputDir`] (an error, a panic) removes the staging folder, so a
//!   failed run never leaves a half-written report behind. Staging folders of killed processes
//!   (their pid no longer exists) are removed by the next run on the same folder.
//! - **One writer.** [`OutputLock`] holds an exclusive advisory lock (`flock`) on `<name>.lock`
//!   beside the folder (the folder itself is replaced by a rename, so it cannot carry the
//!   lock), with the holder's pid written in it. A second process is refused at once, naming
//!   that pid; the kernel releases the lock when its holder dies, so a stale lock file never
//!   blocks. The holder removes the lock file when it is done (a killed holder leaves it, and
//!   the next run takes it over).
//! - **Nothing foreign is replaced.** An existing folder is replaced only when it is empty or an
//!   earlier output of the tool: its `manifest.json` is dpr-audit's and lists every file in it,
//!   except a study's working folders `shard-<i>-of-<N>/` (`rows.csv`, `done.txt`,
//!   `shard.json`) and their lock files. Anything else is refused, naming a foreign file. The
//!   current folder, its ancestors, `/` and the home folder are never used as outputs, and a
//!   folder holding one of the run's input files is never replaced.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// The name of the manifest every committed output folder holds.
pub const MANIFEST: &str = "manifest.json";

/// The files a study's working folder (`shard-<i>-of-<N>/`) may hold.
const WORK_FILES: [&str; 3] = ["rows.csv", "done.txt", "shard.json"];

/// What to do when the output location is unusable.
/// Columns whose documented values include a non-finite number (`docs/COLUMNS.md`); every
/// other column holds finite numbers or is empty where a value is undefined.
const NON_FINITE_COLUMNS: [&str; 1] = ["expansivity_ratio"];

/// The spellings the `csv` writer gives a non-finite `f64`.
const NON_FINITE_SPELLINGS: [&str; 3] = ["NaN", "inf", "-inf"];

/// Refuses CSV text `bytes` (with a header line) that holds `NaN`, `inf` or `-inf` in a column
/// that does not document it: such a number is a failure of the computation, and a table that
/// silently carries it would be read as a result. `name` names the file in the error.
pub fn check_finite_csv(name: &str, bytes: &[u8]) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let header = reader.headers()?.clone();
    for (row, record) in reader.records().enumerate() {
        let record = record?;
        let bad = record
            .iter()
            .zip(header.iter())
            .find(|(value, column)| NON_FINITE_SPELLINGS.contains(value) && !NON_FINITE_COLUMNS.contains(column));
        if let Some((value, column)) = bad {
            return Err(Error::NonFinite {
                file: name.to_string(),
                row: row + 1,
                column: column.to_string(),
                value: value.to_string(),
            });
        }
    }
    Ok(())
}

const LOCATION_FIX: &str = "choose an --out in a folder you can write to";

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Output {
        path: path.to_path_buf(),
        source,
    }
}

fn location_err<'a>(path: &'a Path, fix: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::OutputLocation {
        path: path.to_path_buf(),
        source,
        fix,
    }
}

/// The folder `path` lies in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The last component of `path` (`out` when there is none).
fn name_of(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned())
}

/// `path` made absolute, with `.` and `..` removed and the longest existing prefix resolved
/// through symbolic links, so that two spellings of one folder compare equal.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut lexical = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => break,
        }
        existing.pop();
    }
    let mut resolved = existing.canonicalize().unwrap_or(existing);
    resolved.extend(rest.iter().rev());
    resolved
}

/// Refuses output locations whose replacement would destroy a user's files wholesale: `/`, the
/// current folder or any folder above it, and the home folder.
pub fn check_location(target: &Path) -> Result<()> {
    let resolved = resolve(target);
    let cwd = std::env::current_dir().map(|d| resolve(&d)).ok();
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| resolve(Path::new(&h)));
    let why = if resolved.parent().is_none() {
        "it is the root folder /"
    } else if cwd.as_ref().is_some_and(|cwd| cwd.starts_with(&resolved)) {
        "it is the current folder or a folder above it"
    } else if home.as_ref() == Some(&resolved) {
        "it is the home folder"
    } else {
        return Ok(());
    };
    Err(Error::param(
        "--out",
        target.display(),
        format!("{why}, which the outputs would replace; give a new folder for them, e.g. --out runs/first"),
    ))
}

/// Whether `name` is a study's working folder, `shard-<i>-of-<N>`.
fn is_work_folder(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix("shard-")
        .and_then(|rest| rest.split_once("-of-"))
        .is_some_and(|(i, n)| digits(i) && digits(n))
}

/// Whether `name` is a file of a study's working folder, or the temporary file of an atomic
/// write of one (`.<file>.partial-<pid>`, left by a kill).
fn is_work_file(name: &str) -> bool {
    WORK_FILES.iter().any(|file| {
        name == *file
            || name
                .strip_prefix('.')
                .and_then(|rest| rest.strip_prefix(file))
                .is_some_and(|rest| rest.starts_with(".partial-"))
    })
}

/// The files an earlier dpr-audit output in `dir` lists in its manifest (none if there is no
/// manifest, or it is not dpr-audit's).
fn listed_files(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST)) else {
        return Vec::new();
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    if manifest["tool"] != "dpr-audit" {
        return Vec::new();
    }
    manifest["files"]
        .as_array()
        .map(|files| files.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The entries of `dir`, sorted by name (so the foreign file named is always the same).
fn sorted_entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let mut entries = std::fs::read_dir(dir)
        .and_then(|entries| entries.collect::<std::io::Result<Vec<_>>>())
        .map_err(location_err(dir, LOCATION_FIX))?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// The first file under `dir` (relative path `prefix`) that the tool did not write, if any.
fn foreign_file(dir: &Path, prefix: &str, listed: &[String]) -> Result<Option<String>> {
    for entry in sorted_entries(dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(location_err(&entry.path(), LOCATION_FIX))?;
        let top = prefix.is_empty();
        if kind.is_dir() && top && is_work_folder(&name) {
            let inside = sorted_entries(&entry.path())?;
            if let Some(e) = inside.iter().find(|e| !is_work_file(&e.file_name().to_string_lossy())) {
                return Ok(Some(format!("{rel}/{}", e.file_name().to_string_lossy())));
            }
        } else if kind.is_dir() {
            if let Some(found) = foreign_file(&entry.path(), &rel, listed)? {
                return Ok(Some(found));
            }
        } else {
            let lock = top && name.strip_suffix(".lock").is_some_and(is_work_folder);
            if !lock && !listed.contains(&rel) {
                return Ok(Some(rel));
            }
        }
    }
    Ok(None)
}

/// Refuses to replace `target` unless it does not exist, is empty, or is an earlier output of
/// the tool holding nothing else (see the module doc).
pub fn check_replaceable(target: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(location_err(target, LOCATION_FIX))?,
    };
    if !meta.is_dir() {
        return Err(Error::param(
            "--out",
            target.display(),
            "it exists and is not a folder (a file or a link); give a new folder for the outputs",
        ));
    }
    match foreign_file(target, "", &listed_files(target))? {
        None => Ok(()),
        Some(file) => Err(Error::param(
            "--out",
            target.display(),
            format!(
                "it holds {file}, which dpr-audit did not write; an existing folder is replaced only when it is empty or an earlier dpr-audit output holding nothing else (its {MANIFEST} lists every file), so nothing of yours is deleted: give a new or empty folder, or move {file} away"
            ),
        )),
    }
}

/// Refuses `target` when one of `inputs` (paths the run reads; those that do not exist are
/// ignored) lies inside it: replacing the folder would delete them.
pub fn check_inputs(target: &Path, inputs: &[PathBuf]) -> Result<()> {
    let resolved = resolve(target);
    match inputs
        .iter()
        .find(|input| std::fs::symlink_metadata(input).is_ok() && resolve(input).starts_with(&resolved))
    {
        None => Ok(()),
        Some(input) => Err(Error::param(
            "--out",
            target.display(),
            format!(
                "it contains the input {}, which replacing the folder with the outputs would delete; give an --out that holds none of the files the command reads",
                input.display()
            ),
        )),
    }
}

/// Whether process `pid` is known to be dead (`/proc` is readable and has no entry for it).
/// Where `/proc` is absent nothing is known, and nothing counts as dead.
fn process_is_dead(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the staging and set-aside folders (`.<name>.partial-<pid>`, `.<name>.replaced-<pid>`)
/// that killed processes left in `parent`; folders of live processes are kept.
fn remove_stale(parent: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.filter_map(|e| e.ok()) {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_prefix("partial-").or_else(|| rest.strip_prefix("replaced-")))
            .and_then(|pid| pid.parse::<u32>().ok());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let Some(pid) = pid
            && is_dir
            && pid != std::process::id()
            && process_is_dead(pid)
        {
            // Best effort: a folder that cannot be removed is retried by the next run.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether `file` (open) is still the file at `path` (the previous holder of a lock file
/// removes it on release; a lock on the removed file would guard nothing).
fn still_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// An exclusive advisory lock on `<folder>.lock`, beside a folder (or a single file, such as a
/// certificate) being written.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    file: File,
}

impl OutputLock {
    /// The lock file of `folder`: `<folder>.lock`, beside it.
    pub fn path_for(folder: &Path) -> PathBuf {
        parent_of(folder).join(format!("{}.lock", name_of(folder)))
    }

    /// Takes the lock of `folder` (its parent is created as needed), or fails at once when
    /// another process holds it, naming that process.
    pub fn acquire(folder: &Path) -> Result<Self> {
        let parent = parent_of(folder);
        std::fs::create_dir_all(parent).map_err(location_err(parent, LOCATION_FIX))?;
        let path = Self::path_for(folder);
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(location_err(&path, LOCATION_FIX))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Busy {
                        path: folder.to_path_buf(),
                        pid: holder(&path),
                        lock: path,
                    });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(Error::OutputLocation {
                        path,
                        source,
                        fix: "its filesystem gives no file locks (flock), so two runs could write one output; choose an --out on a filesystem with locks (e.g. a local disk)",
                    });
                }
            }
            if still_at(&file, &path) {
                file.set_len(0).map_err(out_err(&path))?;
                (&file)
                    .write_all(format!("{}\n", std::process::id()).as_bytes())
                    .map_err(out_err(&path))?;
                return Ok(Self { path, file });
            }
        }
    }
}

/// The pid written in a held lock file (the holder writes it just after locking, so an empty
/// file is read again briefly).
fn holder(path: &Path) -> String {
    for _ in 0..20 {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    "unknown".into()
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held, so no other process can be holding a lock on this file.
        if still_at(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A staging folder that becomes the output folder on [`OutputDir::commit`], with the lock of
/// the output folder held until then.
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
    _lock: OutputLock,
}

impl OutputDir {
    /// Takes the lock of `target`, checks that it may be replaced (see the module doc; `inputs`
    /// are paths the run reads, refused inside it), removes staging folders of killed runs and
    /// creates a fresh staging folder (parents are created as needed).
    pub fn create(target: &Path, inputs: &[PathBuf]) -> Result<Self> {
        check_location(target)?;
        let lock = OutputLock::acquire(target)?;
        let (parent, name) = (parent_of(target), name_of(target));
        remove_stale(parent, &name);
        check_replaceable(target)?;
        check_inputs(target, inputs)?;
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(location_err(&staging, LOCATION_FIX))?;
        }
        std::fs::create_dir(&staging).map_err(location_err(&staging, LOCATION_FIX))?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            committed: false,
            _lock: lock,
        })
    }

    /// The path of `name` inside the staging folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// The folder the results will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Creates a sub-folder of the staging folder (for per-claim results).
    pub fn create_subdir(&self, name: &str) -> Result<()> {
        let path = self.file(name);
        std::fs::create_dir_all(&path).map_err(out_err(&path))
    }

    /// Puts the files of a study's working folder `dir` (`rows.csv`, `done.txt`, `shard.json`)
    /// into the sub-folder `name` of the staging folder (hard links where the filesystem
    /// allows, copies otherwise), so they outlive the folder they are in when the output
    /// replaces it.
    pub fn adopt(&self, dir: &Path, name: &str) -> Result<()> {
        self.create_subdir(name)?;
        for file in WORK_FILES {
            let (from, to) = (dir.join(file), self.file(name).join(file));
            if from.exists() && std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(out_err(&to))?;
            }
        }
        Ok(())
    }

    /// Writes `rows` as a tidy CSV file with a header from the row type's field names.
    /// Refuses (and writes nothing) when a value is non-finite in a column that does not
    /// document it ([`check_finite_csv`]).
    pub fn write_csv<T: Serialize>(&self, name: &str, rows: &[T]) -> Result<()> {
        let path = self.file(name);
        let mut writer = csv::Writer::from_writer(Vec::new());
        for row in rows {
            writer.serialize(row)?;
        }
        let bytes = writer.into_inner().map_err(|e| Error::Output {
            path: path.clone(),
            source: e.into_error(),
        })?;
        check_finite_csv(name, &bytes)?;
        std::fs::write(&path, bytes).map_err(out_err(&path))
    }

    /// Writes a pretty-printed JSON file.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let path = self.file(name);
        let text = serde_json::to_string_pretty(value)? + "\n";
        std::fs::write(&path, text).map_err(out_err(&path))
    }

    /// Writes a text file.
    pub fn write_text(&self, name: &str, text: &str) -> Result<()> {
        let path = self.file(name);
        std::fs::write(&path, text).map_err(out_err(&path))
    }

    /// Replaces the target folder with the staging folder (after checking again that nothing
    /// foreign appeared in it meanwhile) and returns the target.
    pub fn commit(mut self) -> Result<PathBuf> {
        check_replaceable(&self.target)?;
        let (parent, name) = (parent_of(&self.target), name_of(&self.target));
        let aside = parent.join(format!(".{name}.replaced-{}", std::process::id()));
        let existed = std::fs::symlink_metadata(&self.target).is_ok();
        if existed {
            std::fs::rename(&self.target, &aside).map_err(out_err(&self.target))?;
        }
        if let Err(source) = std::fs::rename(&self.staging, &self.target) {
            if existed {
                let _ = std::fs::rename(&aside, &self.target);
            }
            return Err(Error::Output {
                path: self.target.clone(),
                source,
            });
        }
        self.committed = true;
        if existed {
            // Best effort: a leftover is removed by the next run on this folder.
            let _ = std::fs::remove_dir_all(&aside);
        }
        Ok(self.target.clone())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes a single file atomically (temporary name in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = parent_of(path);
    std::fs::create_dir_all(parent).map_err(out_err(parent))?;
    let tmp = parent.join(format!(".{}.partial-{}", name_of(path), std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        out_err(&tmp)(e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Output {
            path: path.to_path_buf(),
            source: e,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_are_refused_unless_their_column_documents_them() {
        let ok = b"a,expansivity_ratio\n1.5,inf\n,2\n";
        assert!(check_finite_csv("ok.csv", ok).is_ok());
        for (text, column, value) in [
            (&b"a,b\n1,NaN\n"[..], "b", "NaN"),
            (&b"a,b\n1,2\n-inf,3\n"[..], "a", "-inf"),
            (&b"a,b\n1,inf\n"[..], "b", "inf"),
        ] {
            match check_finite_csv("t.csv", text) {
                Err(Error::NonFinite {
                    column: c, value: v, ..
                }) => assert_eq!((c.as_str(), v.as_str()), (column, value)),
                other => panic!("{column}: expected NonFinite, got {other:?}"),
            }
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dpr-audit-out-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Commits an output holding `files` (and its manifest listing them) at `target`.
    fn tool_output(target: &Path, files: &[&str]) {
        let out = OutputDir::create(target, &[]).unwrap();
        for f in files {
            if let Some((sub, _)) = f.rsplit_once('/') {
                out.create_subdir(sub).unwrap();
            }
            out.write_text(f, "x").unwrap();
        }
        let mut listed: Vec<&str> = files.to_vec();
        listed.push(MANIFEST);
        out.write_json(MANIFEST, &serde_json::json!({"tool": "dpr-audit", "files": listed}))
            .unwrap();
        out.commit().unwrap();
    }

    #[test]
    fn dropped_output_leaves_nothing_and_commit_replaces() {
        let base = scratch("commit");
        let target = base.join("run");
        {
            let out = OutputDir::create(&target, &[]).unwrap();
            out.write_text("a.txt", "x").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(
            std::fs::read_dir(&base).unwrap().count(),
            0,
            "staging or lock left behind"
        );
        tool_output(&target, &["b.txt"]);
        tool_output(&target, &["c.txt"]);
        assert!(target.join("c.txt").exists() && !target.join("b.txt").exists());
        let names: Vec<_> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("run")], "only the output remains");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn foreign_files_are_never_replaced() {
        let base = scratch("foreign");
        let user = base.join("paper");
        std::fs::create_dir_all(user.join("figs")).unwrap();
        std::fs::write(user.join("figs/plot.pdf"), "mine").unwrap();
        let err = OutputDir::create(&user, &[]).unwrap_err().to_string();
        assert!(err.contains("figs/plot.pdf") && err.contains("--out"), "{err}");
        // A tool output with one extra file, or a manifest that is not dpr-audit's.
        let out = base.join("out");
        tool_output(&out, &["a.csv", "sub/b.csv"]);
        std::fs::write(out.join("sub/notes.txt"), "mine").unwrap();
        let err = OutputDir::create(&out, &[]).unwrap_err().to_string();
        assert!(err.contains("sub/notes.txt"), "{err}");
        std::fs::remove_file(out.join("sub/notes.txt")).unwrap();
        // A file added while a run is going is found at commit, and the staging is dropped.
        let staging = OutputDir::create(&out, &[]).unwrap();
        std::fs::write(out.join("late.txt"), "mine").unwrap();
        assert!(staging.commit().unwrap_err().to_string().contains("late.txt"));
        assert_eq!(std::fs::read_to_string(out.join("late.txt")).unwrap(), "mine");
        std::fs::write(out.join(MANIFEST), r#"{"tool": "other", "files": ["a.csv"]}"#).unwrap();
        std::fs::remove_file(out.join("late.txt")).unwrap();
        assert!(OutputDir::create(&out, &[]).unwrap_err().to_string().contains("a.csv"));
        // A study's working folder and a lock file a killed shard left are the tool's.
        let work = base.join("work");
        std::fs::create_dir_all(work.join("shard-0-of-1")).unwrap();
        for f in WORK_FILES {
            std::fs::write(work.join("shard-0-of-1").join(f), "").unwrap();
        }
        std::fs::write(work.join("shard-1-of-2.lock"), "12\n").unwrap();
        std::fs::write(work.join("shard-0-of-1/.rows.csv.partial-12"), "").unwrap();
        assert!(check_replaceable(&work).is_ok());
        std::fs::write(work.join("shard-0-of-1/draft.tex"), "mine").unwrap();
        assert!(
            check_replaceable(&work)
                .unwrap_err()
                .to_string()
                .contains("shard-0-of-1/draft.tex")
        );
        std::fs::write(base.join("file"), "mine").unwrap();
        assert!(
            check_replaceable(&base.join("file"))
                .unwrap_err()
                .to_string()
                .contains("not a folder")
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn inputs_inside_and_dangerous_locations_are_refused() {
        let base = scratch("inputs");
        let out = base.join("out");
        tool_output(&out, &["weights.safetensors"]);
        let input = base.join("out/../out/weights.safetensors");
        let err = OutputDir::create(&out, &[input, base.join("missing")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("weights.safetensors") && err.contains("input"), "{err}");
        assert!(OutputDir::create(&out, &[base.join("elsewhere")]).is_ok());
        let cwd = std::env::current_dir().unwrap();
        for target in [
            PathBuf::from("."),
            PathBuf::from("/"),
            cwd.join(".."),
            cwd.join("x/../.."),
        ] {
            let err = check_location(&target).unwrap_err().to_string();
            assert!(err.contains("--out"), "{}: {err}", target.display());
        }
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            assert!(check_location(Path::new(&home)).is_err());
        }
        assert!(check_location(&out).is_ok());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn one_lock_holder_at_a_time_and_stale_staging_is_removed() {
        let base = scratch("lock");
        let target = base.join("run");
        let held = OutputLock::acquire(&target).unwrap();
        let lock_text = std::fs::read_to_string(OutputLock::path_for(&target)).unwrap();
        assert_eq!(lock_text.trim(), std::process::id().to_string());
        // A second open file description is refused even within one process (flock semantics).
        match OutputDir::create(&target, &[]) {
            Err(Error::Busy { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(held);
        assert!(
            !OutputLock::path_for(&target).exists(),
            "the lock file is removed on release"
        );
        // pid 0 is never a user process (it has no /proc entry): its staging counts as dead.
        let stale = base.join(".run.partial-0");
        std::fs::create_dir_all(&stale).unwrap();
        let live = base.join(format!(".run.partial-{}", std::process::id()));
        let keep = base.join(".other.partial-0");
        std::fs::create_dir_all(&keep).unwrap();
        let out = OutputDir::create(&target, &[]).unwrap();
        assert!(!stale.exists() || !Path::new("/proc/self").exists());
        assert!(keep.exists(), "only staging folders of this output are removed");
        assert!(live.exists(), "this process's own staging is in use");
        drop(out);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
