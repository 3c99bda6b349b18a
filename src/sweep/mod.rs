//! Success-rate sweeps: the empirical sample complexity of DPR, GD and Adam two-init on random
//! networks (docs/THEORY.md §5–6; the paper's claim `m = O(k d² log n)`, linear in k).
//!
//! A sweep is a TOML grid ([`config`]) over k, networks (widths, or depths × widths), m (or
//! m/n), methods, noise and restarts, with a number of independent trials per setting. Each
//! trial ([`trial`]) draws its instance from streams keyed by the setting's parameters and the
//! trial index, solves it, and records the sign-invariant relative error and success. The
//! sweep is an [`crate::exec::Study`], so it shards, resumes and merges like any study.
//!
//! Outputs ([`write_outputs`]), all computed from the complete rows sorted by trial id:
//!
//! | file | content |
//! |---|---|
//! | `trials.csv` | one row per trial ([`trial::SweepRow`]) |
//! | `success.csv` | success rate per setting with its Wilson 95% interval ([`summary::SuccessRow`]) |
//! | `transitions.csv` | `m*` (50% success) per curve with its bracket ([`summary::TransitionRow`], [`transition`]) |
//! | `fits.csv` | `ln m* = a + b ln x` for x = k, d, ln n where the grid varies them ([`summary::FitRow`]) |
//! | `success_<method>.png`, `phase_<method>….png`, `m_star_vs_k.png` | figures ([`figures`]) |
//!
//! ```
//! use dpr_audit::sweep::config::parse;
//! use dpr_audit::sweep::run_in_memory;
//! use dpr_audit::sweep::trial::SweepStudy;
//!
//! let toml = "k = [2]\nlayer_widths = [[5, 8]]\nm = [4, 8]\nmethods = [\"dpr\"]\ntrials = 2\n";
//! let grid = parse(std::path::Path::new("example.toml"), toml).unwrap();
//! let (rows, analysis) = run_in_memory(&SweepStudy::new(grid, 1)).unwrap();
//! assert_eq!(rows.len(), 2 * 2);
//! assert!(!analysis.success.is_empty());
//! ```

pub mod config;
pub mod figures;
pub mod summary;
pub mod transition;
pub mod trial;

use std::path::Path;

pub use config::{Grid, SweepConfig};
pub use summary::{Analysis, analyse};
pub use trial::{SweepRow, SweepStudy};

use crate::error::Result;
use crate::exec::TrialRows;
use crate::exec::merge::read_merged;
use crate::exec::run::run_all;
use crate::exec::store::write_rows;
use crate::report::output::OutputDir;

/// The rows file of a sweep's outputs.
pub const TRIALS_FILE: &str = "trials.csv";

/// What [`write_outputs`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    /// Every file, relative to the output folder.
    pub files: Vec<String>,
    /// The figures among them.
    pub figures: Vec<String>,
}

/// Writes a sweep's CSV files and figures into `prefix` inside `out` (`""` for the top).
pub fn write_outputs(
    out: &OutputDir,
    prefix: &Path,
    study: &SweepStudy,
    rows: &TrialRows<SweepRow>,
    analysis: &Analysis,
) -> Result<Written> {
    let name = |file: &str| prefix.join(file).to_string_lossy().into_owned();
    let mut files = vec![name(TRIALS_FILE), name("success.csv"), name("transitions.csv")];
    write_rows(out, &files[0], rows)?;
    out.write_csv(&files[1], &analysis.success)?;
    out.write_csv(&files[2], &analysis.transitions)?;
    if !analysis.fits.is_empty() {
        files.push(name("fits.csv"));
        out.write_csv(&files[3], &analysis.fits)?;
    }
    let figures = figures::draw(out, prefix, &study.grid, analysis)?;
    files.extend(figures.iter().cloned());
    Ok(Written { files, figures })
}

/// Runs every trial of `study` in memory (parallel, no files) and analyses the rows (the
/// `verify` claims).
pub fn run_in_memory(study: &SweepStudy) -> Result<(TrialRows<SweepRow>, Analysis)> {
    let rows = run_all(study, &|| {})?;
    let analysis = analyse(&rows, study.trials());
    Ok((rows, analysis))
}

/// A sweep run in memory and written out.
#[derive(Clone, Debug)]
pub struct Completed {
    /// The sweep.
    pub study: SweepStudy,
    /// Its trial rows, by trial id.
    pub rows: TrialRows<SweepRow>,
    /// Its analysis.
    pub analysis: Analysis,
    /// The files written.
    pub written: Written,
}

/// Checks `config` (`source` names it in errors), runs the sweep in memory with master seed
/// `seed`, and writes its outputs into the folder `prefix` of `out` (created as needed).
pub fn run_into(out: &OutputDir, prefix: &Path, config: SweepConfig, source: &Path, seed: u64) -> Result<Completed> {
    let study = SweepStudy::new(config.check(source)?, seed);
    let (rows, analysis) = run_in_memory(&study)?;
    complete(out, prefix, study, rows, analysis)
}

/// [`run_into`] without running: the rows come from `merged`, the folder `merge` wrote for the
/// shards of exactly this sweep and seed ([`read_merged`] checks its configuration hash and
/// that every trial is there once). The analysis and outputs are those of [`run_into`] on the
/// same rows.
pub fn load_into(
    out: &OutputDir,
    prefix: &Path,
    config: SweepConfig,
    (source, seed): (&Path, u64),
    merged: &Path,
) -> Result<Completed> {
    let study = SweepStudy::new(config.check(source)?, seed);
    let rows = read_merged(&study, merged, TRIALS_FILE)?;
    let analysis = analyse(&rows, study.trials());
    complete(out, prefix, study, rows, analysis)
}

/// Writes the outputs of `rows` and their `analysis` into `prefix` of `out`.
fn complete(
    out: &OutputDir,
    prefix: &Path,
    study: SweepStudy,
    rows: TrialRows<SweepRow>,
    analysis: Analysis,
) -> Result<Completed> {
    out.create_subdir(&prefix.to_string_lossy())?;
    let written = write_outputs(out, prefix, &study, &rows, &analysis)?;
    Ok(Completed {
        study,
        rows,
        analysis,
        written,
    })
}
