//! The image experiment behind claims C9 and C10 ([`crate::experiments::reconstruct`]), run
//! once per process for a given protocol and seed and shared by both claims.
//!
//! Parameters (the `[quick]` / `[full]` tables of `verify/C9-image-ssim.toml` and
//! `verify/C10-image-error.toml`):
//!
//! | key | meaning |
//! |---|---|
//! | `description` | free text |
//! | `data` | `"fixture"` (the 16 committed test digits) or `"mnist"` (`data/mnist`, fetched by `bash scripts/fetch-mnist.sh`) |
//! | `images` | test-digit indices, e.g. `"0-9"` |
//! | `m` | numbers of measurements |
//! | `restarts`, `iterations`, `lr` | DPR's Adam two-init (the paper: 5, 1000, 0.01) |
//! | `decoders` | `"vae"`, `"relu"` or `"both"` (the shipped decoders, `models/`) |
//! | `judged_decoder` | the decoder whose results decide the verdict (the paper's: `"vae"`) |

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::ClaimDir;
use crate::error::{Error, Result};
use crate::experiments::decoders::{self, DecoderChoice};
use crate::experiments::figures::write_reconstruction;
use crate::experiments::reconstruct::{self, Algorithm, Protocol, Results, SummaryRow, summarize};
use crate::images::mnist::{self, Split};
use crate::images::vae::MODELS_DIR;
use crate::solvers::Selection;

/// Where the digits come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The committed fixture (no download).
    Fixture,
    /// The verified MNIST test split in `data/mnist`.
    Mnist,
}

/// The experiment's parameters in a claim spec.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The digits' source.
    pub data: DataSource,
    /// Digit indices.
    pub images: String,
    /// Numbers of measurements.
    pub m: Vec<usize>,
    /// DPR restarts.
    pub restarts: usize,
    /// Adam iterations.
    pub iterations: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// The shipped decoders to run.
    pub decoders: DecoderChoice,
    /// The decoder that decides the verdict.
    pub judged_decoder: String,
}

/// A run of the experiment and its summary.
#[derive(Debug)]
pub struct Computed {
    /// The protocol run.
    pub protocol: Protocol,
    /// Everything it produced.
    pub results: Results,
    /// Means and spreads over the images.
    pub summary: Vec<SummaryRow>,
    /// Number of digits.
    pub images: usize,
    /// Their source, in words.
    pub source: String,
}

/// Runs already computed in this process: `(params, seed)` → results.
type Cache = Mutex<Vec<((Params, u64), Arc<Computed>)>>;
static CACHE: Cache = Mutex::new(Vec::new());

/// The MNIST folder: `data/mnist` in the working directory, else in the source tree of this
/// build ([`decoders::resolve`]).
fn data_dir() -> PathBuf {
    decoders::resolve(Path::new(mnist::DEFAULT_DIR))
}

/// Runs the experiment of `params` with master seed `seed`, or returns the run this process
/// already made with the same parameters (C9 and C10 share it).
pub fn computed(params: &Params, seed: u64, source: &Path) -> Result<Arc<Computed>> {
    let key = (params.clone(), seed);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(Arc::clone(c));
    }
    let bad = |reason: String| Error::Config {
        path: source.to_path_buf(),
        reason,
    };
    if !params.m.contains(&200) {
        return Err(bad("key `m`: the claims compare at m = 200; include it".into()));
    }
    let indices = mnist::parse_indices(&params.images)?;
    let all = match params.data {
        DataSource::Fixture => mnist::fixture()?,
        DataSource::Mnist => mnist::load(&data_dir(), Split::Test)?,
    };
    let digits = all.select(&indices)?;
    let decoders = decoders::load_choice(Path::new(MODELS_DIR), params.decoders)?;
    if !decoders.iter().any(|d| d.name == params.judged_decoder) {
        return Err(bad(format!(
            "key `judged_decoder`: {:?} is not among the decoders run",
            params.judged_decoder
        )));
    }
    let protocol = Protocol {
        m: params.m.clone(),
        restarts: params.restarts,
        iterations: params.iterations,
        lr: params.lr,
        ..Protocol::paper()
    };
    let results = reconstruct::run(&digits, &decoders, &protocol, seed, &|| {})?;
    let summary = summarize(&results.rows);
    let c = Arc::new(Computed {
        protocol,
        results,
        summary,
        images: digits.len(),
        source: digits.source().to_string(),
    });
    cache.push((key, Arc::clone(&c)));
    Ok(c)
}

/// Writes the run's CSV files and Figures 2–3 (at m = 200 and the largest m below 1000) into
/// the claim's folder; returns `(files, figures)`.
pub fn write(dir: &ClaimDir<'_>, c: &Computed) -> Result<(Vec<String>, Vec<String>)> {
    let mut figure_m = vec![200];
    figure_m.extend(c.protocol.m.iter().copied().filter(|&m| m != 200 && m < 1000).max());
    write_reconstruction(dir.out, &dir.name, &c.results, &c.summary, &figure_m)
}

/// The summary row of one curve at one m.
pub fn point<'a>(
    summary: &'a [SummaryRow],
    algorithm: Algorithm,
    decoder: &str,
    selection: Selection,
    m: usize,
) -> Option<&'a SummaryRow> {
    summary
        .iter()
        .find(|r| r.algorithm == algorithm && r.decoder == decoder && r.selection == selection && r.m == m)
}

/// The DPR decoders of a run, in order.
pub fn decoder_names(summary: &[SummaryRow]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in summary.iter().filter(|r| r.algorithm == Algorithm::Dpr) {
        if !names.contains(&r.decoder) {
            names.push(r.decoder.clone());
        }
    }
    names
}

/// The three sparse methods.
pub const SPARSE: [Algorithm; 3] = [Algorithm::Sparta, Algorithm::Copram, Algorithm::Thwf];

/// One comparison a claim makes (`c9_checks.csv`, `c10_checks.csv`): one mean over the images
/// against its requirement.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    /// Master seed.
    pub seed: u64,
    /// Images averaged.
    pub images: usize,
    /// The DPR decoder of this comparison.
    pub decoder: String,
    /// Selection mode (for the sparse methods: `objective` = sign by pixel sum).
    pub selection: Selection,
    /// The algorithm whose mean this is.
    pub algorithm: Algorithm,
    /// Measurements.
    pub m: usize,
    /// `ssim_wang2004_padded32_mean` or `error_padded1024_mean` (means over the images).
    pub quantity: &'static str,
    /// The mean.
    pub value: f64,
    /// What the claim requires of it.
    pub requirement: String,
    /// Whether the requirement is met.
    pub met: bool,
}

/// Whether a claim holds for one (decoder, selection) (`c9_verdicts.csv`, `c10_verdicts.csv`).
#[derive(Clone, Debug, Serialize)]
pub struct VerdictRow {
    /// Master seed.
    pub seed: u64,
    /// The DPR decoder.
    pub decoder: String,
    /// Selection mode.
    pub selection: Selection,
    /// Whether this combination decides the claim's verdict.
    pub judged: bool,
    /// Whether every check of the combination is met.
    pub holds: bool,
}

/// The verdict rows of `checks`: one per (decoder, selection), in order of appearance.
pub fn verdicts(checks: &[CheckRow], judged_decoder: &str, seed: u64) -> Vec<VerdictRow> {
    let mut out: Vec<VerdictRow> = Vec::new();
    for c in checks {
        match out
            .iter_mut()
            .find(|v| v.decoder == c.decoder && v.selection == c.selection)
        {
            Some(v) => v.holds &= c.met,
            None => out.push(VerdictRow {
                seed,
                decoder: c.decoder.clone(),
                selection: c.selection,
                judged: c.decoder == judged_decoder,
                holds: c.met,
            }),
        }
    }
    out
}

/// Writes the claim's files (the run, `<prefix>_checks.csv`, `<prefix>_verdicts.csv`) and
/// assembles its report: PASS when every judged (decoder, selection) holds, FAIL otherwise.
pub fn report(
    spec: &super::Spec,
    dir: &ClaimDir<'_>,
    c: &Computed,
    prefix: &str,
    checks: &[CheckRow],
    verdict_rows: &[VerdictRow],
    measured: String,
) -> Result<super::ClaimReport> {
    let (mut files, figures) = write(dir, c)?;
    files.push(dir.write_csv(&format!("{prefix}_checks.csv"), checks)?);
    files.push(dir.write_csv(&format!("{prefix}_verdicts.csv"), verdict_rows)?);
    let judged: Vec<&VerdictRow> = verdict_rows.iter().filter(|v| v.judged).collect();
    let pass = !judged.is_empty() && judged.iter().all(|v| v.holds);
    let failing: Vec<String> = verdict_rows
        .iter()
        .filter(|v| !v.judged && !v.holds)
        .map(|v| format!("{}/{}", v.decoder, v.selection.name()))
        .collect();
    let judged_names: Vec<String> = judged
        .iter()
        .map(|v| v.decoder.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let lead = match failing.len() {
        0 => format!("verdict judged on decoder {}", judged_names.join(", ")),
        _ => format!(
            "verdict judged on decoder {}; not judged but FAILING: {}",
            judged_names.join(", "),
            failing.join(", ")
        ),
    };
    Ok(super::ClaimReport::new(
        spec,
        format!("{lead}. {measured}"),
        super::Verdict::from_bool(pass),
        files,
        figures,
    ))
}

/// `decoder/selection: holds` or `FAILS`, for the measured text.
pub fn verdict_words(v: &VerdictRow) -> String {
    format!(
        "{}/{}: {}{}",
        v.decoder,
        v.selection.name(),
        if v.holds { "holds" } else { "FAILS" },
        if v.judged { " (judged)" } else { "" }
    )
}

/// A summary row with the given means (every spread equal to the mean), for the claims' tests.
#[cfg(test)]
pub(crate) fn test_point(
    algorithm: Algorithm,
    decoder: &str,
    selection: Selection,
    m: usize,
    (ssim, error): (f64, f64),
) -> SummaryRow {
    SummaryRow {
        seed: 1,
        m,
        algorithm,
        decoder: decoder.into(),
        selection,
        images: 10,
        error_padded1024_mean: error,
        error_padded1024_std: 0.0,
        error_padded1024_min: error,
        error_padded1024_max: error,
        error_original784_mean: error,
        ssim_wang2004_padded32_mean: ssim,
        ssim_wang2004_padded32_std: 0.0,
        ssim_wang2004_padded32_min: ssim,
        ssim_wang2004_padded32_max: ssim,
        images_ssim_above_0_9: 0,
        images_blank_closer: 0,
    }
}
