//! The two neighbourhoods of Theorem II.1 as the audit fixes them: balls around `x0` and `−ρ_d x0`
//! fixed **before** any probe is evaluated, from the expected exceptional set
//!
//! `S_{τ,x0} = { x ≠ 0 : ‖h_{x,x0}‖ ≤ 2^{−d} τ max(‖x‖, ‖x0‖) }` (docs/THEORY.md §5),
//!
//! and the empirical radii measured on the probes, reported beside the balls and never used to
//! define them.
//!
//! ## How the extents of `S_τ` are computed (docs/THEORY.md §11.2)
//!
//! `h` depends on `x` only through `ρ = ‖x‖/‖x0‖` and `θ = ∠(x, x0)` (docs/THEORY.md §4): with
//! `c = α(θ) + β(θ) cos θ` and `s = β(θ) sin θ`,
//! `‖h‖ / (2^{−d} ‖x0‖) = √((ρ − c)² + s²)` ([`normalised_gradient_norm`]). So along each
//! ray of angle `θ` the set `S_τ` is an exact union of at most two intervals of `ρ`
//! ([`exceptional_intervals`]: a quadratic inequality on `ρ ≤ 1` and one on `ρ ≥ 1`), and
//! everything scales with `‖x0‖`. Each point of `S_τ` is assigned to the nearer centre
//! (`x0` when `ρ cos θ > (1 − ρ_d)/2`, else `−ρ_d x0`); the distance to a centre is convex
//! along a ray, so its maximum over an interval is at an end. The extent around each centre is
//! the largest such distance over the angles: a scan of [`COARSE_ANGLES`] angles on `[0, π]`,
//! then [`ZOOM_LEVELS`] zooms onto the best angle and its two neighbours with
//! [`ZOOM_ANGLES`] angles each (final angular step below `1e-12` rad). The values are attained
//! by points of `S_τ`, so the result is exact along each ray and a lower bound on the supremum
//! over angles that the zoom makes tight to rounding unless a second, separate local maximum
//! lies within one coarse step (`π/4096`) of the value found.

use std::f64::consts::PI;

use super::Measured;
use crate::core::expected::{gradient_coefficients, rho_pr};
use crate::error::{Error, Result};

/// Angles of the first scan over `[0, π]` (both ends included).
pub const COARSE_ANGLES: usize = 4097;
/// Angles of each zoom window (the best angle's two neighbours and the span between them).
pub const ZOOM_ANGLES: usize = 65;
/// Zoom steps after the first scan; each shrinks the window by `(ZOOM_ANGLES − 1)/2 = 32`.
pub const ZOOM_LEVELS: usize = 7;
/// Default threshold `τ` of `S_τ` (docs/THEORY.md §11.2).
pub const DEFAULT_TAU: f64 = 0.01;
/// Default factor between the extent of `S_τ` and the radius of a ball (docs/THEORY.md §11.2).
pub const DEFAULT_MARGIN: f64 = 1.5;

/// `‖h_{x,x0}‖ / (2^{−d} ‖x0‖)` at `‖x‖ = ρ ‖x0‖`, `∠(x, x0) = θ` (docs/THEORY.md §4):
/// `√((ρ − α − β cos θ)² + (β sin θ)²)`, the norm of `−β x̂0 + (ρ − α) x̂`.
pub fn normalised_gradient_norm(rho: f64, theta: f64, d: usize) -> f64 {
    let (alpha, beta) = gradient_coefficients(theta, d);
    (rho - alpha - beta * theta.cos()).hypot(beta * theta.sin())
}

/// `S_τ` on the ray of angle `θ`: the intervals of `ρ = ‖x‖/‖x0‖ > 0` with
/// `√((ρ − c)² + s²) ≤ τ max(ρ, 1)` (see the module doc), in increasing order; `τ ∈ (0, 1)`.
/// On `ρ ≤ 1`: `|ρ − c| ≤ √(τ² − s²)`. On `ρ ≥ 1`: `(1 − τ²) ρ² − 2cρ + c² + s² ≤ 0`, between
/// the roots `(c ± √(τ²c² − (1 − τ²) s²)) / (1 − τ²)`. An interval may end at `ρ = 0`
/// (its supremum; the origin itself is not in `S_τ`).
pub fn exceptional_intervals(theta: f64, d: usize, tau: f64) -> Vec<(f64, f64)> {
    let (alpha, beta) = gradient_coefficients(theta, d);
    let (c, s) = (alpha + beta * theta.cos(), beta * theta.sin());
    let mut out = Vec::with_capacity(2);
    let inner = tau * tau - s * s;
    if inner >= 0.0 {
        let w = inner.sqrt();
        let (lo, hi) = ((c - w).max(0.0), (c + w).min(1.0));
        if lo <= hi {
            out.push((lo, hi));
        }
    }
    let a = 1.0 - tau * tau;
    let disc = tau * tau * c * c - a * s * s;
    if disc >= 0.0 {
        let w = disc.sqrt();
        let (lo, hi) = (((c - w) / a).max(1.0), (c + w) / a);
        if lo <= hi {
            out.push((lo, hi));
        }
    }
    out
}

/// The extents of `S_τ` around `x0` and around `−ρ_d x0` (latent units).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Extents {
    /// Largest distance from `x0` of a point of `S_τ` nearer to `x0` than to `−ρ_d x0`.
    pub pos: f64,
    /// Largest distance from `−ρ_d x0` of a point of `S_τ` nearer to it.
    pub neg: f64,
}

/// The largest distances `(to x0, to −ρ_d x0)` / `‖x0‖` of the points of `S_τ` on the ray of
/// angle `θ`, each over the points nearer to that centre; `−∞` where there are none.
fn ray_extents(theta: f64, d: usize, tau: f64, rho_d: f64) -> (f64, f64) {
    let cos = theta.cos();
    let to_pos = |r: f64| (r * r + 1.0 - 2.0 * r * cos).max(0.0).sqrt();
    let to_neg = |r: f64| (r * r + rho_d * rho_d + 2.0 * r * rho_d * cos).max(0.0).sqrt();
    // Points with ρ cos θ > (1 − ρ_d)/2 are nearer to x0 (ρ_d < 1, so never when cos θ ≤ 0).
    let split = if cos > 0.0 {
        (1.0 - rho_d) / (2.0 * cos)
    } else {
        f64::INFINITY
    };
    let (mut pos, mut neg) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (lo, hi) in exceptional_intervals(theta, d, tau) {
        if hi > split {
            let a = lo.max(split);
            pos = pos.max(to_pos(a)).max(to_pos(hi));
        }
        if lo <= split {
            let b = hi.min(split);
            neg = neg.max(to_neg(lo)).max(to_neg(b));
        }
    }
    (pos, neg)
}

/// Largest value of `extent(θ)` over `[0, π]`: the coarse scan, then the zooms (module doc).
fn max_over_angles(extent: impl Fn(f64) -> f64) -> f64 {
    let (mut lo, mut hi, mut count) = (0.0, PI, COARSE_ANGLES);
    let mut best = f64::NEG_INFINITY;
    for _ in 0..=ZOOM_LEVELS {
        let step = (hi - lo) / (count - 1) as f64;
        let (mut arg, mut top) = (lo, f64::NEG_INFINITY);
        for i in 0..count {
            let theta = (lo + step * i as f64).min(PI);
            let e = extent(theta);
            if e > top {
                (arg, top) = (theta, e);
            }
        }
        best = best.max(top);
        if top == f64::NEG_INFINITY {
            break;
        }
        (lo, hi, count) = ((arg - step).max(0.0), (arg + step).min(PI), ZOOM_ANGLES);
    }
    best
}

/// Checks `τ ∈ (0, 1)`: `S_τ` is bounded only for `τ < 1` (for `τ ≥ 1`, `‖h‖ ≈ 2^{−d}‖x‖` far
/// out stays below `2^{−d} τ ‖x‖`).
pub fn check_tau(tau: f64) -> Result<()> {
    if !(tau.is_finite() && tau > 0.0 && tau < 1.0) {
        return Err(Error::param(
            "--tau",
            tau,
            "the threshold of S_tau must lie in (0, 1) (S_tau is unbounded for tau >= 1), e.g. --tau 0.01",
        ));
    }
    Ok(())
}

/// The extents of the expected exceptional set `S_{τ,x0}` around `x0` and `−ρ_d x0` for depth
/// `d` (method and resolution in the module doc); deterministic, no RNG. `τ ∈ (0, 1)` (see
/// [`check_tau`]); both extents are 0 when `S_τ` holds only the two centres.
pub fn expected_extents(d: usize, x0_norm: f64, tau: f64) -> Extents {
    let rho_d = rho_pr(d);
    let pos = max_over_angles(|theta| ray_extents(theta, d, tau, rho_d).0);
    let neg = max_over_angles(|theta| ray_extents(theta, d, tau, rho_d).1);
    Extents {
        pos: x0_norm * pos.max(0.0),
        neg: x0_norm * neg.max(0.0),
    }
}

/// The two balls `B(x0, radius_pos)` and `B(−ρ_d x0, radius_neg)` (closed) that judge the
/// claim, fixed before any probe.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Balls {
    /// Radius of the ball around `x0`.
    pub radius_pos: f64,
    /// Radius of the ball around `−ρ_d x0`.
    pub radius_neg: f64,
    /// The extents of `S_τ` that the radii derive from (also recorded when a radius is given).
    pub extents: Extents,
    /// `τ`.
    pub tau: f64,
    /// The factor between extents and radii.
    pub margin: f64,
    /// Whether `radius_pos` was given explicitly.
    pub given_pos: bool,
    /// Whether `radius_neg` was given explicitly.
    pub given_neg: bool,
}

impl Balls {
    /// Radii `margin ×` the extents of `S_τ` for depth `d` and `‖x0‖`, each replaced by an
    /// explicit radius where one is given.
    pub fn new(d: usize, x0_norm: f64, tau: f64, margin: f64, given: (Option<f64>, Option<f64>)) -> Self {
        let extents = expected_extents(d, x0_norm, tau);
        Self {
            radius_pos: given.0.unwrap_or(margin * extents.pos),
            radius_neg: given.1.unwrap_or(margin * extents.neg),
            extents,
            tau,
            margin,
            given_pos: given.0.is_some(),
            given_neg: given.1.is_some(),
        }
    }

    /// Where a point lies: the origin, a ball (the nearer centre's when both hold it), or
    /// outside both.
    pub fn region(&self, m: &Measured) -> Region {
        if m.x_norm == 0.0 {
            return Region::Origin;
        }
        let (in_pos, in_neg) = (m.dist_pos <= self.radius_pos, m.dist_neg <= self.radius_neg);
        match (in_pos, in_neg) {
            (true, true) if m.dist_pos <= m.dist_neg => Region::BallPos,
            (true, false) => Region::BallPos,
            (_, true) => Region::BallNeg,
            (false, false) => Region::Outside,
        }
    }
}

/// Where a probe point lies relative to the two balls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// `x = 0` (the theorem treats it separately).
    Origin,
    /// Inside the ball around `x0`.
    BallPos,
    /// Inside the ball around `−ρ_d x0`.
    BallNeg,
    /// Outside both balls and not the origin: where the theorem asserts `D_{−v} f < 0`.
    Outside,
}

impl Region {
    /// The name written to files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Origin => "origin",
            Self::BallPos => "ball_pos",
            Self::BallNeg => "ball_neg",
            Self::Outside => "outside",
        }
    }
}

/// The empirical radii: the largest distance from `x0` (from `−ρ_d x0`) of a probe point
/// without strict descent or with `‖v‖ ≤ τ 2^{−d} max(‖x‖, ‖x0‖)`, each point assigned to the
/// nearer centre, the origin excluded. Largest over the probes: a lower bound on the extent of
/// the true set, at the probes' resolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct EmpiricalRadii {
    /// Around `x0`; `None` when no such point is nearer to `x0`.
    pub pos: Option<f64>,
    /// Around `−ρ_d x0`; `None` when no such point is nearer to it.
    pub neg: Option<f64>,
    /// Such points nearer to `x0`.
    pub points_pos: usize,
    /// Such points nearer to `−ρ_d x0`.
    pub points_neg: usize,
}

/// The empirical radii over `results` (see [`EmpiricalRadii`]).
pub fn empirical_radii<'a>(results: impl IntoIterator<Item = &'a Measured>) -> EmpiricalRadii {
    let mut radii = EmpiricalRadii::default();
    for m in results {
        if m.x_norm == 0.0 || !m.flags_neighbourhood() {
            continue;
        }
        if m.dist_pos <= m.dist_neg {
            radii.pos = Some(radii.pos.map_or(m.dist_pos, |r: f64| r.max(m.dist_pos)));
            radii.points_pos += 1;
        } else {
            radii.neg = Some(radii.neg.map_or(m.dist_neg, |r: f64| r.max(m.dist_neg)));
            radii.points_neg += 1;
        }
    }
    radii
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_contain_the_centres() {
        for d in 1..6 {
            let at_x0 = exceptional_intervals(0.0, d, 0.01);
            assert!(
                at_x0.iter().any(|&(lo, hi)| lo <= 1.0 && 1.0 <= hi),
                "d = {d}: {at_x0:?}"
            );
            let rho = rho_pr(d);
            let at_neg = exceptional_intervals(PI, d, 0.01);
            assert!(
                at_neg.iter().any(|&(lo, hi)| lo <= rho && rho <= hi),
                "d = {d}: {at_neg:?}"
            );
        }
    }
}
