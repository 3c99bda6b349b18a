//! C6: the paper's Figure 1 — the empirical landscape `f` approaches the expected one `F`
//! (docs/THEORY.md §4) as the widths and `m` grow. On a `k = 2` grid over `[−R, R]² ‖x0‖`, the mean
//! of `|f − F| / F(0)` (`F(0) = ‖x0‖²/2^{d+1}`) is measured for each size of a sweep (averaged
//! over independent instances). Pass iff it decreases at every step of the sweep. The gaps
//! are exact evaluations; their means over trials are estimates (reported with their spread).

use serde::{Deserialize, Serialize};

use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::error::Result;
use crate::landscape::grid::{grid_audit, standard_instance};
use crate::landscape::probes::Lattice;
use crate::report::plot::Series;
use crate::report::widths_label;
use crate::solvers::instance::InstanceKey;
use crate::stats::spread;

/// Parameters of C6 (from `verify/C6-figure1.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// The sweep, from small to large: widths (k = 2) with their m.
    pub sizes: Vec<super::c4_descent::Instance>,
    /// Independent instances per size.
    pub trials: usize,
    /// Grid points per axis.
    pub grid: usize,
    /// Half-width of the grid in units of `‖x0‖`.
    pub range: f64,
}

/// One row of `c6_gap.csv`: one size of the sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `estimate` (mean over trials of exact per-instance gaps).
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// Measurements.
    pub m: usize,
    /// Instances.
    pub trials: usize,
    /// Mean over instances of the grid mean of `|f − F|/F(0)`.
    pub mean_f_gap: f64,
    /// Standard deviation over instances.
    pub mean_f_gap_std: f64,
    /// Standard error of `mean_f_gap` (std / √trials).
    pub mean_f_gap_se: f64,
    /// Whether it is below the previous size's.
    pub decreased: Option<bool>,
}

/// Runs C6.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    let lattice = Lattice::new(p.grid, p.range)?;
    let mut rows: Vec<Row> = Vec::new();
    for (i, size) in p.sizes.iter().enumerate() {
        let experiment = format!("C6/size={i}");
        let gaps: Vec<f64> = (0..p.trials as u64)
            .map(|trial| {
                let key = InstanceKey {
                    seed,
                    experiment: &experiment,
                    trial,
                };
                let inst = standard_instance(&size.widths, size.m, &key);
                grid_audit(&inst, &lattice, (0.01, 1.5), 1, &key).all.mean_f_gap
            })
            .collect();
        let s = spread(&gaps);
        let decreased = rows.last().map(|prev| s.mean < prev.mean_f_gap);
        rows.push(Row {
            kind: "estimate",
            seed,
            widths: widths_label(&size.widths),
            m: size.m,
            trials: p.trials,
            mean_f_gap: s.mean,
            mean_f_gap_std: s.std,
            mean_f_gap_se: s.std / (p.trials as f64).sqrt(),
            decreased,
        });
    }
    let file = dir.write_csv("c6_gap.csv", &rows)?;
    let series = [Series {
        label: "mean |f - F| / F(0) over the grid".into(),
        points: rows
            .iter()
            .zip(&p.sizes)
            .map(|(r, s)| (s.widths[1] as f64, r.mean_f_gap))
            .collect(),
    }];
    let figure = dir.line_figure(
        "c6_gap.png",
        "Figure 1: empirical f approaches the expected F",
        ("first hidden width n_1", "mean |f - F| / F(0)"),
        &series,
        (true, true),
    )?;
    let all_decrease = rows.iter().all(|r| r.decreased != Some(false));
    let gaps: Vec<String> = rows
        .iter()
        .map(|r| format!("{:.4} ± {:.4}", r.mean_f_gap, r.mean_f_gap_se))
        .collect();
    Ok(ClaimReport::new(
        spec,
        format!(
            "mean |f − F|/F(0) over a {}² grid (estimate ± SE over {} instances per size) along {}: [{}]",
            p.grid,
            p.trials,
            rows.iter()
                .map(|r| format!("{} m={}", r.widths, r.m))
                .collect::<Vec<_>>()
                .join(", "),
            gaps.join(", ")
        ),
        Verdict::from_bool(all_decrease && rows.len() >= 2),
        vec![file, figure.clone()],
        vec![figure],
    ))
}
