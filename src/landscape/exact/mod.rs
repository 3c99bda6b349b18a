//! The exact landscape for `k = 2` (docs/THEORY.md §13): every critical point of
//! `f(x) = ½‖|A G(x)| − b‖²` away from the origin, found by enumerating the sectors of the
//! circle and minimising the profile `φ(u) = min_r f(r u)` in closed form on each.
//!
//! - [`profile`]: `φ`, its slope and its stationary point on one sector (closed forms);
//! - [`sectors`]: the sectors, layer by layer, with low-rank updates between neighbours;
//! - [`critical`]: interior minima, kinks classified by one-sided slopes, flat arcs, basins;
//! - [`exact_landscape`]: the whole study on one instance, each point re-checked by a fresh
//!   forward pass with a rounding bound ([`pattern_slack`]), plus distances to `x0` and
//!   `−ρ_d x0`, the negation premise, the level in `S_τ`, the global minimum.
//!
//! Kinds of numbers: `φ`, the slopes and the stationary angles are exact closed forms
//! evaluated in f64; each decision (a sign, a side of a breakpoint) is compared with a
//! first-order rounding bound and reported `undecided` when it is within it.
//!
//! ```
//! use dpr_audit::landscape::Truth;
//! use dpr_audit::landscape::exact::exact_landscape;
//! use dpr_audit::landscape::grid::standard_instance;
//! use dpr_audit::solvers::instance::InstanceKey;
//!
//! let key = InstanceKey { seed: 1, experiment: "example", trial: 0 };
//! let inst = standard_instance(&[2, 20, 60], 60, &key);
//! let truth = Truth::new(&inst.x0, inst.problem.net.depth());
//! let landscape = exact_landscape(&inst.problem, &truth, 0.01, None).unwrap();
//! // x0 is a global minimum (f = 0), so the enumeration finds at least one critical point.
//! assert!(!landscape.points.is_empty());
//! ```

pub mod critical;
pub mod profile;
pub mod sectors;
pub mod sweep;

use faer::MatRef;

use self::critical::{PointType, ProfilePoint, Site, Status, critical_points};
use self::profile::direction;
use self::sectors::{Boundary, Cause, Instance, Sectors, enumerate};
use super::Truth;
use super::classify::gradient_scale;
use crate::core::expected::expected_gradient;
use crate::core::network::{Activation, Network};
use crate::core::objective::Problem;
use crate::core::vector::{angle, norm, scale, sub};
use crate::error::{Error, Result};

/// Unit roundoff of f64.
const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;
/// Safety factor on the first-order rounding bounds `(Σ n_l + m) u` (the bounds are
/// first-order estimates of the accumulated error of sums of that many terms, not rigorous
/// interval arithmetic; the factor covers the constant of the updates between refreshes).
const ROUNDING_SAFETY: f64 = 16.0;
/// A local minimum within this distance of `x0` (units of `‖x0‖`) is `x0` itself.
pub const SAME_POINT: f64 = 1e-6;
/// Two minima whose `f` differ by less than this fraction of `½‖b‖²` tie for the global minimum.
const TIE: f64 = 1e-10;

/// Refuses an instance the profile argument does not cover (docs/THEORY.md §13.1): its
/// network must pass [`check_network`].
pub fn check_instance(problem: &Problem) -> Result<()> {
    check_network(&problem.net)
}

/// Refuses a network the profile argument does not cover (docs/THEORY.md §13.1): `k = 2`,
/// bias-free ReLU layers (positive homogeneity `G(r u) = r G(u)`).
pub fn check_network(net: &Network) -> Result<()> {
    let k = net.latent_dim();
    if k != 2 {
        return Err(Error::param(
            "latent dimension k",
            k,
            "the exact landscape enumerates the circle and needs k = 2; for k > 2 use `landscape census`, \
             whose GD limits carry a certified-minimum status",
        ));
    }
    for (i, layer) in net.layers().iter().enumerate() {
        if layer.bias.as_ref().is_some_and(|b| b.iter().any(|&v| v != 0.0)) {
            return Err(Error::param(
                "network",
                format!("layer {} has a nonzero bias", i + 1),
                "the exact landscape needs a bias-free ReLU network: the profile argument uses G(r u) = r G(u), \
                 which a bias breaks",
            ));
        }
        if layer.activation != Activation::Relu {
            return Err(Error::param(
                "network",
                format!("layer {} uses {}", i + 1, layer.activation.name()),
                "the exact landscape needs ReLU activations: the profile argument uses G(r u) = r G(u) \
                 (positive homogeneity), which only ReLU (or identity) layers have",
            ));
        }
    }
    Ok(())
}

/// `γ_N = N u / (1 − N u)`, the relative error bound of a sum of `N` products.
fn gamma(terms: usize) -> f64 {
    let nu = terms as f64 * UNIT_ROUNDOFF;
    nu / (1.0 - nu)
}

/// The angle below which two breakpoints of a computation with `terms` summands per entry
/// cannot be told apart (docs/THEORY.md §13.2): `16 γ_terms`.
pub fn angle_tolerance(terms: usize) -> f64 {
    ROUNDING_SAFETY * gamma(terms)
}

/// The fresh-evaluation certificate of a sign pattern at `u` (docs/THEORY.md §13.5): one
/// forward pass carrying, for every pre-activation and measurement `z_i`, the standard bound
/// `e_i ≥ |fl(z_i) − z_i|` (`e ← γ_n |W| |a| + |W| e`, ReLU 1-Lipschitz). Returns
/// `min_i |z_i| / e_i` over the units and measurements not in `skip` (the kink's own units) and
/// not exactly zero with zero error (dead behind dead units): above 1, every sign at `u` is
/// decided. Infinite when nothing is left to check.
pub fn pattern_slack(problem: &Problem, u: &[f64], skip: Option<&Boundary>) -> f64 {
    let mut a = u.to_vec();
    let mut e = vec![0.0; u.len()];
    let mut slack = f64::INFINITY;
    let layers = problem.net.layers();
    let mats: Vec<MatRef<'_, f64>> = layers
        .iter()
        .map(|l| l.weight.as_ref())
        .chain(std::iter::once(problem.meas.a.as_ref()))
        .collect();
    for (l, w) in mats.iter().enumerate() {
        let g = gamma(w.ncols());
        let mut z = vec![0.0; w.nrows()];
        let mut err = vec![0.0; w.nrows()];
        for j in 0..w.ncols() {
            let (aj, ej) = (a[j], g * a[j].abs() + e[j]);
            for i in 0..w.nrows() {
                let wij = w[(i, j)];
                z[i] += wij * aj;
                err[i] += wij.abs() * ej;
            }
        }
        let cause = if l < layers.len() {
            Cause::Layer(l + 1)
        } else {
            Cause::Measurement
        };
        for i in 0..z.len() {
            let skipped = skip.is_some_and(|b| b.cause == cause && b.units.contains(&i));
            if skipped || (z[i] == 0.0 && err[i] == 0.0) {
                continue;
            }
            slack = slack.min(z[i].abs() / err[i]);
        }
        a = z.iter().map(|&v| v.max(0.0)).collect();
        e = err;
    }
    slack
}

/// One critical point of `f` with everything reported about it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CriticalPoint {
    /// The point `x = r* u` (for a flat arc: `u` at the arc's first angle, unit length).
    pub x: Vec<f64>,
    /// `f(x)`, evaluated afresh.
    pub f: f64,
    /// `φ(u)` from the sector's closed form.
    pub phi: f64,
    /// `local_min`, `saddle`, `flat`.
    #[serde(rename = "type")]
    pub kind: PointType,
    /// `certified` or `undecided`.
    pub status: Status,
    /// `interior`, `layer_l` (a kink of layer l), `measurement`, or `arc`.
    pub site: String,
    /// The units changing sign at a kink (0-based).
    pub units: Vec<usize>,
    /// The polar angle of `x` in `[0, 2π)`.
    pub angle: f64,
    /// Flat arc: its last polar angle.
    pub arc_end: Option<f64>,
    /// `r* = ‖x‖` (`None` on a flat arc).
    pub radius: Option<f64>,
    /// Basin width in angle (radians).
    pub basin_width: Option<f64>,
    /// Basin depth in `φ` (minima) or prominence (saddles).
    pub depth: Option<f64>,
    /// `‖x − x0‖ / ‖x0‖`.
    pub dist_x0: f64,
    /// `‖x + ρ_d x0‖ / ‖x0‖`.
    pub dist_neg: f64,
    /// `∠(x, x0)` (radians).
    pub angle_x0: f64,
    /// `∠(x, −x0)` (radians).
    pub angle_neg_x0: f64,
    /// `f(−x)`.
    pub f_negated: f64,
    /// `f(−x) < f(x)`: the negation step of Algorithm 1 would help here.
    pub negation_helps: bool,
    /// Interior: angle to the nearer sector end; kink: smaller one-sided slope magnitude.
    pub margin: f64,
    /// The first-order rounding bound the margin is compared with.
    pub rounding_bound: f64,
    /// Kink: the one-sided slopes of `φ`.
    pub slope_left: Option<f64>,
    /// Kink: the right slope.
    pub slope_right: Option<f64>,
    /// [`pattern_slack`] at `u` (the kink's own units excluded); above 1 the pattern is decided.
    pub pattern_slack: f64,
    /// `‖h_{x,x0}‖ / (2^{−d} max(‖x‖, ‖x0‖))` (closed form): `x ∈ S_τ` when at most `τ`.
    pub h_ratio: Option<f64>,
    /// `h_ratio ≤ τ`.
    pub in_s_tau: bool,
    /// A local minimum other than `x0`.
    pub spurious: bool,
    /// Spurious minima with a WDC ε given: `‖x + ρ_d x0‖ / (d^{14} ε^{1/4} ‖x0‖)`, the `K₂` the
    /// theorem's second ball would need. ε is a lower bound on the WDC constant, so this is an
    /// upper estimate of the needed `K₂`.
    pub k2_upper_estimate: Option<f64>,
}

/// The number of boundaries of one cause.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SourceCount {
    /// `layer_l` or `measurement`.
    pub source: String,
    /// Sector boundaries it contributes.
    pub breakpoints: usize,
}

/// Counts of critical points per type and status.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Counts {
    /// Local minima (x0 included).
    pub local_min: usize,
    /// Spurious local minima.
    pub spurious_min: usize,
    /// Saddles.
    pub saddle: usize,
    /// Flat arcs.
    pub flat: usize,
    /// Points reported `undecided`.
    pub undecided: usize,
    /// Local minima at a measurement kink (0 by docs/THEORY.md §13.3).
    pub min_at_measurement_kink: usize,
}

/// The exact landscape of one `k = 2` instance.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExactLandscape {
    /// Every critical point of `f` except the origin, in angular order.
    pub points: Vec<CriticalPoint>,
    /// Counts.
    pub counts: Counts,
    /// Sectors on the circle.
    pub sectors: usize,
    /// Boundaries per source.
    pub per_source: Vec<SourceCount>,
    /// Narrowest sector: its width (radians).
    pub narrowest_width: f64,
    /// Narrowest sector: its first polar angle.
    pub narrowest_angle: f64,
    /// Breakpoints closer than the angle tolerance without being equal (merged, undecided).
    pub coincidences: usize,
    /// The angle tolerance: the rounding bound on a breakpoint's angle.
    pub angle_tolerance: f64,
    /// Index in `points` of the global minimum (lowest `f` among the local minima).
    pub global_min: Option<usize>,
    /// The global minimum is `x0` (within [`SAME_POINT`]).
    pub global_is_x0: bool,
    /// No other local minimum ties with it (within `TIE · ½‖b‖²`).
    pub global_unique: bool,
    /// `x0` is among the local minima.
    pub x0_found: bool,
    /// `f(0) = ½‖b‖²`, the origin's value: a local maximum of `f` (docs/THEORY.md §13.1).
    pub f_origin: f64,
    /// The sectors (for [`ExactLandscape::profile`] and [`ExactLandscape::value`]).
    #[serde(skip)]
    pub enumeration: Sectors,
}

impl ExactLandscape {
    /// The sector holding the polar angle `theta`.
    fn sector_at(&self, theta: f64) -> &sectors::Sector {
        let s = &self.enumeration.sectors;
        let t = s[0].start + (theta - s[0].start).rem_euclid(std::f64::consts::TAU);
        let i = s.partition_point(|x| x.start <= t).saturating_sub(1);
        &s[i]
    }

    /// `φ(θ)` from the sector's closed form (docs/THEORY.md §13.2).
    pub fn profile(&self, theta: f64) -> f64 {
        let s = self.sector_at(theta);
        if s.flat {
            self.f_origin
        } else {
            s.piece.value(self.f_origin, theta)
        }
    }

    /// `f(x) = ½ r² uᵀMu − r cᵀu + ½‖b‖²` for `x = r u` (`k = 2`), from the sector of `u`: the
    /// closed form of `f` on the cone (docs/THEORY.md §13.2), exact up to rounding.
    pub fn value(&self, x: &[f64]) -> f64 {
        let r = x[0].hypot(x[1]);
        if r == 0.0 {
            return self.f_origin;
        }
        let theta = x[1].atan2(x[0]);
        let s = self.sector_at(theta);
        let u = direction(theta);
        let (n, d) = (s.piece.c[0] * u[0] + s.piece.c[1] * u[1], s.piece.m.form(u, u));
        0.5 * r * r * d - r * n + self.f_origin
    }

    /// The study's summary as JSON (the CLI's `summary.json` less the instance descriptors,
    /// and the Python package's result): `kind = exact`, the counts, the sectors and their
    /// sources, the global-minimum facts, the smallest ratio margin / rounding bound over the
    /// decided points (docs/THEORY.md §13.5), the WDC lower bound `epsilon` behind the `K₂`
    /// estimates, and every critical point.
    pub fn summary(&self, truth: &Truth, epsilon: Option<f64>) -> serde_json::Value {
        let smallest_ratio = self
            .points
            .iter()
            .filter(|p| p.kind != PointType::Flat && p.rounding_bound > 0.0)
            .map(|p| p.margin / p.rounding_bound)
            .fold(f64::INFINITY, f64::min);
        serde_json::json!({
            "kind": "exact", "x0": truth.x0,
            "counts": self.counts, "sectors": self.sectors, "per_source": self.per_source,
            "narrowest_sector_width": self.narrowest_width, "narrowest_sector_angle": self.narrowest_angle,
            "coincidences": self.coincidences, "angle_tolerance": self.angle_tolerance,
            "global_min": self.global_min, "global_is_x0": self.global_is_x0, "global_unique": self.global_unique,
            "x0_found": self.x0_found, "f_origin": self.f_origin,
            "origin": "local maximum: D_u f(0) = -<|A G(u)|, b> <= 0 for every u (an identity, not evidence)",
            "smallest_margin_ratio": smallest_ratio.is_finite().then_some(smallest_ratio),
            "wdc_epsilon_lower_bound": epsilon,
            "k2_kind": "upper estimate: dist(x, -rho_d x0) / (d^14 eps^(1/4) |x0|) with eps a sampled lower bound",
            "critical_points": self.points,
        })
    }
}

/// Where a profile point sits, as a name and its units.
fn site_name(site: &Site) -> (String, Vec<usize>) {
    match site {
        Site::Interior => ("interior".into(), Vec::new()),
        Site::Kink(b) => (b.cause.name(), b.units.clone()),
        Site::Arc { .. } => ("arc".into(), Vec::new()),
    }
}

/// Runs the exact `k = 2` study on one instance with truth `x0` (docs/THEORY.md §13):
/// sectors, critical points, fresh checks and everything measured about each point.
/// `tau` is the `S_τ` threshold; `wdc_epsilon` (a lower bound on the WDC constant), when
/// given, yields the `K₂` estimates.
pub fn exact_landscape(problem: &Problem, truth: &Truth, tau: f64, wdc_epsilon: Option<f64>) -> Result<ExactLandscape> {
    check_instance(problem)?;
    let weights: Vec<MatRef<'_, f64>> = problem.net.layers().iter().map(|l| l.weight.as_ref()).collect();
    let inst = Instance {
        weights: &weights,
        a: problem.meas.a.as_ref(),
        b: &problem.b,
    };
    let terms: usize = problem.net.widths().iter().sum::<usize>() + problem.b.len();
    let g = angle_tolerance(terms);
    let sectors = enumerate(&inst, g);
    let half_b2 = 0.5 * problem.b.iter().map(|v| v * v).sum::<f64>();
    let profile_points = critical_points(&sectors, half_b2, g, g);
    let points: Vec<CriticalPoint> = profile_points
        .iter()
        .map(|p| describe(problem, truth, p, (tau, wdc_epsilon)))
        .collect();
    Ok(summarise(problem, &sectors, points, (half_b2, g)))
}

/// Everything reported about one profile point.
fn describe(problem: &Problem, truth: &Truth, p: &ProfilePoint, (tau, eps): (f64, Option<f64>)) -> CriticalPoint {
    let u = direction(p.theta);
    let x = scale(p.radius.unwrap_or(1.0), &u);
    let (site, units) = site_name(&p.site);
    let skip = match &p.site {
        Site::Kink(b) => Some(b),
        _ => None,
    };
    let slack = if p.kind == PointType::Flat {
        f64::INFINITY
    } else {
        pattern_slack(problem, &u, skip)
    };
    let status = if p.status == Status::Certified && slack > 1.0 {
        Status::Certified
    } else {
        Status::Undecided
    };
    let (f, f_negated) = (problem.value(&x), problem.value(&scale(-1.0, &x)));
    let dist_x0 = norm(&sub(&x, &truth.x0)) / truth.norm;
    let dist_neg = norm(&sub(&x, &truth.neg)) / truth.norm;
    let h_ratio =
        expected_gradient(&x, &truth.x0, truth.d).map(|h| norm(&h) / gradient_scale(truth.d, norm(&x), truth.norm));
    let spurious = p.kind == PointType::LocalMin && dist_x0 > SAME_POINT;
    let k2 = eps
        .filter(|_| spurious)
        .map(|e| dist_neg / ((truth.d as f64).powi(14) * e.powf(0.25)));
    CriticalPoint {
        f,
        phi: p.phi,
        kind: p.kind,
        status,
        site,
        units,
        angle: p.theta.rem_euclid(std::f64::consts::TAU),
        arc_end: match p.site {
            Site::Arc { end } => Some(end.rem_euclid(std::f64::consts::TAU)),
            _ => None,
        },
        radius: p.radius,
        basin_width: p.basin_width,
        depth: p.depth,
        dist_x0,
        dist_neg,
        angle_x0: angle(&x, &truth.x0),
        angle_neg_x0: angle(&x, &scale(-1.0, &truth.x0)),
        f_negated,
        negation_helps: f_negated < f,
        margin: p.margin,
        rounding_bound: p.rounding_bound,
        slope_left: p.slopes.map(|s| s.0),
        slope_right: p.slopes.map(|s| s.1),
        pattern_slack: slack,
        h_ratio,
        in_s_tau: h_ratio.is_some_and(|r| r <= tau),
        spurious,
        k2_upper_estimate: k2,
        x,
    }
}

/// Counts, per-source breakpoints, the narrowest sector and the global minimum.
fn summarise(
    problem: &Problem,
    sectors: &Sectors,
    points: Vec<CriticalPoint>,
    (half_b2, tol): (f64, f64),
) -> ExactLandscape {
    let mut counts = Counts::default();
    for p in &points {
        match p.kind {
            PointType::LocalMin => counts.local_min += 1,
            PointType::Saddle => counts.saddle += 1,
            PointType::Flat => counts.flat += 1,
        }
        counts.spurious_min += usize::from(p.spurious);
        counts.undecided += usize::from(p.status == Status::Undecided);
        counts.min_at_measurement_kink += usize::from(p.kind == PointType::LocalMin && p.site == "measurement");
    }
    let depth = problem.net.depth();
    let per_source = (1..=depth)
        .map(Cause::Layer)
        .chain(std::iter::once(Cause::Measurement))
        .map(|cause| SourceCount {
            source: cause.name(),
            breakpoints: sectors.sectors.iter().filter(|s| s.left.cause == cause).count(),
        })
        .collect();
    let narrowest = sectors
        .sectors
        .iter()
        .min_by(|a, b| (a.end - a.start).total_cmp(&(b.end - b.start)))
        .expect("the circle has at least one sector");
    let global_min = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == PointType::LocalMin)
        .min_by(|a, b| a.1.f.total_cmp(&b.1.f))
        .map(|(i, _)| i);
    let (global_is_x0, global_unique) = global_min.map_or((false, false), |g| {
        let best = points[g].f;
        let ties = points
            .iter()
            .filter(|p| p.kind == PointType::LocalMin && p.f <= best + TIE * half_b2)
            .count();
        (points[g].dist_x0 <= SAME_POINT, ties == 1)
    });
    ExactLandscape {
        x0_found: points.iter().any(|p| p.kind == PointType::LocalMin && !p.spurious),
        points,
        counts,
        sectors: sectors.sectors.len(),
        per_source,
        narrowest_width: narrowest.end - narrowest.start,
        narrowest_angle: narrowest.start.rem_euclid(std::f64::consts::TAU),
        coincidences: sectors.coincident.len(),
        angle_tolerance: tol,
        global_min,
        global_is_x0,
        global_unique,
        f_origin: half_b2,
        enumeration: sectors.clone(),
    }
}
