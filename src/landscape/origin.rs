//! The origin check of Theorem II.1: `D_u f(0) < 0` for every direction `u ≠ 0` (docs/THEORY.md §5).
//! `v_{0,x0} = 0` (every pre-activation is 0 and the strict mask is empty), so the origin is
//! excluded from the descent check and tested here along random unit directions with the exact
//! one-sided derivative ([`Problem::directional_derivative`]). For a bias-free ReLU network,
//! `G` is positively homogeneous and the closed form `D_u f(0) = −Σ_j |⟨a_j, G(u)⟩| b_j`
//! (docs/THEORY.md §1, with `b = |A G(x0)|`) is reported beside it.

use rayon::prelude::*;

use crate::core::objective::Problem;

/// One direction of the origin check.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OriginProbe {
    /// The exact one-sided derivative `D_u f(0)` along the unit direction `u`.
    pub derivative: f64,
    /// `−Σ_j |⟨a_j, G(u)⟩| b_j` (docs/THEORY.md §1); `None` when the network is not a bias-free
    /// ReLU network (the formula needs `G(t u) = t G(u)`).
    pub closed_form: Option<f64>,
}

/// `D_u f(0) = −Σ_j |⟨a_j, G(u)⟩| |⟨a_j, G(x0)⟩|` for a bias-free ReLU generator (docs/THEORY.md §1),
/// with `b` in place of `|A G(x0)|` (equal for a noiseless instance).
pub fn origin_derivative_closed_form(problem: &Problem, u: &[f64]) -> f64 {
    let e = problem.meas.apply(&problem.net.generate(u));
    -e.iter().zip(&problem.b).map(|(ej, bj)| ej.abs() * bj).sum::<f64>()
}

/// `D_u f(0)` for each unit direction (in parallel, results in input order).
pub fn origin_check(problem: &Problem, directions: &[Vec<f64>]) -> Vec<OriginProbe> {
    let zero = vec![0.0; problem.net.latent_dim()];
    let homogeneous = problem.net.theory_violations().is_empty();
    directions
        .par_iter()
        .map(|u| OriginProbe {
            derivative: problem.directional_derivative(&zero, u),
            closed_form: homogeneous.then(|| origin_derivative_closed_form(problem, u)),
        })
        .collect()
}

/// The origin check in numbers.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct OriginSummary {
    /// Directions tested.
    pub directions: usize,
    /// Directions with `D_u f(0) < 0`.
    pub descent: usize,
    /// The largest `D_u f(0)` (closest to failing); `None` without directions.
    pub max_derivative: Option<f64>,
    /// Largest `|D_u f(0) − closed form|` relative to `|closed form|`; `None` without a
    /// closed form.
    pub max_closed_form_gap: Option<f64>,
    /// Whether every direction decreases `f` (the theorem's claim at the origin).
    pub holds: bool,
}

/// Summarises the origin probes.
pub fn summarise_origin(probes: &[OriginProbe]) -> OriginSummary {
    let descent = probes.iter().filter(|p| p.derivative < 0.0).count();
    let max_derivative = probes.iter().map(|p| p.derivative).reduce(f64::max);
    let max_closed_form_gap = probes
        .iter()
        .filter_map(|p| p.closed_form.map(|c| (p.derivative - c).abs() / c.abs()))
        .reduce(f64::max);
    OriginSummary {
        directions: probes.len(),
        descent,
        max_derivative,
        max_closed_form_gap,
        holds: descent == probes.len(),
    }
}
