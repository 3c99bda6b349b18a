//! Certified local minima in any latent dimension (docs/THEORY.md §13.6). On an open cell of
//! constant pattern `f(x) = ½‖S A Λ x − b‖²` is a quadratic whose only stationary point is the
//! least-squares solution; on a kink (a unit or measurement at zero) `f` restricted to the
//! kink's hyperplane is again such a quadratic, and the kink is a strict local minimum when the
//! restricted solution lies on the kink inside its cell, the restricted Hessian is positive
//! definite and the one-sided derivatives off the hyperplane are both strictly positive.
//!
//! [`certify_minimum`] takes a candidate (e.g. a GD limit), finds its cell or kink, solves the
//! least-squares problem, and returns the exact critical point with its margins as `certified`,
//! `not_min` or `undecided`. Kinks where two or more units meet are `undecided` (the one-sided
//! derivative is then piecewise linear over several hyperplanes; not decided here).

use faer::Mat;

use super::exact::sectors::Cause;
use crate::core::objective::Problem;
use crate::core::vector::{dot, norm, sub};

/// A unit within this relative distance of its hyperplane (`|z_i| ≤ PROXIMITY ‖g_i‖ ‖x‖`)
/// counts as on the kink: GD limits that stop on a kink sit there only to the precision the
/// iteration reached.
pub const PROXIMITY: f64 = 1e-5;
/// Safety factor on the first-order rounding bounds (as in the k = 2 study).
const ROUNDING_SAFETY: f64 = 16.0;

/// The outcome of [`certify_minimum`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MinStatus {
    /// A strict local minimum, every margin above its rounding bound.
    Certified,
    /// Not a local minimum: the cell's stationary point lies outside the cell, the Hessian
    /// is not positive definite, or a one-sided derivative off the kink is negative.
    NotMin,
    /// Too close to call in f64, singular (an affine stationary set), or several kinks meet.
    Undecided,
}

impl MinStatus {
    /// `certified`, `not_min`, `undecided`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Certified => "certified",
            Self::NotMin => "not_min",
            Self::Undecided => "undecided",
        }
    }
}

/// The certificate of one candidate.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MinimumCertificate {
    /// The verdict.
    pub status: MinStatus,
    /// The exact critical point of the cell or kink (least squares, f64).
    pub x: Vec<f64>,
    /// `‖x − candidate‖ / ‖candidate‖`.
    pub moved: f64,
    /// The units on the kink: `(cause, unit)` (empty: a cell interior).
    pub kink: Vec<(Cause, usize)>,
    /// Smallest eigenvalue bound of the (restricted) Hessian: its smallest Cholesky pivot.
    pub min_pivot: f64,
    /// Smallest `|z_i| / e_i` over the other units at `x` (above 1: the pattern is decided).
    pub pattern_slack: f64,
    /// Kink: the one-sided derivatives of `f` off the hyperplane, both sides (unit normal).
    pub one_sided: Option<(f64, f64)>,
    /// The rounding bound the pivots and derivatives are compared with.
    pub rounding_bound: f64,
    /// Why, in words.
    pub reason: String,
}

/// The pattern of a point: per layer, `Some(true)` active, `Some(false)` inactive, and per
/// measurement the sign (`0` on the kink).
struct Pattern {
    layers: Vec<Vec<bool>>,
    signs: Vec<f64>,
}

/// The linear maps of a pattern: `P_l` (pre-activations, `n_l × k`) and `B = S A Λ` (`m × k`).
struct Maps {
    pre: Vec<Mat<f64>>,
    b: Mat<f64>,
}

fn maps(problem: &Problem, pattern: &Pattern) -> Maps {
    let k = problem.net.latent_dim();
    let mut lambda = Mat::<f64>::identity(k, k);
    let mut pre = Vec::new();
    for (layer, active) in problem.net.layers().iter().zip(&pattern.layers) {
        let p = &layer.weight * &lambda;
        lambda = Mat::from_fn(p.nrows(), k, |i, j| if active[i] { p[(i, j)] } else { 0.0 });
        pre.push(p);
    }
    let al = &problem.meas.a * &lambda;
    let b = Mat::from_fn(al.nrows(), k, |i, j| pattern.signs[i] * al[(i, j)]);
    Maps { pre, b }
}

/// Pre-activations and measurements at `x` with their forward error bounds, per layer (the
/// last entry is `A G(x)`), as in [`super::exact::pattern_slack`].
fn forward_with_bounds(problem: &Problem, x: &[f64]) -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut a = x.to_vec();
    let mut e = vec![0.0; x.len()];
    let mut out = Vec::new();
    let mats = problem
        .net
        .layers()
        .iter()
        .map(|l| &l.weight)
        .chain(std::iter::once(&problem.meas.a));
    for w in mats {
        let g = gamma(w.ncols());
        let (mut z, mut err) = (vec![0.0; w.nrows()], vec![0.0; w.nrows()]);
        for j in 0..w.ncols() {
            let (aj, ej) = (a[j], g * a[j].abs() + e[j]);
            for i in 0..w.nrows() {
                z[i] += w[(i, j)] * aj;
                err[i] += w[(i, j)].abs() * ej;
            }
        }
        a = z.iter().map(|&v| v.max(0.0)).collect();
        e.clone_from(&err);
        out.push((z, err));
    }
    out
}

fn gamma(terms: usize) -> f64 {
    let nu = terms as f64 * f64::EPSILON / 2.0;
    nu / (1.0 - nu)
}

/// Cholesky of a small symmetric matrix: the smallest pivot and the solution of `H w = r`, or
/// `None` with the failing pivot when `H` is not positive definite.
fn cholesky_solve(h: &Mat<f64>, r: &[f64]) -> std::result::Result<(f64, Vec<f64>), f64> {
    let n = h.nrows();
    let mut l = Mat::<f64>::zeros(n, n);
    let mut min_pivot = f64::INFINITY;
    for j in 0..n {
        let mut d = h[(j, j)];
        for p in 0..j {
            d -= l[(j, p)] * l[(j, p)];
        }
        if d <= 0.0 {
            return Err(d);
        }
        min_pivot = min_pivot.min(d);
        l[(j, j)] = d.sqrt();
        for i in j + 1..n {
            let mut s = h[(i, j)];
            for p in 0..j {
                s -= l[(i, p)] * l[(j, p)];
            }
            l[(i, j)] = s / l[(j, j)];
        }
    }
    let mut y = r.to_vec();
    for i in 0..n {
        for p in 0..i {
            y[i] -= l[(i, p)] * y[p];
        }
        y[i] /= l[(i, i)];
    }
    for i in (0..n).rev() {
        for p in i + 1..n {
            y[i] -= l[(p, i)] * y[p];
        }
        y[i] /= l[(i, i)];
    }
    Ok((min_pivot, y))
}

/// An orthonormal basis (columns) of the orthogonal complement of `normals` in `R^k`.
fn complement(normals: &[Vec<f64>], k: usize) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let orth = |v: &[f64], basis: &[Vec<f64>]| {
        let mut w = v.to_vec();
        for b in basis {
            let c = dot(&w, b);
            w.iter_mut().zip(b).for_each(|(wi, bi)| *wi -= c * bi);
        }
        let n = norm(&w);
        (n > 1e-10).then(|| w.iter().map(|v| v / n).collect::<Vec<f64>>())
    };
    for n in normals {
        if let Some(u) = orth(n, &basis) {
            basis.push(u);
        }
    }
    let fixed = basis.len();
    for i in 0..k {
        let mut e = vec![0.0; k];
        e[i] = 1.0;
        if let Some(u) = orth(&e, &basis) {
            basis.push(u);
        }
    }
    basis.split_off(fixed)
}

/// `Bᵀ(B x − b)`, the gradient of the cell's quadratic.
fn gradient(b: &Mat<f64>, x: &[f64], amplitudes: &[f64]) -> Vec<f64> {
    let r: Vec<f64> = (0..b.nrows())
        .map(|i| (0..b.ncols()).map(|j| b[(i, j)] * x[j]).sum::<f64>() - amplitudes[i])
        .collect();
    (0..b.ncols())
        .map(|j| (0..b.nrows()).map(|i| b[(i, j)] * r[i]).sum())
        .collect()
}

/// Certifies (or refutes) that the cell or kink of `candidate` holds a strict local minimum of
/// `f`, and returns its exact critical point (docs/THEORY.md §13.6). Any latent dimension;
/// bias-free ReLU networks.
///
/// The candidate's kink is the set of units within [`PROXIMITY`] of their hyperplane. When
/// there is none and the cell's least-squares point falls outside the cell, the unit nearest
/// its hyperplane is tried as a kink before concluding `not_min` (a GD limit on a kink may sit
/// farther from it than the proximity).
pub fn certify_minimum(problem: &Problem, candidate: &[f64]) -> MinimumCertificate {
    let violations = problem.net.theory_violations();
    if !violations.is_empty() || norm(candidate) == 0.0 {
        return MinimumCertificate {
            status: MinStatus::Undecided,
            x: candidate.to_vec(),
            moved: 0.0,
            kink: Vec::new(),
            min_pivot: 0.0,
            pattern_slack: 0.0,
            one_sided: None,
            rounding_bound: 0.0,
            reason: format!(
                "not certified: needs a bias-free ReLU network and x ≠ 0 ({})",
                violations.join("; ")
            ),
        };
    }
    let distances = hyperplane_distances(problem, candidate);
    let near: Vec<(Cause, usize)> = (distances.iter())
        .filter(|d| d.0 <= PROXIMITY)
        .map(|d| (d.1, d.2))
        .collect();
    let cert = certify_on(problem, candidate, &near);
    if cert.status != MinStatus::NotMin || !near.is_empty() {
        return cert;
    }
    let nearest = distances.iter().min_by(|a, b| a.0.total_cmp(&b.0));
    match nearest {
        Some(&(_, cause, unit)) => match certify_on(problem, candidate, &[(cause, unit)]) {
            retry if retry.status == MinStatus::Certified => retry,
            _ => cert,
        },
        None => cert,
    }
}

/// The activation pattern (strict `z > 0`) and the measurement signs (`sgn(0) = 0`) of the
/// forward values `values` of a network of depth `depth`.
fn observed_pattern(values: &[(Vec<f64>, Vec<f64>)], depth: usize) -> Pattern {
    Pattern {
        layers: values[..depth]
            .iter()
            .map(|(z, _)| z.iter().map(|&v| v > 0.0).collect())
            .collect(),
        signs: values[depth]
            .0
            .iter()
            .map(|&v| v.signum() * f64::from(v != 0.0))
            .collect(),
    }
}

/// `(|z_i| / (‖g_i‖ ‖x‖), cause, unit)` for every unit and measurement with a nonzero row
/// `g_i` of its linear map at `x`.
fn hyperplane_distances(problem: &Problem, x: &[f64]) -> Vec<(f64, Cause, usize)> {
    let (k, depth) = (x.len(), problem.net.depth());
    let values = forward_with_bounds(problem, x);
    let pattern = observed_pattern(&values, depth);
    let first = maps(problem, &pattern);
    let xn = norm(x);
    let mut out = Vec::new();
    let rows = first.pre.iter().chain(std::iter::once(&first.b));
    for (l, (p, (z, _))) in rows.zip(&values).enumerate() {
        for i in 0..p.nrows() {
            let gn = norm(&(0..k).map(|j| p[(i, j)]).collect::<Vec<f64>>());
            if gn > 0.0 {
                let cause = if l < depth {
                    Cause::Layer(l + 1)
                } else {
                    Cause::Measurement
                };
                out.push((z[i].abs() / (gn * xn), cause, i));
            }
        }
    }
    out
}

/// [`certify_minimum`] with the kink units given.
fn certify_on(problem: &Problem, candidate: &[f64], kink: &[(Cause, usize)]) -> MinimumCertificate {
    let k = candidate.len();
    let depth = problem.net.depth();
    let values = forward_with_bounds(problem, candidate);
    let mut pattern = observed_pattern(&values, depth);
    let first = maps(problem, &pattern);
    let xn = norm(candidate);
    let kink = kink.to_vec();
    let normals: Vec<Vec<f64>> = (kink.iter())
        .map(|&(cause, i)| {
            let p = match cause {
                Cause::Layer(l) => &first.pre[l - 1],
                Cause::Measurement => &first.b,
            };
            let sign = if matches!(cause, Cause::Measurement) && pattern.signs[i] < 0.0 {
                -1.0
            } else {
                1.0
            };
            (0..k).map(|j| sign * p[(i, j)]).collect()
        })
        .collect();
    for &(cause, i) in &kink {
        match cause {
            Cause::Layer(l) => pattern.layers[l - 1][i] = false,
            Cause::Measurement => pattern.signs[i] = 0.0,
        }
    }
    let on_kink = maps(problem, &pattern);
    let basis = complement(&normals, k);
    let bound_scale = {
        let bf: f64 = (0..on_kink.b.nrows())
            .flat_map(|i| (0..k).map(move |j| (i, j)))
            .map(|(i, j)| on_kink.b[(i, j)].powi(2))
            .sum::<f64>()
            .sqrt();
        bf * (bf * xn + norm(&problem.b))
    };
    let bound = ROUNDING_SAFETY * gamma(problem.net.widths().iter().sum::<usize>() + problem.b.len()) * bound_scale;
    let mut cert = MinimumCertificate {
        status: MinStatus::Undecided,
        x: candidate.to_vec(),
        moved: 0.0,
        kink: kink.clone(),
        min_pivot: 0.0,
        pattern_slack: 0.0,
        one_sided: None,
        rounding_bound: bound,
        reason: String::new(),
    };
    if kink.len() > 1 {
        cert.reason = format!("{} units meet on the kink: not decided", kink.len());
        return cert;
    }
    // Least squares on the cell (or the kink's hyperplane): min ½‖B N w − b‖².
    let bn = Mat::from_fn(on_kink.b.nrows(), basis.len(), |i, j| {
        (0..k).map(|c| on_kink.b[(i, c)] * basis[j][c]).sum::<f64>()
    });
    let h = bn.transpose() * &bn;
    let r: Vec<f64> = (0..basis.len())
        .map(|j| (0..bn.nrows()).map(|i| bn[(i, j)] * problem.b[i]).sum())
        .collect();
    let (pivot, w) = match cholesky_solve(&h, &r) {
        Ok(v) => v,
        Err(p) => {
            cert.min_pivot = p;
            cert.reason =
                "the (restricted) Hessian is singular or indefinite: an affine stationary set, not certified".into();
            return cert;
        }
    };
    cert.min_pivot = pivot;
    let x: Vec<f64> = (0..k)
        .map(|c| basis.iter().zip(&w).map(|(b, wi)| b[c] * wi).sum())
        .collect();
    cert.moved = norm(&sub(&x, candidate)) / xn.max(f64::MIN_POSITIVE);
    // The solution must keep the pattern of every other unit, decidedly.
    let at = forward_with_bounds(problem, &x);
    let mut slack = f64::INFINITY;
    let mut flipped = false;
    for (l, (z, e)) in at.iter().enumerate() {
        for i in 0..z.len() {
            let cause = if l < depth {
                Cause::Layer(l + 1)
            } else {
                Cause::Measurement
            };
            if kink.contains(&(cause, i)) || (z[i] == 0.0 && e[i] == 0.0) {
                continue;
            }
            let want = if l < depth {
                pattern.layers[l][i]
            } else {
                pattern.signs[i] > 0.0
            };
            flipped |= (z[i] > e[i] && !want) || (z[i] < -e[i] && want);
            slack = slack.min(z[i].abs() / e[i]);
        }
    }
    cert.x = x.clone();
    cert.pattern_slack = slack;
    if flipped {
        cert.status = MinStatus::NotMin;
        cert.reason = "the least-squares point of the cell lies outside the cell: no critical point there".into();
        return cert;
    }
    if slack <= 1.0 || pivot <= bound {
        cert.reason = "a margin within its rounding bound".into();
        return cert;
    }
    let Some(&(cause, unit)) = kink.first() else {
        cert.status = MinStatus::Certified;
        cert.reason = "interior: least squares inside its cell, positive definite Hessian".into();
        return cert;
    };
    // One kink: the one-sided derivatives off the hyperplane, from the two neighbouring cells.
    let gn = norm(&normals[0]);
    let n: Vec<f64> = normals[0].iter().map(|v| v / gn).collect();
    let side = |plus: bool| {
        let mut p = Pattern {
            layers: pattern.layers.clone(),
            signs: pattern.signs.clone(),
        };
        match cause {
            Cause::Layer(l) => p.layers[l - 1][unit] = plus,
            Cause::Measurement => p.signs[unit] = if plus { 1.0 } else { -1.0 },
        }
        gradient(&maps(problem, &p).b, &x, &problem.b)
    };
    let up = dot(&side(true), &n);
    let down = -dot(&side(false), &n);
    cert.one_sided = Some((up, down));
    cert.status = if up > bound && down > bound {
        cert.reason = "kink: restricted least squares on the hyperplane, both one-sided derivatives positive".into();
        MinStatus::Certified
    } else if up < -bound || down < -bound {
        cert.reason = "kink: a one-sided derivative off the hyperplane is negative (a descent direction)".into();
        MinStatus::NotMin
    } else {
        cert.reason = "kink: a one-sided derivative within its rounding bound".into();
        MinStatus::Undecided
    };
    cert
}
