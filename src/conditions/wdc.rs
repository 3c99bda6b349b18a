//! Sampled lower bounds on the WDC constant of each layer (docs/THEORY.md §2):
//! `ε_i ≥ sup_{x,y ≠ 0} ‖W_{i,+,x}ᵀ W_{i,+,y} − Q_{x,y}‖` over the pairs this search visits.
//!
//! The search draws pairs of three shapes — independent directions, near-aligned pairs
//! `y = x̂ + s ĝ` and near-antipodal pairs `y = −x̂ + s ĝ`, with `s` log-uniform over
//! `[1e-6, 1]` — either from all of `R^{n_{i−1}}` (`Domain::Full`, what the theorem needs) or
//! from the range of the previous layers (`Domain::Range`, what the network uses). The worst
//! sampled pairs are then refined by a local search, since the activation pattern is
//! piecewise constant and the worst pairs sit near sector boundaries. Every value is a
//! **lower bound** on the supremum.
//!
//! Kernel: `W_{+,x}ᵀ W_{+,y} = Σ_r 1[w_rᵀx > 0] 1[w_rᵀy > 0] w_r w_rᵀ`: the masks of a block
//! of pairs come from two matrix products, then each pair sums the precomputed outer
//! products `w_r w_rᵀ` of its active rows (symmetric: only the lower triangle, `k(k+1)/2`
//! numbers per row). Wide layers use a matrix-free Lanczos bound instead.
//!
//! A sampled lower bound on each layer's ε of a random network, and (for a layer with two
//! inputs) the certified interval of [`super::certify`], which brackets it:
//!
//! ```
//! use dpr_audit::conditions::certify::certify;
//! use dpr_audit::conditions::wdc::{Domain, WdcSearch, estimate_network};
//! use dpr_audit::core::network::WeightScale;
//! use dpr_audit::core::source::NetworkSpec;
//!
//! let spec = NetworkSpec::Random { widths: vec![2, 30], weight_scale: WeightScale::Normalized };
//! let (net, _) = spec.build(1, "example", 0).unwrap();
//! let search = WdcSearch { pairs: 200, domain: Domain::Full, refine_starts: 1, refine_steps: 5 };
//! let estimates = estimate_network(&net, &search, 1, "example", 0);
//! let certificate = certify(net.layers()[0].weight.as_ref(), 1e-3);
//! assert!(certificate.lower <= certificate.upper && certificate.upper - certificate.lower <= 1e-3);
//! assert!(estimates[0].lower_bound <= certificate.upper);
//! ```

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::spectral::{symmetric_norm, symmetric_norm_in_place};
use std::f64::consts::PI;

use crate::core::expected::SwapBasis;
use crate::core::network::{Layer, Network};
use crate::core::vector::{angle, norm, unit};
use crate::rng::{Stream, stream};

/// Pairs evaluated per block (the unit of parallel work and of the convergence trace).
pub const BLOCK: usize = 256;
/// Entries of a packed Gram matrix summed at once (4 AVX-512 registers of accumulators).
const GRAM_CHUNK: usize = 32;
/// Candidate moves evaluated together at each local-search step.
const PROPOSALS: usize = 8;
/// Smallest `s` of near-aligned and near-antipodal pairs (log-uniform down to here).
const SMALLEST_OFFSET_LOG10: f64 = -6.0;

/// Which inputs the search draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// All nonzero inputs of the layer (what the theorem needs).
    Full,
    /// Inputs in the range of the previous layers (what the network uses).
    Range,
}

/// How hard to search.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct WdcSearch {
    /// Sampled pairs per layer.
    pub pairs: usize,
    /// Where pairs come from.
    pub domain: Domain,
    /// Worst sampled pairs refined by local search.
    pub refine_starts: usize,
    /// Local-search steps per start.
    pub refine_steps: usize,
}

impl WdcSearch {
    /// The search the `wdc` study runs on a layer with `n_in` inputs: `pairs` and
    /// `refine_steps` as given, else 20 000 pairs and 400 steps, or 2 000 and 40 on the slower
    /// matrix-free path of layers wider than [`DENSE_MAX_INPUT`].
    pub fn for_layer(
        n_in: usize,
        pairs: Option<usize>,
        domain: Domain,
        refine_starts: usize,
        refine_steps: Option<usize>,
    ) -> Self {
        let wide = n_in > DENSE_MAX_INPUT;
        Self {
            pairs: pairs.unwrap_or(if wide { 2_000 } else { 20_000 }),
            domain,
            refine_starts,
            refine_steps: refine_steps.unwrap_or(if wide { 40 } else { 400 }),
        }
    }
}

/// Largest input dimension for which the packed outer products are formed; wider layers use
/// the matrix-free Lanczos path (memory `n k²/2` would be prohibitive, e.g. 500 MB at k = 500).
pub const DENSE_MAX_INPUT: usize = 48;
/// Lanczos steps of the matrix-free path. Ritz values of a Lanczos tridiagonal lie inside
/// `[λ_min, λ_max]` (up to rounding), so `max |Ritz value|` is a valid lower bound on the norm.
pub const LANCZOS_STEPS: usize = 32;

/// A layer's weights prepared for fast WDC evaluation.
#[derive(Clone, Debug)]
pub struct WdcLayer {
    weight: Mat<f64>,
    /// Column r holds the lower triangle of `w_r w_rᵀ`, packed column by column (only for
    /// `k ≤ DENSE_MAX_INPUT`).
    outer: Option<Mat<f64>>,
}

/// Index of `(i, j)`, `i ≥ j`, in the packed lower triangle of a `k × k` matrix.
fn packed_index(k: usize, i: usize, j: usize) -> usize {
    j * k - j * (j + 1) / 2 + i
}

impl WdcLayer {
    /// Prepares `W ∈ R^{n × k}`.
    pub fn new(weight: MatRef<'_, f64>) -> Self {
        let (n, k) = (weight.nrows(), weight.ncols());
        if k > DENSE_MAX_INPUT {
            return Self {
                weight: weight.to_owned(),
                outer: None,
            };
        }
        // Rows padded with zeros to a multiple of GRAM_CHUNK (fixed-width chunks vectorise).
        let mut outer = Mat::zeros((k * (k + 1) / 2).div_ceil(GRAM_CHUNK) * GRAM_CHUNK, n);
        for r in 0..n {
            let col = outer.col_as_slice_mut(r);
            for j in 0..k {
                for i in j..k {
                    col[packed_index(k, i, j)] = weight[(r, i)] * weight[(r, j)];
                }
            }
        }
        Self {
            weight: weight.to_owned(),
            outer: Some(outer),
        }
    }

    /// Input dimension `k`.
    pub fn input_dim(&self) -> usize {
        self.weight.ncols()
    }

    /// `Σ_r mask_r(p) w_r w_rᵀ` for each pair p, packed (`P × k(k+1)/2`), where `mask_r(p) =
    /// 1[w_rᵀx_p > 0] 1[w_rᵀy_p > 0]` (strict, docs/THEORY.md §1).
    /// The joint masks `1[w_rᵀx_p > 0] 1[w_rᵀy_p > 0]` as an `n × P` 0/1 matrix.
    fn masks(&self, xs: MatRef<'_, f64>, ys: MatRef<'_, f64>) -> Mat<f64> {
        let (n, pairs) = (self.weight.nrows(), xs.ncols());
        let mut zx = Mat::zeros(n, pairs);
        let mut zy = Mat::zeros(n, pairs);
        matmul(zx.as_mut(), Accum::Replace, self.weight.as_ref(), xs, 1.0, Par::Seq);
        matmul(zy.as_mut(), Accum::Replace, self.weight.as_ref(), ys, 1.0, Par::Seq);
        for p in 0..pairs {
            let other = zy.col_as_slice(p).to_vec();
            zx.col_as_slice_mut(p)
                .iter_mut()
                .zip(&other)
                .for_each(|(a, b)| *a = f64::from(*a > 0.0 && *b > 0.0));
        }
        zx
    }

    /// `Σ_r mask_r w_r w_rᵀ` (packed) for one pair's mask column: a sum of the precomputed
    /// outer products of its active rows (about a quarter of the rows for independent
    /// directions: sparse accumulation beats a dense product with the 0/1 mask). The sum runs
    /// in chunks of `GRAM_CHUNK` entries so each chunk's accumulator stays in registers.
    fn packed_gram(outer: &Mat<f64>, mask: &[f64], active: &mut Vec<usize>, acc: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F (checked at run time).
                return unsafe { Self::packed_gram_avx512(outer, mask, active, acc) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked at run time).
                return unsafe { Self::packed_gram_avx2(outer, mask, active, acc) };
            }
        }
        Self::packed_gram_portable(outer, mask, active, acc);
    }

    /// [`WdcLayer::packed_gram`] compiled for AVX-512 (same arithmetic, wider registers).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn packed_gram_avx512(outer: &Mat<f64>, mask: &[f64], active: &mut Vec<usize>, acc: &mut [f64]) {
        Self::packed_gram_portable(outer, mask, active, acc);
    }

    /// [`WdcLayer::packed_gram`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn packed_gram_avx2(outer: &Mat<f64>, mask: &[f64], active: &mut Vec<usize>, acc: &mut [f64]) {
        Self::packed_gram_portable(outer, mask, active, acc);
    }

    #[inline(always)]
    fn packed_gram_portable(outer: &Mat<f64>, mask: &[f64], active: &mut Vec<usize>, acc: &mut [f64]) {
        // Branch-free compaction of the active rows (the mask bits are unpredictable).
        active.resize(mask.len(), 0);
        let mut count = 0;
        for (r, &m) in mask.iter().enumerate() {
            active[count] = r;
            count += usize::from(m != 0.0);
        }
        active.truncate(count);
        for (start, out) in (0..acc.len()).step_by(GRAM_CHUNK).zip(acc.chunks_exact_mut(GRAM_CHUNK)) {
            let mut chunk = [0.0f64; GRAM_CHUNK];
            for &r in active.iter() {
                let col: &[f64; GRAM_CHUNK] = outer.col_as_slice(r)[start..start + GRAM_CHUNK]
                    .try_into()
                    .expect("padded");
                for c in 0..GRAM_CHUNK {
                    chunk[c] += col[c];
                }
            }
            out.copy_from_slice(&chunk);
        }
    }

    /// `‖W_{+,x}ᵀ W_{+,y} − Q_{x,y}‖` for each column pair of `xs`, `ys` (`k × P` each):
    /// exact for `k ≤ DENSE_MAX_INPUT`, a Lanczos lower bound above.
    pub fn deviations(&self, xs: MatRef<'_, f64>, ys: MatRef<'_, f64>) -> Vec<f64> {
        self.deviations_above(xs, ys, f64::NEG_INFINITY, usize::MAX)
    }

    /// [`WdcLayer::deviations`] for a search that only needs the values above `floor` and the
    /// `keep` largest: a pair whose deviation provably cannot reach the current cut-off (the
    /// larger of `floor` and the `keep`-th best value so far) gets a cheap lower bound
    /// instead of its exact value. Every entry is a lower bound on its pair's deviation, and
    /// the largest `keep` entries above `floor` are exact.
    pub fn deviations_above(&self, xs: MatRef<'_, f64>, ys: MatRef<'_, f64>, floor: f64, keep: usize) -> Vec<f64> {
        let Some(outer) = &self.outer else {
            return self.lanczos_norms(xs, ys, true);
        };
        let mut top: Vec<f64> = Vec::new();
        let k = self.input_dim();
        let mask = self.masks(xs, ys);
        let mut gram = vec![0.0; outer.nrows()];
        let mut active = Vec::with_capacity(self.weight.nrows());
        let mut dev = vec![0.0; k * k];
        let (mut x, mut y) = (vec![0.0; k], vec![0.0; k]);
        let mut m = SwapBasis::with_dim(k);
        (0..xs.ncols())
            .map(|p| {
                x.iter_mut().enumerate().for_each(|(i, v)| *v = xs[(i, p)]);
                y.iter_mut().enumerate().for_each(|(i, v)| *v = ys[(i, p)]);
                Self::packed_gram(outer, mask.col_as_slice(p), &mut active, &mut gram);
                m.set(&x, &y);
                let (a, b) = ((PI - m.theta) / (2.0 * PI), m.theta.sin() / (2.0 * PI));
                // dev = W_{+,x}ᵀW_{+,y} − a I − b M, M in factored form: column j of b M is
                // α_j u1 + β_j u2 with α_j = b (c u1_j + s u2_j), β_j = b (s u1_j − c u2_j).
                for j in 0..k {
                    let alpha = b * (m.cos * m.u1[j] + m.sin * m.u2[j]);
                    let beta = b * (m.sin * m.u1[j] - m.cos * m.u2[j]);
                    let packed = &gram[packed_index(k, j, j)..packed_index(k, k - 1, j) + 1];
                    let col = &mut dev[j + k * j..k * (j + 1)];
                    for (t, ((g, e1), e2)) in col.iter_mut().zip(packed.iter().zip(&m.u1[j..]).zip(&m.u2[j..])) {
                        *t = g - alpha * e1 - beta * e2;
                    }
                    col[0] -= a;
                }
                for j in 0..k {
                    for i in j + 1..k {
                        dev[j + k * i] = dev[i + k * j];
                    }
                }
                let cut = if top.len() >= keep {
                    floor.max(top[top.len() - 1])
                } else {
                    floor
                };
                let value = symmetric_norm_in_place(&mut dev, k, cut);
                if value > cut {
                    let at = top.partition_point(|&t| t >= value);
                    top.insert(at, value);
                    top.truncate(keep);
                }
                value
            })
            .collect()
    }

    /// `‖W_{+,x}ᵀ W_{+,y} − Q_{x,y}‖` for one pair.
    pub fn deviation(&self, x: &[f64], y: &[f64]) -> f64 {
        self.deviations(
            MatRef::from_column_major_slice(x, x.len(), 1),
            MatRef::from_column_major_slice(y, y.len(), 1),
        )[0]
    }

    /// `‖W_{+,x}‖² = ‖W_{+,x}ᵀ W_{+,x}‖` (HLV's consequence of the WDC: `≤ ½ + ε`).
    pub fn active_norm_sq(&self, x: &[f64]) -> f64 {
        let k = self.input_dim();
        let col = MatRef::from_column_major_slice(x, k, 1);
        let Some(outer) = &self.outer else {
            return self.lanczos_norms(col, col, false)[0];
        };
        let mut packed = vec![0.0; outer.nrows()];
        Self::packed_gram(
            outer,
            self.masks(col, col).col_as_slice(0),
            &mut Vec::new(),
            &mut packed,
        );
        let gram = Mat::from_fn(k, k, |i, j| if i >= j { packed[packed_index(k, i, j)] } else { 0.0 });
        symmetric_norm(gram.as_ref())
    }

    /// Matrix-free Lanczos in lock-step over the pairs of a block: the operator of pair `p` is
    /// `v ↦ Wᵀ (m_p ∘ W v) − [centred] Q_p v`; returns `max |Ritz value|` after
    /// `min(k, LANCZOS_STEPS)` steps, a lower bound on the spectral norm (exact when the
    /// Krylov space fills `R^k`). Two matrix products per step serve the whole block.
    fn lanczos_norms(&self, xs: MatRef<'_, f64>, ys: MatRef<'_, f64>, centred: bool) -> Vec<f64> {
        let (n, k, pairs) = (self.weight.nrows(), self.input_dim(), xs.ncols());
        let mask = self.masks(xs, ys);
        // Q_p v = a_p v + b_p M_p v (docs/THEORY.md §2), in factored form.
        let qs: Vec<(f64, f64, SwapBasis)> = (0..pairs)
            .filter(|_| centred)
            .map(|p| {
                let (x, y): (Vec<f64>, Vec<f64>) = (0..k).map(|i| (xs[(i, p)], ys[(i, p)])).unzip();
                let theta = angle(&x, &y);
                (
                    ((PI - theta) / (2.0 * PI)),
                    theta.sin() / (2.0 * PI),
                    SwapBasis::new(&x, &y),
                )
            })
            .collect();
        let steps = k.min(LANCZOS_STEPS);
        // Start vectors: x̂ + ŷ + a fixed non-symmetric vector, normalised (deterministic).
        let mut v = Mat::from_fn(k, pairs, |i, p| xs[(i, p)] + ys[(i, p)] + 1.0 / (1.0 + i as f64));
        for p in 0..pairs {
            let r = norm(v.col_as_slice(p));
            v.col_as_slice_mut(p).iter_mut().for_each(|e| *e /= r);
        }
        let mut v_prev = Mat::<f64>::zeros(k, pairs);
        let mut alphas = vec![Vec::with_capacity(steps); pairs];
        let mut betas = vec![Vec::with_capacity(steps); pairs];
        let mut wv = Mat::zeros(n, pairs);
        let mut av = Mat::zeros(k, pairs);
        let mut done = vec![false; pairs];
        for _ in 0..steps {
            matmul(
                wv.as_mut(),
                Accum::Replace,
                self.weight.as_ref(),
                v.as_ref(),
                1.0,
                Par::Seq,
            );
            for p in 0..pairs {
                wv.col_as_slice_mut(p)
                    .iter_mut()
                    .zip(mask.col_as_slice(p))
                    .for_each(|(e, m)| *e *= m);
            }
            matmul(
                av.as_mut(),
                Accum::Replace,
                self.weight.transpose(),
                wv.as_ref(),
                1.0,
                Par::Seq,
            );
            for p in 0..pairs {
                if done[p] {
                    continue;
                }
                if centred {
                    let (a, b, basis) = &qs[p];
                    let mv = basis.apply(v.col_as_slice(p));
                    let col = v.col_as_slice(p).to_vec();
                    av.col_as_slice_mut(p)
                        .iter_mut()
                        .zip(col.iter().zip(&mv))
                        .for_each(|(e, (vi, mi))| *e -= a * vi + b * mi);
                }
                let alpha: f64 = (0..k).map(|i| av[(i, p)] * v[(i, p)]).sum();
                let beta_prev = betas[p].last().copied().unwrap_or(0.0);
                for i in 0..k {
                    av[(i, p)] -= alpha * v[(i, p)] + beta_prev * v_prev[(i, p)];
                }
                alphas[p].push(alpha);
                let beta = norm(av.col_as_slice(p));
                if beta <= 1e-12 * alpha.abs().max(1e-300) || alphas[p].len() == steps {
                    done[p] = true;
                    continue;
                }
                betas[p].push(beta);
                for i in 0..k {
                    v_prev[(i, p)] = v[(i, p)];
                    v[(i, p)] = av[(i, p)] / beta;
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        (0..pairs).map(|p| tridiagonal_norm(&alphas[p], &betas[p])).collect()
    }
}

/// `max |λ|` of the symmetric tridiagonal matrix with diagonal `alphas` and off-diagonal
/// `betas` (only the first `alphas.len() − 1` are used).
fn tridiagonal_norm(alphas: &[f64], betas: &[f64]) -> f64 {
    let m = alphas.len();
    let t = Mat::from_fn(m, m, |i, j| {
        if i == j {
            alphas[i]
        } else if i == j + 1 {
            betas[j]
        } else {
            0.0
        }
    });
    symmetric_norm(t.as_ref())
}

/// Draws `n` standard normal numbers.
fn gaussian<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.sample::<f64, _>(StandardNormal)).collect()
}

/// One pair of latent directions in `R^dim`: independent, near-aligned or near-antipodal.
fn sample_pair<R: Rng + ?Sized>(rng: &mut R, dim: usize, shape: usize) -> (Vec<f64>, Vec<f64>) {
    let x = unit(&gaussian(rng, dim));
    let y = match shape % 3 {
        0 => gaussian(rng, dim),
        s => {
            let offset = 10f64.powf(SMALLEST_OFFSET_LOG10 * rng.random::<f64>());
            let g = unit(&gaussian(rng, dim));
            let sign = if s == 1 { 1.0 } else { -1.0 };
            x.iter().zip(&g).map(|(a, b)| sign * a + offset * b).collect()
        }
    };
    (x, y)
}

/// The network made of the layers before `layer` (0-based), mapping latent codes to the
/// layer's inputs; `None` for the first layer.
fn prefix(net: &Network, layer: usize) -> Option<Network> {
    (layer > 0).then(|| {
        let layers: Vec<Layer> = net.layers()[..layer].to_vec();
        Network::from_layers(layers).expect("a prefix of a valid network is valid")
    })
}

/// A block of pairs as two `dim × B` matrices, mapped through `pre` for `Domain::Range`.
/// Pairs where either input is 0 (every unit of the prefix off) are dropped.
fn sample_block<R: Rng + ?Sized>(rng: &mut R, dim: usize, count: usize, pre: Option<&Network>) -> (Mat<f64>, Mat<f64>) {
    let latent = pre.map_or(dim, Network::latent_dim);
    let pairs: Vec<(Vec<f64>, Vec<f64>)> = (0..count).map(|i| sample_pair(rng, latent, i)).collect();
    let xs = Mat::from_fn(latent, count, |i, p| pairs[p].0[i]);
    let ys = Mat::from_fn(latent, count, |i, p| pairs[p].1[i]);
    let Some(pre) = pre else { return (xs, ys) };
    let (gx, gy) = (pre.forward_batch(xs.as_ref()).1, pre.forward_batch(ys.as_ref()).1);
    let keep: Vec<usize> = (0..count)
        .filter(|&p| gx.col_as_slice(p).iter().any(|&v| v != 0.0) && gy.col_as_slice(p).iter().any(|&v| v != 0.0))
        .collect();
    (
        Mat::from_fn(dim, keep.len(), |i, c| gx[(i, keep[c])]),
        Mat::from_fn(dim, keep.len(), |i, c| gy[(i, keep[c])]),
    )
}

/// A pair and its deviation.
#[derive(Clone, Debug)]
struct Candidate {
    value: f64,
    x: Vec<f64>,
    y: Vec<f64>,
}

/// Result of one block: its best candidates (descending) and the pairs it evaluated.
struct BlockResult {
    top: Vec<Candidate>,
    evaluated: usize,
    max_active_norm_sq: f64,
}

fn run_block(layer: &WdcLayer, pre: Option<&Network>, rng: &mut impl Rng, count: usize, keep: usize) -> BlockResult {
    let (xs, ys) = sample_block(rng, layer.input_dim(), count, pre);
    let values = layer.deviations_above(xs.as_ref(), ys.as_ref(), f64::NEG_INFINITY, keep.max(1));
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let top = order
        .iter()
        .take(keep.max(1))
        .map(|&p| Candidate {
            value: values[p],
            x: xs.col_as_slice(p).to_vec(),
            y: ys.col_as_slice(p).to_vec(),
        })
        .collect();
    let max_active_norm_sq = top_x_norm(layer, &xs);
    BlockResult {
        top,
        evaluated: values.len(),
        max_active_norm_sq,
    }
}

/// `max ‖W_{+,x}‖²` over the first few inputs of a block (a diagnostic, lower bound).
fn top_x_norm(layer: &WdcLayer, xs: &Mat<f64>) -> f64 {
    (0..xs.ncols().min(8))
        .map(|p| layer.active_norm_sq(xs.col_as_slice(p)))
        .fold(0.0, f64::max)
}

/// Local search from a candidate: perturb `x` or `y` (alternately) by a relative step `σ`
/// in `PROPOSALS` random directions, keep the best if it improves, grow `σ` on success and
/// shrink it on failure. Returns the improved candidate and the number of evaluations.
fn refine(layer: &WdcLayer, start: Candidate, steps: usize, rng: &mut impl Rng) -> (Candidate, usize) {
    let k = layer.input_dim();
    let mut best = start;
    let mut sigma = 1e-2;
    for step in 0..steps {
        crate::cancel::poll();
        let move_x = step % 2 == 0;
        let base = if move_x { &best.x } else { &best.y };
        let scale = sigma * norm(base);
        let proposals: Vec<Vec<f64>> = (0..PROPOSALS)
            .map(|_| base.iter().zip(gaussian(rng, k)).map(|(b, g)| b + scale * g).collect())
            .collect();
        let xs = Mat::from_fn(k, PROPOSALS, |i, p| if move_x { proposals[p][i] } else { best.x[i] });
        let ys = Mat::from_fn(k, PROPOSALS, |i, p| if move_x { best.y[i] } else { proposals[p][i] });
        let values = layer.deviations_above(xs.as_ref(), ys.as_ref(), best.value, 1);
        let (p, &v) = values
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .expect("nonempty");
        if v > best.value {
            best = Candidate {
                value: v,
                x: xs.col_as_slice(p).to_vec(),
                y: ys.col_as_slice(p).to_vec(),
            };
            sigma = (sigma * 2.0).min(1.0);
        } else {
            sigma = if sigma < 1e-10 { 1e-2 } else { sigma * 0.7 };
        }
    }
    (best, steps * PROPOSALS)
}

/// The estimate for one layer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WdcEstimate {
    /// Layer index (1-based).
    pub layer: usize,
    /// `n_{i−1}`.
    pub n_in: usize,
    /// `n_i`.
    pub n_out: usize,
    /// Pairs evaluated by sampling.
    pub pairs_evaluated: usize,
    /// Pairs evaluated by the local search.
    pub refine_evaluations: usize,
    /// Best sampled deviation (lower bound).
    pub sampled: f64,
    /// Best deviation after refinement (lower bound on ε).
    pub lower_bound: f64,
    /// The maximising pair.
    pub argmax_x: Vec<f64>,
    /// The maximising pair.
    pub argmax_y: Vec<f64>,
    /// Its angle.
    pub argmax_angle: f64,
    /// Largest `‖W_{+,x}‖²` seen (the WDC implies `≤ ½ + ε`).
    pub max_active_norm_sq: f64,
    /// `(pairs evaluated, best so far)` after each block and after refinement.
    pub trace: Vec<(usize, f64)>,
}

/// Searches layer `layer` (0-based) of `net`. Blocks and refinement starts draw from their own
/// streams keyed by `(experiment/wdc/layer{i}, trial, block)`, so the result does not depend
/// on the thread count.
pub fn estimate_layer(
    net: &Network,
    layer: usize,
    search: &WdcSearch,
    seed: u64,
    experiment: &str,
    trial: u64,
) -> WdcEstimate {
    let w = WdcLayer::new(net.layers()[layer].weight.as_ref());
    let pre = match search.domain {
        Domain::Full => None,
        Domain::Range => prefix(net, layer),
    };
    let key = format!("{experiment}/wdc/layer{}", layer + 1);
    let blocks = search.pairs.div_ceil(BLOCK);
    let results: Vec<BlockResult> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            crate::cancel::poll();
            let mut rng = stream(seed, &key, trial, Stream::Block(b as u32));
            let count = BLOCK.min(search.pairs - b * BLOCK);
            run_block(&w, pre.as_ref(), &mut rng, count, search.refine_starts)
        })
        .collect();
    let mut trace = Vec::with_capacity(blocks + 1);
    let (mut evaluated, mut best) = (0, f64::NEG_INFINITY);
    for r in &results {
        evaluated += r.evaluated;
        best = best.max(r.top.first().map_or(f64::NEG_INFINITY, |c| c.value));
        trace.push((evaluated, best));
    }
    let mut pool: Vec<Candidate> = results.iter().flat_map(|r| r.top.iter().cloned()).collect();
    pool.sort_by(|a, b| b.value.total_cmp(&a.value));
    pool.truncate(search.refine_starts.max(1));
    let sampled = pool.first().map_or(f64::NAN, |c| c.value);
    let refined: Vec<(Candidate, usize)> = pool
        .into_par_iter()
        .enumerate()
        .map(|(s, c)| {
            let mut rng = stream(seed, &key, trial, Stream::Block(u32::MAX - s as u32));
            if search.refine_starts == 0 {
                (c, 0)
            } else {
                refine(&w, c, search.refine_steps, &mut rng)
            }
        })
        .collect();
    let refine_evaluations: usize = refined.iter().map(|r| r.1).sum();
    let winner = refined
        .into_iter()
        .map(|r| r.0)
        .max_by(|a, b| a.value.total_cmp(&b.value))
        .expect("a candidate");
    trace.push((evaluated + refine_evaluations, winner.value));
    let max_active_norm_sq = results.iter().map(|r| r.max_active_norm_sq).fold(0.0, f64::max);
    WdcEstimate {
        layer: layer + 1,
        n_in: w.input_dim(),
        n_out: net.layers()[layer].weight.nrows(),
        pairs_evaluated: evaluated,
        refine_evaluations,
        sampled,
        lower_bound: winner.value,
        argmax_angle: angle(&winner.x, &winner.y),
        max_active_norm_sq: max_active_norm_sq
            .max(w.active_norm_sq(&winner.x))
            .max(w.active_norm_sq(&winner.y)),
        argmax_x: winner.x,
        argmax_y: winner.y,
        trace,
    }
}

/// [`estimate_layer`] for every layer.
pub fn estimate_network(
    net: &Network,
    search: &WdcSearch,
    seed: u64,
    experiment: &str,
    trial: u64,
) -> Vec<WdcEstimate> {
    (0..net.depth())
        .map(|l| estimate_layer(net, l, search, seed, experiment, trial))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::network::WeightScale;

    /// With `k ≤ LANCZOS_STEPS` the Krylov space fills `R^k`, so the matrix-free path must
    /// agree with the dense one (up to rounding), both centred (WDC) and not (`‖W_{+,x}‖²`).
    #[test]
    fn lanczos_path_matches_dense_path() {
        let mut rng = stream(4, "wdc-test", 0, Stream::Network);
        let net = Network::gaussian(&[12, 90], WeightScale::Normalized, &mut rng);
        let layer = WdcLayer::new(net.layers()[0].weight.as_ref());
        let (xs, ys) = sample_block(&mut rng, 12, 30, None);
        let dense = layer.deviations(xs.as_ref(), ys.as_ref());
        let lanczos = layer.lanczos_norms(xs.as_ref(), ys.as_ref(), true);
        for (d, l) in dense.iter().zip(&lanczos) {
            assert!((d - l).abs() < 1e-9 * d.max(1.0), "dense {d} vs lanczos {l}");
        }
        let x = xs.col_as_slice(0);
        let plain = layer.lanczos_norms(
            MatRef::from_column_major_slice(x, 12, 1),
            MatRef::from_column_major_slice(x, 12, 1),
            false,
        );
        assert!((plain[0] - layer.active_norm_sq(x)).abs() < 1e-9);
    }
}
