//! The critical points of the profile `φ` on the circle (docs/THEORY.md §13.3–13.4): the
//! interior minimum of each sector (closed form), the kinks classified by their one-sided
//! slopes, and the flat arcs where `G ≡ 0`; then each minimum's basin.

use std::f64::consts::TAU;

use super::profile::Piece;
use super::sectors::{Boundary, Sectors};

/// What kind of critical point of `f` (away from the origin) a point of the circle carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointType {
    /// A strict local minimum of `φ` (and of `f`, at `r*`).
    LocalMin,
    /// A strict local maximum of `φ`: a saddle of `f` (minimum along the ray, maximum across).
    Saddle,
    /// An arc where `G ≡ 0`: `f = ½‖b‖²` on the whole cone, non-strict critical points.
    Flat,
}

impl PointType {
    /// `local_min`, `saddle`, `flat`.
    pub fn name(self) -> &'static str {
        match self {
            Self::LocalMin => "local_min",
            Self::Saddle => "saddle",
            Self::Flat => "flat",
        }
    }
}

/// Whether f64 arithmetic decides the point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The margin exceeds its rounding bound.
    Certified,
    /// Too close to call in f64 (a margin within its rounding bound, or coincident
    /// breakpoints): reported, never merged with a neighbour.
    Undecided,
}

impl Status {
    /// `certified`, `undecided`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Certified => "certified",
            Self::Undecided => "undecided",
        }
    }
}

/// Where on the circle the point sits.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Site {
    /// Inside a sector (the closed-form stationary point).
    Interior,
    /// On a sector boundary.
    Kink(Boundary),
    /// A flat arc ending at this angle.
    Arc {
        /// Last angle of the arc.
        end: f64,
    },
}

/// One critical point of `φ`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProfilePoint {
    /// Its angle (radians, in the sectors' unwrapped range); a flat arc's first angle.
    pub theta: f64,
    /// Its type.
    pub kind: PointType,
    /// Where it sits.
    pub site: Site,
    /// Certified or undecided.
    pub status: Status,
    /// `φ(θ)`.
    pub phi: f64,
    /// `r*(θ)` (`None` on a flat arc).
    pub radius: Option<f64>,
    /// Interior: angular distance to the nearer end of its sector (radians). Kink: the
    /// smaller of the two one-sided slopes' magnitudes. Flat arc: 0.
    pub margin: f64,
    /// The rounding bound the margin is compared with.
    pub rounding_bound: f64,
    /// Kink: the one-sided slopes `(φ'(θ−), φ'(θ+))`.
    pub slopes: Option<(f64, f64)>,
    /// Minimum: angular width of its basin (between the nearest maxima of `φ` on each side);
    /// saddle: the angular distance between its neighbouring minima.
    pub basin_width: Option<f64>,
    /// Minimum: the lower of the two neighbouring maxima of `φ` minus `φ` here; saddle: `φ`
    /// here minus the higher neighbouring minimum.
    pub depth: Option<f64>,
}

/// The sign of `v` when `|v|` exceeds `bound`, else 0.
fn decided_sign(v: f64, bound: f64) -> i8 {
    if v > bound {
        1
    } else if v < -bound {
        -1
    } else {
        0
    }
}

/// Maximal runs of flat sectors (circularly): `(first sector, last sector)`.
fn flat_runs(sectors: &Sectors) -> Vec<(usize, usize)> {
    let s = &sectors.sectors;
    let k = s.len();
    if s.iter().all(|x| x.flat) {
        return vec![(0, k - 1)];
    }
    let mut runs = Vec::new();
    for i in 0..k {
        if s[i].flat && !s[(i + k - 1) % k].flat {
            let mut j = i;
            while s[(j + 1) % k].flat {
                j += 1;
            }
            runs.push((i, j));
        }
    }
    runs
}

/// The kink at the start of sector `i`, if it can be a critical point.
fn kink(sectors: &Sectors, i: usize, half_b2: f64, gamma: f64, tol: f64) -> Option<ProfilePoint> {
    let s = &sectors.sectors;
    let (prev, this) = (&s[(i + s.len() - 1) % s.len()], &s[i]);
    if prev.flat || this.flat {
        return None;
    }
    let theta = this.start;
    let (dl, bl) = prev.piece.slope(theta, gamma);
    let (dr, br) = this.piece.slope(theta, gamma);
    let (sl, sr) = (decided_sign(dl, bl), decided_sign(dr, br));
    let kind = match (sl, sr) {
        (-1, 1) => PointType::LocalMin,
        (1, -1) => PointType::Saddle,
        (0, _) | (_, 0) if sl <= 0 && sr >= 0 && dl < dr => PointType::LocalMin,
        (0, _) | (_, 0) if sl >= 0 && sr <= 0 => PointType::Saddle,
        (0, _) | (_, 0) => PointType::LocalMin,
        _ => return None,
    };
    let near_coincidence = sectors.coincident.iter().any(|&c| {
        let gap = (c - theta).rem_euclid(TAU);
        gap.min(TAU - gap) <= tol
    });
    let decided = sl != 0 && sr != 0 && !this.left.coincident && !near_coincidence;
    Some(ProfilePoint {
        theta,
        kind,
        site: Site::Kink(this.left.clone()),
        status: if decided { Status::Certified } else { Status::Undecided },
        phi: this.piece.value(half_b2, theta),
        radius: Some(this.piece.radius(theta)),
        margin: dl.abs().min(dr.abs()),
        rounding_bound: bl.max(br),
        slopes: Some((dl, dr)),
        basin_width: None,
        depth: None,
    })
}

/// The stationary point inside sector `i` (or within its rounding bound of it).
fn interior(sectors: &Sectors, i: usize, half_b2: f64, gamma: f64) -> Option<ProfilePoint> {
    let s = &sectors.sectors[i];
    if s.flat {
        return None;
    }
    let piece: &Piece = &s.piece;
    let t = piece.stationary_angle()?;
    let bound = gamma * (1.0 + piece.m.condition());
    let width = s.end - s.start;
    let offset = (t - s.start).rem_euclid(TAU);
    let (theta, margin) = if offset < width {
        (s.start + offset, offset.min(width - offset))
    } else if offset - width <= bound {
        (s.end, 0.0)
    } else if TAU - offset <= bound {
        (s.start, 0.0)
    } else {
        return None;
    };
    Some(ProfilePoint {
        theta,
        kind: PointType::LocalMin,
        site: Site::Interior,
        status: if margin > bound {
            Status::Certified
        } else {
            Status::Undecided
        },
        phi: piece.value(half_b2, theta),
        radius: Some(piece.radius(theta)),
        margin,
        rounding_bound: bound,
        slopes: None,
        basin_width: None,
        depth: None,
    })
}

/// The angles bounding a maximum-type point from the side of a neighbour: a flat arc's end
/// when seen from the right, its start from the left.
fn edge(p: &ProfilePoint, from_right: bool) -> f64 {
    match (&p.site, from_right) {
        (Site::Arc { end }, true) => *end,
        _ => p.theta,
    }
}

/// Fills basin widths and depths: for a minimum, the nearest saddle or flat arc on each side;
/// for a saddle, the nearest minimum on each side.
fn basins(points: &mut [ProfilePoint]) {
    let k = points.len();
    let is_max = |p: &ProfilePoint| p.kind != PointType::LocalMin;
    let find = |i: usize, step: isize, want_max: bool, pts: &[ProfilePoint]| -> Option<usize> {
        (1..=k)
            .map(|s| (i as isize + step * s as isize).rem_euclid(k as isize) as usize)
            .find(|&j| is_max(&pts[j]) == want_max)
    };
    let mut fills = Vec::with_capacity(k);
    for i in 0..k {
        let want_max = points[i].kind == PointType::LocalMin;
        if points[i].kind == PointType::Flat {
            fills.push((None, None));
            continue;
        }
        let (Some(l), Some(r)) = (find(i, -1, want_max, points), find(i, 1, want_max, points)) else {
            fills.push((None, None));
            continue;
        };
        let (a, b) = (edge(&points[l], true), edge(&points[r], false));
        // The same maximum on both sides (a single one on the circle): the basin is the circle.
        let width = Some((b - a).rem_euclid(TAU)).filter(|&w| w > 0.0).unwrap_or(TAU);
        let depth = if want_max {
            points[l].phi.min(points[r].phi) - points[i].phi
        } else {
            points[i].phi - points[l].phi.max(points[r].phi)
        };
        fills.push((Some(width), Some(depth)));
    }
    for (p, (w, d)) in points.iter_mut().zip(fills) {
        p.basin_width = w;
        p.depth = d;
    }
}

/// Every critical point of `φ` on the circle, in angular order, with basins; `half_b2 =
/// ½‖b‖²`, `gamma` the relative rounding error of `c` and `M`, `tol` the angle tolerance of
/// the breakpoints.
pub fn critical_points(sectors: &Sectors, half_b2: f64, gamma: f64, tol: f64) -> Vec<ProfilePoint> {
    let s = &sectors.sectors;
    let runs = flat_runs(sectors);
    let mut points = Vec::new();
    for i in 0..s.len() {
        if let Some(&(first, last)) = runs.iter().find(|r| r.0 == i) {
            let end = if last >= first { s[last].end } else { s[last].end + TAU };
            points.push(ProfilePoint {
                theta: s[first].start,
                kind: PointType::Flat,
                site: Site::Arc { end },
                status: Status::Certified,
                phi: half_b2,
                radius: None,
                margin: 0.0,
                rounding_bound: 0.0,
                slopes: None,
                basin_width: None,
                depth: None,
            });
        }
        points.extend(kink(sectors, i, half_b2, gamma, tol));
        points.extend(interior(sectors, i, half_b2, gamma));
    }
    basins(&mut points);
    points
}
