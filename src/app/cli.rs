//! The command line (clap derive). Global options apply to every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
