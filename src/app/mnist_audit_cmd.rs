//! `dpr-audit mnist audit`: the shipped decoders (or `--weights`) against Theorem II.1's
//! hypotheses, beside a random bias-free ReLU network of the same widths with `N(0, 1/n_i)`
//! weights ([`crate::experiments::decoder_audit`]).
//!
//! Writes `decoder_audit.csv` (tidy: one number per row, with its kind), `decoder_audit.md`
//! (the networks side by side) and `manifest.json`.

use serde::Serialize;

use super::cli::MnistAuditArgs;
use super::context::{Context, Outcome};
use crate::conditions::rrcp::{SUBSPACE_BLOCK, SearchSettings};
use crate::conditions::wdc::{Domain, WdcSearch};
use crate::error::Result;
use crate::experiments::decoder_audit::{self, Settings, Subject, markdown, random_like, rows};
use crate::experiments::decoders;
use crate::limits::{Footprint, measurement_words, wdc_search_words, wdc_workspace_words};
use crate::report::progress;

#[derive(Serialize)]
struct Parameters<'a> {
    args: &'a MnistAuditArgs,
    settings: &'a Settings,
}

/// Runs `dpr-audit mnist audit`.
pub fn run(ctx: &Context, args: MnistAuditArgs) -> Result<Outcome> {
    let settings = Settings {
        wdc: WdcSearch {
            pairs: args.pairs,
            domain: Domain::Full,
            refine_starts: args.refine_starts,
            refine_steps: args.refine_steps,
        },
        rrcp_m: args.rrcp_m,
        rrcp: SearchSettings {
            tuples: args.tuples,
            refine_starts: args.rrcp_refine_starts,
            refine_steps: args.rrcp_refine_steps,
        },
    };
    settings.check()?;
    // The decoders are at most 1024 wide (500 → 784 is the widest layer shipped).
    let (k, n) = (1024, 1024);
    ctx.budget.check(
        &Footprint::new()
            .words(
                "--pairs",
                args.pairs,
                "the pair search",
                wdc_search_words(args.pairs, args.refine_starts, k) + wdc_workspace_words(n),
            )
            .words(
                "--rrcp-m",
                args.rrcp_m,
                "A and its products",
                2.0 * measurement_words(args.rrcp_m, n),
            )
            .words(
                "--tuples",
                args.tuples,
                "the tuple search's trace",
                3.0 * (args.tuples as f64 / SUBSPACE_BLOCK as f64).ceil(),
            ),
    )?;
    let decoders = decoders::select(&args.models, args.decoder, args.weights.as_deref())?;
    let mut subjects: Vec<Subject> = decoders
        .into_iter()
        .map(|d| Subject {
            name: d.name,
            source: d.source,
            net: d.net,
        })
        .collect();
    subjects.push(random_like(&subjects[0].net, ctx.seed));
    let bar = progress::bar(subjects.len() as u64, "mnist audit", ctx.quiet);
    let audited = decoder_audit::run(&subjects, &settings, ctx.seed, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let table = markdown(&audited, &settings);
    let out = ctx.create_out(&ctx.out_dir("mnist-audit"))?;
    out.write_csv("decoder_audit.csv", &rows(&audited, &settings, ctx.seed))?;
    let page = format!(
        "# Trained decoders against Theorem II.1\n\nMaster seed {}; WDC: {} sampled pairs per layer + {} refined × {} steps, over all nonzero inputs; RRCP: A with m = {} rows, N(0, 1/m), {} tuples per mode (random, subspace) + {} refined × {} steps. Every ε is a lower bound (a sampled supremum): it can refute a claimed ε, never certify one. The decoders are outside the theorem wherever a hypothesis fails; their ε are computed on the weight matrices with ReLU masks (see `dpr-audit audit`).\n\n{table}",
        ctx.seed,
        settings.wdc.pairs,
        settings.wdc.refine_starts,
        settings.wdc.refine_steps,
        settings.rrcp_m,
        settings.rrcp.tuples,
        settings.rrcp.refine_starts,
        settings.rrcp.refine_steps,
    );
    out.write_text("decoder_audit.md", &page)?;
    let dir = ctx.finish(
        out,
        "mnist audit",
        &Parameters {
            args: &args,
            settings: &settings,
        },
    )?;
    let human = format!("mnist audit → {}\n{table}", dir.display());
    let json = serde_json::json!({
        "command": "mnist audit",
        "out": dir,
        "networks": audited.iter().map(|a| serde_json::json!({
            "name": a.subject.name,
            "source": a.subject.source,
            "epsilon_rescaled_lower_bound": a.report.rescaled.epsilon,
            "epsilon_as_given_lower_bound": a.report.given.epsilon,
            "rrcp_epsilon_lower_bound": a.rrcp_sup() / decoder_audit::RRCP_CONSTANT,
            "failures": a.report.failures(),
        })).collect::<Vec<_>>(),
    });
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}
