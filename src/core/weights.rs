//! Networks as safetensors files.
//!
//! Layout (the convention of PyTorch's `nn.Linear`, so trained decoders load directly):
//! tensors `W1 … Wd` of shape `[n_i, n_{i−1}]` (row-major), optional biases `b1 … bd` of shape
//! `[n_i]`, dtype `F32` or `F64`; metadata key `activations` holds a comma-separated list of
//! `relu | softplus | sigmoid | identity`, one per layer (missing ⇒ all `relu`). Any other
//! metadata (e.g. `weight_scale`, `seed`) is carried through as provenance.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use faer::Mat;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use super::network::{Activation, Layer, Network};
use crate::error::{Error, Result};

/// A network read from a file, with the file's metadata.
#[derive(Clone, Debug)]
pub struct LoadedNetwork {
    /// The validated network.
    pub net: Network,
    /// The file's metadata (activations included).
    pub metadata: BTreeMap<String, String>,
    /// The stored dtype of the weights, `"F32"`, `"F64"` or `"mixed"`.
    pub dtype: String,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Weights {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads and validates a network; every defect is an [`Error::Weights`] naming the tensor.
pub fn load(path: &Path) -> Result<LoadedNetwork> {
    load_parts(path, &[]).map(|(net, _)| net)
}

/// Extra tensors of a file beside the network's: name → (shape, values as f64).
pub type ExtraTensors = BTreeMap<String, (Vec<usize>, Vec<f64>)>;

/// [`load`] for a file that may also hold the tensors named in `extras` (returned, those
/// present, as f64 with their shapes); any other stray tensor is an error.
pub fn load_parts(path: &Path, extras: &[&str]) -> Result<(LoadedNetwork, ExtraTensors)> {
    let bytes = std::fs::read(path).map_err(|source| Error::MissingInput {
        path: path.to_path_buf(),
        source,
    })?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        bad(
            path,
            format!("not a safetensors file ({e}); write one with `dpr-audit net --save`"),
        )
    })?;
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(path, format!("corrupt safetensors data ({e})")))?;
    let metadata: BTreeMap<String, String> = meta.metadata().clone().unwrap_or_default().into_iter().collect();
    let depth = (1..).take_while(|i| tensors.tensor(&format!("W{i}")).is_ok()).count();
    if depth == 0 {
        return Err(bad(
            path,
            "missing tensor W1: a network needs tensors W1 … Wd of shape [n_i, n_{i-1}]",
        ));
    }
    check_names(path, &tensors.names(), depth, extras)?;
    let mut extra = ExtraTensors::new();
    for name in extras {
        if let Ok(view) = tensors.tensor(name) {
            extra.insert((*name).to_string(), (view.shape().to_vec(), to_f64(path, name, &view)?));
        }
    }
    let activations = parse_activations(path, metadata.get("activations"), depth)?;
    let mut dtype = String::new();
    let mut layers = Vec::with_capacity(depth);
    for (i, activation) in activations.into_iter().enumerate() {
        let name = format!("W{}", i + 1);
        let view = tensors.tensor(&name).expect("counted above");
        let this = format!("{:?}", view.dtype());
        dtype = if dtype.is_empty() || dtype == this {
            this
        } else {
            "mixed".into()
        };
        let &[rows, cols] = view.shape() else {
            return Err(bad(
                path,
                format!("{name} has shape {:?}; expected 2-D [n_i, n_{{i-1}}]", view.shape()),
            ));
        };
        let values = to_f64(path, &name, &view)?;
        let weight = Mat::from_fn(rows, cols, |r, c| values[r * cols + c]);
        let bias = match tensors.tensor(&format!("b{}", i + 1)) {
            Ok(b) if b.shape() == [rows] => Some(to_f64(path, &format!("b{}", i + 1), &b)?),
            Ok(b) => {
                return Err(bad(
                    path,
                    format!("b{} has shape {:?}; expected [{rows}]", i + 1, b.shape()),
                ));
            }
            Err(_) => None,
        };
        layers.push(Layer {
            weight,
            bias,
            activation,
        });
    }
    let net = Network::from_layers(layers).map_err(|e| bad(path, e.to_string()))?;
    Ok((LoadedNetwork { net, metadata, dtype }, extra))
}

/// Every tensor must be one of `W1 … Wd`, `b1 … bd`: a gap in the numbering (W1, W3) or a
/// stray tensor would otherwise be silently ignored.
fn check_names(path: &Path, names: &[&str], depth: usize, extras: &[&str]) -> Result<()> {
    let expected = |n: &str| {
        let (kind, index) = n.split_at(1.min(n.len()));
        extras.contains(&n)
            || (kind == "W" || kind == "b") && index.parse::<usize>().is_ok_and(|i| (1..=depth).contains(&i))
    };
    let mut stray: Vec<&str> = names.iter().copied().filter(|n| !expected(n)).collect();
    if stray.is_empty() {
        return Ok(());
    }
    stray.sort_unstable();
    Err(bad(
        path,
        format!(
            "unexpected tensor(s) {} for a network of {depth} layer(s) W1 … W{depth}: layers must be numbered without gaps and biases need a matching W",
            stray.join(", ")
        ),
    ))
}

fn parse_activations(path: &Path, list: Option<&String>, depth: usize) -> Result<Vec<Activation>> {
    let Some(list) = list else {
        return Ok(vec![Activation::Relu; depth]);
    };
    let parsed: Vec<Activation> = list
        .split(',')
        .map(|s| {
            Activation::parse(s.trim()).ok_or_else(|| {
                bad(
                    path,
                    format!("unknown activation {s:?}; use relu, softplus, sigmoid or identity"),
                )
            })
        })
        .collect::<Result<_>>()?;
    if parsed.len() != depth {
        return Err(bad(
            path,
            format!("metadata lists {} activations for {depth} layers", parsed.len()),
        ));
    }
    Ok(parsed)
}

fn to_f64(path: &Path, name: &str, view: &TensorView<'_>) -> Result<Vec<f64>> {
    let data = view.data();
    let values: Vec<f64> = match view.dtype() {
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect(),
        other => return Err(bad(path, format!("{name} has dtype {other:?}; use F32 or F64"))),
    };
    if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(
            path,
            format!("{name} has a non-finite value ({}) at flat index {pos}", values[pos]),
        ));
    }
    Ok(values)
}

/// Writes a network as F64 safetensors with its activations and `extra` metadata.
/// The file is written to a temporary name and renamed, so a failure leaves nothing behind.
pub fn save(net: &Network, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
    save_as(net, path, (extra, &ExtraTensors::new()), Dtype::F64)
}

/// [`save`] with extra F64 tensors beside the network's (e.g. a whole instance), format
/// `dpr-audit instance v1`.
pub fn save_with(net: &Network, path: &Path, extra: &BTreeMap<String, String>, tensors: &ExtraTensors) -> Result<()> {
    save_as(net, path, (extra, tensors), Dtype::F64)
}

/// Writes a network as F32 safetensors (each value rounded to `f32`; exact for weights
/// trained in `f32`, such as the decoders of `dpr-audit mnist train`), otherwise as [`save`].
pub fn save_f32(net: &Network, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
    save_as(net, path, (extra, &ExtraTensors::new()), Dtype::F32)
}

/// Little-endian bytes of `values` as `dtype` (`F32` or `F64`).
fn encode(values: impl Iterator<Item = f64>, dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => values.flat_map(|v| (v as f32).to_le_bytes()).collect(),
        _ => values.flat_map(f64::to_le_bytes).collect(),
    }
}

/// Refuses to replace an existing file that dpr-audit did not write: a network or instance
/// file is replaced only when its header names one of the tool's formats (`dpr-audit …`).
fn check_replaceable(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let ours = std::fs::read(path)
        .ok()
        .and_then(|bytes| SafeTensors::read_metadata(&bytes).ok())
        .and_then(|(_, meta)| meta.metadata().as_ref()?.get("format").cloned())
        .is_some_and(|f| f.starts_with("dpr-audit "));
    if ours {
        Ok(())
    } else {
        Err(bad(
            path,
            "the file exists and was not written by dpr-audit; it is left untouched: choose a new file name or remove it yourself",
        ))
    }
}

fn save_as(
    net: &Network,
    path: &Path,
    (extra, tensors): (&BTreeMap<String, String>, &ExtraTensors),
    dtype: Dtype,
) -> Result<()> {
    check_replaceable(path)?;
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, (shape, values)) in tensors {
        buffers.push((name.clone(), shape.clone(), encode(values.iter().copied(), Dtype::F64)));
    }
    for (i, layer) in net.layers().iter().enumerate() {
        let (rows, cols) = (layer.weight.nrows(), layer.weight.ncols());
        let row_major = (0..rows).flat_map(|r| (0..cols).map(move |c| layer.weight[(r, c)]));
        buffers.push((format!("W{}", i + 1), vec![rows, cols], encode(row_major, dtype)));
        if let Some(b) = &layer.bias {
            buffers.push((format!("b{}", i + 1), vec![rows], encode(b.iter().copied(), dtype)));
        }
    }
    let mut meta: HashMap<String, String> = extra.clone().into_iter().collect();
    let acts: Vec<&str> = net.layers().iter().map(|l| l.activation.name()).collect();
    meta.insert("activations".into(), acts.join(","));
    let format = if tensors.is_empty() {
        "dpr-audit network v1"
    } else {
        "dpr-audit instance v1"
    };
    meta.insert("format".into(), format.into());
    write_buffers(path, &buffers, meta, dtype)
}

/// Writes plain F64 tensors (name → shape and row-major values) with `metadata` as a
/// safetensors file, in one rename, its header in sorted order (the same tensors and metadata
/// always give the same bytes). Read it back with any safetensors reader (`safetensors.numpy`).
pub fn save_tensors(path: &Path, tensors: &ExtraTensors, metadata: &BTreeMap<String, String>) -> Result<()> {
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| (name.clone(), shape.clone(), encode(values.iter().copied(), Dtype::F64)))
        .collect();
    write_buffers(path, &buffers, metadata.clone().into_iter().collect(), Dtype::F64)
}

/// Serialises `(name, shape, little-endian bytes)` buffers of one `dtype` with `meta` and
/// writes them atomically.
fn write_buffers(
    path: &Path,
    buffers: &[(String, Vec<usize>, Vec<u8>)],
    meta: HashMap<String, String>,
    dtype: Dtype,
) -> Result<()> {
    let views: Vec<(String, TensorView<'_>)> = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            (
                name.clone(),
                TensorView::new(dtype, shape.clone(), bytes).expect("consistent sizes"),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| bad(path, e.to_string()))?;
    crate::report::output::write_atomic(path, &canonical_header(&bytes).map_err(|e| bad(path, e))?)
}

/// The same safetensors buffer with every key of its JSON header in sorted order. The crate
/// writes the metadata from a `HashMap`, whose order changes from run to run; sorted, the same
/// network and metadata always give the same bytes (and SHA-256). Tensor data are untouched
/// (their offsets are relative to the end of the header).
fn canonical_header(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let too_short = || "serialized buffer shorter than its header".to_string();
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .ok_or_else(too_short)?
        .try_into()
        .map_err(|_| too_short())?;
    let len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|e| e.to_string())?;
    let header = bytes.get(8..8 + len).ok_or_else(too_short)?;
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut json = serde_json::to_vec(&sorted_keys(value)).map_err(|e| e.to_string())?;
    // The format pads the header with spaces to a multiple of 8 bytes.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - len);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + len..]);
    Ok(out)
}

/// `value` with the keys of every object inserted in sorted order.
fn sorted_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        other => other,
    }
}
