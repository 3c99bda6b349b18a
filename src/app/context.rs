//! What every subcommand receives (global options) and returns (its summary).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cli::GlobalArgs;
use crate::error::{Error, Result};
use crate::limits::{MemoryBudget, check_threads};
use crate::report::manifest::{Manifest, utc_now};
use crate::report::output::{MANIFEST, OutputDir, check_location, resolve};

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
    /// The paths on the command line that exist (input files and folders, except `--out`'s):
    /// an output folder holding one of them is never replaced.
    pub inputs: Vec<PathBuf>,
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
        crate::report::plot::set_figure_format(global.figure_format.into());
        if let Some(out) = &global.out {
            check_location(out)?;
        }
        Ok(Self {
            seed: global.seed,
            threads,
            budget,
            out: global.out.clone(),
            quiet: global.quiet,
            json: global.json,
            inputs: existing_paths(&command_line),
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

    /// The staging folder of output folder `target`, with its lock (see [`OutputDir::create`]).
    /// The paths on the command line inside `target` count as inputs; one naming `target`
    /// itself does not (it may be a word such as a subcommand's name that an earlier output
    /// was named after), so a command reading a folder checks it with
    /// [`check_inputs`](crate::report::output::check_inputs).
    pub fn create_out(&self, target: &Path) -> Result<OutputDir> {
        let target_resolved = resolve(target);
        let inputs: Vec<PathBuf> = self
            .inputs
            .iter()
            .filter(|input| resolve(input) != target_resolved)
            .cloned()
            .collect();
        OutputDir::create(target, &inputs)
    }

    /// Writes `manifest.json` (listing every file in the staging folder) and commits.
    pub fn finish(&self, out: OutputDir, command: &str, parameters: &impl Serialize) -> Result<PathBuf> {
        let mut files = list_files(&out.file(""), Path::new(""))?;
        files.push(MANIFEST.into());
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
        out.write_json(MANIFEST, &manifest)?;
        out.commit()
    }
}

/// The arguments of `command_line` (after the program name; values of `--flag=value` too)
/// that name an existing file or folder, except the value of `--out`.
fn existing_paths(command_line: &[String]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut after_out = false;
    for arg in command_line.iter().skip(1) {
        if std::mem::replace(&mut after_out, arg == "--out") || arg.starts_with("--out=") {
            continue;
        }
        let value = arg
            .split_once('=')
            .filter(|_| arg.starts_with("--"))
            .map_or(arg.as_str(), |(_, v)| v);
        if !value.is_empty() && std::fs::symlink_metadata(value).is_ok() {
            paths.push(PathBuf::from(value));
        }
    }
    paths
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
