//! The closed forms of `core::expected` checked against the mathematics of docs/THEORY.md.
//!
//! | docs/THEORY.md | what is checked | test |
//! |---|---|---|
//! | §3 table | `θ̌_d`, `ρ_d^{CS}`, `ρ_d` for d = 1..10 | [`rho_and_theta_check_match_the_theory_table`] |
//! | §3 identity | `cos θ̄_d = ξ_d cos θ̄_0 + ζ_d` | [`cos_identity_holds_on_a_grid_of_angles`], [`cos_identity_holds_at_random_angles`] |
//! | §2 | `M_{x̂↔ŷ}` swaps and annihilates, limits at θ = 0, π | [`swap_matrix_swaps_the_directions_and_kills_the_complement`], [`swap_matrix_limits_for_parallel_vectors`], [`q_and_phi_limits_and_continuity_at_zero_and_pi`] |
//! | §2 | `κ(θ) = ⟨ẑ, Φ ŵ⟩`, `⟨x̂, Q ŷ⟩ = cos g(θ)/2`, symmetry | [`kappa_and_angle_map_are_the_scalar_forms_of_phi_and_q`] |
//! | §2 | `E[W_{+,x}ᵀ W_{+,y}] = Q`, `E[A_zᵀ A_w] = Φ` (Monte Carlo) | [`q_matrix_is_the_mean_of_the_active_gram_matrix`], [`phi_matrix_is_the_mean_of_the_signed_gram_matrix`] |
//! | §4 | `h(x0) = 0`, `h(−ρ_d x0) = 0` | [`expected_gradient_vanishes_at_truth_and_at_the_negative_point`] |
//! | §4 | `h = ∇F` (finite differences, proptest) | [`expected_gradient_is_the_gradient_of_the_expected_objective`] |
//! | §4 | `F(x0) = 0`, `F(0)`, minimum of `F` on the ray `−r x0` | [`expected_objective_at_truth_origin_and_on_the_negative_ray`] |

use std::f64::consts::PI;

use dpr_audit::core::expected::{
    angle_map, angle_sequence, expected_gradient, expected_objective, kappa, phi_matrix, q_matrix, rho_cs, rho_pr,
    swap_matrix, theta_check, xi, zeta,
};
use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::core::vector::{angle, dot, norm, scale, unit};
use dpr_audit::rng::{Stream, stream};
use faer::Mat;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Master seed of every random draw in this file (fixed: the tests are deterministic).
const SEED: u64 = 20_180_704;

/// Tolerances, each with the reason for its size.
mod tol {
    /// The §3 table is printed with 10 decimals: rounding ≤ 5e-11, float error far below.
    pub const TABLE: f64 = 1e-9;
    /// `h` at its zeros, per unit of `‖x0‖`: docs/THEORY.md §9 saw 4e-16; 1e-12 leaves room for
    /// rounding in `α`, `ρ_d` and the angle, while a wrong coefficient gives O(0.1).
    pub const CRITICAL_POINT: f64 = 1e-12;
    /// `‖∇_FD F − h‖` in units of `2^{−d} max(‖x‖, ‖x0‖)`: central differences with the step
    /// below err by ~1e-10 (docs/THEORY.md §9 saw 9e-10); a defect in `h` is O(1).
    pub const GRADIENT_FD: f64 = 1e-6;
    /// Relative central-difference step. The truncation error is ~δ²|F'''|/6 and the
    /// rounding error ~ε_F/δ with ε_F a few ulps of `F` (amplified by the `acos` chain);
    /// they balance near δ = (3 ε_F/|F'''|)^{1/3} ≈ 1e-5 for `‖x‖ ~ 1`, so both stay ~1e-10.
    pub const FD_STEP: f64 = 1e-5;
    /// `cos θ̄_d = ξ_d cos θ̄_0 + ζ_d`: a sum of ≤ 11 terms each O(1), a few ulps each
    /// (docs/THEORY.md §9 saw 2e-16).
    pub const COS_IDENTITY: f64 = 1e-14;
    /// Matrix identities of `M`, `Q`, `Φ` at generic angles: products of unit vectors and
    /// trigonometric values, O(10) roundings of O(1) numbers.
    pub const MATRIX: f64 = 1e-13;
    /// Near θ = 0 or π, `u_2 = (ŷ − cos θ x̂)/sin θ` divides a rounding error ~ε by `sin θ`;
    /// `M` is then accurate to about this many ulps divided by `sin θ`.
    pub const MATRIX_NEAR_LIMIT_ULPS: f64 = 64.0;
    /// Monte Carlo: standard errors allowed between a sample mean and its expectation.
    /// Under the CLT, P(|Z| > 6) ≈ 1.97e-9 per entry; over the 125 entries checked here
    /// (5 angles × (9 + 16)) the chance of a false alarm is below 3e-7 (and with fixed seeds a pass stays a pass):
    /// a failure means the mean is not the closed form, i.e. a defect, not bad luck.
    pub const MC_STANDARD_ERRORS: f64 = 6.0;
    /// `F(x0) = 0` and the other exact values of `F`, relative to `‖x0‖²/2^d`.
    pub const OBJECTIVE: f64 = 1e-14;
    /// Argmin of golden-section search on a quadratic: the function is flat to ~ε near its
    /// minimum, so the argmin is only resolved to ~√ε ≈ 1.5e-8 (relative to `‖x0‖`).
    pub const ARGMIN: f64 = 1e-6;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A vector of `k` iid `N(0, 1)` entries.
fn gaussian_vec<R: Rng + ?Sized>(rng: &mut R, k: usize) -> Vec<f64> {
    (0..k).map(|_| StandardNormal.sample(rng)).collect()
}

/// Orthonormal `(u1, u2)` in `R^k` (k ≥ 2) in a random generic orientation.
fn orthonormal_pair<R: Rng + ?Sized>(rng: &mut R, k: usize) -> (Vec<f64>, Vec<f64>) {
    let u1 = unit(&gaussian_vec(rng, k));
    let v = gaussian_vec(rng, k);
    let c = dot(&v, &u1);
    let u2 = unit(&v.iter().zip(&u1).map(|(vi, ui)| vi - c * ui).collect::<Vec<_>>());
    (u1, u2)
}

/// `x = rx u1`, `y = ry (cos θ u1 + sin θ u2)`: a pair at angle `θ` (exact up to rounding).
fn pair_at_angle<R: Rng + ?Sized>(rng: &mut R, k: usize, theta: f64, rx: f64, ry: f64) -> (Vec<f64>, Vec<f64>) {
    let (u1, u2) = orthonormal_pair(rng, k);
    let (s, c) = theta.sin_cos();
    let x = scale(rx, &u1);
    let y = u1.iter().zip(&u2).map(|(a, b)| ry * (c * a + s * b)).collect();
    (x, y)
}

/// A random vector orthogonal to `span(a, b)` (`a`, `b` orthonormal).
fn orthogonal_to<R: Rng + ?Sized>(rng: &mut R, a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut v = gaussian_vec(rng, a.len());
    for basis in [a, b] {
        let c = dot(&v, basis);
        v.iter_mut().zip(basis).for_each(|(vi, bi)| *vi -= c * bi);
    }
    unit(&v)
}

/// `M v`.
fn mat_vec(m: &Mat<f64>, v: &[f64]) -> Vec<f64> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)] * v[j]).sum())
        .collect()
}

/// `max_i |a_i − b_i|`.
fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// `max_{ij} |A_ij − B_ij|`.
fn max_abs_diff_mat(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let mut worst = 0.0f64;
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            worst = worst.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    worst
}

/// `max_{ij} |A_ij − A_ji|`.
fn asymmetry(a: &Mat<f64>) -> f64 {
    max_abs_diff_mat(a, &a.transpose().to_owned())
}

/// `a I + b u uᵀ` (`k × k`).
fn identity_plus_outer(a: f64, b: f64, u: &[f64]) -> Mat<f64> {
    Mat::from_fn(u.len(), u.len(), |i, j| b * u[i] * u[j] + if i == j { a } else { 0.0 })
}

// ---------------------------------------------------------------------------------------------
// §3: the angle sequence, ρ_d and the cos identity
// ---------------------------------------------------------------------------------------------

/// docs/THEORY.md §3 table, copied verbatim: `(d, θ̌_d, ρ_d^{CS}, ρ_d)`.
#[allow(
    clippy::approx_constant,
    reason = "verbatim 10-decimal literals of docs/THEORY.md §3 (π/2, 1/π, 2/π among them): the reference, not a computation"
)]
const THEORY_TABLE: [(usize, f64, f64, f64); 10] = [
    (1, 1.5707963268, 0.0000000000, 0.6366197724),
    (2, 1.2468502199, 0.3183098862, 0.6691522942),
    (3, 1.0544212640, 0.4937310902, 0.7159203500),
    (4, 0.9212493238, 0.6048257201, 0.7570813466),
    (5, 0.8217324188, 0.6809535334, 0.7909391679),
    (6, 0.7437329288, 0.7359463506, 0.8185110478),
    (7, 0.6805469260, 0.7772286992, 0.8410674038),
    (8, 0.6280955288, 0.8091480515, 0.8596845537),
    (9, 0.5837234753, 0.8344163026, 0.8752021725),
    (10, 0.5456131971, 0.8548092375, 0.8882617945),
];

/// `θ̌_d`, `ρ_d^{CS}` and `ρ_d` reproduce the docs/THEORY.md §3 table for d = 1..10.
#[test]
fn rho_and_theta_check_match_the_theory_table() {
    assert!((theta_check(0) - PI).abs() < tol::TABLE, "θ̌_0 must be π");
    for &(d, theta, cs, pr) in &THEORY_TABLE {
        let got = (theta_check(d), rho_cs(d), rho_pr(d));
        assert!((got.0 - theta).abs() < tol::TABLE, "θ̌_{d}: {} vs table {theta}", got.0);
        assert!((got.1 - cs).abs() < tol::TABLE, "ρ_{d}^CS: {} vs table {cs}", got.1);
        assert!((got.2 - pr).abs() < tol::TABLE, "ρ_{d}: {} vs table {pr}", got.2);
    }
}

/// Checks `cos θ̄_d = ξ_d cos θ̄_0 + ζ_d` for one `θ̄_0` and every d = 0..=10.
fn check_cos_identity(theta0: f64) {
    for d in 0..=10 {
        let t = angle_sequence(theta0, d);
        assert_eq!(t.len(), d + 1, "angle_sequence({theta0}, {d}) has d + 1 entries");
        assert_eq!(t[0].to_bits(), theta0.to_bits(), "the sequence starts at θ̄_0 itself");
        let lhs = t[d].cos();
        let rhs = xi(&t, d) * theta0.cos() + zeta(&t, d);
        assert!(
            (lhs - rhs).abs() < tol::COS_IDENTITY,
            "θ̄_0 = {theta0}, d = {d}: cos θ̄_d = {lhs} but ξ cos θ̄_0 + ζ = {rhs}"
        );
    }
}

/// The §3 identity on a grid of 2001 angles covering `[0, π]`, endpoints included.
#[test]
fn cos_identity_holds_on_a_grid_of_angles() {
    let n = 2000;
    for i in 0..=n {
        check_cos_identity(PI * i as f64 / n as f64);
    }
    // Each step is g: cos θ̄_1 = ((π − θ̄_0) cos θ̄_0 + sin θ̄_0)/π.
    for theta0 in [0.0, 0.3, PI / 2.0, 2.5, PI] {
        let expected = ((PI - theta0) * theta0.cos() + theta0.sin()) / PI;
        assert!((angle_map(theta0).cos() - expected).abs() < tol::COS_IDENTITY);
    }
}

/// Fixed-seed proptest configuration: deterministic cases, no regression files written.
fn proptest_config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(proptest_config(512))]

    /// The §3 identity at random angles in `[0, π]`.
    #[test]
    fn cos_identity_holds_at_random_angles(theta0 in 0.0..=PI) {
        check_cos_identity(theta0);
    }
}

// ---------------------------------------------------------------------------------------------
// §2: M, Q, Φ and κ
// ---------------------------------------------------------------------------------------------

/// `M_{x̂↔ŷ}` sends `x̂ ↦ ŷ`, `ŷ ↦ x̂`, kills `span(x̂, ŷ)^⊥`, and is symmetric; at generic
/// angles to [`tol::MATRIX`], near 0 and π to the accuracy its formula allows.
#[test]
fn swap_matrix_swaps_the_directions_and_kills_the_complement() {
    let mut rng = stream(SEED, "test-theory-swap", 0, Stream::Probe);
    let generic = [0.1, 0.7, PI / 2.0, 2.0, 3.0];
    let near_limits = [1e-9, 1e-6, 1e-3, PI - 1e-3, PI - 1e-6, PI - 1e-9];
    for k in [2, 3, 5, 8] {
        for &theta in generic.iter().chain(&near_limits) {
            let (x, y) = pair_at_angle(&mut rng, k, theta, 0.7, 3.1);
            let (xh, yh) = (unit(&x), unit(&y));
            let tolerance = tol::MATRIX + tol::MATRIX_NEAR_LIMIT_ULPS * f64::EPSILON / theta.sin();
            let m = swap_matrix(&x, &y);
            assert_eq!((m.nrows(), m.ncols()), (k, k));
            let e1 = max_abs_diff(&mat_vec(&m, &xh), &yh);
            let e2 = max_abs_diff(&mat_vec(&m, &yh), &xh);
            assert!(e1 < tolerance, "k = {k}, θ = {theta}: ‖M x̂ − ŷ‖∞ = {e1:e}");
            assert!(e2 < tolerance, "k = {k}, θ = {theta}: ‖M ŷ − x̂‖∞ = {e2:e}");
            assert!(asymmetry(&m) < tol::MATRIX, "k = {k}, θ = {theta}: M not symmetric");
            if k > 2 {
                // An orthonormal basis of span(x̂, ŷ) is (x̂, u2).
                let s = theta.sin();
                let u2: Vec<f64> = yh.iter().zip(&xh).map(|(b, a)| (b - theta.cos() * a) / s).collect();
                let u2 = unit(&u2);
                for _ in 0..3 {
                    let v = orthogonal_to(&mut rng, &xh, &u2);
                    let mv = norm(&mat_vec(&m, &v));
                    assert!(mv < tolerance, "k = {k}, θ = {theta}: ‖M v‖ = {mv:e} for v ⊥ x̂, ŷ");
                }
            }
        }
    }
}

/// Exactly parallel pairs `(x, c x)` drawn at random, with `c` of both signs.
fn parallel_pairs() -> Vec<(Vec<f64>, Vec<f64>, f64)> {
    let mut rng = stream(SEED, "test-theory-limits", 0, Stream::Probe);
    let mut out = Vec::new();
    for k in [2, 3, 5, 8] {
        for _ in 0..25 {
            let x = scale(0.1 + 5.0 * rng.random::<f64>(), &unit(&gaussian_vec(&mut rng, k)));
            for c in [2.5, 1.0, 0.3, -0.4, -1.0, -3.0] {
                out.push((x.clone(), scale(c, &x), c));
            }
        }
    }
    out
}

/// The limits of docs/THEORY.md §2 for `y = c x`: `M_{x̂↔ŷ} = x̂x̂ᵀ` when c > 0 (θ = 0) and
/// `−x̂x̂ᵀ` when c < 0 (θ = π). The computed angle of such a pair is often a few ulps away
/// from 0 or π rather than exactly 0 or π; the limit must still be returned.
#[test]
fn swap_matrix_limits_for_parallel_vectors() {
    let pairs = parallel_pairs();
    let failures: Vec<String> = pairs
        .iter()
        .filter_map(|(x, y, c)| {
            let expected = identity_plus_outer(0.0, c.signum(), &unit(x));
            let e = max_abs_diff_mat(&swap_matrix(x, y), &expected);
            (e >= tol::MATRIX)
                .then(|| format!("k = {}, c = {c}, computed θ = {:e}: off by {e:e}", x.len(), angle(x, y)))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "M_{{x̂↔ŷ}} misses its θ = 0 / π limit for {} of {} parallel pairs, e.g. {:?}",
        failures.len(),
        pairs.len(),
        &failures[..failures.len().min(5)]
    );
}

/// `Q(x, cx)` is `I/2` (c > 0) and `0` (c < 0), `Φ(z, cz)` is `±I`, `Φ = 0` at a zero
/// argument; and `Q`, `Φ` are continuous at θ = 0 and π (their `M` term carries `sin θ`).
#[test]
fn q_and_phi_limits_and_continuity_at_zero_and_pi() {
    for (x, y, c) in parallel_pairs() {
        let k = x.len();
        let q_expected = identity_plus_outer(if c > 0.0 { 0.5 } else { 0.0 }, 0.0, &x);
        let phi_expected = identity_plus_outer(c.signum(), 0.0, &x);
        let e = max_abs_diff_mat(&q_matrix(&x, &y), &q_expected);
        assert!(e < tol::MATRIX, "k = {k}, c = {c}: Q limit off by {e:e}");
        let e = max_abs_diff_mat(&phi_matrix(&x, &y), &phi_expected);
        assert!(e < tol::MATRIX, "k = {k}, c = {c}: Φ limit off by {e:e}");
    }
    let mut rng = stream(SEED, "test-theory-limits", 1, Stream::Probe);
    for k in [2, 3, 6] {
        let x = scale(1.7, &unit(&gaussian_vec(&mut rng, k)));
        let zero = vec![0.0; k];
        for (z, w) in [(&zero, &x), (&x, &zero)] {
            let e = max_abs_diff_mat(&phi_matrix(z, w), &Mat::zeros(k, k));
            assert!(
                e < tol::MATRIX,
                "k = {k}: Φ must be 0 when an argument is 0, off by {e:e}"
            );
        }

        // Continuity: ‖Q(θ) − Q(0)‖ ≤ θ/π and ‖Φ(θ) − Φ(0)‖ ≤ 4θ/π entrywise (same at π).
        for delta in [1e-12, 1e-9, 1e-6, 1e-3] {
            // (θ, Q at the limit = q I, Φ at the limit = φ I)
            for (theta, q_limit, phi_limit) in [(delta, 0.5, 1.0), (PI - delta, 0.0, -1.0)] {
                let (a, b) = pair_at_angle(&mut rng, k, theta, 1.3, 0.8);
                let q_at_limit = identity_plus_outer(q_limit, 0.0, &a);
                let phi_at_limit = identity_plus_outer(phi_limit, 0.0, &a);
                let eq = max_abs_diff_mat(&q_matrix(&a, &b), &q_at_limit);
                let ephi = max_abs_diff_mat(&phi_matrix(&a, &b), &phi_at_limit);
                assert!(eq <= delta / PI + tol::MATRIX, "Q jumps near θ = {theta}: {eq:e}");
                assert!(
                    ephi <= 4.0 * delta / PI + tol::MATRIX,
                    "Φ jumps near θ = {theta}: {ephi:e}"
                );
            }
        }
    }
}

/// `⟨ẑ, Φ_{z,w} ŵ⟩ = κ(θ)` and `⟨x̂, Q_{x,y} ŷ⟩ = cos g(θ)/2` (so `E⟨relu(Wx), relu(Wy)⟩`
/// has angle `g(θ)`); `Q` and `Φ` are symmetric. Random pairs of several dimensions and norms.
#[test]
fn kappa_and_angle_map_are_the_scalar_forms_of_phi_and_q() {
    let mut rng = stream(SEED, "test-theory-kappa", 0, Stream::Probe);
    let angles = (0..=40).map(|i| PI * f64::from(i) / 40.0).chain([1e-7, PI - 1e-7]);
    for theta in angles {
        for k in [2, 3, 7] {
            let rx = 0.2 + 3.0 * rng.random::<f64>();
            let ry = 0.2 + 3.0 * rng.random::<f64>();
            let (z, w) = pair_at_angle(&mut rng, k, theta, rx, ry);
            let (zh, wh) = (unit(&z), unit(&w));
            let phi = phi_matrix(&z, &w);
            let q = q_matrix(&z, &w);
            let phi_scalar = dot(&zh, &mat_vec(&phi, &wh));
            let q_scalar = dot(&zh, &mat_vec(&q, &wh));
            assert!(
                (phi_scalar - kappa(theta)).abs() < tol::MATRIX,
                "θ = {theta}, k = {k}: ⟨ẑ, Φŵ⟩ = {phi_scalar}, κ = {}",
                kappa(theta)
            );
            assert!(
                (q_scalar - 0.5 * angle_map(theta).cos()).abs() < tol::MATRIX,
                "θ = {theta}, k = {k}: ⟨x̂, Qŷ⟩ = {q_scalar}, cos g(θ)/2 = {}",
                0.5 * angle_map(theta).cos()
            );
            assert!(asymmetry(&phi) < tol::MATRIX, "Φ not symmetric at θ = {theta}");
            assert!(asymmetry(&q) < tol::MATRIX, "Q not symmetric at θ = {theta}");
        }
    }
    // κ(θ) = E|⟨a, ẑ⟩||⟨a, ŵ⟩| ≥ 0 (times m): 1 at both θ = 0 and θ = π, 2/π at π/2.
    for (theta, expected) in [(0.0, 1.0), (PI / 2.0, 2.0 / PI), (PI, 1.0)] {
        assert!(
            (kappa(theta) - expected).abs() < tol::MATRIX,
            "κ({theta}) = {}",
            kappa(theta)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// §2: Monte Carlo means of W_{+,x}ᵀ W_{+,y} and A_zᵀ A_w
// ---------------------------------------------------------------------------------------------

/// Angles of the Monte Carlo checks: near 0, generic, π/2, near π.
const MC_ANGLES: [f64; 5] = [0.05, 1.0, PI / 2.0, 2.3, PI - 0.05];
/// Independent replicates (one fresh `W` or `A` each) per angle.
const MC_REPLICATES: u64 = 2000;
/// Rows of `W` (= n) and of `A` (= m) per replicate: 2000 × 500 = 10⁶ rows per angle.
const MC_ROWS: usize = 500;

/// Entrywise sample mean and standard error of the mean over replicate `k × k` matrices.
fn mean_and_standard_error(replicates: &[Mat<f64>]) -> (Mat<f64>, Mat<f64>) {
    let (k, r) = (replicates[0].nrows(), replicates.len() as f64);
    let mean = Mat::from_fn(k, k, |i, j| replicates.iter().map(|m| m[(i, j)]).sum::<f64>() / r);
    let se = Mat::from_fn(k, k, |i, j| {
        let var = replicates
            .iter()
            .map(|m| (m[(i, j)] - mean[(i, j)]).powi(2))
            .sum::<f64>()
            / (r - 1.0);
        (var / r).sqrt()
    });
    (mean, se)
}

/// Asserts `|mean − expected| ≤ 6 SE` entrywise (see [`tol::MC_STANDARD_ERRORS`]).
fn assert_within_standard_errors(name: &str, theta: f64, mean: &Mat<f64>, se: &Mat<f64>, expected: &Mat<f64>) {
    for i in 0..mean.nrows() {
        for j in 0..mean.ncols() {
            let z = (mean[(i, j)] - expected[(i, j)]).abs() / se[(i, j)];
            assert!(
                z <= tol::MC_STANDARD_ERRORS,
                "{name} at θ = {theta}, entry ({i},{j}): mean {} vs closed form {} ({z:.1} SE, SE {:e})",
                mean[(i, j)],
                expected[(i, j)],
                se[(i, j)]
            );
        }
    }
}

/// `E[W_{+,x}ᵀ W_{+,y}] = Q_{x,y}` for `W ∈ R^{n×k}` iid `N(0, 1/n)`, with
/// `W_{+,x}ᵀ W_{+,y} = Σ_r w_r w_rᵀ 1[w_r·x > 0] 1[w_r·y > 0]` and the masks read from
/// `Network::forward(x).pre[0]`.
#[test]
fn q_matrix_is_the_mean_of_the_active_gram_matrix() {
    let k = 3;
    for (a, &theta) in MC_ANGLES.iter().enumerate() {
        let mut probe = stream(SEED, "test-theory-wdc-mean", a as u64, Stream::Probe);
        let (x, y) = pair_at_angle(&mut probe, k, theta, 1.4, 0.6);
        let replicates: Vec<Mat<f64>> = (0..MC_REPLICATES)
            .map(|rep| {
                let trial = ((a as u64) << 32) | rep;
                let mut rng = stream(SEED, "test-theory-wdc-mean", trial, Stream::Network);
                let net = Network::gaussian(&[k, MC_ROWS], WeightScale::Normalized, &mut rng);
                let (px, py) = (&net.forward(&x).pre[0], &net.forward(&y).pre[0]);
                let w = &net.layers()[0].weight;
                let mut gram = Mat::<f64>::zeros(k, k);
                for r in (0..MC_ROWS).filter(|&r| px[r] > 0.0 && py[r] > 0.0) {
                    for i in 0..k {
                        for j in 0..k {
                            gram[(i, j)] += w[(r, i)] * w[(r, j)];
                        }
                    }
                }
                gram
            })
            .collect();
        let (mean, se) = mean_and_standard_error(&replicates);
        assert_within_standard_errors("W_{+,x}ᵀW_{+,y}", theta, &mean, &se, &q_matrix(&x, &y));
    }
}

/// `E[A_zᵀ A_w] = Φ_{z,w}` for `A ∈ R^{m×n}` iid `N(0, 1/m)`, `A_z = diag(sgn(Az)) A`.
#[test]
fn phi_matrix_is_the_mean_of_the_signed_gram_matrix() {
    let n = 4;
    for (a, &theta) in MC_ANGLES.iter().enumerate() {
        let mut probe = stream(SEED, "test-theory-rrcp-mean", a as u64, Stream::Probe);
        let (z, w) = pair_at_angle(&mut probe, n, theta, 0.9, 2.2);
        let replicates: Vec<Mat<f64>> = (0..MC_REPLICATES)
            .map(|rep| {
                let trial = ((a as u64) << 32) | rep;
                let mut rng = stream(SEED, "test-theory-rrcp-mean", trial, Stream::Measurements);
                let meas = Measurements::gaussian(MC_ROWS, n, MeasurementScale::Normalized, &mut rng);
                let (az, aw) = (meas.signed(&z), meas.signed(&w));
                Mat::from_fn(n, n, |i, j| (0..MC_ROWS).map(|r| az[(r, i)] * aw[(r, j)]).sum())
            })
            .collect();
        let (mean, se) = mean_and_standard_error(&replicates);
        assert_within_standard_errors("A_zᵀA_w", theta, &mean, &se, &phi_matrix(&z, &w));
    }
}

// ---------------------------------------------------------------------------------------------
// §4: the expected gradient h and the expected objective F
// ---------------------------------------------------------------------------------------------

/// Truth vectors of dimensions 2 and 5 and norms from 0.5 to 7.
fn truths() -> Vec<Vec<f64>> {
    let mut rng = stream(SEED, "test-theory-truths", 0, Stream::Truth);
    let mut out = vec![vec![0.6, -0.8], vec![3.0, 4.0], vec![-0.05, 0.3]];
    for r in [0.5, 1.0, 7.0] {
        out.push(scale(r, &unit(&gaussian_vec(&mut rng, 5))));
    }
    out
}

/// `h(x0, x0) = 0` and `h(−ρ_d x0, x0) = 0` for d = 1..10 (docs/THEORY.md §4).
#[test]
fn expected_gradient_vanishes_at_truth_and_at_the_negative_point() {
    for x0 in truths() {
        let r0 = norm(&x0);
        for d in 1..=10 {
            let at_truth = expected_gradient(&x0, &x0, d).expect("x0 ≠ 0");
            let e = norm(&at_truth);
            assert!(e < tol::CRITICAL_POINT * r0, "d = {d}, x0 = {x0:?}: ‖h(x0)‖ = {e:e}");
            let negative = scale(-rho_pr(d), &x0);
            let at_negative = expected_gradient(&negative, &x0, d).expect("x ≠ 0");
            let e = norm(&at_negative);
            assert!(
                e < tol::CRITICAL_POINT * r0,
                "d = {d}, x0 = {x0:?}: ‖h(−ρ_d x0)‖ = {e:e}"
            );
            // Not vacuous: h is not zero nearby on the same ray.
            let off = expected_gradient(&scale(-0.5 * rho_pr(d), &x0), &x0, d).expect("x ≠ 0");
            assert!(norm(&off) > 1e-3 * r0 * 0.5f64.powi(d as i32), "h vanishes off −ρ_d x0");
        }
    }
    assert!(
        expected_gradient(&[0.0, 0.0], &[1.0, 0.0], 2).is_none(),
        "h is undefined at 0"
    );
}

/// Central finite-difference gradient of `F(·; x0, d)` at `x` with step `δ`.
fn finite_difference_gradient(x: &[f64], x0: &[f64], d: usize, step: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let (mut plus, mut minus) = (x.to_vec(), x.to_vec());
            plus[i] += step;
            minus[i] -= step;
            (expected_objective(&plus, x0, d) - expected_objective(&minus, x0, d)) / (2.0 * step)
        })
        .collect()
}

/// A pair `(x, x0)` of equal dimension 2..=5 with entries in [−2, 2].
fn latent_pair() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (2usize..=5).prop_flat_map(|k| {
        (
            prop::collection::vec(-2.0f64..2.0, k),
            prop::collection::vec(-2.0f64..2.0, k),
        )
    })
}

proptest! {
    #![proptest_config(proptest_config(384))]

    /// `h = ∇F` at generic points (not near 0, not near the `x0` axis), d = 1..6.
    #[test]
    fn expected_gradient_is_the_gradient_of_the_expected_objective(
        (x, x0) in latent_pair(),
        d in 1usize..=6,
    ) {
        let (r, r0) = (norm(&x), norm(&x0));
        prop_assume!(r > 0.3 && r0 > 0.3);
        let theta = angle(&x, &x0);
        prop_assume!(theta > 0.1 && theta < PI - 0.1);
        let h = expected_gradient(&x, &x0, d).expect("x ≠ 0");
        let fd = finite_difference_gradient(&x, &x0, d, tol::FD_STEP * r);
        let unit_size = 0.5f64.powi(d as i32) * r.max(r0);
        let err = norm(&h.iter().zip(&fd).map(|(a, b)| a - b).collect::<Vec<_>>()) / unit_size;
        prop_assert!(
            err < tol::GRADIENT_FD,
            "d = {}, x = {:?}, x0 = {:?}: h = {:?}, finite differences = {:?} (error {:e})",
            d, x, x0, h, fd, err
        );
    }
}

/// Golden-section search for the minimiser of a unimodal `f` on `[lo, hi]`.
fn golden_section_argmin(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo));
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..200 {
        if fa < fb {
            hi = b;
            (b, fb) = (a, fa);
            a = hi - inv_phi * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            (a, fa) = (b, fb);
            b = lo + inv_phi * (hi - lo);
            fb = f(b);
        }
    }
    0.5 * (lo + hi)
}

/// `F(x0) = 0`; `F(0) = ‖x0‖²/2^{d+1}` and it is a local maximum; along `−r x0`, `F` is
/// minimised at `r = ρ_d ‖x0‖` with value `(1 − ρ_d²) ‖x0‖²/2^{d+1}` (docs/THEORY.md §4).
#[test]
fn expected_objective_at_truth_origin_and_on_the_negative_ray() {
    let mut rng = stream(SEED, "test-theory-objective", 0, Stream::Probe);
    for x0 in truths() {
        let (k, r0) = (x0.len(), norm(&x0));
        for d in 1..=10 {
            let unit_value = r0 * r0 * 0.5f64.powi(d as i32);
            let f = |x: &[f64]| expected_objective(x, &x0, d);

            let at_truth = f(&x0);
            assert!(
                at_truth.abs() < tol::OBJECTIVE * unit_value,
                "d = {d}: F(x0) = {at_truth:e}"
            );

            let origin = f(&vec![0.0; k]);
            let expected = 0.5 * unit_value;
            assert!(
                (origin - expected).abs() < tol::OBJECTIVE * unit_value,
                "d = {d}: F(0) = {origin}, expected ‖x0‖²/2^(d+1) = {expected}"
            );
            for _ in 0..4 {
                let u = scale(1e-3 * r0, &unit(&gaussian_vec(&mut rng, k)));
                assert!(f(&u) < origin, "d = {d}: F(0) is not a local maximum along {u:?}");
            }

            let rho = rho_pr(d);
            let on_ray = |r: f64| f(&scale(-r, &unit(&x0)));
            let r_min = golden_section_argmin(on_ray, 0.0, 2.0 * r0);
            assert!(
                (r_min - rho * r0).abs() < tol::ARGMIN * r0,
                "d = {d}: F(−r x̂0) minimised at r = {r_min}, expected ρ_d ‖x0‖ = {}",
                rho * r0
            );
            let expected_min = (1.0 - rho * rho) * 0.5 * unit_value;
            for value in [on_ray(r_min), on_ray(rho * r0)] {
                assert!(
                    (value - expected_min).abs() < tol::OBJECTIVE * unit_value,
                    "d = {d}: min of F on the ray = {value}, expected (1 − ρ_d²)‖x0‖²/2^(d+1) = {expected_min}"
                );
            }
            assert!(expected_min > 0.0, "the negative point must not be a global minimum");
        }
    }
}
