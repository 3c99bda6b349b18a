//! `dpr-audit verify`: run every claim of `verify/`, write each claim's CSV and figures into
//! its own folder and a `SUMMARY.md` table (claim, measured, criterion, verdict, figures).

use std::time::Instant;

use serde::Serialize;

use super::cli::VerifyArgs;
use super::context::{Context, Outcome};
use crate::claims::{self, ClaimDir, ClaimReport, SPECS, Spec, Verdict};
use crate::error::{Error, Result};
use crate::report::progress;

/// One row of `summary.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    /// Claim id.
    pub claim: String,
    /// `quick` or `full`.
    pub protocol: &'static str,
    /// Master seed.
    pub seed: u64,
    /// PASS, FAIL or INCONCLUSIVE.
    pub verdict: Verdict,
    /// What was measured (with its kind).
    pub measured: String,
    /// The pass criterion.
    pub criterion: String,
}

/// The shipped specs, filtered by `--only`.
pub fn selected_specs(only: Option<&[String]>) -> Result<Vec<(String, Spec)>> {
    let all: Vec<(String, Spec)> = SPECS
        .iter()
        .map(|(file, text)| Ok((file.trim_end_matches(".toml").to_string(), Spec::parse(file, text)?)))
        .collect::<Result<_>>()?;
    let Some(only) = only else { return Ok(all) };
    let known: Vec<&str> = all.iter().map(|(_, s)| s.id.as_str()).collect();
    if let Some(bad) = only.iter().find(|id| !known.contains(&id.as_str())) {
        return Err(Error::param(
            "--only",
            bad,
            format!("known claims: {}", known.join(", ")),
        ));
    }
    Ok(all.into_iter().filter(|(_, s)| only.contains(&s.id)).collect())
}

fn summary_markdown(reports: &[ClaimReport], protocol: &str, seed: u64) -> String {
    let mut md = format!(
        "# dpr-audit verify: summary\n\nProtocol: **{protocol}**, master seed {seed}, dpr-audit {}. Each claim's CSV and figures are in its folder; `manifest.json` records the command line and parameters.\n\n| claim | statement | measured | criterion | verdict | figures |\n|---|---|---|---|---|---|\n",
        env!("CARGO_PKG_VERSION")
    );
    for r in reports {
        let figures: Vec<String> = r.figures.iter().map(|f| format!("[{f}]({f})")).collect();
        md += &format!(
            "| {} | {} | {} | {} | **{}** | {} |\n",
            r.id,
            r.title.replace('|', "\\|"),
            r.measured.replace('|', "\\|"),
            r.criterion.replace('|', "\\|"),
            r.verdict.label(),
            figures.join(" ")
        );
    }
    md
}

/// Runs `dpr-audit verify`.
pub fn run(ctx: &Context, args: VerifyArgs) -> Result<Outcome> {
    let specs = selected_specs(args.only.as_deref())?;
    let protocol = if args.full { "full" } else { "quick" };
    let out = ctx.create_out(&ctx.out_dir("verify"))?;
    let bar = progress::bar(specs.len() as u64, "verify", ctx.quiet);
    let mut reports = Vec::with_capacity(specs.len());
    let mut timings = Vec::with_capacity(specs.len());
    for (name, spec) in &specs {
        bar.set_message(spec.id.clone());
        out.create_subdir(name)?;
        let started = Instant::now();
        reports.push(claims::run(
            spec,
            args.full,
            ctx.seed,
            &ClaimDir {
                out: &out,
                name: name.clone(),
            },
        )?);
        timings.push(started.elapsed().as_secs_f64());
        bar.inc(1);
    }
    bar.finish_and_clear();
    let rows: Vec<SummaryRow> = reports
        .iter()
        .map(|r| SummaryRow {
            claim: r.id.clone(),
            protocol,
            seed: ctx.seed,
            verdict: r.verdict,
            measured: r.measured.clone(),
            criterion: r.criterion.clone(),
        })
        .collect();
    out.write_csv("summary.csv", &rows)?;
    out.write_text("SUMMARY.md", &summary_markdown(&reports, protocol, ctx.seed))?;
    let dir = ctx.finish(out, "verify", &args)?;
    let mut human = format!(
        "verify ({protocol} protocol, seed {}) → {}\n",
        ctx.seed,
        dir.join("SUMMARY.md").display()
    );
    for (r, t) in reports.iter().zip(&timings) {
        human += &format!("  {:<3} {:<13} {:>6.1}s  {}\n", r.id, r.verdict.label(), t, r.measured);
    }
    let failed = reports.iter().any(|r| r.verdict == Verdict::Fail);
    let json = serde_json::json!({ "command": "verify", "out": dir, "protocol": protocol, "claims": reports });
    Ok(Outcome {
        human,
        json,
        exit_code: if failed && args.strict { 3 } else { 0 },
    })
}
