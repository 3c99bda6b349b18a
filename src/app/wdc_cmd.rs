//! `dpr-audit wdc`: the WDC constant of every layer of a network (sampled lower bound, and a
//! certified interval for layers with 2 to 4 inputs), or a scaling study over `--k × --n`.

use std::path::Path;

use serde::Serialize;

use super::cli::WdcArgs;
use super::context::{Context, Outcome};
use super::inputs::{NetworkOrigin, at_least, budget, network_within, positive};
use super::scaleout::{Ran, refuse_for_single, run_trials, sources};
use crate::conditions::audit::{AuditReport, rescale_to_theory};
use crate::conditions::certify::{Certificate, K2CertificateFile, MIN_TOL, certify, certify_with_leaves};
use crate::conditions::certify_boxes::{
    BoxCertificate, BoxSearch, Budget, MAX_INPUT, MIN_INPUT, Progress, Tolerance, Witness, certify_boxes,
};
use crate::conditions::certify_check::{CertificateFile, weights_sha256};
use crate::conditions::certify_range::{
    RangeCertificate, RangeCertificateFile, RangeLayer, RangeSearch, certify_range,
};
use crate::conditions::wdc::{Domain, WdcEstimate, WdcSearch, estimate_layer};
use crate::conditions::wdc_scaling::{
    FitSeries, LawFit, LawFitRow, ScalingRow, ScalingStudy, SettingSummary, StudyPlan, default_tolerance, fit_laws,
    fit_widths, summarize,
};
use crate::core::network::Network;
use crate::error::{Error, Result};
use crate::exec::Study;
use crate::exec::merge::{ShardFolder, collect};
use crate::exec::store::MANIFEST_FILE;
use crate::limits::{
    Footprint, certificate_words, comma_list, k2_certificate_file_words, range_certificate_words, trial_words,
    wdc_search_words, wdc_workspace_words,
};
use crate::report::output::{OutputDir, OutputLock, write_atomic};
use crate::report::plot::{Series, line_plot};
use crate::report::progress;
use crate::report::{cell_list, widths_label};

/// One row of `wdc.csv`: one layer's ε, as a sampled lower bound or a certified interval.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRow {
    /// `lower_bound` or `certified_interval`.
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// `random` or the weights file.
    pub source: String,
    /// Widths `k-n_1-…-n_d`.
    pub widths: String,
    /// Weight variance convention.
    pub weight_scale: String,
    /// `full` or `range`.
    pub domain: String,
    /// Layer index (1-based).
    pub layer: usize,
    /// `n_{i−1}`.
    pub n_in: usize,
    /// `n_i`.
    pub n_out: usize,
    /// Pairs sampled (empty for a certificate).
    pub pairs: Option<usize>,
    /// Pairs evaluated by the local search (empty for a certificate).
    pub refine_evaluations: Option<usize>,
    /// Best sampled value before refinement (empty for a certificate).
    pub sampled: Option<f64>,
    /// Lower bound on ε (after refinement; the certificate's lower end).
    pub lower: f64,
    /// Upper bound on ε (certificates only).
    pub upper: Option<f64>,
    /// `upper − lower` (certificates only).
    pub gap: Option<f64>,
    /// Why the certificate's search stopped: `converged` (gap within the tolerance),
    /// `budget` or `resolution` (box search only).
    pub stop: Option<&'static str>,
    /// Pairs of boxes evaluated (box search) or rectangles (k = 2 sectors).
    pub nodes: Option<u64>,
    /// Pairs of boxes closed because their bound was within the tolerance (box search).
    pub pruned: Option<u64>,
    /// Angle between the maximising x and y.
    pub argmax_angle: f64,
    /// Latent angle α of the maximising `u = (cos α, sin α)` (range-restricted certificates).
    pub argmax_latent_alpha: Option<f64>,
    /// Latent angle β of the maximising `u′` (range-restricted certificates).
    pub argmax_latent_beta: Option<f64>,
    /// The maximising x (semicolon-separated).
    pub argmax_x: String,
    /// The maximising y (semicolon-separated).
    pub argmax_y: String,
    /// Largest `‖W_{+,x}‖²` seen (lower-bound rows; the WDC implies `≤ ½ + ε`).
    pub max_active_norm_sq: Option<f64>,
}

fn validate(args: &WdcArgs) -> Result<()> {
    at_least(
        "--pairs",
        args.pairs.unwrap_or(1),
        1,
        "sample at least one pair, e.g. --pairs 20000",
    )?;
    at_least("--trials", args.trials, 1, "run at least one trial")?;
    if let Some(tol) = args.tol {
        positive("--tol", tol)?;
        if args.certify && tol < MIN_TOL {
            return Err(Error::param(
                "--tol",
                format!("{tol:?}"),
                format!(
                    "the certificate's bounds carry a rounding margin of {MIN_TOL:e}, so no smaller width can be certified in f64; give --tol {MIN_TOL:e} or more"
                ),
            ));
        }
    }
    if let Some(rel) = args.rel_tol {
        positive("--rel-tol", rel)?;
    }
    if let Some(text) = &args.budget {
        budget("--budget", text)?;
    }
    if args.certify
        && let Some(bad) = args
            .k
            .iter()
            .flatten()
            .find(|&&k| !(MIN_INPUT..=MAX_INPUT).contains(&k))
    {
        return Err(Error::param(
            "--k",
            bad,
            "certificates exist for k = 2, 3, 4; drop --certify for the sampled lower bound at this k",
        ));
    }
    if let Some(path) = &args.certificate {
        if args.k.is_some() {
            return Err(Error::param(
                "--certificate",
                path.display(),
                "certificate files are written for one network (--widths or --weights), not for a scaling study",
            ));
        }
        let ours = |bytes: Vec<u8>| {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("format")?.as_str().map(|f| f.starts_with("dpr-audit/")))
                .unwrap_or(false)
        };
        if path.exists() && !std::fs::read(path).is_ok_and(ours) {
            return Err(Error::param(
                "--certificate",
                path.display(),
                "the file exists and was not written by dpr-audit; it is left untouched: choose a new file name or remove it yourself",
            ));
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return Err(Error::param(
                "--certificate",
                path.display(),
                "the folder of the certificate file must exist",
            ));
        }
    }
    for (name, list) in [("--k", &args.k), ("--n", &args.n)] {
        if let Some(bad) = list.iter().flatten().find(|&&v| v == 0) {
            return Err(Error::param(name, bad, "every width must be a positive integer"));
        }
    }
    Ok(())
}

/// Runs `dpr-audit wdc`.
pub fn run(ctx: &Context, args: WdcArgs) -> Result<Outcome> {
    validate(&args)?;
    match (&args.k, &args.n) {
        (Some(ks), Some(ns)) => scaling(ctx, &args, ks, ns),
        _ => {
            refuse_for_single(
                &args.scale_out,
                "only the scaling study (--k/--n) runs as trials that can be sharded or resumed; drop the flag or add --k and --n",
            )?;
            layers(ctx, args)
        }
    }
}

/// `--domain range --certify`: the range-restricted certificate of every layer `i ≥ 2`.
fn range_certify(args: &WdcArgs) -> bool {
    args.certify && args.domain == Domain::Range
}

/// Where the sampled pairs come from: the full domain beside a range-restricted certificate
/// (so that the reader sees both constants), `--domain` otherwise.
fn sampled_domain(args: &WdcArgs) -> Domain {
    if range_certify(args) { Domain::Full } else { args.domain }
}

/// The search for a layer with `n_in` inputs: the user's budget, or the default for its size.
fn search(args: &WdcArgs, n_in: usize) -> WdcSearch {
    WdcSearch::for_layer(
        n_in,
        args.pairs,
        sampled_domain(args),
        args.refine_starts,
        args.refine_steps,
    )
}

fn estimate_rows(est: &[WdcEstimate], base: &LayerRow) -> Vec<LayerRow> {
    est.iter()
        .map(|e| LayerRow {
            layer: e.layer,
            n_in: e.n_in,
            n_out: e.n_out,
            pairs: Some(e.pairs_evaluated),
            refine_evaluations: Some(e.refine_evaluations),
            sampled: Some(e.sampled),
            lower: e.lower_bound,
            argmax_angle: e.argmax_angle,
            argmax_x: cell_list(&e.argmax_x),
            argmax_y: cell_list(&e.argmax_y),
            max_active_norm_sq: Some(e.max_active_norm_sq),
            ..base.clone()
        })
        .collect()
}

/// A layer's certificate: exact sectors (k = 2) or the box search (k = 3, 4).
#[derive(Clone, Debug)]
pub enum LayerCertificate {
    /// k = 2.
    Sector(Certificate),
    /// k = 3, 4.
    Boxes(BoxCertificate),
}

/// The tolerance for a layer with `k` inputs: `--rel-tol`, `--tol`, or the default for `k`.
fn tolerance(args: &WdcArgs, k: usize) -> Tolerance {
    match (args.rel_tol, args.tol) {
        (Some(rel), _) if k > 2 => Tolerance::Relative(rel),
        (_, Some(tol)) => Tolerance::Absolute(tol),
        _ => Tolerance::Absolute(default_tolerance(k)),
    }
}

/// Certifies layer `l` (a `k = 2` layer keeps its leaves for a certificate file when `keep`);
/// the box search starts from the sampled-and-refined estimate and reports its progress on
/// stderr every 10 s (unless `--quiet`).
fn certify_layer(
    ctx: &Context,
    args: &WdcArgs,
    net: &Network,
    (l, keep): (usize, bool),
    est: &WdcEstimate,
) -> Result<LayerCertificate> {
    let w = net.layers()[l].weight.as_ref();
    let k = w.ncols();
    let tol = tolerance(args, k);
    if k == 2 {
        let Tolerance::Absolute(t) = tol else {
            unreachable!("k = 2 always gets an absolute tolerance")
        };
        let search = if keep { certify_with_leaves } else { certify };
        return Ok(LayerCertificate::Sector(search(w, t)));
    }
    let search = BoxSearch {
        tolerance: tol,
        budget: match &args.budget {
            Some(text) => budget("--budget", text)?,
            None => Budget::Unlimited,
        },
    };
    let seed = Witness {
        value: est.lower_bound,
        x: est.argmax_x.clone(),
        y: est.argmax_y.clone(),
        source: "sampled".into(),
    };
    let mut report = progress_printer(ctx.quiet, format!("wdc --certify layer {}", l + 1), "pairs", "ε");
    Ok(LayerCertificate::Boxes(certify_boxes(
        w,
        &search,
        Some(seed),
        &mut report,
    )))
}

/// Prints a certificate search's progress on stderr every 10 s (nothing when `quiet`).
fn progress_printer(
    quiet: bool,
    label: String,
    evaluated: &'static str,
    constant: &'static str,
) -> impl FnMut(&Progress) {
    let started = std::time::Instant::now();
    let mut last = 0u64;
    move |p: &Progress| {
        let now = started.elapsed().as_secs();
        if !quiet && now >= last + 10 {
            last = now;
            eprintln!(
                "{label}: {} {evaluated} evaluated, {} open, {constant} ∈ [{:.6}, {:.6}] after {now} s",
                p.nodes, p.open, p.lower, p.upper
            );
        }
    }
}

/// Writes a certificate file whole or not at all: staged under a hidden name of this process
/// (`.<name>.partial-<pid>`, never a name a user could own) and renamed into place. The caller
/// holds the file's [`OutputLock`] from before the search, so two runs never write one file.
fn write_certificate(path: &Path, file: &impl Serialize) -> Result<()> {
    write_atomic(path, &serde_json::to_vec(file)?)
}

fn certificate_row(layer: usize, net: &Network, c: &LayerCertificate, base: &LayerRow) -> LayerRow {
    let w = &net.layers()[layer].weight;
    let common = LayerRow {
        kind: "certified_interval",
        domain: "full".into(),
        layer: layer + 1,
        n_in: w.ncols(),
        n_out: w.nrows(),
        ..base.clone()
    };
    match c {
        LayerCertificate::Sector(c) => LayerRow {
            lower: c.lower,
            upper: Some(c.upper),
            gap: Some(c.upper - c.lower),
            nodes: Some(c.rectangles),
            argmax_angle: c.argmax_theta,
            argmax_x: cell_list(&[c.argmax_alpha.cos(), c.argmax_alpha.sin()]),
            argmax_y: cell_list(&[c.argmax_beta.cos(), c.argmax_beta.sin()]),
            ..common
        },
        LayerCertificate::Boxes(c) => LayerRow {
            lower: c.lower,
            upper: Some(c.upper),
            gap: Some(c.gap()),
            stop: Some(stop_label(c.stop)),
            nodes: Some(c.nodes),
            pruned: Some(c.pruned),
            argmax_angle: crate::core::vector::angle(&c.argmax.x, &c.argmax.y),
            argmax_x: cell_list(&c.argmax.x),
            argmax_y: cell_list(&c.argmax.y),
            ..common
        },
    }
}

fn stop_label(stop: crate::conditions::certify_boxes::Stop) -> &'static str {
    match stop {
        crate::conditions::certify_boxes::Stop::Converged => "converged",
        crate::conditions::certify_boxes::Stop::Budget => "budget",
        crate::conditions::certify_boxes::Stop::Resolution => "resolution",
    }
}

/// The range-restricted certificate needs a bias-free ReLU network with `k = 2` and a layer
/// `i ≥ 2` (docs/THEORY.md §17.1).
fn check_range_network(net: &Network) -> Result<()> {
    let widths = widths_label(&net.widths());
    if net.latent_dim() != 2 {
        return Err(Error::param(
            "--domain range --certify",
            format!("widths {widths}"),
            "the range-restricted certificate exists for networks with k = 2 inputs (e.g. --widths 2,100,400); drop --certify for the sampled range lower bound",
        ));
    }
    let violations = net.theory_violations();
    if !violations.is_empty() {
        return Err(Error::param(
            "--domain range --certify",
            violations.join("; "),
            "the range-restricted certificate needs a bias-free ReLU network (its sectors are cones); use --domain full",
        ));
    }
    if net.depth() < 2 {
        return Err(Error::param(
            "--domain range --certify",
            format!("widths {widths}"),
            "the range of the previous layers exists only for a layer i ≥ 2; give at least two layers (e.g. --widths 2,100,400) or use --domain full",
        ));
    }
    Ok(())
}

/// The tolerance of the range-restricted certificate: `--rel-tol`, `--tol`, or the default.
fn range_tolerance(args: &WdcArgs) -> Tolerance {
    match (args.rel_tol, args.tol) {
        (Some(rel), _) => Tolerance::Relative(rel),
        (_, Some(tol)) => Tolerance::Absolute(tol),
        _ => Tolerance::Absolute(crate::conditions::certify_range::DEFAULT_TOLERANCE),
    }
}

/// Prepares layer `l + 1` for its range-restricted certificate and refuses an absolute
/// tolerance below what its rounding bound lets it certify (before any search runs).
fn prepare_range(args: &WdcArgs, net: &Network, l: usize) -> Result<RangeLayer> {
    let weights: Vec<_> = net.layers().iter().map(|layer| layer.weight.as_ref()).collect();
    let prepared = RangeLayer::new(&weights, l)?;
    if let Tolerance::Absolute(t) = range_tolerance(args)
        && t < 4.0 * prepared.rounding
    {
        return Err(Error::param(
            "--tol",
            format!("{t:?}"),
            format!(
                "the bounds of layer {} carry a rounding bound of {:.2e} on each side, so a smaller width cannot be certified; give --tol {:.0e} or more",
                l + 1,
                prepared.rounding,
                4.0 * prepared.rounding
            ),
        ));
    }
    Ok(prepared)
}

/// Certifies `ε_i^range` of layer `l + 1` (docs/THEORY.md §17), with progress on stderr every
/// 10 s (unless `--quiet`).
fn certify_range_layer(
    ctx: &Context,
    args: &WdcArgs,
    prepared: &RangeLayer,
    l: usize,
    keep_leaves: bool,
) -> Result<RangeCertificate> {
    let tolerance = range_tolerance(args);
    let search = RangeSearch {
        tolerance,
        budget: match &args.budget {
            Some(text) => budget("--budget", text)?,
            None => Budget::Unlimited,
        },
        keep_leaves,
    };
    if !ctx.quiet {
        eprintln!(
            "wdc --domain range --certify layer {}: {} cells on {} planes, {} cell pairs",
            l + 1,
            prepared.cell_count(),
            prepared.plane_count(),
            prepared.cell_count() * (prepared.cell_count() + 1) / 2
        );
    }
    let mut report = progress_printer(
        ctx.quiet,
        format!("wdc --domain range --certify layer {}", l + 1),
        "rectangles",
        "ε_range",
    );
    Ok(certify_range(prepared, l, &search, &mut report))
}

fn range_row(c: &RangeCertificate, base: &LayerRow) -> LayerRow {
    LayerRow {
        kind: "certified_interval",
        domain: "range".into(),
        layer: c.layer,
        n_in: c.n_in,
        n_out: c.n_out,
        lower: c.lower,
        upper: Some(c.upper),
        gap: Some(c.gap()),
        stop: Some(stop_label(c.stop)),
        nodes: Some(c.nodes),
        pruned: Some(c.pruned),
        argmax_angle: c.argmax_theta,
        argmax_latent_alpha: Some(c.argmax_alpha),
        argmax_latent_beta: Some(c.argmax_beta),
        ..base.clone()
    }
}

/// The range-restricted certificates in the printed summary and the JSON, each beside the
/// layer's full-domain sampled lower bound.
fn add_ranges(outcome: &mut Outcome, est: &[WdcEstimate], ranges: &[RangeCertificate]) {
    for c in ranges {
        let full = est[c.layer - 1].lower_bound;
        outcome.human += &format!(
            "  layer {} ({}→{}) range-restricted: ε_range ∈ [{:.6}, {:.6}] (certified_interval, gap {:.2e}, {}; {} cells on {} planes, {} rectangles evaluated, {} pruned, {} leaves; κ_max {:.3}, rounding {:.1e}); arg-max latent angles u = {:.6}, u′ = {:.6} (angle {:.4} between G(u) and G(u′)) — full domain: ε ≥ {:.5} (sampled lower bound)\n",
            c.layer,
            c.n_in,
            c.n_out,
            c.lower,
            c.upper,
            c.gap(),
            match c.stop {
                crate::conditions::certify_boxes::Stop::Converged => "tolerance met".to_string(),
                other => format!("stopped by {} before the tolerance", stop_label(other)),
            },
            c.cells,
            c.planes,
            c.nodes,
            c.pruned,
            c.leaves,
            c.kappa_max,
            c.rounding,
            c.argmax_alpha,
            c.argmax_beta,
            c.argmax_theta,
            full
        );
    }
    if !ranges.is_empty() {
        outcome.json["range_certificates"] = serde_json::json!(
            ranges
                .iter()
                .map(
                    |c| serde_json::json!({"layer": c.layer, "kind": "certified_interval", "domain": "range",
                    "full_domain_lower_bound": est[c.layer - 1].lower_bound, "certificate": c})
                )
                .collect::<Vec<_>>()
        );
    }
}

/// One row of `wdc_trace.csv`: the best value after a number of evaluated pairs.
#[derive(Clone, Debug, Serialize)]
pub struct TraceRow {
    /// Master seed.
    pub seed: u64,
    /// Layer index.
    pub layer: usize,
    /// Pairs evaluated so far (sampling, then refinement).
    pub pairs_evaluated: usize,
    /// Best deviation so far (lower bound).
    pub best: f64,
}

/// The memory of a run on a network of these widths: the weights, the largest layer's pair
/// search (twice with the audit's rescaled copy) and the certificates.
fn layers_footprint(args: &WdcArgs, widths: &[usize]) -> Footprint {
    let search_words = widths
        .windows(2)
        .map(|w| wdc_search_words(search(args, w[0]).pairs, args.refine_starts, w[0]))
        .fold(0.0, f64::max);
    let workspace = widths
        .iter()
        .skip(1)
        .map(|&n| wdc_workspace_words(n))
        .fold(0.0, f64::max);
    let certificates = widths
        .windows(2)
        .filter(|w| args.certify && w[0] == 2)
        .map(|w| {
            certificate_words(w[1])
                + args
                    .certificate
                    .as_ref()
                    .map_or(0.0, |_| k2_certificate_file_words(w[1]))
        })
        .fold(0.0, f64::max);
    let range = (2..widths.len())
        .filter(|_| range_certify(args))
        .map(|l| range_certificate_words(&widths[..=l]))
        .fold(0.0, f64::max);
    Footprint::new()
        .network("--widths", widths)
        .words("--pairs", search(args, 2).pairs, "the pair search", search_words)
        .words(
            "--widths",
            comma_list(widths),
            "the range-restricted certificate's sectors and cells",
            range,
        )
        .words("--widths", comma_list(widths), "the pair search's workspace", workspace)
        .words("--widths", comma_list(widths), "the certificate's cells", certificates)
}

fn layers(ctx: &Context, args: WdcArgs) -> Result<Outcome> {
    // Taken before the search, so a second run on the same file is refused at once.
    let _certificate_lock = args.certificate.as_deref().map(OutputLock::acquire).transpose()?;
    let (net, origin) = network_within(
        &args.source,
        &ctx.budget,
        |widths| layers_footprint(&args, widths),
        (ctx.seed, "wdc", 0),
    )?;
    let certifiable: Vec<usize> = (0..net.depth())
        .filter(|&l| (MIN_INPUT..=MAX_INPUT).contains(&net.layers()[l].weight.ncols()))
        .collect();
    if args.certify && certifiable.is_empty() {
        return Err(Error::param(
            "--certify",
            format!("widths {:?}", net.widths()),
            "certificates exist for layers with k = 2, 3 or 4 inputs (e.g. --widths 3,200); drop --certify for the sampled lower bound of wider layers",
        ));
    }
    let box_layer = certifiable
        .iter()
        .copied()
        .find(|&l| net.layers()[l].weight.ncols() > 2);
    // Without a layer of 3 or 4 inputs or the range mode, the file is the first k = 2 layer's.
    let sector_file = (args.certificate.is_some() && box_layer.is_none() && !range_certify(&args))
        .then(|| certifiable.first().copied())
        .flatten();
    let prepared: Vec<(usize, RangeLayer)> = if range_certify(&args) {
        check_range_network(&net)?;
        (1..net.depth())
            .map(|l| Ok((l, prepare_range(&args, &net, l)?)))
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let bar = progress::bar(net.depth() as u64, "wdc", ctx.quiet);
    let est: Vec<WdcEstimate> = (0..net.depth())
        .map(|l| {
            let e = estimate_layer(
                &net,
                l,
                &search(&args, net.layers()[l].weight.ncols()),
                ctx.seed,
                "wdc",
                0,
            );
            bar.inc(1);
            e
        })
        .collect();
    bar.finish_and_clear();
    let certs: Vec<(usize, LayerCertificate)> = if args.certify {
        certifiable
            .iter()
            .map(|&l| {
                Ok((
                    l,
                    certify_layer(ctx, &args, &net, (l, sector_file == Some(l)), &est[l])?,
                ))
            })
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let ranges: Vec<RangeCertificate> = prepared
        .iter()
        .map(|(l, layer)| certify_range_layer(ctx, &args, layer, *l, *l == 1 && args.certificate.is_some()))
        .collect::<Result<_>>()?;
    let audit = run_audit(ctx, &args, &net, &est);
    let base = base_row(ctx, &net, &origin, &args);
    let mut rows = estimate_rows(&est, &base);
    rows.extend(certs.iter().map(|(l, c)| certificate_row(*l, &net, c, &base)));
    rows.extend(ranges.iter().map(|c| range_row(c, &base)));
    let trace: Vec<TraceRow> = est
        .iter()
        .flat_map(|e| {
            e.trace.iter().map(|&(p, b)| TraceRow {
                seed: ctx.seed,
                layer: e.layer,
                pairs_evaluated: p,
                best: b,
            })
        })
        .collect();
    let out = ctx.create_out(&ctx.out_dir("wdc"))?;
    out.write_csv("wdc.csv", &rows)?;
    out.write_csv("wdc_trace.csv", &trace)?;
    if let (Some(path), Some(c), Some((_, layer))) = (&args.certificate, ranges.first(), prepared.first()) {
        let weights = &net.layers()[..=1];
        let widths = net.widths()[..=2].to_vec();
        let hashes = weights.iter().map(|l| weights_sha256(l.weight.as_ref())).collect();
        write_certificate(path, &RangeCertificateFile::new(c, layer, widths, hashes))?;
    } else if let Some(path) = &args.certificate
        && let Some((l, LayerCertificate::Boxes(c))) = certs.iter().find(|(l, _)| Some(*l) == box_layer)
    {
        write_certificate(path, &CertificateFile::new(c, net.layers()[*l].weight.as_ref(), l + 1))?;
    } else if let Some(path) = &args.certificate
        && let Some((l, LayerCertificate::Sector(c))) = certs.iter().find(|(l, _)| Some(*l) == sector_file)
    {
        write_certificate(
            path,
            &K2CertificateFile::new(c, net.layers()[*l].weight.as_ref(), l + 1),
        )?;
    }
    let dir = ctx.finish(out, "wdc", &args)?;
    let mut outcome = layers_outcome(&dir, &net, &est, &certs);
    add_ranges(&mut outcome, &est, &ranges);
    match &audit {
        Some(report) => {
            outcome.human +=
                "assumption audit (Theorem II.1; the checks of `dpr-audit audit`, on this run's estimates):\n";
            outcome.human += &report.summary();
            outcome.json["audit"] =
                serde_json::json!(report.verdicts().iter().map(|v| format!("{v:?}")).collect::<Vec<_>>());
        }
        None if !args.no_audit => {
            outcome.human += "  (assumption audit skipped: it needs --domain full; run `dpr-audit audit`)\n";
        }
        None => {}
    }
    Ok(outcome)
}

/// The assumption audit beside the estimate: reuses the estimates (domain full) and adds
/// estimates for the network rescaled to the theorem's variances.
fn run_audit(ctx: &Context, args: &WdcArgs, net: &Network, est: &[WdcEstimate]) -> Option<AuditReport> {
    if args.no_audit || args.domain != Domain::Full {
        return None;
    }
    let rescaled = rescale_to_theory(net).net;
    let bar = progress::bar(net.depth() as u64, "audit", ctx.quiet);
    let after: Vec<WdcEstimate> = (0..net.depth())
        .map(|l| {
            let e = estimate_layer(
                &rescaled,
                l,
                &search(args, rescaled.layers()[l].weight.ncols()),
                ctx.seed,
                "wdc-rescaled",
                0,
            );
            bar.inc(1);
            e
        })
        .collect();
    bar.finish_and_clear();
    Some(AuditReport::from_estimates(
        net,
        &search(args, net.latent_dim()),
        ctx.seed,
        est.to_vec(),
        after,
    ))
}

fn base_row(ctx: &Context, net: &Network, origin: &NetworkOrigin, args: &WdcArgs) -> LayerRow {
    LayerRow {
        kind: "lower_bound",
        seed: ctx.seed,
        source: origin.source.clone(),
        widths: widths_label(&net.widths()),
        weight_scale: origin.weight_scale.clone(),
        domain: serde_json::to_value(sampled_domain(args))
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        layer: 0,
        n_in: 0,
        n_out: 0,
        pairs: None,
        refine_evaluations: None,
        sampled: None,
        lower: f64::NAN,
        upper: None,
        gap: None,
        stop: None,
        nodes: None,
        pruned: None,
        argmax_angle: f64::NAN,
        argmax_latent_alpha: None,
        argmax_latent_beta: None,
        argmax_x: String::new(),
        argmax_y: String::new(),
        max_active_norm_sq: None,
    }
}

fn layers_outcome(
    dir: &std::path::Path,
    net: &Network,
    est: &[WdcEstimate],
    certs: &[(usize, LayerCertificate)],
) -> Outcome {
    let mut human = format!("WDC of each layer → {}\n", dir.display());
    for e in est {
        human += &format!(
            "  layer {} ({}→{}): ε ≥ {:.5} (sampled lower bound; {:.5} before refinement, {} pairs + {} refinement evaluations); argmax angle {:.4}; max ‖W+x‖² = {:.4} (WDC implies ≤ ½ + ε)\n",
            e.layer,
            e.n_in,
            e.n_out,
            e.lower_bound,
            e.sampled,
            e.pairs_evaluated,
            e.refine_evaluations,
            e.argmax_angle,
            e.max_active_norm_sq
        );
    }
    for (l, c) in certs {
        human += &match c {
            LayerCertificate::Sector(c) => format!(
                "  layer {} certified: ε ∈ [{:.6}, {:.6}] (certified_interval, exact sectors up to tol {}; {} cells, {} rectangles); argmax angle {:.4}\n",
                l + 1,
                c.lower,
                c.upper,
                c.tol,
                c.cells,
                c.rectangles,
                c.argmax_theta
            ),
            LayerCertificate::Boxes(c) => format!(
                "  layer {} certified: ε ∈ [{:.6}, {:.6}] (certified_interval, gap {:.2e}, {}; box branch and bound: {} pairs evaluated, {} split, {} pruned, {} leaves; lower end from the {} pair x = [{}], y = [{}])\n",
                l + 1,
                c.lower,
                c.upper,
                c.gap(),
                match c.stop {
                    crate::conditions::certify_boxes::Stop::Converged => "tolerance met".to_string(),
                    _ => format!("stopped by {} before the tolerance", stop_label(c.stop)),
                },
                c.nodes,
                c.split,
                c.pruned,
                c.leaves,
                c.argmax.source,
                cell_list(&c.argmax.x),
                cell_list(&c.argmax.y)
            ),
        };
    }
    let violations = net.theory_violations();
    if !violations.is_empty() {
        human += &format!(
            "  warning: not a bias-free ReLU network ({}); ε is computed on the weights alone\n",
            violations.join("; ")
        );
    }
    let interval = |c: &LayerCertificate| match c {
        LayerCertificate::Sector(c) => (c.lower, c.upper),
        LayerCertificate::Boxes(c) => (c.lower, c.upper),
    };
    let first = certs.first().map(|(_, c)| interval(c));
    let json = serde_json::json!({
        "command": "wdc", "out": dir, "widths": net.widths(),
        "layers": est.iter().map(|e| serde_json::json!({
            "layer": e.layer, "kind": "lower_bound", "epsilon_lower_bound": e.lower_bound, "sampled": e.sampled,
            "argmax_angle": e.argmax_angle, "max_active_norm_sq": e.max_active_norm_sq,
        })).collect::<Vec<_>>(),
        "certificates": certs.iter().map(|(l, c)| serde_json::json!({"layer": l + 1, "kind": "certified_interval", "certificate": match c {
            LayerCertificate::Sector(c) => serde_json::json!(c),
            LayerCertificate::Boxes(c) => serde_json::json!(c),
        }})).collect::<Vec<_>>(),
        "lower": first.map(|c| c.0), "upper": first.map(|c| c.1),
        "theory_violations": violations,
    });
    Outcome {
        human,
        json,
        exit_code: 0,
    }
}

fn scaling(ctx: &Context, args: &WdcArgs, ks: &[usize], ns: &[usize]) -> Result<Outcome> {
    let widest = ks.iter().copied().max().unwrap_or(1);
    let (k_max, n_max) = (widest, ns.iter().copied().max().unwrap_or(1));
    let settings = (ks.len() * ns.len()) as f64;
    ctx.budget.check(
        &Footprint::new()
            .network("--n", &[k_max, n_max])
            .words(
                "--pairs",
                search(args, widest).pairs,
                "the pair search",
                wdc_search_words(search(args, widest).pairs, args.refine_starts, k_max),
            )
            .words("--n", n_max, "the pair search's workspace", wdc_workspace_words(n_max))
            .words(
                "--n",
                n_max,
                "the certificate's cells",
                if args.certify { certificate_words(n_max) } else { 0.0 },
            )
            .words(
                "--trials",
                args.trials,
                "the trials' rows",
                trial_words(args.trials as f64 * settings, 2.0),
            ),
    )?;
    let plan = StudyPlan {
        search: search(args, widest),
        grow_pairs: false,
        certify: args.certify,
        tol: args.tol.unwrap_or(default_tolerance(2)),
        box_tol: args.tol,
    };
    let study = ScalingStudy::new(ks, ns, args.trials, &plan, ctx.seed);
    let out = ctx.out_dir("wdc");
    match run_trials(ctx, &study, &args.scale_out, &out, "wdc scaling")? {
        Ran::Shard(outcome) => Ok(outcome),
        Ran::Whole { staging, folders, .. } => finalize(ctx, &study, &folders, staging, ("wdc", args)),
    }
}

/// `dpr-audit merge` of WDC scaling shards: the outputs of the unsharded run.
pub fn merge(ctx: &Context, folders: &[ShardFolder], staging: OutputDir) -> Result<Outcome> {
    let first = &folders[0];
    let study = ScalingStudy::from_recorded(&first.manifest.config, &first.dir.join(MANIFEST_FILE))?;
    let recorded = serde_json::json!({"merged_from": sources(folders), "config": study.config()});
    finalize(ctx, &study, folders, staging, ("merge", &recorded))
}

/// Writes the final outputs of a scaling study from the rows in `folders` (every trial exactly
/// once) into `out`; `command` and its parameters go to `manifest.json`.
fn finalize(
    ctx: &Context,
    study: &ScalingStudy,
    folders: &[ShardFolder],
    out: OutputDir,
    (command, params): (&str, &impl Serialize),
) -> Result<Outcome> {
    let rows: Vec<ScalingRow> = collect(study, folders)?.into_iter().map(|(_, row)| row).collect();
    let summary = summarize(&rows);
    let fits = fit_widths(&summary);
    let laws = fit_laws(&summary);
    out.write_csv("wdc_scaling.csv", &rows)?;
    out.write_csv("wdc_scaling_summary.csv", &summary)?;
    let law_rows: Vec<LawFitRow> = laws.iter().flat_map(|f| f.rows(study.config.seed)).collect();
    out.write_csv("wdc_scaling_fits.csv", &law_rows)?;
    certified_plot(&out, &summary, &laws)?;
    let series: Vec<Series> = fits
        .iter()
        .flat_map(|f| {
            let sel: Vec<_> = summary.iter().filter(|s| s.k == f.k).collect();
            [
                Series {
                    label: format!("k = {} (mean over trials)", f.k),
                    points: sel.iter().map(|s| (s.n as f64, s.epsilon_mean)).collect(),
                },
                Series {
                    label: format!("k = {}: {:.2} sqrt(k ln n / n)", f.k, f.rate_constant),
                    points: sel.iter().map(|s| (s.n as f64, f.rate_constant * s.rate)).collect(),
                },
            ]
        })
        .collect();
    line_plot(
        &out.file("wdc_scaling.png"),
        "WDC epsilon vs width",
        "layer width n (neurons)",
        "WDC epsilon (dimensionless)",
        &series,
        true,
        true,
    )?;
    let ctx = Context {
        seed: study.config.seed,
        ..ctx.clone()
    };
    let dir = ctx.finish(out, command, params)?;
    let mut human = format!(
        "WDC scaling study ({} trials per setting) → {}\n",
        study.config.trials,
        dir.display()
    );
    for s in &summary {
        human += &format!(
            "  k = {:>3}, n = {:>5}: ε mean {:.4} ± {:.4} (max {:.4}; {}), C = ε/√(k ln n/n) = {:.3}\n",
            s.k, s.n, s.epsilon_mean, s.epsilon_std, s.epsilon_max, s.kind, s.constant_vs_rate
        );
    }
    for f in &fits {
        human += &match &f.fit {
            Some(p) => format!(
                "  k = {}: ε ≈ {:.3} n^{:.3} (95% CI [{:.3}, {:.3}], R² = {:.3}); rate fit ε ≈ {:.3} √(k ln n / n)\n",
                f.k, p.constant, p.exponent, p.exponent_lo, p.exponent_hi, p.r2, f.rate_constant
            ),
            None => format!(
                "  k = {}: fewer than 3 widths, no power-law fit; rate fit ε ≈ {:.3} √(k ln n / n)\n",
                f.k, f.rate_constant
            ),
        };
    }
    for f in &laws {
        human += &law_line(f);
    }
    let json = serde_json::json!({
        "command": "wdc scaling", "out": dir, "summary": summary, "fits": fits, "laws": law_rows,
    });
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}

/// One line of the fitted laws: each parameter with its 95% interval.
fn law_line(f: &LawFit) -> String {
    let parameters: Vec<String> = f
        .law
        .parameters()
        .iter()
        .zip(f.rows(0))
        .map(|(name, r)| format!("{name} = {:.3} [{:.3}, {:.3}]", r.estimate, r.ci95_lo, r.ci95_hi))
        .collect();
    format!(
        "  {} fit of ε ≈ {} over {} settings: {} (95% t intervals; R² = {:.3})\n",
        f.series.label(),
        f.law.label(),
        f.fit.points,
        parameters.join(", "),
        f.fit.r2
    )
}

/// `wdc_scaling_certified.png`: per certified k, the mean upper and lower ends against n with
/// the k–n law fitted to the upper ends (nothing when no setting was certified).
fn certified_plot(out: &OutputDir, summary: &[SettingSummary], laws: &[LawFit]) -> Result<()> {
    let certified: Vec<&SettingSummary> = summary.iter().filter(|s| s.epsilon_upper_mean.is_some()).collect();
    if certified.is_empty() {
        return Ok(());
    }
    let mut ks: Vec<usize> = certified.iter().map(|s| s.k).collect();
    ks.dedup();
    let upper_law = laws
        .iter()
        .find(|f| f.series == FitSeries::CertifiedUpper && f.law == crate::conditions::wdc_scaling::Law::PowerKn);
    let series: Vec<Series> = ks
        .iter()
        .flat_map(|&k| {
            let sel: Vec<&&SettingSummary> = certified.iter().filter(|s| s.k == k).collect();
            let mut lines = vec![
                Series {
                    label: format!("k = {k}: certified upper end (mean)"),
                    points: sel
                        .iter()
                        .filter_map(|s| Some((s.n as f64, s.epsilon_upper_mean?)))
                        .collect(),
                },
                Series {
                    label: format!("k = {k}: certified lower end (mean)"),
                    points: sel.iter().map(|s| (s.n as f64, s.epsilon_mean)).collect(),
                },
            ];
            lines.extend(upper_law.map(|f| {
                Series {
                    label: format!("k = {k}: fitted {} (upper ends)", f.law.label()),
                    points: sel
                        .iter()
                        .map(|s| (s.n as f64, f.law.predict(&f.fit.coefficients, k, s.n)))
                        .collect(),
                }
            }));
            lines
        })
        .collect();
    line_plot(
        &out.file("wdc_scaling_certified.png"),
        "Certified WDC epsilon vs width",
        "layer width n (neurons)",
        "WDC epsilon (dimensionless)",
        &series,
        true,
        true,
    )
}
