//! `dpr-audit verify`: run every claim of `verify/`, write each claim's CSV and figures into
//! its own folder, a `SUMMARY.md` table (claim, measured, criterion, statistic, verdict,
//! figures) and a booktabs table for papers, `SUMMARY.tex`; with `--replicates R`, the same protocol under R master seeds and the per-claim
//! agreement of the verdicts.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::cli::VerifyArgs;
use super::context::{Context, Outcome};
use crate::claims::{self, Agreement, ClaimDir, ClaimReport, SPECS, Spec, Verdict, image_experiment};
use crate::error::{Error, Result};
use crate::report::latex::summary_table;
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

/// The claims whose protocol is a sweep that can be sharded and merged (`--from-merged`).
pub const SWEEP_CLAIMS: [&str; 2] = ["C7", "C8"];

/// Checks `--from-merged DIR` against the selected claims and `--replicates` before anything
/// is written: only sweep claims, one seed, and a folder that exists.
fn check_from_merged(dir: &Path, specs: &[(String, Spec)], replicates: u64) -> Result<()> {
    if let Some((_, spec)) = specs.iter().find(|(_, s)| !SWEEP_CLAIMS.contains(&s.id.as_str())) {
        return Err(Error::param(
            "--from-merged",
            dir.display(),
            format!(
                "claim {} is not a sweep; only {} read merged folders: add --only C7 (or C8)",
                spec.id,
                SWEEP_CLAIMS.join(", ")
            ),
        ));
    }
    if replicates > 1 {
        return Err(Error::param(
            "--from-merged",
            dir.display(),
            "merged folders hold one master seed; drop --replicates",
        ));
    }
    if !dir.is_dir() {
        return Err(Error::param(
            "--from-merged",
            dir.display(),
            "no such folder; give the folder that holds <claim folder>/<part>/ as `merge` wrote them",
        ));
    }
    Ok(())
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

/// One row of `replicates.csv`: one claim under one master seed.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicateRow {
    /// Claim id.
    pub claim: String,
    /// `quick` or `full`.
    pub protocol: &'static str,
    /// Master seed of the replicate.
    pub seed: u64,
    /// Its verdict.
    pub verdict: Verdict,
    /// The statistic behind it.
    pub statistic: String,
    /// What was measured.
    pub measured: String,
    /// Wall time of the claim in seconds (not reproducible: depends on the machine and load).
    pub seconds: f64,
}

/// Runs every claim of `specs` under master seed `seed`, each into `prefix/<claim folder>`;
/// returns the reports and the wall time of each.
fn run_claims(
    specs: &[(String, Spec)],
    full: bool,
    seed: u64,
    out: &OutputDir,
    prefix: &str,
    bar: &indicatif::ProgressBar,
    merged: Option<&Path>,
) -> Result<(Vec<ClaimReport>, Vec<f64>)> {
    let mut reports = Vec::with_capacity(specs.len());
    let mut timings = Vec::with_capacity(specs.len());
    for (name, spec) in specs {
        bar.set_message(format!("{} (seed {seed})", spec.id));
        let name = format!("{prefix}{name}");
        out.create_subdir(&name)?;
        let started = Instant::now();
        let mut report = claims::run(spec, full, seed, &ClaimDir { out, name, merged })?;
        if let Some(dir) = merged {
            report.measured = format!(
                "judged on the merged shard folders in {} (rows read, not run here); {}",
                dir.display(),
                report.measured
            );
        }
        reports.push(report);
        timings.push(started.elapsed().as_secs_f64());
        bar.inc(1);
    }
    Ok((reports, timings))
}

/// The seed-stability section of `SUMMARY.md`.
fn replicates_markdown(agreements: &[Agreement], rows: &[ReplicateRow], seconds: f64) -> String {
    let seeds: Vec<String> = rows
        .iter()
        .map(|r| r.seed.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut md = format!(
        "\n## Seed stability\n\nThe same protocol under master seeds {} ({} replicates, {seconds:.0} s wall time in all); every replicate's verdict and statistic are in `replicates.csv`, the counts in `agreement.csv`. Agreement = share of replicates with the most frequent verdict.\n\n| claim | PASS | FAIL | INCONCLUSIVE | most frequent | agreement |\n|---|---|---|---|---|---|\n",
        seeds.join(", "),
        seeds.len()
    );
    for a in agreements {
        md += &format!(
            "| {} | {} | {} | {} | {} | {:.0}% |\n",
            a.claim,
            a.pass,
            a.fail,
            a.inconclusive,
            a.modal_verdict.label(),
            100.0 * a.agreement
        );
    }
    md
}

/// Runs `dpr-audit verify`.
pub fn run(ctx: &Context, args: VerifyArgs) -> Result<Outcome> {
    let mut specs = selected_specs(args.only.as_deref())?;
    if let Some(models) = &args.models {
        image_experiment::use_models(specs.iter_mut().map(|(_, s)| s), models);
    }
    let protocol = if args.full { "full" } else { "quick" };
    if let Some(dir) = &args.from_merged {
        check_from_merged(dir, &specs, args.replicates)?;
    }
    let out = ctx.create_out(&ctx.out_dir("verify"))?;
    let bar = progress::bar(specs.len() as u64 * args.replicates, "verify", ctx.quiet);
    let started = Instant::now();
    let merged = args.from_merged.as_deref();
    let (reports, timings) = run_claims(&specs, args.full, ctx.seed, &out, "", &bar, merged)?;
    let mut replicate_rows: Vec<ReplicateRow> = Vec::new();
    let mut record = |seed: u64, reports: &[ClaimReport], timings: &[f64]| {
        replicate_rows.extend(reports.iter().zip(timings).map(|(r, &t)| ReplicateRow {
            claim: r.id.clone(),
            protocol,
            seed,
            verdict: r.verdict,
            statistic: r.statistic.clone(),
            measured: r.measured.clone(),
            seconds: t,
        }));
    };
    record(ctx.seed, &reports, &timings);
    for r in 1..args.replicates {
        let seed = ctx.seed.wrapping_add(r);
        let (more, more_timings) = run_claims(
            &specs,
            args.full,
            seed,
            &out,
            &format!("replicates/seed-{seed}/"),
            &bar,
            None,
        )?;
        record(seed, &more, &more_timings);
    }
    let seconds = started.elapsed().as_secs_f64();
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
    let mut markdown = summary_markdown(&reports, protocol, ctx.seed);
    let mut agreements = Vec::new();
    if args.replicates > 1 {
        agreements = reports
            .iter()
            .map(|r| {
                let verdicts: Vec<Verdict> = replicate_rows
                    .iter()
                    .filter(|x| x.claim == r.id)
                    .map(|x| x.verdict)
                    .collect();
                claims::agreement(&r.id, &verdicts)
            })
            .collect();
        out.write_csv("replicates.csv", &replicate_rows)?;
        out.write_csv("agreement.csv", &agreements)?;
        markdown += &replicates_markdown(&agreements, &replicate_rows, seconds);
    }
    out.write_text("SUMMARY.md", &markdown)?;
    out.write_text("SUMMARY.tex", &summary_table(&reports, protocol, ctx.seed))?;
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
    if args.replicates > 1 {
        human += &format!("seed stability over {} replicates ({seconds:.0} s):\n", args.replicates);
        for a in &agreements {
            human += &format!(
                "  {:<3} {:.0}% {} (PASS {}, FAIL {}, INCONCLUSIVE {})\n",
                a.claim,
                100.0 * a.agreement,
                a.modal_verdict.label(),
                a.pass,
                a.fail,
                a.inconclusive
            );
        }
    }
    let failed = reports.iter().any(|r| r.verdict == Verdict::Fail);
    let json = serde_json::json!({ "command": "verify", "out": dir, "protocol": protocol, "claims": reports, "agreement": agreements });
    Ok(Outcome {
        human,
        json,
        exit_code: if failed && args.strict { 3 } else { 0 },
    })
}
