//! A sweep's TOML configuration, checked once ([`SweepConfig::check`]) into the ordered list
//! of settings ([`Grid`]) before any work starts.
//!
//! | key | default | meaning | range |
//! |---|---|---|---|
//! | `description` | `""` | free text, shown in reports | — |
//! | `k` | — | latent dimensions | nonempty, each ≥ 1 |
//! | `layer_widths` | — | networks as the widths `n_1 … n_d` after the latent layer, e.g. `[[500, 1000]]` | nonempty lists of positive integers; or give `d` and `n` |
//! | `d`, `n` | — | depths × widths: every network `k → n → … → n` with `d` layers | both nonempty, each ≥ 1; or give `layer_widths` |
//! | `m` | — | numbers of measurements | nonempty, each ≥ 1; or give `m_over_n` |
//! | `m_over_n` | — | measurements relative to the output width `n_d`: `m = round(r n_d)` | nonempty, each > 0 with `m ≥ 1`; or give `m` |
//! | `methods` | — | solvers: `"dpr"`, `"gd"`, `"adam2"` | nonempty |
//! | `trials` | — | independent instances (network, `A`, `x0`, starts) per setting | ≥ 1 |
//! | `snr_db` | `["none"]` | noise levels: a number (SNR in dB of the amplitudes) or `"none"` | nonempty, finite |
//! | `restarts` | `[1]` | random starts per solve (Adam two-init also runs each from `−x_r`) | nonempty, each ≥ 1 |
//! | `success_tol` | `1e-4` | success: `min(‖x̂−x0‖, ‖x̂+x0‖)/‖x0‖ ≤ success_tol` (HLV's synthetic experiment) | finite, > 0 |
//! | `weight_scale` | `"normalized"` | weights `N(0, 1/n_i)` or `"unit"` `N(0, 1)` (DPR's step is rescaled automatically) | — |
//! | `measurement_scale` | `"normalized"` | `A` with `N(0, 1/m)` or `"unit"` `N(0, 1)` entries | — |
//! | `selection` | `"objective"` | how the solution is chosen among restarts: lowest objective, `"oracle"` (closest to the truth; replication mode only), or `"both"` (each trial writes one row per rule, from the same solves; every summary, fit and figure is split by rule) | — |
//! | `max_iters`, `grad_tol`, `f_tol` | per method ([`crate::solvers::Method::default_settings`]) | the solver loop's limits | `max_iters ≥ 1`; tolerances finite, ≥ 0 |
//! | `step` | `0.5·2^d`, rescaled ([`crate::solvers::dpr_step`]) | DPR/GD step size α | finite, > 0 |
//! | `lr` | `0.01` | Adam's learning rate | finite, > 0 |
//!
//! Every list is a grid axis; the settings are the product, in the order k, network, m, noise,
//! restarts, method, and the trials of a setting are consecutive ids.

use std::fmt;
use std::path::Path;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::core::measure::MeasurementScale;
use crate::core::network::WeightScale;
use crate::error::{Error, Result};
use crate::solvers::{Method, SelectionMode, Settings};

/// A noise level: SNR in dB of the amplitudes, or none (written `"none"` in TOML).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snr(pub Option<f64>);

impl Serialize for Snr {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Some(db) => s.serialize_f64(db),
            None => s.serialize_str("none"),
        }
    }
}

struct SnrVisitor;

impl Visitor<'_> for SnrVisitor {
    type Value = Snr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an SNR in dB (a number) or \"none\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Snr, E> {
        Ok(Snr(Some(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Snr, E> {
        Ok(Snr(Some(v as f64)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Snr, E> {
        Ok(Snr(Some(v as f64)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Snr, E> {
        if v == "none" {
            Ok(Snr(None))
        } else {
            Err(E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
}

impl<'de> Deserialize<'de> for Snr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(SnrVisitor)
    }
}

fn noiseless() -> Vec<Snr> {
    vec![Snr(None)]
}

fn one_restart() -> Vec<usize> {
    vec![1]
}

fn default_success_tol() -> f64 {
    1e-4
}

fn normalized_weights() -> WeightScale {
    WeightScale::Normalized
}

fn normalized_measurements() -> MeasurementScale {
    MeasurementScale::Normalized
}

fn by_objective() -> SelectionMode {
    SelectionMode::Objective
}

fn default_lr() -> f64 {
    0.01
}

/// A sweep's configuration as written in TOML (see the module table).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Latent dimensions.
    pub k: Vec<usize>,
    /// Networks as widths after the latent layer.
    #[serde(default)]
    pub layer_widths: Option<Vec<Vec<usize>>>,
    /// Depths (with `n`).
    #[serde(default)]
    pub d: Option<Vec<usize>>,
    /// Layer widths (with `d`).
    #[serde(default)]
    pub n: Option<Vec<usize>>,
    /// Numbers of measurements.
    #[serde(default)]
    pub m: Option<Vec<usize>>,
    /// Measurements relative to the output width.
    #[serde(default)]
    pub m_over_n: Option<Vec<f64>>,
    /// Solvers.
    pub methods: Vec<Method>,
    /// Instances per setting.
    pub trials: usize,
    /// Noise levels.
    #[serde(default = "noiseless")]
    pub snr_db: Vec<Snr>,
    /// Restarts per solve.
    #[serde(default = "one_restart")]
    pub restarts: Vec<usize>,
    /// Success threshold on the relative error.
    #[serde(default = "default_success_tol")]
    pub success_tol: f64,
    /// Weight variance convention.
    #[serde(default = "normalized_weights")]
    pub weight_scale: WeightScale,
    /// Variance convention of `A`.
    #[serde(default = "normalized_measurements")]
    pub measurement_scale: MeasurementScale,
    /// Selection among restarts (one rule or both).
    #[serde(default = "by_objective")]
    pub selection: SelectionMode,
    /// Most iterations per run.
    #[serde(default)]
    pub max_iters: Option<usize>,
    /// Relative gradient tolerance.
    #[serde(default)]
    pub grad_tol: Option<f64>,
    /// Relative objective-change tolerance.
    #[serde(default)]
    pub f_tol: Option<f64>,
    /// DPR/GD step size.
    #[serde(default)]
    pub step: Option<f64>,
    /// Adam's learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
}

/// One setting of the grid (every parameter but the trial index).
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// Latent dimension.
    pub k: usize,
    /// Widths `n_1 … n_d` after the latent layer.
    pub layers: Vec<usize>,
    /// Measurements.
    pub m: usize,
    /// Noise level.
    pub snr_db: Option<f64>,
    /// Restarts.
    pub restarts: usize,
    /// Solver.
    pub method: Method,
}

impl Setting {
    /// The full widths `k, n_1, …, n_d`.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.k).chain(self.layers.iter().copied()).collect()
    }

    /// The output width `n = n_d`.
    pub fn n(&self) -> usize {
        *self.layers.last().expect("a network has at least one layer")
    }

    /// The depth `d`.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
}

/// A checked configuration and its settings, in the fixed order.
#[derive(Clone, Debug)]
pub struct Grid {
    /// The configuration as read.
    pub config: SweepConfig,
    /// The settings.
    pub settings: Vec<Setting>,
}

impl Grid {
    /// The loop settings of `method` with the configuration's overrides.
    pub fn loop_settings(&self, method: Method) -> Settings {
        let c = &self.config;
        method.settings_with(c.max_iters, c.grad_tol, c.f_tol, false)
    }

    /// Whether the m grid is given relative to the output width.
    pub fn relative_m(&self) -> bool {
        self.config.m_over_n.is_some()
    }
}

/// A configuration error naming the file and the key.
fn bad(path: &Path, key: &str, reason: impl fmt::Display) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        reason: format!("key `{key}`: {reason}"),
    }
}

/// Reads and checks the configuration file at `path`.
pub fn load(path: &Path) -> Result<Grid> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::MissingInput {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and checks configuration `text` (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Grid> {
    let config: SweepConfig =
        toml::from_str(text).map_err(|e| Error::toml(path, Some(text), &e, "verify/sweeps/quick.toml"))?;
    config.check(path)
}

/// Refuses an empty list, a zero entry and repeated entries of an integer grid.
fn check_counts(path: &Path, key: &str, values: &[usize], example: &str) -> Result<()> {
    if values.is_empty() {
        return Err(bad(
            path,
            key,
            format!("the grid is empty; give at least one value, e.g. {key} = {example}"),
        ));
    }
    if values.contains(&0) {
        return Err(bad(
            path,
            key,
            format!("{values:?} contains 0; every entry must be at least 1"),
        ));
    }
    check_distinct(path, key, values)
}

fn check_distinct<T: PartialEq + fmt::Debug>(path: &Path, key: &str, values: &[T]) -> Result<()> {
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(bad(path, key, format!("{v:?} is listed twice; list each value once")));
        }
    }
    Ok(())
}

fn check_positive(path: &Path, key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(bad(
            path,
            key,
            format!("{value} must be a finite number greater than 0"),
        ))
    }
}

impl SweepConfig {
    /// The networks of the grid (widths after the latent layer).
    fn networks(&self, path: &Path) -> Result<Vec<Vec<usize>>> {
        match (&self.layer_widths, &self.d, &self.n) {
            (Some(lists), None, None) => {
                if lists.is_empty() {
                    return Err(bad(
                        path,
                        "layer_widths",
                        "the grid is empty; give at least one network, e.g. layer_widths = [[500, 1000]]",
                    ));
                }
                for list in lists {
                    if list.is_empty() || list.contains(&0) {
                        return Err(bad(
                            path,
                            "layer_widths",
                            format!("{list:?}: every network needs at least one layer and positive widths"),
                        ));
                    }
                }
                check_distinct(path, "layer_widths", lists)?;
                Ok(lists.clone())
            }
            (None, Some(ds), Some(ns)) => {
                check_counts(path, "d", ds, "[2, 3]")?;
                check_counts(path, "n", ns, "[100, 200]")?;
                Ok(ds.iter().flat_map(|&d| ns.iter().map(move |&n| vec![n; d])).collect())
            }
            _ => Err(bad(
                path,
                "layer_widths",
                "give the networks either as layer_widths = [[n_1, …, n_d], …] or as both d = […] and n = […], not both or neither",
            )),
        }
    }

    /// The m values for a network with output width `n`.
    fn m_values(&self, path: &Path, n: usize) -> Result<Vec<usize>> {
        match (&self.m, &self.m_over_n) {
            (Some(ms), None) => {
                check_counts(path, "m", ms, "[50, 100, 200]")?;
                Ok(ms.clone())
            }
            (None, Some(ratios)) => {
                if ratios.is_empty() {
                    return Err(bad(
                        path,
                        "m_over_n",
                        "the grid is empty; give at least one value, e.g. m_over_n = [0.1, 0.2]",
                    ));
                }
                let mut ms = Vec::with_capacity(ratios.len());
                for &r in ratios {
                    check_positive(path, "m_over_n", r)?;
                    let m = (r * n as f64).round() as usize;
                    if m == 0 {
                        return Err(bad(
                            path,
                            "m_over_n",
                            format!(
                                "{r} × n = {r} × {n} rounds to m = 0; use ratios of at least {}",
                                0.5 / n as f64
                            ),
                        ));
                    }
                    ms.push(m);
                }
                check_distinct(path, "m_over_n", &ms).map_err(|_| {
                    bad(
                        path,
                        "m_over_n",
                        format!("{ratios:?} × n = {n} gives repeated m values {ms:?}; space the ratios further apart"),
                    )
                })?;
                Ok(ms)
            }
            _ => Err(bad(
                path,
                "m",
                "give the measurements either as m = […] or as m_over_n = […], not both or neither",
            )),
        }
    }

    fn check_scalars(&self, path: &Path) -> Result<()> {
        if self.trials == 0 {
            return Err(bad(
                path,
                "trials",
                "0: run at least one instance per setting, e.g. trials = 25",
            ));
        }
        check_positive(path, "success_tol", self.success_tol)?;
        check_positive(path, "lr", self.lr)?;
        if let Some(step) = self.step {
            check_positive(path, "step", step)?;
        }
        if self.max_iters == Some(0) {
            return Err(bad(
                path,
                "max_iters",
                "0: allow at least one iteration, e.g. max_iters = 1000",
            ));
        }
        for (key, value) in [("grad_tol", self.grad_tol), ("f_tol", self.f_tol)] {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(bad(
                    path,
                    key,
                    format!("{v}: give a finite tolerance ≥ 0 (0 switches the test off)"),
                ));
            }
        }
        Ok(())
    }

    fn check_axes(&self, path: &Path) -> Result<()> {
        check_counts(path, "k", &self.k, "[5, 10, 20]")?;
        if self.methods.is_empty() {
            return Err(bad(
                path,
                "methods",
                "the grid is empty; give at least one solver, e.g. methods = [\"dpr\", \"gd\"]",
            ));
        }
        check_distinct(path, "methods", &self.methods)?;
        check_counts(path, "restarts", &self.restarts, "[1]")?;
        if self.snr_db.is_empty() {
            return Err(bad(
                path,
                "snr_db",
                "the grid is empty; give at least one level, e.g. snr_db = [\"none\"]",
            ));
        }
        if let Some(Snr(Some(db))) = self.snr_db.iter().find(|s| s.0.is_some_and(|db| !db.is_finite())) {
            return Err(bad(
                path,
                "snr_db",
                format!("{db} must be finite (or \"none\" for no noise)"),
            ));
        }
        check_distinct(path, "snr_db", &self.snr_db)
    }

    /// Checks every key and expands the grid (errors name `path` and the key).
    pub fn check(self, path: &Path) -> Result<Grid> {
        self.check_scalars(path)?;
        self.check_axes(path)?;
        let networks = self.networks(path)?;
        let mut settings = Vec::new();
        for &k in &self.k {
            for layers in &networks {
                for m in self.m_values(path, *layers.last().unwrap_or(&1))? {
                    for snr in &self.snr_db {
                        for &restarts in &self.restarts {
                            for &method in &self.methods {
                                settings.push(Setting {
                                    k,
                                    layers: layers.clone(),
                                    m,
                                    snr_db: snr.0,
                                    restarts,
                                    method,
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(Grid { config: self, settings })
    }
}

/// The default output folder name of a config file: `sweep-<file stem>`.
pub fn default_out_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
    format!("sweep-{stem}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "k = [2, 3]\nd = [2]\nn = [20]\nm = [10, 20]\nmethods = [\"dpr\", \"gd\"]\ntrials = 2\n";

    fn err(text: &str) -> String {
        parse(Path::new("x.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn expands_the_grid_in_order() {
        let grid = parse(Path::new("x.toml"), &format!("{BASE}snr_db = [\"none\", 30]\n")).unwrap();
        assert_eq!(grid.settings.len(), 2 * 2 * 2 * 2);
        assert_eq!(grid.settings[0].widths(), vec![2, 20, 20]);
        assert_eq!(grid.settings[1].method, Method::Gd);
        assert_eq!(grid.settings[2].snr_db, Some(30.0));
        assert_eq!(grid.settings[4].m, 20);
        assert_eq!(grid.settings[8].k, 3);
        let rel = parse(
            Path::new("x.toml"),
            "k = [10]\nlayer_widths = [[500, 1000]]\nm_over_n = [0.05, 0.1]\nmethods = [\"dpr\"]\ntrials = 1\n",
        )
        .unwrap();
        assert_eq!(rel.settings.iter().map(|s| s.m).collect::<Vec<_>>(), vec![50, 100]);
        assert!(rel.relative_m());
    }

    #[test]
    fn bad_configs_name_the_file_and_the_key() {
        for (text, needle) in [
            (format!("{BASE}bogus = 1\n"), "bogus"),
            (BASE.replace("m = [10, 20]", "m = []"), "`m`: the grid is empty"),
            (BASE.replace("m = [10, 20]", "m = [0, 20]"), "`m`: [0, 20] contains 0"),
            (BASE.replace("k = [2, 3]", "k = [2, 2]"), "`k`: 2 is listed twice"),
            (BASE.replace("trials = 2", "trials = 0"), "`trials`"),
            (BASE.replace("methods = [\"dpr\", \"gd\"]", "methods = []"), "`methods`"),
            (
                BASE.replace("methods = [\"dpr\", \"gd\"]", "methods = [\"newton\"]"),
                "newton",
            ),
            (format!("{BASE}snr_db = [\"loud\"]\n"), "none"),
            (format!("{BASE}success_tol = -1.0\n"), "`success_tol`"),
            (format!("{BASE}layer_widths = [[5]]\n"), "not both or neither"),
            (format!("{BASE}m_over_n = [0.5]\n"), "not both or neither"),
            (
                BASE.replace("n = [20]", "n = [20]\nm_over_n = [0.01]")
                    .replace("m = [10, 20]\n", ""),
                "rounds to m = 0",
            ),
            (format!("{BASE}max_iters = 0\n"), "`max_iters`"),
        ] {
            let e = err(&text);
            assert!(e.contains("x.toml") && e.contains(needle), "{needle}: {e}");
        }
    }
}
