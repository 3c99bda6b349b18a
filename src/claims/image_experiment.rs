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
//! | `draws` | independent draws of `A` (and of DPR's restarts) per (digit, m), ≥ 2 |
//! | `models` | folder of the decoders with its `SHA256SUMS` (default `models`; `verify --models DIR` sets it, e.g. `models/epochs50` for the 50-epoch VAE decoder) |
//!
//! **Uncertainty** (docs/THEORY.md §15.5). The paper fixes the digits; what is random is `A`
//! and the restarts. Draw `j` runs the whole experiment under the master seed
//! [`draw_seed`]`(seed, j)`, so every (digit, m) cell gets `draws` independent `A`. A claim's
//! quantity (a mean SSIM, or a mean error difference) is the mean over the digits of each
//! digit's mean over the draws, with a stratified t interval ([`stratified_interval`]). Each
//! requirement of a claim (the mean above 0.9, the difference below 0) is judged by its
//! interval ([`all_clear`]): PASS when every 95% interval lies on the required side, FAIL when
//! some Bonferroni `1 − α/K` interval (`K` requirements of the judged decoder) lies on the
//! wrong side, INCONCLUSIVE otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::verdicts::{Requirement, all_clear};
use super::{ALPHA, ClaimDir, Verdict};
use crate::error::{Error, Result};
use crate::experiments::decoders::{self, DecoderChoice};
use crate::experiments::figures::write_reconstruction;
use crate::experiments::reconstruct::{self, Algorithm, Protocol, Results, SummaryRow, summarize};
use crate::images::mnist::{self, Split};
use crate::images::vae::MODELS_DIR;
use crate::solvers::Selection;
use crate::stats::stratified_interval;

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
    /// Independent draws of `A` and the restarts per (digit, m).
    pub draws: usize,
    /// The `m` at which DPR runs (default: every `m`): the claims judge DPR at m = 200 only.
    #[serde(default)]
    pub dpr_m: Option<Vec<usize>>,
    /// Folder of the decoders, checked against its `SHA256SUMS` ([`MODELS_KEY`]).
    #[serde(default = "default_models")]
    pub models: String,
}

/// The spec key naming the folder of the decoders: `models` unless set (e.g. by `verify
/// --models DIR`, [`use_models`]).
pub const MODELS_KEY: &str = "models";

/// The shipped decoders' folder.
fn default_models() -> String {
    MODELS_DIR.to_string()
}

/// Points every image claim among `specs` (those whose protocols name `decoders`) at the
/// decoders in the folder `models`, in both protocols; the other claims are left as they are.
pub fn use_models<'a>(specs: impl IntoIterator<Item = &'a mut super::Spec>, models: &Path) {
    let value = toml::Value::String(models.to_string_lossy().into_owned());
    for spec in specs {
        for table in [&mut spec.quick, &mut spec.full] {
            if table.contains_key("decoders") {
                table.insert(MODELS_KEY.to_string(), value.clone());
            }
        }
    }
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
    if params.dpr_m.as_ref().is_some_and(|ms| !ms.contains(&200)) {
        return Err(bad("key `dpr_m`: the claims judge DPR at m = 200; include it".into()));
    }
    let indices = mnist::parse_indices(&params.images)?;
    let all = match params.data {
        DataSource::Fixture => mnist::fixture()?,
        DataSource::Mnist => mnist::load(&data_dir(), Split::Test)?,
    };
    let digits = all.select(&indices)?;
    let decoders = decoders::load_choice(Path::new(&params.models), params.decoders)?;
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
        dpr_m: params.dpr_m.clone(),
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

/// The master seed of draw `j`: `seed` itself for draw 0 (so a one-draw run is the
/// `mnist reconstruct` run of that seed), else `seed + j · 0x9E37_79B9_7F4A_7C15` (wrapping; the
/// golden-ratio increment keeps the draws of nearby master seeds — `verify --replicates` uses
/// seed, seed + 1, … — apart).
pub fn draw_seed(seed: u64, draw: usize) -> u64 {
    seed.wrapping_add((draw as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The `params.draws` runs of the experiment (draw 0 first), each computed once per process.
pub fn computed_draws(params: &Params, seed: u64, source: &Path) -> Result<Vec<Arc<Computed>>> {
    if params.draws < 2 {
        return Err(Error::Config {
            path: source.to_path_buf(),
            reason: format!(
                "key `draws`: {} gives no estimate of the spread over A; use draws >= 2 (quick: 2, full: 5)",
                params.draws
            ),
        });
    }
    (0..params.draws)
        .map(|j| computed(params, draw_seed(seed, j), source))
        .collect()
}

/// One reconstruction's metrics in one draw: the table the judges of C9 and C10 read.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The draw.
    pub draw: usize,
    /// The digit's index.
    pub image: usize,
    /// Measurements.
    pub m: usize,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// DPR's decoder (empty for the sparse methods).
    pub decoder: String,
    /// Selection mode.
    pub selection: Selection,
    /// SSIM (Wang 2004, 32×32).
    pub ssim: f64,
    /// `‖ŷ − y‖²/1024`.
    pub error: f64,
}

/// The samples of every draw.
pub fn samples(draws: &[Arc<Computed>]) -> Vec<Sample> {
    draws
        .iter()
        .enumerate()
        .flat_map(|(draw, c)| {
            c.results.rows.iter().map(move |r| Sample {
                draw,
                image: r.image,
                m: r.m,
                algorithm: r.algorithm,
                decoder: r.decoder.clone(),
                selection: r.selection,
                ssim: r.ssim_wang2004_padded32,
                error: r.error_padded1024,
            })
        })
        .collect()
}

/// The curve of one algorithm (and decoder) under one selection mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Decoder (empty for the sparse methods).
    pub decoder: String,
    /// Selection mode.
    pub selection: Selection,
}

impl Curve {
    /// Whether `s` lies on this curve at `m`.
    fn has(&self, s: &Sample, m: usize) -> bool {
        s.algorithm == self.algorithm && s.decoder == self.decoder && s.selection == self.selection && s.m == m
    }
}

/// `value` of the samples on `curve` at `m`, keyed by (image, draw).
pub fn cells(samples: &[Sample], curve: &Curve, m: usize, value: fn(&Sample) -> f64) -> BTreeMap<(usize, usize), f64> {
    samples
        .iter()
        .filter(|s| curve.has(s, m))
        .map(|s| ((s.image, s.draw), value(s)))
        .collect()
}

/// Groups `(image, draw) → value` into per-image lists over the draws (images in order).
pub fn strata(cells: &BTreeMap<(usize, usize), f64>) -> Vec<Vec<f64>> {
    let mut out: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (&(image, _), &v) in cells {
        out.entry(image).or_default().push(v);
    }
    out.into_values().collect()
}

/// Writes the run's CSV files and Figures 2–3 (at m = 200 and the largest m below 1000) into
/// the claim's folder; returns `(files, figures)`.
pub fn write(dir: &ClaimDir<'_>, c: &Computed) -> Result<(Vec<String>, Vec<String>)> {
    let mut figure_m = vec![200];
    figure_m.extend(c.protocol.m.iter().copied().filter(|&m| m != 200 && m < 1000).max());
    write_reconstruction(dir.out, &dir.name, &c.results, &c.summary, &figure_m)
}

/// The DPR decoders among the samples, in order.
pub fn decoder_names(samples: &[Sample]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in samples.iter().filter(|s| s.algorithm == Algorithm::Dpr) {
        if !names.contains(&s.decoder) {
            names.push(s.decoder.clone());
        }
    }
    names
}

/// The m values of one algorithm's samples, ascending.
pub fn m_values(samples: &[Sample], algorithm: Algorithm) -> Vec<usize> {
    let mut ms: Vec<usize> = samples
        .iter()
        .filter(|s| s.algorithm == algorithm)
        .map(|s| s.m)
        .collect();
    ms.sort_unstable();
    ms.dedup();
    ms
}

/// The three sparse methods.
pub const SPARSE: [Algorithm; 3] = [Algorithm::Sparta, Algorithm::Copram, Algorithm::Thwf];

/// One requirement of a claim (`c9_checks.csv`, `c10_checks.csv`): a mean over the digits
/// (of each digit's mean over the draws) with its intervals, against a threshold.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    /// Master seed.
    pub seed: u64,
    /// Draws of `A` per (digit, m).
    pub draws: usize,
    /// Digits (strata).
    pub images: usize,
    /// The DPR decoder of this requirement.
    pub decoder: String,
    /// Selection mode (for the sparse methods: `objective` = sign by pixel sum).
    pub selection: Selection,
    /// The algorithm whose quantity this is (for C10: the sparse method DPR is compared with).
    pub algorithm: Algorithm,
    /// Measurements.
    pub m: usize,
    /// What is averaged (e.g. `ssim_wang2004_padded32`).
    pub quantity: &'static str,
    /// `estimate`: a mean over fixed digits of means over random draws.
    pub kind: &'static str,
    /// The mean.
    pub mean: f64,
    /// Its standard error (stratified over the digits).
    pub se: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// 95% t interval, lower end.
    pub ci95_lo: f64,
    /// 95% t interval, upper end.
    pub ci95_hi: f64,
    /// Bonferroni `1 − α/K` interval, lower end (`K` requirements of this decoder).
    pub ci_bonferroni_lo: f64,
    /// Bonferroni interval, upper end.
    pub ci_bonferroni_hi: f64,
    /// The threshold.
    pub threshold: f64,
    /// `above` (mean > threshold required) or `below`.
    pub side: &'static str,
    /// `clears` (95% interval on the required side), `wrong_side` (Bonferroni interval on the
    /// other side) or `undecided`.
    pub outcome: &'static str,
}

impl CheckRow {
    /// The requirement it states.
    pub fn requirement(&self) -> Requirement {
        Requirement {
            threshold: self.threshold,
            above: self.side == "above",
            interval: (self.ci95_lo, self.ci95_hi),
            interval_bonferroni: (self.ci_bonferroni_lo, self.ci_bonferroni_hi),
        }
    }
}

/// What a claim asks of one quantity, before its intervals are computed.
pub struct Ask {
    /// The DPR decoder it belongs to.
    pub decoder: String,
    /// Selection mode.
    pub selection: Selection,
    /// The algorithm named in the row.
    pub algorithm: Algorithm,
    /// Measurements named in the row.
    pub m: usize,
    /// What is averaged.
    pub quantity: &'static str,
    /// Per-digit replicates over the draws.
    pub strata: Vec<Vec<f64>>,
    /// The threshold.
    pub threshold: f64,
    /// Whether the mean must lie above it.
    pub above: bool,
}

/// The check rows of `asks` at level `alpha`: `K` for the Bonferroni intervals is the number of
/// asks of the same decoder. Asks without at least 2 draws for every digit are dropped.
pub fn checks(asks: Vec<Ask>, alpha: f64, seed: u64) -> Vec<CheckRow> {
    let per_decoder = |d: &str| asks.iter().filter(|a| a.decoder == d).count().max(1) as f64;
    asks.iter()
        .filter_map(|a| {
            let ci = stratified_interval(&a.strata, alpha)?;
            let wide = stratified_interval(&a.strata, alpha / per_decoder(&a.decoder))?;
            let mut row = CheckRow {
                seed,
                draws: a.strata.iter().map(Vec::len).min().unwrap_or(0),
                images: a.strata.len(),
                decoder: a.decoder.clone(),
                selection: a.selection,
                algorithm: a.algorithm,
                m: a.m,
                quantity: a.quantity,
                kind: "estimate",
                mean: ci.mean,
                se: ci.se,
                df: ci.df,
                ci95_lo: ci.lo,
                ci95_hi: ci.hi,
                ci_bonferroni_lo: wide.lo,
                ci_bonferroni_hi: wide.hi,
                threshold: a.threshold,
                side: if a.above { "above" } else { "below" },
                outcome: "undecided",
            };
            let r = row.requirement();
            row.outcome = if r.wrong_side() {
                "wrong_side"
            } else if r.clears() {
                "clears"
            } else {
                "undecided"
            };
            Some(row)
        })
        .collect()
}

/// The verdict of one decoder: [`all_clear`] over its check rows (both selection modes).
pub fn judge(checks: &[CheckRow], decoder: &str) -> Verdict {
    let requirements: Vec<Requirement> = checks
        .iter()
        .filter(|c| c.decoder == decoder)
        .map(CheckRow::requirement)
        .collect();
    all_clear(&requirements)
}

/// The verdict of each decoder (`c9_verdicts.csv`, `c10_verdicts.csv`).
#[derive(Clone, Debug, Serialize)]
pub struct VerdictRow {
    /// Master seed.
    pub seed: u64,
    /// The DPR decoder.
    pub decoder: String,
    /// Whether this decoder decides the claim's verdict.
    pub judged: bool,
    /// Its verdict.
    pub verdict: Verdict,
}

/// One verdict row per decoder of `checks`, in order of appearance.
pub fn verdicts(checks: &[CheckRow], judged_decoder: &str, seed: u64) -> Vec<VerdictRow> {
    let mut out: Vec<VerdictRow> = Vec::new();
    for c in checks {
        if !out.iter().any(|v| v.decoder == c.decoder) {
            out.push(VerdictRow {
                seed,
                decoder: c.decoder.clone(),
                judged: c.decoder == judged_decoder,
                verdict: judge(checks, &c.decoder),
            });
        }
    }
    out
}

/// `decoder/selection: … mean [lo, hi]` for each check, for the statistic column.
pub fn describe_checks(checks: &[CheckRow]) -> String {
    checks
        .iter()
        .map(|c| {
            format!(
                "{}{}/{} {} m = {}: {:.4} [{:.4}, {:.4}] ({} {})",
                c.algorithm.label(),
                if c.decoder.is_empty() {
                    String::new()
                } else {
                    format!(" {}", c.decoder)
                },
                c.selection.name(),
                c.quantity,
                c.m,
                c.mean,
                c.ci95_lo,
                c.ci95_hi,
                c.side,
                c.threshold
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes the claim's files (draw 0's run and figures, `<prefix>_checks.csv`,
/// `<prefix>_verdicts.csv`) and assembles its report: the verdict of `params`' judged decoder.
pub fn report(
    spec: &super::Spec,
    dir: &ClaimDir<'_>,
    draws: &[Arc<Computed>],
    prefix: &str,
    checks: &[CheckRow],
    params: &Params,
) -> Result<super::ClaimReport> {
    let judged_decoder = params.judged_decoder.as_str();
    let first = &draws[0];
    let (mut files, figures) = write(dir, first)?;
    let verdict_rows = verdicts(checks, judged_decoder, first.results.rows.first().map_or(0, |r| r.seed));
    files.push(dir.write_csv(&format!("{prefix}_checks.csv"), checks)?);
    files.push(dir.write_csv(&format!("{prefix}_verdicts.csv"), &verdict_rows)?);
    let verdict = judge(checks, judged_decoder);
    let others: Vec<String> = verdict_rows
        .iter()
        .filter(|v| !v.judged)
        .map(|v| format!("{}: {}", v.decoder, v.verdict.label()))
        .collect();
    let count = |outcome: &str| {
        checks
            .iter()
            .filter(|c| c.decoder == judged_decoder && c.outcome == outcome)
            .count()
    };
    let measured = format!(
        "verdict judged on decoder {judged_decoder} of {}/ ({} of {} requirements clear, {} on the wrong side; not judged: {}); {} digits ({}) × {} independent draws of A per (digit, m); figures from draw 0",
        params.models,
        count("clears"),
        checks.iter().filter(|c| c.decoder == judged_decoder).count(),
        count("wrong_side"),
        if others.is_empty() {
            "none".to_string()
        } else {
            others.join(", ")
        },
        first.images,
        first.source,
        draws.len(),
    );
    let judged: Vec<CheckRow> = checks.iter().filter(|c| c.decoder == judged_decoder).cloned().collect();
    Ok(
        super::ClaimReport::new(spec, measured, verdict, files, figures).with_statistic(format!(
            "means over digits with 95% stratified t intervals (α = {ALPHA}): {}",
            describe_checks(&judged)
        )),
    )
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Samples of one curve at `m`: 10 digits × `draws` draws, digit `i` draw `j` at
    /// `centre + spread · ((i + j) mod 3 − 1)` for both SSIM and error.
    pub(crate) fn curve(
        algorithm: Algorithm,
        decoder: &str,
        selection: Selection,
        m: usize,
        centre: f64,
        spread: f64,
        draws: usize,
    ) -> Vec<Sample> {
        (0..10)
            .flat_map(|image| {
                (0..draws).map(move |draw| {
                    let v = centre + spread * (((image + draw) % 3) as f64 - 1.0);
                    Sample {
                        draw,
                        image,
                        m,
                        algorithm,
                        decoder: decoder.to_string(),
                        selection,
                        ssim: v,
                        error: v,
                    }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(decoder: &str, m: usize) -> Ask {
        Ask {
            decoder: decoder.into(),
            selection: Selection::Objective,
            algorithm: Algorithm::Dpr,
            m,
            quantity: "ssim",
            strata: vec![vec![0.90, 0.94, 0.92], vec![0.91, 0.95, 0.93]],
            threshold: 0.9,
            above: true,
        }
    }

    #[test]
    fn the_bonferroni_count_is_the_number_of_asks_of_the_same_decoder() {
        // Three asks of `vae` (K = 3), one of `relu` (K = 1): the same strata get the 95%
        // interval as their corrected one under `relu`, and a wider one under `vae`.
        let asks = vec![ask("vae", 100), ask("vae", 200), ask("vae", 300), ask("relu", 200)];
        let rows = checks(asks, 0.05, 1);
        assert_eq!(rows.len(), 4);
        let alone = stratified_interval(&rows_strata(), 0.05).unwrap();
        let corrected = stratified_interval(&rows_strata(), 0.05 / 3.0).unwrap();
        for row in &rows {
            let expected = if row.decoder == "vae" { &corrected } else { &alone };
            assert_eq!(
                (row.ci_bonferroni_lo, row.ci_bonferroni_hi),
                (expected.lo, expected.hi),
                "{}",
                row.decoder
            );
            assert_eq!((row.ci95_lo, row.ci95_hi), (alone.lo, alone.hi));
        }
    }

    #[test]
    fn the_statistic_column_names_each_check_with_its_interval() {
        let mut rows = checks(vec![ask("vae", 200), ask("", 300)], 0.05, 1);
        rows[1].side = "below";
        let r = &rows[0];
        let interval = format!("{:.4} [{:.4}, {:.4}]", r.mean, r.ci95_lo, r.ci95_hi);
        assert_eq!(
            describe_checks(&rows),
            format!(
                "DPR vae/objective ssim m = 200: {interval} (above 0.9); DPR/objective ssim m = 300: {interval} (below 0.9)"
            )
        );
        assert_eq!(describe_checks(&[]), "");
    }

    fn rows_strata() -> Vec<Vec<f64>> {
        ask("any", 0).strata
    }
}
