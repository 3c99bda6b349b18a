//! The exact `k = 2` landscape (`landscape::exact`): the enumeration against an independent
//! brute force on 2¹⁸ angles, the sectors against pattern changes on a fine grid, the closed
//! forms against numerical minimisation and one-sided differences, constructed degenerate
//! networks (parallel rows, a dead arc), the structural facts of docs/THEORY.md §13.1, and the
//! independence of the thread count.

use std::f64::consts::{PI, TAU};

use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Activation, Layer, Network, WeightScale};
use dpr_audit::core::objective::Problem;
use dpr_audit::landscape::Truth;
use dpr_audit::landscape::exact::critical::{PointType, Status};
use dpr_audit::landscape::exact::sectors::{Cause, Instance, enumerate};
use dpr_audit::landscape::exact::{CriticalPoint, ExactLandscape, exact_landscape};
use dpr_audit::rng::{Stream, standard_normal_vector, stream};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// The brute force's grid: 2¹⁸ angles, as the acceptance criterion asks.
const GRID: usize = 1 << 18;
/// Extrema of the sampled profile shallower than this are not required to be listed
/// (the criterion's depth threshold).
const DEPTH: f64 = 1e-6;
/// `S_τ` threshold passed to the study (irrelevant to these checks).
const TAU_S: f64 = 0.01;

/// The instance `dpr-audit --seed SEED landscape exact --widths … --m …` builds: experiment
/// `landscape`, trial 0, `N(0, 1/n_i)` weights, `N(0, 1/m)` A, `x0 ~ N(0, I_2)`.
fn cli_instance(seed: u64, widths: &[usize], m: usize) -> (Problem, Truth) {
    let key = |s| stream(seed, "landscape", 0, s);
    let net = Network::gaussian(widths, WeightScale::Normalized, &mut key(Stream::Network));
    let meas = Measurements::gaussian(
        m,
        widths[widths.len() - 1],
        MeasurementScale::Normalized,
        &mut key(Stream::Measurements),
    )
    .normalized();
    let x0 = standard_normal_vector(&mut key(Stream::Truth), 2);
    let truth = Truth::new(&x0, widths.len() - 1);
    (Problem::noiseless(net, meas, &x0), truth)
}

/// A hand-built instance from its layers' weights, `A` and `x0`.
fn built(weights: &[Mat<f64>], a: Mat<f64>, x0: &[f64]) -> (Problem, Truth) {
    let layers = weights
        .iter()
        .map(|w| Layer {
            weight: w.clone(),
            bias: None,
            activation: Activation::Relu,
        })
        .collect();
    let net = Network::from_layers(layers).expect("consistent shapes");
    let truth = Truth::new(x0, weights.len());
    let meas = Measurements {
        a,
        scale: MeasurementScale::Normalized,
    };
    (Problem::noiseless(net, meas, x0), truth)
}

/// The brute force, written without the enumeration: `φ(θ) = ½‖b‖² − ½⟨|AG(u)|, b⟩²/‖AG(u)‖²`
/// at `count` equally spaced angles, by batched forward passes.
fn sampled_profile(problem: &Problem, count: usize) -> Vec<f64> {
    let half_b2 = 0.5 * problem.b.iter().map(|v| v * v).sum::<f64>();
    let mut out = Vec::with_capacity(count);
    let block = 4096;
    for start in (0..count).step_by(block) {
        let len = block.min(count - start);
        let x = Mat::from_fn(2, len, |i, j| {
            let t = TAU * (start + j) as f64 / count as f64;
            if i == 0 { t.cos() } else { t.sin() }
        });
        let (_, g) = problem.net.forward_batch(x.as_ref());
        let mut y = Mat::zeros(problem.meas.a.nrows(), len);
        matmul(
            y.as_mut(),
            Accum::Replace,
            problem.meas.a.as_ref(),
            g.as_ref(),
            1.0,
            Par::Seq,
        );
        for j in 0..len {
            let col = y.col_as_slice(j);
            let n: f64 = col.iter().zip(&problem.b).map(|(c, b)| c.abs() * b).sum();
            let d: f64 = col.iter().map(|c| c * c).sum();
            out.push(if d > 0.0 { half_b2 - 0.5 * n * n / d } else { half_b2 });
        }
    }
    out
}

/// Strict discrete extrema of a circular sequence with their depth (minima: the lower of the
/// neighbouring maxima minus the value; maxima: the value minus the higher neighbouring
/// minimum): `(index, is_min, depth)`.
fn discrete_extrema(phi: &[f64]) -> Vec<(usize, bool, f64)> {
    let k = phi.len();
    let at = |i: isize| phi[i.rem_euclid(k as isize) as usize];
    let mut ext: Vec<(usize, bool)> = Vec::new();
    for i in 0..k as isize {
        let (l, c, r) = (at(i - 1), at(i), at(i + 1));
        // Plateaus of equal samples count once, at their first sample.
        let mut j = i + 1;
        while at(j) == c && j < i + k as isize {
            j += 1;
        }
        let r = if r == c { at(j) } else { r };
        if c < l && c < r {
            ext.push((i as usize, true));
        } else if c > l && c > r {
            ext.push((i as usize, false));
        }
    }
    let n = ext.len();
    (0..n)
        .map(|e| {
            let (i, is_min) = ext[e];
            let (p, q) = (phi[ext[(e + n - 1) % n].0], phi[ext[(e + 1) % n].0]);
            let depth = if is_min { p.min(q) - phi[i] } else { phi[i] - p.max(q) };
            (i, is_min, depth)
        })
        .collect()
}

/// Angular distance on the circle.
fn gap(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(TAU);
    d.min(TAU - d)
}

fn run(problem: &Problem, truth: &Truth) -> ExactLandscape {
    exact_landscape(problem, truth, TAU_S, None).expect("a bias-free ReLU k = 2 instance")
}

fn of_type(l: &ExactLandscape, kind: PointType) -> Vec<&CriticalPoint> {
    l.points.iter().filter(|p| p.kind == kind).collect()
}

/// `φ` at one angle by a forward pass (the brute force's formula at a single point).
fn phi_at(problem: &Problem, theta: f64) -> f64 {
    sampled_profile_at(problem, &[theta])[0]
}

fn sampled_profile_at(problem: &Problem, thetas: &[f64]) -> Vec<f64> {
    let half_b2 = 0.5 * problem.b.iter().map(|v| v * v).sum::<f64>();
    thetas
        .iter()
        .map(|t| {
            let y = problem.meas.apply(&problem.net.generate(&[t.cos(), t.sin()]));
            let n: f64 = y.iter().zip(&problem.b).map(|(c, b)| c.abs() * b).sum();
            let d: f64 = y.iter().map(|c| c * c).sum();
            if d > 0.0 { half_b2 - 0.5 * n * n / d } else { half_b2 }
        })
        .collect()
}

/// Acceptance: every extremum of the sampled profile deeper than 1e-6 is listed (minima as
/// `local_min`, maxima as `saddle`), every listed minimum is a minimum of `φ` at its angle
/// with `f(x) = φ` at `r*`, and `x0` is among the minima, for seeds 1–3 of 2-50-200/m = 200.
/// A listed point matches a sample extremum when within two grid steps (the sampled
/// extremum lies within one step of the true one).
#[test]
fn brute_force_extrema_are_all_listed_and_listed_minima_are_minima() {
    let step = TAU / GRID as f64;
    for seed in 1..=3 {
        let (problem, truth) = cli_instance(seed, &[2, 50, 200], 200);
        let land = run(&problem, &truth);
        assert!(land.x0_found, "seed {seed}: x0 is not among the local minima");
        assert!(
            land.global_is_x0 && land.global_unique,
            "seed {seed}: x0 is not the unique global minimum"
        );
        let phi = sampled_profile(&problem, GRID);
        let extrema = discrete_extrema(&phi);
        let (mins, saddles) = (of_type(&land, PointType::LocalMin), of_type(&land, PointType::Saddle));
        let mut deep = 0;
        for (i, is_min, depth) in extrema {
            if depth <= DEPTH {
                continue;
            }
            deep += 1;
            let theta = TAU * i as f64 / GRID as f64;
            let list = if is_min { &mins } else { &saddles };
            assert!(
                list.iter().any(|p| gap(p.angle, theta) <= 2.0 * step),
                "seed {seed}: sampled {} at θ = {theta} (depth {depth:e}) is not listed",
                if is_min { "minimum" } else { "maximum" }
            );
        }
        assert!(deep >= 2, "seed {seed}: the brute force found no extremum at all");
        for p in &mins {
            let r = p.radius.expect("a minimum has a radius");
            let centre = phi_at(&problem, p.angle);
            let h = (p.basin_width.unwrap_or(1e-3) / 8.0).min(1e-6);
            for t in [p.angle - h, p.angle + h] {
                assert!(
                    phi_at(&problem, t) > centre,
                    "seed {seed}: listed minimum at {} is not a minimum of φ",
                    p.angle
                );
            }
            let f = |s: f64| problem.value(&[s * r * p.angle.cos(), s * r * p.angle.sin()]);
            assert!(
                (f(1.0) - centre).abs() <= 1e-10 * land.f_origin,
                "seed {seed}: f(r* u) ≠ φ(u)"
            );
            assert!(
                f(1.0) < f(1.0 + 1e-4) && f(1.0) < f(1.0 - 1e-4),
                "seed {seed}: r* is not the ray's minimum"
            );
        }
    }
}

/// The sectors against pattern changes on a fine grid: between two consecutive grid angles
/// the pattern (every layer's signs and the measurements' signs) changes exactly when a
/// breakpoint of the enumeration lies between them.
#[test]
fn sectors_match_pattern_changes_on_a_fine_grid() {
    let (problem, _) = cli_instance(2, &[2, 30, 80], 100);
    let weights: Vec<MatRef<'_, f64>> = problem.net.layers().iter().map(|l| l.weight.as_ref()).collect();
    let inst = Instance {
        weights: &weights,
        a: problem.meas.a.as_ref(),
        b: &problem.b,
    };
    let sectors = enumerate(&inst, 1e-12);
    let breaks: Vec<f64> = sectors.sectors.iter().map(|s| s.start.rem_euclid(TAU)).collect();
    let pattern = |t: f64| -> Vec<bool> {
        let trace = problem.net.forward(&[t.cos(), t.sin()]);
        let y = problem.meas.apply(trace.output());
        trace.pre.iter().flatten().chain(&y).map(|&z| z > 0.0).collect()
    };
    let grid = 1 << 16;
    let mut before = pattern(0.0);
    for i in 1..=grid {
        let (a, b) = (TAU * (i - 1) as f64 / grid as f64, TAU * i as f64 / grid as f64);
        let after = pattern(b);
        let inside = breaks
            .iter()
            .filter(|&&z| z > a && z <= b || (i == grid && z == 0.0))
            .count();
        assert_eq!(
            after != before,
            inside > 0,
            "pattern change on ({a}, {b}] vs {inside} breakpoints"
        );
        before = after;
    }
    assert_eq!(sectors.coincident.len(), 0);
    let per_layer = |c: Cause| sectors.sectors.iter().filter(|s| s.left.cause == c).count();
    assert_eq!(per_layer(Cause::Layer(1)), 60, "two breakpoints per row of W_1");
}

/// Closed-form stationary points against a numerical minimisation of `φ` inside the sector
/// (golden section on the sampled formula), and kink slopes against one-sided differences.
#[test]
fn closed_forms_match_numerical_minimisation_and_one_sided_differences() {
    let (problem, truth) = cli_instance(3, &[2, 50, 200], 200);
    let land = run(&problem, &truth);
    let mut interior = 0;
    let mut kinks = 0;
    for p in land.points.iter().filter(|p| p.kind != PointType::Flat) {
        if p.site == "interior" {
            interior += 1;
            // Golden section on [θ − w, θ + w] inside the sector (w below the margin).
            let w = 0.9 * p.margin;
            let (mut lo, mut hi) = (p.angle - w, p.angle + w);
            let g = (5f64.sqrt() - 1.0) / 2.0;
            for _ in 0..200 {
                let (a, b) = (hi - g * (hi - lo), lo + g * (hi - lo));
                if phi_at(&problem, a) < phi_at(&problem, b) {
                    hi = b
                } else {
                    lo = a
                }
            }
            let found = 0.5 * (lo + hi);
            assert!(
                gap(found, p.angle) < 1e-6,
                "closed form {} vs golden section {found}",
                p.angle
            );
        } else {
            kinks += 1;
            let h = 1e-7;
            let centre = phi_at(&problem, p.angle);
            let left = (centre - phi_at(&problem, p.angle - h)) / h;
            let right = (phi_at(&problem, p.angle + h) - centre) / h;
            let (sl, sr) = (p.slope_left.expect("kink"), p.slope_right.expect("kink"));
            let tol = |s: f64| 1e-3 * s.abs() + 1e-6;
            assert!((left - sl).abs() < tol(sl), "left slope {sl} vs difference {left}");
            assert!((right - sr).abs() < tol(sr), "right slope {sr} vs difference {right}");
        }
    }
    assert!(
        interior > 0 && kinks > 0,
        "the instance should have both kinds ({interior}, {kinks})"
    );
}

/// Facts of docs/THEORY.md §13.1 on random instances: no minimum at a measurement kink,
/// minima and maxima of `φ` alternate (#saddles = #minima without flat arcs), every listed
/// saddle is a maximum of `φ` but a minimum along its ray (no local maximum of `f` but the
/// origin), and the origin's value exceeds every critical value.
#[test]
fn structural_facts_hold() {
    for (seed, widths, m) in [(4, vec![2, 40, 120], 150), (5, vec![2, 20, 60, 90], 120)] {
        let (problem, truth) = cli_instance(seed, &widths, m);
        let land = run(&problem, &truth);
        assert_eq!(land.counts.flat, 0);
        assert_eq!(
            land.counts.min_at_measurement_kink, 0,
            "seed {seed}: a minimum at a measurement kink"
        );
        assert_eq!(
            land.counts.saddle, land.counts.local_min,
            "seed {seed}: saddles and minima must alternate"
        );
        for p in of_type(&land, PointType::Saddle) {
            let r = p.radius.expect("saddle radius");
            let f = |s: f64| problem.value(&[s * r * p.angle.cos(), s * r * p.angle.sin()]);
            assert!(
                f(1.0) <= f(1.0 + 1e-4) && f(1.0) <= f(1.0 - 1e-4),
                "seed {seed}: a saddle that is no ray minimum"
            );
            assert!(p.f < land.f_origin);
        }
        for (a, b) in land.points.iter().zip(land.points.iter().cycle().skip(1)) {
            assert_ne!(a.kind, b.kind, "seed {seed}: two {:?} in a row", a.kind);
        }
    }
}

/// Two parallel rows of `W_1` (the second twice the first): their breakpoints coincide and
/// are handled as one, exactly; no critical point is misclassified (the brute force agrees).
#[test]
fn parallel_rows_are_handled_exactly() {
    let (random, _) = cli_instance(6, &[2, 12, 40], 60);
    let mut w1 = random.net.layers()[0].weight.clone();
    for c in 0..2 {
        w1[(1, c)] = 2.0 * w1[(0, c)];
    }
    let w2 = random.net.layers()[1].weight.clone();
    let (problem, truth) = built(&[w1, w2], random.meas.a.clone(), &[0.6, -0.8]);
    let land = run(&problem, &truth);
    let layer1 = land.per_source.iter().find(|s| s.source == "layer_1").expect("layer 1");
    assert_eq!(
        layer1.breakpoints, 22,
        "12 rows, two of them parallel: 11 directions, 22 breakpoints"
    );
    let phi = sampled_profile(&problem, 1 << 16);
    let step = TAU / (1 << 16) as f64;
    for (i, is_min, depth) in discrete_extrema(&phi) {
        if depth > DEPTH {
            let theta = TAU * i as f64 / (1 << 16) as f64;
            let want = if is_min { PointType::LocalMin } else { PointType::Saddle };
            assert!(
                land.points
                    .iter()
                    .any(|p| p.kind == want && gap(p.angle, theta) <= 2.0 * step),
                "sampled extremum at {theta} missing"
            );
        }
    }
}

/// Two *nearly* parallel rows of `W_1` (the second the first rotated by 1e-14 rad): their
/// breakpoints differ by far less than the angle tolerance, so the enumeration must either
/// merge them as a coincidence it reports, or mark what sits there `undecided`; every critical
/// point it certifies must still be an extremum of the brute-force profile, and every deep
/// extremum of the brute force must be listed (nothing mis-classified, nothing lost).
#[test]
fn nearly_parallel_rows_are_reported_or_handled_exactly() {
    let (random, _) = cli_instance(6, &[2, 12, 40], 60);
    let mut w1 = random.net.layers()[0].weight.clone();
    let (c, s) = (1e-14_f64.cos(), 1e-14_f64.sin());
    let (a, b) = (w1[(0, 0)], w1[(0, 1)]);
    w1[(1, 0)] = 2.0 * (c * a - s * b);
    w1[(1, 1)] = 2.0 * (s * a + c * b);
    let w2 = random.net.layers()[1].weight.clone();
    let (problem, truth) = built(&[w1, w2], random.meas.a.clone(), &[0.6, -0.8]);
    let land = run(&problem, &truth);
    assert!(
        land.coincidences > 0 || land.counts.undecided > 0 || land.per_source[0].breakpoints == 22,
        "two breakpoints 1e-14 apart are neither merged, reported nor undecided"
    );
    let count = 1 << 16;
    let phi = sampled_profile(&problem, count);
    let step = TAU / count as f64;
    let extrema = discrete_extrema(&phi);
    for (i, is_min, depth) in &extrema {
        if *depth > DEPTH {
            let theta = TAU * *i as f64 / count as f64;
            let want = if *is_min {
                PointType::LocalMin
            } else {
                PointType::Saddle
            };
            assert!(
                land.points
                    .iter()
                    .any(|p| (p.kind == want || p.status == Status::Undecided) && gap(p.angle, theta) <= 2.0 * step),
                "sampled extremum at {theta} missing"
            );
        }
    }
    // Every certified local minimum is a minimum of φ at its angle (probed inside its basin).
    for p in land
        .points
        .iter()
        .filter(|p| p.kind == PointType::LocalMin && p.status == Status::Certified)
    {
        let centre = phi_at(&problem, p.angle);
        let h = (p.basin_width.unwrap_or(1e-3) / 8.0).min(1e-6);
        for t in [p.angle - h, p.angle + h] {
            assert!(
                phi_at(&problem, t) > centre,
                "certified minimum at {} is not a minimum of φ",
                p.angle
            );
        }
    }
}

/// A network whose first layer is entirely inactive on an arc (every row of `W_1` points into
/// the upper half-plane's cone): `G ≡ 0` there and the study reports one `flat` cone spanning
/// that arc, at `f = ½‖b‖²`.
#[test]
fn dead_arc_is_a_flat_cone() {
    let rows = [(0.3, 1.0), (-0.2, 1.0), (0.5, 0.8), (-0.6, 0.9), (0.1, 0.7)];
    let w1 = Mat::from_fn(rows.len(), 2, |i, j| if j == 0 { rows[i].0 } else { rows[i].1 });
    let w2 = Mat::from_fn(6, rows.len(), |i, j| ((i * 7 + j * 3) % 5) as f64 - 1.5);
    let a = Mat::from_fn(10, 6, |i, j| (((i * 5 + j * 11) % 9) as f64 - 4.0) / 3.0);
    let (problem, truth) = built(&[w1, w2], a, &[0.2, 1.0]);
    let land = run(&problem, &truth);
    let flats = of_type(&land, PointType::Flat);
    assert_eq!(flats.len(), 1, "one dead arc");
    let arc = flats[0];
    // Every row has angle in (π/2 − 0.71, π/2 + 0.59): all are inactive for angles in
    // [π + 0.59 + π/2 − π/2, …]; check the dead direction −e_2 lies in the arc.
    let start = arc.angle;
    let end = arc.arc_end.expect("arc end");
    let down = 1.5 * PI;
    assert!(
        (down - start).rem_euclid(TAU) < (end - start).rem_euclid(TAU),
        "−e_2 not in the flat arc [{start}, {end}]"
    );
    assert!((arc.f - land.f_origin).abs() <= 1e-12 * land.f_origin);
}

/// The result does not depend on the number of threads.
#[test]
fn deterministic_across_thread_counts() {
    let (problem, truth) = cli_instance(7, &[2, 60, 240], 240);
    let with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| serde_json::to_string(&run(&problem, &truth).points).expect("json"))
    };
    assert_eq!(with(1), with(3));
}

mod common;

/// The acceptance command end to end: the JSON lists every critical point with the promised
/// fields, x0 among the local minima; the files are byte-identical for 1 and 2 threads.
#[test]
fn cli_lists_critical_points_and_is_identical_across_threads() {
    let dir = common::scratch_dir("landscape-exact", "cli");
    let args = |threads: &'static str, out: &'static str| -> Vec<&'static str> {
        vec![
            "--json",
            "--seed",
            "1",
            "--threads",
            threads,
            "--out",
            out,
            "landscape",
            "exact",
            "--widths",
            "2,50,200",
            "--m",
            "200",
            "--wdc-pairs",
            "20",
        ]
    };
    let one = common::run(&dir, &args("1", "one"));
    common::assert_ok(&one);
    let json: serde_json::Value = serde_json::from_slice(&one.stdout).expect("json on stdout");
    let points = json["critical_points"].as_array().expect("critical_points array");
    assert!(!points.is_empty());
    for p in points {
        for key in [
            "x",
            "f",
            "type",
            "angle",
            "radius",
            "negation_helps",
            "status",
            "margin",
            "rounding_bound",
        ] {
            assert!(p.get(key).is_some(), "critical point without {key}: {p}");
        }
    }
    assert!(
        points
            .iter()
            .any(|p| p["type"] == "local_min" && p["dist_x0"].as_f64().is_some_and(|d| d < 1e-6)),
        "x0 is not among the listed local minima"
    );
    assert_eq!(json["x0_found"], true);
    assert_eq!(
        json["counts"]["local_min"].as_u64().expect("count") as usize,
        points.iter().filter(|p| p["type"] == "local_min").count()
    );
    let two = common::run(&dir, &args("2", "two"));
    common::assert_ok(&two);
    for file in ["critical_points.csv", "sources.csv", "summary.json"] {
        assert_eq!(
            common::read(&dir.join("one").join(file)),
            common::read(&dir.join("two").join(file)),
            "{file} differs between 1 and 2 threads"
        );
    }
    assert!(dir.join("one/profile.png").exists() && dir.join("one/plane.png").exists());
}

/// Bad input: k ≠ 2 (pointing to the census), a network with a bias or a non-ReLU layer
/// (positive homogeneity), and out-of-range options → exit 2, nothing written.
#[test]
fn cli_refuses_what_the_study_does_not_cover() {
    let dir = common::scratch_dir("landscape-exact", "bad");
    common::non_relu_networks(&dir);
    common::assert_usage_errors(
        &dir,
        &[
            (&["landscape", "exact", "--widths", "3,20,40"], "landscape census"),
            (
                &["landscape", "exact", "--weights", "biased.safetensors", "--m", "20"],
                "bias",
            ),
            (
                &["landscape", "exact", "--weights", "smooth.safetensors", "--m", "20"],
                "positive homogeneity",
            ),
            (&["landscape", "exact", "--widths", "2,20,40", "--m", "0"], "--m"),
            (&["landscape", "exact", "--widths", "2,20,40", "--tau", "2"], "tau"),
            (&["landscape", "exact", "--widths", "2,20,40", "--x0", "1,2,3"], "--x0"),
        ],
    );
}

/// `--save-instance` then `--instance` reproduces the study: identical CSVs (but for the
/// `source` column) and summary counts.
#[test]
fn instance_file_round_trip_gives_identical_results() {
    let dir = common::scratch_dir("landscape-exact", "round-trip");
    let first = common::run(
        &dir,
        &[
            "--seed",
            "2",
            "--out",
            "a",
            "landscape",
            "exact",
            "--widths",
            "2,30,90",
            "--m",
            "90",
            "--wdc-pairs",
            "0",
            "--save-instance",
            "i.safetensors",
        ],
    );
    common::assert_ok(&first);
    let second = common::run(
        &dir,
        &[
            "--seed",
            "2",
            "--out",
            "b",
            "landscape",
            "exact",
            "--instance",
            "i.safetensors",
            "--wdc-pairs",
            "0",
        ],
    );
    common::assert_ok(&second);
    let csv = |d: &str| common::without_source(&common::read(&dir.join(d).join("critical_points.csv")));
    assert_eq!(csv("a"), csv("b"));
    assert_eq!(
        common::read(&dir.join("a/sources.csv")),
        common::read(&dir.join("b/sources.csv"))
    );
}

/// Instance files that do not describe a noiseless instance are refused with the tensor named:
/// a missing tensor, wrong shapes, `b` inconsistent with `|A G(x0)|`.
#[test]
fn inconsistent_instance_files_are_refused() {
    let dir = common::scratch_dir("landscape-exact", "bad-instance");
    let (problem, truth) = cli_instance(3, &[2, 10, 20], 30);
    common::instance_fixtures(&dir, &problem, &truth.x0);
    let good = common::run(
        &dir,
        &[
            "--out",
            "ok",
            "landscape",
            "exact",
            "--instance",
            "good.safetensors",
            "--wdc-pairs",
            "0",
        ],
    );
    common::assert_ok(&good);
    common::assert_usage_errors(
        &dir,
        &[
            (
                &["landscape", "exact", "--instance", "missing.safetensors"],
                "missing tensor b",
            ),
            (
                &["landscape", "exact", "--instance", "shape.safetensors"],
                "A has shape [20, 30]",
            ),
            (&["landscape", "exact", "--instance", "x0.safetensors"], "x0 has shape"),
            (&["landscape", "exact", "--instance", "noisy.safetensors"], "b[4]"),
            (
                &["landscape", "exact", "--instance", "absent.safetensors"],
                "absent.safetensors",
            ),
        ],
    );
}

/// `landscape exact --sweep` end to end on a small ladder: one row per instance with its seed
/// and parameters, and the rows, rung summaries and fits byte-identical for 1 and 2 threads
/// and for two shards merged.
#[test]
fn exact_sweep_is_identical_across_threads_and_shards() {
    let dir = common::scratch_dir("landscape-exact", "sweep");
    let sweep = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut a = vec!["--seed", "2"];
        a.extend_from_slice(extra);
        a.extend([
            "landscape",
            "exact",
            "--sweep",
            "--ladder",
            "10,20,40",
            "--trials",
            "3",
            "--census-starts",
            "5",
            "--wdc-pairs",
            "10",
        ]);
        a
    };
    for (extra, _) in [
        (vec!["--threads", "1", "--out", "one"], ()),
        (vec!["--threads", "2", "--out", "two"], ()),
    ] {
        common::assert_ok(&common::run(&dir, &sweep(&extra)));
    }
    for shard in ["0/2", "1/2"] {
        let mut a = sweep(&["--threads", "2", "--out", "sharded"]);
        a.extend(["--shard", shard]);
        common::assert_ok(&common::run(&dir, &a));
    }
    let shards: Vec<String> = ["0", "1"]
        .iter()
        .map(|i| {
            dir.join("sharded")
                .join(format!("shard-{i}-of-2"))
                .display()
                .to_string()
        })
        .collect();
    let mut merge = vec!["--out", "merged", "merge"];
    merge.extend(shards.iter().map(String::as_str));
    common::assert_ok(&common::run(&dir, &merge));
    let rows = common::read(&dir.join("one/exact_sweep.csv"));
    assert_eq!(rows.lines().count(), 1 + 9, "a header and one row per instance");
    assert!(
        rows.lines()
            .next()
            .unwrap()
            .starts_with("trial_id,seed,widths,n1,m,trial,min_depth")
    );
    assert!(
        rows.lines()
            .skip(1)
            .all(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(",2,2-"))
    );
    for file in ["exact_sweep.csv", "exact_sweep_rungs.csv"] {
        let one = common::read(&dir.join("one").join(file));
        assert_eq!(one, common::read(&dir.join("two").join(file)), "{file}: 1 vs 2 threads");
        assert_eq!(
            one,
            common::read(&dir.join("merged").join(file)),
            "{file}: whole vs merged shards"
        );
    }
    assert!(dir.join("one/exact_sweep_spread.png").exists());
}
