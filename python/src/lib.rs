//! `dpr_audit._native`: the Python extension module over the `dpr-audit` library.
//!
//! The Python package (`python/dpr_audit/__init__.py`) converts arrays and wraps results; this
//! module only moves plain data across the boundary and runs the library:
//!
//! - arrays arrive as float64 NumPy arrays (the Python layer converts dtypes and orders) and are
//!   copied into the library's column-major matrices;
//! - every computation runs on a worker thread inside a local rayon pool of `threads` workers,
//!   with the GIL released; the calling thread polls `PyErr::check_signals` every 50 ms, and
//!   Ctrl-C cancels the computation's `dpr_audit::cancel::Cancel` token (watched by every
//!   thread of the pool), so the work stops at its next poll and `KeyboardInterrupt` is raised;
//! - library errors become `ValueError` (the caller's input) or `OSError` (the machine), with
//!   the library's one-line message; a panic is caught and raised as `RuntimeError`;
//! - results cross as JSON text (the library's serde types), which the Python layer parses.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use dpr_audit::cancel::Cancel;
use dpr_audit::conditions::audit::audit_observed;
use dpr_audit::conditions::certify::{MIN_TOL, certify};
use dpr_audit::conditions::certify_boxes::{
    BoxSearch, Budget, MAX_INPUT, MIN_INPUT, Tolerance, Witness, certify_boxes,
};
use dpr_audit::conditions::rrcp::{SearchMode, SearchSettings, StreamKey, search};
use dpr_audit::conditions::wdc::{Domain, WdcSearch, estimate_layer};
use dpr_audit::conditions::wdc_scaling::default_tolerance;
use dpr_audit::core::expected::{expected_grid, rho_cs, rho_pr, theta_check};
use dpr_audit::core::instance::save_instance as save_instance_file;
use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Activation, Layer, Network, WeightScale, validate_widths};
use dpr_audit::core::objective::Problem;
use dpr_audit::core::weights;
use dpr_audit::landscape::Truth;
use dpr_audit::landscape::census::{CensusSettings, census as run_census};
use dpr_audit::landscape::exact::exact_landscape;
use dpr_audit::landscape::exact::sweep::wdc_lower_bound;
use dpr_audit::limits::{
    Footprint, MemoryBudget, check_depth, check_grid, check_threads, exact_enumeration_words, lockstep_words,
    probe_words, wdc_search_words,
};
use dpr_audit::rng::{Stream, stream};
use dpr_audit::solvers::instance::{self, InstanceKey};
use dpr_audit::solvers::{Method, MethodParams, Selection, Settings, check_step, run_origin, solve as solve_runs};
use dpr_audit::{Error, Result};
use faer::Mat;
use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use serde_json::{Value, json};

/// How often the waiting thread checks for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);
/// How long Ctrl-C waits for the cancelled computation to stop before raising anyway.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// A library error as a Python exception carrying the library's message.
fn raise(e: Error) -> PyErr {
    if e.is_usage() {
        PyValueError::new_err(e.to_string())
    } else {
        PyOSError::new_err(e.to_string())
    }
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs `work` on a worker thread inside a rayon pool of `threads` workers (0: one per core),
/// with the GIL released. On Ctrl-C the computation's [`Cancel`] token is cancelled: its next
/// poll (within a block of pairs, a batch of nodes, a solver iteration) stops it, the worker
/// ends, and `KeyboardInterrupt` is raised once it has (or after [`STOP_WAIT`], should a loop
/// without a poll hold it longer).
fn run_detached<T: Send + 'static>(
    py: Python<'_>,
    threads: usize,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> PyResult<T> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    check_threads("threads", threads, cores).map_err(raise)?;
    let token = Cancel::new();
    let watcher = token.clone();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(if threads == 0 { cores } else { threads })
        .start_handler(move |_| watcher.watch_on_this_thread())
        .build()
        .map_err(|e| PyOSError::new_err(format!("cannot start {threads} worker threads: {e}")))?;
    let (tx, rx) = mpsc::channel();
    let runner = token.clone();
    std::thread::Builder::new()
        .name("dpr-audit".into())
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| pool.install(|| runner.run(work))));
            // The receiver is gone only after Ctrl-C and a stop that outlasted STOP_WAIT.
            let _ = tx.send(result);
        })
        .map_err(|e| PyOSError::new_err(format!("cannot start a worker thread: {e}")))?;
    let mut rx = rx;
    loop {
        // The receiver is `Send` but not `Sync`: it moves into the GIL-free closure and back.
        let (received, back) = py.detach(move || (rx.recv_timeout(POLL), rx));
        rx = back;
        match received {
            Ok(Ok(result)) => return result.map_err(raise),
            Ok(Err(payload)) => {
                return Err(PyRuntimeError::new_err(format!(
                    "internal error in dpr-audit (a defect; please report it with the call): {}",
                    panic_text(payload.as_ref())
                )));
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    token.cancel();
                    // The computation stops at its next poll; its `Cancelled` result is dropped.
                    let _ = py.detach(move || rx.recv_timeout(STOP_WAIT));
                    return Err(interrupt);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "the dpr-audit worker thread ended without a result",
                ));
            }
        }
    }
}

/// Runs `f` (quick, with the GIL held), turning a panic into `RuntimeError`.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(raise),
        Err(payload) => Err(PyRuntimeError::new_err(format!(
            "internal error in dpr-audit (a defect; please report it with the call): {}",
            panic_text(payload.as_ref())
        ))),
    }
}

/// A 2-D float64 array as a column-major matrix.
fn matrix(a: &PyReadonlyArray2<'_, f64>) -> Mat<f64> {
    let view = a.as_array();
    Mat::from_fn(view.nrows(), view.ncols(), |i, j| view[[i, j]])
}

/// A 1-D float64 array as a vector.
fn vector(a: &PyReadonlyArray1<'_, f64>) -> Vec<f64> {
    a.as_array().iter().copied().collect()
}

/// Checks that every entry of `values` is finite, naming the argument.
fn finite(name: &'static str, values: impl IntoIterator<Item = f64>) -> Result<()> {
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((i, v)) => Err(Error::param(
            name,
            format!("{v} at flat index {i}"),
            "every entry must be a finite number (no NaN or Inf)",
        )),
        None => Ok(()),
    }
}

/// The memory budget of the machine (half of `MemTotal`, as the CLI's default).
fn budget() -> MemoryBudget {
    MemoryBudget::of_machine()
}

/// A network (`dpr_audit.Network` wraps one).
#[pyclass(name = "Network", module = "dpr_audit._native", frozen)]
struct PyNetwork {
    net: Arc<Network>,
    metadata: BTreeMap<String, String>,
}

impl PyNetwork {
    fn wrap(net: Network, metadata: BTreeMap<String, String>) -> Self {
        Self {
            net: Arc::new(net),
            metadata,
        }
    }
}

#[pymethods]
impl PyNetwork {
    /// A network from weights `W_i` of shape `(n_i, n_{i-1})`, optional biases and one
    /// activation name per layer (`relu`, `softplus`, `sigmoid`, `identity`).
    #[staticmethod]
    fn from_arrays(
        weights: Vec<PyReadonlyArray2<'_, f64>>,
        biases: Vec<Option<PyReadonlyArray1<'_, f64>>>,
        activations: Vec<String>,
    ) -> PyResult<Self> {
        let weights: Vec<Mat<f64>> = weights.iter().map(matrix).collect();
        let biases: Vec<Option<Vec<f64>>> = biases.iter().map(|b| b.as_ref().map(vector)).collect();
        guarded(|| {
            let layers = weights
                .into_iter()
                .zip(biases)
                .zip(&activations)
                .map(|((weight, bias), name)| {
                    let activation = Activation::parse(name).ok_or_else(|| {
                        Error::param(
                            "activations",
                            format!("{name:?}"),
                            "each layer's activation is one of relu, softplus, sigmoid, identity",
                        )
                    })?;
                    Ok(Layer {
                        weight,
                        bias,
                        activation,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Self::wrap(Network::from_layers(layers)?, BTreeMap::new()))
        })
    }

    /// A bias-free ReLU network with Gaussian weights: the network of
    /// `dpr-audit net --widths … --seed SEED --weight-scale SCALE`.
    #[staticmethod]
    fn random(widths: Vec<usize>, seed: u64, weight_scale: &str) -> PyResult<Self> {
        guarded(|| {
            validate_widths(&widths)?;
            budget().check(&Footprint::new().network("widths", &widths))?;
            let scale = match weight_scale {
                "normalized" => WeightScale::Normalized,
                "unit" => WeightScale::Unit,
                other => {
                    return Err(Error::param(
                        "weight_scale",
                        format!("{other:?}"),
                        "use \"normalized\" (N(0, 1/n_i), the theorems') or \"unit\" (N(0, 1))",
                    ));
                }
            };
            let mut rng = stream(seed, "net", 0, Stream::Network);
            let net = Network::gaussian(&widths, scale, &mut rng);
            let metadata = BTreeMap::from([
                ("weight_scale".to_string(), weight_scale.to_string()),
                ("seed".to_string(), seed.to_string()),
            ]);
            Ok(Self::wrap(net, metadata))
        })
    }

    /// Reads a safetensors file (the CLI's format).
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        guarded(|| {
            let loaded = weights::load(&path)?;
            Ok(Self::wrap(loaded.net, loaded.metadata))
        })
    }

    /// Writes a safetensors file (float64, the CLI's format).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        guarded(|| weights::save(&self.net, &path, &self.metadata))
    }

    /// `[k, n_1, …, n_d]`.
    fn widths(&self) -> Vec<usize> {
        self.net.widths()
    }

    /// The weights, each of shape `(n_i, n_{i-1})`.
    fn weights<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyArray2<f64>>> {
        self.net
            .layers()
            .iter()
            .map(|l| {
                let w = &l.weight;
                Array2::from_shape_fn((w.nrows(), w.ncols()), |(i, j)| w[(i, j)]).into_pyarray(py)
            })
            .collect()
    }

    /// The biases (`None` for a layer without one).
    fn biases<'py>(&self, py: Python<'py>) -> Vec<Option<Bound<'py, PyArray1<f64>>>> {
        self.net
            .layers()
            .iter()
            .map(|l| l.bias.as_ref().map(|b| Array1::from(b.clone()).into_pyarray(py)))
            .collect()
    }

    /// One activation name per layer.
    fn activations(&self) -> Vec<&'static str> {
        self.net.layers().iter().map(|l| l.activation.name()).collect()
    }

    /// The file metadata (provenance) carried by the network.
    fn metadata(&self) -> BTreeMap<String, String> {
        self.metadata.clone()
    }

    /// `G(x)` for a latent code `x` of length `k`.
    fn generate<'py>(&self, py: Python<'py>, x: PyReadonlyArray1<'py, f64>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let x = vector(&x);
        let y = guarded(|| {
            self.net.check_code("x", &x)?;
            Ok(self.net.generate(&x))
        })?;
        Ok(Array1::from(y).into_pyarray(py))
    }
}

/// Parses a name from a fixed list, or names the choices.
fn choice<T: Copy>(name: &'static str, value: &str, choices: &[(&str, T)]) -> Result<T> {
    choices
        .iter()
        .find(|(n, _)| *n == value)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
            Error::param(name, format!("{value:?}"), format!("use one of {}", names.join(", ")))
        })
}

/// A count that must be at least `min`.
fn at_least(name: &'static str, value: usize, min: usize, fix: &str) -> Result<()> {
    if value < min {
        return Err(Error::param(name, value, fix.to_string()));
    }
    Ok(())
}

/// A layer's certificate as a `wdc.csv` row: the exact sectors for k = 2, the box search
/// (seeded with the sampled witness) for k = 3, 4.
fn certificate_row(net: &Network, l: usize, tol: Tolerance, seed: Witness) -> Value {
    let w = net.layers()[l].weight.as_ref();
    let common = json!({
        "kind": "certified_interval", "domain": "full", "layer": l + 1, "n_in": w.ncols(), "n_out": w.nrows(),
    });
    let specific = if w.ncols() == 2 {
        let Tolerance::Absolute(t) = tol else {
            unreachable!("k = 2 always gets an absolute tolerance")
        };
        let c = certify(w, t);
        json!({
            "lower": c.lower, "upper": c.upper, "gap": c.upper - c.lower, "nodes": c.rectangles,
            "argmax_angle": c.argmax_theta,
            "argmax_x": [c.argmax_alpha.cos(), c.argmax_alpha.sin()],
            "argmax_y": [c.argmax_beta.cos(), c.argmax_beta.sin()],
        })
    } else {
        let search = BoxSearch {
            tolerance: tol,
            budget: Budget::Unlimited,
        };
        let c = certify_boxes(w, &search, Some(seed), &mut |_| {});
        json!({
            "lower": c.lower, "upper": c.upper, "gap": c.gap(), "nodes": c.nodes, "pruned": c.pruned,
            "stop": format!("{:?}", c.stop).to_lowercase(),
            "argmax_angle": dpr_audit::core::vector::angle(&c.argmax.x, &c.argmax.y),
            "argmax_x": c.argmax.x, "argmax_y": c.argmax.y,
        })
    };
    let mut row = common;
    row.as_object_mut()
        .expect("a JSON object")
        .extend(specific.as_object().expect("a JSON object").clone());
    row
}

/// The WDC constant of every layer: a sampled lower bound per layer (the CLI's `wdc` search,
/// streams `"wdc"`, trial 0) and, with `certify`, a certified interval for layers with 2 to 4
/// inputs. Returns the rows of the CLI's `wdc.csv` as JSON.
#[pyfunction]
#[pyo3(signature = (network, certify, tol, rel_tol, pairs, domain, refine_starts, refine_steps, seed, threads))]
#[allow(clippy::too_many_arguments)]
fn wdc(
    py: Python<'_>,
    network: &PyNetwork,
    certify: bool,
    tol: Option<f64>,
    rel_tol: Option<f64>,
    pairs: Option<usize>,
    domain: &str,
    refine_starts: usize,
    refine_steps: Option<usize>,
    seed: u64,
    threads: usize,
) -> PyResult<String> {
    let net = Arc::clone(&network.net);
    let domain = choice("domain", domain, &[("full", Domain::Full), ("range", Domain::Range)]).map_err(raise)?;
    let checked = guarded(|| {
        at_least(
            "pairs",
            pairs.unwrap_or(1),
            1,
            "sample at least one pair, e.g. pairs=20000",
        )?;
        for (name, value) in [("tol", tol), ("rel_tol", rel_tol)] {
            if let Some(v) = value
                && !(v.is_finite() && v > 0.0)
            {
                return Err(Error::param(name, v, "give a positive tolerance, e.g. 1e-3"));
            }
        }
        if let Some(t) = tol
            && certify
            && t < MIN_TOL
        {
            return Err(Error::param(
                "tol",
                format!("{t:?}"),
                format!("the certificate's bounds carry a rounding margin of {MIN_TOL:e}; give tol >= {MIN_TOL:e}"),
            ));
        }
        let certifiable: Vec<usize> = (0..net.depth())
            .filter(|&l| (MIN_INPUT..=MAX_INPUT).contains(&net.layers()[l].weight.ncols()))
            .collect();
        if certify && certifiable.is_empty() {
            return Err(Error::param(
                "certify",
                format!("widths {:?}", net.widths()),
                "certificates exist for layers with k = 2, 3 or 4 inputs; use certify=False for the sampled lower bound",
            ));
        }
        let words = net
            .widths()
            .windows(2)
            .map(|w| {
                let s = WdcSearch::for_layer(w[0], pairs, domain, refine_starts, refine_steps);
                wdc_search_words(s.pairs, s.refine_starts, w[0])
            })
            .fold(0.0, f64::max);
        budget().check(&Footprint::new().words("pairs", pairs.unwrap_or(20_000), "the pair search", words))?;
        Ok(certifiable)
    })?;
    run_detached(py, threads, move || {
        let mut rows = Vec::new();
        let mut estimates = Vec::new();
        for (l, layer) in net.layers().iter().enumerate() {
            let k = layer.weight.ncols();
            let search = WdcSearch::for_layer(k, pairs, domain, refine_starts, refine_steps);
            let e = estimate_layer(&net, l, &search, seed, "wdc", 0);
            rows.push(json!({
                "kind": "lower_bound", "domain": format!("{domain:?}").to_lowercase(), "layer": e.layer,
                "n_in": e.n_in, "n_out": e.n_out, "pairs": e.pairs_evaluated,
                "refine_evaluations": e.refine_evaluations, "sampled": e.sampled, "lower": e.lower_bound,
                "argmax_angle": e.argmax_angle, "argmax_x": e.argmax_x, "argmax_y": e.argmax_y,
                "max_active_norm_sq": e.max_active_norm_sq,
            }));
            estimates.push(e);
        }
        if certify {
            for &l in &checked {
                let k = net.layers()[l].weight.ncols();
                let tolerance = match (rel_tol, tol) {
                    (Some(rel), _) if k > 2 => Tolerance::Relative(rel),
                    (_, Some(t)) => Tolerance::Absolute(t),
                    _ => Tolerance::Absolute(default_tolerance(k)),
                };
                let e = &estimates[l];
                let witness = Witness {
                    value: e.lower_bound,
                    x: e.argmax_x.clone(),
                    y: e.argmax_y.clone(),
                    source: "sampled".into(),
                };
                rows.push(certificate_row(&net, l, tolerance, witness));
            }
        }
        Ok(serde_json::to_string(&rows)?)
    })
}

/// Sampled lower bounds on the RRCP constant of `network` with measurement matrix `a`
/// (`m × n`), per search mode (the CLI's `rrcp` search, streams `"rrcp/m=M"`, trial 0).
#[pyfunction]
#[pyo3(signature = (network, a, mode, tuples, refine_starts, refine_steps, constant, seed, threads))]
#[allow(clippy::too_many_arguments)]
fn rrcp(
    py: Python<'_>,
    network: &PyNetwork,
    a: PyReadonlyArray2<'_, f64>,
    mode: &str,
    tuples: usize,
    refine_starts: usize,
    refine_steps: usize,
    constant: f64,
    seed: u64,
    threads: usize,
) -> PyResult<String> {
    let net = Arc::clone(&network.net);
    let a = matrix(&a);
    let modes = guarded(|| {
        let modes = choice(
            "mode",
            mode,
            &[
                ("random", &[SearchMode::Random][..]),
                ("subspace", &[SearchMode::Subspace][..]),
                ("both", &[SearchMode::Random, SearchMode::Subspace][..]),
            ],
        )?;
        check_measurements(&net, &a)?;
        at_least("tuples", tuples, 1, "sample at least one tuple, e.g. tuples=2000")?;
        if refine_starts > tuples {
            return Err(Error::param(
                "refine_starts",
                refine_starts,
                format!("at most tuples = {tuples} sampled tuples can be refined; lower it or raise tuples"),
            ));
        }
        if !(constant.is_finite() && constant > 0.0) {
            return Err(Error::param(
                "constant",
                constant,
                "give a positive constant L, e.g. 31",
            ));
        }
        Ok(modes.to_vec())
    })?;
    run_detached(py, threads, move || {
        let m = a.nrows();
        let experiment = format!("rrcp/m={m}");
        let key = StreamKey {
            seed,
            experiment: &experiment,
            trial: 0,
        };
        let settings = SearchSettings {
            tuples,
            refine_starts,
            refine_steps,
        };
        let rows: Vec<Value> = modes
            .into_iter()
            .map(|mode| {
                let found = search(&net, a.as_ref(), mode, &settings, &key, &|| {});
                let t = &found.argmax;
                json!({
                    "kind": "lower_bound", "m": m, "mode": mode.name(), "tuples": tuples,
                    "refine_starts": refine_starts, "refine_steps": refine_steps,
                    "sup_sampled": found.sup_sampled, "sup": found.sup,
                    "refinement_gain": found.refinement_gain, "constant": constant,
                    "epsilon": found.sup / constant,
                    "argmax_x": t.x, "argmax_y": t.y, "argmax_x1": t.x1, "argmax_x2": t.x2,
                    "argmax_x3": t.x3, "argmax_x4": t.x4,
                })
            })
            .collect();
        Ok(serde_json::to_string(&rows)?)
    })
}

/// Checks a measurement matrix against a network: `n` columns, at least one row, finite.
fn check_measurements(net: &Network, a: &Mat<f64>) -> Result<()> {
    let n = net.output_dim();
    if a.ncols() != n || a.nrows() == 0 {
        return Err(Error::param(
            "A",
            format!("an array of shape ({}, {})", a.nrows(), a.ncols()),
            format!("A must have shape (m, {n}) with m >= 1: one column per output of the network"),
        ));
    }
    finite("A", (0..a.ncols()).flat_map(|j| a.col_as_slice(j).iter().copied()))
}

/// The loop settings of `method` with the caller's overrides, checked: at least one
/// iteration, tolerances finite and `≥ 0` (0 switches a test off).
fn loop_settings(
    method: Method,
    max_iters: Option<usize>,
    grad_tol: Option<f64>,
    f_tol: Option<f64>,
) -> Result<Settings> {
    let settings = method.settings_with(max_iters, grad_tol, f_tol, false);
    at_least(
        "max_iters",
        settings.max_iters,
        1,
        "allow at least one iteration, e.g. max_iters=1000",
    )?;
    for (name, value) in [("grad_tol", settings.grad_tol), ("f_tol", settings.f_tol)] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::param(
                name,
                value,
                "give a finite tolerance >= 0 (0 switches the test off)",
            ));
        }
    }
    Ok(settings)
}

/// A positive finite number.
fn positive(name: &'static str, value: f64, example: &str) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::param(
            name,
            value,
            format!("give a positive number, e.g. {name}={example}"),
        ));
    }
    Ok(())
}

/// The instance `b = |A x|` of a network, a measurement matrix and a truth `x0` (checked: the
/// shapes, finite entries, `x0 ≠ 0`); `b` the caller's amplitudes or, without them, the
/// noiseless `|A G(x0)|`.
fn instance_problem(net: Network, a: Mat<f64>, x0: &[f64], b: Option<Vec<f64>>) -> Result<Problem> {
    check_measurements(&net, &a)?;
    let k = net.latent_dim();
    if x0.len() != k {
        return Err(Error::param(
            "x0",
            format!("an array of length {}", x0.len()),
            format!("x0 is a latent code of the network: give k = {k} numbers"),
        ));
    }
    finite("x0", x0.iter().copied())?;
    if x0.iter().all(|&v| v == 0.0) {
        return Err(Error::param(
            "x0",
            "0",
            "x0 must be nonzero (b = |A G(0)| = 0 carries no signal)",
        ));
    }
    let meas = Measurements {
        a,
        scale: MeasurementScale::Normalized,
    };
    let problem = match b {
        Some(b) => {
            if b.len() != meas.a.nrows() {
                return Err(Error::param(
                    "b",
                    format!("an array of length {}", b.len()),
                    format!("b holds one amplitude per row of A: give {} values", meas.a.nrows()),
                ));
            }
            finite("b", b.iter().copied())?;
            Problem { net, meas, b }
        }
        None => Problem::noiseless(net, meas, x0),
    };
    problem.check_finite("x0", x0)?;
    Ok(problem)
}

/// Every critical point of `f` on a `k = 2` instance, exactly (the CLI's `landscape exact`):
/// the study's summary as JSON. The WDC lower bound behind the `K₂` estimates uses the CLI's
/// streams (`"landscape/wdc"`, trial 0).
#[pyfunction]
#[pyo3(signature = (network, a, x0, b, tau, wdc_pairs, seed, threads))]
#[allow(clippy::too_many_arguments)]
fn landscape_exact(
    py: Python<'_>,
    network: &PyNetwork,
    a: PyReadonlyArray2<'_, f64>,
    x0: PyReadonlyArray1<'_, f64>,
    b: Option<PyReadonlyArray1<'_, f64>>,
    tau: f64,
    wdc_pairs: usize,
    seed: u64,
    threads: usize,
) -> PyResult<String> {
    let net = (*network.net).clone();
    let (a, x0, b) = (matrix(&a), vector(&x0), b.as_ref().map(vector));
    let (problem, truth) = guarded(|| {
        dpr_audit::landscape::exact::check_network(&net)?;
        let widths = net.widths();
        let m = a.nrows();
        budget().check(&Footprint::new().words(
            "A",
            m,
            "the sectors and the blocked A Λ products",
            exact_enumeration_words(&widths, m),
        ))?;
        if !(tau.is_finite() && tau > 0.0 && tau < 1.0) {
            return Err(Error::param("tau", tau, "give a threshold in (0, 1), e.g. tau=0.01"));
        }
        let problem = instance_problem(net, a, &x0, b)?;
        let truth = Truth::new(&x0, problem.net.depth());
        Ok((problem, truth))
    })?;
    run_detached(py, threads, move || {
        let epsilon = wdc_lower_bound(&problem.net, wdc_pairs, (seed, "landscape/wdc", 0));
        let land = exact_landscape(&problem, &truth, tau, epsilon)?;
        Ok(serde_json::to_string(&land.summary(&truth, epsilon))?)
    })
}

/// Plain GD from `starts` random starts and the clusters of its limits (the CLI's
/// `landscape census`, streams of experiment `"landscape"`, trial 0, and `"landscape/census"`):
/// every run and every cluster, with its certified-minimum status and its basin share, as JSON.
#[pyfunction]
#[pyo3(signature = (network, a, x0, b, starts, step, max_iters, grad_tol, f_tol, cluster_tol, truth_tol,
                    test_directions, test_radius, seed, threads))]
#[allow(clippy::too_many_arguments)]
fn census(
    py: Python<'_>,
    network: &PyNetwork,
    a: PyReadonlyArray2<'_, f64>,
    x0: PyReadonlyArray1<'_, f64>,
    b: Option<PyReadonlyArray1<'_, f64>>,
    starts: usize,
    step: Option<f64>,
    max_iters: usize,
    grad_tol: Option<f64>,
    f_tol: Option<f64>,
    cluster_tol: f64,
    truth_tol: f64,
    test_directions: usize,
    test_radius: f64,
    seed: u64,
    threads: usize,
) -> PyResult<String> {
    let net = (*network.net).clone();
    let (a, x0, b) = (matrix(&a), vector(&x0), b.as_ref().map(vector));
    let (problem, settings) = guarded(|| {
        at_least("starts", starts, 1, "use at least one start, e.g. starts=200")?;
        at_least(
            "test_directions",
            test_directions,
            1,
            "test at least one direction, e.g. test_directions=64",
        )?;
        positive("cluster_tol", cluster_tol, "1e-3")?;
        positive("truth_tol", truth_tol, "1e-4")?;
        positive("test_radius", test_radius, "1e-3")?;
        let loop_settings = loop_settings(Method::Gd, Some(max_iters), grad_tol, f_tol)?;
        let widths = net.widths();
        let (k, m) = (net.latent_dim(), a.nrows());
        budget().check(
            &Footprint::new()
                .words(
                    "starts",
                    starts,
                    "the runs and their rows",
                    lockstep_words(starts as f64, &widths, m) + probe_words(starts as f64, k),
                )
                .words(
                    "test_directions",
                    test_directions,
                    "the local-minimum test",
                    test_directions as f64 * k as f64,
                ),
        )?;
        let problem = instance_problem(net, a, &x0, b)?;
        let params = MethodParams::for_problem(&problem.net, None, &problem.meas, step, 0.01);
        check_step(params.step)?;
        let settings = CensusSettings {
            step: params.step,
            settings: loop_settings,
            cluster_tol,
            truth_tol,
            test_directions,
            test_radius,
        };
        Ok((problem, settings))
    })?;
    run_detached(py, threads, move || {
        let key = InstanceKey {
            seed,
            experiment: "landscape",
            trial: 0,
        };
        let from = instance::starts(Method::Gd, x0.len(), starts, &key);
        let mut rng = stream(seed, "landscape/census", 0, Stream::Probe);
        let result = run_census(&problem, &x0, from.as_ref(), &settings, &mut rng);
        let runs: Vec<Value> = result
            .runs
            .iter()
            .zip(&result.assignment)
            .enumerate()
            .map(|(j, (r, c))| {
                json!({
                    "start": j, "cluster": c, "x": r.x, "value": r.value, "gradient_norm": r.gradient_norm,
                    "iterations": r.iterations, "termination": r.termination.name(),
                })
            })
            .collect();
        Ok(serde_json::to_string(&json!({
            "step": settings.step, "rho_pr": result.rho, "clusters": result.clusters, "runs": runs,
        }))?)
    })
}

/// Writes an instance file (the CLI's `--instance` format: the network, `A`, `x0` and
/// `b = |A G(x0)|`, float64), which `dpr-audit … --instance PATH` reads.
#[pyfunction]
fn save_instance(
    network: &PyNetwork,
    a: PyReadonlyArray2<'_, f64>,
    x0: PyReadonlyArray1<'_, f64>,
    path: PathBuf,
) -> PyResult<()> {
    let net = (*network.net).clone();
    let (a, x0) = (matrix(&a), vector(&x0));
    guarded(|| {
        let problem = instance_problem(net, a, &x0, None)?;
        let metadata = BTreeMap::from([
            ("measurement_scale".to_string(), "normalized".to_string()),
            ("written_by".to_string(), "dpr_audit (Python)".to_string()),
        ]);
        save_instance_file(&problem, &x0, &path, &metadata)
    })
}

/// Each hypothesis of Theorem II.1 for `network` (the CLI's `audit`): the rows of `audit.csv`
/// and the summary, as JSON.
#[pyfunction]
#[pyo3(signature = (network, pairs, refine_starts, refine_steps, seed, threads))]
fn audit(
    py: Python<'_>,
    network: &PyNetwork,
    pairs: usize,
    refine_starts: usize,
    refine_steps: usize,
    seed: u64,
    threads: usize,
) -> PyResult<String> {
    let net = Arc::clone(&network.net);
    guarded(|| at_least("pairs", pairs, 1, "sample at least one pair per layer, e.g. pairs=5000"))?;
    run_detached(py, threads, move || {
        let search = WdcSearch {
            pairs,
            domain: Domain::Full,
            refine_starts,
            refine_steps,
        };
        let report = audit_observed(&net, &search, seed, |_| {});
        Ok(serde_json::to_string(&json!({
            "rows": report.checks(),
            "summary": report.summary(),
        }))?)
    })
}

/// Solves `b ≈ |A G(x)|` for `x` by DPR, GD or Adam two-init from `restarts` random starts
/// (the CLI's `solve` starts: streams `"solve"`, trial 0). Returns every run and the run of
/// lowest objective, as JSON.
#[pyfunction]
#[pyo3(signature = (network, a, b, method, restarts, seed, max_iters, step, lr, threads))]
#[allow(clippy::too_many_arguments)]
fn solve(
    py: Python<'_>,
    network: &PyNetwork,
    a: PyReadonlyArray2<'_, f64>,
    b: PyReadonlyArray1<'_, f64>,
    method: &str,
    restarts: usize,
    seed: u64,
    max_iters: Option<usize>,
    step: Option<f64>,
    lr: f64,
    threads: usize,
) -> PyResult<String> {
    let net = (*network.net).clone();
    let (a, b) = (matrix(&a), vector(&b));
    let (problem, method, params, settings) = guarded(|| {
        let method = choice(
            "method",
            method,
            &[("dpr", Method::Dpr), ("gd", Method::Gd), ("adam2", Method::Adam2)],
        )?;
        check_measurements(&net, &a)?;
        if b.len() != a.nrows() {
            return Err(Error::param(
                "b",
                format!("an array of length {}", b.len()),
                format!("b holds one amplitude per row of A: give {} values", a.nrows()),
            ));
        }
        finite("b", b.iter().copied())?;
        at_least("restarts", restarts, 1, "use at least one start, e.g. restarts=5")?;
        let settings = loop_settings(method, max_iters, None, None)?;
        let meas = Measurements {
            a,
            scale: MeasurementScale::Normalized,
        };
        let params = MethodParams::for_problem(&net, None, &meas, step, lr);
        check_step(params.step)?;
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::param("lr", lr, "give a positive learning rate, e.g. lr=0.01"));
        }
        let problem = Problem { net, meas, b };
        problem.check_finite("b", &[])?;
        Ok((problem, method, params, settings))
    })?;
    run_detached(py, threads, move || {
        let key = InstanceKey {
            seed,
            experiment: "solve",
            trial: 0,
        };
        let starts = instance::starts(method, problem.net.latent_dim(), restarts, &key);
        let runs = solve_runs(&problem, method, &params, &settings, starts.as_ref());
        let best = Selection::Objective.choose(&runs, &[]);
        let rows: Vec<Value> = runs
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let (restart, init_sign) = run_origin(j, restarts);
                json!({
                    "restart": restart, "init_sign": init_sign, "x": r.x, "value": r.value,
                    "gradient_norm": r.gradient_norm, "iterations": r.iterations,
                    "termination": r.termination, "counters": r.counters,
                })
            })
            .collect();
        Ok(serde_json::to_string(&json!({
            "method": method.name(), "step": params.step, "lr": params.adam.lr, "best": best, "runs": rows,
        }))?)
    })
}

/// `θ̌_d`, `ρ_d^{CS}` and `ρ_d` (exact closed forms) for `d = 1 … d_max`, as JSON rows.
#[pyfunction]
fn expected_rho(d_max: usize) -> PyResult<String> {
    guarded(|| {
        at_least("d", d_max, 1, "give a depth of at least 1, e.g. d=10")?;
        check_depth("d", d_max)?;
        let rows: Vec<Value> = (1..=d_max)
            .map(|d| json!({"d": d, "theta_check": theta_check(d), "rho_cs": rho_cs(d), "rho_pr": rho_pr(d)}))
            .collect();
        Ok(serde_json::to_string(&rows)?)
    })
}

/// `F` and `‖h‖` (exact closed forms) on a `grid × grid` grid of `[−range, range]²`, as JSON.
#[pyfunction]
fn expected_landscape(d: usize, x0: PyReadonlyArray1<'_, f64>, grid: usize, range: f64) -> PyResult<String> {
    let x0 = vector(&x0);
    guarded(|| {
        at_least("d", d, 1, "the network depth must be at least 1, e.g. d=2")?;
        check_depth("d", d)?;
        at_least(
            "grid",
            grid,
            2,
            "a grid needs at least 2 points per axis, e.g. grid=201",
        )?;
        check_grid("grid", grid)?;
        if !(range.is_finite() && range > 0.0) {
            return Err(Error::param("range", range, "give a positive half-width, e.g. range=2"));
        }
        let x0: [f64; 2] = x0.as_slice().try_into().map_err(|_| {
            Error::param(
                "x0",
                format!("an array of length {}", x0.len()),
                "the expected landscape is drawn for k = 2: give two numbers",
            )
        })?;
        finite("x0", x0)?;
        if x0 == [0.0, 0.0] {
            return Err(Error::param(
                "x0",
                "[0, 0]",
                "x0 must be nonzero (F has no signal at x0 = 0)",
            ));
        }
        budget().check(&Footprint::new().words("grid", grid, "the grid's rows", 5.0 * (grid as f64).powi(2)))?;
        Ok(serde_json::to_string(&expected_grid(&x0, d, grid, range))?)
    })
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNetwork>()?;
    m.add_function(wrap_pyfunction!(wdc, m)?)?;
    m.add_function(wrap_pyfunction!(rrcp, m)?)?;
    m.add_function(wrap_pyfunction!(audit, m)?)?;
    m.add_function(wrap_pyfunction!(solve, m)?)?;
    m.add_function(wrap_pyfunction!(landscape_exact, m)?)?;
    m.add_function(wrap_pyfunction!(census, m)?)?;
    m.add_function(wrap_pyfunction!(save_instance, m)?)?;
    m.add_function(wrap_pyfunction!(expected_rho, m)?)?;
    m.add_function(wrap_pyfunction!(expected_landscape, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
