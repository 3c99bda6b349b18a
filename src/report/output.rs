//! Output folders that appear whole or not at all.
//!
//! A subcommand writes into a staging folder beside the requested one
//! (`.<name>.partial-<pid>`); [`OutputDir::commit`] replaces the target with it in one rename.
//! Dropping an uncommitted [`OutputDir`] (an error, a panic) removes the staging folder, so a
//! failed run never leaves a half-written report behind.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// A staging folder that becomes the output folder on [`OutputDir::commit`].
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Output {
        path: path.to_path_buf(),
        source,
    }
}

impl OutputDir {
    /// Creates the staging folder for `target` (parents are created as needed).
    pub fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(out_err(parent))?;
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(out_err(&staging))?;
        }
        std::fs::create_dir_all(&staging).map_err(out_err(&staging))?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            committed: false,
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

    /// Writes `rows` as a tidy CSV file with a header from the row type's field names.
    pub fn write_csv<T: Serialize>(&self, name: &str, rows: &[T]) -> Result<()> {
        let path = self.file(name);
        let mut writer = csv::Writer::from_path(&path)?;
        for row in rows {
            writer.serialize(row)?;
        }
        writer.flush().map_err(out_err(&path))
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

    /// Replaces the target folder with the staging folder and returns the target.
    pub fn commit(mut self) -> Result<PathBuf> {
        if self.target.exists() {
            std::fs::remove_dir_all(&self.target).map_err(out_err(&self.target))?;
        }
        std::fs::rename(&self.staging, &self.target).map_err(out_err(&self.target))?;
        self.committed = true;
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
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(out_err(parent))?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(out_err(&tmp))?;
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
    fn dropped_output_leaves_nothing_and_commit_replaces() {
        let base = std::env::temp_dir().join(format!("dpr-audit-out-{}", std::process::id()));
        let target = base.join("run");
        {
            let out = OutputDir::create(&target).unwrap();
            out.write_text("a.txt", "x").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0);
        let out = OutputDir::create(&target).unwrap();
        out.write_text("b.txt", "y").unwrap();
        out.commit().unwrap();
        assert!(target.join("b.txt").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
