//! Networks as safetensors files (`dpr_audit::core::weights`): a saved network loads back
//! bit for bit, F32 files written by other tools load with the f32 values, and every defective
//! file is refused with a usage error that names the problem.
//!
//! Files live under `std::env::temp_dir()` with names unique to this process and test, and are
//! removed when the test ends (pass or fail).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use dpr_audit::Error;
use dpr_audit::core::network::{Activation, Layer, Network, WeightScale};
use dpr_audit::core::weights::{load, save};
use dpr_audit::rng::{Stream, stream};
use faer::Mat;
use rand::RngExt;
use safetensors::tensor::{Dtype, TensorView};

/// Master seed of the random networks in this file.
const SEED: u64 = 20_180_704;
/// Experiment name of this file's random streams.
const EXPERIMENT: &str = "tests-weights-io";

/// A path under the temp dir that is removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    /// A fresh path, unique to this process and `tag` (one tag per test).
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("dpr-audit-weights-io-{}-{tag}.safetensors", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One tensor to write by hand: name, dtype, shape, raw little-endian bytes.
struct RawTensor {
    name: &'static str,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn f64_tensor(name: &'static str, shape: &[usize], values: &[f64]) -> RawTensor {
    assert_eq!(shape.iter().product::<usize>(), values.len());
    RawTensor {
        name,
        dtype: Dtype::F64,
        shape: shape.to_vec(),
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn f32_tensor(name: &'static str, shape: &[usize], values: &[f32]) -> RawTensor {
    assert_eq!(shape.iter().product::<usize>(), values.len());
    RawTensor {
        name,
        dtype: Dtype::F32,
        shape: shape.to_vec(),
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// `rows × cols` F64 values `0.1 (i + 1)`, distinct and finite.
fn ramp(name: &'static str, rows: usize, cols: usize) -> RawTensor {
    let values: Vec<f64> = (0..rows * cols).map(|i| 0.1 * (i + 1) as f64).collect();
    f64_tensor(name, &[rows, cols], &values)
}

/// Writes a safetensors file with the `safetensors` crate directly (not through the library).
fn write_raw(path: &Path, tensors: &[RawTensor], metadata: &[(&str, &str)]) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|t| {
            (
                t.name.to_string(),
                TensorView::new(t.dtype, t.shape.clone(), &t.bytes).expect("consistent tensor"),
            )
        })
        .collect();
    let meta: Option<HashMap<String, String>> =
        (!metadata.is_empty()).then(|| metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let bytes = safetensors::serialize(views, meta).expect("serialisable");
    std::fs::write(path, bytes).expect("temp dir is writable");
}

/// Loads `path`, expects `Error::Weights` for that path, checks it is a usage error and that
/// its reason contains every one of `needles`; returns the reason.
fn expect_weights_error(path: &Path, needles: &[&str]) -> String {
    let err = match load(path) {
        Ok(_) => panic!(
            "{} loaded but should have been refused (expected {needles:?})",
            path.display()
        ),
        Err(err) => err,
    };
    assert!(err.is_usage(), "a bad weights file is the caller's mistake: {err}");
    let message = err.to_string();
    match err {
        Error::Weights { path: reported, reason } => {
            assert_eq!(reported, path, "the error must name the file");
            for needle in needles {
                assert!(reason.contains(needle), "reason {reason:?} should mention {needle:?}");
            }
            assert!(
                message.contains(&reason),
                "the displayed message should carry the reason: {message}"
            );
            reason
        }
        other => panic!("expected Error::Weights, got {other:?}"),
    }
}

/// Asserts two networks are identical: shapes, every weight and bias bit for bit (the F64 file
/// stores the exact bits, so exact comparison is the right one), and activations.
fn assert_same_network(a: &Network, b: &Network) {
    assert_eq!(a.widths(), b.widths());
    for (i, (la, lb)) in a.layers().iter().zip(b.layers()).enumerate() {
        let (rows, cols) = (la.weight.nrows(), la.weight.ncols());
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(
                    la.weight[(r, c)].to_bits(),
                    lb.weight[(r, c)].to_bits(),
                    "W{} entry ({r}, {c})",
                    i + 1
                );
            }
        }
        let bits = |b: &Option<Vec<f64>>| b.as_ref().map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        assert_eq!(bits(&la.bias), bits(&lb.bias), "b{}", i + 1);
        assert_eq!(la.activation, lb.activation, "activation of layer {}", i + 1);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn random_relu_network_round_trips_with_metadata() {
    let file = TempPath::new("roundtrip-relu");
    let net = Network::gaussian(
        &[5, 40, 60],
        WeightScale::Normalized,
        &mut stream(SEED, EXPERIMENT, 0, Stream::Network),
    );
    let extra = BTreeMap::from([
        ("seed".to_string(), SEED.to_string()),
        ("weight_scale".to_string(), "normalized".to_string()),
        ("note".to_string(), "unicode Λ_x, commas, = signs".to_string()),
    ]);
    save(&net, file.path(), &extra).expect("save");
    let loaded = load(file.path()).expect("load");
    assert_same_network(&net, &loaded.net);
    assert_eq!(loaded.dtype, "F64");
    for (k, v) in &extra {
        assert_eq!(
            loaded.metadata.get(k),
            Some(v),
            "metadata key {k} must be carried through"
        );
    }
    assert_eq!(
        loaded.metadata.get("activations").map(String::as_str),
        Some("relu,relu")
    );
    assert!(loaded.net.theory_violations().is_empty());
    // Nothing but the file itself is left in the directory (the atomic write cleaned up).
    let dir = file.path().parent().expect("temp dir");
    let name = file
        .path()
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let strays: Vec<_> = std::fs::read_dir(dir)
        .expect("temp dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&name) && *n != name)
        .collect();
    assert!(strays.is_empty(), "partial files left behind: {strays:?}");
}

#[test]
fn biased_smooth_network_round_trips() {
    let file = TempPath::new("roundtrip-smooth");
    let mut rng = stream(SEED, EXPERIMENT, 1, Stream::Network);
    let mut layer = |rows: usize, cols: usize, bias: bool, activation: Activation| Layer {
        weight: Mat::from_fn(rows, cols, |_, _| rng.random::<f64>() - 0.5),
        bias: bias.then(|| (0..rows).map(|_| rng.random::<f64>() - 0.5).collect()),
        activation,
    };
    let layers = vec![
        layer(7, 3, true, Activation::Softplus),
        layer(6, 7, false, Activation::Identity),
        layer(4, 6, true, Activation::Sigmoid),
    ];
    let net = Network::from_layers(layers).expect("valid layers");
    save(&net, file.path(), &BTreeMap::new()).expect("save");
    let loaded = load(file.path()).expect("load");
    assert_same_network(&net, &loaded.net);
    assert!(
        loaded.net.layers()[1].bias.is_none(),
        "a layer without bias must stay without bias"
    );
    assert_eq!(
        loaded.metadata.get("activations").map(String::as_str),
        Some("softplus,identity,sigmoid")
    );
    // The loaded network computes the same function, bit for bit.
    let x = [0.3, -1.2, 0.7];
    let (a, b) = (net.generate(&x), loaded.net.generate(&x));
    assert!(
        a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
        "G differs after a round trip: {a:?} vs {b:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. F32 files
// ---------------------------------------------------------------------------------------------

#[test]
fn f32_file_loads_with_f32_values_row_major() {
    let file = TempPath::new("f32");
    // Non-square shapes so that a row/column-major mix-up cannot go unnoticed; values such as
    // 0.1f32 are not the f64 0.1, so the test sees whether the f32 bits were widened.
    let (k, n1, n2) = (2, 3, 4);
    let w1: Vec<f32> = (0..n1 * k)
        .map(|i| 0.1 * (i as f32 + 1.0) * if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let w2: Vec<f32> = (0..n2 * n1).map(|i| 0.7 - 0.13 * i as f32).collect();
    let b2: Vec<f32> = vec![0.25, -0.5, 1.0 / 3.0, 3.0e-7];
    write_raw(
        file.path(),
        &[
            f32_tensor("W1", &[n1, k], &w1),
            f32_tensor("W2", &[n2, n1], &w2),
            f32_tensor("b2", &[n2], &b2),
        ],
        &[("activations", "softplus, relu")],
    );
    let loaded = load(file.path()).expect("an F32 file must load");
    assert_eq!(loaded.dtype, "F32");
    assert_eq!(loaded.net.widths(), [k, n1, n2]);
    for (layer, (values, cols)) in loaded.net.layers().iter().zip([(&w1, k), (&w2, n1)]) {
        for r in 0..layer.weight.nrows() {
            for c in 0..cols {
                // Widening f32 → f64 is exact, so the loaded value must be that exact number.
                assert_eq!(
                    layer.weight[(r, c)].to_bits(),
                    f64::from(values[r * cols + c]).to_bits(),
                    "entry ({r}, {c})"
                );
            }
        }
    }
    assert!(loaded.net.layers()[0].bias.is_none());
    let b2_loaded = loaded.net.layers()[1].bias.as_ref().expect("b2 was written");
    assert!(
        b2_loaded
            .iter()
            .zip(&b2)
            .all(|(a, b)| a.to_bits() == f64::from(*b).to_bits()),
        "b2 = {b2_loaded:?}"
    );
    let activations: Vec<Activation> = loaded.net.layers().iter().map(|l| l.activation).collect();
    assert_eq!(
        activations,
        [Activation::Softplus, Activation::Relu],
        "names are trimmed around commas"
    );
}

#[test]
fn missing_activations_metadata_means_relu() {
    let file = TempPath::new("no-meta");
    write_raw(file.path(), &[ramp("W1", 4, 3), ramp("W2", 2, 4)], &[]);
    let loaded = load(file.path()).expect("load");
    assert!(loaded.net.layers().iter().all(|l| l.activation == Activation::Relu));
    assert!(loaded.metadata.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. Bad files
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_file_is_a_missing_input_usage_error() {
    let file = TempPath::new("does-not-exist");
    let err = load(file.path()).expect_err("no such file");
    assert!(err.is_usage(), "{err}");
    match &err {
        Error::MissingInput { path, .. } => assert_eq!(path, file.path()),
        other => panic!("expected Error::MissingInput, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&file.path().display().to_string()),
        "the message must name the path: {err}"
    );
}

#[test]
fn random_bytes_are_not_a_safetensors_file() {
    let file = TempPath::new("random-bytes");
    let mut rng = stream(SEED, EXPERIMENT, 2, Stream::Probe);
    let bytes: Vec<u8> = (0..256).map(|_| rng.random::<u8>()).collect();
    std::fs::write(file.path(), bytes).expect("write");
    expect_weights_error(file.path(), &["not a safetensors file"]);
}

#[test]
fn missing_w1_is_refused() {
    let file = TempPath::new("missing-w1");
    write_raw(file.path(), &[ramp("W2", 4, 3), ramp("weight", 4, 3)], &[]);
    expect_weights_error(file.path(), &["W1"]);
}

#[test]
fn mismatched_layer_shapes_are_refused() {
    let file = TempPath::new("shape-mismatch");
    // W1 has 4 rows but W2 has 6 columns.
    write_raw(file.path(), &[ramp("W1", 4, 3), ramp("W2", 5, 6)], &[]);
    expect_weights_error(file.path(), &["W2", "4x3", "5x6"]);
}

#[test]
fn non_finite_weights_and_biases_are_refused() {
    let file = TempPath::new("nan");
    let mut w2: Vec<f64> = (0..8).map(|i| i as f64).collect();
    w2[5] = f64::NAN;
    write_raw(file.path(), &[ramp("W1", 4, 3), f64_tensor("W2", &[2, 4], &w2)], &[]);
    let reason = expect_weights_error(file.path(), &["W2", "non-finite", "NaN"]);
    assert!(reason.contains('5'), "the flat index should be reported: {reason}");

    let w1: Vec<f32> = vec![1.0, f32::INFINITY, 0.0, 0.5, 0.5, 0.5];
    write_raw(file.path(), &[f32_tensor("W1", &[2, 3], &w1)], &[]);
    expect_weights_error(file.path(), &["W1", "non-finite"]);

    write_raw(
        file.path(),
        &[ramp("W1", 2, 3), f64_tensor("b1", &[2], &[0.0, f64::NAN])],
        &[],
    );
    expect_weights_error(file.path(), &["b1", "non-finite"]);
}

#[test]
fn one_dimensional_weight_is_refused() {
    let file = TempPath::new("one-d");
    write_raw(file.path(), &[f64_tensor("W1", &[6], &[1.0; 6])], &[]);
    expect_weights_error(file.path(), &["W1", "2-D"]);
}

#[test]
fn bias_of_wrong_length_is_refused() {
    let file = TempPath::new("bias-length");
    write_raw(
        file.path(),
        &[ramp("W1", 4, 3), f64_tensor("b1", &[3], &[0.1, 0.2, 0.3])],
        &[],
    );
    expect_weights_error(file.path(), &["b1", "[4]"]);
}

#[test]
fn unknown_activation_is_refused() {
    let file = TempPath::new("unknown-activation");
    write_raw(
        file.path(),
        &[ramp("W1", 4, 3), ramp("W2", 2, 4)],
        &[("activations", "relu,tanh")],
    );
    expect_weights_error(file.path(), &["activation", "tanh"]);
}

#[test]
fn wrong_number_of_activations_is_refused() {
    let file = TempPath::new("activation-count");
    write_raw(
        file.path(),
        &[ramp("W1", 4, 3), ramp("W2", 2, 4)],
        &[("activations", "relu")],
    );
    expect_weights_error(file.path(), &["activations", "1", "2 layers"]);
    write_raw(
        file.path(),
        &[ramp("W1", 4, 3), ramp("W2", 2, 4)],
        &[("activations", "relu,relu,sigmoid")],
    );
    expect_weights_error(file.path(), &["activations", "3", "2 layers"]);
}

#[test]
fn integer_dtype_is_refused() {
    let file = TempPath::new("i32");
    let values: Vec<i32> = (0..12).collect();
    let tensor = RawTensor {
        name: "W1",
        dtype: Dtype::I32,
        shape: vec![4, 3],
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    };
    write_raw(file.path(), &[tensor], &[]);
    expect_weights_error(file.path(), &["W1", "dtype", "I32", "F32 or F64"]);
}

#[test]
fn gaps_in_layer_numbering_are_refused() {
    let file = TempPath::new("gap");
    write_raw(file.path(), &[ramp("W1", 4, 3), ramp("W3", 2, 4)], &[]);
    expect_weights_error(file.path(), &["W3", "without gaps"]);
}

#[test]
fn stray_bias_without_a_layer_is_refused() {
    let file = TempPath::new("stray-bias");
    write_raw(
        file.path(),
        &[ramp("W1", 4, 3), ramp("W2", 2, 4), f64_tensor("b3", &[2], &[0.0, 1.0])],
        &[],
    );
    expect_weights_error(file.path(), &["b3"]);
}
