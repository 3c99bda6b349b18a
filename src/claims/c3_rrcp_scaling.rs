//! C3: the RRCP constant of a Gaussian measurement matrix falls like `m^{-1/2}` (up to logs)
//! as the number of measurements grows (docs/THEORY.md §2). Each `(m, trial)` draws a fresh
//! network and `A`; both search modes give lower bounds on the supremum; `ε = sup / L`. The
//! study and its fit are [`crate::conditions::rrcp_study`]'s, which `dpr-audit rrcp` runs too.
//!
//! The test (docs/THEORY.md §15.3): per search mode, least squares of `ln ε` on `ln m` over
//! every trial row, with the t interval of the slope `p` at level `1 − α/2` (Bonferroni over
//! the two modes). The prediction is decay at `p ∈ [−1/2 − tol, −1/2 + tol]` (the rate up to
//! its log factor). Per mode ([`super::verdicts::decay_exponent`]): PASS when the interval
//! lies below 0 and meets that band, FAIL when it misses the band, INCONCLUSIVE otherwise.
//! The claim: FAIL if a mode FAILs, PASS if both PASS, INCONCLUSIVE otherwise ([`judge`]).

use serde::{Deserialize, Serialize};

use super::verdicts::decay_exponent;
use super::{ALPHA, ClaimDir, ClaimReport, Spec, Verdict};
use crate::conditions::rrcp_study::{RrcpConfig, RrcpMode, analyse, run_study};
use crate::core::measure::MeasurementScale;
use crate::core::network::WeightScale;
use crate::error::{Error, Result};
use crate::report::plot::Series;
use crate::stats::PowerLawFit;

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

fn validate(p: &Params) -> Result<()> {
    if p.m.len() < 3 {
        return Err(Error::param(
            "m",
            format!("{:?}", p.m),
            "C3 fits a power law: give at least 3 values of m",
        ));
    }
    config(p, 0).validate()
}

/// The RRCP study C3 runs under master seed `seed`: random networks of `widths` with
/// `N(0, 1/n_i)` weights and `A` with `N(0, 1/m)` entries, both search modes. `dpr-audit rrcp
/// --widths … --m … --trials … --tuples … --refine-starts … --refine-steps … --constant …`
/// runs the same study (and fit) at the same seed.
pub fn config(p: &Params, seed: u64) -> RrcpConfig {
    RrcpConfig {
        widths: Some(p.widths.clone()),
        weights: None,
        weight_scale: WeightScale::Normalized,
        m: p.m.clone(),
        measurement_scale: MeasurementScale::Normalized,
        mode: RrcpMode::Both,
        tuples: p.tuples,
        refine_starts: p.refine_starts,
        refine_steps: p.refine_steps,
        constant: p.constant,
        trials: p.trials,
        seed,
    }
}

/// C3's verdict on the two modes' fits (see the module doc): `exponent_tol` is the half-width
/// of the predicted band around −1/2.
pub fn judge(fits: &[Option<PowerLawFit>], exponent_tol: f64) -> Verdict {
    let band = (-0.5 - exponent_tol, -0.5 + exponent_tol);
    let level = ALPHA / fits.len().max(1) as f64;
    let verdicts: Vec<Verdict> = fits
        .iter()
        .map(|f| decay_exponent(f.map(|f| f.exponent_interval(level)), band))
        .collect();
    if verdicts.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if verdicts.is_empty() || verdicts.contains(&Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

/// Runs C3.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    validate(&p)?;
    let study = config(&p, seed);
    let mut rows = run_study(&study)?;
    // The search traces are `rrcp_trace.csv`'s; C3 records the rows only.
    rows.iter_mut().for_each(|r| r.trace = None);
    let csv = dir.write_csv("c3_trials.csv", &rows)?;
    let analysis = analyse(&study, &rows, ALPHA);
    let mut series = Vec::new();
    let mut statistic = Vec::new();
    for mode in RrcpMode::Both.searches() {
        let means: Vec<(f64, f64)> = analysis
            .scaling
            .iter()
            .filter(|r| r.mode == mode.name())
            .map(|r| (r.m as f64, r.epsilon_mean))
            .collect();
        series.push(Series {
            label: format!("{} (mean lower bound)", mode.name()),
            points: means.clone(),
        });
        match analysis.fits.iter().find(|f| f.mode == mode.name()) {
            Some(f) => {
                statistic.push(format!(
                    "{}: ε ≈ {:.3} m^{:.3}, {:.1}% t interval [{:.3}, {:.3}] ({} rows)",
                    f.mode,
                    f.fit_constant,
                    f.exponent,
                    100.0 * f.confidence,
                    f.exponent_lo,
                    f.exponent_hi,
                    f.points
                ));
                series.push(Series {
                    label: format!("{} fit", f.mode),
                    points: means
                        .iter()
                        .map(|&(m, _)| (m, f.fit_constant * m.powf(f.exponent)))
                        .collect(),
                });
            }
            None => statistic.push(format!("{}: no fit", mode.name())),
        }
    }

    let figure = dir.line_figure(
        "c3_epsilon_vs_m.png",
        "C3: RRCP epsilon (lower bounds) vs m",
        ("m (measurements)", "epsilon = sup / L (dimensionless)"),
        &series,
        (true, true),
    )?;
    let verdict = judge(&analysis.power_laws, p.exponent_tol);
    let measured = format!(
        "widths {:?}, m = {:?}, {} trials, L = {} (ε are lower bounds; exponent fitted over every trial row); predicted band −1/2 ± {}",
        p.widths, p.m, p.trials, p.constant, p.exponent_tol
    );
    Ok(
        ClaimReport::new(spec, measured, verdict, vec![csv, figure.clone()], vec![figure])
            .with_statistic(statistic.join("; ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::power_law_fit;

    fn fit_of(exponent: f64, noise: f64) -> Option<PowerLawFit> {
        let ms = [25.0, 50.0, 100.0, 200.0, 400.0, 800.0];
        let eps: Vec<f64> = ms
            .iter()
            .enumerate()
            .map(|(i, m): (usize, &f64)| (1.0 + noise * (i as f64 * 2.3).sin()) * m.powf(exponent))
            .collect();
        power_law_fit(&ms, &eps)
    }

    #[test]
    fn a_bad_spec_names_the_parameter_not_a_flag() {
        let bad = Params {
            widths: vec![3],
            m: vec![25, 50, 100],
            trials: 1,
            tuples: 10,
            refine_starts: 1,
            refine_steps: 1,
            constant: 31.0,
            exponent_tol: 0.15,
        };
        match validate(&bad) {
            Err(Error::Param { name, .. }) => assert_eq!(name, "widths"),
            other => panic!("expected a parameter error, got {other:?}"),
        }
        let too_few_m = Params { m: vec![25, 50], ..bad };
        assert!(matches!(validate(&too_few_m), Err(Error::Param { name: "m", .. })));
    }

    #[test]
    fn both_modes_near_minus_one_half_pass_and_a_wrong_rate_fails() {
        assert_eq!(judge(&[fit_of(-0.5, 0.05), fit_of(-0.45, 0.05)], 0.15), Verdict::Pass);
        // ε ∝ m^−1 in one mode: decay, but at a rate the theory does not predict (an A drawn
        // with the wrong variance convention would shift the level, not the rate; a wrong
        // sign pattern A_z would change the rate).
        assert_eq!(judge(&[fit_of(-0.5, 0.05), fit_of(-1.0, 0.05)], 0.15), Verdict::Fail);
        // Noise of ±60% over a decade and a half: compatible with −1/2 and with no decay.
        assert_eq!(
            judge(&[fit_of(-0.5, 0.05), fit_of(-0.2, 0.6)], 0.15),
            Verdict::Inconclusive
        );
        assert_eq!(judge(&[fit_of(-0.5, 0.05), None], 0.15), Verdict::Inconclusive);
        assert_eq!(judge(&[], 0.15), Verdict::Inconclusive);
    }

    /// A fit over 6 points (4 degrees of freedom) with the given exponent and standard error.
    fn exact_fit(exponent: f64, exponent_se: f64) -> Option<PowerLawFit> {
        Some(PowerLawFit {
            exponent,
            exponent_lo: f64::NAN,
            exponent_hi: f64::NAN,
            constant: 1.0,
            r2: 0.9,
            points: 6,
            exponent_se,
        })
    }

    #[test]
    fn the_band_is_minus_one_half_plus_or_minus_the_tolerance() {
        // A clear decay at rate −0.2 ([−0.235, −0.165] at 1 − α/2) misses −1/2 ± 0.15 above;
        // one at −0.8 misses it below; −0.36 and −0.64 are just inside.
        for (exponent, verdict) in [
            (-0.2, Verdict::Fail),
            (-0.8, Verdict::Fail),
            (-0.36, Verdict::Pass),
            (-0.64, Verdict::Pass),
        ] {
            assert_eq!(
                judge(&[exact_fit(-0.5, 0.01), exact_fit(exponent, 0.01)], 0.15),
                verdict,
                "exponent {exponent}"
            );
        }
    }

    #[test]
    fn each_mode_is_judged_at_level_alpha_over_the_number_of_modes() {
        // −0.5 ± 0.16 with 4 degrees of freedom: the 95% interval [−0.944, −0.056] shows a
        // decay, the 1 − α/2 interval [−1.059, 0.059] does not, so with two modes the data
        // cannot tell; alone, the same fit passes.
        let wide = exact_fit(-0.5, 0.16);
        assert_eq!(judge(&[exact_fit(-0.5, 0.01), wide], 0.15), Verdict::Inconclusive);
        assert_eq!(judge(&[wide], 0.15), Verdict::Pass);
    }
}
