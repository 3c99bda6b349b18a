//! Where a network comes from, as plain data: random Gaussian weights of given widths, a
//! weights file, or an instance file (whose network is its `W1 … Wd`). The command line builds
//! a [`NetworkSpec`] from its flags; the library builds the network from the spec. Errors name
//! the parameter (`widths`, `weights`, `instance`), never a command-line flag.
//!
//! ```
//! use dpr_audit::core::network::WeightScale;
//! use dpr_audit::core::source::NetworkSpec;
//!
//! let spec = NetworkSpec::Random { widths: vec![2, 20, 50], weight_scale: WeightScale::Normalized };
//! let (net, origin) = spec.build(1, "example", 0).unwrap();
//! assert_eq!(net.widths(), vec![2, 20, 50]);
//! assert_eq!((origin.source.as_str(), origin.weight_scale.as_str()), ("random", "normalized"));
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::instance::{LoadedInstance, load_instance};
use super::network::{Network, WeightScale, validate_widths};
use super::weights;
use crate::error::{Error, Result};
use crate::limits::{Footprint, MemoryBudget};
use crate::rng::{Stream, stream};

/// A network's description.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkSpec {
    /// A bias-free ReLU network of widths `k, n_1, …, n_d` with Gaussian weights drawn from the
    /// `(experiment, trial)` network stream of the master seed.
    Random {
        /// Widths `k, n_1, …, n_d` (at least two, all positive).
        widths: Vec<usize>,
        /// Variance of the weights.
        weight_scale: WeightScale,
    },
    /// A network saved as safetensors (`W1 … Wd`, optional `b1 … bd`), the same in every trial.
    Weights(PathBuf),
    /// The network of an instance file (`W1 … Wd`, `A`, `x0`, `b`; see [`super::instance`]).
    Instance(PathBuf),
}

/// Where a network came from, for reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NetworkOrigin {
    /// `"random"` or the file's path.
    pub source: String,
    /// `"normalized"`, `"unit"`, or the file's `weight_scale` metadata / `"file"`.
    pub weight_scale: String,
}

impl NetworkSpec {
    /// The spec of exactly one of `widths` (a random network with `weight_scale`) and
    /// `weights` (a file); both or neither is an error naming `widths`.
    pub fn one_of(widths: Option<&[usize]>, weights: Option<&Path>, weight_scale: WeightScale) -> Result<Self> {
        match (widths, weights) {
            (Some(widths), None) => Ok(Self::Random {
                widths: widths.to_vec(),
                weight_scale,
            }),
            (None, Some(path)) => Ok(Self::Weights(path.to_path_buf())),
            _ => Err(Error::param(
                "widths",
                "(both or neither of widths and weights)",
                "give the widths k,n_1,...,n_d of a random network or a weights file, not both",
            )),
        }
    }

    /// The widths when they are known without reading a file.
    pub fn known_widths(&self) -> Option<&[usize]> {
        match self {
            Self::Random { widths, .. } => Some(widths),
            Self::Weights(_) | Self::Instance(_) => None,
        }
    }

    /// Whether every trial sees the same network (a file) or a fresh draw (random widths).
    pub fn is_fixed(&self) -> bool {
        self.known_widths().is_none()
    }

    /// The network: random from the `(experiment, trial)` network stream of `seed`, or read
    /// from the file (then `seed`, `experiment` and `trial` play no part).
    pub fn build(&self, seed: u64, experiment: &str, trial: u64) -> Result<(Network, NetworkOrigin)> {
        match self {
            Self::Random { widths, weight_scale } => {
                validate_widths(widths)?;
                let mut rng = stream(seed, experiment, trial, Stream::Network);
                let net = Network::gaussian(widths, *weight_scale, &mut rng);
                Ok((
                    net,
                    NetworkOrigin {
                        source: "random".into(),
                        weight_scale: weight_scale.name().into(),
                    },
                ))
            }
            Self::Weights(path) => {
                let loaded = weights::load(path)?;
                Ok((loaded.net, NetworkOrigin::of_file(path, &loaded.metadata)))
            }
            Self::Instance(path) => {
                let LoadedInstance { problem, metadata, .. } = load_instance(path)?;
                Ok((problem.net, NetworkOrigin::of_file(path, &metadata)))
            }
        }
    }

    /// [`Self::build`], after checking that the run's `footprint` (a function of the widths)
    /// fits `budget`: for random widths before anything is allocated, for a file as soon as
    /// its widths are known.
    pub fn build_within(
        &self,
        budget: &MemoryBudget,
        footprint: impl Fn(&[usize]) -> Footprint,
        (seed, experiment, trial): (u64, &str, u64),
    ) -> Result<(Network, NetworkOrigin)> {
        if let Some(widths) = self.known_widths() {
            validate_widths(widths)?;
            budget.check(&footprint(widths))?;
        }
        let (net, origin) = self.build(seed, experiment, trial)?;
        if self.is_fixed() {
            budget.check(&footprint(&net.widths()))?;
        }
        Ok((net, origin))
    }
}

impl NetworkOrigin {
    /// The origin of a network read from `path`, with its recorded `weight_scale` (or `"file"`).
    pub fn of_file(path: &Path, metadata: &BTreeMap<String, String>) -> Self {
        Self {
            source: path.display().to_string(),
            weight_scale: metadata.get("weight_scale").cloned().unwrap_or_else(|| "file".into()),
        }
    }
}

/// Reads the whole instance of an instance file (see [`super::instance::load_instance`]) with
/// the origin of its network, after checking that `footprint` of its widths fits `budget`.
pub fn load_instance_within(
    path: &Path,
    budget: &MemoryBudget,
    footprint: impl Fn(&[usize]) -> Footprint,
) -> Result<(LoadedInstance, NetworkOrigin)> {
    let loaded = load_instance(path)?;
    budget.check(&footprint(&loaded.problem.net.widths()))?;
    let origin = NetworkOrigin::of_file(path, &loaded.metadata);
    Ok((loaded, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_widths_are_reported_as_the_parameter_widths() {
        let spec = NetworkSpec::Random {
            widths: vec![3],
            weight_scale: WeightScale::Normalized,
        };
        match spec.build(1, "test", 0) {
            Err(Error::Param { name, .. }) => assert_eq!(name, "widths"),
            other => panic!("expected a parameter error, got {other:?}"),
        }
        let missing_file = NetworkSpec::Weights("/nonexistent/net.safetensors".into());
        assert!(missing_file.build(1, "test", 0).is_err());
    }

    #[test]
    fn a_random_network_depends_on_the_trial_and_a_file_does_not_need_one() {
        let spec = NetworkSpec::Random {
            widths: vec![2, 6, 9],
            weight_scale: WeightScale::Unit,
        };
        let (a, _) = spec.build(1, "test", 0).unwrap();
        let (b, _) = spec.build(1, "test", 1).unwrap();
        let (again, _) = spec.build(1, "test", 0).unwrap();
        let x = [0.3, -1.2];
        assert_eq!(a.generate(&x), again.generate(&x));
        assert_ne!(a.generate(&x), b.generate(&x));
        assert!(!spec.is_fixed());
        assert!(NetworkSpec::Instance("x.safetensors".into()).is_fixed());
    }
}
