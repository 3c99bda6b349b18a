//! The exact WDC constant of a layer with two inputs, certified to a tolerance
//! (docs/THEORY.md §2: "for k = 2 the WDC supremum can be computed exactly").
//!
//! For `k = 2` write `x = (cos α, sin α)`, `y = (cos β, sin β)` (the WDC is scale-invariant).
//! Row `w_r = |w_r| (cos φ_r, sin φ_r)` is active at `α` iff `cos(α − φ_r) > 0`, so the
//! activation pattern changes only at the `2n` boundary angles `φ_r ± π/2` and is constant on
//! the arcs between them. On a cell `I × J` (arc × arc) the matrix
//! `D = W_{+,x}ᵀW_{+,y} = Σ_{r active on I and on J} w_r w_rᵀ` is constant, while
//! `Q(α, β) = (π−θ)/(2π) I + sin θ/(2π) R(α+β)` (θ the angular distance, `R(s)` the
//! reflection `[[cos s, sin s], [sin s, −cos s]]` that swaps `x̂` and `ŷ`; docs/THEORY.md §2's `M`
//! in two dimensions) is Lipschitz in each angle (docs/THEORY.md §11.1) with constant
//! `L = (1 + √2)/(2π)`: `‖∂Q/∂α‖ ≤ (1 + |cos θ| + sin θ)/(2π)` on each smooth piece, and `Q`
//! is continuous across its kinks at θ = 0 and π. Hence on a rectangle with centre `c` and
//! half-widths `h_α, h_β`, `sup ‖D − Q‖ ≤ ‖D − Q(c)‖ + L (h_α + h_β)`. Branch and bound over
//! every cell pair, bisecting the rectangles that could still beat the best value found,
//! gives an interval `[lower, upper]` with `upper − lower ≤ tol`: `lower` is attained at an
//! explicit pair, `upper` bounds the supremum.
//!
//! Where several boundaries coincide exactly, the boundary angle itself has a pattern of its
//! own (all switching rows off) and is added as a zero-width cell; otherwise a boundary's
//! pattern equals the adjacent arc's on its "off" side and adds nothing.

use std::f64::consts::PI;

use faer::MatRef;
use rayon::prelude::*;

use super::certify_check::weights_sha256;
use super::certify_range::RangeLeaf;

/// `L = (1 + √2)/(2π)`, the Lipschitz constant of `Q(α, β)` in each angle (docs/THEORY.md §11.1).
pub const LIPSCHITZ: f64 = (1.0 + std::f64::consts::SQRT_2) / (2.0 * PI);
/// Added to the upper bound for floating-point rounding (the incremental sums of `D` and the
/// closed form of `Q` are accurate to ~1e-13; this margin is 10⁴ times larger).
const ROUNDING_MARGIN: f64 = 1e-9;
/// The smallest tolerance a certificate can meet: its upper bound carries the rounding margin,
/// so a smaller `tol` asks for a width that f64 arithmetic cannot resolve (and bisects every
/// rectangle to `MAX_DEPTH`, which never finishes).
pub const MIN_TOL: f64 = ROUNDING_MARGIN;
/// Deepest bisection of one cell (a cell is then ~2^-40 of its width; never reached in
/// practice, a guard against a pathological tolerance).
const MAX_DEPTH: u32 = 40;

/// A symmetric 2×2 matrix `[[a, b], [b, c]]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sym2 {
    /// Entry (0, 0).
    pub a: f64,
    /// Entries (0, 1) and (1, 0).
    pub b: f64,
    /// Entry (1, 1).
    pub c: f64,
}

impl Sym2 {
    fn add(&mut self, o: Sym2, sign: f64) {
        self.a += sign * o.a;
        self.b += sign * o.b;
        self.c += sign * o.c;
    }

    /// Spectral norm: `|mean| + √(((a − c)/2)² + b²)`.
    pub fn norm(self) -> f64 {
        let mean = 0.5 * (self.a + self.c);
        mean.abs() + (0.25 * (self.a - self.c).powi(2) + self.b * self.b).sqrt()
    }
}

/// Angular distance `θ ∈ [0, π]` between angles `α` and `β`.
fn angular_distance(alpha: f64, beta: f64) -> f64 {
    let d = (alpha - beta).rem_euclid(2.0 * PI);
    d.min(2.0 * PI - d)
}

/// `Q_{x,y}` for `x = (cos α, sin α)`, `y = (cos β, sin β)` (docs/THEORY.md §2 in two dimensions).
pub fn q_planar(alpha: f64, beta: f64) -> Sym2 {
    let theta = angular_distance(alpha, beta);
    let (p, s) = ((PI - theta) / (2.0 * PI), theta.sin() / (2.0 * PI));
    let (ss, cs) = (alpha + beta).sin_cos();
    Sym2 {
        a: p + s * cs,
        b: s * ss,
        c: p - s * cs,
    }
}

/// A cell of the circle: an open arc `(lo, hi)` or a point (`lo = hi`), with its active rows.
#[derive(Clone, Debug)]
struct Cell {
    lo: f64,
    hi: f64,
    active: Vec<bool>,
}

impl Cell {
    fn centre(&self) -> f64 {
        0.5 * (self.lo + self.hi)
    }

    fn half_width(&self) -> f64 {
        0.5 * (self.hi - self.lo)
    }
}

/// One boundary crossing: at angle `at`, row `row` switches on (`on`) or off.
#[derive(Clone, Copy, Debug)]
struct Event {
    at: f64,
    row: usize,
    on: bool,
}

/// The arcs (and coincident-boundary points) of constant pattern, in counter-clockwise order.
fn cells(w: MatRef<'_, f64>) -> Vec<Cell> {
    let n = w.nrows();
    let mut events: Vec<Event> = (0..n)
        .filter(|&r| w[(r, 0)] != 0.0 || w[(r, 1)] != 0.0)
        .flat_map(|r| {
            let phi = w[(r, 1)].atan2(w[(r, 0)]);
            [
                Event {
                    at: (phi - PI / 2.0).rem_euclid(2.0 * PI),
                    row: r,
                    on: true,
                },
                Event {
                    at: (phi + PI / 2.0).rem_euclid(2.0 * PI),
                    row: r,
                    on: false,
                },
            ]
        })
        .collect();
    let active_at = |angle: f64| -> Vec<bool> {
        let (c, s) = (angle.cos(), angle.sin());
        (0..n).map(|r| w[(r, 0)] * c + w[(r, 1)] * s > 0.0).collect()
    };
    if events.is_empty() {
        return vec![Cell {
            lo: 0.0,
            hi: 2.0 * PI,
            active: vec![false; n],
        }];
    }
    events.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.row.cmp(&b.row)));
    // Groups of exactly equal angles, and the arcs between consecutive groups.
    let mut groups: Vec<(f64, Vec<Event>)> = Vec::new();
    for e in events {
        match groups.last_mut() {
            Some((at, g)) if *at == e.at => g.push(e),
            _ => groups.push((e.at, vec![e])),
        }
    }
    let m = groups.len();
    let arc = |i: usize| {
        let lo = groups[i].0;
        let hi = if i + 1 < m {
            groups[i + 1].0
        } else {
            groups[0].0 + 2.0 * PI
        };
        (lo, hi)
    };
    // Pattern of the widest arc by evaluation at its midpoint, then toggles around the circle.
    let widest = (0..m)
        .max_by(|&a, &b| (arc(a).1 - arc(a).0).total_cmp(&(arc(b).1 - arc(b).0)))
        .expect("m > 0");
    let mut active = active_at(0.5 * (arc(widest).0 + arc(widest).1));
    let mut out = Vec::with_capacity(m + 8);
    for step in 0..m {
        let i = (widest + step) % m;
        if step > 0 {
            let group = &groups[i].1;
            if group.len() > 1 {
                let mut point = active.clone();
                group.iter().for_each(|e| point[e.row] = false);
                out.push(Cell {
                    lo: groups[i].0,
                    hi: groups[i].0,
                    active: point,
                });
            }
            group.iter().for_each(|e| active[e.row] = e.on);
        }
        let (lo, hi) = arc(i);
        out.push(Cell {
            lo,
            hi,
            active: active.clone(),
        });
    }
    if groups[widest].1.len() > 1 {
        let before = out.last().expect("nonempty").active.clone();
        let mut point = before;
        groups[widest].1.iter().for_each(|e| point[e.row] = false);
        out.push(Cell {
            lo: groups[widest].0,
            hi: groups[widest].0,
            active: point,
        });
    }
    out
}

/// The certified interval and where the supremum is attained.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Certificate {
    /// `‖D − Q‖` at an explicit pair: a lower bound on the WDC constant.
    pub lower: f64,
    /// A rigorous upper bound on the WDC constant (`upper − lower ≤ tol`).
    pub upper: f64,
    /// The requested tolerance.
    pub tol: f64,
    /// Angle α of the maximising `x = (cos α, sin α)`.
    pub argmax_alpha: f64,
    /// Angle β of the maximising `y`.
    pub argmax_beta: f64,
    /// Their angular distance.
    pub argmax_theta: f64,
    /// Cells on the circle (arcs and coincidence points).
    pub cells: usize,
    /// Rectangles evaluated by the branch and bound (cell pairs included).
    pub rectangles: u64,
    /// The arcs `[lo, hi]` of the cells (a coincidence point has `lo = hi`), when the search
    /// was asked to keep its leaves.
    #[serde(skip)]
    pub cell_arcs: Vec<(f64, f64)>,
    /// The leaves of every cell pair `(i ≤ j)` with their bounds (rounding margin included),
    /// when the search was asked to keep them.
    #[serde(skip)]
    pub leaf_list: Vec<RangeLeaf>,
}

/// Branch and bound on one rectangle with constant `d`: returns (best value, its angles,
/// largest upper bound among the leaves, rectangles evaluated). Each leaf is pushed to
/// `leaves` (when given) with the cell pair `cells` and its bound plus the rounding margin.
fn bound_rectangle(
    d: Sym2,
    centre: (f64, f64),
    half: (f64, f64),
    (floor, tol): (f64, f64),
    cells: (usize, usize),
    mut leaves: Option<&mut Vec<RangeLeaf>>,
) -> (f64, (f64, f64), f64, u64) {
    let mut best = (f64::NEG_INFINITY, centre);
    let mut upper: f64 = f64::NEG_INFINITY;
    let mut count = 0u64;
    let mut stack = vec![(centre, half, 0u32)];
    while let Some(((a, b), (ha, hb), depth)) = stack.pop() {
        count += 1;
        let mut dev = d;
        dev.add(q_planar(a, b), -1.0);
        let value = dev.norm();
        if value > best.0 {
            best = (value, (a, b));
        }
        let ub = value + LIPSCHITZ * (ha + hb);
        if ub <= floor.max(best.0) + tol || depth >= MAX_DEPTH {
            upper = upper.max(ub);
            if let Some(list) = leaves.as_deref_mut() {
                list.push(RangeLeaf {
                    cells,
                    centre: (a, b),
                    half: (ha, hb),
                    bound: ub + ROUNDING_MARGIN,
                });
            }
            continue;
        }
        // Bisect each side that has width (point cells have none).
        let splits_a: &[f64] = if ha > 0.0 { &[-0.5, 0.5] } else { &[0.0] };
        let splits_b: &[f64] = if hb > 0.0 { &[-0.5, 0.5] } else { &[0.0] };
        for &sa in splits_a {
            for &sb in splits_b {
                let h = (
                    if ha > 0.0 { ha / 2.0 } else { 0.0 },
                    if hb > 0.0 { hb / 2.0 } else { 0.0 },
                );
                stack.push(((a + sa * ha, b + sb * hb), h, depth + 1));
            }
        }
    }
    (best.0, best.1, upper, count)
}

/// `D(I, J)` for every `J` in order, for a fixed `I`: incremental over arcs (rows that differ
/// between consecutive cells are added or removed), exact recomputation every 64 cells.
fn row_of_grams(cells: &[Cell], outer: &[Sym2], i: usize) -> Vec<Sym2> {
    let full = |j: usize| {
        let mut d = Sym2::default();
        for (r, o) in outer.iter().enumerate() {
            if cells[i].active[r] && cells[j].active[r] {
                d.add(*o, 1.0);
            }
        }
        d
    };
    let mut out = Vec::with_capacity(cells.len());
    for j in 0..cells.len() {
        if j % 64 == 0 {
            out.push(full(j));
            continue;
        }
        let mut d = out[j - 1];
        for (r, o) in outer.iter().enumerate() {
            if cells[i].active[r] && cells[j].active[r] != cells[j - 1].active[r] {
                d.add(*o, if cells[j].active[r] { 1.0 } else { -1.0 });
            }
        }
        out.push(d);
    }
    out
}

/// Certifies `sup_{x,y} ‖W_{+,x}ᵀW_{+,y} − Q_{x,y}‖` for `W ∈ R^{n × 2}` to within `tol`.
/// Deterministic and independent of the thread count.
pub fn certify(w: MatRef<'_, f64>, tol: f64) -> Certificate {
    search(w, tol, false)
}

/// [`certify`], keeping the cells and the leaves of every cell pair `(i ≤ j)` for a
/// certificate file ([`K2CertificateFile`]; the leaves of `(j, i)` mirror them, since
/// `‖D(x, y)‖ = ‖D(y, x)‖`). The interval is the same as [`certify`]'s.
pub fn certify_with_leaves(w: MatRef<'_, f64>, tol: f64) -> Certificate {
    search(w, tol, true)
}

fn search(w: MatRef<'_, f64>, tol: f64, keep: bool) -> Certificate {
    assert_eq!(w.ncols(), 2, "the certificate needs a layer with exactly 2 inputs");
    let cells = cells(w);
    let outer: Vec<Sym2> = (0..w.nrows())
        .map(|r| Sym2 {
            a: w[(r, 0)] * w[(r, 0)],
            b: w[(r, 0)] * w[(r, 1)],
            c: w[(r, 1)] * w[(r, 1)],
        })
        .collect();
    // Pass 1: centres of every cell pair give the floor (a lower bound).
    let centre_value = |d: Sym2, a: f64, b: f64| {
        let mut dev = d;
        dev.add(q_planar(a, b), -1.0);
        dev.norm()
    };
    let floor = (0..cells.len())
        .into_par_iter()
        .map(|i| {
            crate::cancel::poll();
            let grams = row_of_grams(&cells, &outer, i);
            grams
                .iter()
                .zip(&cells)
                .map(|(d, cj)| centre_value(*d, cells[i].centre(), cj.centre()))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .reduce(|| f64::NEG_INFINITY, f64::max);
    // Pass 2: branch and bound every cell pair whose bound could beat the floor.
    type Row = ((f64, (f64, f64), f64, u64), Vec<RangeLeaf>);
    let rows: Vec<Row> = (0..cells.len())
        .into_par_iter()
        .map(|i| {
            crate::cancel::poll();
            let grams = row_of_grams(&cells, &outer, i);
            let (ci, hi) = (cells[i].centre(), cells[i].half_width());
            let mut leaves = Vec::new();
            let acc = grams.iter().zip(&cells).enumerate().fold(
                (f64::NEG_INFINITY, (0.0, 0.0), f64::NEG_INFINITY, 0u64),
                |acc, (j, (d, cj))| {
                    let sink = (keep && i <= j).then_some(&mut leaves);
                    let r = bound_rectangle(*d, (ci, cj.centre()), (hi, cj.half_width()), (floor, tol), (i, j), sink);
                    let best = if r.0 > acc.0 { (r.0, r.1) } else { (acc.0, acc.1) };
                    (best.0, best.1, acc.2.max(r.2), acc.3 + r.3)
                },
            );
            (acc, leaves)
        })
        .collect();
    let (mut lower, mut arg, mut upper, mut rectangles) = (f64::NEG_INFINITY, (0.0, 0.0), f64::NEG_INFINITY, 0u64);
    let mut leaf_list = Vec::new();
    for (r, leaves) in rows {
        if r.0 > lower {
            lower = r.0;
            arg = r.1;
        }
        upper = upper.max(r.2);
        rectangles += r.3;
        leaf_list.extend(leaves);
    }
    let (alpha, beta) = (arg.0.rem_euclid(2.0 * PI), arg.1.rem_euclid(2.0 * PI));
    Certificate {
        lower,
        upper: upper.max(lower) + ROUNDING_MARGIN,
        tol,
        argmax_alpha: alpha,
        argmax_beta: beta,
        argmax_theta: angular_distance(alpha, beta),
        cells: cells.len(),
        rectangles,
        cell_arcs: if keep {
            cells.iter().map(|c| (c.lo, c.hi)).collect()
        } else {
            Vec::new()
        },
        leaf_list,
    }
}

/// The `format` field of a `k = 2` full-domain certificate file.
pub const FILE_FORMAT: &str = "dpr-audit/wdc-k2-certificate/1";

/// A `k = 2` full-domain certificate as a file (JSON; docs/THEORY.md §17.9): the cells, the
/// leaves of every cell pair `(i ≤ j)` with their bounds, and the claimed interval.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct K2CertificateFile {
    /// [`FILE_FORMAT`].
    pub format: String,
    /// Layer index (1-based) in its network.
    pub layer: usize,
    /// `n`, the rows of the layer `W ∈ R^{n × 2}`.
    pub n_out: usize,
    /// SHA-256 of the weights (`certify_check::weights_sha256`).
    pub weights_sha256: String,
    /// Claimed lower end.
    pub lower: f64,
    /// Claimed upper end.
    pub upper: f64,
    /// Angle α of the arg-max `x`.
    pub argmax_alpha: f64,
    /// Angle β of the arg-max `y`.
    pub argmax_beta: f64,
    /// The cells `[lo, hi]`: arcs of constant pattern and coincidence points (`lo = hi`).
    pub cells: Vec<(f64, f64)>,
    /// Every leaf of the cell pairs `(i ≤ j)` with its bound.
    pub leaves: Vec<RangeLeaf>,
}

impl K2CertificateFile {
    /// The file of a search that kept its leaves ([`certify_with_leaves`]) on `w`, layer
    /// `layer` (1-based) of its network.
    pub fn new(cert: &Certificate, w: MatRef<'_, f64>, layer: usize) -> Self {
        Self {
            format: FILE_FORMAT.into(),
            layer,
            n_out: w.nrows(),
            weights_sha256: weights_sha256(w),
            lower: cert.lower,
            upper: cert.upper,
            argmax_alpha: cert.argmax_alpha,
            argmax_beta: cert.argmax_beta,
            cells: cert.cell_arcs.clone(),
            leaves: cert.leaf_list.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::expected::q_matrix;

    #[test]
    fn planar_q_matches_the_general_closed_form() {
        for &(a, b) in &[(0.3, 1.9), (2.0, 2.0), (0.1, 0.1 + PI), (5.9, 0.2), (1.0, 4.0)] {
            let q = q_matrix(&[f64::cos(a), f64::sin(a)], &[f64::cos(b), f64::sin(b)]);
            let p = q_planar(a, b);
            assert!(
                (q[(0, 0)] - p.a).abs() < 1e-12 && (q[(0, 1)] - p.b).abs() < 1e-12 && (q[(1, 1)] - p.c).abs() < 1e-12
            );
        }
    }

    #[test]
    fn coincident_boundaries_get_point_cells() {
        // w_1 = −w_0: both rows switch at the same two angles, where both are off.
        let w = faer::Mat::from_fn(2, 2, |r, c| [[1.0, 0.5], [-1.0, -0.5]][r][c]);
        let cells = cells(w.as_ref());
        assert!(cells.iter().any(|c| c.lo == c.hi && c.active.iter().all(|&a| !a)));
        let arcs: f64 = cells.iter().map(|c| c.hi - c.lo).sum();
        assert!((arcs - 2.0 * PI).abs() < 1e-12);
    }
}
