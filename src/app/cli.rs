//! The command line (clap derive). Global options apply to every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::conditions::wdc::Domain;
use crate::core::measure::MeasurementScale;
use crate::core::network::WeightScale;
use crate::solvers::SelectionMode;

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
    /// Worker threads (0 = all cores; at most 4 per core). Results never depend on it.
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    /// Memory a run may plan to use, e.g. 2G or 512M (default: half of the machine's memory);
    /// a run whose estimate is larger is refused before it starts.
    #[arg(long, global = true)]
    pub max_memory: Option<String>,
    /// Output folder (default: `reports/<subcommand>/`).
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// No progress bars and no human summary.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Print a machine-readable JSON summary on stdout instead of the human one.
    #[arg(long, global = true)]
    pub json: bool,
    /// Figures as PNG, SVG (vector, for papers) or both, beside each other.
    #[arg(long, global = true, value_enum, default_value = "both")]
    pub figure_format: FigureFormatArg,
}

/// `--figure-format` (the library's [`crate::report::plot::FigureFormat`], without clap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FigureFormatArg {
    /// `NAME.png` only.
    Png,
    /// `NAME.svg` only.
    Svg,
    /// `NAME.png` and `NAME.svg`.
    Both,
}

impl From<FigureFormatArg> for crate::report::plot::FigureFormat {
    fn from(arg: FigureFormatArg) -> Self {
        match arg {
            FigureFormatArg::Png => Self::Png,
            FigureFormatArg::Svg => Self::Svg,
            FigureFormatArg::Both => Self::Both,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Closed forms of the expected landscape (docs/THEORY.md §3–4): ρ_d table, F and ‖h‖ on a grid.
    #[command(subcommand)]
    Expected(ExpectedCommand),
    /// Make, inspect and save a network (widths, activations, expansivity, weight statistics).
    Net(NetArgs),
    /// Estimate (lower bound) or certify (k ≤ 4) the WDC constant ε of every layer; scaling studies.
    Wdc(WdcArgs),
    /// Check a WDC certificate file (`wdc --certify --certificate FILE`) against the weights:
    /// replay its splits and recompute every leaf bound.
    CheckCertificate(CheckCertificateArgs),
    /// Estimate (lower bound) the RRCP constant ε of a network and A with m rows; scaling in m.
    Rrcp(RrcpArgs),
    /// Audit a network against every hypothesis of Theorem II.1 (architecture, weights, ε).
    Audit(AuditArgs),
    /// Solve one random instance with DPR (Algorithm 1), GD (no negation check) or Adam two-init.
    Solve(SolveArgs),
    /// Audit Theorem II.1's descent claim: probe D_{−v} f on grids, slices, rays and shells.
    ///
    /// Default probe sets (all geometry in units of ‖x0‖): for k = 2 the grid over
    /// [−range, range]² (plus the slice of --plane when given); for k > 2, --slices random 2-D
    /// slices through x0 (or the one through x0 and --plane). Rays only with --rays N, shells
    /// around x0 and −ρ_d x0 only with --shells R1,R2,…. The two balls that judge the claim
    /// are fixed before probing: margin × the extents of the expected exceptional set S_τ
    /// (docs/THEORY.md §5), or --radius-pos/--radius-neg. `landscape` alone runs `probe`.
    Landscape(Box<LandscapeArgs>),
    /// Run every claim in verify/ and write reports/verify/SUMMARY.md (the main job).
    Verify(VerifyArgs),
    /// Success-rate sweep over a TOML grid (m, k, d/widths, methods, noise): Wilson intervals, m*, fits; shardable.
    Sweep(SweepArgs),
    /// Merge the shard folders of a sharded run (every trial exactly once) into the final outputs.
    Merge(MergeArgs),
    /// The paper's MNIST experiment: train the decoders, reconstruct (Figures 2-3), the synthetic
    /// comparison, the decoder audit.
    #[command(subcommand)]
    Mnist(MnistCommand),
}

/// `dpr-audit expected …`.
#[derive(Debug, Subcommand)]
pub enum ExpectedCommand {
    /// θ̌_d, ρ_d^{CS} and ρ_d (phase retrieval) for d = 1..d_max (docs/THEORY.md §3 table).
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

/// `dpr-audit landscape`: without a subcommand (or with `probe`), probe the descent claim of
/// Theorem II.1 on one instance (the help text is on [`Command::Landscape`]).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LandscapeArgs {
    /// `probe` (also what `landscape` alone runs).
    #[command(subcommand)]
    pub command: Option<LandscapeCommand>,
    /// The probe options of `landscape` alone.
    #[command(flatten)]
    pub probe: LandscapeProbeArgs,
}

/// `dpr-audit landscape …`.
#[derive(Debug, Subcommand)]
pub enum LandscapeCommand {
    /// Probe D_{−v} f on grids, slices, rays and shells (the same as `landscape` alone).
    Probe(LandscapeProbeArgs),
    /// Critical-point census: GD without the negation check from many starts; clusters of limits.
    Census(CensusArgs),
    /// The landscape audit against widths and m: radii, |f − F|, census, WDC ε; shardable.
    Sweep(LandscapeSweepArgs),
    /// Every critical point of f for k = 2, exactly: sectors, closed-form minima, kinks, flat cones.
    Exact(LandscapeExactArgs),
}

/// `dpr-audit landscape exact`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct LandscapeExactArgs {
    /// The network (k = 2, bias-free ReLU; random N(0, 1) weights are used as W_i/√n_i).
    #[command(flatten)]
    pub source: NetworkSource,
    /// Number of measurements m (rows of A, ≥ 1) [default: 200; with --sweep, 4 n_1 on each rung].
    #[arg(long)]
    pub m: Option<usize>,
    /// Entries of A: N(0, 1/m) (normalized) or N(0, 1) (unit; used as A/√m).
    #[arg(long, value_enum, default_value = "normalized")]
    pub measurement_scale: MeasurementScale,
    /// The true latent code x0 (2 comma-separated numbers, nonzero; default: x0 ~ N(0, I_2) from the seed).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub x0: Option<Vec<f64>>,
    /// Threshold τ of the expected exceptional set S_τ (docs/THEORY.md §5) for each point's level, in (0, 1).
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub tau: f64,
    /// Sampled pairs per layer of the WDC lower bound ε behind the K₂ estimates (0 = skip them).
    #[arg(long, default_value_t = 200)]
    pub wdc_pairs: usize,
    /// Points per axis of the heat map of f (≥ 2).
    #[arg(long, default_value_t = 161)]
    pub grid: usize,
    /// Half-width of the heat map, in units of ‖x0‖ (> 0).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub range: f64,
    /// Audit the instance in this safetensors file (W1…Wd, A, x0, b) instead of building one.
    #[arg(long, conflicts_with_all = ["widths", "weights", "x0"])]
    pub instance: Option<PathBuf>,
    /// Also write the instance (W1…Wd, A, x0, b; seed and scales in the metadata) to this file.
    #[arg(long)]
    pub save_instance: Option<PathBuf>,
    /// Exact sweep: many standard instances (N(0, 1/n_i) weights, N(0, 1/m) A) on each rung of
    /// --ladder; spurious minima, spread around −ρ_d x0, negation premise, GD census, WDC ε, fits.
    #[arg(long, conflicts_with_all = ["widths", "weights", "x0", "instance", "save_instance"])]
    pub sweep: bool,
    /// With --sweep: the rungs' first hidden widths n_1 (networks 2-n_1-4n_1).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "50,100,200,400,800",
        requires = "sweep"
    )]
    pub ladder: Vec<usize>,
    /// With --sweep: instances per rung (≥ 1).
    #[arg(long, default_value_t = 9, requires = "sweep")]
    pub trials: usize,
    /// With --sweep: a spurious minimum counts when its basin depth in φ exceeds min-depth · f(0), in [0, 1).
    #[arg(long, default_value_t = 1e-6, allow_negative_numbers = true, requires = "sweep")]
    pub min_depth: f64,
    /// With --sweep: radii of the old fixed balls = margin × the extents of S_τ (> 0).
    #[arg(long, default_value_t = 1.5, allow_negative_numbers = true, requires = "sweep")]
    pub margin: f64,
    /// With --sweep: GD starts of the census on each instance (0 = no census).
    #[arg(long, default_value_t = 20, requires = "sweep")]
    pub census_starts: usize,
    /// With --sweep: sampled tuples of the RRCP lower bound of each instance's A over its network
    /// (subspace search, one short refinement; 0 = not measured).
    #[arg(long, default_value_t = 4, requires = "sweep")]
    pub rrcp_tuples: usize,
    /// With --sweep: scale-out (--shard, --resume).
    #[command(flatten)]
    pub scale_out: ScaleOutArgs,
}

/// `dpr-audit landscape [probe]`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct LandscapeProbeArgs {
    /// The network (random N(0, 1) weights, --weight-scale unit, are probed as W_i/√n_i, which
    /// changes no sign or class and keeps f comparable with F).
    #[command(flatten)]
    pub source: NetworkSource,
    /// Number of measurements m (rows of A, ≥ 1).
    #[arg(long, default_value_t = 200)]
    pub m: usize,
    /// Entries of A: N(0, 1/m) (normalized) or N(0, 1) (unit; probed as A/√m, which changes no
    /// sign or class and keeps f comparable with F).
    #[arg(long, value_enum, default_value = "normalized")]
    pub measurement_scale: MeasurementScale,
    /// The true latent code x0 (k comma-separated numbers, nonzero; default: x0 ~ N(0, I_k) from the seed).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub x0: Option<Vec<f64>>,
    /// Points per axis of the grid and of every slice (≥ 2).
    #[arg(long, default_value_t = 81)]
    pub grid: usize,
    /// Half-width of the grid and slices, and length of the rays, in units of ‖x0‖ (> 0).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub range: f64,
    /// A slice through x0 and this direction (k numbers; its part orthogonal to x0 is used).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub plane: Option<Vec<f64>>,
    /// Random slices through x0 for k > 2 when --plane is not given (≥ 1).
    #[arg(long, default_value_t = 1)]
    pub slices: usize,
    /// Random rays from the origin (0 = none).
    #[arg(long, default_value_t = 0)]
    pub rays: usize,
    /// Points per ray, evenly spaced out to range·‖x0‖ (≥ 1).
    #[arg(long, default_value_t = 50)]
    pub ray_points: usize,
    /// Radii of spherical shells around x0 and around −ρ_d x0, in units of ‖x0‖ (each > 0).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub shells: Option<Vec<f64>>,
    /// Random points per shell (≥ 1).
    #[arg(long, default_value_t = 200)]
    pub shell_points: usize,
    /// Threshold τ of the expected exceptional set S_τ (docs/THEORY.md §5) and of the empirical radii, in (0, 1).
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub tau: f64,
    /// Ball radius = margin × extent of S_τ around each centre (> 0).
    #[arg(long, default_value_t = 1.5, allow_negative_numbers = true)]
    pub margin: f64,
    /// Radius of the ball around x0, in latent units (overrides margin × extent).
    #[arg(long, allow_negative_numbers = true)]
    pub radius_pos: Option<f64>,
    /// Radius of the ball around −ρ_d x0, in latent units (overrides margin × extent).
    #[arg(long, allow_negative_numbers = true)]
    pub radius_neg: Option<f64>,
    /// A point is `critical` when ‖v‖ ≤ critical-tol · 2^{−d} max(‖x‖, ‖x0‖) (≥ 0).
    #[arg(long, default_value_t = 1e-10, allow_negative_numbers = true)]
    pub critical_tol: f64,
    /// Random unit directions u of the origin check D_u f(0) < 0 (≥ 1).
    #[arg(long, default_value_t = 100)]
    pub origin_directions: usize,
    /// Use the instance in this safetensors file (W1…Wd, A, x0, b; e.g. written by
    /// --save-instance) instead of building one.
    #[arg(long, conflicts_with_all = ["widths", "weights", "x0", "m", "measurement_scale"])]
    pub instance: Option<PathBuf>,
    /// Also write the instance (W1…Wd, A, x0, b; seed and scales in the metadata) to this file.
    #[arg(long)]
    pub save_instance: Option<PathBuf>,
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
    /// Seed stability: run the protocol under the master seeds seed, seed + 1, …, seed + R − 1
    /// and report every replicate's verdict and statistic with the per-claim agreement
    /// (`replicates.csv`, `agreement.csv`, a section of SUMMARY.md). The main table is the
    /// first seed's.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub replicates: u64,
    /// Folder of the decoders C9 and C10 search, checked against its SHA256SUMS [default:
    /// models]; `models/epochs50` holds the 50-epoch VAE decoder (see models/README.md).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Judge the sweep claims (C7, C8) on sweeps run elsewhere: read each sweep's rows from
    /// `DIR/<claim folder>/<part>` (e.g. `DIR/C7-sample-complexity/n_sweep`), the folder `merge`
    /// wrote for its shards, instead of running it; the configuration and seed must match.
    #[arg(long, value_name = "DIR")]
    pub from_merged: Option<PathBuf>,
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
    /// Certify ε (interval [lower, upper]) for layers with 2, 3 or 4 inputs: exact sectors for
    /// k = 2, branch and bound on pairs of sphere boxes for k = 3, 4.
    #[arg(long)]
    pub certify: bool,
    /// Absolute width of the certified interval [default: 1e-3 for k = 2, 1e-2 for k = 3,
    /// 5e-2 for k = 4, 1e-2 for --domain range].
    #[arg(long, allow_negative_numbers = true)]
    pub tol: Option<f64>,
    /// Relative width of the certified interval instead (upper − lower ≤ rel-tol · lower;
    /// k = 3, 4 and --domain range).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "tol", requires = "certify")]
    pub rel_tol: Option<f64>,
    /// Stop the box search (k = 3, 4) after this budget and report the interval reached: a
    /// time (`90s`, `10m`, `2h`) or a number of pair evaluations (`2000000`).
    #[arg(long, requires = "certify")]
    pub budget: Option<String>,
    /// Write the box search's certificate (first layer with 3 or 4 inputs), else the exact
    /// sector certificate of the first layer with 2 inputs, or with `--domain range` the
    /// range-restricted certificate of layer 2, to this JSON file, for `dpr-audit
    /// check-certificate`. The file appears whole (staged under a hidden name, then renamed),
    /// one run writes it at a time (`FILE.lock`), and a file dpr-audit did not write is refused.
    #[arg(long, requires = "certify")]
    pub certificate: Option<PathBuf>,
    /// Skip the assumption audit printed beside the estimate (it re-estimates ε after
    /// rescaling each layer to variance 1/n_i, doubling the time).
    #[arg(long)]
    pub no_audit: bool,
    /// Scale-out of the scaling study (--shard, --resume).
    #[command(flatten)]
    pub scale_out: ScaleOutArgs,
}

/// `dpr-audit check-certificate`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct CheckCertificateArgs {
    /// The certificate file.
    pub file: PathBuf,
    /// The network whose layer the certificate is about.
    #[command(flatten)]
    pub source: NetworkSource,
}

/// `--shard` and `--resume` of a study that runs as trials (`wdc`/`rrcp` scaling studies).
#[derive(Clone, Debug, Default, Args, serde::Serialize)]
pub struct ScaleOutArgs {
    /// Run only shard i of N (trials with id mod N = i) into OUT/shard-i-of-N, for `merge`
    /// [default inside a whole Slurm job array of N ≥ 2 consecutive tasks:
    /// SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT; a partial
    /// resubmission must pass --shard].
    #[arg(long)]
    pub shard: Option<String>,
    /// Continue an interrupted run: keep the completed trials in the output folder (after
    /// checking that the configuration matches) and run only the missing ones.
    #[arg(long)]
    pub resume: bool,
}

pub use crate::conditions::rrcp_study::RrcpMode;

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
    /// Scale-out (--shard, --resume).
    #[command(flatten)]
    pub scale_out: ScaleOutArgs,
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

/// `dpr-audit solve`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct SolveArgs {
    /// The network.
    #[command(flatten)]
    pub source: NetworkSource,
    /// Number of measurements m (≥ 1).
    #[arg(long, default_value_t = 200)]
    pub m: usize,
    /// Entries of A: N(0, 1/m) (normalized) or N(0, 1) (unit, the paper's MNIST experiment).
    #[arg(long, value_enum, default_value = "normalized")]
    pub measurement_scale: MeasurementScale,
    /// The solver.
    #[arg(long, value_enum, default_value = "dpr")]
    pub method: crate::solvers::Method,
    /// Random starts x_r ~ N(0, I_k), solved in lock-step (adam2 also runs each from −x_r).
    #[arg(long, default_value_t = 1)]
    pub restarts: usize,
    /// The true latent code x0 (k comma-separated numbers; default: x0 ~ N(0, I_k) from the seed).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub x0: Option<Vec<f64>>,
    /// Add Gaussian noise to the amplitudes at this signal-to-noise ratio in dB (default: none).
    #[arg(long, allow_negative_numbers = true)]
    pub snr_db: Option<f64>,
    /// DPR/GD step size α (default 0.5·2^d, rescaled for other weight and A variances).
    #[arg(long, allow_negative_numbers = true)]
    pub step: Option<f64>,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub lr: f64,
    /// Most iterations per run (default: 2000 for dpr/gd, 1000 for adam2).
    #[arg(long)]
    pub max_iters: Option<usize>,
    /// Stop a run when ‖v‖ ≤ grad-tol · its first ‖v‖ (default: 1e-10 for dpr/gd, 0 = off for adam2).
    #[arg(long)]
    pub grad_tol: Option<f64>,
    /// Stop a run when f changes by ≤ f-tol relatively (default: 1e-14 for dpr/gd, 0 = off for adam2).
    #[arg(long)]
    pub f_tol: Option<f64>,
    /// How the reported solution is chosen among the runs.
    #[arg(long, value_enum, default_value = "objective")]
    pub select: SelectionMode,
    /// Success threshold on the sign-invariant relative error.
    #[arg(long, default_value_t = 1e-4)]
    pub success_tol: f64,
    /// Write every run's per-iteration trace (trace.csv).
    #[arg(long)]
    pub trace: bool,
    /// Use the instance in this safetensors file (W1…Wd, A, x0, b; e.g. written by
    /// --save-instance) instead of building one.
    #[arg(long, conflicts_with_all = ["widths", "weights", "x0", "m", "measurement_scale", "snr_db"])]
    pub instance: Option<PathBuf>,
    /// Also write the instance (W1…Wd, A, x0, b; seed and scales in the metadata) to this file.
    #[arg(long, conflicts_with = "snr_db")]
    pub save_instance: Option<PathBuf>,
}

/// `dpr-audit landscape census`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct CensusArgs {
    /// The network.
    #[command(flatten)]
    pub source: NetworkSource,
    /// Number of measurements m (rows of A, ≥ 1).
    #[arg(long, default_value_t = 800)]
    pub m: usize,
    /// Entries of A: N(0, 1/m) (normalized) or N(0, 1) (unit; the step size is rescaled).
    #[arg(long, value_enum, default_value = "normalized")]
    pub measurement_scale: MeasurementScale,
    /// The true latent code x0 (k numbers; default: x0 ~ N(0, I_k) from the seed, as `landscape`).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub x0: Option<Vec<f64>>,
    /// Random starts x_r ~ N(0, I_k), all run in lock-step.
    #[arg(long, default_value_t = 200)]
    pub starts: usize,
    /// GD step size α (default 0.5·2^d, rescaled for other weight and A variances).
    #[arg(long)]
    pub step: Option<f64>,
    /// Most GD iterations per start.
    #[arg(long, default_value_t = 5000)]
    pub max_iters: usize,
    /// Stop a run when ‖v‖ ≤ grad-tol · its first ‖v‖ (default 1e-10).
    #[arg(long)]
    pub grad_tol: Option<f64>,
    /// Stop a run when f changes by ≤ f-tol relatively (default 1e-14).
    #[arg(long)]
    pub f_tol: Option<f64>,
    /// Limits closer than cluster-tol · ‖x0‖ share a cluster.
    #[arg(long, default_value_t = 1e-3)]
    pub cluster_tol: f64,
    /// A limit within truth-tol · ‖x0‖ of x0 counts as reaching the truth.
    #[arg(long, default_value_t = 1e-4)]
    pub truth_tol: f64,
    /// Random directions of the sampled local-minimum test.
    #[arg(long, default_value_t = 64)]
    pub test_directions: usize,
    /// Radius of the local-minimum test, relative to ‖x‖ at the limit.
    #[arg(long, default_value_t = 1e-3)]
    pub test_radius: f64,
    /// Use the instance in this safetensors file (W1…Wd, A, x0, b; e.g. written by
    /// --save-instance) instead of building one.
    #[arg(long, conflicts_with_all = ["widths", "weights", "x0", "m", "measurement_scale"])]
    pub instance: Option<PathBuf>,
    /// Also write the instance (W1…Wd, A, x0, b; seed and scales in the metadata) to this file.
    #[arg(long)]
    pub save_instance: Option<PathBuf>,
}

/// `dpr-audit sweep`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct SweepArgs {
    /// The sweep's TOML grid (see verify/sweeps/ and `dpr_audit::sweep::config`).
    #[arg(long)]
    pub config: PathBuf,
    /// Scale-out (--shard, --resume).
    #[command(flatten)]
    pub scale_out: ScaleOutArgs,
}

/// `dpr-audit merge`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct MergeArgs {
    /// Shard folders (OUT/shard-i-of-N), or folders holding them.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

/// `dpr-audit mnist …`.
#[derive(Debug, Subcommand)]
pub enum MnistCommand {
    /// Train the paper's VAE decoder and the theory-faithful ReLU decoder (20-500-500-784) on
    /// MNIST with Adam; save them as safetensors with their SHA-256.
    Train(MnistTrainArgs),
    /// The paper's Figures 2-3: DPR on the decoders vs SPARTA, CoPRAM, ThWF on db4 wavelet
    /// coefficients, per image and m; per-pixel error and SSIM (Wang 2004).
    Reconstruct(MnistReconstructArgs),
    /// The synthetic comparison: sparse methods on s-sparse signals (n = 1000) vs DPR on
    /// HLV's random generator (k = 10); success rates with Wilson intervals.
    Synthetic(MnistSyntheticArgs),
    /// The trained decoders against Theorem II.1 (assumption audit, WDC and RRCP lower
    /// bounds), beside a random network of the same widths.
    Audit(MnistAuditArgs),
}

/// Which decoders `mnist train` trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainWhich {
    /// Bora et al.'s VAE decoder (biases, softplus, sigmoid output; Bernoulli likelihood).
    Vae,
    /// The theory-faithful decoder (no biases, ReLU at every layer; Gaussian likelihood).
    Relu,
    /// Both, VAE first.
    Both,
}

/// `dpr-audit mnist train`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct MnistTrainArgs {
    /// Which decoder(s) to train.
    #[arg(long, value_enum, default_value = "both")]
    pub which: TrainWhich,
    /// Passes over the 60 000 training digits (≥ 1).
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Digits per mini-batch (≥ 1).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Adam's learning rate (> 0).
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub lr: f64,
    /// σ of the ReLU decoder's Gaussian likelihood, per pixel on the [0, 1] scale (> 0).
    #[arg(long, default_value_t = crate::images::vae::DEFAULT_RELU_SIGMA, allow_negative_numbers = true)]
    pub relu_sigma: f64,
    /// Folder holding the four MNIST IDX files (fetched by `bash scripts/fetch-mnist.sh`).
    #[arg(long, default_value = crate::images::mnist::DEFAULT_DIR)]
    pub data: PathBuf,
    /// Train and test on the 16 committed fixture digits instead of MNIST (smoke runs, tests).
    #[arg(long, conflicts_with = "data")]
    pub fixture: bool,
    /// Folder for the trained decoders (`vae-decoder.safetensors`, `relu-decoder.safetensors`)
    /// and their `SHA256SUMS`.
    #[arg(long, default_value = crate::images::vae::MODELS_DIR)]
    pub weights_dir: PathBuf,
}

/// `dpr-audit mnist reconstruct`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct MnistReconstructArgs {
    /// Numbers of measurements (default: the paper's 25,50,100,200,300,500,750,1000,1500;
    /// with --quick: 100,200,750).
    #[arg(long, value_delimiter = ',')]
    pub m: Option<Vec<usize>>,
    /// Test images by index, e.g. 0-9 or 0,3,5-7 (default: the paper's 0-9; with --quick: 0-4).
    #[arg(long)]
    pub images: Option<String>,
    /// A smaller protocol (5 images, 3 values of m), otherwise as the paper's.
    #[arg(long)]
    pub quick: bool,
    /// DPR restarts (each also run from its negation: 2x runs, in lock-step).
    #[arg(long, default_value_t = crate::experiments::reconstruct::PAPER_RESTARTS)]
    pub restarts: usize,
    /// Adam iterations per run.
    #[arg(long, default_value_t = crate::experiments::reconstruct::PAPER_ITERATIONS)]
    pub iterations: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = crate::experiments::reconstruct::PAPER_LR, allow_negative_numbers = true)]
    pub lr: f64,
    /// The shipped decoders DPR runs on (default: both).
    #[arg(long, value_enum)]
    pub decoder: Option<crate::experiments::decoders::DecoderChoice>,
    /// Run DPR on this safetensors decoder (784 outputs) instead of the shipped ones.
    #[arg(long, conflicts_with = "decoder")]
    pub weights: Option<PathBuf>,
    /// Folder of the shipped decoders and their SHA256SUMS.
    #[arg(long, default_value = crate::images::vae::MODELS_DIR)]
    pub models: PathBuf,
    /// Algorithms to run (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "dpr,sparta,copram,thwf")]
    pub algorithms: Vec<crate::experiments::reconstruct::Algorithm>,
    /// Wavelet decomposition level of the sparse methods (0-5; default PyWavelets' maximum for db4 on 32).
    #[arg(long, default_value_t = crate::images::wavelet::DEFAULT_LEVEL)]
    pub wavelet_level: usize,
    /// Smallest sparsity of SPARTA's and CoPRAM's sweep.
    #[arg(long, default_value_t = crate::experiments::reconstruct::SPARSITY_MIN)]
    pub s_min: usize,
    /// Largest sparsity of the sweep.
    #[arg(long, default_value_t = crate::experiments::reconstruct::SPARSITY_MAX)]
    pub s_max: usize,
    /// Step of the sweep.
    #[arg(long, default_value_t = crate::experiments::reconstruct::SPARSITY_STEP)]
    pub s_step: usize,
    /// Folder holding the MNIST IDX files (fetched by `bash scripts/fetch-mnist.sh`).
    #[arg(long, default_value = crate::images::mnist::DEFAULT_DIR)]
    pub data: PathBuf,
    /// Use the 16 committed fixture digits (the first 16 test digits) instead of --data.
    #[arg(long, conflicts_with = "data")]
    pub fixture: bool,
    /// Values of m with a Figure 3 image grid, each one of --m (default: 100 and 300, those of
    /// them the run has).
    #[arg(long, value_delimiter = ',')]
    pub figure_m: Option<Vec<usize>>,
    /// Continue an interrupted run: keep the cells (image, m) already done in the output
    /// folder (after checking that the configuration matches) and run only the missing ones.
    #[arg(long)]
    pub resume: bool,
}

/// `dpr-audit mnist synthetic`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct MnistSyntheticArgs {
    /// Numbers of measurements (default 10,20,30,40,50,60,80,100,150,200,300,400,600,800;
    /// with --quick: 20,50,100,200,400).
    #[arg(long, value_delimiter = ',')]
    pub m: Option<Vec<usize>>,
    /// Instances per point (default: HLV's 25; with --quick: 8).
    #[arg(long)]
    pub trials: Option<usize>,
    /// Sparsities s of the sparse signals.
    #[arg(long, value_delimiter = ',', default_value = "3,5,10")]
    pub sparsities: Vec<usize>,
    /// Length n of the sparse signals.
    #[arg(long, default_value_t = crate::experiments::synthetic::SIGNAL_LENGTH)]
    pub n: usize,
    /// Leave DPR out (sparse methods only).
    #[arg(long)]
    pub no_dpr: bool,
    /// A smaller grid for a first look.
    #[arg(long)]
    pub quick: bool,
}

/// `dpr-audit mnist audit`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct MnistAuditArgs {
    /// The shipped decoders to audit (default: both).
    #[arg(long, value_enum)]
    pub decoder: Option<crate::experiments::decoders::DecoderChoice>,
    /// Audit this safetensors decoder instead of the shipped ones.
    #[arg(long, conflicts_with = "decoder")]
    pub weights: Option<PathBuf>,
    /// Folder of the shipped decoders and their SHA256SUMS.
    #[arg(long, default_value = crate::images::vae::MODELS_DIR)]
    pub models: PathBuf,
    /// Sampled pairs per layer for the WDC lower bounds.
    #[arg(long, default_value_t = 2000)]
    pub pairs: usize,
    /// Worst sampled pairs refined by local search (per layer and scaling).
    #[arg(long, default_value_t = 2)]
    pub refine_starts: usize,
    /// Local-search steps per refined pair.
    #[arg(long, default_value_t = 30)]
    pub refine_steps: usize,
    /// Rows of A for the RRCP search.
    #[arg(long, default_value_t = 200)]
    pub rrcp_m: usize,
    /// Sampled tuples per RRCP search mode.
    #[arg(long, default_value_t = 256)]
    pub tuples: usize,
    /// Worst sampled tuples refined by local search (per mode).
    #[arg(long, default_value_t = 2)]
    pub rrcp_refine_starts: usize,
    /// Local-search steps per refined tuple.
    #[arg(long, default_value_t = 20)]
    pub rrcp_refine_steps: usize,
}

/// `dpr-audit landscape sweep`.
#[derive(Clone, Debug, Args, serde::Serialize)]
pub struct LandscapeSweepArgs {
    /// Latent dimension k.
    #[arg(long, default_value_t = 2)]
    pub k: usize,
    /// Hidden widths of each size, n_1xn_2x… (comma-separated sizes).
    #[arg(long, value_delimiter = ',', default_value = "100x400,200x800,400x1600")]
    pub hidden: Vec<String>,
    /// Measurements m: one per size, or one for all.
    #[arg(long, value_delimiter = ',', default_value = "400,800,1600")]
    pub m: Vec<usize>,
    /// Independent instances per size.
    #[arg(long, default_value_t = 3)]
    pub trials: usize,
    /// Grid points per axis of the plane through x0 (k = 2 grid, else a random slice).
    #[arg(long, default_value_t = 31)]
    pub grid: usize,
    /// Half-width of the grid in units of ‖x0‖.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub range: f64,
    /// τ of the expected exceptional set S_τ (balls and empirical radii).
    #[arg(long, default_value_t = 0.01)]
    pub tau: f64,
    /// Ball radii = margin × the extents of S_τ.
    #[arg(long, default_value_t = 1.5)]
    pub margin: f64,
    /// GD starts of the critical-point census per instance (0 = no census).
    #[arg(long, default_value_t = 20)]
    pub census_starts: usize,
    /// Sampled pairs per layer of the WDC lower bound per instance (0 = not measured).
    #[arg(long, default_value_t = 200)]
    pub wdc_pairs: usize,
    /// Scale-out (--shard, --resume).
    #[command(flatten)]
    pub scale_out: ScaleOutArgs,
}
