//! What every subcommand receives (global options) and returns (its summary).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cli::GlobalArgs;
use crate::error::{Error, Result};
use crate::limits::{MemoryBudget, check_threads};
use crate::report::manifest::{Manifest, utc_now};
use crate::report::output::OutputDir;

/// Global options, validated, plus the start time of the run.
#[derive(Clone, Debug)]
pub struct Context {
    /// Master seed.
    pub seed: u64,
    /// Worker threads actually used.
    pub threads: usize,
    /// The memory a run may plan to use (`--max-memory`, else a fraction of the machine's).
    pub budget: MemoryBudget,
    /// `--out`, if given.
    pub out: Option<PathBuf>,
    /// `--quiet`.
    pub quiet: bool,
    /// `--json`.
    pub json: bool,
    /// The command line as given.
    pub command_line: Vec<String>,
    /// When the run started (UTC).
    pub started_utc: String,
}

/// What a subcommand reports: a human summary, a JSON summary, and where its files went.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Lines for a person.
    pub human: String,
    /// The same facts for a script (`--json`).
    pub json: serde_json::Value,
    /// Exit status (0 unless a strict check failed).
    pub exit_code: i32,
}

impl Context {
    /// Validates global options and sizes rayon's pool.
    pub fn new(global: &GlobalArgs, command_line: Vec<String>) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        check_threads("--threads", global.threads, cores)?;
        let threads = if global.threads == 0 { cores } else { global.threads };
        let budget = match &global.max_memory {
            Some(text) => MemoryBudget::parse("--max-memory", text)?,
            None => MemoryBudget::of_machine(),
        };
        // The global pool can be built once per process; later calls (tests) keep the first.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
        Ok(Self {
            seed: global.seed,
            threads,
            budget,
            out: global.out.clone(),
            quiet: global.quiet,
            json: global.json,
            command_line,
            started_utc: utc_now(),
        })
    }

    /// The output folder: `--out`, else `reports/<default_name>`.
    pub fn out_dir(&self, default_name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| Path::new("reports").join(default_name))
    }

    /// Writes `manifest.json` (listing every file in the staging folder) and commits.
    pub fn finish(&self, out: OutputDir, command: &str, parameters: &impl Serialize) -> Result<PathBuf> {
        let mut files = list_files(&out.file(""), Path::new(""))?;
        files.push("manifest.json".into());
        files.sort();
        let manifest = Manifest {
            tool: "dpr-audit",
            version: env!("CARGO_PKG_VERSION"),
            command: command.to_string(),
            command_line: self.command_line.clone(),
            seed: self.seed,
            threads: self.threads,
            parameters: serde_json::to_value(parameters)?,
            files,
            started_utc: self.started_utc.clone(),
            finished_utc: utc_now(),
        };
        out.write_json("manifest.json", &manifest)?;
        out.commit()
    }
}

fn list_files(dir: &Path, prefix: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Output {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Output {
            path: dir.to_path_buf(),
            source,
        })?;
        let rel = prefix.join(entry.file_name());
        if entry.path().is_dir() {
            files.extend(list_files(&entry.path(), &rel)?);
        } else {
            files.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(files)
}
