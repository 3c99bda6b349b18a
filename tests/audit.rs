//! The assumption audit of Theorem II.1 (`dpr_audit::conditions::audit`, `dpr-audit audit`):
//! the Kolmogorov–Smirnov statistic against a brute-force computation, the p-value's
//! calibration and power, rescaling to the theorem's variance, networks outside the theorem
//! (warnings, no panic), and the command end to end.
//!
//! Statistical tests fix their seed and put the threshold far in the tail (p > 1e-6 where the
//! hypothesis is true): a failure is a defect, not bad luck.

mod common;
use common::{assert_ok, assert_usage_errors, read, run};

fn scratch(name: &str) -> common::Scratch {
    common::scratch_dir("audit", name)
}

use dpr_audit::conditions::audit::{
    Hypothesis, Kind, Scaling, Status, audit, fitted_variance, kolmogorov_survival, ks_statistic, ks_test_normal,
    rescale_to_theory,
};
use dpr_audit::conditions::wdc::{Domain, WdcSearch};
use dpr_audit::core::network::{Activation, Layer, Network, WeightScale};
use dpr_audit::rng::{Stream, stream};
use faer::Mat;
use rand::RngExt;
use rand_distr::StandardNormal;
use statrs::distribution::{ContinuousCDF, Normal};

/// Master seed of this file's random objects.
const SEED: u64 = 20_180_711;
/// Experiment name of this file's random streams.
const EXPERIMENT: &str = "tests-audit";
/// A small WDC search (the audit's ε is not what these tests check, except where stated).
const SMALL_SEARCH: WdcSearch = WdcSearch {
    pairs: 256,
    domain: Domain::Full,
    refine_starts: 1,
    refine_steps: 10,
};

/// `count` draws of `N(0, sd²)` from the test stream `trial`.
fn normal_sample(count: usize, sd: f64, trial: u64) -> Vec<f64> {
    let mut rng = stream(SEED, EXPERIMENT, trial, Stream::Probe);
    (0..count).map(|_| sd * rng.sample::<f64, _>(StandardNormal)).collect()
}

/// A random bias-free ReLU network from the test stream `trial`.
fn gaussian_net(widths: &[usize], scale: WeightScale, trial: u64) -> Network {
    Network::gaussian(widths, scale, &mut stream(SEED, EXPERIMENT, trial, Stream::Network))
}

/// The entries of layer `i` (0-based), column by column.
fn entries(net: &Network, i: usize) -> Vec<f64> {
    let w = &net.layers()[i].weight;
    (0..w.ncols()).flat_map(|j| w.col_as_slice(j).to_vec()).collect()
}

/// `sup_t |F_N(t) − F(t)|` by brute force: at every sample point `x`, compare `F(x)` with the
/// empirical CDF just at and just below `x`, each counted over the whole sample (O(N²)).
fn brute_force_ks(values: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = values.len() as f64;
    values
        .iter()
        .map(|&x| {
            let at = values.iter().filter(|&&v| v <= x).count() as f64 / n;
            let below = values.iter().filter(|&&v| v < x).count() as f64 / n;
            (at - cdf(x)).abs().max((below - cdf(x)).abs())
        })
        .fold(0.0, f64::max)
}

#[test]
fn ks_statistic_equals_brute_force_on_small_samples() {
    let normal = Normal::new(0.0, 0.3).unwrap();
    let cdf = |x: f64| normal.cdf(x);
    // A random sample, one with ties and the value 0 (F = 1/2), and a one-point sample.
    let mut tied = normal_sample(9, 0.3, 1);
    tied.extend_from_slice(&[tied[2], tied[2], 0.0, tied[5]]);
    for sample in [normal_sample(17, 0.3, 0), tied, vec![0.1], normal_sample(40, 1.0, 2)] {
        let fast = ks_statistic(&sample, cdf);
        let slow = brute_force_ks(&sample, cdf);
        // Both are max/min of the same f64 numbers up to one subtraction: a few ulps.
        assert!(
            (fast - slow).abs() < 1e-15,
            "fast {fast} vs brute force {slow} on {sample:?}"
        );
        let test = ks_test_normal(&sample, 0.3);
        assert!((test.statistic - slow).abs() < 1e-15 && test.samples == sample.len());
    }
    // One point at the median: the ECDF jumps from 0 to 1 where F = 1/2.
    assert!((ks_statistic(&[0.0], cdf) - 0.5).abs() < 1e-15);
}

#[test]
fn p_value_is_calibrated_under_the_hypothesis_and_invalid_with_a_fitted_sigma() {
    // 2000 samples of size 30 from exactly N(0, 1/25). With the small-sample correction the
    // p-value is close to uniform: Binomial(2000, 0.05) rejections at the 5% level, mean 100 and
    // standard deviation 9.75; the window is ±5 standard deviations.
    let (sd, trials) = (0.2, 2000);
    let samples: Vec<Vec<f64>> = (0..trials).map(|t| normal_sample(30, sd, 100 + t)).collect();
    let p_true: Vec<f64> = samples.iter().map(|x| ks_test_normal(x, sd).p_value).collect();
    let rejections = p_true.iter().filter(|&&p| p < 0.05).count() as f64;
    assert!(
        (rejections - 100.0).abs() <= 5.0 * 9.75,
        "{rejections} of {trials} p-values below 0.05"
    );
    // Against a σ *fitted* to each sample (zero-mean MLE), the same data give larger p-values:
    // the fitted law is closer to the sample than the true one, so D shrinks and the
    // Kolmogorov p-value is no longer valid. This is why the audit tests the hypothesised
    // 1/n_i. Paired over the samples, the mean increase is ≈ 16 standard errors (seen at this
    // seed); 5 is the threshold.
    let diff: Vec<f64> = samples
        .iter()
        .zip(&p_true)
        .map(|(x, p)| {
            let fitted = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
            ks_test_normal(x, fitted).p_value - p
        })
        .collect();
    let n = trials as f64;
    let mean = diff.iter().sum::<f64>() / n;
    let se = (diff.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() / n.sqrt();
    assert!(mean > 5.0 * se, "fitted σ raises p by {mean} ± {se}");
}

#[test]
fn ks_accepts_theory_weights_and_rejects_variance_four_over_n() {
    // One 200 × 30 layer (6000 entries). Under the hypothesis p is uniform: p > 1e-6 fails with
    // probability 1e-6 at this fixed seed. With variance 4/n, D ≈ 0.2 and p underflows.
    let net = gaussian_net(&[30, 200], WeightScale::Normalized, 0);
    let sd = (1.0_f64 / 200.0).sqrt();
    let good = ks_test_normal(&entries(&net, 0), sd);
    assert!(good.p_value > 1e-6, "N(0, 1/n) weights rejected: {good:?}");
    let doubled: Vec<f64> = entries(&net, 0).iter().map(|v| 2.0 * v).collect();
    let bad = ks_test_normal(&doubled, sd);
    assert!(
        bad.p_value < 1e-6 && bad.statistic > 0.1,
        "variance 4/n not rejected: {bad:?}"
    );
    // The Kolmogorov tail at the classical 5% and 1% critical values (Smirnov's table).
    assert!((kolmogorov_survival(1.3581) - 0.05).abs() < 1e-4);
    assert!((kolmogorov_survival(1.6276) - 0.01).abs() < 1e-4);
    // Through the audit: the same verdicts per layer.
    let report = audit(&net, &SMALL_SEARCH, SEED);
    // The same computation on the same numbers: bit-identical, not merely close.
    assert_eq!(report.layers[0].ks.statistic.to_bits(), good.statistic.to_bits());
    let mut wide = gaussian_net(&[30, 200], WeightScale::Normalized, 0).layers().to_vec();
    wide[0].weight = &wide[0].weight * faer::Scale(2.0);
    let report = audit(&Network::from_layers(wide).unwrap(), &SMALL_SEARCH, SEED);
    assert!(report.failures().contains(&Hypothesis::GaussianWeights));
}

#[test]
fn rescaling_makes_the_fitted_variance_the_theorys() {
    // Unit-variance weights, a layer scaled by 1e-3, and a layer with a nonzero mean.
    let mut layers = gaussian_net(&[4, 30, 50, 70], WeightScale::Unit, 3).layers().to_vec();
    layers[1].weight = &layers[1].weight * faer::Scale(1e-3);
    layers[2].weight = Mat::from_fn(70, 50, |i, j| layers[2].weight[(i, j)] + 0.5);
    let net = Network::from_layers(layers).unwrap();
    let rescaled = rescale_to_theory(&net);
    for (i, layer) in rescaled.net.layers().iter().enumerate() {
        let target = 1.0 / layer.weight.nrows() as f64;
        // σ̂² is a sum of N squares (worst-case relative error N·ε), then c² multiplies it.
        let tol = 4.0 * f64::EPSILON * (layer.weight.nrows() * layer.weight.ncols()) as f64;
        assert!(
            (fitted_variance(layer) / target - 1.0).abs() < tol,
            "layer {}: {}",
            i + 1,
            fitted_variance(layer)
        );
        let c = rescaled.factors[i].expect("a nonzero layer can be rescaled");
        let original = &net.layers()[i];
        assert!((layer.weight[(1, 2)] - c * original.weight[(1, 2)]).abs() <= 1e-15 * layer.weight[(1, 2)].abs());
        assert_eq!(layer.activation, original.activation);
    }
    // Unit-variance weights are far from the theorem's law; the audit reports ε for both
    // scalings, every one a lower bound.
    let report = audit(&net, &SMALL_SEARCH, SEED);
    assert!(report.failures().contains(&Hypothesis::GaussianWeights));
    let checks = report.checks();
    for scaling in [Scaling::AsGiven, Scaling::Rescaled] {
        let eps: Vec<_> = checks
            .iter()
            .filter(|c| c.quantity == "epsilon" && c.scaling == Some(scaling) && c.layer.is_some())
            .collect();
        assert_eq!(eps.len(), 3);
        assert!(
            eps.iter()
                .all(|c| c.kind == Kind::LowerBound && c.value.is_some_and(|v| v > 0.0))
        );
    }
    // Unit-variance layer 1 (n_1 = 30): W_+ᵀW_+ ≈ 30 Q, so ε as given is far above ε rescaled.
    assert!(
        report.layers[0].epsilon_given > 5.0 * report.layers[0].epsilon_rescaled,
        "{:?}",
        report.layers[0]
    );
}

#[test]
fn biased_softplus_network_is_audited_with_warnings() {
    let base = gaussian_net(&[5, 40, 60], WeightScale::Normalized, 4);
    let layers: Vec<Layer> = base
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| Layer {
            weight: l.weight.clone(),
            bias: Some((0..l.weight.nrows()).map(|r| 0.01 * (r as f64 - 3.0)).collect()),
            activation: if i == 0 {
                Activation::Softplus
            } else {
                Activation::Sigmoid
            },
        })
        .collect();
    let net = Network::from_layers(layers).unwrap();
    let report = audit(&net, &SMALL_SEARCH, SEED);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("WARNING:") && w.contains("bias") && w.contains("softplus"))
    );
    let failures = report.failures();
    assert!(
        failures.contains(&Hypothesis::BiasFree) && failures.contains(&Hypothesis::Relu),
        "{failures:?}"
    );
    // The theorem's quantities are still computed on the weights, and agree with the
    // bias-free ReLU network of the same weights (the WDC sees only W_i, and the searches use
    // the same streams: bit-identical, not merely close).
    let plain = audit(&base, &SMALL_SEARCH, SEED);
    for (a, b) in report.layers.iter().zip(&plain.layers) {
        assert!(a.epsilon_given.is_finite() && a.epsilon_given.to_bits() == b.epsilon_given.to_bits());
        assert_eq!(a.ks.statistic.to_bits(), b.ks.statistic.to_bits());
    }
    assert!(plain.warnings.is_empty());
    let summary = report.summary();
    assert!(summary.contains("WARNING") && summary.contains("FAILS"));
    let relu_rows: Vec<_> = report
        .checks()
        .into_iter()
        .filter(|c| c.hypothesis == Hypothesis::Relu)
        .collect();
    assert!(relu_rows.iter().all(|c| c.status == Status::Fails));
}

#[test]
fn one_layer_network_fails_depth_and_k1_uses_the_worst_layer() {
    let net = gaussian_net(&[3, 40], WeightScale::Normalized, 5);
    let report = audit(&net, &SMALL_SEARCH, SEED);
    assert!(report.failures().contains(&Hypothesis::Depth));
    assert!(report.warnings.iter().any(|w| w.contains("d = 1")));
    let eps = report.given.epsilon;
    assert!((report.given.k1_max - 1.0 / eps.powf(0.25)).abs() < 1e-12 * report.given.k1_max);
    let net = gaussian_net(&[3, 40, 60], WeightScale::Normalized, 6);
    let report = audit(&net, &SMALL_SEARCH, SEED);
    let worst = report.layers.iter().map(|l| l.epsilon_given).fold(0.0, f64::max);
    assert_eq!(report.given.epsilon, worst);
    let expected = 1.0 / (256.0 * worst.powf(0.25));
    assert!((report.given.k1_max - expected).abs() < 1e-12 * expected);
    // 24π d⁶ √ε with ε ≥ 0.1 is far above 1 for d = 2: a definite failure of HLV Prop. 1.
    assert!(worst > 0.1 && report.failures().contains(&Hypothesis::Prop1Requirement));
}

// ---- the command end to end ----

/// The rows of a CSV file as maps from column to cell.
fn rows(csv: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn audit_of_random_widths_writes_csv_manifest_and_json() {
    let dir = scratch("widths");
    let out = run(&dir, &["--out", "a", "--seed", "3", "audit", "--widths", "5,50,100"]);
    assert_ok(&out);
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("5-50-100") && human.contains("K_1") && human.contains("at most"),
        "{human}"
    );
    let csv = read(&dir.join("a/audit.csv"));
    assert!(csv.starts_with(
        "seed,source,weight_scale,d,pairs,refine_starts,refine_steps,layer,n_in,n_out,hypothesis,quantity,scaling,value,kind,reference,status,note\n"
    ));
    let table = rows(&csv);
    let eps: Vec<_> = table.iter().filter(|r| r["quantity"] == "epsilon").collect();
    assert_eq!(
        eps.len(),
        2 * 2 + 2,
        "two layers and the network maximum, as given and rescaled"
    );
    assert!(eps.iter().all(|r| r["kind"] == "lower_bound"));
    assert!(eps.iter().any(|r| r["scaling"] == "as_given") && eps.iter().any(|r| r["scaling"] == "rescaled"));
    let k1: Vec<_> = table.iter().filter(|r| r["quantity"] == "k1_max").collect();
    assert!(k1.len() == 2 && k1.iter().all(|r| r["kind"] == "upper_bound"));
    assert!(table.iter().all(|r| r["seed"] == "3" && r["source"] == "random"));
    let manifest: serde_json::Value = serde_json::from_str(&read(&dir.join("a/manifest.json"))).unwrap();
    assert_eq!(manifest["command"], "audit");
    assert_eq!(manifest["parameters"]["pairs"], 5000);
    let json = run(
        &dir,
        &["--out", "b", "--seed", "3", "--json", "audit", "--widths", "5,50,100"],
    );
    assert_ok(&json);
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(summary["widths"], serde_json::json!([5, 50, 100]));
    assert_eq!(summary["hypotheses"].as_array().unwrap().len(), 9);
    assert_eq!(summary["epsilon"]["kind"], "lower_bound");
    // Same seed, same numbers (the folder name is not in the CSV).
    assert_eq!(csv, read(&dir.join("b/audit.csv")));
}

#[test]
fn audit_of_a_saved_network_matches_the_same_widths_and_seed() {
    // `net --save` and `audit --widths` draw the same network from the same seed.
    let dir = scratch("saved");
    assert_ok(&run(
        &dir,
        &[
            "--quiet",
            "--seed",
            "4",
            "net",
            "--widths",
            "3,10,20",
            "--save",
            "small.safetensors",
        ],
    ));
    assert_ok(&run(
        &dir,
        &[
            "--quiet", "--seed", "4", "--out", "w", "audit", "--widths", "3,10,20", "--pairs", "300",
        ],
    ));
    assert_ok(&run(
        &dir,
        &[
            "--quiet",
            "--seed",
            "4",
            "--out",
            "f",
            "audit",
            "--weights",
            "small.safetensors",
            "--pairs",
            "300",
        ],
    ));
    let strip = |s: String| s.replace("small.safetensors", "random");
    assert_eq!(read(&dir.join("w/audit.csv")), strip(read(&dir.join("f/audit.csv"))));
}

#[test]
fn audit_runs_on_the_papers_decoder_shapes() {
    // 20-500-500-784 saved by `net`, 2000 pairs per layer and a short refinement: the two
    // 500-input layers dominate (matrix-free Lanczos per pair, twice: as given and rescaled).
    let dir = scratch("decoder");
    assert_ok(&run(
        &dir,
        &[
            "--quiet",
            "net",
            "--widths",
            "20,500,500,784",
            "--save",
            "f.safetensors",
        ],
    ));
    let args = [
        "--out",
        "big",
        "audit",
        "--weights",
        "f.safetensors",
        "--pairs",
        "2000",
        "--refine-starts",
        "1",
        "--refine-steps",
        "25",
    ];
    let out = run(&dir, &args);
    assert_ok(&out);
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("20-500-500-784") && human.contains("at most") && !human.contains("WARNING"),
        "{human}"
    );
    let table = rows(&read(&dir.join("big/audit.csv")));
    let ratios: Vec<f64> = table
        .iter()
        .filter(|r| r["quantity"] == "expansivity_ratio")
        .map(|r| r["value"].parse().unwrap())
        .collect();
    // 500/(20 ln 20), 500/(500 ln 500), 784/(500 ln 500).
    let expected = [
        500.0 / (20.0 * 20f64.ln()),
        1.0 / 500f64.ln(),
        784.0 / (500.0 * 500f64.ln()),
    ];
    assert!(
        ratios.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12 * b),
        "{ratios:?}"
    );
    // Theory weights: the KS test rejects no layer (p > 1e-6 under the hypothesis, fixed seed).
    assert!(
        table
            .iter()
            .filter(|r| r["quantity"] == "ks_p_value")
            .all(|r| r["value"].parse::<f64>().unwrap() > 1e-6)
    );
    let eps: Vec<f64> = table
        .iter()
        .filter(|r| r["quantity"] == "epsilon" && !r["layer"].is_empty())
        .map(|r| r["value"].parse().unwrap())
        .collect();
    assert!(
        eps.len() == 6 && eps.iter().all(|e| e.is_finite() && *e > 0.0),
        "{eps:?}"
    );
}

#[test]
fn audit_of_a_biased_softplus_file_warns_and_exits_zero() {
    let dir = scratch("biased");
    let base = gaussian_net(&[4, 20, 30], WeightScale::Normalized, 7);
    let layers: Vec<Layer> = base
        .layers()
        .iter()
        .map(|l| Layer {
            weight: l.weight.clone(),
            bias: Some(vec![0.1; l.weight.nrows()]),
            activation: Activation::Softplus,
        })
        .collect();
    let path = dir.join("vae.safetensors");
    dpr_audit::core::weights::save(&Network::from_layers(layers).unwrap(), &path, &Default::default()).unwrap();
    let out = run(
        &dir,
        &["--out", "a", "audit", "--weights", "vae.safetensors", "--pairs", "300"],
    );
    assert_ok(&out);
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("WARNING") && human.contains("nonzero bias") && human.contains("softplus"),
        "{human}"
    );
    let table = rows(&read(&dir.join("a/audit.csv")));
    let bias: Vec<_> = table.iter().filter(|r| r["hypothesis"] == "bias_free").collect();
    assert!(bias.len() == 2 && bias.iter().all(|r| r["status"] == "fails" && r["value"] == "0.1"));
}

#[test]
fn bad_input_is_exit_code_2_and_leaves_no_output() {
    let dir = scratch("bad");
    std::fs::write(dir.join("corrupt.safetensors"), b"not safetensors").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["audit", "--widths", "5,10", "--pairs", "0"], "--pairs"),
        (&["audit", "--widths", "5,0,10"], "entry 2 is 0"),
        (&["audit", "--widths", "5"], "at least two widths"),
        (&["audit"], "--widths"),
        (&["audit", "--weights", "missing.safetensors"], "missing.safetensors"),
        (&["audit", "--weights", "corrupt.safetensors"], "corrupt.safetensors"),
        (&["audit", "--widths", "5,10", "--refine-steps", "-1"], "-1"),
    ];
    assert_usage_errors(&dir, cases);
}

#[test]
fn audit_csv_is_identical_across_thread_counts() {
    let dir = scratch("threads");
    for (threads, out) in [("1", "t1"), ("2", "t2")] {
        assert_ok(&run(
            &dir,
            &[
                "--quiet",
                "--threads",
                threads,
                "--out",
                out,
                "audit",
                "--widths",
                "4,30,60",
                "--pairs",
                "600",
            ],
        ));
    }
    assert_eq!(read(&dir.join("t1/audit.csv")), read(&dir.join("t2/audit.csv")));
}
