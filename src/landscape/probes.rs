//! The probe point sets of the landscape audit. All geometry is in units of
//! `‖x0‖`, the scale of the theorem's radii (`K_2 d³ ε^{1/4} ‖x0‖`, docs/THEORY.md §5):
//!
//! | set | points | coordinates `(s, t)` |
//! |---|---|---|
//! | `grid` (k = 2) | `x = ‖x0‖ (s, t)` on the `N × N` lattice of `[−R, R]²` | `s = x_1/‖x0‖`, `t = x_2/‖x0‖` |
//! | `slice` (any k) | `x = ‖x0‖ (s x̂0 + t ê)`, `ê` a unit direction orthogonal to `x0`, same lattice | `s`, `t` in the plane |
//! | `ray` | `x = ‖x0‖ s û` for `s = R j/M`, `j = 1..M`, `û` uniform on the sphere | `s` (radius/‖x0‖), no `t` |
//! | `shell_pos`, `shell_neg` | `x = c + ‖x0‖ s û` around `c = x0` or `c = −ρ_d x0` | `s` (shell radius/‖x0‖), no `t` |
//!
//! Points are listed in a fixed order (the grid and slices row by row, `t` outer and `s` inner,
//! as [`crate::report::plot::heatmap`] lays out values), so the results never depend on how the
//! evaluation is split across threads. Random directions come from the caller's RNG.

use rand::Rng;

use crate::core::vector::{axpy, dot, norm, scale, unit};
use crate::error::{Error, Result};
use crate::rng::standard_normal_vector;

/// Below this length of the part of `--plane` orthogonal to `x0`, relative to `--plane`'s own
/// length, the direction counts as parallel to `x0`: the plane would not be defined to more
/// than a few significant digits.
const PARALLEL_TOL: f64 = 1e-8;

/// Which set a probe point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetKind {
    /// The full `k = 2` grid over the box `[−R, R]²‖x0‖`.
    Grid,
    /// A 2-D slice through the plane spanned by `x0` and a direction orthogonal to it.
    Slice,
    /// Points along random rays from the origin.
    Ray,
    /// A spherical shell around `x0`.
    ShellPos,
    /// A spherical shell around `−ρ_d x0`.
    ShellNeg,
}

impl SetKind {
    /// Every kind, in output order.
    pub const ALL: [SetKind; 5] = [Self::Grid, Self::Slice, Self::Ray, Self::ShellPos, Self::ShellNeg];

    /// The name written to files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Grid => "grid",
            Self::Slice => "slice",
            Self::Ray => "ray",
            Self::ShellPos => "shell_pos",
            Self::ShellNeg => "shell_neg",
        }
    }
}

/// One probe point and where it sits in its set.
#[derive(Clone, Debug)]
pub struct ProbePoint {
    /// The set.
    pub set: SetKind,
    /// Which member of the set: the slice, ray or shell (radius) index; 0 for the grid.
    pub set_index: usize,
    /// First coordinate in the set (see the module table), in units of `‖x0‖`.
    pub s: f64,
    /// Second coordinate for the grid and slices; `None` for rays and shells.
    pub t: Option<f64>,
    /// The latent point.
    pub x: Vec<f64>,
}

/// `N` evenly spaced values on `[−R, R]` (both ends included; the middle one is exactly 0 when
/// `N` is odd).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lattice {
    /// Points per axis `N ≥ 2`.
    pub points_per_axis: usize,
    /// Half-width `R > 0`, in units of `‖x0‖`.
    pub range: f64,
}

impl Lattice {
    /// A validated lattice: `points_per_axis ≥ 2` and a finite `range > 0`.
    pub fn new(points_per_axis: usize, range: f64) -> Result<Self> {
        if points_per_axis < 2 {
            return Err(Error::param(
                "--grid",
                points_per_axis,
                "a grid needs at least 2 points per axis (an empty or one-point grid has no area), e.g. --grid 81",
            ));
        }
        if !range.is_finite() || range <= 0.0 {
            return Err(Error::param(
                "--range",
                range,
                "the box [-range, range]² needs a finite range greater than 0 (in units of ‖x0‖), e.g. --range 2",
            ));
        }
        Ok(Self { points_per_axis, range })
    }

    /// The axis values `−R + 2R i/(N − 1)`, `i = 0..N`.
    pub fn axis(&self) -> Vec<f64> {
        let n = self.points_per_axis;
        (0..n)
            .map(|i| -self.range + 2.0 * self.range * i as f64 / (n - 1) as f64)
            .collect()
    }
}

/// A plane through the origin with an orthonormal frame `(e1, e2)` and a unit of length:
/// the point `(s, t)` is `unit · (s e1 + t e2)`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Plane {
    /// First frame vector.
    pub e1: Vec<f64>,
    /// Second frame vector, orthogonal to `e1`.
    pub e2: Vec<f64>,
    /// Length of one coordinate unit (`‖x0‖`).
    pub unit: f64,
}

impl Plane {
    /// The coordinate plane of `R²` (`e1 = (1, 0)`, `e2 = (0, 1)`) with unit `‖x0‖`: the grid.
    pub fn coordinate_axes(unit: f64) -> Self {
        Self {
            e1: vec![1.0, 0.0],
            e2: vec![0.0, 1.0],
            unit,
        }
    }

    /// The plane spanned by `x0` and `direction`, with `e1 = x̂0` and `e2` the part of
    /// `direction` orthogonal to `x0`, normalised (Gram–Schmidt, twice for accuracy); unit
    /// `‖x0‖`, so `x0` sits at `(1, 0)` and `−ρ_d x0` at `(−ρ_d, 0)`. An error when
    /// `direction` is (nearly) parallel to `x0` or zero.
    pub fn through_truth(x0: &[f64], direction: &[f64]) -> Result<Self> {
        let e1 = unit(x0);
        let mut e2 = direction.to_vec();
        for _ in 0..2 {
            e2 = axpy(&e2, -dot(&e1, &e2), &e1);
        }
        let rest = norm(&e2);
        if rest.is_nan() || rest <= PARALLEL_TOL * norm(direction) {
            return Err(Error::param(
                "--plane",
                direction.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","),
                "the plane direction must not be zero or parallel to x0; give a direction with a component orthogonal to x0",
            ));
        }
        Ok(Self {
            e1,
            e2: scale(1.0 / rest, &e2),
            unit: norm(x0),
        })
    }

    /// The latent point `unit · (s e1 + t e2)`.
    pub fn point(&self, s: f64, t: f64) -> Vec<f64> {
        self.e1
            .iter()
            .zip(&self.e2)
            .map(|(a, b)| self.unit * (s * a + t * b))
            .collect()
    }

    /// The plane coordinates `(s, t)` of the orthogonal projection of `x` onto the plane.
    pub fn coordinates(&self, x: &[f64]) -> (f64, f64) {
        (dot(x, &self.e1) / self.unit, dot(x, &self.e2) / self.unit)
    }
}

/// The lattice points of `plane`, row by row (`t` outer, `s` inner).
pub fn plane_points(plane: &Plane, lattice: &Lattice, set: SetKind, set_index: usize) -> Vec<ProbePoint> {
    let axis = lattice.axis();
    axis.iter()
        .flat_map(|&t| axis.iter().map(move |&s| (s, t)))
        .map(|(s, t)| ProbePoint {
            set,
            set_index,
            s,
            t: Some(t),
            x: plane.point(s, t),
        })
        .collect()
}

/// A uniformly distributed unit vector of `R^k` (a normalised standard Gaussian vector).
pub fn random_unit<R: Rng + ?Sized>(k: usize, rng: &mut R) -> Vec<f64> {
    loop {
        let g = standard_normal_vector(rng, k);
        if norm(&g) > 0.0 {
            return unit(&g);
        }
    }
}

/// `points_per_ray` points `unit · s û` on each ray `û` of `directions` (unit vectors), at
/// `s = range · j / points_per_ray`, `j = 1..=points_per_ray` (the origin is not repeated).
pub fn ray_points(directions: &[Vec<f64>], unit: f64, range: f64, points_per_ray: usize) -> Vec<ProbePoint> {
    directions
        .iter()
        .enumerate()
        .flat_map(|(i, u)| {
            (1..=points_per_ray).map(move |j| {
                let s = range * j as f64 / points_per_ray as f64;
                ProbePoint {
                    set: SetKind::Ray,
                    set_index: i,
                    s,
                    t: None,
                    x: scale(unit * s, u),
                }
            })
        })
        .collect()
}

/// Points `centre + unit · radii[l] · û` for each shell `l` and each unit vector `û` of
/// `directions[l]`.
pub fn shell_points(
    set: SetKind,
    centre: &[f64],
    unit: f64,
    radii: &[f64],
    directions: &[Vec<Vec<f64>>],
) -> Vec<ProbePoint> {
    radii
        .iter()
        .zip(directions)
        .enumerate()
        .flat_map(|(l, (&r, dirs))| {
            dirs.iter().map(move |u| ProbePoint {
                set,
                set_index: l,
                s: r,
                t: None,
                x: axpy(centre, unit * r, u),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream};

    #[test]
    fn lattice_is_symmetric_and_hits_zero_when_odd() {
        let axis = Lattice::new(5, 2.0).unwrap().axis();
        assert_eq!(axis, vec![-2.0, -1.0, 0.0, 1.0, 2.0]);
        assert!(Lattice::new(1, 2.0).is_err());
        assert!(Lattice::new(0, 2.0).is_err());
        assert!(Lattice::new(3, 0.0).is_err());
        assert!(Lattice::new(3, f64::NAN).is_err());
    }

    #[test]
    fn slice_frame_is_orthonormal_and_puts_x0_at_one_zero() {
        let x0 = [0.3, -1.2, 0.8, 2.0];
        let plane = Plane::through_truth(&x0, &[1.0, 1.0, 0.0, 0.5]).unwrap();
        assert!((norm(&plane.e1) - 1.0).abs() < 1e-15);
        assert!((norm(&plane.e2) - 1.0).abs() < 1e-15);
        assert!(dot(&plane.e1, &plane.e2).abs() < 1e-15);
        let back = plane.point(1.0, 0.0);
        assert!(norm(&axpy(&back, -1.0, &x0)) < 1e-14 * norm(&x0));
        let (s, t) = plane.coordinates(&plane.point(-0.7, 0.4));
        assert!((s + 0.7).abs() < 1e-14 && (t - 0.4).abs() < 1e-14);
        assert!(Plane::through_truth(&x0, &scale(-3.0, &x0)).is_err());
        assert!(Plane::through_truth(&x0, &[0.0; 4]).is_err());
    }

    #[test]
    fn rays_and_shells_have_the_stated_geometry() {
        let mut rng = stream(1, "probes-test", 0, Stream::Probe);
        let dirs: Vec<Vec<f64>> = (0..3).map(|_| random_unit(4, &mut rng)).collect();
        let rays = ray_points(&dirs, 2.0, 1.5, 4);
        assert_eq!(rays.len(), 12);
        assert!((norm(&rays[3].x) - 2.0 * 1.5).abs() < 1e-14);
        assert!((norm(&rays[0].x) - 2.0 * 1.5 / 4.0).abs() < 1e-14);
        let centre = [1.0, 0.0, 0.0, 0.0];
        let shells = shell_points(SetKind::ShellPos, &centre, 2.0, &[0.1, 0.5], &[dirs.clone(), dirs]);
        assert_eq!(shells.len(), 6);
        for p in &shells {
            let r = norm(&axpy(&p.x, -1.0, &centre));
            assert!((r - 2.0 * p.s).abs() < 1e-14);
        }
    }
}
