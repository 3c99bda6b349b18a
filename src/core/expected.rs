//! Closed forms of the expected landscape (docs/THEORY.md §2–§4, corrected signs). Pure functions,
//! no randomness.
//!
//! | paper | here |
//! |---|---|
//! | `g(θ)` | [`angle_map`] |
//! | `θ̄_0 … θ̄_d`, `θ̌_0 … θ̌_d` | [`angle_sequence`], [`theta_check`] |
//! | `ξ_d`, `ζ_d` | [`xi`], [`zeta`] |
//! | `κ(θ)` | [`kappa`] |
//! | `ρ_d` (phase retrieval), `ρ_d^{CS}` | [`rho_pr`], [`rho_cs`] |
//! | `M_{x̂↔ŷ}`, `Q_{x,y}`, `Φ_{z,w}` | [`swap_matrix`], [`q_matrix`], [`phi_matrix`] |
//! | `h_{x,x0}`, `F(x)` | [`expected_gradient`], [`expected_objective`] |
//! | `h^{CS}` | [`expected_gradient_cs`] |
//! | `⟨Φ_{z,w} a, b⟩`, `B_1ᵀ Φ_{z,w} B_3` (no `n × n` matrix) | [`phi_bilinear`], [`phi_form`] |

use std::f64::consts::PI;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

use super::vector::{angle, dot, norm};

/// Below this length of the component of `ŷ` orthogonal to `x̂` (a few dozen rounding units),
/// the two directions count as parallel and [`swap_matrix`] takes its limit `±x̂x̂ᵀ`.
const PARALLEL_TOL: f64 = 64.0 * f64::EPSILON;

/// `g(θ) = arccos(((π−θ) cos θ + sin θ)/π)` (docs/THEORY.md §3): the angle between `relu(W x)` and
/// `relu(W y)` in expectation when `∠(x, y) = θ`.
pub fn angle_map(theta: f64) -> f64 {
    (((PI - theta) * theta.cos() + theta.sin()) / PI)
        .clamp(-1.0, 1.0)
        .acos()
}

/// `θ_0, θ_1 = g(θ_0), …, θ_d` (docs/THEORY.md §3); `d + 1` entries.
pub fn angle_sequence(theta0: f64, d: usize) -> Vec<f64> {
    let mut seq = Vec::with_capacity(d + 1);
    seq.push(theta0);
    for i in 0..d {
        seq.push(angle_map(seq[i]));
    }
    seq
}

/// `θ̌_d`: the sequence started at `θ̌_0 = π` (docs/THEORY.md §3).
pub fn theta_check(d: usize) -> f64 {
    angle_sequence(PI, d)[d]
}

/// `ξ_d = Π_{i=0}^{d−1} (π − θ̄_i)/π` for `thetas = θ̄_0 … θ̄_{d}` (only the first `d` are used).
pub fn xi(thetas: &[f64], d: usize) -> f64 {
    thetas[..d].iter().map(|t| (PI - t) / PI).product()
}

/// `ζ_d = Σ_{i=0}^{d−1} (sin θ̄_i/π) Π_{j=i+1}^{d−1} (π − θ̄_j)/π` (docs/THEORY.md §3).
pub fn zeta(thetas: &[f64], d: usize) -> f64 {
    (0..d)
        .map(|i| thetas[i].sin() / PI * xi(&thetas[i + 1..], d - i - 1))
        .sum()
}

/// `κ(θ) = ((π − 2θ) cos θ + 2 sin θ)/π = ⟨ẑ, Φ_{z,w} ŵ⟩` for `θ = ∠(z, w)` (docs/THEORY.md §2).
pub fn kappa(theta: f64) -> f64 {
    ((PI - 2.0 * theta) * theta.cos() + 2.0 * theta.sin()) / PI
}

/// `ρ_d^{CS} = cos θ̌_d` (Hand–Voroninski, compressed sensing; docs/THEORY.md §3).
pub fn rho_cs(d: usize) -> f64 {
    theta_check(d).cos()
}

/// `ρ_d = 2 sin θ̌_d/π + (π − 2θ̌_d)/π · cos θ̌_d = κ(θ̌_d)` (HLV, corrected plus sign; docs/THEORY.md §3).
pub fn rho_pr(d: usize) -> f64 {
    kappa(theta_check(d))
}

/// `M_{x̂↔ŷ}` in the coordinate-free form of docs/THEORY.md §2, with the limits `x̂x̂ᵀ` at θ = 0
/// and `−x̂x̂ᵀ` at θ = π. Both arguments must be nonzero.
pub fn swap_matrix(x: &[f64], y: &[f64]) -> Mat<f64> {
    let b = SwapBasis::new(x, y);
    let k = x.len();
    Mat::from_fn(k, k, |i, j| {
        b.cos * (b.u1[i] * b.u1[j] - b.u2[i] * b.u2[j]) + b.sin * (b.u1[i] * b.u2[j] + b.u2[i] * b.u1[j])
    })
}

/// `M_{x̂↔ŷ}` in factored form: `M = c (u1u1ᵀ − u2u2ᵀ) + s (u1u2ᵀ + u2u1ᵀ)` (docs/THEORY.md §2), so
/// that `M v` costs `O(k)`. At the limits θ = 0, π: `u2 = 0`, `c = ±1`, `s = 0`.
#[derive(Clone, Debug)]
pub struct SwapBasis {
    /// `u1 = x̂`.
    pub u1: Vec<f64>,
    /// `u2 = (ŷ − cos θ x̂)/sin θ` (0 at the limits).
    pub u2: Vec<f64>,
    /// `cos θ` (±1 at the limits).
    pub cos: f64,
    /// `sin θ` (0 at the limits).
    pub sin: f64,
    /// `θ = ∠(x, y)`.
    pub theta: f64,
}

impl SwapBasis {
    /// The factors of `M_{x̂↔ŷ}` for nonzero `x`, `y`.
    pub fn new(x: &[f64], y: &[f64]) -> Self {
        let mut basis = Self::with_dim(x.len());
        basis.set(x, y);
        basis
    }

    /// Zero factors of dimension `k`, to be filled by [`SwapBasis::set`].
    pub fn with_dim(k: usize) -> Self {
        Self {
            u1: vec![0.0; k],
            u2: vec![0.0; k],
            cos: 0.0,
            sin: 0.0,
            theta: 0.0,
        }
    }

    /// Recomputes the factors for `x`, `y` in place (no allocation; for hot loops).
    pub fn set(&mut self, x: &[f64], y: &[f64]) {
        let (rx, ry) = (norm(x), norm(y));
        self.u1.iter_mut().zip(x).for_each(|(u, v)| *u = v / rx);
        self.u2.iter_mut().zip(y).for_each(|(u, v)| *u = v / ry);
        // θ = 2 atan2(‖x̂ − ŷ‖, ‖x̂ + ŷ‖), accurate near 0 and π (as in `vector::angle`).
        let (diff, sum) = self.u1.iter().zip(&self.u2).fold((0.0, 0.0), |(d, s), (a, b)| {
            (d + (a - b) * (a - b), s + (a + b) * (a + b))
        });
        self.theta = 2.0 * diff.sqrt().atan2(sum.sqrt());
        // u_2 = (ŷ − cos θ x̂)/sin θ, normalised by its own length (more accurate than dividing
        // by sin θ). Within rounding of θ = 0 or π it is noise, so the limits apply there.
        let along = dot(&self.u1, &self.u2);
        self.u2.iter_mut().zip(&self.u1).for_each(|(b, a)| *b -= along * a);
        let r = norm(&self.u2);
        if r <= PARALLEL_TOL {
            self.u2.iter_mut().for_each(|v| *v = 0.0);
            (self.cos, self.sin) = (if along > 0.0 { 1.0 } else { -1.0 }, 0.0);
        } else {
            self.u2.iter_mut().for_each(|v| *v /= r);
            (self.sin, self.cos) = self.theta.sin_cos();
        }
    }

    /// `M v`.
    pub fn apply(&self, v: &[f64]) -> Vec<f64> {
        let (p1, p2) = (dot(&self.u1, v), dot(&self.u2, v));
        let (a1, a2) = (self.cos * p1 + self.sin * p2, self.sin * p1 - self.cos * p2);
        self.u1.iter().zip(&self.u2).map(|(e1, e2)| a1 * e1 + a2 * e2).collect()
    }
}

/// `Q_{x,y} = (π−θ)/(2π) I + sin θ/(2π) M_{x̂↔ŷ} = E[W_{+,x}ᵀ W_{+,y}]` for `W` iid `N(0, 1/n)`
/// (docs/THEORY.md §2, the WDC's centre).
pub fn q_matrix(x: &[f64], y: &[f64]) -> Mat<f64> {
    let theta = angle(x, y);
    identity_plus((PI - theta) / (2.0 * PI), theta.sin() / (2.0 * PI), x, y)
}

/// `Φ_{z,w} = (π−2θ)/π I + 2 sin θ/π M_{ẑ↔ŵ} = E[A_zᵀ A_w]` for `A` iid `N(0, 1/m)`, and
/// `Φ = 0` when `z = 0` or `w = 0` (docs/THEORY.md §2, the RRCP's centre).
pub fn phi_matrix(z: &[f64], w: &[f64]) -> Mat<f64> {
    if norm(z) == 0.0 || norm(w) == 0.0 {
        return Mat::zeros(z.len(), z.len());
    }
    let theta = angle(z, w);
    identity_plus((PI - 2.0 * theta) / PI, 2.0 * theta.sin() / PI, z, w)
}

/// `a I + b M_{x̂↔ŷ}`.
fn identity_plus(a: f64, b: f64, x: &[f64], y: &[f64]) -> Mat<f64> {
    let m = swap_matrix(x, y);
    Mat::from_fn(x.len(), x.len(), |i, j| b * m[(i, j)] + if i == j { a } else { 0.0 })
}

/// The coefficients `(α, β)` of the expected gradient at angle `θ̄_0` for depth `d`
/// (docs/THEORY.md §4): `β = (π − 2θ̄_d)/π · ξ_d`, `α = 2 sin θ̄_d/π + (π − 2θ̄_d)/π · ζ_d`.
pub fn gradient_coefficients(theta0: f64, d: usize) -> (f64, f64) {
    let t = angle_sequence(theta0, d);
    let td = t[d];
    let beta = (PI - 2.0 * td) / PI * xi(&t, d);
    let alpha = 2.0 * td.sin() / PI + (PI - 2.0 * td) / PI * zeta(&t, d);
    (alpha, beta)
}

/// The expected gradient `h_{x,x0} = 2^{−d} [−β ‖x0‖ x̂0 + (‖x‖ − α ‖x0‖) x̂]` (docs/THEORY.md §4,
/// corrected signs). `F` is not differentiable at `x = 0`; there this returns `None`.
pub fn expected_gradient(x: &[f64], x0: &[f64], d: usize) -> Option<Vec<f64>> {
    let (r, r0) = (norm(x), norm(x0));
    if r == 0.0 || r0 == 0.0 {
        return None;
    }
    let (alpha, beta) = gradient_coefficients(angle(x, x0), d);
    let scale = 0.5f64.powi(d as i32);
    Some(
        x.iter()
            .zip(x0)
            .map(|(xi, x0i)| scale * (-beta * x0i + (r - alpha * r0) * xi / r))
            .collect(),
    )
}

/// The expected objective `F(x) = (‖x‖² + ‖x0‖²)/2^{d+1} − 2^{−d} ‖x‖ ‖x0‖ κ(θ̄_d)`
/// (HLV-J Lemma 20, simplified; docs/THEORY.md §4).
pub fn expected_objective(x: &[f64], x0: &[f64], d: usize) -> f64 {
    let (r, r0) = (norm(x), norm(x0));
    let td = angle_sequence(angle(x, x0), d)[d];
    let scale = 0.5f64.powi(d as i32);
    0.5 * scale * (r * r + r0 * r0) - scale * r * r0 * kappa(td)
}

/// `F` and `‖h_{x,x0}‖` at one point `x = (x_1, x_2)` of a square grid ([`expected_grid`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct GridPoint {
    /// First coordinate of `x`.
    pub x_1: f64,
    /// Second coordinate of `x`.
    pub x_2: f64,
    /// `F(x)`.
    pub f_expected: f64,
    /// `‖h_{x,x0}‖`; `None` at `x = 0`, where `F` is not differentiable.
    pub h_norm: Option<f64>,
}

/// The `grid` equally spaced points of `[−range, range]` (`grid ≥ 2`), ends included.
pub fn grid_axis(grid: usize, range: f64) -> Vec<f64> {
    (0..grid)
        .map(|i| -range + 2.0 * range * i as f64 / (grid - 1) as f64)
        .collect()
}

/// [`expected_objective`] and the norm of [`expected_gradient`] (docs/THEORY.md §4) for a
/// two-dimensional `x0` on the `grid × grid` points of `[−range, range]²`, `x_1` varying
/// fastest (the paper's Figure 1). The caller checks `grid ≥ 2` and a finite nonzero `x0`.
pub fn expected_grid(x0: &[f64; 2], d: usize, grid: usize, range: f64) -> Vec<GridPoint> {
    let axis = grid_axis(grid, range);
    axis.iter()
        .flat_map(|&x_2| axis.iter().map(move |&x_1| (x_1, x_2)))
        .map(|(x_1, x_2)| {
            let x = [x_1, x_2];
            GridPoint {
                x_1,
                x_2,
                f_expected: expected_objective(&x, x0, d),
                h_norm: expected_gradient(&x, x0, d).map(|h| norm(&h)),
            }
        })
        .collect()
}

/// Hand–Voroninski's compressed-sensing expected gradient
/// `h^{CS} = 2^{−d} [−ξ_d x0 + x − ζ_d (‖x0‖/‖x‖) x]` (docs/THEORY.md §4), for comparison.
pub fn expected_gradient_cs(x: &[f64], x0: &[f64], d: usize) -> Option<Vec<f64>> {
    let (r, r0) = (norm(x), norm(x0));
    if r == 0.0 {
        return None;
    }
    let t = angle_sequence(angle(x, x0), d);
    let (xi_d, zeta_d) = (xi(&t, d), zeta(&t, d));
    let scale = 0.5f64.powi(d as i32);
    Some(
        x.iter()
            .zip(x0)
            .map(|(xi, x0i)| scale * (-xi_d * x0i + xi - zeta_d * r0 / r * xi))
            .collect(),
    )
}

/// `Φ_{z,w} = (π−2θ)/π · I + 2 sin θ/π · M_{ẑ↔ŵ}` (docs/THEORY.md §2, the RRCP's centre) in factored
/// form: `Φ = identity · I + swap · M` with `M` as [`SwapBasis`] (the factors [`swap_matrix`]
/// uses). `Φ = 0` (both coefficients 0) when `z = 0` or `w = 0`. [`phi_matrix`] is the same
/// operator as a dense `n × n` matrix; this form gives `⟨Φ a, b⟩` in `O(n)` and `B_1ᵀ Φ B_3` in
/// `O(n r_1 r_3)` without it.
#[derive(Clone, Debug)]
pub struct PhiForm {
    /// `(π − 2θ)/π`.
    pub identity: f64,
    /// `2 sin θ/π`.
    pub swap: f64,
    /// `M_{ẑ↔ŵ}`.
    pub basis: SwapBasis,
}

/// `Φ_{z,w}` in factored form (docs/THEORY.md §2); see [`PhiForm`].
pub fn phi_form(z: &[f64], w: &[f64]) -> PhiForm {
    if norm(z) == 0.0 || norm(w) == 0.0 {
        let zero = vec![0.0; z.len()];
        let basis = SwapBasis {
            u1: zero.clone(),
            u2: zero,
            cos: 0.0,
            sin: 0.0,
            theta: 0.0,
        };
        return PhiForm {
            identity: 0.0,
            swap: 0.0,
            basis,
        };
    }
    let theta = angle(z, w);
    PhiForm {
        identity: (PI - 2.0 * theta) / PI,
        swap: 2.0 * theta.sin() / PI,
        basis: SwapBasis::new(z, w),
    }
}

impl PhiForm {
    /// `⟨Φ a, b⟩ = identity ⟨a, b⟩ + swap ⟨M a, b⟩` with
    /// `⟨M a, b⟩ = c (b·u1 u1·a − b·u2 u2·a) + s (b·u1 u2·a + b·u2 u1·a)`, in `O(n)`.
    pub fn bilinear(&self, a: &[f64], b: &[f64]) -> f64 {
        let m = &self.basis;
        let (a1, a2, b1, b2) = (dot(&m.u1, a), dot(&m.u2, a), dot(b, &m.u1), dot(b, &m.u2));
        let swap = m.cos * (b1 * a1 - b2 * a2) + m.sin * (b1 * a2 + b2 * a1);
        self.identity * dot(a, b) + self.swap * swap
    }

    /// `B_1ᵀ Φ B_3` for `B_1 ∈ R^{n × r_1}`, `B_3 ∈ R^{n × r_3}`, without forming `Φ`:
    /// `identity · B_1ᵀB_3 + swap · [c (l_1 r_1ᵀ − l_2 r_2ᵀ) + s (l_1 r_2ᵀ + l_2 r_1ᵀ)]` with
    /// `l_p = B_1ᵀu_p`, `r_q = B_3ᵀu_q` (sequential products).
    #[track_caller]
    pub fn sandwich(&self, b1: MatRef<'_, f64>, b3: MatRef<'_, f64>) -> Mat<f64> {
        let m = &self.basis;
        let n = m.u1.len();
        assert!(b1.nrows() == n && b3.nrows() == n, "B_1 and B_3 need n = {n} rows");
        let mut out = Mat::zeros(b1.ncols(), b3.ncols());
        matmul(
            out.as_mut(),
            Accum::Replace,
            b1.transpose(),
            b3,
            self.identity,
            Par::Seq,
        );
        let project = |b: MatRef<'_, f64>, u: &[f64]| -> Vec<f64> {
            (0..b.ncols())
                .map(|j| b.col(j).iter().zip(u).map(|(x, y)| x * y).sum())
                .collect()
        };
        let (l1, l2) = (project(b1, &m.u1), project(b1, &m.u2));
        let (r1, r2) = (project(b3, &m.u1), project(b3, &m.u2));
        for j in 0..b3.ncols() {
            for i in 0..b1.ncols() {
                let swap = m.cos * (l1[i] * r1[j] - l2[i] * r2[j]) + m.sin * (l1[i] * r2[j] + l2[i] * r1[j]);
                out[(i, j)] += self.swap * swap;
            }
        }
        out
    }
}

/// `⟨Φ_{z,w} a, b⟩` in `O(n)` without forming `Φ` (docs/THEORY.md §2); equals
/// `bᵀ phi_matrix(z, w) a` up to rounding.
pub fn phi_bilinear(z: &[f64], w: &[f64], a: &[f64], b: &[f64]) -> f64 {
    phi_form(z, w).bilinear(a, b)
}
