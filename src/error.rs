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
        "{path} is being written by another dpr-audit process (pid {pid}, holding {lock}); wait for it to finish, or write elsewhere (another --out or file name)"
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

    /// A computed table holds a non-finite number in a column that does not document one; the
    /// file is not written.
    #[error(
        "not writing {file}: row {row}, column `{column}` is {value}, a non-finite number this column does not document (docs/COLUMNS.md); the computation overflowed or failed: rerun with smaller inputs, or report the command line"
    )]
    NonFinite {
        file: String,
        row: usize,
        column: String,
        value: String,
    },
    /// The computation was stopped through its [`crate::cancel::Cancel`] token; no result
    /// exists (nothing partial is returned).
    #[error("cancelled: the computation was stopped before its end and produced no result; run it again to completion")]
    Cancelled,
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

    /// A TOML syntax or type error as one [`Error::Config`] line: the line (when `text`, the
    /// file's contents, is given), the key, what is wrong, and the fix (`example` names a valid
    /// file to compare with).
    pub fn toml(path: impl Into<PathBuf>, text: Option<&str>, err: &toml::de::Error, example: &str) -> Self {
        let what = err.message().split_whitespace().collect::<Vec<_>>().join(" ");
        let line = text.zip(err.span()).map(|(text, span)| {
            let start = span.start.min(text.len());
            let number = text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() + 1;
            (number, toml_key_at(text, start))
        });
        let key = backticked(&what)
            .filter(|_| what.starts_with("unknown field") || what.starts_with("missing field"))
            .or_else(|| line.as_ref().and_then(|(_, key)| key.clone()));
        let mut reason = String::new();
        if let Some((number, _)) = line {
            reason += &format!("line {number}, ");
        }
        if let Some(key) = key {
            reason += &format!("key `{key}`: ");
        }
        reason += &if what.starts_with("unknown field") {
            format!("{what}; remove the key or correct its spelling")
        } else {
            format!("{what}; fix it (compare with {example})")
        };
        Error::Config {
            path: path.into(),
            reason,
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

/// The first `` `name` `` in a message.
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// The key whose value holds byte `offset` of a TOML text: the nearest `key =` at or before
/// the offset's line (values such as arrays may span lines), or the `[table]` header there.
fn toml_key_at(text: &str, offset: usize) -> Option<String> {
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    text[..line_end].lines().rev().find_map(|line| {
        let line = line.trim();
        if line.starts_with('[') {
            return Some(line.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        }
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        (!key.is_empty() && !key.starts_with('#')).then(|| key.to_string())
    })
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
