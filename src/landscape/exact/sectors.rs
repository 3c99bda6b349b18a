//! The sectors of the circle (docs/THEORY.md §13.2): arcs on which the activation pattern of
//! every layer and the signs of `A G(u)` are constant, found layer by layer.
//!
//! Layer 1 breaks at the rays orthogonal to the rows of `W_1` (two antipodal rays per row), so
//! each of its sectors is an arc of length at most π. Inside a sector of layers `1…l`, the
//! pre-activations of layer `l + 1` are linear in `u`, `z = P u` with `P = W_{l+1} D_l P_l`;
//! a linear function of the angle changes sign at most once on such an arc, which the signs at
//! the two ends reveal; a zero row (a unit behind dead units) never changes sign. The
//! measurements `A Λ u` are split the same way inside the sectors of the last layer.
//!
//! Cost (docs/THEORY.md §13.2): the layer-1 sectors are processed in fixed chunks (in parallel,
//! chunk boundaries independent of the thread count, so the result is too). Inside a chunk,
//! `P_2` changes by one column of `W_2` per layer-1 breakpoint (a rank-one update) and `A Λ_d`
//! by one column of `A` per last-layer breakpoint; where `Λ_d` changes in many rows at once (a
//! breakpoint of an earlier layer) `A Λ_d` is recomputed, all such products of a chunk in one
//! matrix product.

use std::f64::consts::{FRAC_PI_2, PI, TAU};

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use super::profile::{Piece, Sym2, direction};

/// Layer-1 sectors per chunk of work (fixed, so that the arithmetic does not depend on the
/// number of threads).
const CHUNK: usize = 16;
/// A change of `Λ_d` in at most this many rows updates `A Λ_d` column by column; more rows
/// recompute it.
const SPARSE_ROWS: usize = 8;

/// What separates a sector from the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A unit of layer `l` (1-based) changes sign.
    Layer(usize),
    /// A measurement `a_jᵀ G(u)` changes sign.
    Measurement,
}

impl Cause {
    /// `layer_l` or `measurement`.
    pub fn name(self) -> String {
        match self {
            Self::Layer(l) => format!("layer_{l}"),
            Self::Measurement => "measurement".into(),
        }
    }
}

/// The left boundary of a sector.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Boundary {
    /// Its cause.
    pub cause: Cause,
    /// The units (0-based rows of `W_l`, or of `A`) that change sign there.
    pub units: Vec<usize>,
    /// Another breakpoint lies within the angle tolerance of this one without being equal to
    /// it in f64: which side of it each pattern holds cannot be decided.
    pub coincident: bool,
}

/// One sector `[start, end]` (angles in radians, increasing; `end` may exceed 2π for the last).
#[derive(Clone, Debug)]
pub struct Sector {
    /// First angle.
    pub start: f64,
    /// Last angle.
    pub end: f64,
    /// `c` and `M` of the profile on the sector.
    pub piece: Piece,
    /// `G ≡ 0` on the sector (every unit of some layer inactive): `f` is constant on the cone.
    pub flat: bool,
    /// The boundary at `start`.
    pub left: Boundary,
}

/// The sectors of one instance, in angular order around the circle.
#[derive(Clone, Debug)]
pub struct Sectors {
    /// The sectors; the first starts at the smallest layer-1 breakpoint.
    pub sectors: Vec<Sector>,
    /// Angles where a unit's zero fell within the tolerance of a sector's end (a coincidence
    /// of breakpoints of different units, not decidable in f64).
    pub coincident: Vec<f64>,
}

/// A network's weights, the measurement matrix and the amplitudes, as views.
#[derive(Clone, Copy, Debug)]
pub struct Instance<'a> {
    /// `W_1 … W_d` (`W_1` has two columns).
    pub weights: &'a [MatRef<'a, f64>],
    /// `A` (`m × n_d`).
    pub a: MatRef<'a, f64>,
    /// `b` (`m`).
    pub b: &'a [f64],
}

/// Where the zero of `t ↦ ⟨g, u(t)⟩` lies relative to an arc of length at most π.
enum Crossing {
    /// No zero on the closed arc (or `g = 0`).
    None,
    /// One zero strictly inside, at this angle.
    Inside(f64),
    /// A zero within `tol` of an end of the arc.
    AtEnd(f64),
}

/// The crossing of `g` on `[s, e]` (`e − s ≤ π`), with `u_s = u(s)`, `u_e = u(e)`.
fn crossing(g: [f64; 2], (s, e): (f64, f64), (us, ue): ([f64; 2], [f64; 2]), tol: f64) -> Crossing {
    let size = g[0].abs() + g[1].abs();
    if size == 0.0 {
        return Crossing::None;
    }
    let zs = g[0] * us[0] + g[1] * us[1];
    let ze = g[0] * ue[0] + g[1] * ue[1];
    if zs.abs() <= tol * size {
        return Crossing::AtEnd(s);
    }
    if ze.abs() <= tol * size {
        return Crossing::AtEnd(e);
    }
    if (zs > 0.0) == (ze > 0.0) {
        return Crossing::None;
    }
    let psi = g[1].atan2(g[0]);
    let mut z = s + (psi + FRAC_PI_2 - s).rem_euclid(TAU);
    if z >= e {
        z = s + (psi - FRAC_PI_2 - s).rem_euclid(TAU);
    }
    Crossing::Inside(z.clamp(s, e))
}

/// Breakpoints `(angle, units, coincident)` in increasing order: equal angles form one
/// breakpoint; distinct angles closer than `tol` are merged and marked coincident.
fn group(mut zeros: Vec<(f64, usize)>, tol: f64) -> Vec<(f64, Vec<usize>, bool)> {
    zeros.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<(f64, Vec<usize>, bool)> = Vec::new();
    for (angle, unit) in zeros {
        match out.last_mut() {
            Some(last) if angle - last.0 <= tol => {
                last.2 |= angle != last.0;
                last.1.push(unit);
            }
            _ => out.push((angle, vec![unit], false)),
        }
    }
    out
}

/// Rows `[p[i], q[i]]` of a two-column matrix.
fn row(p: MatRef<'_, f64>, i: usize) -> [f64; 2] {
    [p[(i, 0)], p[(i, 1)]]
}

/// The breakpoints of the rows of `p` strictly inside `[s, e]`; zeros at an end go to
/// `coincident`.
fn split(p: MatRef<'_, f64>, (s, e): (f64, f64), tol: f64, coincident: &mut Vec<f64>) -> Vec<(f64, Vec<usize>, bool)> {
    let ends = (direction(s), direction(e));
    let mut zeros = Vec::new();
    for i in 0..p.nrows() {
        match crossing(row(p, i), (s, e), ends, tol) {
            Crossing::None => {}
            Crossing::Inside(z) => zeros.push((z, i)),
            Crossing::AtEnd(z) => coincident.push(z),
        }
    }
    group(zeros, tol)
}

/// `D P`: the rows of `p` active at `u` (`⟨p_i, u⟩ > 0`, strict), the others zero.
fn masked(p: MatRef<'_, f64>, u: [f64; 2]) -> Mat<f64> {
    Mat::from_fn(p.nrows(), 2, |i, j| {
        let r = row(p, i);
        if r[0] * u[0] + r[1] * u[1] > 0.0 {
            p[(i, j)]
        } else {
            0.0
        }
    })
}

/// `W P` (sequential product: parallelism lives at the chunk level).
fn product(w: MatRef<'_, f64>, p: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::zeros(w.nrows(), p.ncols());
    matmul(out.as_mut(), Accum::Replace, w, p, 1.0, Par::Seq);
    out
}

/// A sector of the last layer: its arc, `Λ_d` (`n_d × 2`) and its left boundary.
struct LastLayerSector {
    arc: (f64, f64),
    lambda: Mat<f64>,
    left: Boundary,
}

/// The layer-1 breakpoints `(angle in [0, 2π), units, coincident)`.
fn first_layer_breakpoints(w1: MatRef<'_, f64>, tol: f64) -> Vec<(f64, Vec<usize>, bool)> {
    let mut zeros = Vec::with_capacity(2 * w1.nrows());
    for i in 0..w1.nrows() {
        let g = row(w1, i);
        if g[0] == 0.0 && g[1] == 0.0 {
            continue;
        }
        let psi = g[1].atan2(g[0]);
        for z in [psi + FRAC_PI_2, psi - FRAC_PI_2] {
            zeros.push((z.rem_euclid(TAU), i));
        }
    }
    let mut groups = group(zeros, tol);
    // The circle closes: a breakpoint just below 2π and one just above 0 may coincide.
    if groups.len() > 1 {
        let (first, last) = (groups[0].0, groups[groups.len() - 1].0);
        if first + TAU - last <= tol {
            let (_, units, _) = groups.pop().expect("nonempty");
            groups[0].1.extend(units);
            groups[0].2 = true;
        }
    }
    groups
}

/// Refines the arc `arc` of a sector of layers `1…l−1` with layer-`l` pre-activations
/// `z = p u`, pushing the last-layer sectors to `out`.
fn refine(
    inst: &Instance<'_>,
    level: usize,
    p: MatRef<'_, f64>,
    (arc, left): ((f64, f64), Boundary),
    tol: f64,
    out: &mut Vec<LastLayerSector>,
    coincident: &mut Vec<f64>,
) {
    let breaks = split(p, arc, tol, coincident);
    let mut bounds = Vec::with_capacity(breaks.len() + 2);
    bounds.push(arc.0);
    bounds.extend(breaks.iter().map(|b| b.0));
    bounds.push(arc.1);
    for (i, w) in bounds.windows(2).enumerate() {
        let boundary = if i == 0 {
            left.clone()
        } else {
            let (_, units, co) = &breaks[i - 1];
            Boundary {
                cause: Cause::Layer(level),
                units: units.clone(),
                coincident: *co,
            }
        };
        let dp = masked(p, direction(0.5 * (w[0] + w[1])));
        if level == inst.weights.len() {
            out.push(LastLayerSector {
                arc: (w[0], w[1]),
                lambda: dp,
                left: boundary,
            });
        } else {
            let next = product(inst.weights[level], dp.as_ref());
            refine(
                inst,
                level + 1,
                next.as_ref(),
                ((w[0], w[1]), boundary),
                tol,
                out,
                coincident,
            );
        }
    }
}

/// The last-layer sectors of the layer-1 sectors `range`; `P_2` is updated by one column of
/// `W_2` per unit that changes sign (recomputed at the start of the chunk and wherever layer 1
/// is entirely inactive, where it is exactly zero).
fn last_layer_sectors(
    inst: &Instance<'_>,
    arcs: &[((f64, f64), Boundary)],
    tol: f64,
    coincident: &mut Vec<f64>,
) -> Vec<LastLayerSector> {
    let w1 = inst.weights[0];
    let mut out = Vec::new();
    let mut state: Option<(Vec<bool>, Mat<f64>)> = None;
    for (arc, left) in arcs {
        let u = direction(0.5 * (arc.0 + arc.1));
        let active: Vec<bool> = (0..w1.nrows())
            .map(|i| {
                let r = row(w1, i);
                r[0] * u[0] + r[1] * u[1] > 0.0
            })
            .collect();
        if inst.weights.len() == 1 {
            out.push(LastLayerSector {
                arc: *arc,
                lambda: masked(w1, u),
                left: left.clone(),
            });
            continue;
        }
        let w2 = inst.weights[1];
        let p2 = match state.take() {
            Some((before, mut p2)) if active.iter().any(|&a| a) && before.iter().any(|&a| a) => {
                for (i, (&now, &was)) in active.iter().zip(&before).enumerate() {
                    if now != was {
                        let sign = if now { 1.0 } else { -1.0 };
                        for c in 0..2 {
                            let coef = sign * w1[(i, c)];
                            for (r, v) in p2.col_as_slice_mut(c).iter_mut().enumerate() {
                                *v += coef * w2[(r, i)];
                            }
                        }
                    }
                }
                p2
            }
            _ => product(w2, masked(w1, u).as_ref()),
        };
        refine(inst, 2, p2.as_ref(), (*arc, left.clone()), tol, &mut out, coincident);
        state = Some((active, p2));
    }
    out
}

/// The rows in which `a` and `b` differ, or `None` when there are more than [`SPARSE_ROWS`].
fn changed_rows(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Option<Vec<usize>> {
    let mut rows = Vec::new();
    for i in 0..a.nrows() {
        if a[(i, 0)] != b[(i, 0)] || a[(i, 1)] != b[(i, 1)] {
            if rows.len() == SPARSE_ROWS {
                return None;
            }
            rows.push(i);
        }
    }
    Some(rows)
}

/// Splits a last-layer sector with `B = A Λ_d` (columns `p`, `q`) at the measurements' sign
/// changes; each piece gets `c = Bᵀ S b` (signs at its midpoint) and `M = BᵀB`.
fn measurement_sectors(
    inst: &Instance<'_>,
    sector: &LastLayerSector,
    (p, q): (&[f64], &[f64]),
    tol: f64,
    coincident: &mut Vec<f64>,
) -> Vec<Sector> {
    let (s, e) = sector.arc;
    let ends = (direction(s), direction(e));
    let mut zeros = Vec::new();
    for j in 0..p.len() {
        match crossing([p[j], q[j]], (s, e), ends, tol) {
            Crossing::None => {}
            Crossing::Inside(z) => zeros.push((z, j)),
            Crossing::AtEnd(z) => coincident.push(z),
        }
    }
    let breaks = group(zeros, tol);
    let m = Sym2::gram(p, q);
    let mut bounds = Vec::with_capacity(breaks.len() + 2);
    bounds.push(s);
    bounds.extend(breaks.iter().map(|b| b.0));
    bounds.push(e);
    bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let u = direction(0.5 * (w[0] + w[1]));
            let mut c = [0.0; 2];
            for j in 0..p.len() {
                let z = p[j] * u[0] + q[j] * u[1];
                let sb = if z > 0.0 {
                    inst.b[j]
                } else if z < 0.0 {
                    -inst.b[j]
                } else {
                    0.0
                };
                c[0] += sb * p[j];
                c[1] += sb * q[j];
            }
            let left = if i == 0 {
                sector.left.clone()
            } else {
                let (_, units, co) = &breaks[i - 1];
                Boundary {
                    cause: Cause::Measurement,
                    units: units.clone(),
                    coincident: *co,
                }
            };
            Sector {
                start: w[0],
                end: w[1],
                piece: Piece { c, m },
                flat: false,
                left,
            }
        })
        .collect()
}

/// The sectors of one chunk of layer-1 arcs.
fn chunk_sectors(inst: &Instance<'_>, arcs: &[((f64, f64), Boundary)], tol: f64) -> (Vec<Sector>, Vec<f64>) {
    let mut coincident = Vec::new();
    let last = last_layer_sectors(inst, arcs, tol, &mut coincident);
    let is_zero = |l: &Mat<f64>| (0..l.nrows()).all(|i| l[(i, 0)] == 0.0 && l[(i, 1)] == 0.0);
    // Which sectors get a fresh `A Λ_d`: the first nonzero one, and any whose `Λ_d` differs
    // from the previous one in many rows (or follows a flat one).
    let mut anchors = Vec::new();
    let mut updates: Vec<Option<Vec<usize>>> = Vec::with_capacity(last.len());
    for (i, sector) in last.iter().enumerate() {
        let rows = if is_zero(&sector.lambda) || i == 0 || is_zero(&last[i - 1].lambda) {
            None
        } else {
            changed_rows(last[i - 1].lambda.as_ref(), sector.lambda.as_ref())
        };
        if rows.is_none() && !is_zero(&sector.lambda) {
            anchors.push(i);
        }
        updates.push(rows);
    }
    let n = inst.a.ncols();
    let stacked = Mat::from_fn(n, 2 * anchors.len(), |r, c| last[anchors[c / 2]].lambda[(r, c % 2)]);
    let fresh = product(inst.a, stacked.as_ref());
    let m = inst.a.nrows();
    let (mut p, mut q) = (vec![0.0; m], vec![0.0; m]);
    let mut next_anchor = 0;
    let mut out = Vec::new();
    for (i, sector) in last.iter().enumerate() {
        if is_zero(&sector.lambda) {
            out.push(Sector {
                start: sector.arc.0,
                end: sector.arc.1,
                piece: Piece::default(),
                flat: true,
                left: sector.left.clone(),
            });
            continue;
        }
        match &updates[i] {
            None => {
                let c = 2 * next_anchor;
                next_anchor += 1;
                p.copy_from_slice(fresh.col_as_slice(c));
                q.copy_from_slice(fresh.col_as_slice(c + 1));
            }
            Some(rows) => {
                for &r in rows {
                    let dp = sector.lambda[(r, 0)] - last[i - 1].lambda[(r, 0)];
                    let dq = sector.lambda[(r, 1)] - last[i - 1].lambda[(r, 1)];
                    for j in 0..m {
                        let a = inst.a[(j, r)];
                        p[j] += dp * a;
                        q[j] += dq * a;
                    }
                }
            }
        }
        out.extend(measurement_sectors(inst, sector, (&p, &q), tol, &mut coincident));
    }
    (out, coincident)
}

/// The layer-1 arcs (sectors of layer 1) with their left boundaries, in angular order.
fn first_layer_arcs(w1: MatRef<'_, f64>, tol: f64) -> Vec<((f64, f64), Boundary)> {
    let breaks = first_layer_breakpoints(w1, tol);
    if breaks.is_empty() {
        let left = Boundary {
            cause: Cause::Layer(1),
            units: Vec::new(),
            coincident: false,
        };
        return vec![((0.0, PI), left.clone()), ((PI, TAU), left)];
    }
    (0..breaks.len())
        .map(|i| {
            let end = breaks.get(i + 1).map_or(breaks[0].0 + TAU, |b| b.0);
            let left = Boundary {
                cause: Cause::Layer(1),
                units: breaks[i].1.clone(),
                coincident: breaks[i].2,
            };
            ((breaks[i].0, end), left)
        })
        .collect()
}

/// Every sector of the circle, in angular order; `tol` is the angle below which two
/// breakpoints cannot be told apart. Deterministic and independent of the thread count.
pub fn enumerate(inst: &Instance<'_>, tol: f64) -> Sectors {
    assert_eq!(inst.weights[0].ncols(), 2, "the exact landscape needs k = 2");
    let arcs = first_layer_arcs(inst.weights[0], tol);
    let chunks: Vec<(Vec<Sector>, Vec<f64>)> = arcs
        .par_chunks(CHUNK)
        .map(|chunk| {
            crate::cancel::poll();
            chunk_sectors(inst, chunk, tol)
        })
        .collect();
    let mut sectors = Vec::new();
    let mut coincident = Vec::new();
    for (s, c) in chunks {
        sectors.extend(s);
        coincident.extend(c);
    }
    Sectors { sectors, coincident }
}

/// A sector of the layers `1…l` of a network with its `Λ_l` (`n_l × 2`; docs/THEORY.md §17.1).
#[derive(Clone, Debug)]
pub struct NetworkSector {
    /// First angle.
    pub start: f64,
    /// Last angle (`end` may exceed 2π for the last sector).
    pub end: f64,
    /// `Λ_l`: `G_l(u) = Λ_l u` on the sector; the rows of inactive units of layer `l` are zero.
    pub lambda: Mat<f64>,
    /// A breakpoint within `tol` of the sector's start was merged with it (undecidable in f64).
    pub coincident: bool,
}

/// The sectors of the network `weights` alone (no measurements), in the same angular order as
/// [`enumerate`], each with its `Λ_l`, and the angles where a zero fell within `tol` of a
/// sector's end. Deterministic and independent of the thread count.
pub fn network_sectors(weights: &[MatRef<'_, f64>], tol: f64) -> (Vec<NetworkSector>, Vec<f64>) {
    assert_eq!(weights[0].ncols(), 2, "the sectors of the circle need k = 2");
    let none = Mat::<f64>::zeros(0, weights[weights.len() - 1].nrows());
    let inst = Instance {
        weights,
        a: none.as_ref(),
        b: &[],
    };
    let arcs = first_layer_arcs(weights[0], tol);
    let chunks: Vec<(Vec<LastLayerSector>, Vec<f64>)> = arcs
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut coincident = Vec::new();
            (last_layer_sectors(&inst, chunk, tol, &mut coincident), coincident)
        })
        .collect();
    let mut sectors = Vec::new();
    let mut coincident = Vec::new();
    for (s, c) in chunks {
        sectors.extend(s.into_iter().map(|l| NetworkSector {
            start: l.arc.0,
            end: l.arc.1,
            lambda: l.lambda,
            coincident: l.left.coincident,
        }));
        coincident.extend(c);
    }
    (sectors, coincident)
}
