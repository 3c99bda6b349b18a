//! C3: the RRCP constant of a Gaussian measurement matrix falls like `m^{-1/2}` (up to logs)
//! as the number of measurements grows (docs/THEORY.md §2). Each `(m, trial)` draws a fresh
//! network and `A`; both search modes give lower bounds on the supremum; `ε = sup / L`.

use serde::{Deserialize, Serialize};

use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::conditions::rrcp::{SearchMode, SearchSettings, StreamKey, search};
use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::{Network, WeightScale, validate_widths};
use crate::error::{Error, Result};
use crate::report::plot::Series;
use crate::report::widths_label;
use crate::rng::{Stream, stream};
use crate::stats::{PowerLawFit, power_law_fit, spread};

/// Parameters of C3 (from `verify/C3-rrcp-scaling.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// Network widths.
    pub widths: Vec<usize>,
    /// Numbers of measurements.
    pub m: Vec<usize>,
    /// Independent (network, A) draws per m.
    pub trials: usize,
    /// Sampled tuples per mode.
    pub tuples: usize,
    /// Refinement starts.
    pub refine_starts: usize,
    /// Refinement steps.
    pub refine_steps: usize,
    /// The constant L (ε = sup / L).
    pub constant: f64,
    /// Allowed distance of the fitted exponent from −1/2.
    pub exponent_tol: f64,
}

/// One row of `c3_trials.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct TrialRow {
    /// Always `lower_bound`.
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Widths `k-…-n`.
    pub widths: String,
    /// Measurements.
    pub m: usize,
    /// Trial.
    pub trial: u64,
    /// Search mode.
    pub mode: &'static str,
    /// Raw supremum found.
    pub sup: f64,
    /// The constant L.
    pub constant: f64,
    /// `sup / L`.
    pub epsilon: f64,
}

fn validate(p: &Params) -> Result<()> {
    validate_widths(&p.widths)?;
    if p.m.len() < 3
        || p.m.contains(&0)
        || p.trials == 0
        || p.tuples == 0
        || p.constant <= 0.0
        || p.refine_starts > p.tuples
    {
        return Err(Error::param(
            "C3 parameters",
            format!("{p:?}"),
            "need >= 3 positive m values, trials, tuples >= 1, constant > 0",
        ));
    }
    Ok(())
}

fn trial(p: &Params, m: usize, t: u64, seed: u64) -> Vec<TrialRow> {
    let key = format!("C3/m={m}");
    let net = Network::gaussian(
        &p.widths,
        WeightScale::Normalized,
        &mut stream(seed, &key, t, Stream::Network),
    );
    let a = Measurements::gaussian(
        m,
        net.output_dim(),
        MeasurementScale::Normalized,
        &mut stream(seed, &key, t, Stream::Measurements),
    );
    let settings = SearchSettings {
        tuples: p.tuples,
        refine_starts: p.refine_starts,
        refine_steps: p.refine_steps,
    };
    [SearchMode::Random, SearchMode::Subspace]
        .iter()
        .map(|&mode| {
            let found = search(
                &net,
                a.a.as_ref(),
                mode,
                &settings,
                &StreamKey {
                    seed,
                    experiment: &key,
                    trial: t,
                },
                &|| {},
            );
            TrialRow {
                kind: "lower_bound",
                seed,
                widths: widths_label(&p.widths),
                m,
                trial: t,
                mode: mode.name(),
                sup: found.sup,
                constant: p.constant,
                epsilon: found.sup / p.constant,
            }
        })
        .collect()
}

fn fit_mode(rows: &[TrialRow], p: &Params, mode: &str) -> (Vec<(f64, f64)>, Option<PowerLawFit>) {
    let means: Vec<(f64, f64)> =
        p.m.iter()
            .map(|&m| {
                let eps: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.m == m && r.mode == mode)
                    .map(|r| r.epsilon)
                    .collect();
                (m as f64, spread(&eps).mean)
            })
            .collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = means.iter().copied().unzip();
    (means, power_law_fit(&xs, &ys))
}

/// Runs C3.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    validate(&p)?;
    let tasks: Vec<(usize, u64)> =
        p.m.iter()
            .flat_map(|&m| (0..p.trials as u64).map(move |t| (m, t)))
            .collect();
    let rows: Vec<TrialRow> = tasks.iter().flat_map(|&(m, t)| trial(&p, m, t, seed)).collect();
    let csv = dir.write_csv("c3_trials.csv", &rows)?;
    let mut series = Vec::new();
    let mut verdicts = Vec::new();
    let mut measured = Vec::new();
    for mode in ["random", "subspace"] {
        let (means, fit) = fit_mode(&rows, &p, mode);
        series.push(Series {
            label: format!("{mode} (mean lower bound)"),
            points: means.clone(),
        });
        match fit {
            Some(f) => {
                verdicts.push(Verdict::from_bool(
                    f.exponent_hi < 0.0 && (f.exponent + 0.5).abs() <= p.exponent_tol,
                ));
                measured.push(format!(
                    "{mode}: ε ≈ {:.3} m^{:.3} [{:.3}, {:.3}]",
                    f.constant, f.exponent, f.exponent_lo, f.exponent_hi
                ));
                series.push(Series {
                    label: format!("{mode} fit"),
                    points: means
                        .iter()
                        .map(|&(m, _)| (m, f.constant * m.powf(f.exponent)))
                        .collect(),
                });
            }
            None => {
                verdicts.push(Verdict::Inconclusive);
                measured.push(format!("{mode}: no fit"));
            }
        }
    }

    let figure = dir.line_figure(
        "c3_epsilon_vs_m.png",
        "C3: RRCP epsilon (lower bounds) vs m",
        ("m", "epsilon = sup / L"),
        &series,
        (true, true),
    )?;
    let verdict = if verdicts.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if verdicts.contains(&Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    };
    Ok(ClaimReport {
        id: spec.id.clone(),
        title: spec.title.clone(),
        measured: format!(
            "widths {:?}, m = {:?}, {} trials, L = {} (lower bounds): {}",
            p.widths,
            p.m,
            p.trials,
            p.constant,
            measured.join("; ")
        ),
        criterion: format!(
            "95% interval of p below 0 and |p + 1/2| <= {} for both modes",
            p.exponent_tol
        ),
        verdict,
        files: vec![csv, figure.clone()],
        figures: vec![figure],
    })
}
