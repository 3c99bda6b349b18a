//! C6: the paper's Figure 1 — the empirical landscape `f` approaches the expected one `F`
//! (docs/THEORY.md §4) as the widths and `m` grow. On a `k = 2` grid over `[−R, R]² ‖x0‖`, the mean
//! of `|f − F| / F(0)` (`F(0) = ‖x0‖²/2^{d+1}`) is measured for each size of a sweep (averaged
//! over independent instances). The gaps are exact evaluations; their means over trials are
//! estimates (reported with their standard errors).
//!
//! The test (docs/THEORY.md §15.3): a trend test over the sweep, least squares of
//! `ln gap` on `ln n_1` (first hidden width; widths and m grow together) over every instance,
//! with the 95% t interval of the slope `p`. `H0: p ≥ 0` (the gap does not shrink). PASS: the
//! interval lies below 0; FAIL: it lies at or above 0; INCONCLUSIVE: it contains 0, or there
//! are fewer than 3 instances with a positive gap ([`judge`]). Whether the mean falls at every
//! single step is reported beside it, not judged (one noisy step must not decide).

use serde::{Deserialize, Serialize};

use super::verdicts::decay_exponent;
use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::error::Result;
use crate::landscape::grid::{grid_audit, standard_instance};
use crate::landscape::probes::Lattice;
use crate::report::plot::Series;
use crate::report::widths_label;
use crate::solvers::instance::InstanceKey;
use crate::stats::{PowerLawFit, power_law_fit, spread};

/// Parameters of C6 (from `verify/C6-figure1.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// The sweep, from small to large: widths (k = 2) with their m.
    pub sizes: Vec<super::Instance>,
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
    let mut instances: Vec<(f64, f64)> = Vec::new();
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
        instances.extend(gaps.iter().map(|&g| (size.widths[1] as f64, g)));
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
        (
            "first hidden width n_1 (neurons)",
            "mean |f - F| / F(0) (dimensionless)",
        ),
        &series,
        (true, true),
    )?;
    let steps_down = rows.iter().filter(|r| r.decreased == Some(true)).count();
    let gaps: Vec<String> = rows
        .iter()
        .map(|r| format!("{:.4} ± {:.4}", r.mean_f_gap, r.mean_f_gap_se))
        .collect();
    let (verdict, fit) = judge(&instances);
    let measured = format!(
        "mean |f − F|/F(0) over a {}² grid (estimate ± SE over {} instances per size) along {}: [{}]; the mean falls at {steps_down} of {} steps (not judged)",
        p.grid,
        p.trials,
        rows.iter()
            .map(|r| format!("{} m={}", r.widths, r.m))
            .collect::<Vec<_>>()
            .join(", "),
        gaps.join(", "),
        rows.len().saturating_sub(1),
    );
    let statistic = fit.map_or_else(
        || "no trend fit (fewer than 3 instances)".to_string(),
        |f| {
            format!(
                "trend gap ∝ n_1^p over {} instances: p = {:.3}, 95% t interval [{:.3}, {:.3}] (H0: p ≥ 0)",
                f.points, f.exponent, f.exponent_lo, f.exponent_hi
            )
        },
    );
    Ok(ClaimReport::new(spec, measured, verdict, vec![file, figure.clone()], vec![figure]).with_statistic(statistic))
}

/// C6's verdict on the per-instance `(n_1, gap)` points, with the trend fit behind it (see the
/// module doc).
pub fn judge(instances: &[(f64, f64)]) -> (Verdict, Option<PowerLawFit>) {
    let (ns, gaps): (Vec<f64>, Vec<f64>) = instances.iter().copied().unzip();
    let fit = power_law_fit(&ns, &gaps);
    let verdict = decay_exponent(fit.map(|f| (f.exponent_lo, f.exponent_hi)), (f64::NEG_INFINITY, 0.0));
    (verdict, fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4 sizes × 3 instances with gap = c n^p times a ±20% instance spread.
    fn instances(p: f64) -> Vec<(f64, f64)> {
        [50.0, 100.0, 200.0, 400.0]
            .iter()
            .flat_map(|&n: &f64| [0.8, 1.0, 1.2].map(|s| (n, s * n.powf(p))))
            .collect()
    }

    #[test]
    fn a_shrinking_gap_passes_a_growing_one_fails_and_a_flat_one_is_inconclusive() {
        assert_eq!(judge(&instances(-0.5)).0, Verdict::Pass);
        // f moving away from F as the network grows contradicts Figure 1.
        assert_eq!(judge(&instances(0.3)).0, Verdict::Fail);
        // ±20% instance noise and no trend: the slope interval contains 0.
        assert_eq!(judge(&instances(0.0)).0, Verdict::Inconclusive);
        assert_eq!(judge(&instances(-0.5)[..2]).0, Verdict::Inconclusive);
    }
}
