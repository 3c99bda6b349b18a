//! `dpr-audit verify`: run every claim of `verify/`, write each claim's CSV and figures into
//! its own folder and a `SUMMARY.md` table (claim, measured, criterion, verdict, figures).

use std::time::Instant;

use serde::Serialize;

use super::cli::VerifyArgs;
use super::context::{Context, Outcome};
use crate::claims::{self, ClaimDir, ClaimReport, SPECS, Spec, Verdict};
use crate::error::{Error, Result};
use crate::report::output::OutputDir;
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
    /// The test statistic with its p-value or interval.
    pub statistic: String,
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

/// What the verdicts can and cannot say, printed once at the top of `SUMMARY.md`.
pub const SCOPE: &str = "Each verdict is a statistical test at level α = 0.05 per claim (its null hypothesis, statistic, test and multiple-comparison rule are in the criterion column; exact claims state a tolerance rule instead): PASS and FAIL are each wrong with probability at most 5% under the stated model, INCONCLUSIVE means the data cannot decide. Theorem II.1's hypothesis `K₁ d⁸ ε^{1/4} ≤ 1` is out of reach of any instance that can be computed: at d = 2 it needs ε ≤ 256⁻⁴ ≈ 2·10⁻¹⁰ even with K₁ = 1, while the WDC and RRCP constants measured on computable networks lie between 10⁻³ and 10⁻¹ (C2, C3). So the landscape and sample-complexity verdicts (C4–C8) test the trends the theorem predicts on computable instances, not the theorem itself.";

fn summary_markdown(reports: &[ClaimReport], protocol: &str, seed: u64) -> String {
    let mut md = format!(
        "# dpr-audit verify: summary\n\nProtocol: **{protocol}**, master seed {seed}, dpr-audit {}. Each claim's CSV and figures are in its folder; `manifest.json` records the command line and parameters.\n\n{}\n\n| claim | statement | measured | criterion | statistic (p-value or interval) | verdict | figures |\n|---|---|---|---|---|---|---|\n",
        env!("CARGO_PKG_VERSION"),
        SCOPE
    );
    for r in reports {
        let figures: Vec<String> = r.figures.iter().map(|f| format!("[{f}]({f})")).collect();
        md += &format!(
            "| {} | {} | {} | {} | {} | **{}** | {} |\n",
            r.id,
            r.title.replace('|', "\\|"),
            r.measured.replace('|', "\\|"),
            r.criterion.replace('|', "\\|"),
            if r.statistic.is_empty() {
                "—".to_string()
            } else {
                r.statistic.replace('|', "\\|")
            },
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
    let out = OutputDir::create(&ctx.out_dir("verify"))?;
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
            statistic: r.statistic.clone(),
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
        human += &format!(
            "  {:<3} {:<13} {:>6.1}s  {}\n",
            r.id,
            r.verdict.label(),
            t,
            if r.statistic.is_empty() {
                &r.measured
            } else {
                &r.statistic
            }
        );
    }
    let failed = reports.iter().any(|r| r.verdict == Verdict::Fail);
    let json = serde_json::json!({ "command": "verify", "out": dir, "protocol": protocol, "claims": reports });
    Ok(Outcome {
        human,
        json,
        exit_code: if failed && args.strict { 3 } else { 0 },
    })
}
