//! Certificate files of the box search and their independent checker (docs/THEORY.md §14.6).
//!
//! A file holds the layer's identity (k, n, the SHA-256 of its weights), the claimed interval
//! and arg-max pair, the explored tree as one bit per node in pre-order (`1` = split, under
//! the split rule of docs/THEORY.md §14.1) and the upper bound of every leaf. [`check`]
//! rebuilds the tree from the `2k` faces by that rule alone, so the leaves it visits tile
//! `S^{k−1} × S^{k−1}` up to the symmetry `D(x, y) = D(y, x)` by construction, and a file
//! that ends early, runs long or lists too few bounds is refused. Each leaf's bound is then
//! recomputed here from the definition — every row's sign on each box from the box's
//! vertices, `G₀` and `R` summed from scratch, `Q` from its closed form, the eigenvalues by
//! faer's symmetric solver, the cap radii from `vector::angle` — sharing with the search
//! only the formulas of the notes, and must not exceed the listed bound, which must not exceed
//! `upper`. The search adds twice the a-priori rounding bound that the checker adds, so
//! independent roundings of the same quantity never cause a false refusal.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::certify_boxes::{
    BoxCertificate, LIPSCHITZ_Q, MAX_INPUT, MIN_INPUT, RADIUS_MARGIN, SphereBox, rounding_bound, split_pair,
};
use crate::core::expected::q_matrix;
use crate::core::vector::{angle, unit};
use crate::images::mnist::sha256_hex;

/// The `format` field of a certificate file.
pub const FORMAT: &str = "dpr-audit/wdc-box-certificate/1";
/// Leaves checked together (the unit of parallel work of the checker).
const CHUNK: usize = 1 << 14;

/// A certificate file (JSON).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CertificateFile {
    /// [`FORMAT`].
    pub format: String,
    /// Layer index (1-based) in its network.
    pub layer: usize,
    /// Input dimension k.
    pub k: usize,
    /// Output dimension n.
    pub n: usize,
    /// SHA-256 of the weights ([`weights_sha256`]).
    pub weights_sha256: String,
    /// Claimed lower end (‖D‖ at the arg-max pair).
    pub lower: f64,
    /// Claimed upper end.
    pub upper: f64,
    /// The arg-max pair.
    pub argmax_x: Vec<f64>,
    /// The arg-max pair.
    pub argmax_y: Vec<f64>,
    /// Number of nodes (bits).
    pub nodes: u64,
    /// Split bits in pre-order, packed most significant bit first, hexadecimal.
    pub split_bits: String,
    /// Upper bound of each leaf, pre-order.
    pub leaf_upper: Vec<f64>,
}

/// SHA-256 of `k`, `n` (u64 little-endian) and the entries of `W` row by row (f64
/// little-endian).
pub fn weights_sha256(w: MatRef<'_, f64>) -> String {
    let mut bytes = Vec::with_capacity(16 + 8 * w.nrows() * w.ncols());
    bytes.extend((w.ncols() as u64).to_le_bytes());
    bytes.extend((w.nrows() as u64).to_le_bytes());
    for r in 0..w.nrows() {
        for c in 0..w.ncols() {
            bytes.extend(w[(r, c)].to_le_bytes());
        }
    }
    sha256_hex(&bytes)
}

impl CertificateFile {
    /// The file of a search result on layer `layer` (1-based) with weights `w`.
    pub fn new(cert: &BoxCertificate, w: MatRef<'_, f64>, layer: usize) -> Self {
        let mut packed = vec![0u8; cert.tree.bits.len().div_ceil(8)];
        for (i, &b) in cert.tree.bits.iter().enumerate() {
            packed[i / 8] |= u8::from(b) << (7 - i % 8);
        }
        Self {
            format: FORMAT.into(),
            layer,
            k: cert.k,
            n: cert.n,
            weights_sha256: weights_sha256(w),
            lower: cert.lower,
            upper: cert.upper,
            argmax_x: cert.argmax.x.clone(),
            argmax_y: cert.argmax.y.clone(),
            nodes: cert.tree.bits.len() as u64,
            split_bits: packed.iter().map(|b| format!("{b:02x}")).collect(),
            leaf_upper: cert.tree.leaf_upper.clone(),
        }
    }

    /// The split bits, or why they cannot be read.
    fn bits(&self) -> Result<Vec<bool>, String> {
        let s = self.split_bits.as_bytes();
        if s.len() != (self.nodes as usize).div_ceil(8) * 2 {
            return Err(format!(
                "split_bits has {} hex digits, {} nodes need {}",
                s.len(),
                self.nodes,
                (self.nodes as usize).div_ceil(8) * 2
            ));
        }
        let digit = |c: u8| {
            (c as char)
                .to_digit(16)
                .ok_or("split_bits is not hexadecimal".to_string())
        };
        let mut bits = Vec::with_capacity(self.nodes as usize);
        for pair in s.chunks(2) {
            let byte = digit(pair[0])? * 16 + digit(pair[1])?;
            bits.extend((0..8).map(|i| byte >> (7 - i) & 1 == 1));
        }
        bits.truncate(self.nodes as usize);
        Ok(bits)
    }
}

/// What an accepted certificate establishes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    /// Nodes replayed.
    pub nodes: u64,
    /// Leaves whose bounds were recomputed.
    pub leaves: u64,
    /// Largest recomputed leaf bound: the WDC constant is at most this.
    pub max_recomputed: f64,
    /// The file's upper end (≥ every recomputed bound).
    pub upper: f64,
    /// `‖D‖` recomputed at the file's arg-max pair (≥ the file's lower end).
    pub value_at_argmax: f64,
}

/// A box of the checker: face axis and sign, rectangle ends (same meaning as [`SphereBox`],
/// whose split rule the format fixes).
fn vertices(b: &SphereBox, k: usize) -> Vec<Vec<f64>> {
    (0..1usize << (k - 1))
        .map(|corner| {
            let mut v = vec![0.0; k];
            v[b.axis] = b.sign;
            let mut j = 0;
            for (i, vi) in v.iter_mut().enumerate() {
                if i != b.axis {
                    *vi = if corner >> j & 1 == 0 { b.lo[j] } else { b.hi[j] };
                    j += 1;
                }
            }
            v
        })
        .collect()
}

/// The direction of the rectangle's midpoint.
fn middle(b: &SphereBox, k: usize) -> Vec<f64> {
    let mut v = vec![0.0; k];
    v[b.axis] = b.sign;
    let mut j = 0;
    for (i, vi) in v.iter_mut().enumerate() {
        if i != b.axis {
            *vi = 0.5 * (b.lo[j] + b.hi[j]);
            j += 1;
        }
    }
    unit(&v)
}

/// `‖A‖`'s two sides from faer's symmetric eigenvalues: `(λ_min, λ_max)`.
fn extremes(a: &Mat<f64>) -> (f64, f64) {
    let eig = a.self_adjoint_eigenvalues(faer::Side::Lower).expect("symmetric k × k");
    (eig[0], eig[eig.len() - 1])
}

/// The checker's bound on `sup ‖D‖` over `X × Y` (docs/THEORY.md §14.2–14.3), recomputed from
/// the definition.
fn leaf_bound(w: MatRef<'_, f64>, rounding: f64, x: &SphereBox, y: &SphereBox) -> f64 {
    let k = w.ncols();
    let (vx, vy) = (vertices(x, k), vertices(y, k));
    let (xc, yc) = (middle(x, k), middle(y, k));
    let q = q_matrix(&xc, &yc);
    let mut none = Mat::from_fn(k, k, |i, j| -q[(i, j)]);
    let mut all = none.clone();
    for r in 0..w.nrows() {
        let row: Vec<f64> = (0..k).map(|i| w[(r, i)]).collect();
        let margin = 4.0 * (k as f64 + 1.0) * (f64::EPSILON / 2.0) * row.iter().map(|a| a.abs()).sum::<f64>();
        // Sign on a box: the affine form wᵀp is extreme at the rectangle's vertices.
        let sign = |vs: &[Vec<f64>]| {
            let values: Vec<f64> = vs
                .iter()
                .map(|v| v.iter().zip(&row).map(|(a, b)| a * b).sum())
                .collect();
            if values.iter().all(|&z| z > margin) {
                Some(true)
            } else if values.iter().all(|&z| z < -margin) {
                Some(false)
            } else {
                None
            }
        };
        let (sx, sy) = (sign(&vx), sign(&vy));
        if sx == Some(false) || sy == Some(false) {
            continue;
        }
        let both = sx == Some(true) && sy == Some(true);
        for i in 0..k {
            for j in 0..k {
                let o = row[i] * row[j];
                all[(i, j)] += o;
                if both {
                    none[(i, j)] += o;
                }
            }
        }
    }
    let radius =
        |b: &SphereBox, c: &[f64]| vertices(b, k).iter().map(|v| angle(c, v)).fold(0.0f64, f64::max) + RADIUS_MARGIN;
    let (lo, _) = extremes(&none);
    let (_, hi) = extremes(&all);
    hi.max(-lo) + LIPSCHITZ_Q * (radius(x, &xc) + radius(y, &yc)) + rounding
}

/// `‖D(x, y)‖` from the definition.
fn deviation(w: MatRef<'_, f64>, x: &[f64], y: &[f64]) -> f64 {
    let k = w.ncols();
    let q = q_matrix(x, y);
    let mut d = Mat::from_fn(k, k, |i, j| -q[(i, j)]);
    for r in 0..w.nrows() {
        let (zx, zy) = (0..k).fold((0.0, 0.0), |(a, b), i| (a + w[(r, i)] * x[i], b + w[(r, i)] * y[i]));
        if zx > 0.0 && zy > 0.0 {
            for i in 0..k {
                for j in 0..k {
                    d[(i, j)] += w[(r, i)] * w[(r, j)];
                }
            }
        }
    }
    let (lo, hi) = extremes(&d);
    hi.max(-lo)
}

/// Replays the certificate on `w` and recomputes every leaf bound. `Err` says why the
/// certificate is refused.
pub fn check(w: MatRef<'_, f64>, file: &CertificateFile) -> Result<CheckReport, String> {
    let (n, k) = (w.nrows(), w.ncols());
    if file.format != FORMAT {
        return Err(format!("format {:?} is not {FORMAT:?}", file.format));
    }
    if file.k != k || file.n != n || !(MIN_INPUT..=MAX_INPUT).contains(&k) {
        return Err(format!(
            "the certificate is for a {}→{} layer, the weights give {k}→{n}",
            file.k, file.n
        ));
    }
    if file.weights_sha256 != weights_sha256(w) {
        return Err("the weights' SHA-256 differs from the certificate's".into());
    }
    if file.argmax_x.len() != k || file.argmax_y.len() != k {
        return Err(format!("the arg-max pair must have {k} entries per vector"));
    }
    let bits = file.bits()?;
    let frobenius_sum: f64 = (0..n)
        .flat_map(|r| (0..k).map(move |i| (r, i)))
        .map(|(r, i)| w[(r, i)] * w[(r, i)])
        .sum();
    let rounding = rounding_bound(n, k, frobenius_sum);
    let faces = SphereBox::faces(k);
    let mut stack: Vec<(SphereBox, SphereBox, bool)> = (0..faces.len())
        .flat_map(|i| (i..faces.len()).map(move |j| (i, j)))
        .map(|(i, j)| (faces[i], faces[j], i == j))
        .rev()
        .collect();
    let mut next_bit = 0usize;
    let mut pending: Vec<(SphereBox, SphereBox, f64)> = Vec::with_capacity(CHUNK);
    let mut leaves = 0usize;
    let mut max_recomputed = f64::NEG_INFINITY;
    let mut flush = |pending: &mut Vec<(SphereBox, SphereBox, f64)>, first: usize| -> Result<(), String> {
        let recomputed: Vec<f64> = pending
            .par_iter()
            .map(|(x, y, _)| leaf_bound(w, rounding, x, y))
            .collect();
        for (i, ((_, _, listed), bound)) in pending.iter().zip(recomputed).enumerate() {
            if bound.is_nan() || bound > *listed {
                return Err(format!(
                    "leaf {} lists upper bound {listed}, the recomputed bound is {bound}",
                    first + i
                ));
            }
            max_recomputed = max_recomputed.max(bound);
        }
        pending.clear();
        Ok(())
    };
    while let Some(pair) = stack.pop() {
        let Some(&split) = bits.get(next_bit) else {
            return Err(format!(
                "the split bits end after {next_bit} nodes, before the tree is complete"
            ));
        };
        next_bit += 1;
        if split {
            let children = split_pair(k, pair).ok_or("a split below the smallest box width")?;
            stack.extend(children.into_iter().rev());
            continue;
        }
        let Some(&listed) = file.leaf_upper.get(leaves) else {
            return Err(format!("only {} leaf bounds for more leaves", file.leaf_upper.len()));
        };
        pending.push((pair.0, pair.1, listed));
        leaves += 1;
        if pending.len() == CHUNK {
            flush(&mut pending, leaves - CHUNK)?;
        }
    }
    let first = leaves - pending.len();
    flush(&mut pending, first)?;
    if next_bit != bits.len() {
        return Err(format!(
            "the tree is complete after {next_bit} nodes, the file has {}",
            bits.len()
        ));
    }
    if leaves != file.leaf_upper.len() {
        return Err(format!("{leaves} leaves, {} leaf bounds", file.leaf_upper.len()));
    }
    let listed_max = file.leaf_upper.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if listed_max.is_nan() || listed_max > file.upper {
        return Err(format!("upper {} is below a leaf bound {listed_max}", file.upper));
    }
    let value_at_argmax = deviation(w, &file.argmax_x, &file.argmax_y);
    if value_at_argmax.is_nan() || value_at_argmax < file.lower - rounding {
        return Err(format!(
            "‖D‖ at the arg-max pair is {value_at_argmax}, below the claimed lower end {}",
            file.lower
        ));
    }
    Ok(CheckReport {
        nodes: next_bit as u64,
        leaves: leaves as u64,
        max_recomputed,
        upper: file.upper,
        value_at_argmax,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::certify_boxes::{BoxSearch, Budget, Tolerance, certify_boxes};
    use crate::core::network::{Network, WeightScale};
    use crate::rng::{Stream, stream};

    fn certified(k: usize, n: usize) -> (Mat<f64>, CertificateFile) {
        let net = Network::gaussian(
            &[k, n],
            WeightScale::Normalized,
            &mut stream(11, "check", 0, Stream::Network),
        );
        let w = net.layers()[0].weight.clone();
        let search = BoxSearch {
            tolerance: Tolerance::Absolute(if k == 3 { 2e-2 } else { 8e-2 }),
            budget: Budget::Unlimited,
        };
        let cert = certify_boxes(w.as_ref(), &search, None, &mut |_| {});
        let file = CertificateFile::new(&cert, w.as_ref(), 1);
        (w, file)
    }

    #[test]
    fn a_fresh_certificate_is_accepted_and_its_bounds_reproduce() {
        for k in [3, 4] {
            let (w, file) = certified(k, 15);
            let report = check(w.as_ref(), &file).expect("accepted");
            assert_eq!(report.leaves as usize, file.leaf_upper.len());
            assert!(report.max_recomputed <= file.upper && report.max_recomputed > file.upper - 1e-9);
            assert!(report.value_at_argmax >= file.lower - 1e-9);
        }
    }

    #[test]
    fn a_lowered_leaf_bound_is_refused() {
        let (w, mut file) = certified(3, 15);
        let worst = (0..file.leaf_upper.len())
            .max_by(|&a, &b| file.leaf_upper[a].total_cmp(&file.leaf_upper[b]))
            .expect("leaves");
        file.leaf_upper[worst] -= 1e-6;
        let err = check(w.as_ref(), &file).expect_err("refused");
        assert!(err.contains(&format!("leaf {worst} ")), "{err}");
    }

    #[test]
    fn a_missing_leaf_or_a_truncated_tree_is_refused() {
        let (w, file) = certified(3, 15);
        let mut short = file.clone();
        short.leaf_upper.pop();
        assert!(check(w.as_ref(), &short).is_err());
        // Clear the first split bit: the root becomes a leaf and the tree no longer matches.
        let mut pruned = file.clone();
        let first = u8::from_str_radix(&pruned.split_bits[..2], 16).expect("hex") & 0x7f;
        pruned.split_bits.replace_range(..2, &format!("{first:02x}"));
        assert!(check(w.as_ref(), &pruned).is_err());
        let mut other = file.clone();
        other.upper = other.leaf_upper.iter().copied().fold(f64::NEG_INFINITY, f64::max) - 1e-6;
        assert!(check(w.as_ref(), &other).unwrap_err().contains("below a leaf bound"));
    }

    #[test]
    fn different_weights_are_refused() {
        let (w, file) = certified(3, 15);
        let mut changed = w.clone();
        changed[(0, 0)] += 1e-9;
        assert!(check(changed.as_ref(), &file).unwrap_err().contains("SHA-256"));
    }
}
