//! The VAE trainer of `dpr-audit mnist train` and the decoders shipped in `models/`.
//!
//! Offline: the gradient is checked on tiny networks in `f64`, training on the 16 committed
//! fixture digits; the shipped decoders are checked against `models/SHA256SUMS` and run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dpr_audit::core::network::Activation;
use dpr_audit::core::weights;
use dpr_audit::images::mnist;
use dpr_audit::images::train::{self, AdamParams, Images, TrainOptions, evaluate};
use dpr_audit::images::vae::{DecoderKind, MODELS_DIR, Vae, Workspace};
use dpr_audit::rng::{Stream, standard_normal_vector, stream};
use rand::RngExt;

/// Central differences with step `h` on `f64` losses of order 10 have an error of about
/// `h² |L'''| + ε |L| / h ≈ 1e-12 + 1e-9`; a wrong term in the gradient is off by O(1e-2) or
/// more, so a tolerance of 1e-6 (relative to max(1, |g|)) separates the two by orders of
/// magnitude.
const FD_STEP: f64 = 1e-6;
const FD_TOL: f64 = 1e-6;

/// A tiny VAE in `f64` (6 pixels, hidden width 5, latent 3), a batch of 4 inputs in [0, 1] and
/// fixed reparameterisation noise.
fn tiny(kind: DecoderKind) -> (Vae<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = stream(11, "tests/mnist_train", 0, Stream::Network);
    let model = Vae::new(kind, 6, 5, 3, 0.3, &mut rng);
    let x: Vec<f64> = (0..6 * 4).map(|_| rng.random::<f64>()).collect();
    let noise = standard_normal_vector(&mut rng, 3 * 4);
    (model, x, noise)
}

fn total_loss(model: &Vae<f64>, x: &[f64], noise: &[f64]) -> f64 {
    model.loss(x, noise, 4, &mut Workspace::default()).total()
}

#[test]
fn vae_gradient_matches_central_differences() {
    for kind in [DecoderKind::Vae, DecoderKind::Relu] {
        let (model, x, noise) = tiny(kind);
        let mut grads = model.zeros_like();
        let parts = model.loss_and_gradient(&x, &noise, 4, &mut grads, &mut Workspace::default());
        assert!((parts.total() - total_loss(&model, &x, &noise)).abs() < 1e-12);
        assert!(parts.kl > 0.0 && parts.reconstruction > 0.0, "{parts:?}");
        let analytic: Vec<Vec<f64>> = grads.tensors().iter().map(|t| t.to_vec()).collect();
        let mut checked = 0;
        for (t, tensor) in analytic.iter().enumerate() {
            for (i, &g) in tensor.iter().enumerate() {
                let mut plus = model.clone();
                plus.tensors_mut()[t][i] += FD_STEP;
                let mut minus = model.clone();
                minus.tensors_mut()[t][i] -= FD_STEP;
                let fd = (total_loss(&plus, &x, &noise) - total_loss(&minus, &x, &noise)) / (2.0 * FD_STEP);
                assert!(
                    (fd - g).abs() <= FD_TOL * g.abs().max(1.0),
                    "{kind:?}: tensor {t} entry {i}: analytic {g}, central difference {fd}"
                );
                checked += 1;
            }
        }
        assert_eq!(
            checked,
            model.encoder.parameter_count() + model.decoder.parameter_count()
        );
    }
}

#[test]
fn decoder_as_network_computes_the_same_images() {
    // The trainer stores W column-major, Network and the safetensors file row-major: a
    // transposition error would make a shipped decoder compute something else.
    for kind in [DecoderKind::Vae, DecoderKind::Relu] {
        let (model, x, _) = tiny(kind);
        let mut ws = Workspace::default();
        let images = model.reconstruct(&x, 4, &mut ws).to_vec();
        let codes = ws.codes().to_vec();
        let net = model.decoder.to_network().unwrap();
        for (code, image) in codes.chunks(3).zip(images.chunks(6)) {
            let generated = net.generate(code);
            for (a, b) in generated.iter().zip(image) {
                assert!((a - b).abs() <= 1e-14, "{kind:?}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn f32_weights_survive_a_save_and_load_exactly() {
    let model: Vae<f32> = train::init_model(DecoderKind::Relu, 0.2, 5);
    let net = model.decoder.to_network().unwrap();
    let dir = common::scratch_dir("mnist_train", "f32");
    let path = dir.join("d.safetensors");
    weights::save_f32(&net, &path, &BTreeMap::new()).unwrap();
    let loaded = weights::load(&path).unwrap();
    assert_eq!(loaded.dtype, "F32");
    for (a, b) in loaded.net.layers().iter().zip(net.layers()) {
        assert_eq!(a.weight, b.weight);
        assert_eq!(a.bias, b.bias);
        assert_eq!(a.activation, b.activation);
    }
    // 4 bytes per weight plus a small header: a few MB, small enough to commit.
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 4 * 653_000 + 4_096, "{size} bytes");
}

fn fixture_images() -> Images<f32> {
    Images::from_digits(&mnist::fixture().unwrap())
}

fn options(epochs: usize, batch: usize) -> TrainOptions {
    TrainOptions {
        epochs,
        batch,
        adam: AdamParams::with_lr(1e-3),
        seed: 3,
    }
}

#[test]
fn training_on_the_fixture_digits_decreases_the_loss() {
    let images = fixture_images();
    for kind in [DecoderKind::Vae, DecoderKind::Relu] {
        let mut model: Vae<f32> = train::init_model(kind, 0.2, 3);
        let noise: Vec<f32> = standard_normal_vector(&mut stream(3, "tests/noise", 0, Stream::Noise), 20 * 16)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let mut ws = Workspace::default();
        let before = model.loss(images.pixels(), &noise, 16, &mut ws).total();
        let error_before = evaluate(&model, &images).mse_per_pixel;
        let records = train::train(&mut model, &images, &images, &options(10, 8), "tests", &|| ());
        let after = model.loss(images.pixels(), &noise, 16, &mut ws).total();
        // 20 Adam steps on 16 digits, loss compared on the same noise. Measured (seed 3):
        // loss 617 → 195 (vae) and 963 → 521 (relu), test error 0.260 → 0.063 and
        // 0.097 → 0.050; a sign error or a missing term would stall or raise them.
        assert!(after < 0.8 * before, "{kind:?}: loss {before} → {after}");
        let error_after = records.last().unwrap().test.mse_per_pixel;
        assert!(
            error_after < 0.8 * error_before,
            "{kind:?}: error {error_before} → {error_after}"
        );
        assert_eq!(records.len(), 10);
    }
}

#[test]
fn thread_count_does_not_change_the_trained_weights() {
    let images = fixture_images();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut model: Vae<f32> = train::init_model(DecoderKind::Vae, 0.2, 9);
            let records = train::train(&mut model, &images, &images, &options(2, 16), "tests", &|| ());
            (model, records.last().unwrap().test.mse_per_pixel)
        })
    };
    let (one, e1) = run(1);
    let (two, e2) = run(2);
    assert_eq!(e1.to_bits(), e2.to_bits());
    for (a, b) in one.tensors().iter().zip(two.tensors()) {
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(MODELS_DIR)
}

#[test]
fn shipped_decoders_match_their_sha256sums() {
    // The shipped folder and the one holding the 50-epoch VAE decoder (`verify --models`).
    for dir in [models_dir(), models_dir().join("epochs50")] {
        let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
        let listed: BTreeMap<&str, &str> = sums
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(s, n)| (n, s))
            .collect();
        for kind in [DecoderKind::Vae, DecoderKind::Relu] {
            let name = kind.file_name();
            let expected = listed
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not in {}/SHA256SUMS", dir.display()));
            let bytes = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(&mnist::sha256_hex(&bytes), expected, "{}/{name}", dir.display());
        }
    }
}

#[test]
fn shipped_decoders_load_and_draw_images() {
    for kind in [DecoderKind::Vae, DecoderKind::Relu] {
        let loaded = weights::load(&models_dir().join(kind.file_name())).unwrap();
        let net = &loaded.net;
        assert_eq!(net.widths(), vec![20, 500, 500, 784], "{kind:?}");
        assert_eq!(loaded.dtype, "F32");
        assert_eq!(loaded.metadata.get("decoder").map(String::as_str), Some(kind.name()));
        assert!(loaded.metadata["attribution"].contains("CC BY-SA 3.0"));
        let expected = match kind {
            DecoderKind::Vae => [Activation::Softplus, Activation::Softplus, Activation::Sigmoid],
            DecoderKind::Relu => [Activation::Relu; 3],
        };
        let layers = net.layers();
        assert_eq!(layers.iter().map(|l| l.activation).collect::<Vec<_>>(), expected);
        assert_eq!(layers.iter().all(|l| l.bias.is_some()), kind == DecoderKind::Vae);
        assert_eq!(net.theory_violations().is_empty(), kind == DecoderKind::Relu);
        let mut rng = stream(1, "tests/shipped", 0, Stream::Probe);
        for _ in 0..5 {
            let code = standard_normal_vector(&mut rng, 20);
            let image = net.generate(&code);
            assert_eq!(image.len(), 784);
            let ink = image.iter().filter(|&&p| p > 0.5).count();
            match kind {
                DecoderKind::Vae => {
                    assert!(image.iter().all(|p| (0.0..=1.0).contains(p)));
                    // A prior sample of the VAE is a digit: some ink, not a grey blur.
                    assert!((20..400).contains(&ink), "{ink} pixels above 0.5");
                }
                DecoderKind::Relu => {
                    assert!(image.iter().all(|&p| p >= 0.0) && ink > 0);
                    // Bias-free ReLU: G(2x) = 2 G(x) (positive homogeneity).
                    let doubled = net.generate(&code.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
                    for (a, b) in doubled.iter().zip(&image) {
                        assert!((a - 2.0 * b).abs() <= 1e-12 * (1.0 + a.abs()), "{a} vs 2 × {b}");
                    }
                }
            }
        }
    }
}

#[test]
fn shipped_decoders_reconstruct_the_fixture_digits_within_their_range() {
    // The metadata's test error is what the trainer measured with its encoder; here only
    // the decoder is shipped, so check the claim it supports: fixture digits lie close to
    // the decoder's range. A crude search (Adam on the code, in f64, from x = 0.1·1) must
    // bring each of three digits below 0.4 × the error of a blank image. Measured: ratios
    // 0.036, 0.050, 0.017 (vae) and 0.14, 0.24, 0.08 (relu); a decoder that ignores its code
    // or a garbled weights file stays near 1.
    let digits = mnist::fixture().unwrap();
    for kind in [DecoderKind::Vae, DecoderKind::Relu] {
        let net = weights::load(&models_dir().join(kind.file_name())).unwrap().net;
        for i in 0..3 {
            let target = digits.image(i);
            let blank = target.iter().map(|p| p * p).sum::<f64>() / 784.0;
            let error = fit_code(&net, &target);
            assert!(
                error < 0.4 * blank,
                "{kind:?}: digit {i}: per-pixel error {error}, blank image {blank}"
            );
        }
    }
}

/// `min_x ‖G(x) − y‖² / 784` by 300 Adam steps from `x = 0.1·1` (lr 0.05): a lower-effort
/// projection onto the range, returning the per-pixel error reached.
fn fit_code(net: &dpr_audit::core::network::Network, target: &[f64]) -> f64 {
    let mut x = vec![0.1; 20];
    let (mut m, mut v) = (vec![0.0; 20], vec![0.0; 20]);
    let (b1, b2, lr) = (0.9f64, 0.999f64, 0.05);
    let mut error = f64::INFINITY;
    for t in 1..=300 {
        let trace = net.forward(&x);
        let residual: Vec<f64> = trace.output().iter().zip(target).map(|(a, b)| a - b).collect();
        error = residual.iter().map(|r| r * r).sum::<f64>() / 784.0;
        let grad = net.vjp(&trace, &residual);
        for j in 0..20 {
            m[j] = b1 * m[j] + (1.0 - b1) * grad[j];
            v[j] = b2 * v[j] + (1.0 - b2) * grad[j] * grad[j];
            let (mh, vh) = (m[j] / (1.0 - b1.powi(t)), v[j] / (1.0 - b2.powi(t)));
            x[j] -= lr * mh / (vh.sqrt() + 1e-8);
        }
    }
    error
}

#[test]
fn missing_data_names_the_fetch_script() {
    let dir = common::scratch_dir("mnist_train", "missing");
    common::assert_usage_errors(
        &dir,
        &[
            (&["mnist", "train", "--data", "no-such-dir"], "scripts/fetch-mnist.sh"),
            (&["mnist", "train", "--fixture", "--epochs", "0"], "--epochs"),
            (&["mnist", "train", "--fixture", "--lr", "-1"], "--lr"),
            (&["mnist", "train", "--fixture", "--relu-sigma", "0"], "--relu-sigma"),
        ],
    );
    assert!(!dir.join("models").exists());
}

#[test]
fn train_command_on_the_fixture_writes_weights_checksums_and_curves() {
    let dir = common::scratch_dir("mnist_train", "cli");
    let args = [
        "--quiet",
        "--out",
        "out",
        "mnist",
        "train",
        "--fixture",
        "--epochs",
        "2",
        "--weights-dir",
        "m",
    ];
    let out = common::run(&dir, &args);
    common::assert_ok(&out);
    let sums = common::read(&dir.join("m/SHA256SUMS"));
    for kind in [DecoderKind::Vae, DecoderKind::Relu] {
        let bytes = std::fs::read(dir.join("m").join(kind.file_name())).unwrap();
        assert!(sums.contains(&format!("{}  {}", mnist::sha256_hex(&bytes), kind.file_name())));
    }
    let curves = common::read(&dir.join("out/training_curves.csv"));
    assert_eq!(curves.lines().count(), 1 + 2 * 2);
    // The same command again writes the same bytes (the file metadata holds no time).
    let first = std::fs::read(dir.join("m/vae-decoder.safetensors")).unwrap();
    common::assert_ok(&common::run(&dir, &args));
    assert_eq!(first, std::fs::read(dir.join("m/vae-decoder.safetensors")).unwrap());
    // Retraining one decoder keeps the other's checksum line.
    let relu_line = sums
        .lines()
        .find(|l| l.ends_with("relu-decoder.safetensors"))
        .unwrap()
        .to_string();
    let one = [
        "--quiet",
        "--out",
        "out",
        "mnist",
        "train",
        "--fixture",
        "--epochs",
        "1",
        "--which",
        "vae",
        "--weights-dir",
        "m",
    ];
    common::assert_ok(&common::run(&dir, &one));
    let sums = common::read(&dir.join("m/SHA256SUMS"));
    assert!(sums.contains(&relu_line));
    assert_eq!(sums.lines().count(), 2);
}
