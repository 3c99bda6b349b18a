//! The command line (clap derive). Global options apply to every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::conditions::wdc::Domain;
use crate::core::measure::MeasurementScale;
use crate::core::network::WeightScale;

/// Numerical audit of phase retrieval under deep generative priors (Hand–Leong–Voroninski 2018).
#[derive(Debug, Parser)]
#[command(name = "dpr-audit", version, about, long_about = None)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct GlobalArgs {
    /// Master seed: every random object draws from a stream keyed by (experiment, trial, stream).
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (0 = all cores). Results never depend on it.
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    /// Output folder (default: reports/<subcommand>/).
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// No progress bars and no human summary.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Print a machine-readable JSON summary on stdout instead of the human one.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Closed forms of the expected landscape (THEORY.md §3–4): ρ_d table, F and ‖h‖ on a grid.
    #[command(subcommand)]
    Expected(ExpectedCommand),
    /// Make, inspect and save a network (widths, activations, expansivity, weight statistics).
    Net(NetArgs),
    /// Estimate (lower bound) or certify (k = 2) the WDC constant ε of every layer; scaling studies.
    Wdc(WdcArgs),
    /// Estimate (lower bound) the RRCP constant ε of a network and A with m rows; scaling in m.
    Rrcp(RrcpArgs),
    /// Audit a network against every hypothesis of Theorem II.1 (architecture, weights, ε).
    Audit(AuditArgs),
    /// Run every claim in verify/ and write reports/verify/SUMMARY.md (the main job).
    Verify(VerifyArgs),
}

/// `dpr-audit expected …`.
#[derive(Debug, Subcommand)]
pub enum ExpectedCommand {
    /// θ̌_d, ρ_d^{CS} and ρ_d (phase retrieval) for d = 1..d_max (THEORY.md §3 table).
    Rho(RhoArgs),
    /// The expected objective F and ‖h‖ on a 2-D grid (the paper's Figure 1), with a heat map.
    Landscape(ExpectedLandscapeArgs),
}

/// `dpr-audit expected rho`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct RhoArgs {
    /// Largest depth d.
    #[arg(long, default_value_t = 10)]
    pub d_max: usize,
}

/// `dpr-audit expected landscape`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct ExpectedLandscapeArgs {
    /// Depth d of the network (≥ 1).
    #[arg(long, default_value_t = 2)]
    pub d: usize,
    /// The true latent code x0 (two comma-separated numbers, nonzero).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_value = "1,0")]
    pub x0: Vec<f64>,
    /// Grid points per axis (≥ 2).
    #[arg(long, default_value_t = 201)]
    pub grid: usize,
    /// The grid covers [−range, range]² (> 0).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub range: f64,
}

/// Where a network comes from: random by widths, or a weights file. Shared by every
/// subcommand that takes a network.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct NetworkSource {
    /// Widths k,n_1,…,n_d of a random bias-free ReLU network.
    #[arg(long, value_delimiter = ',', conflicts_with = "weights")]
    pub widths: Option<Vec<usize>>,
    /// A network saved as safetensors (tensors W1…Wd, optional b1…bd).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Variance of random weights: N(0, 1/n_i) (normalized) or N(0, 1) (unit).
    #[arg(long, value_enum, default_value = "normalized")]
    pub weight_scale: WeightScale,
}

/// `dpr-audit net`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct NetArgs {
    /// The network.
    #[command(flatten)]
    pub source: NetworkSource,
    /// Save the network to this safetensors file.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

/// `dpr-audit verify`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct VerifyArgs {
    /// Run the full-size protocols instead of the quick ones.
    #[arg(long)]
    pub full: bool,
    /// Run only these claims (comma-separated ids, e.g. C0,C1).
    #[arg(long, value_delimiter = ',')]
    pub only: Option<Vec<String>>,
    /// Exit with status 3 when any claim FAILs.
    #[arg(long)]
    pub strict: bool,
}

/// `dpr-audit wdc`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct WdcArgs {
    /// The network (or use --k/--n for a scaling study of single layers).
    #[command(flatten)]
    pub source: NetworkSource,
    /// Scaling study: input widths k of single random layers (with --n).
    #[arg(long, value_delimiter = ',', requires = "n")]
    pub k: Option<Vec<usize>>,
    /// Scaling study: output widths n of single random layers (with --k).
    #[arg(long, value_delimiter = ',', requires = "k")]
    pub n: Option<Vec<usize>>,
    /// Independent random networks per setting (scaling study).
    #[arg(long, default_value_t = 1)]
    pub trials: usize,
    /// Sampled pairs per layer (before refinement) [default: 20000 for layers with at most 48
    /// inputs, 2000 for wider layers, whose pairs cost ~100× more].
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Where pairs come from: all inputs (the theorem) or the range of the previous layers.
    #[arg(long, value_enum, default_value = "full")]
    pub domain: Domain,
    /// Worst sampled pairs refined by local search.
    #[arg(long, default_value_t = 16)]
    pub refine_starts: usize,
    /// Local-search steps per refined pair [default: 400 for layers with at most 48 inputs,
    /// 40 for wider layers].
    #[arg(long)]
    pub refine_steps: Option<usize>,
    /// Certify ε exactly (interval [lower, upper]) for layers with 2 inputs.
    #[arg(long)]
    pub certify: bool,
    /// Width of the certified interval.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub tol: f64,
    /// Skip the assumption audit printed beside the estimate (it re-estimates ε after
    /// rescaling each layer to variance 1/n_i, doubling the time).
    #[arg(long)]
    pub no_audit: bool,
}

/// RRCP search modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RrcpMode {
    /// Random latent tuples (x, y, x1, x2, x3, x4).
    Random,
    /// Spectral norm over the linear pieces through G(x1) and G(x3) (THEORY.md §2).
    Subspace,
    /// Both.
    Both,
}

/// `dpr-audit rrcp`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct RrcpArgs {
    /// The network.
    #[command(flatten)]
    pub source: NetworkSource,
    /// Number(s) of measurements m; several values make a scaling study.
    #[arg(long, value_delimiter = ',', default_value = "200")]
    pub m: Vec<usize>,
    /// Entries of A: N(0, 1/m) (normalized) or N(0, 1) (unit).
    #[arg(long, value_enum, default_value = "normalized")]
    pub measurement_scale: MeasurementScale,
    /// Search mode(s).
    #[arg(long, value_enum, default_value = "both")]
    pub mode: RrcpMode,
    /// Sampled tuples per mode (before refinement).
    #[arg(long, default_value_t = 2000)]
    pub tuples: usize,
    /// Worst sampled tuples refined by local search.
    #[arg(long, default_value_t = 8)]
    pub refine_starts: usize,
    /// Local-search steps per refined tuple.
    #[arg(long, default_value_t = 100)]
    pub refine_steps: usize,
    /// The constant L in the RRCP bound L ε (31 in the paper, 7 in HLV, 33 in HLV-J).
    #[arg(long, default_value_t = 31.0)]
    pub constant: f64,
    /// Independent (network, A) draws per m (scaling study).
    #[arg(long, default_value_t = 1)]
    pub trials: usize,
}

/// `dpr-audit audit`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct AuditArgs {
    /// The network.
    #[command(flatten)]
    pub source: NetworkSource,
    /// Sampled pairs per layer for the WDC lower bound.
    #[arg(long, default_value_t = 5_000)]
    pub pairs: usize,
    /// Worst sampled pairs refined by local search (per layer and scaling).
    #[arg(long, default_value_t = 2)]
    pub refine_starts: usize,
    /// Local-search steps per refined pair.
    #[arg(long, default_value_t = 50)]
    pub refine_steps: usize,
}
