//! Turning command-line inputs into validated objects, with errors that name the value and
//! the fix. Shared by every subcommand.

use std::path::Path;

use crate::core::instance::{LoadedInstance, provenance, save_instance};
use crate::core::measure::MeasurementScale;
use crate::core::network::{Network, WeightScale};
use crate::core::objective::Problem;
use crate::core::source::{NetworkSpec, load_instance_within};
use crate::error::{Error, Result};
use crate::limits::{Footprint, MemoryBudget};
use crate::solvers::instance::{Instance, InstanceKey, draw};

use super::cli::NetworkSource;

pub use crate::core::source::NetworkOrigin;

/// The library's description of the network of `--widths`/`--weights`/`--weight-scale`.
pub fn network_spec(src: &NetworkSource) -> Result<NetworkSpec> {
    NetworkSpec::one_of(src.widths.as_deref(), src.weights.as_deref(), src.weight_scale).map_err(|_| {
        Error::param(
            "network",
            "neither --widths nor --weights",
            "give --widths k,n_1,...,n_d for a random network or --weights FILE.safetensors",
        )
    })
}

/// A library error as the command line reports it: a parameter the command line sets through
/// a flag (`widths`) is named by that flag (`--widths`).
pub fn flag_names(err: Error) -> Error {
    match err {
        Error::Param { name, value, fix } => Error::Param {
            name: match name {
                "widths" => "--widths",
                "weights" => "--weights",
                "instance" => "--instance",
                "m" => "--m",
                "trials" => "--trials",
                "tuples" => "--tuples",
                "refine_starts" => "--refine-starts",
                "constant" => "--constant",
                other => other,
            },
            value,
            fix,
        },
        other => other,
    }
}

/// Builds the network of `--widths` (random, from the `(experiment, trial)` network stream)
/// or reads `--weights`.
pub fn network(src: &NetworkSource, seed: u64, experiment: &str, trial: u64) -> Result<(Network, NetworkOrigin)> {
    network_spec(src)?.build(seed, experiment, trial).map_err(flag_names)
}

/// [`network`], after checking that the run's `footprint` (a function of the widths) fits the
/// memory budget: for `--widths` before anything is allocated, for `--weights` as soon as the
/// file's widths are known.
pub fn network_within(
    src: &NetworkSource,
    budget: &MemoryBudget,
    footprint: impl Fn(&[usize]) -> Footprint,
    key: (u64, &str, u64),
) -> Result<(Network, NetworkOrigin)> {
    network_spec(src)?
        .build_within(budget, footprint, key)
        .map_err(flag_names)
}

/// The instance of `--instance` (network, `A`, `b`, `x0`) with its network's origin, refused
/// when `footprint` of its widths exceeds the memory budget; `None` without the flag.
pub fn stored_instance(
    path: Option<&Path>,
    budget: &MemoryBudget,
    footprint: impl Fn(&[usize]) -> Footprint,
) -> Result<Option<(LoadedInstance, NetworkOrigin)>> {
    path.map(|p| load_instance_within(p, budget, footprint))
        .transpose()
        .map_err(flag_names)
}

/// The instance a run solves or audits: read from `--instance` (`file`), or drawn under `key`
/// (the network of `source`, `A` with `m` rows of `scale`, the truth `x0` or a draw, noise at
/// `snr_db`). Returns it with its network's origin and the variance convention of random
/// weights (which sets the default step sizes; `None` for a network from a weights file).
pub fn run_instance(
    file: Option<&Path>,
    source: &NetworkSource,
    drawn: (usize, MeasurementScale, Option<&Vec<f64>>, Option<f64>),
    budget: &MemoryBudget,
    footprint: impl Fn(&[usize]) -> Footprint + Copy,
    key: &InstanceKey<'_>,
) -> Result<(Instance, NetworkOrigin, Option<WeightScale>)> {
    if let Some((loaded, origin)) = stored_instance(file, budget, footprint)? {
        let random_scale = loaded.random_weight_scale();
        let inst = Instance {
            problem: loaded.problem,
            x0: loaded.x0,
        };
        return Ok((inst, origin, random_scale));
    }
    let (m, scale, x0, snr_db) = drawn;
    let (net, origin) = network_within(source, budget, footprint, (key.seed, key.experiment, key.trial))?;
    if let Some(x0) = x0 {
        latent_code("--x0", x0, net.latent_dim(), true)?;
    }
    let random_scale = source.widths.as_ref().map(|_| source.weight_scale);
    let inst = draw(net, m, scale, x0.cloned(), snr_db, key);
    inst.problem.check_finite("--x0", &inst.x0)?;
    Ok((inst, origin, random_scale))
}

/// Writes the instance to the file of `--save-instance`, if given, with its provenance
/// (`command` names the writer).
pub fn save_requested(
    path: Option<&Path>,
    (seed, command): (u64, &str),
    origin: &NetworkOrigin,
    problem: &Problem,
    x0: &[f64],
) -> Result<()> {
    match path {
        Some(path) => save_instance(
            problem,
            x0,
            path,
            &provenance(seed, origin, problem, &format!("dpr-audit {command}")),
        ),
        None => Ok(()),
    }
}

/// Checks a user-given latent code: the right length, finite, and (if `nonzero`) not 0.
pub fn latent_code(name: &'static str, x: &[f64], k: usize, nonzero: bool) -> Result<()> {
    if x.len() != k {
        return Err(Error::param(
            name,
            format_code(x),
            format!("give exactly {k} comma-separated numbers"),
        ));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::param(
            name,
            format_code(x),
            "every entry must be a finite number",
        ));
    }
    if !x.iter().map(|v| v * v).sum::<f64>().is_finite() {
        return Err(Error::param(
            name,
            format_code(x),
            "its squared norm overflows f64, so f would be inf; give entries of a smaller size (below 1e150)",
        ));
    }
    if nonzero && x.iter().all(|&v| v == 0.0) {
        return Err(Error::param(
            name,
            format_code(x),
            "x0 must be nonzero (f has no signal at x0 = 0)",
        ));
    }
    Ok(())
}

fn format_code(x: &[f64]) -> String {
    // Debug prints 1e308 as `1e308`, where Display writes out 309 digits.
    x.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",")
}

/// Checks that an integer parameter is at least `min`.
pub fn at_least(name: &'static str, value: usize, min: usize, fix: &str) -> Result<()> {
    if value < min {
        return Err(Error::param(name, value, fix.to_string()));
    }
    Ok(())
}

/// Checks that a real parameter is finite and positive.
pub fn positive(name: &'static str, value: f64) -> Result<()> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Error::param(
            name,
            format!("{value:?}"),
            "give a finite number greater than 0",
        ));
    }
    Ok(())
}

/// Parses a search budget: a time (`90s`, `10m`, `2h`) or a number of pair evaluations
/// (`2000000`); zero is refused.
pub fn budget(name: &'static str, text: &str) -> Result<crate::conditions::certify_boxes::Budget> {
    use crate::conditions::certify_boxes::Budget;
    let fix = "give a time such as 90s, 10m or 2h, or a number of pair evaluations such as 2000000";
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit() && *c != '.') {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let seconds = match unit {
        "" => {
            let nodes: u64 = number.parse().map_err(|_| Error::param(name, text, fix))?;
            if nodes == 0 {
                return Err(Error::param(name, text, fix));
            }
            return Ok(Budget::Nodes(nodes));
        }
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(Error::param(name, text, fix)),
    };
    let value: f64 = number.parse().map_err(|_| Error::param(name, text, fix))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::param(name, text, fix));
    }
    Ok(Budget::Time(std::time::Duration::from_secs_f64(value * seconds)))
}
