//! The objective `f(x) = ½ ‖|A G(x)| − b‖²`, its descent direction `v_{x,x0}` and the exact
//! one-sided directional derivative `D_u f` (docs/THEORY.md §1), and the network products they rest
//! on (`G`, `Λ_x`, `jvp`, `vjp`, batches) and `A_z`.
//!
//! Every test compares the library with something computed independently of the code under
//! test — finite differences of `f`, a hand-built `Λ_x`, a closed form — so each can fail for a
//! real defect. The kink tests build networks whose pre-activation or measurement is exactly
//! `0.0` in floating point, assert that it is, and assert that no other kink is nearby, so they
//! check the kink rule they name and nothing else.

use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Activation, Layer, Network, WeightScale};
use dpr_audit::core::objective::Problem;
use dpr_audit::core::vector::{axpy, dot, norm, scale, sub};
use dpr_audit::rng::{Stream, stream};
use faer::Mat;
use rand_distr::{Distribution, StandardNormal};

/// Master seed of every random instance in this file (fixed: the tests are deterministic).
const SEED: u64 = 1_807_042_610;
/// Experiment name of this file's random streams.
const EXPERIMENT: &str = "tests-objective";

/// Step of the central differences at generic points of a ReLU network. On each linear piece
/// of `G` (fixed activation pattern and measurement signs) `f` is exactly quadratic, so a
/// central difference has no truncation error; what is left is rounding, about `ε f / h ≈
/// 2e-10 f`, far below `GRADIENT_TOL`. A small step keeps the stencil inside one piece (asserted).
const RELU_FD_STEP: f64 = 1e-6;
/// Step of the central differences of a smooth (softplus/sigmoid) network: it balances the
/// truncation error `h² f'''/6 ≈ 2e-11` against rounding `ε f / h ≈ 2e-11`.
const SMOOTH_FD_STEP: f64 = 1e-5;
/// `‖v − ∇_FD f‖ / ‖v‖`: both error sources above are below 1e-9, so 1e-6 leaves a wide margin
/// while any wrong sign, mask or missing factor gives O(1).
const GRADIENT_TOL: f64 = 1e-6;
/// Step of the one-sided differences `(f(x+tu) − f(x))/t`.
const ONE_SIDED_STEP: f64 = 1e-7;
/// Relative error allowed between `D_u f` and the one-sided difference. For small `t > 0` the
/// path `x + tu` stays in one piece, where `f(x+tu) = f(x) + t D_u f + t² q` exactly, so the
/// error is `t |q| / |D_u f| ≈ 1e-7 · O(10)` plus rounding `ε f / t ≈ 2e-9`.
const ONE_SIDED_TOL: f64 = 1e-5;
/// How far `⟨v, u⟩` must miss `D_u f` at a kink (relative): a hundred times `ONE_SIDED_TOL` and
/// far above rounding, so a gap this size is the kink, not noise.
const KINK_GAP: f64 = 1e-2;
/// Every pre-activation and measurement other than the constructed kink stays at least this far
/// from zero, so steps of size `ONE_SIDED_STEP · O(1)` cannot cross another kink.
const KINK_MARGIN: f64 = 1e-3;
/// Identities that hold exactly in real arithmetic and differ only by the order of a few
/// hundred floating-point sums (batch vs single, `Λ_x x` vs `G(x)`, adjointness): rounding is
/// `≈ ε · width ≈ 1e-14`, so 1e-12 relative is tight yet safe.
const EXACT_TOL: f64 = 1e-12;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn gaussian_vec<R: rand::Rng + ?Sized>(len: usize, rng: &mut R) -> Vec<f64> {
    (0..len).map(|_| StandardNormal.sample(rng)).collect()
}

/// A dense matrix from literal rows.
fn mat(rows: &[&[f64]]) -> Mat<f64> {
    Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

/// A bias-free ReLU layer from literal rows.
fn relu_layer(rows: &[&[f64]]) -> Layer {
    Layer {
        weight: mat(rows),
        bias: None,
        activation: Activation::Relu,
    }
}

/// A random bias-free ReLU problem with `N(0, 1/n_i)` weights, `N(0, 1/m)` measurements and a
/// Gaussian truth; `trial` selects independent streams.
fn random_problem(widths: &[usize], m: usize, trial: u64) -> Problem {
    let net = Network::gaussian(
        widths,
        WeightScale::Normalized,
        &mut stream(SEED, EXPERIMENT, trial, Stream::Network),
    );
    let n = widths[widths.len() - 1];
    let meas = Measurements::gaussian(
        m,
        n,
        MeasurementScale::Normalized,
        &mut stream(SEED, EXPERIMENT, trial, Stream::Measurements),
    );
    let x0 = gaussian_vec(widths[0], &mut stream(SEED, EXPERIMENT, trial, Stream::Truth));
    Problem::noiseless(net, meas, &x0)
}

/// `‖a − b‖ / ‖b‖`.
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    norm(&sub(a, b)) / norm(b)
}

fn unit_vector(k: usize, i: usize) -> Vec<f64> {
    let mut e = vec![0.0; k];
    e[i] = 1.0;
    e
}

/// Central differences of `Problem::value` along each coordinate.
fn central_difference(p: &Problem, x: &[f64], h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let e = unit_vector(x.len(), i);
            (p.value(&axpy(x, h, &e)) - p.value(&axpy(x, -h, &e))) / (2.0 * h)
        })
        .collect()
}

/// `(f(x + t u) − f(x)) / t`.
fn one_sided_difference(p: &Problem, x: &[f64], u: &[f64], t: f64) -> f64 {
    (p.value(&axpy(x, t, u)) - p.value(x)) / t
}

/// The quantities whose signs select the piece of `f`: every pre-activation of every layer,
/// then the measurements `c = A G(x)`, each with a label.
fn piece_values(p: &Problem, x: &[f64]) -> Vec<(String, f64)> {
    let trace = p.net.forward(x);
    let mut out = Vec::new();
    for (l, z) in trace.pre.iter().enumerate() {
        out.extend(
            z.iter()
                .enumerate()
                .map(|(j, &v)| (format!("layer {} unit {j}", l + 1), v)),
        );
    }
    let c = p.meas.apply(trace.output());
    out.extend(c.iter().enumerate().map(|(j, &v)| (format!("measurement {j}"), v)));
    out
}

/// The sign pattern of [`piece_values`]: equal patterns mean the same piece of `f`.
fn piece_signs(p: &Problem, x: &[f64]) -> Vec<i8> {
    piece_values(p, x)
        .iter()
        .map(|(_, v)| {
            if *v > 0.0 {
                1
            } else if *v < 0.0 {
                -1
            } else {
                0
            }
        })
        .collect()
}

/// Signs of the measurements `A G(x)`, the only kinks of `f` for a smooth network.
fn measurement_signs(p: &Problem, x: &[f64]) -> Vec<i8> {
    p.meas
        .apply(&p.net.generate(x))
        .iter()
        .map(|v| {
            if *v > 0.0 {
                1
            } else if *v < 0.0 {
                -1
            } else {
                0
            }
        })
        .collect()
}

/// Asserts that `x` is a kink of exactly the named kind: the named quantity is exactly `0.0`
/// (exact float comparison on purpose: this is what "kink" means) and every other one is at
/// least `KINK_MARGIN` away from zero.
fn assert_single_kink(p: &Problem, x: &[f64], expected: &str) {
    let values = piece_values(p, x);
    let zeros: Vec<&str> = values
        .iter()
        .filter(|(_, v)| *v == 0.0)
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(zeros, [expected], "the constructed point must have exactly one kink");
    let closest = values
        .iter()
        .filter(|(_, v)| *v != 0.0)
        .map(|(_, v)| v.abs())
        .fold(f64::INFINITY, f64::min);
    assert!(
        closest >= KINK_MARGIN,
        "another kink is {closest:e} away; the one-sided differences could cross it"
    );
}

/// Checks `D_u f` against the one-sided difference along `u` and `−u` and returns
/// `[(D_u f, ⟨v, u⟩), (D_{−u} f, ⟨v, −u⟩)]`.
fn check_one_sided(p: &Problem, x: &[f64], u: &[f64]) -> [(f64, f64); 2] {
    let v = p.evaluate(x).direction;
    [u.to_vec(), scale(-1.0, u)].map(|dir| {
        let exact = p.directional_derivative(x, &dir);
        let fd = one_sided_difference(p, x, &dir, ONE_SIDED_STEP);
        let err = (exact - fd).abs() / exact.abs();
        assert!(
            err <= ONE_SIDED_TOL,
            "D_u f = {exact:e} but (f(x+tu) - f(x))/t = {fd:e} (relative error {err:e}) for u = {dir:?}"
        );
        (exact, dot(&v, &dir))
    })
}

/// Relative gap `|⟨v,u⟩ − D_u f| / |D_u f|`.
fn gap((exact, linear): (f64, f64)) -> f64 {
    (linear - exact).abs() / exact.abs()
}

// ---------------------------------------------------------------------------------------------
// 1. v against central differences at generic points
// ---------------------------------------------------------------------------------------------

#[test]
fn direction_matches_central_differences_at_generic_points() {
    let widths = [5, 40, 60];
    for trial in 0..4 {
        let p = random_problem(&widths, 80, trial);
        let mut rng = stream(SEED, EXPERIMENT, trial, Stream::Probe);
        for _ in 0..3 {
            let x = gaussian_vec(widths[0], &mut rng);
            let signs = piece_signs(&p, &x);
            for i in 0..widths[0] {
                for h in [RELU_FD_STEP, -RELU_FD_STEP] {
                    let xi = axpy(&x, h, &unit_vector(widths[0], i));
                    assert_eq!(
                        piece_signs(&p, &xi),
                        signs,
                        "stencil left the linear piece (trial {trial}); change the seed"
                    );
                }
            }
            let eval = p.evaluate(&x);
            assert!(
                (eval.value - p.value(&x)).abs() <= EXACT_TOL * eval.value,
                "evaluate().value disagrees with value()"
            );
            assert!(
                eval.value > 0.0,
                "x must not be a global minimiser for this check to mean anything"
            );
            let fd = central_difference(&p, &x, RELU_FD_STEP);
            let err = rel_err(&eval.direction, &fd);
            assert!(
                err <= GRADIENT_TOL,
                "trial {trial}: ‖v − FD‖/‖v‖ = {err:e}\nv  = {:?}\nFD = {fd:?}",
                eval.direction
            );

            // Where f is differentiable, the exact one-sided derivative is ⟨v, u⟩.
            let u = gaussian_vec(widths[0], &mut rng);
            let exact = p.directional_derivative(&x, &u);
            let linear = dot(&eval.direction, &u);
            assert!(
                (exact - linear).abs() <= EXACT_TOL * norm(&eval.direction) * norm(&u),
                "D_u f = {exact:e} but ⟨v,u⟩ = {linear:e} at a smooth point"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Exact D_u f at constructed kinks
// ---------------------------------------------------------------------------------------------

/// The kink point of every constructed network.
const KINK_X: [f64; 3] = [1.0, 0.0, 0.0];
/// A generic truth (no kink at it matters; `b` only needs to be generic).
const KINK_X0: [f64; 3] = [-0.4, 1.0, 0.6];
/// A direction with a nonzero component along every constructed kink.
const KINK_U: [f64; 3] = [0.3, 0.8, -0.5];

/// A generic 4 × 5 measurement matrix (rows not orthogonal to the outputs of the networks below).
fn generic_measurements() -> Measurements {
    let a = mat(&[
        &[0.9, -0.4, 0.7, 0.3, -0.6],
        &[-0.5, 0.8, 0.2, -0.9, 0.4],
        &[0.3, 0.6, -0.8, 0.5, 0.7],
        &[0.7, 0.2, 0.4, -0.3, -0.8],
    ]);
    Measurements {
        a,
        scale: MeasurementScale::Normalized,
    }
}

/// (a) Layer-1 kink: row 1 of `W1` is `(0, 0.8, −0.5)`, so `(W1 x)_1 = 0` at `x = (1, 0, 0)`;
/// along `u` its pre-activation moves at rate `0.8·0.8 + 0.5·0.5 = 0.89 > 0`, along `−u` at `−0.89`.
#[test]
fn one_sided_derivative_at_layer_one_kink() {
    let net = Network::from_layers(vec![
        relu_layer(&[
            &[0.9, 0.4, -0.3],
            &[0.0, 0.8, -0.5],
            &[0.7, -0.6, 0.2],
            &[-0.6, 0.3, 0.9],
        ]),
        relu_layer(&[
            &[0.5, 1.1, -0.4, 0.3],
            &[-0.7, 0.9, 0.8, -0.2],
            &[0.6, -0.8, 0.5, 0.7],
            &[0.2, 1.3, 0.9, -0.5],
            &[0.8, 0.6, -0.3, 0.4],
        ]),
    ])
    .expect("valid layers");
    let p = Problem::noiseless(net, generic_measurements(), &KINK_X0);
    assert_single_kink(&p, &KINK_X, "layer 1 unit 1");

    assert_relu_kink(&p);
}

/// At a ReLU kink that switches on along `u`: `⟨v,u⟩` (which takes `relu'(0) = 0`) misses the
/// switch, along `−u` the unit stays off so `⟨v,−u⟩` is right, and the two one-sided
/// derivatives are not opposite (f is not differentiable there).
fn assert_relu_kink(p: &Problem) {
    let [plus, minus] = check_one_sided(p, &KINK_X, &KINK_U);
    assert!(
        gap(plus) > KINK_GAP,
        "⟨v,u⟩ = {:e} should differ from D_u f = {:e} at the kink",
        plus.1,
        plus.0
    );
    assert!(
        gap(minus) <= EXACT_TOL,
        "⟨v,−u⟩ = {:e} should equal D_(−u) f = {:e}",
        minus.1,
        minus.0
    );
    assert!(
        (plus.0 + minus.0).abs() > KINK_GAP * plus.0.abs(),
        "D_u f + D_(−u) f should be nonzero at a kink"
    );
}

/// (b) Layer-2 kink: rows 0 and 1 of `W1` both start with 1, so at `x = (1, 0, 0)` both units
/// equal 1 exactly; row 0 of `W2` is `(0.9, −0.9, 0, 0.5)` (unit 3 is off), so `(W2 a1)_0 = 0`
/// exactly while its rate along `u` is `0.9 (u_1 − 0.7 u_2) = 1.035 > 0`.
#[test]
fn one_sided_derivative_at_layer_two_kink() {
    let net = Network::from_layers(vec![
        relu_layer(&[
            &[1.0, 0.3, -0.2],
            &[1.0, -0.7, 0.5],
            &[0.6, 0.4, 0.8],
            &[-0.4, 0.9, 0.1],
        ]),
        relu_layer(&[
            &[0.9, -0.9, 0.0, 0.5],
            &[0.5, 0.4, -0.3, 0.6],
            &[-0.6, 0.8, 0.7, 0.2],
            &[0.3, -0.5, 0.9, -0.7],
            &[0.7, 0.6, -0.8, 0.4],
        ]),
    ])
    .expect("valid layers");
    let p = Problem::noiseless(net, generic_measurements(), &KINK_X0);
    assert_single_kink(&p, &KINK_X, "layer 2 unit 0");

    assert_relu_kink(&p);
}

/// (c) Measurement kink: rows 1 and 2 of `W2` hold the same values in swapped positions on two
/// units that are both 1 at `x = (1, 0, 0)`, and every term is dyadic (exact in any summation
/// order), so `G_1(x) = G_2(x) = 0.875` exactly; row 1 of `A` is `0.75 (e_1 − e_2)`, dyadic too
/// (with a non-dyadic entry a fused multiply–add would leave a residue of one rounding), so
/// `a_1ᵀ G(x) = 0` exactly while `a_1ᵀ Ġ = 0.1875 (u_1 − 0.7 u_2) ≠ 0`.
/// Then `D_u f − ⟨v,u⟩ = −b_1 |a_1ᵀ Λ_x u|` along both `u` and `−u`.
#[test]
fn one_sided_derivative_at_measurement_kink() {
    let net = Network::from_layers(vec![
        relu_layer(&[
            &[1.0, 0.3, -0.2],
            &[1.0, -0.7, 0.5],
            &[0.5, 0.4, 0.8],
            &[-0.4, 0.9, 0.1],
        ]),
        relu_layer(&[
            &[0.7, -0.3, 0.4, 0.6],
            &[0.5, 0.25, 0.25, 0.1],
            &[0.25, 0.5, 0.25, -0.2],
            &[-0.4, 0.9, 0.6, 0.3],
            &[0.6, 0.2, -0.9, 0.5],
        ]),
    ])
    .expect("valid layers");
    let a = mat(&[
        &[0.9, -0.4, 0.7, 0.3, -0.6],
        &[0.0, 0.75, -0.75, 0.0, 0.0],
        &[0.3, 0.6, -0.8, 0.5, 0.7],
        &[0.7, 0.2, 0.4, -0.3, -0.8],
    ]);
    let p = Problem::noiseless(
        net,
        Measurements {
            a,
            scale: MeasurementScale::Normalized,
        },
        &KINK_X0,
    );
    assert_single_kink(&p, &KINK_X, "measurement 1");
    let b1 = p.b[1];
    assert!(
        b1 > KINK_MARGIN,
        "the kink row needs a nonzero amplitude b_1 = {b1:e} for the kink to matter"
    );

    let lambda = p.net.active_product(&KINK_X);
    let k = KINK_U.len();
    let lambda_u: Vec<f64> = (0..lambda.nrows())
        .map(|r| (0..k).map(|c| lambda[(r, c)] * KINK_U[c]).sum())
        .collect();
    let e1 = dot(&[0.0, 0.75, -0.75, 0.0, 0.0], &lambda_u);
    let expected_gap = -b1 * e1.abs();

    let [plus, minus] = check_one_sided(&p, &KINK_X, &KINK_U);
    for (sign, (exact, linear)) in [("u", plus), ("−u", minus)] {
        assert!(
            gap((exact, linear)) > KINK_GAP,
            "⟨v,{sign}⟩ = {linear:e} should differ from D f = {exact:e} at the kink"
        );
        let err = ((exact - linear) - expected_gap).abs() / expected_gap.abs();
        assert!(
            err <= EXACT_TOL,
            "along {sign}: D f − ⟨v,·⟩ = {:e}, expected −b_1|a_1ᵀΛu| = {expected_gap:e}",
            exact - linear
        );
    }
}

/// (d) The origin: every pre-activation is 0, `v(0) = 0`, yet
/// `D_u f(0) = −Σ_j |⟨a_j, G(u)⟩| |⟨a_j, G(x0)⟩| < 0` for every `u` with `A G(u) ≠ 0`.
#[test]
fn one_sided_derivative_at_origin() {
    let widths = [5, 40, 60];
    let p = random_problem(&widths, 80, 10);
    let origin = vec![0.0; widths[0]];
    let eval = p.evaluate(&origin);
    assert!(
        eval.direction.iter().all(|v| *v == 0.0),
        "v(0) must be 0 (every mask is off), got {:?}",
        eval.direction
    );
    let mut rng = stream(SEED, EXPERIMENT, 10, Stream::Probe);
    for _ in 0..5 {
        let u = gaussian_vec(widths[0], &mut rng);
        let c_u = p.meas.apply(&p.net.generate(&u));
        let formula: f64 = -c_u.iter().zip(&p.b).map(|(c, b)| c.abs() * b).sum::<f64>();
        let exact = p.directional_derivative(&origin, &u);
        assert!(exact < 0.0, "D_u f(0) = {exact:e} must be negative");
        assert!(
            (exact - formula).abs() <= EXACT_TOL * formula.abs(),
            "D_u f(0) = {exact:e}, formula gives {formula:e}"
        );
        let fd = one_sided_difference(&p, &origin, &u, ONE_SIDED_STEP);
        let err = (exact - fd).abs() / exact.abs();
        assert!(
            err <= ONE_SIDED_TOL,
            "D_u f(0) = {exact:e}, one-sided difference {fd:e} (relative error {err:e})"
        );
        // ⟨v(0), u⟩ = 0 is not the one-sided derivative.
        assert!(gap((exact, dot(&eval.direction, &u))) > KINK_GAP);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Homogeneity, Λ_x and adjointness
// ---------------------------------------------------------------------------------------------

/// `Λ_x = W_{d,+,x} … W_{1,+,x}` built in the test from the layers and the strict masks.
fn hand_built_lambda(net: &Network, x: &[f64]) -> Mat<f64> {
    let trace = net.forward(x);
    let k = net.latent_dim();
    let mut lambda = Mat::from_fn(k, k, |i, j| f64::from(i == j));
    for (layer, z) in net.layers().iter().zip(&trace.pre) {
        let w = &layer.weight;
        let masked = Mat::from_fn(w.nrows(), w.ncols(), |r, c| if z[r] > 0.0 { w[(r, c)] } else { 0.0 });
        lambda = &masked * &lambda;
    }
    lambda
}

fn mat_vec(m: &Mat<f64>, x: &[f64]) -> Vec<f64> {
    (0..m.nrows())
        .map(|r| (0..m.ncols()).map(|c| m[(r, c)] * x[c]).sum())
        .collect()
}

fn frobenius(m: &Mat<f64>) -> f64 {
    (0..m.ncols())
        .map(|c| m.col_as_slice(c).iter().map(|v| v * v).sum::<f64>())
        .sum::<f64>()
        .sqrt()
}

#[test]
fn generator_is_positively_homogeneous_and_lambda_is_its_jacobian() {
    let widths = [5, 40, 60];
    for trial in 20..24 {
        let p = random_problem(&widths, 10, trial);
        let net = &p.net;
        let mut rng = stream(SEED, EXPERIMENT, trial, Stream::Probe);
        let x = gaussian_vec(widths[0], &mut rng);
        let g = net.generate(&x);
        assert!(norm(&g) > 0.0, "G(x) = 0 would make the checks below vacuous");
        for t in [1e-3, 0.37, 2.5, 1e3] {
            let err = rel_err(&net.generate(&scale(t, &x)), &scale(t, &g));
            assert!(err <= EXACT_TOL, "G({t} x) differs from {t} G(x) by {err:e}");
        }

        let lambda = net.active_product(&x);
        assert_eq!((lambda.nrows(), lambda.ncols()), (widths[2], widths[0]));
        let hand = hand_built_lambda(net, &x);
        let diff = Mat::from_fn(hand.nrows(), hand.ncols(), |r, c| lambda[(r, c)] - hand[(r, c)]);
        assert!(
            frobenius(&diff) <= EXACT_TOL * frobenius(&hand),
            "active_product differs from the product of masked layers"
        );
        let err = rel_err(&mat_vec(&lambda, &x), &g);
        assert!(err <= EXACT_TOL, "Λ_x x differs from G(x) by {err:e}");

        let trace = net.forward(&x);
        let u = gaussian_vec(widths[0], &mut rng);
        let w = gaussian_vec(widths[2], &mut rng);
        let ju = net.jvp(&trace, &u);
        let err = rel_err(&ju, &mat_vec(&lambda, &u));
        assert!(err <= EXACT_TOL, "jvp differs from Λ_x u by {err:e}");
        let jw = net.vjp(&trace, &w);
        let lhs = dot(&ju, &w);
        let rhs = dot(&u, &jw);
        let scale_ip = frobenius(&lambda) * norm(&u) * norm(&w);
        assert!(
            (lhs - rhs).abs() <= EXACT_TOL * scale_ip,
            "⟨Λu, w⟩ = {lhs:e} but ⟨u, Λᵀw⟩ = {rhs:e}"
        );
        // The transpose itself, not only one inner product.
        let lambda_t_w: Vec<f64> = (0..widths[0])
            .map(|c| (0..widths[2]).map(|r| lambda[(r, c)] * w[r]).sum())
            .collect();
        assert!(rel_err(&jw, &lambda_t_w) <= EXACT_TOL, "vjp differs from Λ_xᵀ w");
        // At a generic point no unit sits at a kink, so the one-sided jvp is the jvp.
        assert!(
            rel_err(&net.one_sided_jvp(&trace, &u), &ju) <= EXACT_TOL,
            "one_sided_jvp differs from jvp at a smooth point"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Batched = single
// ---------------------------------------------------------------------------------------------

#[test]
fn batched_forward_and_evaluate_equal_single_columns() {
    let widths = [5, 40, 60];
    let p = random_problem(&widths, 80, 30);
    let mut rng = stream(SEED, EXPERIMENT, 30, Stream::Probe);
    let cols: Vec<Vec<f64>> = (0..7).map(|_| gaussian_vec(widths[0], &mut rng)).collect();
    let block = Mat::from_fn(widths[0], cols.len(), |i, j| cols[j][i]);

    let (pre, out) = p.net.forward_batch(block.as_ref());
    assert_eq!(pre.len(), p.net.depth());
    assert_eq!((out.nrows(), out.ncols()), (widths[2], cols.len()));
    let (values, directions) = p.evaluate_batch(block.as_ref());
    assert_eq!(values.len(), cols.len());
    assert_eq!((directions.nrows(), directions.ncols()), (widths[0], cols.len()));

    for (j, x) in cols.iter().enumerate() {
        let trace = p.net.forward(x);
        for (l, z) in trace.pre.iter().enumerate() {
            assert!(
                rel_err(pre[l].col_as_slice(j), z) <= EXACT_TOL,
                "batch pre-activation of layer {} column {j} differs",
                l + 1
            );
        }
        assert!(
            rel_err(out.col_as_slice(j), &p.net.generate(x)) <= EXACT_TOL,
            "forward_batch column {j} differs from generate"
        );
        let single = p.evaluate(x);
        assert!(
            (values[j] - single.value).abs() <= EXACT_TOL * single.value,
            "evaluate_batch value {j} differs"
        );
        let err = rel_err(directions.col_as_slice(j), &single.direction);
        assert!(err <= EXACT_TOL, "evaluate_batch direction {j} differs by {err:e}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. A_z
// ---------------------------------------------------------------------------------------------

fn check_signed(meas: &Measurements, z: &[f64]) {
    let az = meas.signed(z);
    let c = meas.apply(z);
    for (i, &ci) in c.iter().enumerate() {
        let s = if ci > 0.0 {
            1.0
        } else if ci < 0.0 {
            -1.0
        } else {
            0.0
        };
        for j in 0..meas.a.ncols() {
            // Multiplying by ±1 or 0 is exact, so an exact comparison is the right one.
            assert!(
                az[(i, j)] == s * meas.a[(i, j)],
                "row {i} of A_z must be sgn(a_iᵀz) a_i with sgn(0) = 0"
            );
        }
    }
    let err = rel_err(&mat_vec(&az, z), &meas.amplitudes(z));
    assert!(err <= EXACT_TOL, "A_z z differs from |A z| by {err:e}");
}

#[test]
fn signed_measurements_give_absolute_values() {
    // Dyadic entries so that row 0 is orthogonal to z exactly: 0.5·1 − 1·0.5 + 7·0 = 0.
    let z = [1.0, 0.5, -0.25, 0.0, 2.0];
    let a = mat(&[
        &[0.5, -1.0, 0.0, 7.0, 0.0],
        &[0.3, 0.2, -0.9, 0.4, -0.1],
        &[-0.6, 0.8, 0.5, -0.2, -0.7],
        &[0.1, -0.4, 0.3, 0.9, 0.6],
    ]);
    let meas = Measurements {
        a,
        scale: MeasurementScale::Unit,
    };
    let c = meas.apply(&z);
    assert!(c[0] == 0.0, "row 0 must be exactly orthogonal to z, got {:e}", c[0]);
    assert!(
        c[1..].iter().all(|v| v.abs() > KINK_MARGIN),
        "the other rows must have clear signs"
    );
    assert!(
        c.iter().any(|v| *v > 0.0) && c.iter().any(|v| *v < 0.0),
        "both signs must occur"
    );
    check_signed(&meas, &z);
    let az = meas.signed(&z);
    assert!((0..5).all(|j| az[(0, j)] == 0.0), "sgn(0) = 0 must zero the whole row");

    let mut rng = stream(SEED, EXPERIMENT, 40, Stream::Measurements);
    let meas = Measurements::gaussian(30, 20, MeasurementScale::Normalized, &mut rng);
    let z = gaussian_vec(20, &mut rng);
    check_signed(&meas, &z);
}

// ---------------------------------------------------------------------------------------------
// 6. General (softplus/sigmoid, biased) networks
// ---------------------------------------------------------------------------------------------

/// A network with Gaussian `N(0, 1/n_i)` weights, biases `N(0, 0.1²)` and the given activations.
fn biased_network(widths: &[usize], activations: &[Activation], trial: u64) -> Network {
    let mut rng = stream(SEED, EXPERIMENT, trial, Stream::Network);
    let mut layers = Vec::new();
    for (w, &activation) in widths.windows(2).zip(activations) {
        let sd = 1.0 / (w[1] as f64).sqrt();
        let mut weight = Mat::zeros(w[1], w[0]);
        for c in 0..w[0] {
            for v in weight.col_as_slice_mut(c) {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v = sd * z;
            }
        }
        let bias = Some(scale(0.1, &gaussian_vec(w[1], &mut rng)));
        layers.push(Layer {
            weight,
            bias,
            activation,
        });
    }
    Network::from_layers(layers).expect("valid layers")
}

#[test]
fn smooth_biased_network_direction_matches_central_differences() {
    use Activation::{Sigmoid, Softplus};
    let widths = [4, 30, 50, 40];
    let activations = [Softplus, Softplus, Sigmoid];
    for trial in 50..53 {
        let net = biased_network(&widths, &activations, trial);
        let meas = Measurements::gaussian(
            60,
            widths[3],
            MeasurementScale::Normalized,
            &mut stream(SEED, EXPERIMENT, trial, Stream::Measurements),
        );
        let mut rng = stream(SEED, EXPERIMENT, trial, Stream::Probe);
        let x0 = gaussian_vec(widths[0], &mut rng);
        let p = Problem::noiseless(net, meas, &x0);
        for _ in 0..3 {
            let x = gaussian_vec(widths[0], &mut rng);
            // Only the measurement signs can make f non-smooth here; keep the stencil on one side.
            let signs = measurement_signs(&p, &x);
            for i in 0..widths[0] {
                for h in [SMOOTH_FD_STEP, -SMOOTH_FD_STEP] {
                    let xi = axpy(&x, h, &unit_vector(widths[0], i));
                    assert_eq!(
                        measurement_signs(&p, &xi),
                        signs,
                        "stencil crossed a measurement kink (trial {trial}); change the seed"
                    );
                }
            }
            let eval = p.evaluate(&x);
            let fd = central_difference(&p, &x, SMOOTH_FD_STEP);
            let err = rel_err(&eval.direction, &fd);
            assert!(
                err <= GRADIENT_TOL,
                "trial {trial}: ‖v − FD‖/‖v‖ = {err:e}\nv  = {:?}\nFD = {fd:?}",
                eval.direction
            );
            let u = gaussian_vec(widths[0], &mut rng);
            let exact = p.directional_derivative(&x, &u);
            let linear = dot(&eval.direction, &u);
            assert!(
                (exact - linear).abs() <= EXACT_TOL * norm(&eval.direction) * norm(&u),
                "D_u f = {exact:e} but ⟨v,u⟩ = {linear:e} on a smooth network"
            );
        }
    }
}

#[test]
fn theory_violations_name_biases_and_activations() {
    use Activation::{Relu, Sigmoid, Softplus};
    let net = biased_network(&[4, 30, 50, 40], &[Softplus, Softplus, Sigmoid], 60);
    let violations = net.theory_violations();
    assert_eq!(
        violations.len(),
        6,
        "two problems per layer expected, got {violations:?}"
    );
    for (layer, name) in [(1, "softplus"), (2, "softplus"), (3, "sigmoid")] {
        let here: Vec<&String> = violations
            .iter()
            .filter(|v| v.starts_with(&format!("layer {layer} ")))
            .collect();
        assert!(
            here.iter().any(|v| v.contains("bias")),
            "layer {layer}'s bias not listed in {violations:?}"
        );
        assert!(
            here.iter().any(|v| v.contains(name)),
            "layer {layer}'s {name} not listed in {violations:?}"
        );
    }

    let relu = Network::gaussian(
        &[4, 30, 50],
        WeightScale::Normalized,
        &mut stream(SEED, EXPERIMENT, 61, Stream::Network),
    );
    assert!(
        relu.theory_violations().is_empty(),
        "a bias-free ReLU network breaks nothing: {:?}",
        relu.theory_violations()
    );

    // A zero bias is no bias; only the identity layer breaks the hypotheses.
    let layers = relu
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| Layer {
            weight: l.weight.clone(),
            bias: Some(vec![0.0; l.weight.nrows()]),
            activation: if i == 1 { Activation::Identity } else { Relu },
        })
        .collect();
    let mixed = Network::from_layers(layers).expect("valid layers");
    let violations = mixed.theory_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].starts_with("layer 2 ") && violations[0].contains("identity"),
        "{violations:?}"
    );
}
