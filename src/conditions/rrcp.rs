//! Sampled lower bounds on the RRCP constant of a measurement matrix `A` on the range of a
//! generator `G` (docs/THEORY.md §2):
//!
//! `sup |⟨(A_{G(x)}ᵀ A_{G(y)} − Φ_{G(x),G(y)})(G(x_1) − G(x_2)), G(x_3) − G(x_4)⟩|
//!      / (‖G(x_1) − G(x_2)‖ ‖G(x_3) − G(x_4)‖) = L ε`
//!
//! over latent tuples `(x, y, x_1, x_2, x_3, x_4) ∈ (R^k)^6`. Every value this module returns is a
//! **lower bound** on that supremum: it can refute a claimed ε, never certify one.
//!
//! Two search modes:
//!
//! - [`SearchMode::Random`]: the ratio of sampled tuples ([`tuple_ratio`]), computed without any
//!   `n × n` matrix: `⟨A_zᵀA_w u, v⟩ = Σ_j sgn(a_jᵀz) sgn(a_jᵀw) (a_jᵀu)(a_jᵀv)` (docs/THEORY.md §1,
//!   `A_z = diag(sgn(Az)) A`) and `⟨Φ u, v⟩` from [`crate::core::expected::phi_form`].
//! - [`SearchMode::Subspace`] (docs/THEORY.md §2, the sharper search): at fixed `x, y, x_1, x_3` the
//!   supremum over all secants in the linear pieces through `G(x_1)` and `G(x_3)` is
//!   `‖B_1ᵀ (A_{G(x)}ᵀ A_{G(y)} − Φ) B_3‖`, `B_i` an orthonormal basis of `range(Λ_{x_i})`
//!   ([`subspace_sup`]). `B_1ᵀ A_zᵀA_w B_3 = (A B_1)ᵀ diag(s) (A B_3)` with
//!   `s_j = sgn(a_jᵀz) sgn(a_jᵀw)`; `B_i` comes from a thin SVD of `Λ_{x_i}` with a numerical
//!   rank cut (a rank-deficient piece gives fewer columns, an all-zero piece none).
//!
//! Sampled tuples mix shapes that stress the bound: independent Gaussian points, near-coincident
//! pairs `x_2 = x_1 + s‖x_1‖ĝ` (secants inside one piece), near-aligned and near-antipodal
//! `y = ±x + s‖x‖ĝ`, shared pieces (`x_3 = x_1`) and secants at the sign points (`x_1 = x`,
//! `x_3 = y`), with `s` log-uniform over `[1e-6, 1]`. The worst sampled tuples are then refined
//! by a local search (Gaussian moves of one or all components with per-component adaptive
//! steps; a move is kept when the value does not decrease, so plateaus of the piecewise-constant
//! subspace value can be crossed); the gain is recorded.
//!
//! Reproducibility: block `b` of the sampled tuples draws from
//! `stream(seed, "<experiment>/<mode>", trial, Stream::Block(b))` and refinement start `s` from
//! `stream(seed, "<experiment>/<mode>/refine", trial, Stream::Block(s))`; blocks and starts run in
//! parallel (rayon) and are reduced in index order, and all matrix products inside run with
//! `Par::Seq`, so results are identical for any thread count.

use faer::linalg::matmul::matmul;
use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
use faer::{Accum, Mat, MatRef, Par};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::core::expected::phi_form;
use crate::core::network::Network;
use crate::core::vector::{angle, norm, sgn};
use crate::rng::{Stream, stream};

/// The RRCP constant `L` of the paper (docs/THEORY.md §2): a search's ε is its supremum / `L`.
pub const RRCP_CONSTANT: f64 = 31.0;
/// Tuples of a random-mode block (the unit of parallel work and of the convergence trace):
/// `6 × 32` columns per batched forward pass.
pub const RANDOM_BLOCK: usize = 32;
/// Tuples of a subspace-mode block: one batched forward pass of its `4 × 16` points, then a
/// compact Jacobian and a thin SVD per piece.
pub const SUBSPACE_BLOCK: usize = 16;
/// Smallest relative offset `s` of near-coincident, near-aligned and near-antipodal points
/// (log-uniform over `[10^SMALLEST_OFFSET_LOG10, 1]`): six decades reach well inside a
/// linear piece of a 500-wide layer while staying far above rounding.
const SMALLEST_OFFSET_LOG10: f64 = -6.0;
/// Singular values of `Λ_x` below `σ_max · max(n, k) · f64::EPSILON` count as zero (the
/// usual numerical-rank cut: below it a direction is rounding noise).
const RANK_TOL_FACTOR: f64 = f64::EPSILON;
/// Initial relative step of the local search (a move is `σ · ‖c‖ · ĝ` for component `c`).
const INITIAL_STEP: f64 = 0.05;
/// Largest relative step (a move as large as the component itself).
const MAX_STEP: f64 = 1.0;
/// Below this relative step a component is stuck; its step restarts at [`INITIAL_STEP`].
const MIN_STEP: f64 = 1e-10;
/// Step factors after an improvement, a tie (accepted: plateau move) and a rejection.
const GROW: f64 = 2.0;
const TIE_GROW: f64 = 1.25;
const SHRINK: f64 = 0.7;
/// Length used for a zero component when sizing a move (a zero offset can still grow).
const SCALE_FLOOR: f64 = 1e-8;
/// At most this many refinement points in the convergence trace per search.
const TRACE_REFINE_POINTS: usize = 50;
/// Halvings tried when shrinking a secant to stay inside the linear piece of `x_1`.
const PIECE_HALVINGS: usize = 80;

/// The two search modes (both give lower bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// The ratio of sampled latent tuples `(x, y, x_1, x_2, x_3, x_4)`.
    Random,
    /// `‖B_1ᵀ (A_{G(x)}ᵀA_{G(y)} − Φ) B_3‖` at sampled `(x, y, x_1, x_3)` (docs/THEORY.md §2).
    Subspace,
}

impl SearchMode {
    /// The name written to files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Subspace => "subspace",
        }
    }

    fn block(self) -> usize {
        match self {
            Self::Random => RANDOM_BLOCK,
            Self::Subspace => SUBSPACE_BLOCK,
        }
    }
}

/// How hard to search.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct SearchSettings {
    /// Sampled tuples (before refinement), at least 1.
    pub tuples: usize,
    /// Worst sampled tuples refined by local search (at most `tuples`).
    pub refine_starts: usize,
    /// Local-search steps per start.
    pub refine_steps: usize,
}

impl SearchSettings {
    /// Units of work reported to the progress callback by [`search`]: one per sampled block
    /// and one per refinement start.
    pub fn work_units(&self, mode: SearchMode) -> u64 {
        (self.tuples.div_ceil(mode.block()) + self.refine_starts.min(self.tuples)) as u64
    }
}

/// Where a search draws its randomness: `stream(seed, "<experiment>/<mode>…", trial, …)`.
#[derive(Clone, Copy, Debug)]
pub struct StreamKey<'a> {
    /// Master seed.
    pub seed: u64,
    /// Experiment name; must differ between settings that need independent draws (e.g. it
    /// names `m`).
    pub experiment: &'a str,
    /// Trial index.
    pub trial: u64,
}

/// A latent tuple `(x, y, x_1, x_2, x_3, x_4)`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LatentTuple {
    /// `x` (sets the signs of `A_{G(x)}`).
    pub x: Vec<f64>,
    /// `y` (sets the signs of `A_{G(y)}`).
    pub y: Vec<f64>,
    /// `x_1`: first secant `G(x_1) − G(x_2)`.
    pub x1: Vec<f64>,
    /// `x_2`.
    pub x2: Vec<f64>,
    /// `x_3`: second secant `G(x_3) − G(x_4)`.
    pub x3: Vec<f64>,
    /// `x_4`.
    pub x4: Vec<f64>,
}

/// One point of a convergence trace: the best value after `evaluated` evaluations.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TracePoint {
    /// `"sample"` or `"refine"`.
    pub phase: &'static str,
    /// Evaluations so far (sampled tuples, then refinement steps of all starts in lockstep).
    pub evaluated: usize,
    /// Best value so far (a lower bound on the supremum).
    pub best: f64,
}

/// What a search found. All values are lower bounds on the RRCP supremum `L ε`.
#[derive(Clone, Debug)]
pub struct SearchOutcome {
    /// The mode.
    pub mode: SearchMode,
    /// Best value over the sampled tuples.
    pub sup_sampled: f64,
    /// Best value after refinement (`≥ sup_sampled`).
    pub sup: f64,
    /// `sup − sup_sampled`.
    pub refinement_gain: f64,
    /// A tuple attaining `sup` (in subspace mode, `x_2`, `x_4` are the endpoints of the
    /// maximising secants, inside the pieces of `x_1`, `x_3`; see [`subspace_secant_tuple`]).
    pub argmax: LatentTuple,
    /// Tuples evaluated by sampling.
    pub evaluated_sampled: usize,
    /// Tuples evaluated by refinement.
    pub evaluated_refined: usize,
    /// Best value vs evaluations.
    pub trace: Vec<TracePoint>,
}

// ---------------------------------------------------------------------------------------------
// Point data: what a tuple's value needs from each of its latent points
// ---------------------------------------------------------------------------------------------

/// `G(p)` and `A G(p)` of a latent point.
#[derive(Clone, Debug)]
struct Output {
    g: Vec<f64>,
    ag: Vec<f64>,
}

/// The linear piece through `G(p)`: an orthonormal basis `B` of `range(Λ_p)`, `A B`, and
/// `V_r Σ_r^{-1}` (so that `Λ_p V_r Σ_r^{-1} = B`: latent directions of the basis vectors).
#[derive(Clone, Debug)]
struct Piece {
    basis: Mat<f64>,
    a_basis: Mat<f64>,
    latent: Mat<f64>,
}

#[derive(Clone, Debug)]
enum PointData {
    Output(Output),
    Piece(Piece),
}

impl PointData {
    fn output(&self) -> &Output {
        match self {
            Self::Output(o) => o,
            Self::Piece(_) => unreachable!("an output point"),
        }
    }

    fn piece(&self) -> &Piece {
        match self {
            Self::Piece(p) => p,
            Self::Output(_) => unreachable!("a piece point"),
        }
    }
}

/// Latent points → `k × P` matrix.
fn columns(points: &[&[f64]]) -> Mat<f64> {
    let k = points.first().map_or(0, |p| p.len());
    Mat::from_fn(k, points.len(), |i, j| points[j][i])
}

/// `G` of each point (one batched forward pass) and, when `a` is given, `A G` (one product).
fn outputs(net: &Network, a: Option<MatRef<'_, f64>>, points: &[&[f64]]) -> Vec<Output> {
    if points.is_empty() {
        return Vec::new();
    }
    let (_, g) = net.forward_batch(columns(points).as_ref());
    let ag = a.map(|a| {
        let mut ag = Mat::zeros(a.nrows(), g.ncols());
        matmul(ag.as_mut(), Accum::Replace, a, g.as_ref(), 1.0, Par::Seq);
        ag
    });
    (0..points.len())
        .map(|j| Output {
            g: g.col_as_slice(j).to_vec(),
            ag: ag.as_ref().map_or_else(Vec::new, |ag| ag.col_as_slice(j).to_vec()),
        })
        .collect()
}

/// `Λ_x` (the Jacobian of `G`, `= W_{d,+,x} … W_{1,+,x}` for a bias-free ReLU network) restricted
/// to its possibly nonzero rows: returns those output rows and the `|rows| × k` matrix. Agrees
/// with [`Network::active_product`] (zero elsewhere).
pub fn active_jacobian(net: &Network, x: &[f64]) -> (Vec<usize>, Mat<f64>) {
    let trace = net.forward(x);
    let pre: Vec<&[f64]> = trace.pre.iter().map(Vec::as_slice).collect();
    active_jacobian_from(net, &pre)
}

/// [`active_jacobian`] from the pre-activations `z_i` of every layer. Each layer multiplies only
/// the rows whose slope `σ'(z_i)` is nonzero and the columns that were nonzero before:
/// `J_i = diag(σ'(z_i))[act_i] W_i[act_i, act_{i−1}] J_{i−1}`, which for ReLU layers (about half
/// the units active) does about a quarter of the work of the dense product in the last layer.
fn active_jacobian_from(net: &Network, pre: &[&[f64]]) -> (Vec<usize>, Mat<f64>) {
    let k = net.latent_dim();
    let mut rows: Vec<usize> = (0..k).collect();
    let mut jac = Mat::<f64>::identity(k, k);
    for (layer, z) in net.layers().iter().zip(pre) {
        let slope: Vec<f64> = z.iter().map(|&v| layer.activation.derivative(v)).collect();
        let active: Vec<usize> = (0..z.len()).filter(|&r| slope[r] != 0.0).collect();
        let mut w = Mat::<f64>::zeros(active.len(), rows.len());
        for (j, &c) in rows.iter().enumerate() {
            let src = layer.weight.col_as_slice(c);
            w.col_as_slice_mut(j)
                .iter_mut()
                .zip(&active)
                .for_each(|(v, &r)| *v = src[r]);
        }
        let mut next = Mat::zeros(active.len(), k);
        matmul(next.as_mut(), Accum::Replace, w.as_ref(), jac.as_ref(), 1.0, Par::Seq);
        for c in 0..k {
            next.col_as_slice_mut(c)
                .iter_mut()
                .zip(&active)
                .for_each(|(v, &r)| *v *= slope[r]);
        }
        rows = active;
        jac = next;
    }
    (rows, jac)
}

/// Thin SVD `M = U Σ Vᵀ`, sequential.
fn thin_svd(m: MatRef<'_, f64>) -> (Mat<f64>, Vec<f64>, Mat<f64>) {
    let (rows, cols) = m.shape();
    let size = rows.min(cols);
    let mut s = faer::diag::Diag::<f64>::zeros(size);
    let mut u = Mat::zeros(rows, size);
    let mut v = Mat::zeros(cols, size);
    let req = svd_scratch::<f64>(
        rows,
        cols,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::Thin,
        Par::Seq,
        Default::default(),
    );
    let mut buf = faer::dyn_stack::MemBuffer::new(req);
    let ok = svd(
        m,
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        Par::Seq,
        faer::dyn_stack::MemStack::new(&mut buf),
        Default::default(),
    );
    if ok.is_err() || size == 0 {
        return (Mat::zeros(rows, 0), Vec::new(), Mat::zeros(cols, 0));
    }
    let values = (0..size).map(|i| s.column_vector()[i]).collect();
    (u, values, v)
}

/// Largest singular value (sequential SVD without vectors); 0 for an empty matrix, NaN if the
/// SVD fails to converge.
fn spectral_norm(m: MatRef<'_, f64>) -> f64 {
    let (rows, cols) = m.shape();
    let size = rows.min(cols);
    if size == 0 {
        return 0.0;
    }
    let mut s = faer::diag::Diag::<f64>::zeros(size);
    let req = svd_scratch::<f64>(
        rows,
        cols,
        ComputeSvdVectors::No,
        ComputeSvdVectors::No,
        Par::Seq,
        Default::default(),
    );
    let mut buf = faer::dyn_stack::MemBuffer::new(req);
    let stack = faer::dyn_stack::MemStack::new(&mut buf);
    match svd(m, s.as_mut(), None, None, Par::Seq, stack, Default::default()) {
        Ok(()) => s.column_vector()[0],
        Err(_) => f64::NAN,
    }
}

/// The piece through `G(x)` from the nonzero rows of `Λ_x` ([`active_jacobian`]): a thin SVD of
/// the compact matrix, the numerical rank cut, and the basis embedded back into `R^n`.
fn piece_of(a: MatRef<'_, f64>, rows: &[usize], compact: MatRef<'_, f64>) -> Piece {
    let n = a.ncols();
    let (u, s, v) = thin_svd(compact);
    let cut = s.first().copied().unwrap_or(0.0) * (n.max(compact.ncols()) as f64) * RANK_TOL_FACTOR;
    let rank = s.iter().take_while(|&&sv| sv > cut && sv > 0.0).count();
    let mut basis = Mat::<f64>::zeros(n, rank);
    for j in 0..rank {
        let (src, dst) = (u.col_as_slice(j), basis.col_as_slice_mut(j));
        rows.iter().zip(src).for_each(|(&r, &v)| dst[r] = v);
    }
    let latent = Mat::from_fn(v.nrows(), rank, |i, j| v[(i, j)] / s[j]);
    // A B = A[:, rows] U_r: only the columns of A where the piece lives.
    let mut a_rows = Mat::<f64>::zeros(a.nrows(), rows.len());
    for (i, &r) in rows.iter().enumerate() {
        a_rows.col_mut(i).copy_from(a.col(r));
    }
    let mut a_basis = Mat::zeros(a.nrows(), rank);
    matmul(
        a_basis.as_mut(),
        Accum::Replace,
        a_rows.as_ref(),
        u.subcols(0, rank),
        1.0,
        Par::Seq,
    );
    Piece { basis, a_basis, latent }
}

/// The pieces through `G(p)` of each point (one batched forward pass for the activation
/// patterns, then a compact Jacobian and a thin SVD each).
fn pieces(net: &Network, a: MatRef<'_, f64>, points: &[&[f64]]) -> Vec<Piece> {
    if points.is_empty() {
        return Vec::new();
    }
    let (pre, _) = net.forward_batch(columns(points).as_ref());
    (0..points.len())
        .map(|p| {
            let z: Vec<&[f64]> = pre.iter().map(|m| m.col_as_slice(p)).collect();
            let (rows, compact) = active_jacobian_from(net, &z);
            piece_of(a, &rows, compact.as_ref())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// `⟨A_zᵀ A_w a, b⟩ = Σ_j sgn((Az)_j) sgn((Aw)_j) (Aa)_j (Ab)_j` from the products `Az`, `Aw`,
/// `Aa`, `Ab` (docs/THEORY.md §1: `A_z = diag(sgn(Az)) A`, `sgn(0) = 0`), in `O(m)`.
pub fn signed_gram_bilinear(az: &[f64], aw: &[f64], aa: &[f64], ab: &[f64]) -> f64 {
    az.iter()
        .zip(aw)
        .zip(aa.iter().zip(ab))
        .map(|((z, w), (p, q))| sgn(*z) * sgn(*w) * p * q)
        .sum()
}

/// The RRCP ratios of tuples given `G` of their six points `x, y, x_1, x_2, x_3, x_4`; 0 when a
/// secant is 0. The secants are formed in `R^n` before multiplying by `A` (one product
/// `A [G(x), G(y), u, v]` for all tuples), so a short secant keeps its relative accuracy.
fn random_ratios(a: MatRef<'_, f64>, tuples: &[[&[f64]; 6]]) -> Vec<f64> {
    if tuples.is_empty() {
        return Vec::new();
    }
    let n = a.ncols();
    let diff = |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(s, t)| s - t).collect() };
    let secants: Vec<(Vec<f64>, Vec<f64>)> = tuples.iter().map(|g| (diff(g[2], g[3]), diff(g[4], g[5]))).collect();
    let mut cols = Mat::<f64>::zeros(n, 4 * tuples.len());
    for (t, (g, (u, v))) in tuples.iter().zip(&secants).enumerate() {
        for (c, src) in [g[0], g[1], u.as_slice(), v.as_slice()].into_iter().enumerate() {
            cols.col_as_slice_mut(4 * t + c).copy_from_slice(src);
        }
    }
    let mut prod = Mat::zeros(a.nrows(), cols.ncols());
    matmul(prod.as_mut(), Accum::Replace, a, cols.as_ref(), 1.0, Par::Seq);
    tuples
        .iter()
        .zip(&secants)
        .enumerate()
        .map(|(t, (g, (u, v)))| {
            let (nu, nv) = (norm(u), norm(v));
            if nu == 0.0 || nv == 0.0 {
                return 0.0;
            }
            let col = |c: usize| prod.col_as_slice(4 * t + c);
            let empirical = signed_gram_bilinear(col(0), col(1), col(2), col(3));
            let expected = phi_form(g[0], g[1]).bilinear(u, v);
            (empirical - expected).abs() / (nu * nv)
        })
        .collect()
}

/// `B_1ᵀ (A_zᵀ A_w − Φ_{z,w}) B_3` from the outputs of `x, y` and the pieces of `x_1, x_3`.
fn subspace_matrix(ox: &Output, oy: &Output, p1: &Piece, p3: &Piece) -> Mat<f64> {
    let signs: Vec<f64> = ox.ag.iter().zip(&oy.ag).map(|(z, w)| sgn(*z) * sgn(*w)).collect();
    let signed = Mat::from_fn(p1.a_basis.nrows(), p1.a_basis.ncols(), |i, j| {
        signs[i] * p1.a_basis[(i, j)]
    });
    let mut dev = Mat::zeros(p1.basis.ncols(), p3.basis.ncols());
    matmul(
        dev.as_mut(),
        Accum::Replace,
        signed.transpose(),
        p3.a_basis.as_ref(),
        1.0,
        Par::Seq,
    );
    let phi = phi_form(&ox.g, &oy.g).sandwich(p1.basis.as_ref(), p3.basis.as_ref());
    dev - phi
}

/// Values of many tuples from their point data (random mode: one product for all).
fn values_of(mode: SearchMode, a: MatRef<'_, f64>, data: &[&[PointData]]) -> Vec<f64> {
    match mode {
        SearchMode::Random => {
            let gs: Vec<[&[f64]; 6]> = data
                .iter()
                .map(|d| std::array::from_fn(|i| d[i].output().g.as_slice()))
                .collect();
            random_ratios(a, &gs)
        }
        SearchMode::Subspace => data
            .iter()
            .map(|d| {
                let m = subspace_matrix(d[0].output(), d[1].output(), d[2].piece(), d[3].piece());
                spectral_norm(m.as_ref())
            })
            .collect(),
    }
}

fn value_of(mode: SearchMode, a: MatRef<'_, f64>, data: &[PointData]) -> f64 {
    values_of(mode, a, &[data])[0]
}

/// The RRCP ratio of one latent tuple (docs/THEORY.md §2):
/// `|⟨(A_{G(x)}ᵀA_{G(y)} − Φ_{G(x),G(y)})(G(x_1) − G(x_2)), G(x_3) − G(x_4)⟩| /
/// (‖G(x_1) − G(x_2)‖ ‖G(x_3) − G(x_4)‖)`, without any `n × n` matrix; 0 when a secant is 0.
#[track_caller]
pub fn tuple_ratio(net: &Network, a: MatRef<'_, f64>, t: &LatentTuple) -> f64 {
    assert_eq!(a.ncols(), net.output_dim(), "A needs n = {} columns", net.output_dim());
    let o = outputs(net, None, &[&t.x, &t.y, &t.x1, &t.x2, &t.x3, &t.x4]);
    random_ratios(a, &[std::array::from_fn(|i| o[i].g.as_slice())])[0]
}

/// The subspace value at `(x, y, x_1, x_3)` and the secants attaining it.
#[derive(Clone, Debug)]
pub struct SubspaceSup {
    /// `‖B_1ᵀ (A_{G(x)}ᵀ A_{G(y)} − Φ) B_3‖`: the supremum of the RRCP ratio over secants in
    /// the linear pieces through `G(x_1)` and `G(x_3)`.
    pub value: f64,
    /// Numerical rank of `Λ_{x_1}` (columns of `B_1`).
    pub rank1: usize,
    /// Numerical rank of `Λ_{x_3}`.
    pub rank3: usize,
    /// Unit secant direction `B_1 p` in `R^n` (`p` the top left singular vector); empty if
    /// either rank is 0.
    pub secant1: Vec<f64>,
    /// Unit secant direction `B_3 q`.
    pub secant3: Vec<f64>,
    /// A latent direction `δ_1` with `Λ_{x_1} δ_1 = secant1`.
    pub latent1: Vec<f64>,
    /// A latent direction `δ_3` with `Λ_{x_3} δ_3 = secant3`.
    pub latent3: Vec<f64>,
}

/// The supremum of the RRCP ratio over all secants in the linear pieces through `G(x_1)` and
/// `G(x_3)` at fixed `x, y` (docs/THEORY.md §2, the sharper search), with the maximising secants.
#[track_caller]
pub fn subspace_sup(net: &Network, a: MatRef<'_, f64>, x: &[f64], y: &[f64], x1: &[f64], x3: &[f64]) -> SubspaceSup {
    assert_eq!(a.ncols(), net.output_dim(), "A needs n = {} columns", net.output_dim());
    let o = outputs(net, Some(a), &[x, y]);
    let p = pieces(net, a, &[x1, x3]);
    subspace_sup_of(&o[0], &o[1], &p[0], &p[1])
}

fn subspace_sup_of(ox: &Output, oy: &Output, p1: &Piece, p3: &Piece) -> SubspaceSup {
    let (rank1, rank3) = (p1.basis.ncols(), p3.basis.ncols());
    let m = subspace_matrix(ox, oy, p1, p3);
    let (u, s, v) = thin_svd(m.as_ref());
    if s.is_empty() {
        let empty = Vec::new();
        return SubspaceSup {
            value: 0.0,
            rank1,
            rank3,
            secant1: empty.clone(),
            secant3: empty.clone(),
            latent1: empty.clone(),
            latent3: empty,
        };
    }
    let apply = |b: &Mat<f64>, c: MatRef<'_, f64>| -> Vec<f64> {
        (0..b.nrows())
            .map(|i| (0..b.ncols()).map(|j| b[(i, j)] * c[(j, 0)]).sum())
            .collect()
    };
    SubspaceSup {
        value: s[0],
        rank1,
        rank3,
        secant1: apply(&p1.basis, u.subcols(0, 1)),
        secant3: apply(&p3.basis, v.subcols(0, 1)),
        latent1: apply(&p1.latent, u.subcols(0, 1)),
        latent3: apply(&p3.latent, v.subcols(0, 1)),
    }
}

/// Signs of every pre-activation (`z > 0`) of a point: its activation pattern.
fn pattern(net: &Network, x: &[f64]) -> Vec<bool> {
    net.forward(x).pre.iter().flatten().map(|&z| z > 0.0).collect()
}

/// `x_1 − t δ` for the largest `t = ‖x_1‖/‖δ‖ · 2^{−i}` whose activation pattern equals that of
/// `x_1` (the pieces are convex cones, so the whole segment then lies in the piece and
/// `G(x_1) − G(x_2) = t Λ_{x_1} δ` exactly). Falls back to the smallest `t` tried.
fn endpoint_in_piece(net: &Network, x1: &[f64], delta: &[f64]) -> Vec<f64> {
    let (nx, nd) = (norm(x1), norm(delta));
    if nd == 0.0 {
        return x1.to_vec();
    }
    let target = pattern(net, x1);
    let mut t = nx.max(SCALE_FLOOR) / nd;
    let mut x2 = x1.to_vec();
    for _ in 0..PIECE_HALVINGS {
        x2 = x1.iter().zip(delta).map(|(a, d)| a - t * d).collect();
        if pattern(net, &x2) == target {
            break;
        }
        t *= 0.5;
    }
    x2
}

/// The subspace value at `(x, y, x_1, x_3)` together with a full latent tuple attaining it:
/// `x_2 = x_1 − t δ_1`, `x_4 = x_3 − t' δ_3` with the maximising latent directions, scaled to
/// stay in the pieces of `x_1`, `x_3`, so that [`tuple_ratio`] of the tuple equals the value
/// up to rounding (for a bias-free ReLU network).
pub fn subspace_secant_tuple(
    net: &Network,
    a: MatRef<'_, f64>,
    x: &[f64],
    y: &[f64],
    x1: &[f64],
    x3: &[f64],
) -> (SubspaceSup, LatentTuple) {
    let sup = subspace_sup(net, a, x, y, x1, x3);
    let x2 = endpoint_in_piece(net, x1, &sup.latent1);
    let x4 = endpoint_in_piece(net, x3, &sup.latent3);
    let tuple = LatentTuple {
        x: x.to_vec(),
        y: y.to_vec(),
        x1: x1.to_vec(),
        x2,
        x3: x3.to_vec(),
        x4,
    };
    (sup, tuple)
}

// ---------------------------------------------------------------------------------------------
// Representation of a tuple for sampling and local search
// ---------------------------------------------------------------------------------------------

/// A tuple as independently movable components: `x`, the offset `dy` of `y = σ x + dy`
/// (`σ ∈ {−1, 0, 1}` keeps near-(anti)aligned pairs near), then `x_1, d_2, x_3, d_4` with
/// `x_2 = x_1 + d_2`, `x_4 = x_3 + d_4` (random mode) or `x_1, x_3` (subspace mode).
#[derive(Clone, Debug)]
struct Rep {
    comps: Vec<Vec<f64>>,
    y_sign: f64,
}

impl Rep {
    fn y(&self) -> Vec<f64> {
        self.comps[0]
            .iter()
            .zip(&self.comps[1])
            .map(|(x, d)| self.y_sign * x + d)
            .collect()
    }

    /// The latent points the value depends on: `x, y, x_1, x_2, x_3, x_4` or `x, y, x_1, x_3`.
    fn points(&self, mode: SearchMode) -> Vec<Vec<f64>> {
        let c = &self.comps;
        let plus = |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(s, t)| s + t).collect() };
        match mode {
            SearchMode::Random => {
                vec![
                    c[0].clone(),
                    self.y(),
                    c[2].clone(),
                    plus(&c[2], &c[3]),
                    c[4].clone(),
                    plus(&c[4], &c[5]),
                ]
            }
            SearchMode::Subspace => vec![c[0].clone(), self.y(), c[2].clone(), c[3].clone()],
        }
    }

    /// From a full tuple (subspace mode ignores `x_2`, `x_4`): `y` is written as `±x + dy`
    /// when that offset is shorter than `y`.
    fn from_tuple(mode: SearchMode, t: &LatentTuple) -> Self {
        let minus = |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(s, u)| s - u).collect() };
        let neg_x: Vec<f64> = t.x.iter().map(|v| -v).collect();
        let (near, far) = (minus(&t.y, &t.x), minus(&t.y, &neg_x));
        let (y_sign, dy) = if norm(&near) < norm(&t.y) && norm(&near) <= norm(&far) {
            (1.0, near)
        } else if norm(&far) < norm(&t.y) {
            (-1.0, far)
        } else {
            (0.0, t.y.clone())
        };
        let comps = match mode {
            SearchMode::Random => {
                vec![
                    t.x.clone(),
                    dy,
                    t.x1.clone(),
                    minus(&t.x2, &t.x1),
                    t.x3.clone(),
                    minus(&t.x4, &t.x3),
                ]
            }
            SearchMode::Subspace => vec![t.x.clone(), dy, t.x1.clone(), t.x3.clone()],
        };
        Self { comps, y_sign }
    }
}

fn gaussian<R: Rng + ?Sized>(k: usize, rng: &mut R) -> Vec<f64> {
    (0..k).map(|_| StandardNormal.sample(rng)).collect()
}

/// A uniformly random unit vector.
fn direction<R: Rng + ?Sized>(k: usize, rng: &mut R) -> Vec<f64> {
    loop {
        let g = gaussian(k, rng);
        let r = norm(&g);
        if r > 0.0 {
            return g.iter().map(|v| v / r).collect();
        }
    }
}

/// `s ‖p‖ ĝ` with `s` log-uniform over `[10^SMALLEST_OFFSET_LOG10, 1]`.
fn small_offset<R: Rng + ?Sized>(p: &[f64], rng: &mut R) -> Vec<f64> {
    let s = 10f64.powf(SMALLEST_OFFSET_LOG10 * rng.random::<f64>());
    let r = norm(p).max(SCALE_FLOOR);
    direction(p.len(), rng).into_iter().map(|v| s * r * v).collect()
}

/// Sampling shapes of the random mode (cycled by tuple index).
const RANDOM_SHAPES: usize = 6;
/// Sampling shapes of the subspace mode.
const SUBSPACE_SHAPES: usize = 5;

/// The sampled tuple of shape `shape` (see the module doc).
fn sample_rep<R: Rng + ?Sized>(mode: SearchMode, shape: usize, k: usize, rng: &mut R) -> Rep {
    let x = gaussian(k, rng);
    // y = σ x + dy: independent (σ = 0), near-aligned (σ = 1) or near-antipodal (σ = −1).
    let (y_sign, dy) = match (mode, shape) {
        (SearchMode::Random, 0 | 1) | (SearchMode::Subspace, 0) => (0.0, gaussian(k, rng)),
        (SearchMode::Random, 3) | (SearchMode::Subspace, 2) => (-1.0, small_offset(&x, rng)),
        _ => (1.0, small_offset(&x, rng)),
    };
    let y: Vec<f64> = x.iter().zip(&dy).map(|(a, d)| y_sign * a + d).collect();
    match mode {
        SearchMode::Random => {
            let (x1, x3) = match shape {
                4 => {
                    let x1 = gaussian(k, rng);
                    (x1.clone(), x1)
                }
                5 => (x.clone(), y),
                _ => (gaussian(k, rng), gaussian(k, rng)),
            };
            let (d2, d4) = if shape == 0 {
                let (x2, x4) = (gaussian(k, rng), gaussian(k, rng));
                let minus = |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(s, t)| s - t).collect() };
                (minus(&x2, &x1), minus(&x4, &x3))
            } else {
                (small_offset(&x1, rng), small_offset(&x3, rng))
            };
            Rep {
                comps: vec![x, dy, x1, d2, x3, d4],
                y_sign,
            }
        }
        SearchMode::Subspace => {
            let (x1, x3) = match shape {
                3 => {
                    let x1 = gaussian(k, rng);
                    (x1.clone(), x1)
                }
                4 => (x.clone(), y),
                _ => (gaussian(k, rng), gaussian(k, rng)),
            };
            Rep {
                comps: vec![x, dy, x1, x3],
                y_sign,
            }
        }
    }
}

/// Point data of many tuples' points at once (`kinds[i]` says whether point `i` of a tuple is
/// an output or a piece point).
fn point_data(net: &Network, a: MatRef<'_, f64>, mode: SearchMode, tuples: &[Vec<Vec<f64>>]) -> Vec<Vec<PointData>> {
    let per = tuples.first().map_or(0, Vec::len);
    let is_piece = |i: usize| mode == SearchMode::Subspace && i >= 2;
    let out_pts: Vec<&[f64]> = tuples
        .iter()
        .flat_map(|t| (0..per).filter(|&i| !is_piece(i)).map(move |i| t[i].as_slice()))
        .collect();
    let piece_pts: Vec<&[f64]> = tuples
        .iter()
        .flat_map(|t| (0..per).filter(|&i| is_piece(i)).map(move |i| t[i].as_slice()))
        .collect();
    let mut outs = outputs(net, (mode == SearchMode::Subspace).then_some(a), &out_pts).into_iter();
    let mut pcs = pieces(net, a, &piece_pts).into_iter();
    tuples
        .iter()
        .map(|_| {
            (0..per)
                .map(|i| {
                    if is_piece(i) {
                        PointData::Piece(pcs.next().expect("one piece per piece point"))
                    } else {
                        PointData::Output(outs.next().expect("one output per output point"))
                    }
                })
                .collect()
        })
        .collect()
}

/// The latent tuple reported for a representation (subspace: maximising secant endpoints).
fn report_tuple(net: &Network, a: MatRef<'_, f64>, mode: SearchMode, rep: &Rep) -> LatentTuple {
    let p = rep.points(mode);
    match mode {
        SearchMode::Random => LatentTuple {
            x: p[0].clone(),
            y: p[1].clone(),
            x1: p[2].clone(),
            x2: p[3].clone(),
            x3: p[4].clone(),
            x4: p[5].clone(),
        },
        SearchMode::Subspace => subspace_secant_tuple(net, a, &p[0], &p[1], &p[2], &p[3]).1,
    }
}

// ---------------------------------------------------------------------------------------------
// Local search
// ---------------------------------------------------------------------------------------------

/// What one local search did.
#[derive(Clone, Debug)]
pub struct Refinement {
    /// Value of the start tuple (as this evaluator computes it).
    pub start_value: f64,
    /// Best value reached (`≥ start_value`).
    pub value: f64,
    /// The tuple reaching it (subspace mode: with maximising secant endpoints).
    pub tuple: LatentTuple,
    /// Best value after each step (non-decreasing).
    pub history: Vec<f64>,
}

/// The internal local search from a representation.
fn refine_rep<R: Rng + ?Sized>(
    net: &Network,
    a: MatRef<'_, f64>,
    mode: SearchMode,
    start: Rep,
    steps: usize,
    rng: &mut R,
) -> (f64, f64, Rep, Vec<f64>) {
    let mut rep = start;
    let mut points = rep.points(mode);
    let mut data = point_data(net, a, mode, std::slice::from_ref(&points))
        .pop()
        .expect("one tuple");
    let mut value = value_of(mode, a, &data);
    if value.is_nan() {
        value = f64::NEG_INFINITY;
    }
    let start_value = value;
    let nc = rep.comps.len();
    let mut step = vec![INITIAL_STEP; nc];
    let mut history = Vec::with_capacity(steps);
    for _ in 0..steps {
        crate::cancel::poll();
        let moved: Vec<usize> = if rng.random::<f64>() < 0.5 {
            vec![rng.random_range(0..nc)]
        } else {
            (0..nc).collect()
        };
        let mut cand = rep.clone();
        for &c in &moved {
            let scale = step[c] * norm(&cand.comps[c]).max(SCALE_FLOOR);
            let g = direction(cand.comps[c].len(), rng);
            cand.comps[c].iter_mut().zip(&g).for_each(|(v, d)| *v += scale * d);
        }
        let cand_points = cand.points(mode);
        // Recompute only the points that moved.
        let changed: Vec<usize> = (0..points.len()).filter(|&i| cand_points[i] != points[i]).collect();
        let mut cand_data = data.clone();
        if !changed.is_empty() {
            let sub: Vec<Vec<f64>> = changed.iter().map(|&i| cand_points[i].clone()).collect();
            let fresh = partial_point_data(net, a, mode, &changed, &sub);
            for (i, d) in changed.iter().zip(fresh) {
                cand_data[*i] = d;
            }
        }
        let cand_value = value_of(mode, a, &cand_data);
        if cand_value >= value {
            let factor = if cand_value > value { GROW } else { TIE_GROW };
            for &c in &moved {
                step[c] = (step[c] * factor).min(MAX_STEP);
            }
            value = cand_value;
            rep = cand;
            points = cand_points;
            data = cand_data;
        } else {
            for &c in &moved {
                step[c] *= SHRINK;
                if step[c] < MIN_STEP {
                    step[c] = INITIAL_STEP;
                }
            }
        }
        history.push(value);
    }
    (start_value, value, rep, history)
}

/// Point data of some points of one tuple (indices into the tuple's point list).
fn partial_point_data(
    net: &Network,
    a: MatRef<'_, f64>,
    mode: SearchMode,
    which: &[usize],
    pts: &[Vec<f64>],
) -> Vec<PointData> {
    let is_piece = |i: usize| mode == SearchMode::Subspace && i >= 2;
    let out_pts: Vec<&[f64]> = which
        .iter()
        .zip(pts)
        .filter(|(i, _)| !is_piece(**i))
        .map(|(_, p)| p.as_slice())
        .collect();
    let piece_pts: Vec<&[f64]> = which
        .iter()
        .zip(pts)
        .filter(|(i, _)| is_piece(**i))
        .map(|(_, p)| p.as_slice())
        .collect();
    let mut outs = outputs(net, (mode == SearchMode::Subspace).then_some(a), &out_pts).into_iter();
    let mut pcs = pieces(net, a, &piece_pts).into_iter();
    which
        .iter()
        .map(|&i| {
            if is_piece(i) {
                PointData::Piece(pcs.next().expect("piece"))
            } else {
                PointData::Output(outs.next().expect("output"))
            }
        })
        .collect()
}

/// Local search from a tuple: `steps` Gaussian moves (one component or all, per-component
/// adaptive relative step), each kept when the value does not decrease. The value never
/// decreases; `history[i]` is the value after step `i`.
#[track_caller]
pub fn refine<R: Rng + ?Sized>(
    net: &Network,
    a: MatRef<'_, f64>,
    mode: SearchMode,
    start: &LatentTuple,
    steps: usize,
    rng: &mut R,
) -> Refinement {
    assert_eq!(a.ncols(), net.output_dim(), "A needs n = {} columns", net.output_dim());
    let (start_value, value, rep, history) = refine_rep(net, a, mode, Rep::from_tuple(mode, start), steps, rng);
    Refinement {
        start_value,
        value,
        tuple: report_tuple(net, a, mode, &rep),
        history,
    }
}

// ---------------------------------------------------------------------------------------------
// The search
// ---------------------------------------------------------------------------------------------

/// Sampled tuples of one block with their values.
fn sample_block(
    net: &Network,
    a: MatRef<'_, f64>,
    mode: SearchMode,
    key: &StreamKey<'_>,
    block: usize,
    count: usize,
) -> Vec<(f64, Rep)> {
    let mut rng = stream(
        key.seed,
        &format!("{}/{}", key.experiment, mode.name()),
        key.trial,
        Stream::Block(block as u32),
    );
    let shapes = match mode {
        SearchMode::Random => RANDOM_SHAPES,
        SearchMode::Subspace => SUBSPACE_SHAPES,
    };
    let k = net.latent_dim();
    let reps: Vec<Rep> = (0..count)
        .map(|i| sample_rep(mode, (block * mode.block() + i) % shapes, k, &mut rng))
        .collect();
    let pts: Vec<Vec<Vec<f64>>> = reps.iter().map(|r| r.points(mode)).collect();
    let data = point_data(net, a, mode, &pts);
    let refs: Vec<&[PointData]> = data.iter().map(Vec::as_slice).collect();
    values_of(mode, a, &refs).into_iter().zip(reps).collect()
}

/// `a` ranks before `b`: larger value first, NaN last, then lower index.
fn better(a: (f64, usize), b: (f64, usize)) -> std::cmp::Ordering {
    let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    key(b.0).total_cmp(&key(a.0)).then(a.1.cmp(&b.1))
}

/// Searches for large RRCP ratios of `net` and `a` (`m × n`): `settings.tuples` sampled tuples
/// in blocks (parallel, reduced in block order), then a local search from the
/// `settings.refine_starts` best ones. `on_progress` is called once per block and per start.
/// Every value is a lower bound on the RRCP supremum `L ε`.
#[track_caller]
pub fn search(
    net: &Network,
    a: MatRef<'_, f64>,
    mode: SearchMode,
    settings: &SearchSettings,
    key: &StreamKey<'_>,
    on_progress: &(dyn Fn() + Sync),
) -> SearchOutcome {
    assert_eq!(a.ncols(), net.output_dim(), "A needs n = {} columns", net.output_dim());
    assert!(settings.tuples >= 1, "a search needs at least one tuple");
    let block = mode.block();
    let blocks = settings.tuples.div_ceil(block);
    let sampled: Vec<Vec<(f64, Rep)>> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            crate::cancel::poll();
            let count = block.min(settings.tuples - b * block);
            let out = sample_block(net, a, mode, key, b, count);
            on_progress();
            out
        })
        .collect();
    let mut trace = Vec::new();
    let mut best = f64::NEG_INFINITY;
    let mut evaluated = 0;
    for blk in &sampled {
        for (v, _) in blk {
            if *v > best {
                best = *v;
            }
        }
        evaluated += blk.len();
        trace.push(TracePoint {
            phase: "sample",
            evaluated,
            best,
        });
    }
    let sup_sampled = best;
    let all: Vec<(f64, Rep)> = sampled.into_iter().flatten().collect();
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&i, &j| better((all[i].0, i), (all[j].0, j)));
    let starts = settings.refine_starts.min(all.len());
    let refine_experiment = format!("{}/{}/refine", key.experiment, mode.name());
    let refined: Vec<(f64, f64, Rep, Vec<f64>)> = order[..starts]
        .par_iter()
        .enumerate()
        .map(|(s, &i)| {
            let mut rng = stream(key.seed, &refine_experiment, key.trial, Stream::Block(s as u32));
            let out = refine_rep(net, a, mode, all[i].1.clone(), settings.refine_steps, &mut rng);
            on_progress();
            out
        })
        .collect();
    // Convergence of the refinement, all starts in lockstep.
    let stride = settings.refine_steps.div_ceil(TRACE_REFINE_POINTS).max(1);
    for t in (0..settings.refine_steps).filter(|_| starts > 0) {
        if (t + 1) % stride == 0 || t + 1 == settings.refine_steps {
            let at_t = refined.iter().map(|r| r.3[t]).fold(sup_sampled, f64::max);
            trace.push(TracePoint {
                phase: "refine",
                evaluated: settings.tuples + (t + 1) * starts,
                best: at_t,
            });
        }
    }
    // The maximiser: the best refined start, else the best sampled tuple.
    let mut sup = sup_sampled;
    let mut argmax_rep = all[order[0]].1.clone();
    for r in &refined {
        if r.1 > sup {
            sup = r.1;
            argmax_rep = r.2.clone();
        }
    }
    SearchOutcome {
        mode,
        sup_sampled,
        sup,
        refinement_gain: sup - sup_sampled,
        argmax: report_tuple(net, a, mode, &argmax_rep),
        evaluated_sampled: settings.tuples,
        evaluated_refined: starts * settings.refine_steps,
        trace,
    }
}

/// `∠(G(x), G(y))` of a tuple's sign points (a diagnostic of where the maximiser sits).
pub fn sign_angle(net: &Network, t: &LatentTuple) -> f64 {
    angle(&net.generate(&t.x), &net.generate(&t.y))
}
