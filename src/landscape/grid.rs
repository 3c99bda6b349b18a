//! The landscape audit of one instance on a 2-D grid through `x0` (the `k = 2` plane, or a
//! slice through `x0` and a random orthogonal direction for `k > 2`), judged with balls fixed
//! before probing, plus the origin check: the unit shared by `verify` C4/C6 and
//! `landscape sweep`.
//!
//! ```
//! use dpr_audit::landscape::grid::{grid_audit, standard_instance};
//! use dpr_audit::landscape::probes::Lattice;
//! use dpr_audit::solvers::instance::InstanceKey;
//!
//! let key = InstanceKey { seed: 1, experiment: "example", trial: 0 };
//! let instance = standard_instance(&[2, 20, 60], 60, &key);
//! let lattice = Lattice::new(9, 2.0).unwrap();
//! let audit = grid_audit(&instance, &lattice, (0.01, 1.5), 8, &key);
//! assert_eq!(audit.all.points, 9 * 9);
//! assert_eq!(audit.origin.directions, 8);
//! ```

use super::neighbourhoods::Balls;
use super::origin::{OriginSummary, origin_check, summarise_origin};
use super::probes::{Lattice, Plane, SetKind, plane_points, random_unit};
use super::summary::{SetSummary, judge, summarise};
use super::{Settings, Truth, probe};
use crate::rng::Stream;
use crate::solvers::instance::{Instance, InstanceKey};

/// The landscape audit of one instance on a grid through `x0`.
#[derive(Clone, Debug)]
pub struct GridAudit {
    /// The judgement over every grid point.
    pub all: SetSummary,
    /// The origin check.
    pub origin: OriginSummary,
    /// The balls fixed before probing.
    pub balls: Balls,
}

/// Probes the grid through `x0` of `inst` and judges it with balls from `S_τ` × `margin`
/// fixed beforehand; the slice direction (k > 2) and the origin directions come from `key`'s
/// `Probe` and `Block(0)` streams.
pub fn grid_audit(
    inst: &Instance,
    lattice: &Lattice,
    (tau, margin): (f64, f64),
    origin_directions: usize,
    key: &InstanceKey<'_>,
) -> GridAudit {
    let d = inst.problem.net.depth();
    let truth = Truth::new(&inst.x0, d);
    let k = inst.x0.len();
    let (plane, kind) = if k == 2 {
        (Plane::coordinate_axes(truth.norm), SetKind::Grid)
    } else {
        let u = random_unit(k, &mut key.stream(Stream::Probe));
        let plane = Plane::through_truth(&inst.x0, &u).expect("a random direction is not parallel to x0");
        (plane, SetKind::Slice)
    };
    let points = plane_points(&plane, lattice, kind, 0);
    let balls = Balls::new(d, truth.norm, tau, margin, (None, None));
    let settings = Settings {
        tau,
        ..Settings::default()
    };
    let results = probe(&inst.problem, &truth, &points, &settings, &|| {});
    let regions = judge(&results, &balls);
    let all = summarise(&points, &results, &regions, &truth)
        .pop()
        .expect("summarise ends with the summary of all points");
    let mut rng = key.stream(Stream::Block(0));
    let directions: Vec<Vec<f64>> = (0..origin_directions).map(|_| random_unit(k, &mut rng)).collect();
    let origin = summarise_origin(&origin_check(&inst.problem, &directions));
    GridAudit { all, origin, balls }
}

/// The standard random instance of the landscape audits: a bias-free ReLU network with
/// `N(0, 1/n_i)` weights and `A` with `N(0, 1/m)` entries, `x0 ~ N(0, I_k)`, all from `key`.
pub fn standard_instance(widths: &[usize], m: usize, key: &InstanceKey<'_>) -> Instance {
    use crate::core::measure::MeasurementScale;
    use crate::core::network::{Network, WeightScale};
    let net = Network::gaussian(widths, WeightScale::Normalized, &mut key.stream(Stream::Network));
    crate::solvers::instance::draw(net, m, MeasurementScale::Normalized, None, None, key)
}
