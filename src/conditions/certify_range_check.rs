//! The independent check of a range-restricted certificate file (docs/THEORY.md §17.8).
//!
//! Written apart from the search (`certify_range`): the sector enumeration is not used, the
//! patterns and `Λ` of each arc come from a plain forward pass at its midpoint, the basis from
//! Gram–Schmidt on the first column, `κ` from the eigenvalues of `ΛᵀΛ`, `Q` from the
//! `n_{i−1}`-dimensional vectors `x̂`, `ŷ` with `M_{x̂↔ŷ} = (x̂ŷᵀ + ŷx̂ᵀ − c(x̂x̂ᵀ + ŷŷᵀ))/s²`.

use std::f64::consts::{PI, TAU};

use faer::MatRef;
use rayon::prelude::*;

use super::certify_check::weights_sha256;
use super::certify_range::{FILE_FORMAT, RangeCertificateFile, RangeLeaf, rounding_bound};
use crate::landscape::exact::angle_tolerance;

/// Below this `sin θ` the `M` term is bounded by its norm `s` (plus this) instead of evaluated.
const SMALL_SINE: f64 = 1e-12;
/// Relative slack of the area and containment checks of the leaves of a cell pair.
const AREA_SLACK: f64 = 1e-9;

/// What an accepted range certificate establishes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RangeCheckReport {
    /// Cells checked (constant patterns, bases).
    pub cells: usize,
    /// Leaf bounds recomputed.
    pub leaves: usize,
    /// The largest recomputed leaf bound.
    pub max_recomputed: f64,
    /// The objective recomputed at the arg-max pair.
    pub value_at_argmax: f64,
}

/// One arc's data, recomputed from the weights: the unit basis of `span Λ_{i−1}`, `κ`, and the
/// projected rows `U ᵀ w_r` of `W_i` active on the arc.
pub(super) struct ArcData {
    pub(super) basis: [Vec<f64>; 2],
    pub(super) lambda: [Vec<f64>; 2],
    pub(super) kappa: f64,
    pub(super) rows: Vec<Option<[f64; 2]>>,
}

impl ArcData {
    /// The data of a first layer `W` (the identity prefix `Λ_0 = I`, `κ = 1`) whose rows
    /// `active` are on.
    pub(super) fn first_layer(w: MatRef<'_, f64>, active: &[bool]) -> Self {
        let unit = [vec![1.0, 0.0], vec![0.0, 1.0]];
        ArcData {
            basis: unit.clone(),
            lambda: unit,
            kappa: 1.0,
            rows: active
                .iter()
                .enumerate()
                .map(|(r, &on)| on.then(|| [w[(r, 0)], w[(r, 1)]]))
                .collect(),
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Forward through `weights` at the arc's midpoint, checking that every row's sign is the same
/// at both ends as at the midpoint (a linear function on an arc shorter than π); returns `Λ`
/// of every layer (`n_l × 2`, as two columns). `tol` widens the ends.
pub(super) fn forward(weights: &[MatRef<'_, f64>], (s, e): (f64, f64), tol: f64) -> Result<Vec<[Vec<f64>; 2]>, String> {
    if !(e > s && e - s < PI) {
        return Err(format!("arc [{s}, {e}] is empty or not shorter than π"));
    }
    let m = 0.5 * (s + e);
    let at = |t: f64| [t.cos(), t.sin()];
    let mut lambda: [Vec<f64>; 2] = [vec![1.0, 0.0], vec![0.0, 1.0]];
    let mut out = Vec::with_capacity(weights.len());
    for (l, w) in weights.iter().enumerate() {
        let mut next: [Vec<f64>; 2] = [vec![0.0; w.nrows()], vec![0.0; w.nrows()]];
        for r in 0..w.nrows() {
            let row: Vec<f64> = (0..w.ncols()).map(|j| w[(r, j)]).collect();
            let p = [dot(&row, &lambda[0]), dot(&row, &lambda[1])];
            let z = |t: f64| {
                let u = at(t);
                p[0] * u[0] + p[1] * u[1]
            };
            let size = p[0].hypot(p[1]);
            let mid = z(m);
            if size == 0.0 {
                continue;
            }
            if mid == 0.0 {
                return Err(format!("unit {r} of layer {} is zero inside arc [{s}, {e}]", l + 1));
            }
            let sign = mid.signum();
            if sign * z(s) < -tol * size || sign * z(e) < -tol * size {
                return Err(format!(
                    "unit {r} of layer {} changes sign inside arc [{s}, {e}]",
                    l + 1
                ));
            }
            if mid > 0.0 {
                next[0][r] = p[0];
                next[1][r] = p[1];
            }
        }
        out.push(next.clone());
        lambda = next;
    }
    Ok(out)
}

/// The arc's data for layer `i` (the last of `weights`), or `None` when `Λ_{i−1} = 0`.
fn arc_data(weights: &[MatRef<'_, f64>], arc: (f64, f64), tol: f64) -> Result<Option<ArcData>, String> {
    let lambdas = forward(weights, arc, tol)?;
    let lam = lambdas[lambdas.len() - 2].clone();
    let n0 = dot(&lam[0], &lam[0]).sqrt();
    let n1 = dot(&lam[1], &lam[1]).sqrt();
    if n0 == 0.0 && n1 == 0.0 {
        return Ok(None);
    }
    // κ² = λ_max/λ_min of the Gram matrix ΛᵀΛ.
    let (a, b, c) = (n0 * n0, dot(&lam[0], &lam[1]), n1 * n1);
    let disc = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    let (big, small) = (0.5 * (a + c) + disc, (a * c - b * b) / (0.5 * (a + c) + disc));
    let first = if n0 > 0.0 { 0 } else { 1 };
    let e1: Vec<f64> = lam[first]
        .iter()
        .map(|v| v / lam[first].iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let other = &lam[1 - first];
    let proj = dot(&e1, other);
    let r: Vec<f64> = other.iter().zip(&e1).map(|(v, q)| v - proj * q).collect();
    let nr = dot(&r, &r).sqrt();
    let line = small <= 0.0 || nr <= 1e-12 * dot(other, other).sqrt();
    let e2: Vec<f64> = if line {
        vec![0.0; r.len()]
    } else {
        r.iter().map(|v| v / nr).collect()
    };
    let kappa = if line { 0.0 } else { (big / small).sqrt() * (1.0 + 1e-9) };
    let w = weights[weights.len() - 1];
    let active = &lambdas[lambdas.len() - 1];
    let rows = (0..w.nrows())
        .map(|row| {
            let on = active[0][row] != 0.0 || active[1][row] != 0.0;
            let wr: Vec<f64> = (0..w.ncols()).map(|j| w[(row, j)]).collect();
            on.then(|| [dot(&wr, &e1), dot(&wr, &e2)])
        })
        .collect();
    Ok(Some(ArcData {
        basis: [e1, e2],
        lambda: lam,
        kappa,
        rows,
    }))
}

/// `‖U_aᵀ D_i U_b‖` at angles `(α, β)` plus the bound on the left-out `M` term.
fn value(a: &ArcData, b: &ArcData, alpha: f64, beta: f64) -> f64 {
    let unit = |d: &ArcData, t: f64| {
        let x: Vec<f64> = d.lambda[0]
            .iter()
            .zip(&d.lambda[1])
            .map(|(p, q)| p * t.cos() + q * t.sin())
            .collect();
        let n = dot(&x, &x).sqrt();
        x.into_iter().map(|v| v / n).collect::<Vec<f64>>()
    };
    let (x, y) = (unit(a, alpha), unit(b, beta));
    let mut m = [[0.0; 2]; 2];
    for (ra, rb) in a.rows.iter().zip(&b.rows) {
        if let (Some(p), Some(q)) = (ra, rb) {
            (0..2).for_each(|i| (0..2).for_each(|j| m[i][j] += p[i] * q[j]));
        }
    }
    // sin θ M = s (c e₁e₁ᵀ + s (e₁e₂ᵀ + e₂e₁ᵀ) − c e₂e₂ᵀ) with e₁ = x, e₂ = z/s, z = y − c x.
    let c = dot(&x, &y);
    let z: Vec<f64> = y.iter().zip(&x).map(|(q, p)| q - c * p).collect();
    let s = dot(&z, &z).sqrt();
    let theta = s.atan2(c);
    let p = (PI - theta) / (2.0 * PI);
    let (ax, bx) = (
        [0, 1].map(|i| dot(&a.basis[i], &x)),
        [0, 1].map(|j| dot(&b.basis[j], &x)),
    );
    let (az, bz) = (
        [0, 1].map(|i| dot(&a.basis[i], &z)),
        [0, 1].map(|j| dot(&b.basis[j], &z)),
    );
    let q = |i: usize, j: usize| {
        let mut q = p * dot(&a.basis[i], &b.basis[j]);
        if s > SMALL_SINE {
            // With e₂ = z/s: s c ax bx + s (ax bz + az bx) − c az bz / s.
            q += (s * c * ax[i] * bx[j] + s * (ax[i] * bz[j] + az[i] * bx[j]) - c * az[i] * bz[j] / s) / (2.0 * PI);
        }
        q
    };
    let m = [0, 1].map(|i| [0, 1].map(|j| m[i][j] - q(i, j)));
    let extra = if s > SMALL_SINE {
        0.0
    } else {
        (s + SMALL_SINE) / (2.0 * PI)
    };
    let f: f64 = m.iter().flatten().map(|v| v * v).sum();
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    ((f + (f * f - 4.0 * det * det).max(0.0).sqrt()) / 2.0).sqrt() + extra
}

/// Checks a range-restricted certificate against the weights `W_1 … W_d` of its network:
/// hashes, the tiling of the circle by cells and flat arcs, constant patterns on every arc,
/// the tiling of every cell pair by its leaves, every leaf bound recomputed, `upper`, and the
/// value at the arg-max. Returns the first reason to refuse.
pub fn check_range(weights: &[MatRef<'_, f64>], file: &RangeCertificateFile) -> Result<RangeCheckReport, String> {
    if file.format != FILE_FORMAT {
        return Err(format!("format {:?} is not {FILE_FORMAT}", file.format));
    }
    let i = file.layer;
    if i < 2 || i > weights.len() {
        return Err(format!(
            "layer {i} is not a layer i ≥ 2 of a network of depth {}",
            weights.len()
        ));
    }
    let weights = &weights[..i];
    let mut widths = vec![weights[0].ncols()];
    widths.extend(weights.iter().map(|w| w.nrows()));
    if widths != file.widths {
        return Err(format!("widths {:?} differ from the network's {widths:?}", file.widths));
    }
    let hashes: Vec<String> = weights.iter().map(|w| weights_sha256(*w)).collect();
    if hashes != file.weights_sha256 {
        return Err("the weights' SHA-256 differ from the certificate's".into());
    }
    let tol = angle_tolerance(widths.iter().sum());
    // The cells and flat arcs tile the circle.
    let mut arcs: Vec<((f64, f64), Option<usize>)> =
        file.cells.iter().enumerate().map(|(c, a)| (*a, Some(c))).collect();
    arcs.extend(file.flat_arcs.iter().map(|a| (*a, None)));
    tile_circle(&mut arcs)?;
    // Every arc: constant patterns; flat arcs have Λ_{i−1} = 0, cells do not.
    let data: Vec<Result<Option<ArcData>, String>> =
        arcs.par_iter().map(|(arc, _)| arc_data(weights, *arc, tol)).collect();
    let mut cells: Vec<Option<ArcData>> = (0..file.cells.len()).map(|_| None).collect();
    for ((arc, cell), d) in arcs.iter().zip(data) {
        match (cell, d?) {
            (Some(c), Some(d)) => cells[*c] = Some(d),
            (None, None) => {}
            (Some(_), None) => return Err(format!("cell [{}, {}] is flat", arc.0, arc.1)),
            (None, Some(_)) => return Err(format!("flat arc [{}, {}] is not flat", arc.0, arc.1)),
        }
    }
    let cells: Vec<ArcData> = cells.into_iter().map(|c| c.expect("every cell checked")).collect();
    let w = weights[i - 1];
    let sigma_w: f64 = (0..w.nrows())
        .map(|r| (0..w.ncols()).map(|c| w[(r, c)] * w[(r, c)]).sum::<f64>())
        .sum();
    let kappa_max = cells.iter().map(|c| c.kappa).fold(0.0, f64::max);
    let eta = rounding_bound(w.ncols(), w.nrows(), kappa_max, sigma_w);
    check_bounds(
        &cells,
        &file.cells,
        &file.leaves,
        (tol, 0.5 * eta),
        (file.lower, file.upper, file.argmax_alpha, file.argmax_beta),
    )
}

/// Steps 4–6 of docs/THEORY.md §17.8 on checked `data` of `cells`: the leaves tile every cell
/// pair, each bound is recomputed as `value + (κ_a (h + τ) + κ_b (h′ + τ))/π + slack` and is at
/// most `upper`, and the value at the arg-max `(α, β)` is at least `lower`.
pub(super) fn check_bounds(
    data: &[ArcData],
    cells: &[(f64, f64)],
    leaves: &[RangeLeaf],
    (tol, slack): (f64, f64),
    (lower, upper, alpha, beta): (f64, f64, f64, f64),
) -> Result<RangeCheckReport, String> {
    let recomputed = check_leaves(leaves, cells, upper, |leaf| {
        let (a, b) = (&data[leaf.cells.0], &data[leaf.cells.1]);
        value(a, b, leaf.centre.0, leaf.centre.1)
            + (a.kappa * (leaf.half.0 + tol) + b.kappa * (leaf.half.1 + tol)) / PI
            + slack
    })?;
    let at = value_at_argmax(cells, (alpha, beta), lower, |a, b| {
        value(&data[a], &data[b], alpha, beta)
    })?;
    Ok(RangeCheckReport {
        cells: cells.len(),
        leaves: leaves.len(),
        max_recomputed: recomputed.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        value_at_argmax: at,
    })
}

/// Sorts `arcs` by start (a point `[t, t]` before the arc starting at `t`) and checks that
/// they tile the circle: each ends exactly where the next starts, the last `2π` after the
/// first starts.
pub(super) fn tile_circle<T>(arcs: &mut [((f64, f64), T)]) -> Result<(), String> {
    arcs.sort_by(|a, b| a.0.0.total_cmp(&b.0.0).then(a.0.1.total_cmp(&b.0.1)));
    if arcs.is_empty() {
        return Err("no cells".into());
    }
    for pair in arcs.windows(2) {
        if pair[0].0.1 != pair[1].0.0 {
            return Err(format!(
                "arcs [.., {}] and [{}, ..] leave a gap or overlap",
                pair[0].0.1, pair[1].0.0
            ));
        }
    }
    if (arcs[arcs.len() - 1].0.1 - arcs[0].0.0 - TAU).abs() > 1e-12 {
        return Err("the arcs do not close the circle".into());
    }
    Ok(())
}

/// Checks that the leaves tile every cell pair `a ≤ b` of `cells`, recomputes every leaf
/// bound with `recompute`, and refuses a listed bound below its recomputation or above
/// `upper`. Returns the recomputed bounds.
fn check_leaves(
    leaves: &[RangeLeaf],
    cells: &[(f64, f64)],
    upper: f64,
    recompute: impl Fn(&RangeLeaf) -> f64 + Sync,
) -> Result<Vec<f64>, String> {
    let count = cells.len();
    let mut order: Vec<&RangeLeaf> = leaves.iter().collect();
    order.sort_by_key(|p| p.cells);
    let mut k = 0;
    for a in 0..count {
        for b in a..count {
            let start = k;
            while k < order.len() && order[k].cells == (a, b) {
                k += 1;
            }
            check_tiling(&order[start..k], cells[a], cells[b])?;
        }
    }
    if k != order.len() {
        return Err(format!(
            "leaf for cells {:?} is not a pair a ≤ b of cells",
            order[k].cells
        ));
    }
    let recomputed: Vec<f64> = leaves.par_iter().map(&recompute).collect();
    for (n, (leaf, r)) in leaves.iter().zip(&recomputed).enumerate() {
        if !at_most(*r, leaf.bound) {
            return Err(format!(
                "leaf {n} (cells {:?}): recomputed bound {r} exceeds its listed {}",
                leaf.cells, leaf.bound
            ));
        }
        if !at_most(leaf.bound, upper) {
            return Err(format!("leaf {n}: bound {} above upper {upper}", leaf.bound));
        }
    }
    Ok(recomputed)
}

/// The objective at the arg-max angles, `value(a, b)` on cells `a ∋ α`, `b ∋ β` (the largest
/// over the cells whose closure holds them: each is a limit of values inside its cell, so a
/// lower bound on the supremum); refused when below `lower`.
fn value_at_argmax(
    cells: &[(f64, f64)],
    (alpha, beta): (f64, f64),
    lower: f64,
    value: impl Fn(usize, usize) -> f64,
) -> Result<f64, String> {
    let holding = |t: f64| -> Vec<usize> {
        (0..cells.len())
            .filter(|&c| {
                let (s, e) = cells[c];
                [t, t + TAU, t - TAU].iter().any(|&v| s <= v && v <= e)
            })
            .collect()
    };
    let (a, b) = (holding(alpha), holding(beta));
    let at = a
        .iter()
        .flat_map(|&ca| b.iter().map(move |&cb| (ca, cb)))
        .map(|(ca, cb)| value(ca, cb))
        .fold(f64::NEG_INFINITY, f64::max);
    if a.is_empty() || b.is_empty() {
        return Err("the arg-max angles lie in no cell".into());
    }
    if !at_most(lower, at) {
        return Err(format!("the objective at the arg-max is {at}, below lower {lower}"));
    }
    Ok(at)
}

/// `a ≤ b`, false when either is NaN (a NaN bound is refused).
pub(super) fn at_most(a: f64, b: f64) -> bool {
    matches!(
        a.partial_cmp(&b),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

/// The leaves of one cell pair lie in its rectangle, do not overlap, and fill its area.
fn check_tiling(leaves: &[&RangeLeaf], a: (f64, f64), b: (f64, f64)) -> Result<(), String> {
    if leaves.is_empty() {
        return Err(format!(
            "the cell pair [{}, {}] × [{}, {}] has no leaf",
            a.0, a.1, b.0, b.1
        ));
    }
    let (ha, hb) = (0.5 * (a.1 - a.0), 0.5 * (b.1 - b.0));
    let slack = AREA_SLACK * (ha + hb);
    // A point cell (zero width) is a side of length 1 in the measure: the leaves of a
    // point × arc pair are segments whose lengths add up, those of a point × point pair one point.
    let side = |pair_half: f64, half: f64| if pair_half > 0.0 { 2.0 * half } else { 1.0 };
    let mut area = 0.0;
    for l in leaves {
        let inside = l.centre.0 - l.half.0 >= a.0 - slack
            && l.centre.0 + l.half.0 <= a.1 + slack
            && l.centre.1 - l.half.1 >= b.0 - slack
            && l.centre.1 + l.half.1 <= b.1 + slack;
        if !inside {
            return Err(format!("a leaf of cells {:?} leaves its cell pair", l.cells));
        }
        area += side(ha, l.half.0) * side(hb, l.half.1);
    }
    // Two leaves are apart when they are separated along a side of positive width.
    let apart = |pair_half: f64, d: f64, h: f64| pair_half > 0.0 && d.abs() >= h - slack;
    for (n, p) in leaves.iter().enumerate() {
        for q in &leaves[n + 1..] {
            if !(apart(ha, p.centre.0 - q.centre.0, p.half.0 + q.half.0)
                || apart(hb, p.centre.1 - q.centre.1, p.half.1 + q.half.1))
            {
                return Err(format!("two leaves of cells {:?} overlap", p.cells));
            }
        }
    }
    let whole = side(ha, ha) * side(hb, hb);
    if (area - whole).abs() > AREA_SLACK * whole.max(1e-300) + 1e-300 {
        return Err(format!(
            "the leaves of cells {:?} cover {area} of the pair's area {whole}",
            leaves[0].cells
        ));
    }
    Ok(())
}
