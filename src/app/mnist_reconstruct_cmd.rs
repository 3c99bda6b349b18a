//! `dpr-audit mnist reconstruct`: the paper's image experiment (Figures 2–3,
//! [`crate::experiments::reconstruct`]).
//!
//! Defaults are the paper's protocol: the first 10 MNIST test digits, m = 25 … 1500, DPR with 5
//! restarts (two inits each), lr 0.01 and 1000 Adam iterations on both shipped decoders,
//! SPARTA/CoPRAM with sparsities 2, 17, …, 212 and ThWF on db4 (level 2) coefficients.
//! `--quick` uses 5 digits and m = 100, 200, 750; `--fixture` reads the 16 committed test
//! digits instead of `data/mnist` (they are the first 16 test digits, so the results equal
//! those on the full files).
//!
//! Writes `reconstruct.csv` (one row per image, m, algorithm, decoder and selection),
//! `figure2.csv` (means and spreads over the images), `dpr_runs.csv`, `sparse_sweep.csv`,
//! `timing.csv` (measured seconds per algorithm; not reproducible), the Figure 2 and 3 PNGs,
//! `reconstructions.safetensors` (every reconstruction and its truth, unclamped f64) and
//! `manifest.json`.

use std::time::Instant;

use serde::Serialize;

use super::cli::MnistReconstructArgs;
use super::context::{Context, Outcome};
use crate::error::{Error, Result};
use crate::exec::Study;
use crate::exec::merge::{collect, read_folders};
use crate::exec::run::{Invocation, run_shard};
use crate::exec::shard::Shard;
use crate::experiments::decoders;
use crate::experiments::figures::write_reconstruction;
use crate::experiments::reconstruct::{
    self, Algorithm, Decoder, Protocol, ReconstructStudy, SummaryRow, curve_label, sparsity_grid, summarize,
};
use crate::images::mnist::{self, Digits, Split};
use crate::limits::{Footprint, lockstep_words, measurement_words};
use crate::report::progress;
use crate::solvers::Selection;

/// The values of m of `--quick`.
pub const QUICK_M: [usize; 3] = [100, 200, 750];
/// The images of `--quick`.
pub const QUICK_IMAGES: &str = "0-4";

/// The protocol the arguments describe.
pub fn protocol(args: &MnistReconstructArgs) -> Result<Protocol> {
    let m = match (&args.m, args.quick) {
        (Some(m), _) => m.clone(),
        (None, true) => QUICK_M.to_vec(),
        (None, false) => reconstruct::PAPER_M.to_vec(),
    };
    let p = Protocol {
        m,
        restarts: args.restarts,
        iterations: args.iterations,
        lr: args.lr,
        wavelet_level: args.wavelet_level,
        sparsities: sparsity_grid(args.s_min, args.s_max, args.s_step)?,
        algorithms: args.algorithms.clone(),
        ..Protocol::paper()
    };
    p.check()?;
    Ok(p)
}

/// The values of m with a Figure 3 grid: `--figure-m`, each of which must be one of the run's
/// m, else [`DEFAULT_FIGURE_M`] where the run has them.
pub fn figure_m(args: &MnistReconstructArgs, protocol: &Protocol) -> Result<Vec<usize>> {
    match &args.figure_m {
        Some(given) => {
            if let Some(&bad) = given.iter().find(|m| !protocol.m.contains(m)) {
                let run = protocol.m.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(",");
                return Err(Error::param(
                    "--figure-m",
                    bad,
                    format!("a Figure 3 grid needs a value of m the run has (--m {run}); pick among them"),
                ));
            }
            Ok(given.clone())
        }
        None => Ok(DEFAULT_FIGURE_M
            .iter()
            .copied()
            .filter(|m| protocol.m.contains(m))
            .collect()),
    }
}

/// The values of m with a Figure 3 grid unless `--figure-m` is given (the paper's).
pub const DEFAULT_FIGURE_M: [usize; 2] = [100, 300];

/// The memory of the protocol: `A` and `AΨᵀ` for the largest m, the DPR runs in lock-step
/// through a decoder (the shipped decoders' widths are at most 1024 per layer).
fn footprint(p: &Protocol) -> Footprint {
    let m_max = p.m.iter().copied().max().unwrap_or(0);
    let decoder = [20, 1024, 1024, 1024];
    let runs = 2.0 * p.restarts as f64;
    Footprint::new()
        .words("--m", m_max, "A and AΨᵀ", 2.0 * measurement_words(m_max, 1024))
        .words(
            "--restarts",
            p.restarts,
            "the DPR runs in lock-step",
            lockstep_words(runs, &decoder, m_max),
        )
}

/// The selected test digits: the fixture or the verified MNIST test split (a missing file
/// names `scripts/fetch-mnist.sh`), then `--images` (out of range: a usage error).
pub fn digits(args: &MnistReconstructArgs) -> Result<Digits> {
    let spec = match (&args.images, args.quick) {
        (Some(s), _) => s.clone(),
        (None, true) => QUICK_IMAGES.to_string(),
        (None, false) => reconstruct::PAPER_IMAGES.to_string(),
    };
    let indices = mnist::parse_indices(&spec)?;
    let all = if args.fixture {
        mnist::fixture()?
    } else {
        mnist::load(&args.data, Split::Test)?
    };
    all.select(&indices)
}

/// A decoder as recorded in the manifest.
#[derive(Clone, Debug, Serialize)]
pub struct DecoderInfo {
    /// Name in the CSV files.
    pub name: String,
    /// File it was read from.
    pub source: String,
    /// Widths.
    pub widths: Vec<usize>,
}

impl DecoderInfo {
    /// The record of `d`.
    pub fn of(d: &Decoder) -> Self {
        Self {
            name: d.name.clone(),
            source: d.source.clone(),
            widths: d.net.widths(),
        }
    }
}

/// Everything the run depended on, for `manifest.json`.
#[derive(Serialize)]
struct Parameters<'a> {
    args: &'a MnistReconstructArgs,
    protocol: &'a Protocol,
    data: String,
    images: Vec<usize>,
    decoders: Vec<DecoderInfo>,
}

/// Runs `dpr-audit mnist reconstruct`.
pub fn run(ctx: &Context, args: MnistReconstructArgs) -> Result<Outcome> {
    let protocol = protocol(&args)?;
    let figure_m = figure_m(&args, &protocol)?;
    ctx.budget.check(&footprint(&protocol))?;
    let digits = digits(&args)?;
    let decoders = if protocol.algorithms.contains(&Algorithm::Dpr) {
        decoders::select(&args.models, args.decoder, args.weights.as_deref())?
    } else {
        Vec::new()
    };
    let study = ReconstructStudy::new(&digits, &decoders, &protocol, ctx.seed)?;
    // The lock of OUT is held from here on; each finished cell is appended to
    // OUT/shard-0-of-1 at once; the final outputs (which keep that folder) replace OUT.
    let out_path = ctx.out_dir("mnist-reconstruct");
    let out = ctx.create_out(&out_path)?;
    let bar = progress::bar(study.len(), "reconstruct", ctx.quiet);
    let clock = Instant::now();
    let work = out_path.join(Shard::WHOLE.folder_name());
    let how = Invocation {
        resume: args.resume,
        command_line: &ctx.command_line,
        threads: ctx.threads,
    };
    let report = run_shard(&study, Shard::WHOLE, &work, how, &|| bar.inc(1))?;
    let results = study.results(&collect(&study, &read_folders(std::slice::from_ref(&work))?)?)?;
    let wall = clock.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let summary = summarize(&results.rows);
    out.adopt(&work, &Shard::WHOLE.folder_name())?;
    write_reconstruction(&out, "", &results, &summary, &figure_m)?;
    out.write_csv("timing.csv", &results.timing)?;
    let images: Vec<usize> = (0..digits.len()).map(|i| digits.source_index(i)).collect();
    let parameters = Parameters {
        args: &args,
        protocol: &protocol,
        data: digits.source().to_string(),
        images: images.clone(),
        decoders: decoders.iter().map(DecoderInfo::of).collect(),
    };
    let dir = ctx.finish(out, "mnist reconstruct", &parameters)?;
    let mut human = format!(
        "mnist reconstruct: {} images ({}, indices {}) × m = {:?}, A with N(0,1) entries → {}\n",
        digits.len(),
        digits.source(),
        images.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        protocol.m,
        dir.display()
    );
    human += &format!(
        "  DPR: Adam two-init, {} restarts × 2 inits, lr {}, {} iterations, decoders: {}; the sparse methods are deterministic (spectral initialisations): restarts apply to DPR only\n",
        protocol.restarts,
        protocol.lr,
        protocol.iterations,
        decoders.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    human += &table(&summary);
    human += &format!(
        "  time: {wall:.1} s wall clock on {} thread(s) for {} of {} cells ({} found done); per algorithm (summed over cells, measured):\n",
        ctx.threads, report.ran, report.trials, report.reused
    );
    for t in &results.timing {
        human += &format!(
            "    {:<16} {:>8.1} s  ({} solves, {:.3} s per solve)\n",
            curve_label(t.algorithm, &t.decoder),
            t.seconds,
            t.solves,
            t.seconds_per_solve
        );
    }
    let json = serde_json::json!({
        "command": "mnist reconstruct",
        "out": dir,
        "images": images,
        "m": protocol.m,
        "wall_seconds": wall,
        "cells_run": report.ran,
        "cells_found_done": report.reused,
        "summary": summary,
        "timing": results.timing,
    });
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}

/// The mean SSIM and error per curve and m, one block per selection mode.
fn table(summary: &[SummaryRow]) -> String {
    let mut s = String::new();
    for selection in [Selection::Objective, Selection::Oracle] {
        let label = match selection {
            Selection::Objective => {
                "selection by objective (DPR: lowest f; sparse: sign by pixel sum, sparsity by the oracle as in the paper)"
            }
            Selection::Oracle => "selection by ORACLE (closest to the truth; the paper's code)",
        };
        s += &format!("  {label}: mean SSIM (Wang 2004, 32×32) / mean error ‖ŷ−y‖²/1024 over the images\n");
        for r in summary.iter().filter(|r| r.selection == selection) {
            s += &format!(
                "    m = {:>5}  {:<12}  SSIM {:.3} [{:.3}, {:.3}]  error {:.4} [{:.4}, {:.4}]  ({} of {} images SSIM > 0.9)\n",
                r.m,
                curve_label(r.algorithm, &r.decoder),
                r.ssim_wang2004_padded32_mean,
                r.ssim_wang2004_padded32_min,
                r.ssim_wang2004_padded32_max,
                r.error_padded1024_mean,
                r.error_padded1024_min,
                r.error_padded1024_max,
                r.images_ssim_above_0_9,
                r.images
            );
        }
    }
    s
}
