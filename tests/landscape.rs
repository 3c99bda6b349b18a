//! The landscape audit: classification against hand-built cases, the expected
//! quantities against the closed forms of docs/THEORY.md §4, the extents of the expected
//! exceptional set `S_τ` (docs/THEORY.md §5) against an independent brute-force scan, the judgement
//! of the claim (it can fail), and `dpr-audit landscape` end to end: files, determinism across
//! thread counts, and the bad-input contract.

mod common;
use common::{assert_ok, assert_usage_errors, read, run};

use std::f64::consts::PI;

use dpr_audit::core::expected::{expected_gradient, expected_objective, gradient_coefficients, rho_pr};
use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Activation, Layer, Network, WeightScale};
use dpr_audit::core::objective::Problem;
use dpr_audit::core::vector::{axpy, dot, norm, scale};
use dpr_audit::landscape::classify::{CRITICAL_TOL, Class};
use dpr_audit::landscape::neighbourhoods::{
    Balls, Region, empirical_radii, exceptional_intervals, expected_extents, normalised_gradient_norm,
};
use dpr_audit::landscape::origin::{origin_check, origin_derivative_closed_form, summarise_origin};
use dpr_audit::landscape::probes::{ProbePoint, SetKind};
use dpr_audit::landscape::summary::{judge, summarise};
use dpr_audit::landscape::{Settings, Truth, measure, probe};
use dpr_audit::rng::{Stream, standard_normal_vector, stream};
use faer::Mat;

/// Master seed of every random instance in this file.
const SEED: u64 = 20_180_704;
/// Experiment name of this file's streams.
const EXPERIMENT: &str = "tests-landscape";
/// Closed forms evaluated two ways (reduced scalar form vs the vector formula of `h`, `F`
/// through `measure` vs directly) agree to rounding: a few ulps of O(1) numbers.
const CLOSED_FORM_TOL: f64 = 1e-12;

fn scratch(name: &str) -> common::Scratch {
    common::scratch_dir("landscape", name)
}

/// A random noiseless instance with `N(0, 1/n_i)` weights and `N(0, 1/m)` measurements.
fn random_problem(widths: &[usize], m: usize) -> (Problem, Vec<f64>) {
    let key = |s| stream(SEED, EXPERIMENT, 0, s);
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

/// The kink instance: `G(x) = relu(W x)` with `W = [[3, 0], [−1, 1]]`, `A = [1, 1]`,
/// `x0 = (0, 0.5)` (so `b = 0.5`), probed at `x = (0, 1)`, where unit 1's pre-activation is
/// exactly 0. There `v = (−0.5, 0.5)` (unit 1 off), so `⟨v, −v⟩ = −0.5`; but along `−v` unit 1
/// switches on at rate 1.5 while unit 2 falls at rate 1, so `D_{−v} f = 0.5 · 0.5 = +0.25`:
/// `−v` does not decrease `f`. Every number is dyadic, so all of this is exact in f64.
fn kink_problem() -> (Problem, Vec<f64>, Vec<f64>) {
    let layer = Layer {
        weight: Mat::from_fn(2, 2, |i, j| [[3.0, 0.0], [-1.0, 1.0]][i][j]),
        bias: None,
        activation: Activation::Relu,
    };
    let net = Network::from_layers(vec![layer]).expect("valid layer");
    let meas = Measurements {
        a: Mat::from_fn(1, 2, |_, _| 1.0),
        scale: MeasurementScale::Normalized,
    };
    let x0 = vec![0.0, 0.5];
    (Problem::noiseless(net, meas, &x0), x0, vec![0.0, 1.0])
}

#[test]
fn x0_of_a_noiseless_instance_is_critical() {
    let (p, x0) = random_problem(&[3, 20, 40], 30);
    let truth = Truth::new(&x0, 2);
    let m = measure(&p, &truth, &x0, &Settings::default());
    assert_eq!(m.class, Class::Critical, "{m:?}");
    assert!(m.v_ratio <= CRITICAL_TOL, "v_ratio = {:e}", m.v_ratio);
    assert!(m.dist_pos == 0.0 && m.value == 0.0 && m.angle == Some(0.0));
    // A generic point nearby: f is differentiable there, so D_{−v} f = −‖v‖² < 0 (descent).
    let x = axpy(&x0, 0.05, &[0.3, -0.2, 0.9]);
    let g = measure(&p, &truth, &x, &Settings::default());
    assert_eq!(g.class, Class::Descent);
    assert!(
        (g.derivative + g.v_norm * g.v_norm).abs() <= 1e-10 * g.v_norm * g.v_norm,
        "D_-v f = {:e}, -‖v‖² = {:e}",
        g.derivative,
        -g.v_norm * g.v_norm
    );
}

#[test]
fn at_a_kink_the_one_sided_derivative_decides_the_class() {
    let (p, x0, x) = kink_problem();
    let v = p.evaluate(&x).direction;
    assert_eq!(v, vec![-0.5, 0.5], "v with unit 1 off");
    let minus_v = scale(-1.0, &v);
    assert_eq!(dot(&v, &minus_v), -0.5, "⟨v, −v⟩ says descent");
    let m = measure(&p, &Truth::new(&x0, 1), &x, &Settings::default());
    assert_eq!(m.derivative, 0.25, "exact D_-v f");
    assert_eq!(m.class, Class::NoDescent, "the class follows D_-v f, not ⟨v, −v⟩");
    assert_eq!(m.derivative_per_v_norm(), Some(0.25 / 0.5f64.sqrt()));
    // Independent check: f(x − t v) = ½ (0.5 + 0.5 t)² for small t > 0, slope 0.25.
    let t = 1e-6;
    let slope = (p.value(&axpy(&x, t, &minus_v)) - p.value(&x)) / t;
    assert!((slope - 0.25).abs() < 1e-6, "one-sided difference {slope}");
}

#[test]
fn a_no_descent_point_outside_the_balls_is_a_counterexample() {
    let (p, x0, x) = kink_problem();
    let truth = Truth::new(&x0, 1);
    let points = [ProbePoint {
        set: SetKind::Ray,
        set_index: 0,
        s: norm(&x) / truth.norm,
        t: None,
        x: x.clone(),
    }];
    let results = probe(&p, &truth, &points, &Settings::default(), &|| {});
    // x = (0, 1) is 0.5 from x0 and ~1.3 from −ρ_1 x0: outside balls of radius 0.1.
    let small = Balls::new(1, truth.norm, 0.01, 1.5, (Some(0.1), Some(0.1)));
    let regions = judge(&results, &small);
    assert_eq!(regions, vec![Region::Outside]);
    let all = summarise(&points, &results, &regions, &truth).pop().unwrap();
    assert_eq!((all.counterexamples, all.counts.no_descent), (1, 1));
    // The same point inside a ball of radius 0.6 around x0 is not one.
    let wide = Balls::new(1, truth.norm, 0.01, 1.5, (Some(0.6), Some(0.1)));
    let regions = judge(&results, &wide);
    assert_eq!(regions, vec![Region::BallPos]);
    assert_eq!(
        summarise(&points, &results, &regions, &truth)
            .pop()
            .unwrap()
            .counterexamples,
        0
    );
    // It flags the neighbourhood of x0 (the nearer centre) at its distance 0.5.
    let radii = empirical_radii(&results);
    assert_eq!((radii.pos, radii.neg, radii.points_pos), (Some(0.5), None, 1));
}

#[test]
fn the_origin_is_excluded_and_every_direction_descends_there() {
    let (p, x0) = random_problem(&[3, 20, 40], 30);
    let truth = Truth::new(&x0, 2);
    let zero = vec![0.0; 3];
    let m = measure(&p, &truth, &zero, &Settings::default());
    assert_eq!((m.class, m.h_norm, m.angle), (Class::Critical, None, None));
    let balls = Balls::new(2, truth.norm, 0.01, 1.5, (None, None));
    assert_eq!(balls.region(&m), Region::Origin);
    let dirs: Vec<Vec<f64>> = (0..8)
        .map(|i| {
            let u = standard_normal_vector(&mut stream(SEED, EXPERIMENT, i, Stream::Probe), 3);
            scale(1.0 / norm(&u), &u)
        })
        .collect();
    let checks = origin_check(&p, &dirs);
    for (u, c) in dirs.iter().zip(&checks) {
        let closed = origin_derivative_closed_form(&p, u);
        assert!(c.derivative < 0.0);
        assert!((c.derivative - closed).abs() <= CLOSED_FORM_TOL * closed.abs());
        // Independent: f(t u) − f(0) over t (f is exactly quadratic along the ray: G(tu) = t G(u)).
        let t = 1e-7;
        let fd = (p.value(&scale(t, u)) - p.value(&zero)) / t;
        assert!(
            (fd - c.derivative).abs() <= 1e-5 * c.derivative.abs(),
            "{fd} vs {}",
            c.derivative
        );
    }
    assert!(summarise_origin(&checks).holds);
}

#[test]
fn measured_expected_quantities_match_the_closed_forms() {
    let (p, x0) = random_problem(&[3, 20, 40], 30);
    let d = 2;
    let truth = Truth::new(&x0, d);
    let two_d = 0.5f64.powi(d as i32) * truth.norm;
    let mut rng = stream(SEED, EXPERIMENT, 1, Stream::Probe);
    for _ in 0..20 {
        let x = standard_normal_vector(&mut rng, 3);
        let m = measure(&p, &truth, &x, &Settings::default());
        assert_eq!(m.expected_value, expected_objective(&x, &x0, d));
        let h = norm(&expected_gradient(&x, &x0, d).unwrap());
        assert_eq!(m.h_norm, Some(h));
        // The reduced form in (ρ, θ) used for S_τ equals ‖h‖ / (2^{-d} ‖x0‖).
        let reduced = normalised_gradient_norm(norm(&x) / truth.norm, m.angle.unwrap(), d);
        assert!(
            (reduced * two_d - h).abs() <= CLOSED_FORM_TOL * h.max(1.0),
            "{reduced} vs {h}"
        );
        assert!((m.dist_neg - norm(&axpy(&x, rho_pr(d), &x0))).abs() <= CLOSED_FORM_TOL * m.dist_neg);
    }
    for d in 1..=8 {
        assert!(normalised_gradient_norm(1.0, 0.0, d) <= 1e-15, "h(x0) = 0, d = {d}");
        assert!(
            normalised_gradient_norm(rho_pr(d), PI, d) <= 1e-15,
            "h(−ρ_d x0) = 0, d = {d}"
        );
    }
}

/// Brute force: the largest distance (units of ‖x0‖) to each centre of the points of a
/// `(ρ, θ)` lattice on `window` that satisfy `‖h‖ ≤ τ 2^{−d} max(‖x‖, ‖x0‖)`, with `h` from
/// its vector form `−β x̂0 + (ρ − α) x̂` in the plane (x̂0 = e1), not the reduced scalar form.
fn brute_force_extents(d: usize, tau: f64, rho: (f64, f64), theta: (f64, f64), n: usize) -> (f64, f64) {
    let rho_d = rho_pr(d);
    let (mut pos, mut neg) = (0.0f64, 0.0f64);
    for i in 0..=n {
        let th = theta.0 + (theta.1 - theta.0) * i as f64 / n as f64;
        let (alpha, beta) = gradient_coefficients(th, d);
        let xhat = [th.cos(), th.sin()];
        for j in 0..=n {
            let r = rho.0 + (rho.1 - rho.0) * j as f64 / n as f64;
            if r <= 0.0 {
                continue;
            }
            let h = [-beta + (r - alpha) * xhat[0], (r - alpha) * xhat[1]];
            if norm(&h) > tau * r.max(1.0) {
                continue;
            }
            let x = [r * xhat[0], r * xhat[1]];
            let (dp, dn) = (norm(&[x[0] - 1.0, x[1]]), norm(&[x[0] + rho_d, x[1]]));
            if dp <= dn {
                pos = pos.max(dp);
            } else {
                neg = neg.max(dn);
            }
        }
    }
    (pos, neg)
}

#[test]
fn extents_of_s_tau_agree_with_a_brute_force_scan() {
    for (d, tau) in [(2, 0.01), (3, 0.01), (2, 0.05), (4, 0.003)] {
        let e = expected_extents(d, 1.0, tau);
        // Around x0: a fine lattice on a window a few τ wide (S_τ there has size ≈ τ).
        let n = 1000;
        let w = 3.0 * tau;
        let (pos, _) = brute_force_extents(d, tau, (1.0 - w, 1.0 + w), (0.0, w), n);
        let resolution = 2.0 * w / n as f64 + w / n as f64;
        assert!(
            pos <= e.pos + 1e-12,
            "d = {d}, τ = {tau}: brute force {pos} > computed {}",
            e.pos
        );
        assert!(
            pos >= e.pos - resolution,
            "d = {d}, τ = {tau}: brute force {pos} ≪ computed {}",
            e.pos
        );
        // Around −ρ_d x0: the component reaches far in angle (the saddle is degenerate).
        let (_, neg) = brute_force_extents(d, tau, (0.0, 2.0), (PI / 2.0, PI), n);
        let resolution = 2.0 / n as f64 + 2.0 * (PI / 2.0) / n as f64;
        assert!(
            neg <= e.neg + 1e-12,
            "d = {d}, τ = {tau}: brute force {neg} > computed {}",
            e.neg
        );
        assert!(
            neg >= e.neg - resolution,
            "d = {d}, τ = {tau}: brute force {neg} ≪ computed {}",
            e.neg
        );
        // A coarse global scan finds nothing beyond the two windows' extents.
        let (gp, gn) = brute_force_extents(d, tau, (0.0, 4.0), (0.0, PI), 400);
        assert!(
            gp <= e.pos + 1e-12 && gn <= e.neg + 1e-12,
            "global scan ({gp}, {gn}) vs {e:?}"
        );
        // Extents scale with ‖x0‖.
        let scaled = expected_extents(d, 2.5, tau);
        assert!((scaled.pos - 2.5 * e.pos).abs() <= 1e-12 && (scaled.neg - 2.5 * e.neg).abs() <= 1e-12);
    }
}

#[test]
fn extents_shrink_as_tau_falls() {
    let taus = [0.1, 0.03, 0.01, 0.003, 0.001, 1e-4, 1e-6];
    for d in 2..=5 {
        let e: Vec<_> = taus.iter().map(|&t| expected_extents(d, 1.0, t)).collect();
        for (w, t) in e.windows(2).zip(&taus[1..]) {
            assert!(w[1].pos <= w[0].pos && w[1].neg <= w[0].neg, "d = {d}, τ = {t}: {w:?}");
        }
        let last = e[e.len() - 1];
        assert!(
            last.pos > 0.0 && last.pos <= 2e-6,
            "d = {d}: pos extent {} at τ = 1e-6",
            last.pos
        );
        // Around −ρ_d x0 the set is wide in angle (F changes like |t|³ there, docs/THEORY.md §4),
        // so it shrinks slowly, but it does shrink.
        assert!(last.neg < 0.1 * e[2].neg, "d = {d}: {} vs {}", last.neg, e[2].neg);
        // Both centres are always in S_τ.
        for &t in &taus {
            assert!(
                exceptional_intervals(0.0, d, t)
                    .iter()
                    .any(|&(a, b)| a <= 1.0 && 1.0 <= b)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The command end to end
// ---------------------------------------------------------------------------------------------

const SMALL: &[&str] = &[
    "landscape",
    "--widths",
    "3,10,20",
    "--m",
    "15",
    "--grid",
    "9",
    "--range",
    "1.5",
    "--rays",
    "2",
    "--ray-points",
    "3",
    "--shells",
    "0.1,0.3",
    "--shell-points",
    "4",
    "--origin-directions",
    "5",
];

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

#[test]
fn landscape_writes_probes_summary_plots_and_manifest() {
    let dir = scratch("small");
    let mut args = vec!["--json", "--seed", "4", "--out", "small"];
    args.extend_from_slice(SMALL);
    let out = run(&dir, &args);
    assert_ok(&out);
    let s = json_of(&out);
    // 9×9 slice, 2 rays × 3, 2 shells × 4 around each centre.
    let points = 81 + 6 + 16;
    assert_eq!(s["points"], points);
    let counts = &s["counts"];
    let total: u64 = ["descent", "no_descent", "critical"]
        .iter()
        .map(|c| counts[c].as_u64().unwrap())
        .sum();
    assert_eq!(total, points);
    assert_eq!(s["origin_points"], 1, "the odd slice lattice holds the origin");
    for key in [
        "counterexamples",
        "empirical_radius_pos",
        "empirical_radius_neg",
        "ball_radius_pos",
        "ball_radius_neg",
    ] {
        assert!(s.get(key).is_some(), "{key} missing");
    }
    assert!(s["counterexample_points"].is_array());
    assert_eq!(s["origin_check"]["directions"], 5);
    let r_pos = s["ball_radius_pos"].as_f64().unwrap();
    let e_pos = s["extent_pos"].as_f64().unwrap();
    assert!((r_pos - 1.5 * e_pos).abs() <= 1e-15 * r_pos, "radius = margin × extent");

    let csv = read(&dir.join("small/probes.csv"));
    assert_eq!(csv.lines().count(), 1 + points as usize);
    assert!(csv.lines().next().unwrap().starts_with("kind,seed,source,widths,"));
    for set in ["slice", "ray", "shell_pos", "shell_neg"] {
        assert!(csv.contains(&format!(",{set},")), "{set} rows missing");
    }
    let summary = read(&dir.join("small/summary.csv"));
    assert_eq!(summary.lines().count(), 1 + 5, "slice, ray, shell_pos, shell_neg, all");
    assert!(read(&dir.join("small/counterexamples.csv")).starts_with("kind,seed,"));
    assert_eq!(read(&dir.join("small/origin.csv")).lines().count(), 1 + 5);
    let png = std::fs::read(dir.join("small/slice_0.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let manifest: serde_json::Value = serde_json::from_str(&read(&dir.join("small/manifest.json"))).unwrap();
    assert_eq!(manifest["command"], "landscape");
    assert_eq!(manifest["parameters"]["grid"], 9);
    assert!(serde_json::from_str::<serde_json::Value>(&read(&dir.join("small/summary.json"))).is_ok());
}

#[test]
fn k2_grid_with_given_x0_and_explicit_radii() {
    let dir = scratch("grid");
    let out = run(
        &dir,
        &[
            "--json",
            "--out",
            "g",
            "landscape",
            "--widths",
            "2,12,24",
            "--m",
            "20",
            "--grid",
            "7",
            "--x0",
            "1,-0.5",
            "--radius-pos",
            "0.2",
            "--radius-neg",
            "0.4",
        ],
    );
    assert_ok(&out);
    let s = json_of(&out);
    assert_eq!(s["points"], 49);
    assert_eq!(s["ball_radius_pos"], 0.2);
    assert_eq!(s["ball_radius_neg"], 0.4);
    assert_eq!(s["ball_radius_pos_given"], true);
    let x0 = s["x0"].as_array().unwrap();
    assert_eq!((x0[0].as_f64(), x0[1].as_f64()), (Some(1.0), Some(-0.5)));
    let csv = read(&dir.join("g/probes.csv"));
    assert!(csv.contains(",grid,0,"));
    assert!(dir.join("g/grid.png").exists());
}

#[test]
fn landscape_probe_is_the_same_command() {
    let dir = scratch("alias");
    let base = ["--quiet", "--seed", "2"];
    let widths = [
        "--widths",
        "3,8,16",
        "--m",
        "10",
        "--grid",
        "5",
        "--origin-directions",
        "3",
    ];
    let mut a: Vec<&str> = base.to_vec();
    a.extend(["--out", "a", "landscape"]);
    a.extend(widths);
    let mut b: Vec<&str> = base.to_vec();
    b.extend(["--out", "b", "landscape", "probe"]);
    b.extend(widths);
    assert_ok(&run(&dir, &a));
    assert_ok(&run(&dir, &b));
    assert_eq!(read(&dir.join("a/probes.csv")), read(&dir.join("b/probes.csv")));
}

#[test]
fn csv_is_byte_identical_across_thread_counts() {
    let dir = scratch("threads");
    for (threads, out) in [("1", "t1"), ("2", "t2")] {
        let mut args = vec!["--quiet", "--seed", "11", "--threads", threads, "--out", out];
        args.extend_from_slice(SMALL);
        assert_ok(&run(&dir, &args));
    }
    for file in [
        "probes.csv",
        "summary.csv",
        "counterexamples.csv",
        "origin.csv",
        "summary.json",
    ] {
        assert_eq!(
            read(&dir.join("t1").join(file)),
            read(&dir.join("t2").join(file)),
            "{file}"
        );
    }
}

#[test]
fn bad_input_is_a_usage_error() {
    let dir = scratch("bad");
    let with = |extra: &'static [&'static str]| -> Vec<&'static str> {
        let mut v: Vec<&'static str> = vec!["landscape", "--widths", "3,6,9", "--m", "5"];
        v.extend_from_slice(extra);
        v
    };
    let cases_owned: Vec<(Vec<&str>, &str)> = vec![
        (with(&["--range", "0"]), "--range"),
        (with(&["--range", "-1"]), "--range"),
        (with(&["--grid", "1"]), "--grid"),
        (with(&["--grid", "0"]), "--grid"),
        (with(&["--x0", "1,2"]), "exactly 3"),
        (with(&["--x0", "0,0,0"]), "nonzero"),
        (with(&["--x0", "1,NaN,0"]), "NaN"),
        (with(&["--x0", "1,0,0", "--plane", "2,0,0"]), "parallel"),
        (with(&["--plane", "1,2"]), "exactly 3"),
        (with(&["--tau", "1"]), "--tau"),
        (with(&["--margin", "0"]), "--margin"),
        (with(&["--radius-pos", "-0.1"]), "--radius-pos"),
        (with(&["--shells", "0.1,-0.2"]), "--shells"),
        (with(&["--rays", "2", "--ray-points", "0"]), "--ray-points"),
        (with(&["--slices", "0"]), "--slices"),
        (with(&["--origin-directions", "0"]), "--origin-directions"),
        (with(&["--critical-tol", "-1"]), "--critical-tol"),
        (vec!["landscape", "--widths", "1,6,9"], "k ≥ 2"),
        (vec!["landscape", "--widths", "3,6,9", "--m", "0"], "--m"),
        (vec!["landscape"], "--widths"),
    ];
    let cases: Vec<(&[&str], &str)> = cases_owned.iter().map(|(a, n)| (a.as_slice(), *n)).collect();
    assert_usage_errors(&dir, &cases);
}
