//! `dpr-audit audit`: each hypothesis of Theorem II.1 for one network, with its status and the
//! number behind it ([`crate::conditions::audit`]).
//!
//! Writes `audit.csv` (tidy: one row per number — layer × hypothesis × quantity × scaling —
//! with its `kind`) and `manifest.json`. A random network (`--widths`) is drawn from the
//! `("net", trial 0)` network stream, so `audit --widths W --seed s` audits exactly the network
//! that `net --widths W --seed s --save FILE` saves. The WDC searches draw from the `"audit"`
//! streams. A network outside the theorem (biases, other activations) is audited all the same,
//! with `WARNING:` lines; the exit status is 0.

use serde::Serialize;

use super::cli::AuditArgs;
use super::context::{Context, Outcome};
use super::inputs::{at_least, network_within};
use crate::conditions::audit::{Check, Hypothesis, Kind, Scaling, Status, audit_observed};
use crate::conditions::wdc::{Domain, WdcSearch};
use crate::error::Result;
use crate::limits::{Footprint, comma_list, wdc_search_words, wdc_workspace_words};
use crate::report::progress::bar;
use crate::report::widths_label;

/// One row of `audit.csv` (docs/COLUMNS.md): one number of one hypothesis.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRow {
    /// Master seed (network stream for `--widths`, WDC search streams always).
    pub seed: u64,
    /// `"random"` or the weights file.
    pub source: String,
    /// Weight variance convention (`normalized`, `unit`, or from the file).
    pub weight_scale: String,
    /// Depth `d`.
    pub d: usize,
    /// Sampled pairs per layer of the WDC search.
    pub pairs: usize,
    /// Refinement starts of the WDC search.
    pub refine_starts: usize,
    /// Local-search steps per start.
    pub refine_steps: usize,
    /// Layer (1-based); empty for a network-level row.
    pub layer: Option<usize>,
    /// `n_{i−1}`; empty for a network-level row.
    pub n_in: Option<usize>,
    /// `n_i`; empty for a network-level row.
    pub n_out: Option<usize>,
    /// The hypothesis.
    pub hypothesis: Hypothesis,
    /// The quantity.
    pub quantity: &'static str,
    /// `as_given` or `rescaled` (weight-dependent quantities); empty otherwise.
    pub scaling: Option<Scaling>,
    /// The number.
    pub value: Option<f64>,
    /// Its kind.
    pub kind: Kind,
    /// What the theorem compares it with.
    pub reference: Option<f64>,
    /// The hypothesis' status from this row.
    pub status: Status,
    /// A short explanation.
    pub note: String,
}

/// Runs `dpr-audit audit`.
pub fn run(ctx: &Context, args: AuditArgs) -> Result<Outcome> {
    at_least(
        "--pairs",
        args.pairs,
        1,
        "sample at least one pair per layer, e.g. --pairs 5000",
    )?;
    let footprint = |widths: &[usize]| {
        let widest = widths
            .windows(2)
            .map(|w| wdc_search_words(args.pairs, args.refine_starts, w[0]));
        let workspace = widths.iter().skip(1).map(|&n| wdc_workspace_words(n));
        Footprint::new()
            .network("--widths", widths)
            .words("--pairs", args.pairs, "the pair search", widest.fold(0.0, f64::max))
            .words(
                "--widths",
                comma_list(widths),
                "the pair search's workspace",
                workspace.fold(0.0, f64::max),
            )
    };
    let (net, origin) = network_within(&args.source, &ctx.budget, footprint, (ctx.seed, "net", 0))?;
    let search = WdcSearch {
        pairs: args.pairs,
        domain: Domain::Full,
        refine_starts: args.refine_starts,
        refine_steps: args.refine_steps,
    };
    let out = ctx.create_out(&ctx.out_dir("audit"))?;
    let progress = bar(2 * net.depth() as u64, "audit ε", ctx.quiet);
    let report = audit_observed(&net, &search, ctx.seed, |step| progress.set_position(step.done as u64));
    progress.finish_and_clear();
    let widths = net.widths();
    let rows: Vec<AuditRow> = report
        .checks()
        .into_iter()
        .map(|c: Check| {
            let shape = c.layer.map(|i| (widths[i - 1], widths[i]));
            AuditRow {
                seed: ctx.seed,
                source: origin.source.clone(),
                weight_scale: origin.weight_scale.clone(),
                d: report.depth,
                pairs: search.pairs,
                refine_starts: search.refine_starts,
                refine_steps: search.refine_steps,
                layer: c.layer,
                n_in: shape.map(|s| s.0),
                n_out: shape.map(|s| s.1),
                hypothesis: c.hypothesis,
                quantity: c.quantity,
                scaling: c.scaling,
                value: c.value,
                kind: c.kind,
                reference: c.reference,
                status: c.status,
                note: c.note,
            }
        })
        .collect();
    out.write_csv("audit.csv", &rows)?;
    let dir = ctx.finish(out, "audit", &args)?;
    let name = widths_label(&widths);
    let human = format!(
        "audit of {name} ({}, weights {}) against Theorem II.1 → {}\n{}",
        origin.source,
        origin.weight_scale,
        dir.display(),
        report.summary()
    );
    let json = serde_json::json!({
        "command": "audit",
        "out": dir,
        "source": origin.source,
        "weight_scale": origin.weight_scale,
        "seed": ctx.seed,
        "widths": widths,
        "hypotheses": report.verdicts(),
        "failures": report.failures(),
        "layers": report.layers,
        "epsilon": { "as_given": report.given, "rescaled": report.rescaled, "kind": "lower_bound" },
        "search": report.search,
        "warnings": report.warnings,
    });
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}
