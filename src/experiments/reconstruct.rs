//! The paper's image experiment (docs/THEORY.md §8; the paper's Figures 2–3): reconstruct MNIST
//! test digits from `m` phaseless Gaussian measurements with DPR on trained decoders and with
//! the sparse baselines on Daubechies-4 wavelet coefficients, and measure per-pixel error and
//! SSIM.
//!
//! **Measurements.** Cell `(image, m)` draws `A ∈ R^{m×1024}` with iid `N(0, 1)` entries (the
//! paper's choice, [`MeasurementScale::Unit`]) from `stream(seed, "mnist-reconstruct/m=<m>",
//! image, Measurements)` ([`measurement_matrix`]) and observes `b = |A y_0|` for the 32×32
//! zero-padded digit `y_0`. Every algorithm sees the same `b`:
//!
//! - DPR measures the 28×28 digit with the 784 columns of `A` that hit its pixels
//!   ([`interior_columns`]): `|A_784 y| = |A pad(y)| = b` (a submatrix of an iid Gaussian matrix
//!   is iid Gaussian).
//! - The sparse methods recover `v_0 = Ψ y_0` from `b = |(A Ψᵀ) v_0|` ([`wavelet_measurements`]);
//!   `A Ψᵀ` has iid `N(0, 1)` entries again since `Ψ` is orthogonal (docs/THEORY.md §7: rotational
//!   invariance), so this is exactly the paper's protocol on paired measurements.
//!
//! **DPR** ([`Algorithm::Dpr`]): Adam two-init ([`Method::Adam2`]) on `f(x) = ½‖|A_784 G(x)| −
//! b‖²` for each decoder `G`, learning rate 0.01, 1000 iterations, `R` restarts `x_r ~ N(0,
//! I_k)` from `stream(…, Restart(r))` and their negations: `2R` runs in lock-step. The
//! reported image `ŷ = pad(G(x̂))` is chosen among the runs by the lowest objective
//! ([`Selection::Objective`], no truth needed) and, as a labelled replication of the authors'
//! code, by the smallest error to the true image ([`Selection::Oracle`]).
//!
//! **Sparse baselines** ([`Algorithm::Sparta`], [`Algorithm::Copram`], [`Algorithm::Thwf`]):
//! each is deterministic (spectral initialisations), so the restarts apply to DPR only. SPARTA
//! and CoPRAM run for every sparsity of the sweep (2 to 212 in steps of 15, the journal
//! version's); ThWF takes no sparsity and runs once. The estimate `v̂` is defined up to a
//! global sign: [`Selection::Objective`] takes the sign with the larger pixel sum
//! ([`sign_by_pixel_sum`], digits are nonnegative), [`Selection::Oracle`] the sign closer to
//! the truth ([`oracle_sign`]). In both modes the sparsity is the one with the smallest
//! error (the paper's protocol: an oracle choice), recorded per image and m.
//!
//! **Metrics** of a reconstruction `ŷ` (32×32): `‖ŷ − y_0‖²/1024` (the paper's),
//! `‖crop(ŷ) − y‖²/784` on the original pixels, SSIM of Wang et al. 2004 on the padded images
//! (data range 1), the relative amplitude misfit `‖|Aŷ| − b‖/‖b‖` (what a user can see), and
//! whether the blank image is closer to the truth than `ŷ` ([`blank_is_closer`], Figure 3).
//! Reconstructions are not clipped to `[0, 1]` for the metrics.
//!
//! **Parallelism.** The cells run in parallel (rayon) and are collected in the order (image,
//! m); each cell's results depend on its key only, so the output is identical for any thread
//! count and any grid around the cell.

use std::collections::BTreeMap;
use std::time::Instant;

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::baselines::{self, MeasurementScale, PhaselessData};
use crate::core::measure::Measurements;
use crate::core::network::{Network, matvec};
use crate::core::objective::Problem;
use crate::error::{Error, Result};
use crate::exec::run::run_all;
use crate::exec::{Study, TrialRows};
use crate::images::metrics::{per_pixel_error_original, per_pixel_error_padded};
use crate::images::mnist::{Digits, crop_to_28, pad_to_32};
use crate::images::ssim::ssim_wang2004_padded;
use crate::images::wavelet::{DEFAULT_LEVEL, Db4Transform};
use crate::images::{MNIST_PIXELS, MNIST_SIDE, PAD, PADDED_PIXELS, PADDED_SIDE};
use crate::rng::{Stream, stream};
use crate::solvers::{self, Method, MethodParams, Run, Selection};
use crate::stats::spread;

/// Experiment name of the random streams.
pub const EXPERIMENT: &str = "mnist-reconstruct";
/// The paper's numbers of measurements.
pub const PAPER_M: [usize; 9] = [25, 50, 100, 200, 300, 500, 750, 1000, 1500];
/// The paper's images: the first 10 MNIST test digits.
pub const PAPER_IMAGES: &str = "0-9";
/// The paper's restarts per algorithm (DPR's; the sparse methods are deterministic).
pub const PAPER_RESTARTS: usize = 5;
/// The authors' Adam iterations.
pub const PAPER_ITERATIONS: usize = 1000;
/// The authors' Adam learning rate.
pub const PAPER_LR: f64 = 0.01;
/// Smallest sparsity of the journal version's sweep.
pub const SPARSITY_MIN: usize = 2;
/// Largest sparsity of the sweep.
pub const SPARSITY_MAX: usize = 212;
/// Step of the sweep.
pub const SPARSITY_STEP: usize = 15;
/// The SSIM level of the paper's claims ("mean SSIM > 0.9").
pub const SSIM_THRESHOLD: f64 = 0.9;

/// The four algorithms of Figure 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// DPR (Adam two-init) on a decoder.
    Dpr,
    /// SPARTA on db4 coefficients.
    Sparta,
    /// CoPRAM on db4 coefficients.
    Copram,
    /// Thresholded Wirtinger Flow on db4 coefficients.
    Thwf,
}

impl Algorithm {
    /// All four, in the paper's order.
    pub const ALL: [Algorithm; 4] = [Algorithm::Dpr, Algorithm::Sparta, Algorithm::Copram, Algorithm::Thwf];

    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Dpr => "dpr",
            Algorithm::Sparta => "sparta",
            Algorithm::Copram => "copram",
            Algorithm::Thwf => "thwf",
        }
    }

    /// The name used in figures.
    pub fn label(self) -> &'static str {
        match self {
            Algorithm::Dpr => "DPR",
            Algorithm::Sparta => "SPARTA",
            Algorithm::Copram => "CoPRAM",
            Algorithm::Thwf => "ThWF",
        }
    }

    /// The sparse baseline behind it (`None` for DPR).
    pub fn baseline(self) -> Option<baselines::Method> {
        match self {
            Algorithm::Dpr => None,
            Algorithm::Sparta => Some(baselines::Method::Sparta),
            Algorithm::Copram => Some(baselines::Method::Copram),
            Algorithm::Thwf => Some(baselines::Method::Thwf),
        }
    }
}

/// `min, min + step, …` up to `max`: the sparsity sweep. Errors unless
/// `1 ≤ min ≤ max ≤ 1024` and `step ≥ 1`.
pub fn sparsity_grid(min: usize, max: usize, step: usize) -> Result<Vec<usize>> {
    if !(1..=PADDED_PIXELS).contains(&min) || !(min..=PADDED_PIXELS).contains(&max) {
        return Err(Error::param(
            "sparsity range",
            format!("{min}..{max}"),
            format!("the sparsities must satisfy 1 ≤ min ≤ max ≤ {PADDED_PIXELS} (the paper: 2 to 212)"),
        ));
    }
    if step == 0 {
        return Err(Error::param(
            "sparsity step",
            step,
            "use a step of at least 1 (the paper: 15)",
        ));
    }
    Ok((min..=max).step_by(step).collect())
}

/// A decoder `G: R^k → R^784` with its name (`vae`, `relu`, or a file's stem) and origin.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// Name in reports.
    pub name: String,
    /// Where it came from (a path).
    pub source: String,
    /// The network.
    pub net: Network,
}

impl Decoder {
    /// Wraps `net`; errors unless it outputs 784 pixels.
    pub fn new(name: impl Into<String>, source: impl Into<String>, net: Network) -> Result<Self> {
        let source = source.into();
        if net.output_dim() != MNIST_PIXELS {
            return Err(Error::param(
                "decoder",
                format!("{source} with {} outputs", net.output_dim()),
                "a decoder of MNIST digits outputs 784 pixels (28×28, row-major)",
            ));
        }
        Ok(Self {
            name: name.into(),
            source,
            net,
        })
    }
}

/// The protocol of one run.
///
/// | name | default ([`Protocol::paper`]) | purpose | range |
/// |---|---|---|---|
/// | `m` | [`PAPER_M`] | numbers of measurements | nonempty, distinct, each ≥ 1 |
/// | `restarts` | 5 | DPR restarts `R` (2R runs with the negations) | ≥ 1 |
/// | `iterations` | 1000 | Adam iterations per run | ≥ 1 |
/// | `lr` | 0.01 | Adam's learning rate | finite, > 0 |
/// | `wavelet_level` | 2 (PyWavelets' maximum for db4 on 32) | decomposition level of `Ψ` | 0–5 |
/// | `sparsities` | 2, 17, …, 212 | SPARTA's and CoPRAM's sweep | nonempty, each 1–1024 |
/// | `algorithms` | all four | what runs | nonempty, distinct |
/// | `dpr_m` | every `m` | the `m` at which DPR runs (the sparse methods run at every `m`) | each among `m` |
/// | `baselines` | the papers' defaults | the sparse methods' settings | see [`baselines::Settings`] |
#[derive(Clone, Debug, Serialize)]
pub struct Protocol {
    /// Numbers of measurements.
    pub m: Vec<usize>,
    /// DPR restarts.
    pub restarts: usize,
    /// Adam iterations.
    pub iterations: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Wavelet decomposition level.
    pub wavelet_level: usize,
    /// Sparsity sweep of SPARTA and CoPRAM.
    pub sparsities: Vec<usize>,
    /// Algorithms to run.
    pub algorithms: Vec<Algorithm>,
    /// The sparse methods' settings.
    pub baselines: baselines::Settings,
    /// The `m` at which DPR runs (`None`: every `m`). Every random draw is keyed by its cell
    /// `(image, m)`, so leaving DPR out of a cell changes nothing else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpr_m: Option<Vec<usize>>,
}

/// The most measurements of one image a protocol accepts (16 × the 1024 padded pixels): far
/// beyond the paper's 1500, and a bound on the memory of each `A`.
pub const MAX_MEASUREMENTS: usize = 16 * PADDED_PIXELS;

impl Protocol {
    /// The paper's protocol (see the table).
    pub fn paper() -> Self {
        Self {
            m: PAPER_M.to_vec(),
            restarts: PAPER_RESTARTS,
            iterations: PAPER_ITERATIONS,
            lr: PAPER_LR,
            wavelet_level: DEFAULT_LEVEL,
            sparsities: sparsity_grid(SPARSITY_MIN, SPARSITY_MAX, SPARSITY_STEP).expect("the paper's sweep is valid"),
            algorithms: Algorithm::ALL.to_vec(),
            baselines: baselines::Settings::default(),
            dpr_m: None,
        }
    }

    /// Whether DPR runs at `m`.
    pub fn runs_dpr_at(&self, m: usize) -> bool {
        self.dpr_m.as_ref().is_none_or(|ms| ms.contains(&m))
    }

    /// Checks every field (see the table); errors name the command-line option.
    pub fn check(&self) -> Result<()> {
        distinct_positive("--m", &self.m, "give numbers of measurements like --m 100,200,750")?;
        if let Some(&big) = self.m.iter().find(|&&m| m > MAX_MEASUREMENTS) {
            return Err(Error::param(
                "--m",
                big,
                format!(
                    "at most {MAX_MEASUREMENTS} measurements per image (16 × the 1024 padded pixels; each A is m × 1024 in f64, 128 MiB at the limit), e.g. --m 100,200,750"
                ),
            ));
        }
        if self.restarts == 0 {
            return Err(Error::param(
                "--restarts",
                0,
                "use at least one restart, e.g. --restarts 5",
            ));
        }
        if self.iterations == 0 {
            return Err(Error::param(
                "--iterations",
                0,
                "run at least one Adam iteration, e.g. --iterations 1000",
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param(
                "--lr",
                self.lr,
                "give a finite learning rate > 0, e.g. --lr 0.01",
            ));
        }
        Db4Transform::new(self.wavelet_level)?;
        if self.sparsities.is_empty() || self.sparsities.iter().any(|&s| !(1..=PADDED_PIXELS).contains(&s)) {
            return Err(Error::param(
                "sparsities",
                format!("{:?}", self.sparsities),
                format!("give at least one sparsity, each between 1 and {PADDED_PIXELS}"),
            ));
        }
        if self.algorithms.is_empty() {
            return Err(Error::param(
                "--algorithms",
                "(none)",
                "name at least one of dpr, sparta, copram, thwf",
            ));
        }
        let mut seen = self.algorithms.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != self.algorithms.len() {
            return Err(Error::param(
                "--algorithms",
                format!("{:?}", self.algorithms),
                "name each algorithm once",
            ));
        }
        if let Some(&stray) = self.dpr_m.iter().flatten().find(|m| !self.m.contains(m)) {
            return Err(Error::param(
                "dpr_m",
                stray,
                format!("DPR runs only at numbers of measurements of the protocol, {:?}", self.m),
            ));
        }
        self.baselines.sparta.check()?;
        self.baselines.thwf.check()?;
        self.baselines.copram.stop.check()
    }
}

/// Refuses an empty list, a zero and repeated values.
fn distinct_positive(name: &'static str, values: &[usize], fix: &str) -> Result<()> {
    if values.is_empty() {
        return Err(Error::param(name, "(none)", fix.to_string()));
    }
    if let Some(&bad) = values.iter().find(|&&v| v == 0) {
        return Err(Error::param(name, bad, fix.to_string()));
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::param(
            name,
            w[0],
            "each value may appear once; remove the duplicate",
        ));
    }
    Ok(())
}

/// The stream experiment of the cells with `m` measurements.
fn cell_experiment(m: usize) -> String {
    format!("{EXPERIMENT}/m={m}")
}

/// `A ∈ R^{m×1024}` with iid `N(0, 1)` entries for cell `(image, m)`: `stream(seed,
/// "mnist-reconstruct/m=<m>", image, Measurements)`, with `image` the digit's index in its
/// source file.
pub fn measurement_matrix(seed: u64, image: usize, m: usize) -> Mat<f64> {
    let mut rng = stream(seed, &cell_experiment(m), image as u64, Stream::Measurements);
    Measurements::gaussian(m, PADDED_PIXELS, MeasurementScale::Unit, &mut rng).a
}

/// Position in the 32×32 padded image of pixel `j` (row-major) of the 28×28 digit.
fn padded_index(j: usize) -> usize {
    (j / MNIST_SIDE + PAD) * PADDED_SIDE + j % MNIST_SIDE + PAD
}

/// The `m × 784` columns of `A` (`m × 1024`) that multiply the digit's pixels inside the
/// padded image, in the digit's row-major order: `A_784 y = A pad(y)`.
pub fn interior_columns(a: &Mat<f64>) -> Mat<f64> {
    assert_eq!(a.ncols(), PADDED_PIXELS, "A acts on 32×32 images");
    Mat::from_fn(a.nrows(), MNIST_PIXELS, |i, j| a[(i, padded_index(j))])
}

/// `A Ψᵀ` (`m × 1024`): row `i` is `Ψ a_i`, the db4 coefficients of row `a_i` of `A` seen as
/// a 32×32 image, so that `(A Ψᵀ)(Ψ y) = A y` (docs/THEORY.md §7).
pub fn wavelet_measurements(a: &Mat<f64>, transform: &Db4Transform) -> Mat<f64> {
    assert_eq!(a.ncols(), PADDED_PIXELS, "A acts on 32×32 images");
    let mut out = Mat::zeros(a.nrows(), PADDED_PIXELS);
    let mut row = vec![0.0; PADDED_PIXELS];
    let mut coeffs = vec![0.0; PADDED_PIXELS];
    for i in 0..a.nrows() {
        row.iter_mut().enumerate().for_each(|(j, v)| *v = a[(i, j)]);
        transform.forward_into(&row, &mut coeffs);
        coeffs.iter().enumerate().for_each(|(j, &v)| out[(i, j)] = v);
    }
    out
}

/// The sign without the truth (docs/THEORY.md §7): digits are nonnegative, so of `±ŷ` the
/// one with the larger pixel sum is kept: `+1` when `Σ ŷ ≥ 0` (a tie keeps the estimate's
/// sign), else `−1`.
pub fn sign_by_pixel_sum(image: &[f64]) -> f64 {
    if image.iter().sum::<f64>() >= 0.0 { 1.0 } else { -1.0 }
}

/// The sign closer to the truth (oracle; ties `+1`): `+1` when `‖ŷ − y‖ ≤ ‖ŷ + y‖`.
pub fn oracle_sign(image: &[f64], truth: &[f64]) -> f64 {
    let (minus, plus) = image.iter().zip(truth).fold((0.0, 0.0), |(m, p), (e, t)| {
        (m + (e - t) * (e - t), p + (e + t) * (e + t))
    });
    if minus <= plus { 1.0 } else { -1.0 }
}

/// Figure 3's rule (the paper's): a reconstruction is shown as the blank image when the blank
/// image is strictly closer to the truth, `‖y‖ < ‖ŷ − y‖`.
pub fn blank_is_closer(image: &[f64], truth: &[f64]) -> bool {
    let truth_sq: f64 = truth.iter().map(|t| t * t).sum();
    let error_sq: f64 = image.iter().zip(truth).map(|(e, t)| (e - t) * (e - t)).sum();
    truth_sq < error_sq
}

/// Index of the first smallest value (`total_cmp`; NaN sorts last).
fn first_min(values: impl Iterator<Item = f64>) -> usize {
    values
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(i, _)| i)
        .expect("at least one value")
}

/// One reconstruction, as reported (docs/COLUMNS.md, `reconstruct.csv`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReconstructionRow {
    /// Master seed.
    pub seed: u64,
    /// Where the digits came from.
    pub data: String,
    /// Index of the digit in its source file.
    pub image: usize,
    /// Its label.
    pub label: u8,
    /// Measurements.
    pub m: usize,
    /// How `A` was drawn (`unit`: `N(0, 1)`).
    pub measurement_scale: String,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The decoder (DPR); empty for the sparse methods.
    pub decoder: String,
    /// `objective` (no truth where the method allows) or `oracle` (the paper's code).
    pub selection: Selection,
    /// What the selection chose, in words.
    pub selection_rule: String,
    /// DPR's restarts (runs: twice as many); 1 for the deterministic sparse methods.
    pub restarts: usize,
    /// The sparsity chosen (SPARTA, CoPRAM); empty otherwise.
    pub sparsity: Option<usize>,
    /// The wavelet level (sparse methods); empty for DPR.
    pub wavelet_level: Option<usize>,
    /// Iterations of the chosen run.
    pub iterations: usize,
    /// Why the chosen run stopped.
    pub termination: String,
    /// `‖|A ŷ| − b‖ / ‖b‖` (exact, truth-free).
    pub relative_misfit: f64,
    /// `‖ŷ − y‖² / 1024` on the 32×32 padded images (the paper's error).
    pub error_padded1024: f64,
    /// `‖ŷ − y‖² / 784` on the original 28×28 pixels.
    pub error_original784: f64,
    /// SSIM (Wang et al. 2004, Gaussian 11×11, σ = 1.5, data range 1) on 32×32 padded images.
    pub ssim_wang2004_padded32: f64,
    /// Whether the blank image is closer to the truth (Figure 3 shows blank then).
    pub blank_is_closer: bool,
    /// The reconstruction `ŷ` (32×32), for the figures.
    #[serde(skip)]
    pub reconstruction: Vec<f64>,
    /// The true padded image `y_0` (32×32), for the figures.
    #[serde(skip)]
    pub truth: Vec<f64>,
}

/// One DPR run (`dpr_runs.csv`): one start of one solve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DprRunRow {
    /// Master seed.
    pub seed: u64,
    /// Digit index in its source file.
    pub image: usize,
    /// Measurements.
    pub m: usize,
    /// Decoder.
    pub decoder: String,
    /// Restart `r`.
    pub restart: usize,
    /// `+1` from `x_r`, `−1` from `−x_r`.
    pub init_sign: i8,
    /// `f` at the end (`½‖|A G(x)| − b‖²`, exact).
    pub objective_value: f64,
    /// Iterations.
    pub iterations: usize,
    /// Error of `pad(G(x))` on 1024 pixels.
    pub error_padded1024: f64,
    /// SSIM (Wang 2004) of `pad(G(x))`.
    pub ssim_wang2004_padded32: f64,
    /// Whether the objective rule chose this run.
    pub chosen_by_objective: bool,
    /// Whether the oracle chose this run.
    pub chosen_by_oracle: bool,
}

/// One run of a sparse method's sweep (`sparse_sweep.csv`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SparseSweepRow {
    /// Master seed.
    pub seed: u64,
    /// Digit index in its source file.
    pub image: usize,
    /// Measurements.
    pub m: usize,
    /// The method.
    pub algorithm: Algorithm,
    /// The sparsity given (empty for ThWF).
    pub sparsity: Option<usize>,
    /// Wavelet level.
    pub wavelet_level: usize,
    /// Iterations.
    pub iterations: usize,
    /// Why it stopped.
    pub termination: String,
    /// `Σ Ψᵀ v̂`, the pixel sum of the estimate as returned.
    pub pixel_sum: f64,
    /// Error of `+Ψᵀ v̂` on 1024 pixels.
    pub error_padded1024_plus: f64,
    /// Error of `−Ψᵀ v̂` on 1024 pixels.
    pub error_padded1024_minus: f64,
    /// The sign [`sign_by_pixel_sum`] keeps.
    pub sign_by_pixel_sum: i8,
    /// Whether this sparsity was chosen in the `objective` mode (pixel-sum sign).
    pub chosen_objective: bool,
    /// Whether it was chosen in the `oracle` mode (oracle sign).
    pub chosen_oracle: bool,
}

/// Time spent per algorithm (and decoder), `timing.csv`: measured wall-clock seconds of the
/// algorithm's part of each cell, summed over cells (≈ CPU seconds when every core runs a
/// cell); not reproducible, so kept out of the other files.
#[derive(Clone, Debug, Serialize)]
pub struct TimingRow {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Decoder (DPR), empty otherwise.
    pub decoder: String,
    /// Cells.
    pub cells: usize,
    /// Solves: DPR runs (2R per cell), sparse runs (one per sparsity).
    pub solves: usize,
    /// Summed seconds (measured).
    pub seconds: f64,
    /// `seconds / solves`.
    pub seconds_per_solve: f64,
}

/// Everything a run produced, in the deterministic order (image, m, algorithm, decoder,
/// selection).
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// One row per reconstruction.
    pub rows: Vec<ReconstructionRow>,
    /// DPR's runs.
    pub dpr_runs: Vec<DprRunRow>,
    /// The sparse methods' sweeps.
    pub sparse_sweep: Vec<SparseSweepRow>,
    /// Time per algorithm.
    pub timing: Vec<TimingRow>,
}

/// What one cell shares between its algorithms.
struct Cell<'a> {
    seed: u64,
    digits: &'a Digits,
    position: usize,
    image: usize,
    m: usize,
    /// `y_0`, 32×32.
    truth: Vec<f64>,
    /// `A`, `m × 1024`.
    a: Mat<f64>,
    /// `b = |A y_0|`.
    b: Vec<f64>,
}

impl<'a> Cell<'a> {
    fn new(digits: &'a Digits, position: usize, m: usize, seed: u64) -> Self {
        let image = digits.source_index(position);
        let truth = digits.padded_image(position);
        let a = measurement_matrix(seed, image, m);
        let b = amplitudes(&a, &truth);
        Self {
            seed,
            digits,
            position,
            image,
            m,
            truth,
            a,
            b,
        }
    }

    /// A row for reconstruction `image` (32×32) with the metrics filled in.
    fn row(&self, algorithm: Algorithm, decoder: &str, selection: Selection, image: Vec<f64>) -> ReconstructionRow {
        let misfit = amplitudes(&self.a, &image)
            .iter()
            .zip(&self.b)
            .map(|(c, b)| (c - b) * (c - b))
            .sum::<f64>()
            .sqrt()
            / self.b.iter().map(|b| b * b).sum::<f64>().sqrt();
        ReconstructionRow {
            seed: self.seed,
            data: self.digits.source().to_string(),
            image: self.image,
            label: self.digits.label(self.position),
            m: self.m,
            measurement_scale: "unit".into(),
            algorithm,
            decoder: decoder.to_string(),
            selection,
            selection_rule: selection_rule(algorithm, selection).into(),
            restarts: 1,
            sparsity: None,
            wavelet_level: None,
            iterations: 0,
            termination: String::new(),
            relative_misfit: misfit,
            error_padded1024: per_pixel_error_padded(&image, &self.truth),
            error_original784: per_pixel_error_original(&crop_to_28(&image), &crop_to_28(&self.truth)),
            ssim_wang2004_padded32: ssim_wang2004_padded(&image, &self.truth),
            blank_is_closer: blank_is_closer(&image, &self.truth),
            reconstruction: image,
            truth: self.truth.clone(),
        }
    }
}

/// `|A y|`.
fn amplitudes(a: &Mat<f64>, y: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; a.nrows()];
    matvec(&mut out, a.as_ref(), y);
    out.iter_mut().for_each(|v| *v = v.abs());
    out
}

/// The rule behind a selection, in words.
fn selection_rule(algorithm: Algorithm, selection: Selection) -> &'static str {
    match (algorithm, selection) {
        (Algorithm::Dpr, Selection::Objective) => "run: lowest objective f",
        (Algorithm::Dpr, Selection::Oracle) => "run: closest image to the truth (oracle)",
        (Algorithm::Thwf, Selection::Objective) => "sign: larger pixel sum",
        (Algorithm::Thwf, Selection::Oracle) => "sign: closer to the truth (oracle)",
        (_, Selection::Objective) => "sign: larger pixel sum; sparsity: lowest error (oracle)",
        (_, Selection::Oracle) => "sign and sparsity: lowest error (oracle)",
    }
}

/// What one cell produced.
#[derive(Default)]
struct CellOutput {
    rows: Vec<ReconstructionRow>,
    dpr_runs: Vec<DprRunRow>,
    sparse_sweep: Vec<SparseSweepRow>,
    /// `(algorithm, decoder, solves, seconds)`.
    timing: Vec<(Algorithm, String, usize, f64)>,
}

/// A cell's output as stored in a run's rows file (one row per cell, so that an interrupted
/// run resumes cell by cell): the rows with the images of Figure 3, which `reconstruct.csv`
/// leaves out, beside them.
#[derive(Serialize, Deserialize)]
struct StoredCell {
    rows: Vec<ReconstructionRow>,
    /// `(reconstruction, truth)` of each row.
    images: Vec<(Vec<f64>, Vec<f64>)>,
    dpr_runs: Vec<DprRunRow>,
    sparse_sweep: Vec<SparseSweepRow>,
    timing: Vec<(Algorithm, String, usize, f64)>,
}

/// One row of a run's rows file: one cell, as JSON (`StoredCell`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellRecord {
    /// The cell's outputs.
    pub cell: String,
}

impl CellOutput {
    fn record(self) -> CellRecord {
        let images = self
            .rows
            .iter()
            .map(|r| (r.reconstruction.clone(), r.truth.clone()))
            .collect();
        let stored = StoredCell {
            rows: self.rows,
            images,
            dpr_runs: self.dpr_runs,
            sparse_sweep: self.sparse_sweep,
            timing: self.timing,
        };
        CellRecord {
            cell: serde_json::to_string(&stored).expect("a cell's output is plain data"),
        }
    }

    /// The cell of a stored record; `id` names it in the error for a corrupt record.
    fn from_record(record: &CellRecord, id: u64) -> Result<Self> {
        let stored: StoredCell = serde_json::from_str(&record.cell).map_err(|e| Error::Trials {
            path: std::path::PathBuf::from(format!("cell {id} of the rows file")),
            reason: format!("not a stored cell ({e}); the file is corrupt: remove the run's folder"),
        })?;
        let rows = stored
            .rows
            .into_iter()
            .zip(stored.images)
            .map(|(row, (reconstruction, truth))| ReconstructionRow {
                reconstruction,
                truth,
                ..row
            })
            .collect();
        Ok(Self {
            rows,
            dpr_runs: stored.dpr_runs,
            sparse_sweep: stored.sparse_sweep,
            timing: stored.timing,
        })
    }
}

/// DPR on one decoder in one cell.
fn dpr_cell(cell: &Cell<'_>, decoder: &Decoder, protocol: &Protocol, out: &mut CellOutput) {
    let net = &decoder.net;
    let problem = Problem {
        net: net.clone(),
        meas: Measurements {
            a: interior_columns(&cell.a),
            scale: MeasurementScale::Unit,
        },
        b: cell.b.clone(),
    };
    let params = MethodParams::for_problem(net, None, &problem.meas, None, protocol.lr);
    let settings = Method::Adam2.settings_with(Some(protocol.iterations), None, None, false);
    let experiment = cell_experiment(cell.m);
    let starts = solvers::starts(Method::Adam2, net.latent_dim(), protocol.restarts, |r| {
        stream(cell.seed, &experiment, cell.image as u64, Stream::Restart(r))
    });
    let runs = solvers::solve(&problem, Method::Adam2, &params, &settings, starts.as_ref());
    let finals = Mat::from_fn(net.latent_dim(), runs.len(), |i, j| runs[j].x[i]);
    let (_, outputs) = net.forward_batch(finals.as_ref());
    let images: Vec<Vec<f64>> = (0..runs.len()).map(|j| pad_to_32(outputs.col_as_slice(j))).collect();
    let errors: Vec<f64> = images
        .iter()
        .map(|im| per_pixel_error_padded(im, &cell.truth))
        .collect();
    let by_objective = first_min(runs.iter().map(|r| r.value));
    let by_oracle = first_min(errors.iter().copied());
    for (selection, j) in [(Selection::Objective, by_objective), (Selection::Oracle, by_oracle)] {
        out.rows
            .push(dpr_row(cell, decoder, protocol, selection, &runs[j], images[j].clone()));
    }
    for (j, run) in runs.iter().enumerate() {
        let (restart, init_sign) = crate::solvers::run_origin(j, protocol.restarts);
        out.dpr_runs.push(DprRunRow {
            seed: cell.seed,
            image: cell.image,
            m: cell.m,
            decoder: decoder.name.clone(),
            restart,
            init_sign,
            objective_value: run.value,
            iterations: run.iterations,
            error_padded1024: errors[j],
            ssim_wang2004_padded32: ssim_wang2004_padded(&images[j], &cell.truth),
            chosen_by_objective: j == by_objective,
            chosen_by_oracle: j == by_oracle,
        });
    }
}

fn dpr_row(
    cell: &Cell<'_>,
    decoder: &Decoder,
    protocol: &Protocol,
    selection: Selection,
    run: &Run,
    image: Vec<f64>,
) -> ReconstructionRow {
    ReconstructionRow {
        restarts: protocol.restarts,
        iterations: run.iterations,
        termination: run.termination.name().into(),
        ..cell.row(Algorithm::Dpr, &decoder.name, selection, image)
    }
}

/// One run of a sparse method's sweep, with both signs' errors.
struct SweepPoint {
    sparsity: Option<usize>,
    recovery: baselines::Recovery,
    image: Vec<f64>,
    sign: f64,
    error_plus: f64,
    error_minus: f64,
}

impl SweepPoint {
    fn error_with(&self, sign: f64) -> f64 {
        if sign > 0.0 { self.error_plus } else { self.error_minus }
    }
}

/// A sparse method's sweep in one cell, both selections.
fn sparse_cell(
    cell: &Cell<'_>,
    algorithm: Algorithm,
    data: &PhaselessData<'_>,
    transform: &Db4Transform,
    protocol: &Protocol,
    out: &mut CellOutput,
) -> Result<usize> {
    let method = algorithm.baseline().expect("a sparse method");
    let grid: Vec<Option<usize>> = if method.uses_sparsity() {
        protocol.sparsities.iter().map(|&s| Some(s)).collect()
    } else {
        vec![None]
    };
    let mut points = Vec::with_capacity(grid.len());
    for sparsity in grid {
        let recovery = baselines::run(method, data, sparsity.unwrap_or(1), &protocol.baselines)?;
        let image = transform.inverse(&recovery.estimate);
        let negated: Vec<f64> = image.iter().map(|v| -v).collect();
        points.push(SweepPoint {
            sparsity,
            sign: sign_by_pixel_sum(&image),
            error_plus: per_pixel_error_padded(&image, &cell.truth),
            error_minus: per_pixel_error_padded(&negated, &cell.truth),
            recovery,
            image,
        });
    }
    let by_objective = first_min(points.iter().map(|p| p.error_with(p.sign)));
    let by_oracle = first_min(points.iter().map(|p| p.error_plus.min(p.error_minus)));
    for (selection, j) in [(Selection::Objective, by_objective), (Selection::Oracle, by_oracle)] {
        let p = &points[j];
        let sign = match selection {
            Selection::Objective => p.sign,
            Selection::Oracle => oracle_sign(&p.image, &cell.truth),
        };
        let image: Vec<f64> = p.image.iter().map(|v| sign * v).collect();
        out.rows.push(ReconstructionRow {
            sparsity: p.sparsity,
            wavelet_level: Some(transform.level()),
            iterations: p.recovery.iterations,
            termination: p.recovery.termination.name().into(),
            ..cell.row(algorithm, "", selection, image)
        });
    }
    for (j, p) in points.iter().enumerate() {
        out.sparse_sweep.push(SparseSweepRow {
            seed: cell.seed,
            image: cell.image,
            m: cell.m,
            algorithm,
            sparsity: p.sparsity,
            wavelet_level: transform.level(),
            iterations: p.recovery.iterations,
            termination: p.recovery.termination.name().into(),
            pixel_sum: p.image.iter().sum(),
            error_padded1024_plus: p.error_plus,
            error_padded1024_minus: p.error_minus,
            sign_by_pixel_sum: p.sign as i8,
            chosen_objective: j == by_objective,
            chosen_oracle: j == by_oracle,
        });
    }
    Ok(points.len())
}

/// Every algorithm of the protocol in cell `(position, m)`.
fn run_cell(
    digits: &Digits,
    position: usize,
    m: usize,
    decoders: &[Decoder],
    protocol: &Protocol,
    transform: &Db4Transform,
    seed: u64,
) -> Result<CellOutput> {
    let cell = Cell::new(digits, position, m, seed);
    let mut out = CellOutput::default();
    let sparse_matrix = protocol
        .algorithms
        .iter()
        .any(|a| a.baseline().is_some())
        .then(|| wavelet_measurements(&cell.a, transform));
    let data = match &sparse_matrix {
        Some(b_matrix) => Some(PhaselessData::new(b_matrix, MeasurementScale::Unit, &cell.b)?),
        None => None,
    };
    for &algorithm in &protocol.algorithms {
        match (algorithm, &data) {
            (Algorithm::Dpr, _) if !protocol.runs_dpr_at(m) => {}
            (Algorithm::Dpr, _) => {
                for decoder in decoders {
                    let clock = Instant::now();
                    dpr_cell(&cell, decoder, protocol, &mut out);
                    let seconds = clock.elapsed().as_secs_f64();
                    out.timing
                        .push((algorithm, decoder.name.clone(), 2 * protocol.restarts, seconds));
                }
            }
            (_, Some(data)) => {
                let clock = Instant::now();
                let solves = sparse_cell(&cell, algorithm, data, transform, protocol, &mut out)?;
                out.timing
                    .push((algorithm, String::new(), solves, clock.elapsed().as_secs_f64()));
            }
            (_, None) => unreachable!("the wavelet data exist whenever a sparse method runs"),
        }
    }
    Ok(out)
}

/// The experiment as a study of cells `(image, m)` (trial id = image position × number of m +
/// index of m): [`run`] computes it in memory, `mnist reconstruct` through a rows file that an
/// interrupted run resumes (`--resume`).
pub struct ReconstructStudy<'a> {
    digits: &'a Digits,
    decoders: &'a [Decoder],
    protocol: &'a Protocol,
    seed: u64,
    transform: Db4Transform,
    /// [`Study::config`], made on first use.
    config: std::sync::OnceLock<serde_json::Value>,
}

impl<'a> ReconstructStudy<'a> {
    /// Checks the protocol and its inputs. DPR runs once per decoder.
    pub fn new(digits: &'a Digits, decoders: &'a [Decoder], protocol: &'a Protocol, seed: u64) -> Result<Self> {
        protocol.check()?;
        if protocol.algorithms.contains(&Algorithm::Dpr) && decoders.is_empty() {
            return Err(Error::param(
                "--decoder",
                "(none)",
                "DPR needs a decoder: --decoder vae|relu|both or --weights FILE",
            ));
        }
        if digits.is_empty() {
            return Err(Error::param(
                "--images",
                "(none)",
                "select at least one image, e.g. --images 0-9",
            ));
        }
        Ok(Self {
            digits,
            decoders,
            protocol,
            seed,
            transform: Db4Transform::new(protocol.wavelet_level)?,
            config: std::sync::OnceLock::new(),
        })
    }

    /// The image position and m of cell `id`.
    fn cell(&self, id: u64) -> (usize, usize) {
        let per_image = self.protocol.m.len() as u64;
        ((id / per_image) as usize, self.protocol.m[(id % per_image) as usize])
    }

    /// The results of every cell's record, in the order (image, m, algorithm, decoder,
    /// selection), with the time per algorithm summed over cells.
    pub fn results(&self, records: &TrialRows<CellRecord>) -> Result<Results> {
        let mut results = Results::default();
        let mut timing: BTreeMap<(Algorithm, String), (usize, usize, f64)> = BTreeMap::new();
        for (id, record) in records {
            let out = CellOutput::from_record(record, *id)?;
            results.rows.extend(out.rows);
            results.dpr_runs.extend(out.dpr_runs);
            results.sparse_sweep.extend(out.sparse_sweep);
            for (algorithm, decoder, solves, seconds) in out.timing {
                let t = timing.entry((algorithm, decoder)).or_default();
                *t = (t.0 + 1, t.1 + solves, t.2 + seconds);
            }
        }
        results.timing = timing
            .into_iter()
            .map(|((algorithm, decoder), (cells, solves, seconds))| TimingRow {
                algorithm,
                decoder,
                cells,
                solves,
                seconds,
                seconds_per_solve: seconds / solves.max(1) as f64,
            })
            .collect();
        Ok(results)
    }
}

/// A decoder's identity for a run's configuration hash: its name, file, widths and the
/// SHA-256 of its weights (so that a resumed run refuses a retrained decoder).
fn decoder_fingerprint(d: &Decoder) -> serde_json::Value {
    let mut bytes = Vec::new();
    for layer in d.net.layers() {
        for j in 0..layer.weight.ncols() {
            bytes.extend(layer.weight.col(j).iter().flat_map(|v| v.to_le_bytes()));
        }
        bytes.extend(layer.bias.iter().flatten().flat_map(|v| v.to_le_bytes()));
    }
    serde_json::json!({
        "name": d.name,
        "source": d.source,
        "widths": d.net.widths(),
        "weights_sha256": crate::images::mnist::sha256_hex(&bytes),
    })
}

impl Study for ReconstructStudy<'_> {
    type Row = CellRecord;

    fn kind(&self) -> &'static str {
        "mnist-reconstruct"
    }

    fn config(&self) -> serde_json::Value {
        // Made once: the decoders' fingerprints hash their weights.
        self.config
            .get_or_init(|| {
                let images: Vec<usize> = (0..self.digits.len()).map(|i| self.digits.source_index(i)).collect();
                serde_json::json!({
                    "seed": self.seed,
                    "protocol": self.protocol,
                    "data": self.digits.source(),
                    "images": images,
                    "decoders": self.decoders.iter().map(decoder_fingerprint).collect::<Vec<_>>(),
                })
            })
            .clone()
    }

    fn len(&self) -> u64 {
        (self.digits.len() * self.protocol.m.len()) as u64
    }

    fn describe(&self, id: u64) -> String {
        let (position, m) = self.cell(id);
        format!("image {}, m = {m}", self.digits.source_index(position))
    }

    fn run(&self, id: u64) -> Result<Vec<CellRecord>> {
        let (position, m) = self.cell(id);
        let out = run_cell(
            self.digits,
            position,
            m,
            self.decoders,
            self.protocol,
            &self.transform,
            self.seed,
        )?;
        Ok(vec![out.record()])
    }
}

/// Runs the experiment on every digit of `digits` and every `m` of `protocol` in memory (cells
/// in parallel, results in the order (image, m, algorithm, decoder, selection)). `on_cell` is
/// called after each cell (a progress bar).
pub fn run(
    digits: &Digits,
    decoders: &[Decoder],
    protocol: &Protocol,
    seed: u64,
    on_cell: &(dyn Fn() + Sync),
) -> Result<Results> {
    let study = ReconstructStudy::new(digits, decoders, protocol, seed)?;
    study.results(&run_all(&study, on_cell)?)
}

/// One row of `figure2.csv`: the reconstructions of one (m, algorithm, decoder, selection)
/// over the images (Figure 2's points and spread).
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    /// Master seed.
    pub seed: u64,
    /// Measurements.
    pub m: usize,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Decoder (DPR) or empty.
    pub decoder: String,
    /// Selection mode.
    pub selection: Selection,
    /// Images averaged.
    pub images: usize,
    /// Mean over the images of `error_padded1024`.
    pub error_padded1024_mean: f64,
    /// Sample standard deviation over the images.
    pub error_padded1024_std: f64,
    /// Smallest.
    pub error_padded1024_min: f64,
    /// Largest.
    pub error_padded1024_max: f64,
    /// Mean over the images of `error_original784`.
    pub error_original784_mean: f64,
    /// Mean over the images of `ssim_wang2004_padded32`.
    pub ssim_wang2004_padded32_mean: f64,
    /// Sample standard deviation over the images.
    pub ssim_wang2004_padded32_std: f64,
    /// Smallest.
    pub ssim_wang2004_padded32_min: f64,
    /// Largest.
    pub ssim_wang2004_padded32_max: f64,
    /// Images with SSIM above [`SSIM_THRESHOLD`] (exact count).
    pub images_ssim_above_0_9: usize,
    /// Images for which the blank image is closer to the truth (exact count).
    pub images_blank_closer: usize,
}

/// The key of a Figure 2 curve.
pub type CurveKey = (Algorithm, String, &'static str);

/// Groups the rows by (algorithm, decoder, selection, m), sorted in that order.
pub fn summarize(rows: &[ReconstructionRow]) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<(CurveKey, usize), Vec<&ReconstructionRow>> = BTreeMap::new();
    for r in rows {
        let key = ((r.algorithm, r.decoder.clone(), r.selection.name()), r.m);
        groups.entry(key).or_default().push(r);
    }
    groups
        .into_values()
        .map(|group| {
            let first = group[0];
            let errors: Vec<f64> = group.iter().map(|r| r.error_padded1024).collect();
            let ssims: Vec<f64> = group.iter().map(|r| r.ssim_wang2004_padded32).collect();
            let original: Vec<f64> = group.iter().map(|r| r.error_original784).collect();
            let (e, s) = (spread(&errors), spread(&ssims));
            SummaryRow {
                seed: first.seed,
                m: first.m,
                algorithm: first.algorithm,
                decoder: first.decoder.clone(),
                selection: first.selection,
                images: group.len(),
                error_padded1024_mean: e.mean,
                error_padded1024_std: e.std,
                error_padded1024_min: e.min,
                error_padded1024_max: e.max,
                error_original784_mean: spread(&original).mean,
                ssim_wang2004_padded32_mean: s.mean,
                ssim_wang2004_padded32_std: s.std,
                ssim_wang2004_padded32_min: s.min,
                ssim_wang2004_padded32_max: s.max,
                images_ssim_above_0_9: ssims.iter().filter(|&&v| v > SSIM_THRESHOLD).count(),
                images_blank_closer: group.iter().filter(|r| r.blank_is_closer).count(),
            }
        })
        .collect()
}

/// The curve label of a summary row, e.g. `DPR (vae)` or `SPARTA`.
pub fn curve_label(algorithm: Algorithm, decoder: &str) -> String {
    match algorithm {
        Algorithm::Dpr => format!("DPR ({decoder})"),
        other => other.label().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::mnist::fixture;

    #[test]
    fn sign_by_pixel_sum_keeps_the_nonnegative_orientation() {
        let y = fixture().unwrap().padded_image(3);
        let noisy: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.05 * ((i % 7) as f64 - 3.0))
            .collect();
        let flipped: Vec<f64> = noisy.iter().map(|v| -v).collect();
        assert_eq!(sign_by_pixel_sum(&noisy), 1.0);
        assert_eq!(sign_by_pixel_sum(&flipped), -1.0);
        // A zero sum keeps the estimate as returned.
        assert_eq!(sign_by_pixel_sum(&[1.0, -1.0]), 1.0);
        assert_eq!(oracle_sign(&flipped, &y), -1.0);
        assert_eq!(oracle_sign(&noisy, &y), 1.0);
    }

    #[test]
    fn blank_is_shown_only_when_strictly_closer() {
        let y = fixture().unwrap().padded_image(0);
        assert!(!blank_is_closer(&y, &y));
        let zero = vec![0.0; PADDED_PIXELS];
        // The blank image itself ties with the blank image: shown as it is.
        assert!(!blank_is_closer(&zero, &y));
        let negated: Vec<f64> = y.iter().map(|v| -v).collect();
        assert!(blank_is_closer(&negated, &y));
        let half: Vec<f64> = y.iter().map(|v| 0.5 * v).collect();
        assert!(!blank_is_closer(&half, &y));
    }

    #[test]
    fn one_measurement_matrix_serves_every_algorithm() {
        let y = fixture().unwrap().padded_image(1);
        let a = measurement_matrix(3, 1, 40);
        let b = amplitudes(&a, &y);
        let inner = Measurements {
            a: interior_columns(&a),
            scale: MeasurementScale::Unit,
        };
        let transform = Db4Transform::default();
        let wavelet = Measurements {
            a: wavelet_measurements(&a, &transform),
            scale: MeasurementScale::Unit,
        };
        let from_pixels = inner.amplitudes(&crop_to_28(&y));
        let from_coefficients = wavelet.amplitudes(&transform.forward(&y));
        // Sums of 784 or 1024 products of order 1 in another order: rounding only.
        for ((b, p), c) in b.iter().zip(&from_pixels).zip(&from_coefficients) {
            assert!((b - p).abs() < 1e-12 && (b - c).abs() < 1e-12, "{b} {p} {c}");
        }
        // The stream is keyed by (image, m) only.
        assert_eq!(measurement_matrix(3, 1, 40), a);
        assert_ne!(measurement_matrix(3, 2, 40), a);
    }

    #[test]
    fn sparsity_grid_is_the_papers_sweep() {
        let g = sparsity_grid(SPARSITY_MIN, SPARSITY_MAX, SPARSITY_STEP).unwrap();
        assert_eq!((g.len(), g[0], g[1], *g.last().unwrap()), (15, 2, 17, 212));
        assert!(sparsity_grid(0, 10, 1).is_err() && sparsity_grid(5, 4, 1).is_err());
        assert!(sparsity_grid(1, 2000, 1).is_err() && sparsity_grid(1, 10, 0).is_err());
    }

    /// Leaving DPR out at one `m` removes exactly its rows: every other row (the sparse methods
    /// there, everything at the other `m`) is bit for bit the same, because each cell's `A`
    /// and DPR's restarts are keyed by `(image, m)`, not by the position of the cell or of the
    /// algorithm. A defect that keyed a stream by position would shift the other rows.
    #[test]
    fn leaving_dpr_out_at_one_m_changes_no_other_row() {
        let digits = fixture().unwrap().select(&[0, 1]).unwrap();
        let net = Network::gaussian(
            &[2, 8, MNIST_PIXELS],
            crate::core::network::WeightScale::Normalized,
            &mut stream(7, "test/tiny-decoder", 0, Stream::Network),
        );
        let decoders = [Decoder::new("tiny", "test", net).unwrap()];
        let full = Protocol {
            m: vec![30, 60],
            restarts: 1,
            iterations: 5,
            sparsities: vec![10],
            algorithms: vec![Algorithm::Thwf, Algorithm::Dpr],
            ..Protocol::paper()
        };
        let trimmed = Protocol {
            dpr_m: Some(vec![30]),
            ..full.clone()
        };
        let rows = |p: &Protocol| {
            let r = run(&digits, &decoders, p, 3, &|| {}).unwrap();
            let rows: Vec<String> = r.rows.iter().map(|row| serde_json::to_string(row).unwrap()).collect();
            let runs: Vec<String> = r
                .dpr_runs
                .iter()
                .map(|row| serde_json::to_string(row).unwrap())
                .collect();
            (
                rows,
                runs,
                r.rows.iter().map(|row| (row.algorithm, row.m)).collect::<Vec<_>>(),
            )
        };
        let (all_rows, all_runs, all_keys) = rows(&full);
        let (kept_rows, kept_runs, kept_keys) = rows(&trimmed);
        let expected: Vec<String> = all_rows
            .iter()
            .zip(&all_keys)
            .filter(|(_, k)| **k != (Algorithm::Dpr, 60))
            .map(|(r, _)| r.clone())
            .collect();
        assert!(kept_keys.iter().all(|k| *k != (Algorithm::Dpr, 60)));
        assert!(kept_keys.contains(&(Algorithm::Dpr, 30)) && kept_keys.contains(&(Algorithm::Thwf, 60)));
        assert_eq!(kept_rows, expected);
        // DPR's runs: those at m = 30 only, unchanged.
        assert_eq!(kept_runs.len() * 2, all_runs.len());
        assert!(kept_runs.iter().all(|r| all_runs.contains(r)));
        // A DPR m outside the protocol is refused, naming the key.
        let stray = Protocol {
            dpr_m: Some(vec![45]),
            ..full
        };
        assert!(stray.check().unwrap_err().to_string().contains("dpr_m"));
    }

    #[test]
    fn protocol_check_names_the_option() {
        let mut p = Protocol::paper();
        p.check().unwrap();
        p.m = vec![100, 100];
        assert!(p.check().unwrap_err().to_string().contains("--m"));
        let mut p = Protocol::paper();
        p.algorithms = vec![Algorithm::Dpr, Algorithm::Dpr];
        assert!(p.check().unwrap_err().to_string().contains("--algorithms"));
        let mut p = Protocol::paper();
        p.lr = 0.0;
        assert!(p.check().unwrap_err().to_string().contains("--lr"));
    }
}
