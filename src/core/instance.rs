//! Whole instances as safetensors files: the network's tensors `W1 … Wd` (and `b1 … bd` when
//! present, as in [`super::weights`]), `A` (`[m, n]`), `x0` (`[k]`) and the amplitudes `b`
//! (`[m]`, the unnumbered `b`), all F64; the metadata carries the seed and the scales as provenance. A user can
//! audit an instance of their own, and anyone can re-check a reported one.

use std::collections::BTreeMap;
use std::path::Path;

use faer::Mat;

use super::measure::{MeasurementScale, Measurements};
use super::network::WeightScale;
use super::objective::Problem;
use super::source::NetworkOrigin;
use super::weights::{ExtraTensors, load_parts, save_with};
use crate::error::{Error, Result};

/// The non-network tensors of an instance file.
const TENSORS: [&str; 3] = ["A", "x0", "b"];
/// `b` may differ from `|A G(x0)|` by this much relative to `max(‖b‖_∞, 1e-300)` (rounding of
/// a recomputation in another summation order); more means the file does not describe a
/// noiseless instance.
const CONSISTENCY: f64 = 1e-10;

/// An instance read from a file.
#[derive(Clone, Debug)]
pub struct LoadedInstance {
    /// The network, `A` and `b`.
    pub problem: Problem,
    /// The truth `x0`.
    pub x0: Vec<f64>,
    /// The file's metadata.
    pub metadata: BTreeMap<String, String>,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Weights {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl LoadedInstance {
    /// The variance convention of the weights when the file records a random network (the
    /// `network = random` and `weight_scale` metadata of [`provenance`]); `None` otherwise.
    pub fn random_weight_scale(&self) -> Option<WeightScale> {
        if self.metadata.get("network").map(String::as_str) != Some("random") {
            return None;
        }
        match self.metadata.get("weight_scale").map(String::as_str) {
            Some("normalized") => Some(WeightScale::Normalized),
            Some("unit") => Some(WeightScale::Unit),
            _ => None,
        }
    }
}

/// The metadata an instance file records: the master seed, where the network came from
/// (`random` or its file) and its weight scale, how `A` was drawn (what `load_instance` reads
/// back), the widths and the command that wrote it.
pub fn provenance(seed: u64, origin: &NetworkOrigin, problem: &Problem, written_by: &str) -> BTreeMap<String, String> {
    let widths = problem.net.widths();
    [
        ("seed", seed.to_string()),
        ("network", origin.source.clone()),
        ("weight_scale", origin.weight_scale.clone()),
        ("measurement_scale", problem.meas.scale.name().to_string()),
        ("widths", crate::report::widths_label(&widths)),
        ("written_by", written_by.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Writes `problem` and its truth `x0` to `path` (atomically), with `metadata` (e.g. `seed`,
/// `weight_scale`, `measurement_scale`).
pub fn save_instance(problem: &Problem, x0: &[f64], path: &Path, metadata: &BTreeMap<String, String>) -> Result<()> {
    let a = &problem.meas.a;
    let mut tensors = ExtraTensors::new();
    let row_major: Vec<f64> = (0..a.nrows())
        .flat_map(|r| (0..a.ncols()).map(move |c| a[(r, c)]))
        .collect();
    tensors.insert("A".into(), (vec![a.nrows(), a.ncols()], row_major));
    tensors.insert("x0".into(), (vec![x0.len()], x0.to_vec()));
    tensors.insert("b".into(), (vec![problem.b.len()], problem.b.clone()));
    save_with(&problem.net, path, metadata, &tensors)
}

/// Reads an instance and checks it: every tensor present with the shape the network implies,
/// and `b = |A G(x0)|` (noiseless) to within rounding. Every defect names the tensor.
pub fn load_instance(path: &Path) -> Result<LoadedInstance> {
    let (loaded, mut extra) = load_parts(path, &TENSORS)?;
    let net = loaded.net;
    let (k, n) = (net.latent_dim(), net.output_dim());
    let mut take = |name: &str, want: &str| {
        extra.remove(name).ok_or_else(|| {
            bad(
                path,
                format!("missing tensor {name} ({want}); an instance file holds W1 … Wd, A, x0 and b"),
            )
        })
    };
    let (a_shape, a_values) = take("A", "the measurement matrix, shape [m, n_d]")?;
    let (x_shape, x0) = take("x0", "the truth, shape [k]")?;
    let (b_shape, b) = take("b", "the amplitudes |A G(x0)|, shape [m]")?;
    let &[m, cols] = a_shape.as_slice() else {
        return Err(bad(path, format!("A has shape {a_shape:?}; expected [m, {n}]")));
    };
    if cols != n || m == 0 {
        return Err(bad(
            path,
            format!("A has shape {a_shape:?}; expected [m, {n}] with m ≥ 1 (n_d = {n})"),
        ));
    }
    if x_shape != [k] {
        return Err(bad(
            path,
            format!("x0 has shape {x_shape:?}; expected [{k}] (the network's k)"),
        ));
    }
    if b_shape != [m] {
        return Err(bad(
            path,
            format!("b has shape {b_shape:?}; expected [{m}] (the rows of A)"),
        ));
    }
    let scale = match loaded.metadata.get("measurement_scale").map(String::as_str) {
        Some("unit") => MeasurementScale::Unit,
        _ => MeasurementScale::Normalized,
    };
    let meas = Measurements {
        a: Mat::from_fn(m, n, |r, c| a_values[r * n + c]),
        scale,
    };
    let expected = meas.amplitudes(&net.generate(&x0));
    let size = b.iter().fold(1e-300f64, |acc, v| acc.max(v.abs()));
    if let Some(j) = (0..m).find(|&j| (expected[j] - b[j]).abs() > CONSISTENCY * size) {
        return Err(bad(
            path,
            format!(
                "b[{j}] = {} but |A G(x0)|[{j}] = {}: b is not |A G(x0)| (a noiseless instance); \
                 write the file with --save-instance",
                b[j], expected[j]
            ),
        ));
    }
    Ok(LoadedInstance {
        problem: Problem { net, meas, b },
        x0,
        metadata: loaded.metadata,
    })
}
