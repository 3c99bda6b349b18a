//! The landscape audit: where does `−v_{x,x0}` fail to decrease `f`?
//!
//! Theorem II.1 (docs/THEORY.md §5) says that outside two small balls, around `x0` and around
//! `−ρ_d x0`, the one-sided derivative `D_{−v} f(x)` is negative, and that every direction
//! decreases `f` at the origin. This module measures that on one instance:
//!
//! - [`probes`]: the point sets (the `k = 2` grid, 2-D slices through `x0`, rays, shells);
//! - [`measure`] / [`probe`]: at each point `f`, `F`, `‖v‖`, `‖h‖`, the exact `D_{−v} f`
//!   ([`Problem::directional_derivative`] with `u = −v`), distances, angle and the
//!   [`classify::Class`]; [`probe`] evaluates the points in parallel, results in input order
//!   (identical for any thread count);
//! - [`neighbourhoods`]: the balls fixed before probing, from the expected exceptional set
//!   `S_τ` (docs/THEORY.md §5), and the empirical radii measured on the probes;
//! - [`summary`]: regions, counterexamples and counts per set;
//! - [`origin`]: `D_u f(0) < 0` for random directions `u`.
//!
//! All numbers are exact evaluations on the instance (f64), or closed forms; the empirical
//! radii are maxima over the probe points (lower bounds on the extent of the true set).
//!
//! **What the classes can show.** `f` is piecewise quadratic (docs/THEORY.md §1): wherever it is
//! differentiable, `D_{−v} f = −‖v‖² < 0` as soon as `v ≠ 0`. So `no_descent` can only occur
//! on the kinks (ReLU or measurement sign changes: cones through the origin, a null set that
//! random probes hit with probability 0, apart from constructed points such as the origin),
//! and `critical` only where `v` vanishes. The informative measurement at generic probes is
//! therefore how small `‖v‖` gets and where: `v_ratio`, the `exceptional` points
//! (`v_ratio ≤ τ`) behind the empirical radii, and the smallest `v_ratio` outside the balls
//! ([`summary::SetSummary::min_v_ratio_outside`]).

pub mod census;
pub mod certified;
pub mod classify;
pub mod exact;
pub mod grid;
pub mod neighbourhoods;
pub mod origin;
pub mod probes;
pub mod summary;
pub mod sweep;
pub mod sweep_analysis;

use rayon::prelude::*;

use self::classify::{CRITICAL_TOL, Class, classify, gradient_scale};
use self::neighbourhoods::DEFAULT_TAU;
use self::probes::ProbePoint;
use crate::core::expected::{expected_gradient, expected_objective, rho_pr};
use crate::core::objective::Problem;
use crate::core::vector::{angle, norm, scale, sub};

/// Thresholds of the classification.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Settings {
    /// `τ`: a point with `‖v‖ ≤ τ 2^{−d} max(‖x‖, ‖x0‖)` counts towards the empirical radii
    /// (the empirical analogue of `S_τ`).
    pub tau: f64,
    /// `‖v‖ ≤ critical_tol · 2^{−d} max(‖x‖, ‖x0‖)` is `critical` ([`CRITICAL_TOL`]).
    pub critical_tol: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tau: DEFAULT_TAU,
            critical_tol: CRITICAL_TOL,
        }
    }
}

/// The truth `x0` of a depth-`d` instance and the theorem's second centre `−ρ_d x0`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Truth {
    /// `x0`.
    pub x0: Vec<f64>,
    /// `‖x0‖`.
    pub norm: f64,
    /// Depth `d`.
    pub d: usize,
    /// `ρ_d` (phase retrieval, docs/THEORY.md §3).
    pub rho: f64,
    /// `−ρ_d x0`.
    pub neg: Vec<f64>,
}

impl Truth {
    /// The centres of a depth-`d` instance with truth `x0` (nonzero).
    pub fn new(x0: &[f64], d: usize) -> Self {
        let rho = rho_pr(d);
        Self {
            x0: x0.to_vec(),
            norm: norm(x0),
            d,
            rho,
            neg: scale(-rho, x0),
        }
    }
}

/// Everything measured at one probe point.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Measured {
    /// `f(x)`.
    pub value: f64,
    /// `F(x)` (docs/THEORY.md §4, closed form).
    pub expected_value: f64,
    /// `‖v_{x,x0}‖`.
    pub v_norm: f64,
    /// `‖v‖ / (2^{−d} max(‖x‖, ‖x0‖))`: `‖v‖` at the gradient scale of `S_{ε,x0}`
    /// (docs/THEORY.md §5); `critical` below `critical_tol`, `exceptional` at most `τ`.
    pub v_ratio: f64,
    /// `‖h_{x,x0}‖` (closed form); `None` at `x = 0`, where `F` is not differentiable.
    pub h_norm: Option<f64>,
    /// The exact one-sided derivative `D_{−v} f(x)` (docs/THEORY.md §1).
    pub derivative: f64,
    /// `‖x‖`.
    pub x_norm: f64,
    /// `‖x − x0‖`.
    pub dist_pos: f64,
    /// `‖x + ρ_d x0‖`.
    pub dist_neg: f64,
    /// `∠(x, x0)`; `None` at `x = 0`.
    pub angle: Option<f64>,
    /// The class ([`classify::classify`]).
    pub class: Class,
    /// `‖v‖ ≤ τ 2^{−d} max(‖x‖, ‖x0‖)`.
    pub exceptional: bool,
}

impl Measured {
    /// `D_{−v} f / ‖v‖` (`= D_{−v̂} f`, the derivative along the unit direction); `None` when
    /// `v = 0`.
    pub fn derivative_per_v_norm(&self) -> Option<f64> {
        (self.v_norm > 0.0).then(|| self.derivative / self.v_norm)
    }

    /// Whether the point counts towards the empirical radii: no strict descent, or
    /// `‖v‖` within `τ` of zero at the gradient scale.
    pub fn flags_neighbourhood(&self) -> bool {
        self.class != Class::Descent || self.exceptional
    }
}

/// Measures one point: one evaluation of `f` and `v`, one exact `D_{−v} f`, closed forms.
pub fn measure(problem: &Problem, truth: &Truth, x: &[f64], settings: &Settings) -> Measured {
    let eval = problem.evaluate(x);
    let v_norm = norm(&eval.direction);
    let derivative = problem.directional_derivative(x, &scale(-1.0, &eval.direction));
    let x_norm = norm(x);
    let gscale = gradient_scale(truth.d, x_norm, truth.norm);
    Measured {
        value: eval.value,
        expected_value: expected_objective(x, &truth.x0, truth.d),
        v_norm,
        v_ratio: v_norm / gscale,
        h_norm: expected_gradient(x, &truth.x0, truth.d).map(|h| norm(&h)),
        derivative,
        x_norm,
        dist_pos: norm(&sub(x, &truth.x0)),
        dist_neg: norm(&sub(x, &truth.neg)),
        angle: (x_norm > 0.0).then(|| angle(x, &truth.x0)),
        class: classify(v_norm, derivative, gscale, settings.critical_tol),
        exceptional: v_norm <= settings.tau * gscale,
    }
}

/// Measures every point, in parallel on rayon's current pool; the results are in the order of
/// `points` and do not depend on the number of threads (each point is computed sequentially).
/// `progress` is called once per point, from any thread.
pub fn probe(
    problem: &Problem,
    truth: &Truth,
    points: &[ProbePoint],
    settings: &Settings,
    progress: &(dyn Fn() + Sync),
) -> Vec<Measured> {
    points
        .par_iter()
        .map(|p| {
            let m = measure(problem, truth, &p.x, settings);
            progress();
            m
        })
        .collect()
}
