//! The WDC estimators against brute force and against each other (docs/THEORY.md §2).

use std::f64::consts::PI;
use std::process::Command;

use dpr_audit::conditions::certify::{LIPSCHITZ, certify, q_planar};
use dpr_audit::conditions::wdc::{Domain, WdcSearch, estimate_layer};
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::rng::{Stream, stream};

fn layer(n: usize, seed: u64) -> Network {
    Network::gaussian(
        &[2, n],
        WeightScale::Normalized,
        &mut stream(seed, "test-wdc", 0, Stream::Network),
    )
}

/// `‖W_{+,x}ᵀW_{+,y} − Q‖` at angles (α, β), summed row by row (independent of the library's
/// kernels; the spectral norm of a symmetric 2×2 in closed form).
fn brute_deviation(net: &Network, alpha: f64, beta: f64) -> f64 {
    let w = &net.layers()[0].weight;
    let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
    for r in 0..w.nrows() {
        let (w0, w1) = (w[(r, 0)], w[(r, 1)]);
        if w0 * alpha.cos() + w1 * alpha.sin() > 0.0 && w0 * beta.cos() + w1 * beta.sin() > 0.0 {
            a += w0 * w0;
            b += w0 * w1;
            c += w1 * w1;
        }
    }
    let q = q_planar(alpha, beta);
    let (a, b, c) = (a - q.a, b - q.b, c - q.c);
    0.5 * (a + c).abs() + (0.25 * (a - c).powi(2) + b * b).sqrt()
}

/// The certificate brackets an independent brute-force grid over both angles: the grid's
/// maximum is ≤ `upper`, and ≥ `lower − L·(grid spacing)` (the Lipschitz bound between the
/// grid and the certified arg-max).
#[test]
fn certificate_brackets_a_brute_force_grid() {
    for (n, seed) in [(7, 1), (40, 2), (120, 3)] {
        let net = layer(n, seed);
        let cert = certify(net.layers()[0].weight.as_ref(), 1e-3);
        assert!(
            cert.lower <= cert.upper && cert.upper <= cert.lower + 1e-3 + 1e-8,
            "{cert:?}"
        );
        let grid = 1500;
        let h = 2.0 * PI / grid as f64;
        let mut brute: f64 = 0.0;
        for i in 0..grid {
            for j in 0..grid {
                brute = brute.max(brute_deviation(&net, i as f64 * h, j as f64 * h));
            }
        }
        assert!(brute <= cert.upper, "n = {n}: grid {brute} > upper {}", cert.upper);
        assert!(
            brute >= cert.lower - LIPSCHITZ * h - 1e-12,
            "n = {n}: grid {brute} ≪ lower {}",
            cert.lower
        );
        // The certified arg-max is a real pair with that value.
        let at = brute_deviation(&net, cert.argmax_alpha, cert.argmax_beta);
        assert!(
            (at - cert.lower).abs() < 1e-9,
            "value at arg-max {at} vs lower {}",
            cert.lower
        );
    }
}

/// The sampled-and-refined search reaches the certified value (within the certificate's
/// tolerance) and never exceeds the upper bound: the search finds the worst pairs.
#[test]
fn sampled_search_reaches_the_certified_value() {
    let search = WdcSearch {
        pairs: 20_000,
        domain: Domain::Full,
        refine_starts: 16,
        refine_steps: 400,
    };
    for (n, seed) in [(50, 11), (200, 12), (500, 13)] {
        let net = layer(n, seed);
        let cert = certify(net.layers()[0].weight.as_ref(), 1e-3);
        let est = estimate_layer(&net, 0, &search, seed, "test-wdc", 0);
        assert!(est.sampled <= est.lower_bound, "refinement lowered the value");
        assert!(
            est.lower_bound <= cert.upper,
            "n = {n}: estimate {} above certified upper {}",
            est.lower_bound,
            cert.upper
        );
        assert!(
            est.lower_bound >= cert.lower - 1e-3,
            "n = {n}: estimate {} misses certified {}",
            est.lower_bound,
            cert.lower
        );
        assert!(
            est.trace.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0),
            "trace must be monotone"
        );
    }
}

/// Same seed ⇒ the same estimate, whatever the thread count.
#[test]
fn estimate_is_independent_of_thread_count() {
    let net = Network::gaussian(
        &[6, 80, 120],
        WeightScale::Normalized,
        &mut stream(5, "test-wdc", 0, Stream::Network),
    );
    let search = WdcSearch {
        pairs: 3000,
        domain: Domain::Range,
        refine_starts: 4,
        refine_steps: 50,
    };
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                (0..2)
                    .map(|l| estimate_layer(&net, l, &search, 5, "t", 0))
                    .collect::<Vec<_>>()
            })
    };
    let (a, b) = (run(1), run(2));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.lower_bound.to_bits(), y.lower_bound.to_bits());
        assert_eq!(x.argmax_x, y.argmax_x);
        assert_eq!(x.trace, y.trace);
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("dpr-audit-wdc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Command::new(env!("CARGO_BIN_EXE_dpr-audit"))
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap()
}

#[test]
fn cli_certificate_json_and_bad_input() {
    let out = cli(&[
        "--json",
        "--out",
        "cert",
        "wdc",
        "--widths",
        "2,200",
        "--certify",
        "--seed",
        "1",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (lower, upper) = (v["lower"].as_f64().unwrap(), v["upper"].as_f64().unwrap());
    assert!(lower <= upper && upper <= lower + 1e-3 + 1e-8, "[{lower}, {upper}]");
    for layer in v["layers"].as_array().unwrap() {
        assert!(layer["epsilon_lower_bound"].as_f64().unwrap() <= upper);
        assert!(layer["sampled"].as_f64().unwrap() <= upper);
    }
    for (args, needle) in [
        (&["wdc", "--k", "0,2", "--n", "10"][..], "--k"),
        (&["wdc", "--widths", "2,50", "--certify", "--tol", "-1"], "--tol"),
        (&["wdc", "--widths", "5,50", "--certify"], "k = 2, 3 or 4"),
    ] {
        let out = cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}");
    }
}

#[test]
fn cli_scaling_study_writes_fits() {
    let out = cli(&[
        "--json",
        "--out",
        "scaling",
        "wdc",
        "--k",
        "2,3",
        "--n",
        "20,40,80",
        "--trials",
        "2",
        "--pairs",
        "300",
        "--refine-steps",
        "20",
        "--certify",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"].as_array().unwrap().len(), 6);
    assert_eq!(v["summary"][0]["kind"], "certified_interval");
    // k = 3 is certified by the box search (docs/THEORY.md §14).
    assert_eq!(v["summary"][3]["kind"], "certified_interval");
    assert!(
        v["fits"][0]["fit"]["exponent"].as_f64().unwrap() < 0.0,
        "ε should fall with n: {}",
        v["fits"][0]
    );
}
