//! The range-restricted WDC constant of a layer `i ≥ 2` of a bias-free ReLU network with
//! latent dimension `k = 2`, certified to a tolerance (docs/THEORY.md §17.1–§17.3, §17.6, §17.7).
//!
//! `ε_i^range = sup_{u, u′} ‖U_{s(u)}ᵀ D_i(G_{i−1}(u), G_{i−1}(u′)) U_{s(u′)}‖`, with `U_s` an
//! orthonormal basis of the plane `span Λ_{i−1,s}` of the sector `s ∋ u` of layers
//! `1 … i − 1`. The *cells* are the sectors of layers `1 … i` (shared with the exact landscape,
//! `landscape::exact::sectors`): on a pair of cells the jointly active rows of `W_i` are fixed,
//! so `U_sᵀ W_{+,x}ᵀ W_{+,y} U_{s′}` is a constant `2 × 2` matrix and only `Q` varies. On a
//! rectangle `|α − α_c| ≤ h`, `|β − β_c| ≤ h′` of a cell pair the value is at most its value
//! at the centre plus `(κ_s h + κ_{s′} h′)/π` (docs/THEORY.md §17.2), plus the rounding bound
//! of docs/THEORY.md §17.6. Branch and bound over every cell pair with `c ≤ c′` (the objective
//! is symmetric in `(u, u′)`: `D_i(x, y) = D_i(y, x)` is a symmetric matrix, so swapping the
//! arguments transposes the `2 × 2` matrix and keeps its norm) gives `[lower, upper]`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::f64::consts::PI;
use std::time::Instant;

use faer::MatRef;
use rayon::prelude::*;

use super::certify_boxes::{Budget, Progress, Stop, Tolerance};
use crate::error::{Error, Result};
use crate::landscape::exact::angle_tolerance;
use crate::landscape::exact::sectors::network_sectors;

/// The default absolute tolerance of the range-restricted certificate.
pub const DEFAULT_TOLERANCE: f64 = 1e-2;
/// Rectangles split per step of the best-first search (fixed, so that the search does not
/// depend on the thread count).
pub const BATCH: usize = 1024;
/// A rectangle is not halved below this half-width in either angle (radians).
pub const MIN_HALF_WIDTH: f64 = 1e-12;
/// Below this sine of the angle between `x` and `y`, the `sin θ M` term of `Q` is bounded by
/// its norm instead of evaluated (docs/THEORY.md §17.6).
const SMALL_SINE: f64 = 1e-6;
/// Bound on the error of the computed projected `Q` at a centre (docs/THEORY.md §17.6).
const Q_MARGIN: f64 = 1e-5;
/// Relative size below which the second Gram–Schmidt vector of `Λ` is rounding noise: the
/// plane is a line (rank 1). Multiplied by `n_{i−1}`.
const RANK_NOISE: f64 = 64.0 * f64::EPSILON;

/// A `2 × 2` matrix, row-major.
pub type Mat2 = [[f64; 2]; 2];

/// The spectral norm of a `2 × 2` matrix `[[a, b], [c, d]]`:
/// `(√((a + d)² + (b − c)²) + √((a − d)² + (b + c)²)) / 2`.
pub fn norm2(m: Mat2) -> f64 {
    let (a, b, c, d) = (m[0][0], m[0][1], m[1][0], m[1][1]);
    0.5 * ((a + d).hypot(b - c) + (a - d).hypot(b + c))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The plane of a sector `s` of layers `1 … i − 1` (docs/THEORY.md §17.1): an orthonormal
/// basis `U_s` of `span Λ_{i−1,s}`, `R_s = U_sᵀ Λ_{i−1,s}` (so `x(α) ∝ U_s R_s u(α)`), the
/// Lipschitz factor `κ_s` (docs/THEORY.md §17.2) and the projected rows `U_sᵀ w_r` of `W_i`.
#[derive(Clone, Debug)]
struct Plane {
    basis: [Vec<f64>; 2],
    r: Mat2,
    kappa: f64,
    rows: Vec<[f64; 2]>,
}

impl Plane {
    /// Gram–Schmidt with one reorthogonalisation; `None` when `Λ = 0` (a flat sector). A second
    /// vector at the rounding-noise level makes a line: the second basis column is zero and
    /// `x` is constant on the sector (`κ_s = 0`).
    fn new(lambda: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Option<(Self, bool)> {
        let n = lambda.nrows();
        let cols: [Vec<f64>; 2] = [0, 1].map(|j| (0..n).map(|i| lambda[(i, j)]).collect());
        let norms = [dot(&cols[0], &cols[0]).sqrt(), dot(&cols[1], &cols[1]).sqrt()];
        let (p, q) = if norms[0] >= norms[1] { (0, 1) } else { (1, 0) };
        if norms[p] == 0.0 {
            return None;
        }
        let q1: Vec<f64> = cols[p].iter().map(|v| v / norms[p]).collect();
        let mut v = cols[q].clone();
        for _ in 0..2 {
            let c = dot(&q1, &v);
            v.iter_mut().zip(&q1).for_each(|(a, b)| *a -= c * b);
        }
        let rest = dot(&v, &v).sqrt();
        let line = rest <= RANK_NOISE * n as f64 * norms[q] || rest == 0.0;
        let q2: Vec<f64> = if line {
            vec![0.0; n]
        } else {
            v.iter().map(|a| a / rest).collect()
        };
        let basis = [q1, q2];
        let r = [0, 1].map(|a| [0, 1].map(|j| dot(&basis[a], &cols[j])));
        let kappa = if line {
            0.0
        } else {
            let big = norm2(r);
            let det = (r[0][0] * r[1][1] - r[0][1] * r[1][0]).abs();
            big * big / det * (1.0 + 1e-12)
        };
        let rows = (0..w.nrows())
            .map(|row| {
                let wr: Vec<f64> = (0..n).map(|j| w[(row, j)]).collect();
                [dot(&basis[0], &wr), dot(&basis[1], &wr)]
            })
            .collect();
        Some((Plane { basis, r, kappa, rows }, line))
    }

    /// `ξ(α) = R_s u(α) / ‖R_s u(α)‖`: the coordinates of `x(α)` in the basis `U_s`.
    fn direction(&self, alpha: f64) -> [f64; 2] {
        let (s, c) = alpha.sin_cos();
        let v = [self.r[0][0] * c + self.r[0][1] * s, self.r[1][0] * c + self.r[1][1] * s];
        let len = v[0].hypot(v[1]);
        if len == 0.0 {
            [1.0, 0.0]
        } else {
            [v[0] / len, v[1] / len]
        }
    }
}

/// `U_sᵀ U_t` (the identity for the same plane).
fn cross_gram(a: &Plane, b: &Plane, same: bool) -> Mat2 {
    if same {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    [0, 1].map(|i| [0, 1].map(|j| dot(&a.basis[i], &b.basis[j])))
}

/// A cell: a sector of layers `1 … i` with its plane and the active rows of `W_i`.
#[derive(Clone, Debug)]
struct Cell {
    start: f64,
    end: f64,
    plane: usize,
    active: Vec<bool>,
}

impl Cell {
    fn centre(&self) -> f64 {
        0.5 * (self.start + self.end)
    }

    fn half_width(&self) -> f64 {
        0.5 * (self.end - self.start)
    }
}

/// Layer `i` of a `k = 2` network prepared for the range-restricted certificate: the planes of
/// the sectors of layers `1 … i − 1` and the cells of layers `1 … i`.
#[derive(Clone, Debug)]
pub struct RangeLayer {
    planes: Vec<Plane>,
    cells: Vec<Cell>,
    /// The arcs of the flat sectors of layers `1 … i − 1`.
    flat_arcs: Vec<(f64, f64)>,
    /// `n_{i−1}`.
    pub n_in: usize,
    /// `n_i`.
    pub n_out: usize,
    /// Sectors of layers `1 … i − 1` with `Λ = 0` (left out: `G_{i−1} = 0` there).
    pub flat_sectors: usize,
    /// Sectors whose `Λ_{i−1}` has rank 1 (a line).
    pub line_sectors: usize,
    /// The largest `κ_s`.
    pub kappa_max: f64,
    /// The angle tolerance of the sector enumeration, added to every half-width.
    pub angle_tolerance: f64,
    /// The rounding bound `η` (docs/THEORY.md §17.6), added to every bound and subtracted from
    /// every lower value.
    pub rounding: f64,
}

/// `U_sᵀ W_{+,x}ᵀ W_{+,y} U_t` on a pair of cells: the sum over jointly active rows.
fn pair_gram(a: &Cell, b: &Cell, pa: &Plane, pb: &Plane) -> Mat2 {
    let mut m = [[0.0; 2]; 2];
    for (r, (&on_a, &on_b)) in a.active.iter().zip(&b.active).enumerate() {
        if on_a && on_b {
            let (x, y) = (pa.rows[r], pb.rows[r]);
            m[0][0] += x[0] * y[0];
            m[0][1] += x[0] * y[1];
            m[1][0] += x[1] * y[0];
            m[1][1] += x[1] * y[1];
        }
    }
    m
}

/// `U_sᵀ Q_{x,y} U_t` at `x = x(α)` on plane `s`, `y = y(β)` on plane `t`, with `T = U_sᵀ U_t`
/// (docs/THEORY.md §17.6): `Q = (π − θ)/(2π) I + (1/2π) sin θ M_{x̂↔ŷ}` and
/// `sin θ M = c s x̂x̂ᵀ + s (x̂zᵀ + zx̂ᵀ) − c zzᵀ/s` with `c = cos θ`, `s = sin θ`,
/// `z = ŷ − c x̂`. Returns the matrix, `θ`, and the extra error bound where `s` is too small
/// to divide by (the term is then left out: its norm is `s`).
pub fn q_projected(xi: [f64; 2], eta: [f64; 2], t: Mat2, same: bool) -> (Mat2, f64, f64) {
    let xt = [t[0][0] * xi[0] + t[1][0] * xi[1], t[0][1] * xi[0] + t[1][1] * xi[1]];
    let et = [t[0][0] * eta[0] + t[0][1] * eta[1], t[1][0] * eta[0] + t[1][1] * eta[1]];
    let (c, s, theta) = if same {
        let (c, s) = (xi[0] * eta[0] + xi[1] * eta[1], (xi[0] * eta[1] - xi[1] * eta[0]).abs());
        (c, s, s.atan2(c))
    } else {
        let c = (xi[0] * et[0] + xi[1] * et[1]).clamp(-1.0, 1.0);
        (c, (1.0 - c * c).max(0.0).sqrt(), c.acos())
    };
    let p = (PI - theta) / (2.0 * PI);
    let mut q = [0, 1].map(|a| [0, 1].map(|b| p * t[a][b]));
    if s <= SMALL_SINE {
        return (q, theta, (s + SMALL_SINE) / (2.0 * PI));
    }
    let zs = [et[0] - c * xi[0], et[1] - c * xi[1]];
    let zt = [eta[0] - c * xt[0], eta[1] - c * xt[1]];
    for a in 0..2 {
        for b in 0..2 {
            let m = c * s * xi[a] * xt[b] + s * (xi[a] * zt[b] + zs[a] * xt[b]) - c * zs[a] * zt[b] / s;
            q[a][b] += m / (2.0 * PI);
        }
    }
    (q, theta, 0.0)
}

/// One evaluated rectangle of a cell pair.
#[derive(Clone, Copy, Debug)]
struct Rect {
    cells: (u32, u32),
    centre: (f64, f64),
    half: (f64, f64),
    gram: Mat2,
    /// A rigorous lower bound on the objective at the centre.
    value: f64,
    /// `θ` at the centre.
    theta: f64,
    /// The upper bound on the rectangle.
    bound: f64,
}

impl PartialEq for Rect {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rect {}

impl PartialOrd for Rect {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rect {
    /// Largest bound first; ties by cells and centre (a total order, so the search does not
    /// depend on the order of insertion).
    fn cmp(&self, other: &Self) -> Ordering {
        self.bound
            .total_cmp(&other.bound)
            .then(other.cells.cmp(&self.cells))
            .then(other.centre.0.total_cmp(&self.centre.0))
            .then(other.centre.1.total_cmp(&self.centre.1))
    }
}

/// A closed rectangle of the search, as the certificate lists it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RangeLeaf {
    /// The cells (indices in angular order), first ≤ second.
    pub cells: (usize, usize),
    /// Centre `(α, β)`.
    pub centre: (f64, f64),
    /// Half-widths.
    pub half: (f64, f64),
    /// The upper bound on the rectangle.
    pub bound: f64,
}

impl From<&Rect> for RangeLeaf {
    fn from(r: &Rect) -> Self {
        RangeLeaf {
            cells: (r.cells.0 as usize, r.cells.1 as usize),
            centre: r.centre,
            half: r.half,
            bound: r.bound,
        }
    }
}

/// How to search.
#[derive(Clone, Copy, Debug)]
pub struct RangeSearch {
    /// The gap the search aims for.
    pub tolerance: Tolerance,
    /// When to stop refining (the first pass over every cell pair always runs).
    pub budget: Budget,
    /// Keep every leaf (tests and certificate files; the list has at least one entry per cell
    /// pair).
    pub keep_leaves: bool,
}

/// The certified interval of `ε_i^range`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RangeCertificate {
    /// Layer index `i` (1-based).
    pub layer: usize,
    /// `n_{i−1}`.
    pub n_in: usize,
    /// `n_i`.
    pub n_out: usize,
    /// `‖U_sᵀ D_i U_{s′}‖` at an explicit pair minus the rounding bound: a lower bound.
    pub lower: f64,
    /// A rigorous upper bound on `ε_i^range`.
    pub upper: f64,
    /// The requested tolerance.
    pub tolerance: Tolerance,
    /// Why the search stopped.
    pub stop: Stop,
    /// Rectangles evaluated (cell pairs included).
    pub nodes: u64,
    /// Rectangles closed because their bound was within the tolerance.
    pub pruned: u64,
    /// Leaves of the search (closed and still open rectangles).
    pub leaves: u64,
    /// Sectors of layers `1 … i − 1` with a plane.
    pub planes: usize,
    /// Sectors of layers `1 … i − 1` with `Λ = 0`.
    pub flat_sectors: usize,
    /// Sectors of layers `1 … i − 1` whose `Λ` has rank 1.
    pub line_sectors: usize,
    /// Cells (sectors of layers `1 … i` on a plane).
    pub cells: usize,
    /// The largest `κ_s`.
    pub kappa_max: f64,
    /// The rounding bound `η` in every bound.
    pub rounding: f64,
    /// Latent angle `α` of the maximising `u`.
    pub argmax_alpha: f64,
    /// Latent angle `β` of the maximising `u′`.
    pub argmax_beta: f64,
    /// Angle between `G_{i−1}(u)` and `G_{i−1}(u′)` there.
    pub argmax_theta: f64,
    /// Every leaf, when the search was asked to keep them.
    #[serde(skip)]
    pub leaf_list: Vec<RangeLeaf>,
}

impl RangeCertificate {
    /// `upper − lower`.
    pub fn gap(&self) -> f64 {
        self.upper - self.lower
    }
}

impl RangeLayer {
    /// Prepares layer `layer` (0-based, at least 1) of the network `weights` (`W_1` with two
    /// columns, bias-free ReLU layers). Refuses a network whose breakpoints cannot be told
    /// apart in f64 (two within the angle tolerance of each other without being equal).
    pub fn new(weights: &[MatRef<'_, f64>], layer: usize) -> Result<Self> {
        assert!(
            layer >= 1 && layer < weights.len(),
            "the range-restricted WDC needs a layer i ≥ 2"
        );
        assert_eq!(weights[0].ncols(), 2, "the range-restricted certificate needs k = 2");
        let terms: usize = 2 + weights[..=layer].iter().map(|w| w.nrows()).sum::<usize>();
        let tol = angle_tolerance(terms);
        let (parents, co_parents) = network_sectors(&weights[..layer], tol);
        let (raw, co_cells) = network_sectors(&weights[..=layer], tol);
        let undecided = co_parents.len() + co_cells.len() + parents.iter().chain(&raw).filter(|s| s.coincident).count();
        if undecided > 0 {
            return Err(Error::param(
                "weights",
                format!("{undecided} breakpoints within {tol:.1e} rad of another"),
                "the activation patterns between such breakpoints cannot be decided in f64; perturb the weights or use the full-domain certificate",
            ));
        }
        let w = weights[layer];
        let mut planes = Vec::new();
        let mut plane_of = Vec::with_capacity(parents.len());
        let (mut flat_arcs, mut lines) = (Vec::new(), 0);
        for p in &parents {
            match Plane::new(p.lambda.as_ref(), w) {
                Some((plane, line)) => {
                    lines += usize::from(line);
                    plane_of.push(Some(planes.len()));
                    planes.push(plane);
                }
                None => {
                    flat_arcs.push((p.start, p.end));
                    plane_of.push(None);
                }
            }
        }
        let mut cells = Vec::with_capacity(raw.len());
        let mut j = 0;
        for s in &raw {
            let mid = 0.5 * (s.start + s.end);
            while j + 1 < parents.len() && parents[j].end < mid {
                j += 1;
            }
            if let Some(plane) = plane_of[j] {
                cells.push(Cell {
                    start: s.start,
                    end: s.end,
                    plane,
                    active: (0..s.lambda.nrows())
                        .map(|r| s.lambda[(r, 0)] != 0.0 || s.lambda[(r, 1)] != 0.0)
                        .collect(),
                });
            }
        }
        let kappa_max = planes.iter().map(|p| p.kappa).fold(0.0, f64::max);
        let sigma_w: f64 = (0..w.nrows())
            .map(|r| (0..w.ncols()).map(|c| w[(r, c)] * w[(r, c)]).sum::<f64>())
            .sum();
        Ok(RangeLayer {
            planes,
            cells,
            n_in: w.ncols(),
            n_out: w.nrows(),
            flat_sectors: flat_arcs.len(),
            flat_arcs,
            line_sectors: lines,
            kappa_max,
            angle_tolerance: tol,
            rounding: rounding_bound(w.ncols(), w.nrows(), kappa_max, sigma_w),
        })
    }

    /// Number of cells.
    pub fn cell_count(&self) -> usize {
        self.cells.len()
    }

    /// Number of planes.
    pub fn plane_count(&self) -> usize {
        self.planes.len()
    }

    /// The arc `[start, end]` of cell `c`.
    pub fn cell_arc(&self, c: usize) -> (f64, f64) {
        (self.cells[c].start, self.cells[c].end)
    }

    /// Evaluates a rectangle of cells `(a, b)` with its Gram matrix and `T`.
    fn rect(&self, (a, b): (usize, usize), (alpha, beta): (f64, f64), half: (f64, f64), gram: Mat2, t: Mat2) -> Rect {
        let (ca, cb) = (&self.cells[a], &self.cells[b]);
        let (pa, pb) = (&self.planes[ca.plane], &self.planes[cb.plane]);
        let (q, theta, extra) = q_projected(pa.direction(alpha), pb.direction(beta), t, ca.plane == cb.plane);
        let dev = [0, 1].map(|i| [0, 1].map(|j| gram[i][j] - q[i][j]));
        let value = norm2(dev);
        let lipschitz = (pa.kappa * (half.0 + self.angle_tolerance) + pb.kappa * (half.1 + self.angle_tolerance)) / PI;
        Rect {
            cells: (a as u32, b as u32),
            centre: (alpha, beta),
            half,
            gram,
            value: value - extra - self.rounding,
            theta,
            bound: value + extra + lipschitz + self.rounding,
        }
    }

    /// The value of the objective at `(α, β)` inside cells `(a, b)` (the centre value of a
    /// rectangle of zero width, before the rounding bound).
    pub fn value_at(&self, (a, b): (usize, usize), (alpha, beta): (f64, f64)) -> f64 {
        let (ca, cb) = (&self.cells[a], &self.cells[b]);
        let (pa, pb) = (&self.planes[ca.plane], &self.planes[cb.plane]);
        let gram = pair_gram(ca, cb, pa, pb);
        let t = cross_gram(pa, pb, ca.plane == cb.plane);
        self.rect((a, b), (alpha, beta), (0.0, 0.0), gram, t).value + self.rounding
    }

    /// The rectangles of every cell pair `(a, b ≥ a)` for one `a`, in order.
    fn row(&self, a: usize) -> Vec<Rect> {
        let ca = &self.cells[a];
        let pa = &self.planes[ca.plane];
        let mut t = [[0.0; 2]; 2];
        let mut plane = usize::MAX;
        (a..self.cells.len())
            .map(|b| {
                let cb = &self.cells[b];
                let pb = &self.planes[cb.plane];
                if cb.plane != plane {
                    plane = cb.plane;
                    t = cross_gram(pa, pb, ca.plane == cb.plane);
                }
                let gram = pair_gram(ca, cb, pa, pb);
                self.rect(
                    (a, b),
                    (ca.centre(), cb.centre()),
                    (ca.half_width(), cb.half_width()),
                    gram,
                    t,
                )
            })
            .collect()
    }

    /// The four halves of a rectangle (a side at the smallest width is not halved).
    fn children(&self, r: &Rect) -> Vec<Rect> {
        let (a, b) = (r.cells.0 as usize, r.cells.1 as usize);
        let (pa, pb) = (&self.planes[self.cells[a].plane], &self.planes[self.cells[b].plane]);
        let t = cross_gram(pa, pb, self.cells[a].plane == self.cells[b].plane);
        let sides = |c: f64, h: f64| -> Vec<(f64, f64)> {
            if h > MIN_HALF_WIDTH {
                vec![(c - 0.5 * h, 0.5 * h), (c + 0.5 * h, 0.5 * h)]
            } else {
                vec![(c, h)]
            }
        };
        let mut out = Vec::with_capacity(4);
        for (alpha, ha) in sides(r.centre.0, r.half.0) {
            for &(beta, hb) in &sides(r.centre.1, r.half.1) {
                out.push(self.rect((a, b), (alpha, beta), (ha, hb), r.gram, t));
            }
        }
        out
    }
}

/// The rounding bound `η = 10⁻⁵ + 2⁻⁴⁰ (n_{i−1} + n_i)(1 + κ_max)(Σ_W + 1)` of
/// docs/THEORY.md §17.6, `Σ_W = Σ_r ‖w_r‖²` over the rows of `W_i`.
pub fn rounding_bound(n_in: usize, n_out: usize, kappa_max: f64, sigma_w: f64) -> f64 {
    Q_MARGIN + (n_in + n_out) as f64 * (1.0 + kappa_max) * (sigma_w + 1.0) * 2f64.powi(-40)
}

/// Certifies `ε_i^range` of layer `layer` (0-based, ≥ 1): every cell pair's centre gives the
/// first lower bound, every pair whose bound exceeds it by more than the gap is refined best
/// first, [`BATCH`] rectangles per step, until the gap is met or the budget is spent.
/// `progress` is called after each step. Deterministic and independent of the thread count
/// (except under a time budget).
pub fn certify_range(
    prepared: &RangeLayer,
    layer: usize,
    search: &RangeSearch,
    progress: &mut dyn FnMut(&Progress),
) -> RangeCertificate {
    let started = Instant::now();
    let count = prepared.cells.len();
    let better = |r: &Rect, best: &Option<Rect>| best.as_ref().is_none_or(|b| r.value > b.value);
    // Pass 1: the best centre over every cell pair.
    let mut best: Option<Rect> = None;
    let rows_best: Vec<Option<Rect>> = (0..count)
        .into_par_iter()
        .map(|a| {
            prepared.row(a).into_iter().fold(
                None,
                |acc: Option<Rect>, r| if better(&r, &acc) { Some(r) } else { acc },
            )
        })
        .collect();
    for r in rows_best.into_iter().flatten() {
        if better(&r, &best) {
            best = Some(r);
        }
    }
    let floor = best.map_or(f64::NEG_INFINITY, |b| b.value);
    let gap = |lower: f64| search.tolerance.gap(lower);
    // Pass 2: every pair within the gap of the floor is a leaf; the others are refined.
    let keep = search.keep_leaves;
    let rows: Vec<(Vec<Rect>, Vec<RangeLeaf>, f64, u64)> = (0..count)
        .into_par_iter()
        .map(|a| {
            let (mut open, mut leaves, mut closed, mut pruned) = (Vec::new(), Vec::new(), f64::NEG_INFINITY, 0u64);
            for r in prepared.row(a) {
                if r.bound <= floor + gap(floor) {
                    closed = closed.max(r.bound);
                    pruned += 1;
                    if keep {
                        leaves.push(RangeLeaf::from(&r));
                    }
                } else {
                    open.push(r);
                }
            }
            (open, leaves, closed, pruned)
        })
        .collect();
    let mut nodes = (count * (count + 1) / 2) as u64;
    let (mut heap, mut leaf_list, mut closed, mut pruned) = (BinaryHeap::new(), Vec::new(), f64::NEG_INFINITY, 0u64);
    for (open, leaves, c, p) in rows {
        heap.extend(open);
        leaf_list.extend(leaves);
        closed = closed.max(c);
        pruned += p;
    }
    let mut leaves = pruned;
    let mut lower = floor;
    let mut stop = Stop::Converged;
    let upper_now = |heap: &BinaryHeap<Rect>, closed: f64| heap.peek().map_or(closed, |r| r.bound.max(closed));
    loop {
        let within = heap.peek().is_none_or(|r| r.bound <= lower + gap(lower));
        if within {
            break;
        }
        let spent = match search.budget {
            Budget::Unlimited => false,
            Budget::Nodes(n) => nodes >= n,
            Budget::Time(t) => started.elapsed() >= t,
        };
        if spent {
            stop = Stop::Budget;
            break;
        }
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH
            && let Some(r) = heap.peek()
            && r.bound > lower + gap(lower)
        {
            batch.push(heap.pop().expect("peeked"));
        }
        let children: Vec<Vec<Rect>> = batch.par_iter().map(|r| prepared.children(r)).collect();
        for (parent, kids) in batch.iter().zip(children) {
            if kids.len() == 1 {
                // Both sides at the smallest width: the parent stays a leaf with its bound.
                closed = closed.max(parent.bound);
                leaves += 1;
                stop = Stop::Resolution;
                if keep {
                    leaf_list.push(RangeLeaf::from(parent));
                }
                continue;
            }
            nodes += kids.len() as u64;
            for kid in kids {
                if better(&kid, &best) {
                    best = Some(kid);
                    lower = lower.max(kid.value);
                }
                if kid.bound <= lower + gap(lower) {
                    closed = closed.max(kid.bound);
                    pruned += 1;
                    leaves += 1;
                    if keep {
                        leaf_list.push(RangeLeaf::from(&kid));
                    }
                } else {
                    heap.push(kid);
                }
            }
        }
        progress(&Progress {
            nodes,
            open: heap.len(),
            lower,
            upper: upper_now(&heap, closed),
        });
    }
    let upper = upper_now(&heap, closed);
    if stop == Stop::Resolution && upper <= lower + gap(lower) {
        stop = Stop::Converged;
    }
    leaves += heap.len() as u64;
    if keep {
        leaf_list.extend(heap.iter().map(RangeLeaf::from));
    }
    let arg = best.expect("a network with a plane has at least one cell pair");
    RangeCertificate {
        layer: layer + 1,
        n_in: prepared.n_in,
        n_out: prepared.n_out,
        lower,
        upper: upper.max(lower),
        tolerance: search.tolerance,
        stop,
        nodes,
        pruned,
        leaves,
        planes: prepared.planes.len(),
        flat_sectors: prepared.flat_sectors,
        line_sectors: prepared.line_sectors,
        cells: count,
        kappa_max: prepared.kappa_max,
        rounding: prepared.rounding,
        argmax_alpha: arg.centre.0.rem_euclid(2.0 * PI),
        argmax_beta: arg.centre.1.rem_euclid(2.0 * PI),
        argmax_theta: arg.theta,
        leaf_list,
    }
}

/// The `format` field of a range-restricted certificate file.
pub const FILE_FORMAT: &str = "dpr-audit/wdc-range-certificate/1";

/// A range-restricted certificate as a file (JSON; docs/THEORY.md §17.8): the cells, the flat
/// arcs, every leaf with its bound, and the claimed interval.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RangeCertificateFile {
    /// [`FILE_FORMAT`].
    pub format: String,
    /// Layer index `i` (1-based, at least 2).
    pub layer: usize,
    /// Widths `k, n_1, …, n_i` of the layers the certificate depends on.
    pub widths: Vec<usize>,
    /// SHA-256 of each of the weights `W_1 … W_i` (`certify_check::weights_sha256`).
    pub weights_sha256: Vec<String>,
    /// Claimed lower end.
    pub lower: f64,
    /// Claimed upper end.
    pub upper: f64,
    /// Latent angle of the arg-max `u`.
    pub argmax_alpha: f64,
    /// Latent angle of the arg-max `u′`.
    pub argmax_beta: f64,
    /// The cells `[start, end]` (sectors of layers `1 … i` on a plane), in angular order.
    pub cells: Vec<(f64, f64)>,
    /// The flat sectors of layers `1 … i − 1` (`G_{i−1} = 0`), in angular order.
    pub flat_arcs: Vec<(f64, f64)>,
    /// Every leaf of the search with its bound.
    pub leaves: Vec<RangeLeaf>,
}

impl RangeCertificateFile {
    /// The file of a search that kept its leaves, on `prepared` with weights hashes `hashes`.
    pub fn new(cert: &RangeCertificate, prepared: &RangeLayer, widths: Vec<usize>, hashes: Vec<String>) -> Self {
        Self {
            format: FILE_FORMAT.into(),
            layer: cert.layer,
            widths,
            weights_sha256: hashes,
            lower: cert.lower,
            upper: cert.upper,
            argmax_alpha: cert.argmax_alpha,
            argmax_beta: cert.argmax_beta,
            cells: prepared.cells.iter().map(|c| (c.start, c.end)).collect(),
            flat_arcs: prepared.flat_arcs.clone(),
            leaves: cert.leaf_list.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::expected::q_matrix;
    use crate::rng::{Stream, stream};
    use rand::RngExt;
    use rand_chacha::ChaCha20Rng;

    /// Random orthonormal pair of columns in `R^n` (Gram–Schmidt on Gaussian-ish columns).
    fn frame(rng: &mut ChaCha20Rng, n: usize) -> [Vec<f64>; 2] {
        let a: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut b: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let na = dot(&a, &a).sqrt();
        let a: Vec<f64> = a.iter().map(|v| v / na).collect();
        let c = dot(&a, &b);
        b.iter_mut().zip(&a).for_each(|(x, y)| *x -= c * y);
        let nb = dot(&b, &b).sqrt();
        [a, b.iter().map(|v| v / nb).collect()]
    }

    #[test]
    fn projected_q_matches_the_full_closed_form() {
        // Against `q_matrix` in R^5, for two distinct planes and for one plane, including
        // nearly equal and nearly opposite directions (the small-sine branch).
        let mut rng = stream(7, "q-projected", 0, Stream::Block(0));
        for trial in 0..200 {
            let n = 5;
            let us = frame(&mut rng, n);
            let same = trial % 3 == 0;
            let ut = if same { us.clone() } else { frame(&mut rng, n) };
            let (a, b): (f64, f64) = (rng.random_range(0.0..6.3), rng.random_range(0.0..6.3));
            let xi = [a.cos(), a.sin()];
            let eta = if trial % 10 == 1 && same {
                xi
            } else {
                [b.cos(), b.sin()]
            };
            let x: Vec<f64> = (0..n).map(|i| us[0][i] * xi[0] + us[1][i] * xi[1]).collect();
            let y: Vec<f64> = (0..n).map(|i| ut[0][i] * eta[0] + ut[1][i] * eta[1]).collect();
            let q = q_matrix(&x, &y);
            let t = [0, 1].map(|i| [0, 1].map(|j| dot(&us[i], &ut[j])));
            let (p, _, extra) = q_projected(xi, eta, t, same);
            for i in 0..2 {
                for j in 0..2 {
                    let full: f64 = (0..n)
                        .map(|r| (0..n).map(|c| us[i][r] * q[(r, c)] * ut[j][c]).sum::<f64>())
                        .sum();
                    assert!(
                        (full - p[i][j]).abs() <= 1e-10 + extra,
                        "trial {trial}: {full} vs {}",
                        p[i][j]
                    );
                }
            }
        }
    }

    #[test]
    fn norm_of_a_two_by_two_matrix_is_its_largest_singular_value() {
        // [[3, 0], [4, 0]] has singular values 5 and 0; a rotation by 30° scaled by 2 has 2, 2.
        assert!((norm2([[3.0, 0.0], [4.0, 0.0]]) - 5.0).abs() < 1e-12);
        let (s, c) = (0.5f64, 3f64.sqrt() / 2.0);
        assert!((norm2([[2.0 * c, -2.0 * s], [2.0 * s, 2.0 * c]]) - 2.0).abs() < 1e-12);
        assert!((norm2([[1.0, 2.0], [2.0, -2.0]]) - 3.0).abs() < 1e-12);
    }
}
