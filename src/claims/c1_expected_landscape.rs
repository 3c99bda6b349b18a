//! C1: the expected landscape (docs/THEORY.md §3–4). For each depth `d` and each `x0`:
//! `h(x0) = 0` and `h(−ρ_d x0) = 0`; the origin is a local maximum of `F` (every probed
//! direction decreases `F`); `F(−ρ_d x0) > F(x0) = 0` with the closed form
//! `F(−ρ_d x0) = (1 − ρ_d²) ‖x0‖² / 2^{d+1}`, which is why the negation check works.
//! All values are exact closed forms evaluated in f64.
//!
//! No sampling is involved, so the verdict is a tolerance rule, not a test: a case holds when
//! `‖h‖ ≤ h_tol` at both critical points, every probe `F(t u) < F(0)`, `F(−ρ_d x0) > F(x0)`
//! and `|F(−ρ_d x0) − closed form| ≤ f_tol` ([`holds`]). PASS: every case holds; FAIL: some
//! case does not (INCONCLUSIVE is not defined: nothing is random).

use rand::RngExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::{ClaimDir, ClaimReport, Spec, Verdict};
use crate::core::expected::{expected_gradient, expected_objective, rho_pr};
use crate::core::vector::{norm, scale, unit};
use crate::error::{Error, Result};
use crate::report::plot::Series;
use crate::rng::{Stream, stream};

/// Parameters of C1 (from `verify/C1-expected-landscape.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// Smallest depth.
    pub d_min: usize,
    /// Largest depth.
    pub d_max: usize,
    /// True codes to test (any dimension ≥ 2, nonzero).
    pub x0: Vec<Vec<f64>>,
    /// Probe directions around the origin.
    pub directions: usize,
    /// Probe radius around the origin.
    pub radius: f64,
    /// Tolerance on ‖h‖ at the critical points.
    pub h_tol: f64,
    /// Tolerance on `F(−ρ_d x0)` against its closed form.
    pub f_tol: f64,
    /// Points along the ray `−r x0` in the figure.
    pub ray_points: usize,
}

/// One row of `c1_checks.csv`: one `(d, x0)` case.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    /// What the numbers are: `exact` (closed forms in f64).
    pub kind: &'static str,
    /// Depth d.
    pub d: usize,
    /// Index of x0 in the spec.
    pub x0_index: usize,
    /// Dimension k of x0.
    pub k: usize,
    /// ‖x0‖.
    pub x0_norm: f64,
    /// ρ_d (phase retrieval).
    pub rho_pr: f64,
    /// ‖h(x0)‖.
    pub h_norm_at_x0: f64,
    /// ‖h(−ρ_d x0)‖.
    pub h_norm_at_neg: f64,
    /// F(0).
    pub f_origin: f64,
    /// Largest F(t u) over the probed unit directions u.
    pub f_near_origin_max: f64,
    /// F(x0).
    pub f_at_x0: f64,
    /// F(−ρ_d x0).
    pub f_at_neg: f64,
    /// (1 − ρ_d²) ‖x0‖² / 2^{d+1}.
    pub f_at_neg_closed_form: f64,
    /// Whether every check of this case passes.
    pub pass: bool,
}

/// Unit probe directions: a circle for k = 2, Gaussian directions (seeded) otherwise, plus ±x̂0.
fn directions(k: usize, count: usize, x0: &[f64], seed: u64, case: u64) -> Vec<Vec<f64>> {
    let mut dirs: Vec<Vec<f64>> = if k == 2 {
        (0..count)
            .map(|i| {
                let t = 2.0 * std::f64::consts::PI * i as f64 / count as f64;
                vec![t.cos(), t.sin()]
            })
            .collect()
    } else {
        let mut rng = stream(seed, "C1", case, Stream::Probe);
        (0..count)
            .map(|_| unit(&(0..k).map(|_| rng.sample::<f64, _>(StandardNormal)).collect::<Vec<_>>()))
            .collect()
    };
    dirs.push(unit(x0));
    dirs.push(scale(-1.0, &unit(x0)));
    dirs
}

fn check(p: &Params, d: usize, idx: usize, x0: &[f64], seed: u64) -> CheckRow {
    let rho = rho_pr(d);
    let neg = scale(-rho, x0);
    let h_norm = |x: &[f64]| expected_gradient(x, x0, d).map_or(f64::INFINITY, |h| norm(&h));
    let origin = vec![0.0; x0.len()];
    let f_origin = expected_objective(&origin, x0, d);
    let f_near = directions(x0.len(), p.directions, x0, seed, idx as u64)
        .iter()
        .map(|u| expected_objective(&scale(p.radius, u), x0, d))
        .fold(f64::NEG_INFINITY, f64::max);
    let r0 = norm(x0);
    let closed = (1.0 - rho * rho) * r0 * r0 / 2f64.powi(d as i32 + 1);
    let mut row = CheckRow {
        kind: "exact",
        d,
        x0_index: idx,
        k: x0.len(),
        x0_norm: r0,
        rho_pr: rho,
        h_norm_at_x0: h_norm(x0),
        h_norm_at_neg: h_norm(&neg),
        f_origin,
        f_near_origin_max: f_near,
        f_at_x0: expected_objective(x0, x0, d),
        f_at_neg: expected_objective(&neg, x0, d),
        f_at_neg_closed_form: closed,
        pass: false,
    };
    row.pass = holds(&row, p.h_tol, p.f_tol);
    row
}

/// Whether one case meets the tolerance rule (see the module doc).
pub fn holds(row: &CheckRow, h_tol: f64, f_tol: f64) -> bool {
    row.h_norm_at_x0 <= h_tol
        && row.h_norm_at_neg <= h_tol
        && row.f_near_origin_max < row.f_origin
        && row.f_at_neg > row.f_at_x0
        && (row.f_at_neg - row.f_at_neg_closed_form).abs() <= f_tol
}

/// C1's verdict: PASS when every case holds (and there is one), FAIL otherwise.
pub fn judge(rows: &[CheckRow], h_tol: f64, f_tol: f64) -> Verdict {
    Verdict::from_bool(!rows.is_empty() && rows.iter().all(|r| holds(r, h_tol, f_tol)))
}

fn validate(p: &Params) -> Result<()> {
    if p.d_min == 0 || p.d_max < p.d_min {
        return Err(Error::param(
            "C1 d_min/d_max",
            format!("{}/{}", p.d_min, p.d_max),
            "use 1 <= d_min <= d_max",
        ));
    }
    if p.x0
        .iter()
        .any(|x| x.len() < 2 || norm(x) == 0.0 || x.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::param(
            "C1 x0",
            format!("{:?}", p.x0),
            "each x0 needs >= 2 finite entries, not all 0",
        ));
    }
    if p.directions == 0 || !p.radius.is_finite() || p.radius <= 0.0 || p.ray_points < 2 {
        return Err(Error::param(
            "C1 directions/radius/ray_points",
            format!("{}/{}/{}", p.directions, p.radius, p.ray_points),
            "use directions >= 1, radius > 0, ray_points >= 2",
        ));
    }
    Ok(())
}

/// F along the ray `−r x̂0`, `r ∈ [0, 1.5]`, for the first x0 scaled to norm 1, per depth.
fn ray_series(p: &Params) -> Vec<Series> {
    let x0 = unit(&p.x0[0]);
    (p.d_min..=p.d_max)
        .map(|d| Series {
            label: format!("d = {d}"),
            points: (0..p.ray_points)
                .map(|i| {
                    let r = 1.5 * i as f64 / (p.ray_points - 1) as f64;
                    (r, expected_objective(&scale(-r, &x0), &x0, d) * 2f64.powi(d as i32 + 1))
                })
                .collect(),
        })
        .collect()
}

/// Runs C1.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    validate(&p)?;
    let rows: Vec<CheckRow> = (p.d_min..=p.d_max)
        .flat_map(|d| p.x0.iter().enumerate().map(move |(i, x0)| (d, i, x0)))
        .map(|(d, i, x0)| check(&p, d, i, x0, seed))
        .collect();
    let csv = dir.write_csv("c1_checks.csv", &rows)?;

    let figure = dir.line_figure(
        "c1_ray.png",
        "C1: 2^(d+1) F(-r x0), |x0| = 1 (minimum at r = rho_d)",
        ("r (units of |x0|)", "2^(d+1) F (units of |x0|²)"),
        &ray_series(&p),
        (false, false),
    )?;
    let worst_h = rows
        .iter()
        .map(|r| r.h_norm_at_x0.max(r.h_norm_at_neg))
        .fold(0.0, f64::max);
    let min_gap = rows
        .iter()
        .map(|r| r.f_at_neg - r.f_at_x0)
        .fold(f64::INFINITY, f64::min);
    let max_rise = rows
        .iter()
        .map(|r| r.f_near_origin_max - r.f_origin)
        .fold(f64::NEG_INFINITY, f64::max);
    let verdict = judge(&rows, p.h_tol, p.f_tol);
    let measured = format!(
        "exact closed forms, d = {}..{}, {} x0: {} of {} cases hold",
        p.d_min,
        p.d_max,
        p.x0.len(),
        rows.iter().filter(|r| r.pass).count(),
        rows.len()
    );
    let statistic = format!(
        "max ‖h‖ at the critical points = {worst_h:.1e} (tolerance {:.0e}); max F(t u) − F(0) = {max_rise:.2e} (t = {}, must be < 0); min F(−ρ_d x0) − F(x0) = {min_gap:.3e} (must be > 0)",
        p.h_tol, p.radius
    );
    Ok(ClaimReport::new(spec, measured, verdict, vec![csv, figure.clone()], vec![figure]).with_statistic(statistic))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> CheckRow {
        let p = Params {
            d_min: 2,
            d_max: 2,
            x0: vec![vec![1.0, 0.5]],
            directions: 16,
            radius: 1e-3,
            h_tol: 1e-12,
            f_tol: 1e-12,
            ray_points: 2,
        };
        check(&p, 2, 0, &p.x0[0], 1)
    }

    #[test]
    fn the_exact_landscape_holds_and_each_broken_property_fails() {
        // The real closed forms at d = 2 hold; each perturbation below is what a wrong sign
        // or a wrong ρ_d would produce, and must be caught.
        let good = case();
        assert_eq!(judge(std::slice::from_ref(&good), 1e-12, 1e-12), Verdict::Pass);
        // Each perturbation breaks exactly one property; the strict inequalities are broken
        // by equality (a rule that took `≤` for `<` would let those through).
        let broken: [fn(&mut CheckRow); 6] = [
            |r| r.h_norm_at_neg = 1e-6,
            |r| r.h_norm_at_x0 = 1e-6,
            |r| r.f_near_origin_max = r.f_origin + 1e-9,
            |r| r.f_near_origin_max = r.f_origin,
            |r| {
                r.f_at_neg = r.f_at_x0;
                r.f_at_neg_closed_form = r.f_at_x0;
            },
            |r| r.f_at_neg_closed_form += 1e-9,
        ];
        for (i, breaks) in broken.iter().enumerate() {
            let mut bad = good.clone();
            breaks(&mut bad);
            assert_eq!(
                judge(&[good.clone(), bad], 1e-12, 1e-12),
                Verdict::Fail,
                "perturbation {i}"
            );
        }
        assert_eq!(judge(&[], 1e-12, 1e-12), Verdict::Fail);
    }
}
