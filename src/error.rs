//! One error type for the library; `main` maps it to exit codes.
//!
//! Every user-facing variant names the offending value and the fix, so a researcher never
//! has to read the source to recover from a typo.

use std::path::PathBuf;

/// Errors the library reports. [`Error::is_usage`] separates the caller's mistakes (exit
/// code 2) from failures of the machine (I/O, exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is out of its valid range.
    #[error("invalid {name} = {value}: {fix}")]
    Param {
        name: &'static str,
        value: String,
        fix: String,
    },
    /// A weights file exists but does not describe a valid network.
    #[error("bad weights file {path}: {reason}")]
    Weights { path: PathBuf, reason: String },
    /// A spec or config file is malformed.
    #[error("bad config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    /// A required input file is missing.
    #[error("cannot read {path}: {source}; check the path")]
    MissingInput { path: PathBuf, source: std::io::Error },
    /// Writing results failed.
    #[error("cannot write {path}: {source}")]
    Output { path: PathBuf, source: std::io::Error },
    /// The output location cannot be used: it cannot be created, is not a folder, is not
    /// writable, or its filesystem has no file locks.
    #[error("cannot use {path} as an output location: {source}; {fix}")]
    OutputLocation {
        path: PathBuf,
        source: std::io::Error,
        fix: &'static str,
    },
    /// Another process holds the lock of an output folder.
    #[error(
        "{path} is being written by another dpr-audit process (pid {pid}, holding {lock}); wait for it to finish, or choose another --out"
    )]
    Busy { path: PathBuf, lock: PathBuf, pid: String },
    /// CSV serialisation failed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// JSON serialisation failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A plot could not be drawn.
    #[error("plot {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
    /// Stored trials cannot be used as they are: a different configuration, trials missing or
    /// duplicated across shards, a corrupt rows file (see `exec`).
    #[error("{path}: {reason}")]
    Trials { path: PathBuf, reason: String },
}

impl Error {
    /// Shorthand for [`Error::Param`].
    pub fn param(name: &'static str, value: impl std::fmt::Display, fix: impl Into<String>) -> Self {
        Error::Param {
            name,
            value: value.to_string(),
            fix: fix.into(),
        }
    }

    /// True when the caller's input is at fault (exit code 2), false for machine failures.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Param { .. }
                | Error::Weights { .. }
                | Error::Config { .. }
                | Error::MissingInput { .. }
                | Error::Trials { .. }
                | Error::OutputLocation { .. }
                | Error::Busy { .. }
        )
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
