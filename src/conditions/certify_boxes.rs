//! The WDC constant of a layer with 2 ≤ k ≤ 4 inputs, certified to a tolerance by branch and
//! bound on pairs of sphere boxes (docs/THEORY.md §14).
//!
//! `S^{k−1}` is tiled by the `2k` faces of the cube `[−1, 1]^k` projected onto the sphere, each
//! split recursively at the midpoint of its widest coordinate ([`SphereBox`]; §14.1). For a
//! pair of boxes `(X, Y)` every row of `W` is *active* on a box (`w_rᵀx > 0` on all of it),
//! *inactive* (`w_rᵀx ≤ 0` on all of it) or *open*; the jointly active rows give `G₀`, the
//! rows open on one side and not inactive on the other give `R = Σ_U w_r w_rᵀ`. At every
//! `(x, y) ∈ X × Y`, `W_{+,x}ᵀW_{+,y} = G₀ + S` for a subset sum `0 ⪯ S ⪯ R`, so (§14.2–14.3)
//!
//! `‖D(x, y)‖ ≤ max(λ_max(G₀ + R − Q_c), −λ_min(G₀ − Q_c)) + L_Q (r_x + r_y) + rounding`,
//!
//! the exact maximum over all subsets of `U` of `‖G₀ + S − Q_c‖` (no enumeration needed: the
//! largest eigenvalue grows and the smallest shrinks with `S` in the Loewner order), with
//! `Q_c = Q_{x_c, y_c}` at the caps' centres, `r_x, r_y` their angular radii and
//! `L_Q = 1/π` (§14.4). `D(x, y) = D(y, x)` halves the pairs: only `(X, Y)` with `X` before `Y`
//! in the tree order are visited. Evaluating `D` at the centres gives lower bounds.
//!
//! The search is best-first: batches of the open pairs with the largest upper bounds are split
//! in parallel and merged in a fixed order, so the result is the same for every thread count
//! (a time budget, checked between batches, is the one exception). The tree of splits is kept
//! as one bit per node for the certificate file ([`SplitTree`]; §14.6).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::f64::consts::PI;
use std::time::{Duration, Instant};

use faer::MatRef;
use rayon::prelude::*;

use crate::core::expected::SwapBasis;

/// Smallest input dimension the box search handles (k = 2 has its exact sector method too).
pub const MIN_INPUT: usize = 2;
/// Largest input dimension the box search handles (the cost grows like `ε^{−2(k−1)}`).
pub const MAX_INPUT: usize = 4;
/// `L_Q = 1/π`, a Lipschitz constant of `x ↦ Q_{x,y}` in the geodesic distance, for every `k`
/// (docs/THEORY.md §14.4).
pub const LIPSCHITZ_Q: f64 = 1.0 / PI;
/// Unit roundoff `u = 2^{−53}`.
const UNIT: f64 = f64::EPSILON / 2.0;
/// Jacobi sweeps of a k × k eigenvalue enclosure (k ≤ 4 converges in 3–5; the enclosure is
/// rigorous whatever the number, via Gershgorin on the rotated matrix).
const JACOBI_SWEEPS: usize = 10;
/// Backward error of at most `JACOBI_SWEEPS · 6` floating-point Jacobi rotations, per unit
/// of `‖A‖_F`: each rotation perturbs the matrix by at most ~`12u ‖A‖_F` (two-sided Givens
/// update plus the non-orthogonality of the computed `(c, s)`); `60 · 12 < 2048`.
const JACOBI_BACKWARD: f64 = 2048.0 * UNIT;
/// Added to every computed cap radius: the chord and `asin` of [`SphereBox::radius`] are
/// accurate to a few `u` (radius ≤ π/2, so the absolute error is < 1e-15).
pub const RADIUS_MARGIN: f64 = 1e-14;
/// Error of the closed form of `Q` per entry (|entries| ≤ 1; `SwapBasis` uses the limit form
/// within `64 ε` of θ = 0, π, which changes `sin θ M / (2π)` by less than that).
const Q_ENTRY_ERROR: f64 = 1e-13;
/// Pairs split together per step (fixed, so results do not depend on the thread count).
pub const BATCH: usize = 256;
/// A box is not split below this coordinate width (2^{−40}); such a pair stays a leaf.
const MIN_WIDTH: f64 = 1.0 / (1u64 << 40) as f64;

/// A `k × k` matrix in a fixed-size array (`k ≤ 4`).
pub type Small = [[f64; MAX_INPUT]; MAX_INPUT];

/// A box of `S^{k−1}`: the directions of the points `sign·e_axis + Σ_j t_j e_{o_j}` with
/// `t_j ∈ [lo_j, hi_j] ⊆ [−1, 1]`, where `o_0 < o_1 < …` are the coordinates other than
/// `axis` (the gnomonic image of a rectangle of a cube face; docs/THEORY.md §14.1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SphereBox {
    /// The face's axis.
    pub axis: usize,
    /// The face's sign (±1).
    pub sign: f64,
    /// Lower ends of the rectangle (first `k − 1` used).
    pub lo: [f64; MAX_INPUT - 1],
    /// Upper ends.
    pub hi: [f64; MAX_INPUT - 1],
}

impl SphereBox {
    /// The `2k` faces, axis by axis, `+` before `−`: they cover `S^{k−1}`.
    pub fn faces(k: usize) -> Vec<SphereBox> {
        (0..k)
            .flat_map(|axis| {
                [1.0, -1.0].map(|sign| SphereBox {
                    axis,
                    sign,
                    lo: [-1.0; MAX_INPUT - 1],
                    hi: [1.0; MAX_INPUT - 1],
                })
            })
            .collect()
    }

    /// The coordinate of `R^k` that rectangle coordinate `j` moves.
    fn coordinate(&self, j: usize) -> usize {
        if j < self.axis { j } else { j + 1 }
    }

    /// The point `sign·e_axis + Σ_j t_j e_{o_j}` (not normalised).
    fn point(&self, k: usize, t: &[f64]) -> [f64; MAX_INPUT] {
        let mut v = [0.0; MAX_INPUT];
        v[self.axis] = self.sign;
        for (j, &tj) in t.iter().enumerate().take(k - 1) {
            v[self.coordinate(j)] = tj;
        }
        v
    }

    /// The cap centre: the direction of the rectangle's midpoint (unit length).
    pub fn centre(&self, k: usize) -> [f64; MAX_INPUT] {
        let mid: Vec<f64> = (0..k - 1).map(|j| 0.5 * (self.lo[j] + self.hi[j])).collect();
        unit4(self.point(k, &mid), k)
    }

    /// An upper bound on the angle between the centre and any point of the box: the largest
    /// angle to a vertex (the box's cone is the convex hull of its vertex rays, and a cap of
    /// radius < π/2 is convex), plus [`RADIUS_MARGIN`]. The angle is `2 asin(‖ĉ − v̂‖/2)`.
    pub fn radius(&self, k: usize) -> f64 {
        let c = self.centre(k);
        let mut largest: f64 = 0.0;
        for corner in 0..1usize << (k - 1) {
            let t: Vec<f64> = (0..k - 1)
                .map(|j| if corner >> j & 1 == 0 { self.lo[j] } else { self.hi[j] })
                .collect();
            let v = unit4(self.point(k, &t), k);
            let chord = (0..k).map(|i| (c[i] - v[i]).powi(2)).sum::<f64>().sqrt();
            largest = largest.max(2.0 * (0.5 * chord).min(1.0).asin());
        }
        largest + RADIUS_MARGIN
    }

    /// The widest rectangle coordinate (the first on ties) and its width (exact: the ends are
    /// dyadic).
    pub fn widest(&self, k: usize) -> (usize, f64) {
        (0..k - 1).fold((0, f64::NEG_INFINITY), |(bj, bw), j| {
            let w = self.hi[j] - self.lo[j];
            if w > bw { (j, w) } else { (bj, bw) }
        })
    }

    /// The two halves at the midpoint of the widest coordinate (they share the cut exactly).
    pub fn halves(&self, k: usize) -> (SphereBox, SphereBox) {
        let (j, _) = self.widest(k);
        let mid = 0.5 * (self.lo[j] + self.hi[j]);
        let (mut a, mut b) = (*self, *self);
        a.hi[j] = mid;
        b.lo[j] = mid;
        (a, b)
    }

    /// `(min, max)` of `wᵀp` over the rectangle's points `p` (an affine function of `t`).
    fn affine_range(&self, k: usize, w: &[f64; MAX_INPUT]) -> (f64, f64) {
        let mut centre = self.sign * w[self.axis];
        let mut spread = 0.0;
        for j in 0..k - 1 {
            let wj = w[self.coordinate(j)];
            centre += wj * 0.5 * (self.lo[j] + self.hi[j]);
            spread += wj.abs() * 0.5 * (self.hi[j] - self.lo[j]);
        }
        (centre - spread, centre + spread)
    }
}

/// `v/‖v‖` for the first `k` entries.
fn unit4(v: [f64; MAX_INPUT], k: usize) -> [f64; MAX_INPUT] {
    let r = v[..k].iter().map(|a| a * a).sum::<f64>().sqrt();
    v.map(|a| a / r)
}

/// A row is active on all of a box.
const ACTIVE: u8 = 1;
/// A row is inactive on all of a box.
const INACTIVE: u8 = 0;
/// A row changes sign inside a box (or is too close to call).
const OPEN: u8 = 2;

/// A layer prepared for the box search: rows, outer products and the rounding terms.
#[derive(Clone, Debug)]
pub struct BoxLayer {
    k: usize,
    rows: Vec<[f64; MAX_INPUT]>,
    outer: Vec<Small>,
    /// Per row: `4 (k + 1) u ‖w_r‖₁`, the rounding margin of the sign decision (§14.5).
    row_margin: Vec<f64>,
    /// The a-priori rounding bound added to every computed norm (§14.5).
    rounding: f64,
}

impl BoxLayer {
    /// Prepares `W ∈ R^{n × k}`, `2 ≤ k ≤ 4`.
    #[track_caller]
    pub fn new(w: MatRef<'_, f64>) -> Self {
        let (n, k) = (w.nrows(), w.ncols());
        assert!(
            (MIN_INPUT..=MAX_INPUT).contains(&k),
            "the box search needs 2 ≤ k ≤ 4 inputs"
        );
        let rows: Vec<[f64; MAX_INPUT]> = (0..n)
            .map(|r| std::array::from_fn(|i| if i < k { w[(r, i)] } else { 0.0 }))
            .collect();
        let outer = rows
            .iter()
            .map(|v| std::array::from_fn(|i| std::array::from_fn(|j| v[i] * v[j])))
            .collect();
        let row_margin = rows
            .iter()
            .map(|v| 4.0 * (k as f64 + 1.0) * UNIT * v.iter().map(|a| a.abs()).sum::<f64>())
            .collect();
        let frobenius_sum: f64 = rows.iter().map(|v| v.iter().map(|a| a * a).sum::<f64>()).sum();
        Self {
            k,
            rows,
            outer,
            row_margin,
            rounding: rounding_bound(n, k, frobenius_sum),
        }
    }

    /// Input dimension `k`.
    pub fn input_dim(&self) -> usize {
        self.k
    }

    /// The a-priori rounding bound added to each norm.
    pub fn rounding(&self) -> f64 {
        self.rounding
    }

    /// Sign status of row `r` on box `b`.
    fn status(&self, b: &SphereBox, r: usize) -> u8 {
        let (lo, hi) = b.affine_range(self.k, &self.rows[r]);
        if lo > self.row_margin[r] {
            ACTIVE
        } else if hi < -self.row_margin[r] {
            INACTIVE
        } else {
            OPEN
        }
    }

    /// `Q_{x,y}` for unit `x`, `y` (docs/THEORY.md §2), via the factored swap matrix.
    fn q(&self, x: &[f64; MAX_INPUT], y: &[f64; MAX_INPUT]) -> Small {
        let k = self.k;
        let m = SwapBasis::new(&x[..k], &y[..k]);
        let (a, b) = ((PI - m.theta) / (2.0 * PI), m.theta.sin() / (2.0 * PI));
        let mut q = [[0.0; MAX_INPUT]; MAX_INPUT];
        for (i, qi) in q.iter_mut().enumerate().take(k) {
            for (j, qij) in qi.iter_mut().enumerate().take(k) {
                let swap =
                    m.cos * (m.u1[i] * m.u1[j] - m.u2[i] * m.u2[j]) + m.sin * (m.u1[i] * m.u2[j] + m.u2[i] * m.u1[j]);
                *qij = b * swap + if i == j { a } else { 0.0 };
            }
        }
        q
    }
}

/// The a-priori rounding bound of one bound evaluation (docs/THEORY.md §14.5), for `n` rows,
/// `k` inputs and `Σ_r ‖w_r‖² = frobenius_sum`: the sums of `G₀` and `G₀ + R`
/// (`γ_{n+1} Σ_r ‖w_r‖²` in spectral norm, through the Frobenius norm), the closed form of
/// `Q` (`k ·` `Q_ENTRY_ERROR`), the subtraction (`k u (Σ_r ‖w_r‖² + 1)`) and the Jacobi
/// enclosure (`JACOBI_BACKWARD (Σ_r ‖w_r‖² + k)`), doubled for slack.
pub fn rounding_bound(n: usize, k: usize, frobenius_sum: f64) -> f64 {
    let nf = n as f64 + 1.0;
    let gamma = nf * UNIT / (1.0 - nf * UNIT);
    let kf = k as f64;
    2.0 * (gamma * frobenius_sum
        + kf * Q_ENTRY_ERROR
        + kf * UNIT * (frobenius_sum + 1.0)
        + JACOBI_BACKWARD * (frobenius_sum + kf))
}

/// A rigorous enclosure of the spectrum of a symmetric `k × k` matrix, and the diagonal of
/// its Jacobi-rotated form (Rayleigh quotients: lower bounds on `λ_max` and upper bounds on
/// `λ_min` up to the same backward error).
#[derive(Clone, Copy, Debug)]
pub struct Spectrum {
    /// `≤ λ_min`.
    pub lower: f64,
    /// `≥ λ_max`.
    pub upper: f64,
    /// Smallest rotated diagonal entry (`≥ λ_min − backward`).
    pub diag_min: f64,
    /// Largest rotated diagonal entry (`≤ λ_max + backward`).
    pub diag_max: f64,
    /// The backward-error bound used.
    pub backward: f64,
}

impl Spectrum {
    /// A lower bound on `‖A‖` (up to the rounding of forming `A`).
    pub fn norm_lower(&self) -> f64 {
        (self.diag_max.max(-self.diag_min) - self.backward).max(0.0)
    }
}

/// Cyclic Jacobi on a symmetric `k × k` matrix, then Gershgorin discs of the rotated matrix,
/// widened by `JACOBI_BACKWARD``·‖A‖_F` (docs/THEORY.md §14.5).
pub fn spectrum(mut a: Small, k: usize) -> Spectrum {
    let frob = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| a[i][j] * a[i][j])
        .sum::<f64>()
        .sqrt();
    for _ in 0..JACOBI_SWEEPS {
        let off: f64 = (0..k)
            .flat_map(|i| (i + 1..k).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off <= (UNIT * frob).powi(2) {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut().take(k) {
                    let (rp, rq) = (row[p], row[q]);
                    row[p] = c * rp - s * rq;
                    row[q] = s * rp + c * rq;
                }
                let (row_p, row_q) = (a[p], a[q]);
                for ((np, pr), qr) in a[p].iter_mut().zip(&row_p).zip(&row_q).take(k) {
                    *np = c * pr - s * qr;
                }
                for ((nq, pr), qr) in a[q].iter_mut().zip(&row_p).zip(&row_q).take(k) {
                    *nq = s * pr + c * qr;
                }
            }
        }
    }
    let backward = JACOBI_BACKWARD * frob;
    let mut out = Spectrum {
        lower: f64::INFINITY,
        upper: f64::NEG_INFINITY,
        diag_min: f64::INFINITY,
        diag_max: f64::NEG_INFINITY,
        backward,
    };
    for (i, row) in a.iter().enumerate().take(k) {
        let radius: f64 = (0..k).filter(|&j| j != i).map(|j| row[j].abs()).sum();
        out.lower = out.lower.min(row[i] - radius - backward);
        out.upper = out.upper.max(row[i] + radius + backward);
        out.diag_min = out.diag_min.min(row[i]);
        out.diag_max = out.diag_max.max(row[i]);
    }
    out
}

/// A box's cap: centre (unit) and angular radius ([`SphereBox::centre`], [`SphereBox::radius`]).
type Cap = ([f64; MAX_INPUT], f64);

/// A row still open in a pair: its index and its status on `X` and on `Y` (never both
/// active, never either inactive).
type OpenRow = (u32, u8, u8);

/// A pair of boxes with what its children inherit.
#[derive(Clone, Debug)]
struct PairNode {
    x: SphereBox,
    y: SphereBox,
    /// `X = Y` (a diagonal pair: splitting it gives three children, by symmetry).
    diagonal: bool,
    /// Cap centre and radius of `X` and of `Y` (a child reuses those of the box it keeps).
    caps: [Cap; 2],
    /// `G₀`: the outer products of the jointly active rows.
    active: Small,
    /// Rows open in this pair.
    open: Vec<OpenRow>,
    /// The pair's upper bound.
    upper: f64,
    /// Node id (creation order).
    id: u32,
}

impl PartialEq for PairNode {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for PairNode {}
impl PartialOrd for PairNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PairNode {
    /// Largest upper bound first; the earlier node on ties.
    fn cmp(&self, other: &Self) -> Ordering {
        self.upper.total_cmp(&other.upper).then(other.id.cmp(&self.id))
    }
}

/// A pair `(x, y)` where `‖D(x, y)‖` was evaluated: a lower bound on the WDC constant.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Witness {
    /// `‖D(x, y)‖` (minus its rounding bound when the box search evaluated it).
    pub value: f64,
    /// `x`.
    pub x: Vec<f64>,
    /// `y`.
    pub y: Vec<f64>,
    /// `box_centre` or where the caller's seed came from (e.g. `sampled`).
    pub source: String,
}

/// The pair bound and the centre evaluation of one pair (before it joins the tree).
struct Evaluated {
    node: PairNode,
    witness: Option<Witness>,
}

impl BoxLayer {
    /// Classifies the parent's open rows on `(x, y)`, forms `G₀` and `R` and bounds the pair
    /// (docs/THEORY.md §14.2–14.3); evaluates `D` at the centres when no row is ambiguous there.
    fn evaluate(&self, (x, y, diagonal): (SphereBox, SphereBox, bool), parent: &PairNode) -> Evaluated {
        let k = self.k;
        let mut active = parent.active;
        let mut open_sum = [[0.0; MAX_INPUT]; MAX_INPUT];
        let mut open = Vec::with_capacity(parent.open.len());
        for &(r, sx, sy) in &parent.open {
            let sx = if sx == OPEN { self.status(&x, r as usize) } else { sx };
            let sy = if sy == OPEN { self.status(&y, r as usize) } else { sy };
            if sx == INACTIVE || sy == INACTIVE {
                continue;
            }
            let target = if sx == ACTIVE && sy == ACTIVE {
                &mut active
            } else {
                open.push((r, sx, sy));
                &mut open_sum
            };
            add_into(target, &self.outer[r as usize], k);
        }
        let cap = |b: &SphereBox| {
            if *b == parent.x {
                parent.caps[0]
            } else if *b == parent.y {
                parent.caps[1]
            } else {
                (b.centre(k), b.radius(k))
            }
        };
        let caps = [cap(&x), cap(&y)];
        let ((xc, rx), (yc, ry)) = (caps[0], caps[1]);
        let q = self.q(&xc, &yc);
        let mut none = active;
        sub_into(&mut none, &q, k);
        let mut all = none;
        add_into(&mut all, &open_sum, k);
        let low = spectrum(none, k);
        let high = spectrum(all, k);
        let lipschitz = LIPSCHITZ_Q * (rx + ry);
        let bound = high.upper.max(-low.lower) + lipschitz + 2.0 * self.rounding;
        let witness = self.centre_value(&open, &none, (&xc, &yc));
        Evaluated {
            node: PairNode {
                x,
                y,
                diagonal,
                caps,
                active,
                open,
                upper: bound,
                id: 0,
            },
            witness,
        }
    }

    /// `‖D(x_c, y_c)‖` minus its rounding bound, unless a row's sign at a centre is within its
    /// margin of zero (then the floating-point mask could differ from the exact one).
    fn centre_value(
        &self,
        open: &[OpenRow],
        none: &Small,
        (xc, yc): (&[f64; MAX_INPUT], &[f64; MAX_INPUT]),
    ) -> Option<Witness> {
        let k = self.k;
        let mut d = *none;
        for &(r, _, _) in open {
            let row = &self.rows[r as usize];
            let (zx, zy) = (dot4(row, xc, k), dot4(row, yc, k));
            let m = 2.0 * self.row_margin[r as usize];
            if zx.abs() <= m || zy.abs() <= m {
                return None;
            }
            if zx > 0.0 && zy > 0.0 {
                add_into(&mut d, &self.outer[r as usize], k);
            }
        }
        Some(Witness {
            value: spectrum(d, k).norm_lower() - self.rounding,
            x: xc[..k].to_vec(),
            y: yc[..k].to_vec(),
            source: "box_centre".into(),
        })
    }

    /// The root pairs `(F_i, F_j)`, `i ≤ j`, of the `2k` faces with all rows open.
    fn roots(&self) -> Vec<(SphereBox, SphereBox, bool)> {
        let faces = SphereBox::faces(self.k);
        (0..faces.len())
            .flat_map(|i| (i..faces.len()).map(move |j| (i, j)))
            .map(|(i, j)| (faces[i], faces[j], i == j))
            .collect()
    }

    /// The parent of every root: no rows decided, no bound.
    fn unsplit(&self) -> PairNode {
        let face = SphereBox::faces(self.k)[0];
        let cap = (face.centre(self.k), face.radius(self.k));
        PairNode {
            x: face,
            y: face,
            diagonal: true,
            caps: [cap, cap],
            active: [[0.0; MAX_INPUT]; MAX_INPUT],
            open: (0..self.rows.len() as u32).map(|r| (r, OPEN, OPEN)).collect(),
            upper: f64::INFINITY,
            id: 0,
        }
    }
}

/// The children of a pair under the split rule (docs/THEORY.md §14.1): a diagonal pair
/// `(X, X)` gives `(X₁, X₁), (X₁, X₂), (X₂, X₂)`; otherwise the box with the wider widest
/// coordinate (`X` on ties) is halved. `None` when that box is already at `MIN_WIDTH`.
pub fn split_pair(
    k: usize,
    (x, y, diagonal): (SphereBox, SphereBox, bool),
) -> Option<Vec<(SphereBox, SphereBox, bool)>> {
    let (wx, wy) = (x.widest(k).1, y.widest(k).1);
    if diagonal {
        if wx < MIN_WIDTH {
            return None;
        }
        let (a, b) = x.halves(k);
        return Some(vec![(a, a, true), (a, b, false), (b, b, true)]);
    }
    if wx.max(wy) < MIN_WIDTH {
        return None;
    }
    Some(if wy > wx {
        let (a, b) = y.halves(k);
        vec![(x, a, false), (x, b, false)]
    } else {
        let (a, b) = x.halves(k);
        vec![(a, y, false), (b, y, false)]
    })
}

fn add_into(a: &mut Small, b: &Small, k: usize) {
    for i in 0..k {
        for j in 0..k {
            a[i][j] += b[i][j];
        }
    }
}

fn sub_into(a: &mut Small, b: &Small, k: usize) {
    for i in 0..k {
        for j in 0..k {
            a[i][j] -= b[i][j];
        }
    }
}

fn dot4(a: &[f64; MAX_INPUT], b: &[f64; MAX_INPUT], k: usize) -> f64 {
    (0..k).map(|i| a[i] * b[i]).sum()
}

/// When the search may stop: the gap `upper − lower` it aims for.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Tolerance {
    /// `upper − lower ≤ tol`.
    Absolute(f64),
    /// `upper − lower ≤ tol · lower`.
    Relative(f64),
}

impl Tolerance {
    /// The largest acceptable gap above `lower`.
    pub fn gap(self, lower: f64) -> f64 {
        match self {
            Tolerance::Absolute(t) => t,
            Tolerance::Relative(t) => t * lower.max(0.0),
        }
    }
}

/// How long the search may run before it reports the interval reached.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Budget {
    /// Until the tolerance is met.
    Unlimited,
    /// At most this many pair evaluations (deterministic).
    Nodes(u64),
    /// At most this much wall time (checked between batches; not deterministic).
    Time(Duration),
}

/// Why the search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// `upper − lower` reached the tolerance.
    Converged,
    /// The node or time budget ran out first.
    Budget,
    /// Every remaining pair is at the smallest box width.
    Resolution,
}

/// Progress of the search, after each batch.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Pairs evaluated so far.
    pub nodes: u64,
    /// Pairs still open.
    pub open: usize,
    /// Best lower bound.
    pub lower: f64,
    /// Current upper bound.
    pub upper: f64,
}

/// The explored tree in pre-order: one bit per node (`true` = split), roots in the order of
/// [`SphereBox::faces`] pairs `(i ≤ j)`, children in the order of [`split_pair`]; the upper
/// bound of each leaf in the same order (docs/THEORY.md §14.6).
#[derive(Clone, Debug, PartialEq)]
pub struct SplitTree {
    /// Split bits, pre-order.
    pub bits: Vec<bool>,
    /// Leaf upper bounds, pre-order.
    pub leaf_upper: Vec<f64>,
}

/// The certified interval of one layer and the evidence behind it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BoxCertificate {
    /// Input dimension k.
    pub k: usize,
    /// Output dimension n.
    pub n: usize,
    /// Lower end: `‖D‖` at [`BoxCertificate::argmax`].
    pub lower: f64,
    /// Upper end: the largest leaf bound (rigorous).
    pub upper: f64,
    /// The tolerance asked for.
    pub tolerance: Tolerance,
    /// Why the search stopped.
    pub stop: Stop,
    /// Pairs evaluated (roots included).
    pub nodes: u64,
    /// Pairs split.
    pub split: u64,
    /// Leaves closed because their bound was within the tolerance of `lower` (pruned).
    pub pruned: u64,
    /// Leaves of the tree.
    pub leaves: u64,
    /// The rounding bound added to each norm.
    pub rounding: f64,
    /// The best evaluated pair.
    pub argmax: Witness,
    /// The tree (for the certificate file).
    #[serde(skip)]
    pub tree: SplitTree,
}

impl BoxCertificate {
    /// `upper − lower`.
    pub fn gap(&self) -> f64 {
        self.upper - self.lower
    }
}

/// What the search needs besides the layer.
#[derive(Clone, Copy, Debug)]
pub struct BoxSearch {
    /// Target gap.
    pub tolerance: Tolerance,
    /// When to stop early.
    pub budget: Budget,
}

/// The node arena: first child of each node (`u32::MAX` for a leaf) and its upper bound.
struct Arena {
    first_child: Vec<u32>,
    upper: Vec<f64>,
}

impl Arena {
    fn push(&mut self, upper: f64) -> u32 {
        self.first_child.push(u32::MAX);
        self.upper.push(upper);
        (self.upper.len() - 1) as u32
    }

    /// Pre-order bits and leaf bounds from the roots `0..roots` (root `i` diagonal as given).
    fn tree(&self, root_diagonal: &[bool]) -> SplitTree {
        let mut tree = SplitTree {
            bits: Vec::with_capacity(self.upper.len()),
            leaf_upper: Vec::new(),
        };
        let mut stack: Vec<(u32, bool)> = root_diagonal
            .iter()
            .enumerate()
            .rev()
            .map(|(i, &d)| (i as u32, d))
            .collect();
        while let Some((id, diagonal)) = stack.pop() {
            let first = self.first_child[id as usize];
            tree.bits.push(first != u32::MAX);
            if first == u32::MAX {
                tree.leaf_upper.push(self.upper[id as usize]);
                continue;
            }
            let kinds: &[bool] = if diagonal {
                &[true, false, true]
            } else {
                &[false, false]
            };
            for (c, &d) in kinds.iter().enumerate().rev() {
                stack.push((first + c as u32, d));
            }
        }
        tree
    }
}

/// The search's mutable state: the tree so far, the best witness, the open pairs.
struct State {
    arena: Arena,
    best: Witness,
    heap: BinaryHeap<PairNode>,
    /// Largest bound among the closed leaves (pruned or at the smallest width).
    closed_upper: f64,
    nodes: u64,
    pruned: u64,
    tolerance: Tolerance,
}

impl State {
    /// Bounds at or below this need no split.
    fn threshold(&self) -> f64 {
        self.best.value + self.tolerance.gap(self.best.value)
    }

    /// The current upper bound: the largest bound of any leaf.
    fn upper(&self) -> f64 {
        self.heap
            .peek()
            .map_or(f64::NEG_INFINITY, |n| n.upper)
            .max(self.closed_upper)
    }

    /// Adds evaluated pairs to the tree in order: updates the best witness, then closes each
    /// pair whose bound is within the tolerance or queues it.
    fn admit(&mut self, batch: Vec<Evaluated>) {
        for e in batch {
            self.nodes += 1;
            if let Some(wit) = e.witness
                && wit.value > self.best.value
            {
                self.best = wit;
            }
            let mut node = e.node;
            node.id = self.arena.push(node.upper);
            if node.upper <= self.threshold() {
                self.pruned += 1;
                self.closed_upper = self.closed_upper.max(node.upper);
            } else {
                self.heap.push(node);
            }
        }
    }
}

/// Certifies `sup_{x,y ∈ S^{k−1}} ‖W_{+,x}ᵀW_{+,y} − Q_{x,y}‖` for `W ∈ R^{n × k}`,
/// `2 ≤ k ≤ 4`, by best-first branch and bound on pairs of sphere boxes. `seed` is a known
/// lower bound (e.g. the sampled-and-refined estimate) that prunes from the start; `progress`
/// is called after every batch. Deterministic (same result for every thread count) unless
/// the budget is a time.
pub fn certify_boxes(
    w: MatRef<'_, f64>,
    search: &BoxSearch,
    seed: Option<Witness>,
    progress: &mut dyn FnMut(&Progress),
) -> BoxCertificate {
    let layer = BoxLayer::new(w);
    let k = layer.k;
    let started = Instant::now();
    let roots = layer.roots();
    let root_diagonal: Vec<bool> = roots.iter().map(|r| r.2).collect();
    let unsplit = layer.unsplit();
    let evaluated: Vec<Evaluated> = roots.par_iter().map(|&r| layer.evaluate(r, &unsplit)).collect();
    let mut state = State {
        arena: Arena {
            first_child: Vec::new(),
            upper: Vec::new(),
        },
        best: seed.unwrap_or(Witness {
            value: f64::NEG_INFINITY,
            x: vec![0.0; k],
            y: vec![0.0; k],
            source: "none".into(),
        }),
        heap: BinaryHeap::new(),
        closed_upper: f64::NEG_INFINITY,
        nodes: 0,
        pruned: 0,
        tolerance: search.tolerance,
    };
    state.admit(evaluated);
    let mut split = 0u64;
    let stop = loop {
        crate::cancel::poll();
        let threshold = state.threshold();
        if state.heap.peek().is_none_or(|top| top.upper <= threshold) {
            break Stop::Converged;
        }
        let spent = match search.budget {
            Budget::Unlimited => false,
            Budget::Nodes(max) => state.nodes >= max,
            Budget::Time(max) => started.elapsed() >= max,
        };
        if spent {
            break Stop::Budget;
        }
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH && state.heap.peek().is_some_and(|n| n.upper > threshold) {
            batch.push(state.heap.pop().expect("peeked"));
        }
        let children: Vec<Option<Vec<Evaluated>>> = batch
            .par_iter()
            .map(|node| {
                split_pair(k, (node.x, node.y, node.diagonal))
                    .map(|pairs| pairs.into_iter().map(|p| layer.evaluate(p, node)).collect())
            })
            .collect();
        for (node, kids) in batch.iter().zip(children) {
            match kids {
                Some(kids) => {
                    split += 1;
                    state.arena.first_child[node.id as usize] = state.arena.upper.len() as u32;
                    state.admit(kids);
                }
                None => state.closed_upper = state.closed_upper.max(node.upper),
            }
        }
        progress(&Progress {
            nodes: state.nodes,
            open: state.heap.len(),
            lower: state.best.value,
            upper: state.upper(),
        });
    };
    let upper = state.upper();
    let lower = state.best.value;
    let stop = if stop == Stop::Converged && upper - lower > search.tolerance.gap(lower) {
        Stop::Resolution
    } else {
        stop
    };
    let State {
        arena,
        best,
        nodes,
        pruned,
        ..
    } = state;
    let tree = arena.tree(&root_diagonal);
    BoxCertificate {
        k,
        n: w.nrows(),
        lower,
        upper,
        tolerance: search.tolerance,
        stop,
        nodes,
        split,
        pruned,
        leaves: tree.leaf_upper.len() as u64,
        rounding: 2.0 * layer.rounding,
        argmax: best,
        tree,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::expected::q_matrix;
    use crate::core::network::{Network, WeightScale};
    use crate::rng::{Stream, stream};
    use faer::Mat;
    use proptest::prelude::*;

    fn layer(k: usize, n: usize, seed: u64) -> Mat<f64> {
        let net = Network::gaussian(
            &[k, n],
            WeightScale::Normalized,
            &mut stream(seed, "boxes", 0, Stream::Network),
        );
        net.layers()[0].weight.clone()
    }

    /// `‖D(x, y)‖` straight from the definition (strict masks, the library's closed form of Q).
    fn deviation(w: MatRef<'_, f64>, x: &[f64], y: &[f64]) -> f64 {
        let k = w.ncols();
        let q = q_matrix(x, y);
        let mut d = Mat::from_fn(k, k, |i, j| -q[(i, j)]);
        for r in 0..w.nrows() {
            let (zx, zy): (f64, f64) =
                (0..k).fold((0.0, 0.0), |(a, b), i| (a + w[(r, i)] * x[i], b + w[(r, i)] * y[i]));
            if zx > 0.0 && zy > 0.0 {
                for i in 0..k {
                    for j in 0..k {
                        d[(i, j)] += w[(r, i)] * w[(r, j)];
                    }
                }
            }
        }
        d.self_adjoint_eigenvalues(faer::Side::Lower)
            .expect("symmetric")
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
    }

    fn run(w: MatRef<'_, f64>, tol: f64) -> BoxCertificate {
        let search = BoxSearch {
            tolerance: Tolerance::Absolute(tol),
            budget: Budget::Unlimited,
        };
        certify_boxes(w, &search, None, &mut |_| {})
    }

    #[test]
    fn spectrum_encloses_the_eigenvalues_and_its_diagonal_is_nearly_exact() {
        let mut rng = stream(3, "spectrum", 0, Stream::Block(0));
        for k in 2..=4 {
            for _ in 0..200 {
                let a = Mat::from_fn(k, k, |_, _| rng.random_range(-2.0..2.0));
                let s = Mat::from_fn(k, k, |i, j| a[(i, j)] + a[(j, i)]);
                let mut small = [[0.0; MAX_INPUT]; MAX_INPUT];
                (0..k).for_each(|i| (0..k).for_each(|j| small[i][j] = s[(i, j)]));
                let eig = s.self_adjoint_eigenvalues(faer::Side::Lower).expect("symmetric");
                let (lo, hi) = (eig[0], eig[k - 1]);
                let sp = spectrum(small, k);
                assert!(
                    sp.lower <= lo && sp.upper >= hi,
                    "k = {k}: [{}, {}] ∌ [{lo}, {hi}]",
                    sp.lower,
                    sp.upper
                );
                // Converged Jacobi: the enclosure is tight (≪ any tolerance the search uses).
                assert!(sp.upper - hi < 1e-10 && lo - sp.lower < 1e-10);
                assert!(sp.diag_max <= hi + sp.backward && sp.diag_min >= lo - sp.backward);
            }
        }
    }

    #[test]
    fn q_is_lipschitz_with_constant_one_over_pi_per_argument() {
        // Finite differences along random geodesics: ‖Q(x_t, y) − Q(x, y)‖ / t ≤ 1/π, and the
        // constant is attained (within 2%) by in-plane moves away from y (docs/THEORY.md §14.4).
        let mut rng = stream(4, "lipschitz", 0, Stream::Block(0));
        let mut largest: f64 = 0.0;
        for k in 2..=4 {
            for _ in 0..2000 {
                let x: Vec<f64> = (0..k).map(|_| rng.sample(rand_distr::StandardNormal)).collect();
                let y: Vec<f64> = (0..k).map(|_| rng.sample(rand_distr::StandardNormal)).collect();
                let v: Vec<f64> = (0..k).map(|_| rng.sample(rand_distr::StandardNormal)).collect();
                let x = crate::core::vector::unit(&x);
                let along: f64 = x.iter().zip(&v).map(|(a, b)| a * b).sum();
                let tangent =
                    crate::core::vector::unit(&x.iter().zip(&v).map(|(a, b)| b - along * a).collect::<Vec<_>>());
                let t: f64 = 10f64.powf(rng.random_range(-6.0..0.0));
                let xt: Vec<f64> = x.iter().zip(&tangent).map(|(a, b)| a * t.cos() + b * t.sin()).collect();
                let diff = q_matrix(&xt, &y) - q_matrix(&x, &y);
                let norm = diff
                    .self_adjoint_eigenvalues(faer::Side::Lower)
                    .expect("symmetric")
                    .iter()
                    .fold(0.0f64, |m, e| m.max(e.abs()));
                assert!(
                    norm / t <= LIPSCHITZ_Q * (1.0 + 1e-9) + 1e-9 / t,
                    "k = {k}, t = {t}: {}",
                    norm / t
                );
                largest = largest.max(norm / t);
            }
        }
        assert!(largest > 0.98 * LIPSCHITZ_Q, "the constant is not sharp: {largest}");
    }

    #[test]
    fn k2_interval_overlaps_the_exact_sector_certificate() {
        let w = layer(2, 40, 5);
        let sector = crate::conditions::certify::certify(w.as_ref(), 1e-4);
        let boxes = run(w.as_ref(), 1e-3);
        assert_eq!(boxes.stop, Stop::Converged);
        assert!(
            boxes.lower <= sector.upper && sector.lower <= boxes.upper,
            "{boxes:?} vs {sector:?}"
        );
        assert!(boxes.gap() <= 1e-3);
    }

    #[test]
    fn a_dense_grid_over_both_spheres_lies_under_upper_and_reaches_lower() {
        // Grid: the six faces at 9 × 9 points each (486 directions), all pairs. The grid's own
        // resolution slack: every direction is within 0.2 rad of a grid point and the
        // deviation is not Lipschitz (it jumps at row hyperplanes), so only `max ≤ upper` is
        // exact; `max ≥ lower − 0.25` states how far a grid this coarse may fall short.
        let grid: Vec<Vec<f64>> = SphereBox::faces(3)
            .iter()
            .flat_map(|f| {
                (0..9).flat_map(move |a| {
                    (0..9).map(move |b| {
                        let t = [-1.0 + 0.25 * a as f64, -1.0 + 0.25 * b as f64];
                        unit4(f.point(3, &t), 3)[..3].to_vec()
                    })
                })
            })
            .collect();
        for (n, seed) in [(6, 1), (12, 2), (20, 3)] {
            let w = layer(3, n, seed);
            let cert = run(w.as_ref(), 1e-2);
            let max = grid
                .iter()
                .flat_map(|x| grid.iter().map(move |y| (x, y)))
                .map(|(x, y)| deviation(w.as_ref(), x, y))
                .fold(0.0f64, f64::max);
            assert!(max <= cert.upper, "n = {n}: grid {max} > upper {}", cert.upper);
            assert!(max >= cert.lower - 0.25, "n = {n}: grid {max} ≪ lower {}", cert.lower);
            assert!(cert.gap() <= 1e-2 && cert.stop == Stop::Converged);
            // The lower end is attained: D at the reported pair.
            let at = deviation(w.as_ref(), &cert.argmax.x, &cert.argmax.y);
            assert!(at >= cert.lower - 1e-12, "n = {n}: {at} < {}", cert.lower);
        }
    }

    #[test]
    fn the_result_does_not_depend_on_the_thread_count() {
        let w = layer(3, 30, 7);
        let results: Vec<BoxCertificate> = [1, 3]
            .iter()
            .map(|&t| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .expect("pool")
                    .install(|| run(w.as_ref(), 2e-2))
            })
            .collect();
        assert_eq!(results[0].lower.to_bits(), results[1].lower.to_bits());
        assert_eq!(results[0].upper.to_bits(), results[1].upper.to_bits());
        assert_eq!(results[0].tree, results[1].tree);
    }

    #[test]
    fn a_node_budget_stops_early_with_a_wider_but_valid_interval() {
        let w = layer(3, 30, 8);
        let full = run(w.as_ref(), 1e-2);
        let search = BoxSearch {
            tolerance: Tolerance::Absolute(1e-2),
            budget: Budget::Nodes(500),
        };
        let cut = certify_boxes(w.as_ref(), &search, None, &mut |_| {});
        assert_eq!(cut.stop, Stop::Budget);
        assert!(cut.upper >= full.upper - 1e-12 && cut.lower <= full.lower + 1e-12);
        assert!(cut.upper >= full.lower);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Every pair bound holds at random points of its boxes (k = 3 and 4, random depths).
        #[test]
        fn a_pair_bound_holds_at_random_points_of_its_boxes(
            seed in 0u64..1000,
            k in 3usize..=4,
            splits in proptest::collection::vec(0usize..3, 0..14),
            points in proptest::collection::vec(proptest::collection::vec(0.0f64..1.0, 6), 20),
        ) {
            let w = layer(k, 25, seed);
            let bl = BoxLayer::new(w.as_ref());
            let roots = bl.roots();
            let mut pair = roots[seed as usize % roots.len()];
            let mut parent = bl.evaluate(pair, &bl.unsplit()).node;
            for s in splits {
                let kids = split_pair(k, pair).expect("wide boxes");
                pair = kids[s % kids.len()];
                parent = bl.evaluate(pair, &parent).node;
            }
            for p in &points {
                let pick = |b: &SphereBox, u: &[f64]| {
                    let t: Vec<f64> = (0..k - 1).map(|j| b.lo[j] + u[j] * (b.hi[j] - b.lo[j])).collect();
                    b.point(k, &t)[..k].to_vec()
                };
                let (x, y) = (pick(&pair.0, &p[..3]), pick(&pair.1, &p[3..]));
                let d = deviation(w.as_ref(), &x, &y);
                prop_assert!(d <= parent.upper, "D = {d} > bound {}", parent.upper);
            }
        }
    }
}
