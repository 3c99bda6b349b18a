//! Certified local minima in any dimension (`landscape::certified`), against GD limits in
//! k = 5: every limit GD reaches is a local minimum of `f` (GD without negation stops only at
//! points without descent), so each should be certified with an exact critical point next to
//! it, interior or on a kink; a point that is not critical must not be certified.

use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::core::objective::Problem;
use dpr_audit::landscape::certified::{MinStatus, certify_minimum};
use dpr_audit::rng::{Stream, standard_normal_vector, stream};
use dpr_audit::solvers::{Method, MethodParams, Settings, solve};
use faer::Mat;

/// The certified point may differ from the GD limit by the precision GD reached: relative
/// 1e-6 is far above where `grad_tol = 1e-12` stops on an interior minimum (the limits land
/// within 1e-11).
const MOVED: f64 = 1e-6;
/// On a kink, GD with a fixed step zigzags across the hyperplane without converging: its
/// limit sits up to `α` times the jump of the gradient away (a few 1e-3 relative here).
const MOVED_KINK: f64 = 2e-2;

fn instance(seed: u64, widths: &[usize], m: usize) -> (Problem, Vec<f64>) {
    let key = |s| stream(seed, "tests-certified", 0, s);
    let net = Network::gaussian(widths, WeightScale::Normalized, &mut key(Stream::Network));
    let meas = Measurements::gaussian(
        m,
        widths[widths.len() - 1],
        MeasurementScale::Normalized,
        &mut key(Stream::Measurements),
    );
    let x0 = standard_normal_vector(&mut key(Stream::Truth), widths[0]);
    (Problem::noiseless(net, meas, &x0), x0)
}

#[test]
fn gd_limits_in_k5_are_certified_minima() {
    let (problem, x0) = instance(11, &[5, 60, 200], 300);
    let mut rng = stream(11, "tests-certified", 1, Stream::Probe);
    let starts = Mat::from_fn(5, 24, |_, _| {
        rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut rng)
    });
    let params = MethodParams {
        step: 0.5 * 4.0,
        adam: Default::default(),
    };
    let settings = Settings {
        max_iters: 20_000,
        grad_tol: 1e-12,
        f_tol: 0.0,
        trace: false,
    };
    let runs = solve(&problem, Method::Gd, &params, &settings, starts.as_ref());
    let (mut certified, mut kinks, mut truth) = (0, 0, 0);
    for run in &runs {
        let cert = certify_minimum(&problem, &run.x);
        if cert.status == MinStatus::Certified {
            certified += 1;
            kinks += usize::from(!cert.kink.is_empty());
            let tol = if cert.kink.is_empty() { MOVED } else { MOVED_KINK };
            assert!(
                cert.moved < tol,
                "certified point {:?} far from the GD limit {:?}",
                cert.x,
                run.x
            );
            // Independently of the certificate: f rises in every sampled direction.
            let fx = problem.value(&cert.x);
            let scale = cert.x.iter().map(|v| v * v).sum::<f64>().sqrt();
            for _ in 0..64 {
                let u = standard_normal_vector(&mut rng, 5);
                let y: Vec<f64> = cert.x.iter().zip(&u).map(|(a, b)| a + 1e-6 * scale * b).collect();
                assert!(problem.value(&y) > fx, "a certified minimum with a lower neighbour");
            }
            let d: f64 = cert.x.iter().zip(&x0).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
            truth += usize::from(d < 1e-6 * x0.iter().map(|v| v * v).sum::<f64>().sqrt());
        }
        assert_ne!(cert.status, MinStatus::NotMin, "a GD limit refuted: {}", cert.reason);
    }
    eprintln!(
        "{certified} certified of {}, {kinks} on kinks, {truth} at x0",
        runs.len()
    );
    assert!(
        kinks > 0,
        "no GD limit stopped on a kink: the kink certificate went untested"
    );
    assert!(
        certified * 4 >= runs.len() * 3,
        "only {certified} of {} GD limits certified",
        runs.len()
    );
    assert!(truth > 0, "x0 was never certified");
}

/// A point that is not critical (a random point far from every limit) is never certified.
#[test]
fn non_critical_points_are_not_certified() {
    let (problem, _) = instance(12, &[5, 40, 120], 200);
    let mut rng = stream(12, "tests-certified", 2, Stream::Probe);
    for _ in 0..20 {
        let x = standard_normal_vector(&mut rng, 5);
        let cert = certify_minimum(&problem, &x);
        assert!(
            cert.status != MinStatus::Certified || cert.moved < 1e-6,
            "a random point certified as a minimum: {}",
            cert.reason
        );
    }
}
