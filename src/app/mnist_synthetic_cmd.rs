//! `dpr-audit mnist synthetic`: the synthetic comparison of the full paper
//! ([`crate::experiments::synthetic`]): success rate against m of SPARTA, CoPRAM and ThWF on
//! `s`-sparse signals next to DPR on HLV's random generator (k = 10).
//!
//! Writes `synthetic.csv` (one row per curve point, with Wilson 95% intervals),
//! `synthetic_trials.csv` (every sparse trial), `dpr_trials.csv` (DPR's sweep trials), the
//! figure `synthetic.png` and `manifest.json`.

use serde::Serialize;

use super::cli::MnistSyntheticArgs;
use super::context::{Context, Outcome};
use crate::error::Result;
use crate::exec::store::write_rows;
use crate::experiments::synthetic::{self, Protocol, RateRow, curve_label, work_units};
use crate::limits::{Footprint, measurement_words, trial_words};
use crate::report::plot::{SpreadSeries, line_plot_with_spread};
use crate::report::progress;

/// The values of m of `--quick`.
pub const QUICK_M: [usize; 5] = [20, 50, 100, 200, 400];
/// The trials of `--quick`.
pub const QUICK_TRIALS: usize = 8;

/// The protocol the arguments describe.
pub fn protocol(args: &MnistSyntheticArgs) -> Result<Protocol> {
    let base = Protocol::default();
    let p = Protocol {
        m: match (&args.m, args.quick) {
            (Some(m), _) => m.clone(),
            (None, true) => QUICK_M.to_vec(),
            (None, false) => base.m.clone(),
        },
        trials: args
            .trials
            .unwrap_or(if args.quick { QUICK_TRIALS } else { base.trials }),
        sparsities: args.sparsities.clone(),
        n: args.n,
        dpr: !args.no_dpr,
        ..base
    };
    p.check()?;
    Ok(p)
}

/// The memory of the protocol: `A` for the largest m (against the sparse signals of length n
/// and DPR's generator, 10-500-1000), the signals, and every trial's rows.
fn footprint(p: &Protocol) -> Footprint {
    let m_max = p.m.iter().copied().max().unwrap_or(0);
    let trials = (p.trials * p.m.len()) as f64;
    let a = 2.0 * measurement_words(m_max, p.n.max(1000));
    // A is m × n: charge it to whichever of the two is the larger.
    let a_term = if m_max >= p.n { ("--m", m_max) } else { ("--n", p.n) };
    Footprint::new()
        .words(a_term.0, a_term.1, "A", a)
        .words("--n", p.n, "the signals and their estimates", 4.0 * p.n as f64)
        .words(
            "--trials",
            p.trials,
            "the trials' rows",
            trial_words(trials, 1.0 + (p.sparsities.len() * p.methods.len()) as f64),
        )
}

/// The success curves with their Wilson intervals as bars.
pub fn series(rates: &[RateRow]) -> Vec<SpreadSeries> {
    let mut out: Vec<SpreadSeries> = Vec::new();
    for r in rates {
        let label = curve_label(r);
        let point = (r.m as f64, r.success_rate, r.wilson_lo, r.wilson_hi);
        match out.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push(point),
            None => out.push(SpreadSeries {
                label,
                points: vec![point],
            }),
        }
    }
    out
}

#[derive(Serialize)]
struct Parameters<'a> {
    args: &'a MnistSyntheticArgs,
    protocol: &'a Protocol,
}

/// Runs `dpr-audit mnist synthetic`.
pub fn run(ctx: &Context, args: MnistSyntheticArgs) -> Result<Outcome> {
    let p = protocol(&args)?;
    ctx.budget.check(&footprint(&p))?;
    let bar = progress::bar(work_units(&p), "synthetic", ctx.quiet);
    let results = synthetic::run(&p, ctx.seed, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let out = ctx.create_out(&ctx.out_dir("mnist-synthetic"))?;
    out.write_csv("synthetic.csv", &results.rates)?;
    if !results.sparse_trials.is_empty() {
        out.write_csv("synthetic_trials.csv", &results.sparse_trials)?;
    }
    if !results.dpr_trials.is_empty() {
        write_rows(&out, "dpr_trials.csv", &results.dpr_trials)?;
    }
    line_plot_with_spread(
        &out.file("synthetic.png"),
        &format!(
            "Success rate vs m: sparse methods (n = {}) and DPR (k = 10), {} trials per point",
            p.n, p.trials
        ),
        "m (measurements)",
        "success rate (fraction; bars: Wilson 95%)",
        &series(&results.rates),
        true,
        false,
    )?;
    let dir = ctx.finish(
        out,
        "mnist synthetic",
        &Parameters {
            args: &args,
            protocol: &p,
        },
    )?;
    let mut human = format!(
        "mnist synthetic: success = min(‖x̂−x‖,‖x̂+x‖)/‖x‖ ≤ {:.0e}, {} trials per point → {}\n  curve                 m: success rate (estimate) [Wilson 95%]\n",
        synthetic::SUCCESS_TOL,
        p.trials,
        dir.display()
    );
    for s in series(&results.rates) {
        let cells: Vec<String> = s
            .points
            .iter()
            .map(|&(m, rate, lo, hi)| format!("{m}: {rate:.2} [{lo:.2}, {hi:.2}]"))
            .collect();
        human += &format!("  {:<20}  {}\n", s.label, cells.join("  "));
    }
    let json = serde_json::json!({ "command": "mnist synthetic", "out": dir, "rates": results.rates });
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}
