//! The sparse phase-retrieval baselines (docs/THEORY.md §7): recovery in an easy regime, failure in
//! a hopeless one, ThWF's use of intensities, the rescaling of `N(0, 1/m)` matrices,
//! determinism, and the errors of bad parameters.

use dpr_audit::baselines::{
    self, Method, PhaselessData, Settings, Termination, copram, sparta, thwf, thwf::wirtinger_gradient,
};
use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::vector::{norm, relative_error_up_to_sign};
use dpr_audit::rng::{Stream, stream};

const EXPERIMENT: &str = "baselines-test";

/// An `s`-sparse Gaussian signal (uniform support, `N(0,1)` values) and `m` measurements with
/// the given scale, all from fixed streams of `seed`.
fn instance(seed: u64, n: usize, s: usize, m: usize, scale: MeasurementScale) -> (Measurements, Vec<f64>) {
    let mut rng = stream(seed, EXPERIMENT, 0, Stream::Truth);
    let x = baselines::sparse_gaussian_signal(n, s, &mut rng);
    let meas = Measurements::gaussian(m, n, scale, &mut stream(seed, EXPERIMENT, 0, Stream::Measurements));
    (meas, x)
}

/// The sign-invariant relative error of `method` on one instance.
fn error_of(method: Method, seed: u64, n: usize, s: usize, m: usize) -> f64 {
    let (meas, x) = instance(seed, n, s, m, MeasurementScale::Unit);
    let b = meas.amplitudes(&x);
    let data = PhaselessData::new(&meas.a, meas.scale, &b).unwrap();
    let out = baselines::run(method, &data, s, &Settings::default()).unwrap();
    relative_error_up_to_sign(&out.estimate, &x)
}

/// Success threshold of the easy regime (the brief's criterion; exact recovery reaches
/// ~1e-7 at the default tolerance).
const RECOVERED: f64 = 1e-3;
/// Failure threshold of the hopeless regime: an error above 0.5 is no recovery at all.
const FAILED: f64 = 0.5;
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

/// `n = 1000`, `s = 5`, `m = 600` lies far inside every method's recovery region (the papers
/// recover such signals from a few hundred measurements); ≥ 4 of 5 seeds must succeed.
#[test]
fn each_method_recovers_a_sparse_signal_in_an_easy_regime() {
    for method in Method::ALL {
        let errors: Vec<f64> = SEEDS.iter().map(|&seed| error_of(method, seed, 1000, 5, 600)).collect();
        let successes = errors.iter().filter(|e| **e <= RECOVERED).count();
        assert!(successes >= 4, "{}: errors {errors:?}", method.name());
    }
}

/// `m = 20` measurements of a 5-sparse signal in `n = 1000` cannot determine it (even the
/// support needs `≈ s log(n/s) ≈ 26` linear measurements); every seed must fail.
#[test]
fn each_method_fails_in_a_hopeless_regime() {
    for method in Method::ALL {
        for seed in SEEDS {
            let e = error_of(method, seed, 1000, 5, 20);
            assert!(e > FAILED, "{} seed {seed}: error {e}", method.name());
        }
    }
}

/// ThWF's loss is on intensities `b²`: its gradient vanishes at the truth and at its negative
/// (where `(a_iᵀx)² = b_i²` for every row). Fed amplitudes instead, it would not.
#[test]
fn thwf_gradient_vanishes_at_the_truth_on_intensities() {
    let (meas, x) = instance(9, 300, 4, 200, MeasurementScale::Unit);
    let b = meas.amplitudes(&x);
    let data = PhaselessData::new(&meas.a, meas.scale, &b).unwrap();
    let (grad, tau) = wirtinger_gradient(&data, &x);
    let (grad_minus, _) = wirtinger_gradient(&data, &x.iter().map(|v| -v).collect::<Vec<_>>());
    // Tolerance: each residual (a_iᵀx)² − b_i² is rounding, ≈ 1e-15 · ‖x‖²; scaled by ‖x‖.
    let scale = norm(&x).powi(3);
    assert!(norm(&grad) < 1e-12 * scale, "‖∇f(x)‖ = {}", norm(&grad));
    assert!(norm(&grad_minus) < 1e-12 * scale);
    assert!(tau < 1e-12 * scale, "τ(x) = {tau}");
    // At 0.9 x the gradient is of the order of ‖x‖³ (it is not a stationary point).
    let (grad_off, _) = wirtinger_gradient(&data, &x.iter().map(|v| 0.9 * v).collect::<Vec<_>>());
    assert!(norm(&grad_off) > 0.1 * scale);
}

/// The same instance drawn with `N(0, 1/m)` entries is rescaled internally: each method
/// recovers it just as with `N(0, 1)` entries (same estimate up to rounding: the matrices
/// differ by exactly the factor √m).
#[test]
fn normalized_measurements_are_rescaled() {
    let (n, s, m) = (400, 4, 300);
    let (meas, x) = instance(11, n, s, m, MeasurementScale::Unit);
    let root = (m as f64).sqrt();
    let normalized = Measurements {
        a: faer::Mat::from_fn(m, n, |i, j| meas.a[(i, j)] / root),
        scale: MeasurementScale::Normalized,
    };
    let unit_b = meas.amplitudes(&x);
    let norm_b = normalized.amplitudes(&x);
    let unit = PhaselessData::new(&meas.a, meas.scale, &unit_b).unwrap();
    let scaled = PhaselessData::new(&normalized.a, normalized.scale, &norm_b).unwrap();
    let settings = Settings::default();
    for method in Method::ALL {
        let u = baselines::run(method, &unit, s, &settings).unwrap();
        let v = baselines::run(method, &scaled, s, &settings).unwrap();
        assert!(
            relative_error_up_to_sign(&v.estimate, &x) < RECOVERED,
            "{}",
            method.name()
        );
        // Tolerance: the two runs differ only by rounding in the rescaling (relative 1e-16
        // per entry), amplified by at most a few dozen iterations.
        assert!(
            relative_error_up_to_sign(&v.estimate, &u.estimate) < 1e-8,
            "{}",
            method.name()
        );
    }
}

/// Repeating a run gives the same estimate bit for bit, and it does not depend on the
/// order in which runs share a data object.
#[test]
fn runs_are_deterministic() {
    let (meas, x) = instance(21, 500, 6, 250, MeasurementScale::Unit);
    let b = meas.amplitudes(&x);
    let data = PhaselessData::new(&meas.a, meas.scale, &b).unwrap();
    let settings = Settings::default();
    let first: Vec<Vec<f64>> = Method::ALL
        .iter()
        .map(|&m| baselines::run(m, &data, 6, &settings).unwrap().estimate)
        .collect();
    let fresh = PhaselessData::new(&meas.a, meas.scale, &b).unwrap();
    for (i, &method) in Method::ALL.iter().enumerate().rev() {
        let again = baselines::run(method, &fresh, 6, &settings).unwrap().estimate;
        assert_eq!(again, first[i], "{}", method.name());
    }
}

/// `max_iterations = 0` returns the initialisation; the early stop reports its reason.
#[test]
fn terminations_are_reported() {
    let (meas, x) = instance(31, 500, 5, 400, MeasurementScale::Unit);
    let b = meas.amplitudes(&x);
    let data = PhaselessData::new(&meas.a, meas.scale, &b).unwrap();
    let mut settings = Settings::default();
    let out = sparta(&data, 5, &settings.sparta).unwrap();
    assert_eq!(out.termination, Termination::Converged);
    assert!(out.iterations >= 1 && out.iterations < settings.sparta.stop.max_iterations);
    settings.copram.stop.max_iterations = 0;
    let init = copram(&data, 5, &settings.copram).unwrap();
    assert_eq!((init.iterations, init.termination), (0, Termination::MaxIterations));
    assert_eq!(init.estimate.iter().filter(|v| **v != 0.0).count(), 5);
}

/// Asserts that `r` is a parameter error whose message names `name`.
fn assert_param_error<T: std::fmt::Debug>(r: dpr_audit::Result<T>, name: &str) {
    match r {
        Err(e @ dpr_audit::Error::Param { .. }) => assert!(e.to_string().contains(name), "{e}"),
        other => panic!("expected a parameter error naming {name}, got {other:?}"),
    }
}

/// Bad inputs are refused with a parameter error that names the value.
#[test]
fn bad_parameters_are_refused() {
    let (meas, x) = instance(41, 50, 3, 30, MeasurementScale::Unit);
    let b = meas.amplitudes(&x);
    let data = PhaselessData::new(&meas.a, meas.scale, &b).unwrap();
    let settings = Settings::default();
    assert_param_error(sparta(&data, 0, &settings.sparta), "s");
    assert_param_error(copram(&data, 51, &settings.copram), "s");
    let mut bad = settings;
    bad.sparta.step = -1.0;
    assert_param_error(sparta(&data, 3, &bad.sparta), "sparta step");
    bad.thwf.beta = f64::NAN;
    assert_param_error(thwf(&data, &bad.thwf), "thwf beta");
    bad.copram.cosamp.max_iterations = 0;
    assert_param_error(copram(&data, 3, &bad.copram), "cosamp max_iterations");
    bad.copram = settings.copram;
    bad.copram.stop.tolerance = -1.0;
    assert_param_error(copram(&data, 3, &bad.copram), "tolerance");

    let unit = MeasurementScale::Unit;
    assert_param_error(PhaselessData::new(&faer::Mat::zeros(0, 50), unit, &[]), "m");
    assert_param_error(PhaselessData::new(&meas.a, unit, &b[..29]), "amplitudes");
    let mut nan = b.clone();
    nan[7] = f64::NAN;
    assert_param_error(PhaselessData::new(&meas.a, unit, &nan), "b[7]");
    let mut inf_a = meas.a.clone();
    inf_a[(2, 3)] = f64::INFINITY;
    assert_param_error(PhaselessData::new(&inf_a, unit, &b), "A");
    assert_param_error(baselines::cosamp(&meas.a, &b, 0, &Default::default()), "s");
}
