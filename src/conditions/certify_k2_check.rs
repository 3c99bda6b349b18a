//! The independent check of a `k = 2` full-domain certificate file (docs/THEORY.md §17.9).
//!
//! The full-domain constant is the range-restricted one with the identity prefix `Λ_0 = I`
//! (`κ = 1`), so the check shares the range checker's parts (`certify_range_check`): the tiling
//! of the circle and of every cell pair, the pattern of an arc from a forward pass at its
//! midpoint, the value `‖D − Q‖` from the general closed form of `Q`, and the arg-max check.
//! Nothing of the search (`certify`) is used: its cells, its planar `Q`, its norm and its
//! Lipschitz constant `(1 + √2)/(2π)` are replaced by the forward pass, the `R^k` closed form,
//! the eigenvalue formula and the tighter factor `1/π` of docs/THEORY.md §17.2 with `κ = 1`.

use faer::MatRef;

use super::certify::{FILE_FORMAT, K2CertificateFile};
use super::certify_check::weights_sha256;
use super::certify_range_check::{ArcData, RangeCheckReport, check_bounds, forward, tile_circle};
use crate::landscape::exact::angle_tolerance;

/// The checker's bound on its own rounding error of `‖D − Q‖`, `2⁻⁴⁸ (n + 2)(Σ_W + 1)` with
/// `Σ_W = Σ_r ‖w_r‖²` (docs/THEORY.md §17.9): the `n`-term sums of `D` err by at most
/// `n u Σ_W` (`u = 2⁻⁵³`), `Q` and the norm by a few `u`; the factor 32 is a safety margin.
pub fn checker_rounding(n: usize, sigma_w: f64) -> f64 {
    (n + 2) as f64 * (sigma_w + 1.0) * 2f64.powi(-48)
}

/// The rows of `w` active at angle `t`: `w_rᵀu(t) > τ ‖w_r‖`. A row within `τ` of zero is on
/// its boundary, where it is off.
fn pattern_at(w: MatRef<'_, f64>, t: f64, tol: f64) -> Vec<bool> {
    let (s, c) = t.sin_cos();
    (0..w.nrows())
        .map(|r| w[(r, 0)] * c + w[(r, 1)] * s > tol * w[(r, 0)].hypot(w[(r, 1)]))
        .collect()
}

/// Checks a `k = 2` full-domain certificate against its layer `w ∈ R^{n × 2}`: the hash, the
/// tiling of the circle by the cells (arcs and coincidence points), constant patterns on every
/// arc, the pattern at every junction of two arcs equal to one of theirs (else a point cell
/// must sit there), the tiling of every cell pair `a ≤ b` by its leaves, every leaf bound
/// recomputed, `upper`, and the value at the arg-max. Returns the first reason to refuse.
pub fn check_k2(w: MatRef<'_, f64>, file: &K2CertificateFile) -> Result<RangeCheckReport, String> {
    if file.format != FILE_FORMAT {
        return Err(format!("format {:?} is not {FILE_FORMAT}", file.format));
    }
    if w.ncols() != 2 || w.nrows() != file.n_out {
        return Err(format!(
            "the layer is {} × {}, the certificate's is {} × 2",
            w.nrows(),
            w.ncols(),
            file.n_out
        ));
    }
    if weights_sha256(w) != file.weights_sha256 {
        return Err("the weights' SHA-256 differs from the certificate's".into());
    }
    let tol = angle_tolerance(w.nrows() + 2);
    let mut arcs: Vec<((f64, f64), usize)> = file.cells.iter().enumerate().map(|(c, a)| (*a, c)).collect();
    tile_circle(&mut arcs)?;
    // The pattern of every cell: a forward pass at an arc's midpoint (constant on the arc), the
    // rows strictly on at a point.
    let mut patterns: Vec<Vec<bool>> = vec![Vec::new(); file.cells.len()];
    for &((s, e), c) in &arcs {
        patterns[c] = if s == e {
            pattern_at(w, s, tol)
        } else {
            let lambda = forward(&[w], (s, e), tol)?;
            (0..w.nrows())
                .map(|r| lambda[0][0][r] != 0.0 || lambda[0][1][r] != 0.0)
                .collect()
        };
    }
    // Where two arcs meet without a point cell, the pattern there is one of theirs.
    for n in 0..arcs.len() {
        let ((s, e), c) = arcs[n];
        let ((s2, e2), next) = arcs[(n + 1) % arcs.len()];
        if s == e || s2 == e2 {
            continue;
        }
        let at = pattern_at(w, e, tol);
        if at != patterns[c] && at != patterns[next] {
            return Err(format!(
                "at {e}, between arcs [{s}, {e}] and [{s2}, {e2}], the pattern is neither arc's: a coincidence point cell is missing"
            ));
        }
    }
    let data: Vec<ArcData> = patterns.iter().map(|p| ArcData::first_layer(w, p)).collect();
    let sigma_w: f64 = (0..w.nrows()).map(|r| w[(r, 0)].powi(2) + w[(r, 1)].powi(2)).sum();
    let rho = checker_rounding(w.nrows(), sigma_w);
    check_bounds(
        &data,
        &file.cells,
        &file.leaves,
        (tol, rho),
        (file.lower, file.upper, file.argmax_alpha, file.argmax_beta),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::certify::certify_with_leaves;
    use crate::conditions::certify_range::RangeLeaf;

    /// A layer whose rows 0 and 1 are opposite, and row 2 perpendicular: boundaries coincide,
    /// so the certificate has coincidence point cells.
    fn coincident_layer() -> faer::Mat<f64> {
        faer::Mat::from_fn(4, 2, |r, c| [[1.0, 0.5], [-1.0, -0.5], [0.3, -0.6], [0.2, 0.9]][r][c])
    }

    #[test]
    fn a_certificate_with_coincidence_points_is_accepted_and_needs_them() {
        let w = coincident_layer();
        let cert = certify_with_leaves(w.as_ref(), 1e-3);
        let file = K2CertificateFile::new(&cert, w.as_ref(), 1);
        let points: Vec<usize> = (0..file.cells.len())
            .filter(|&c| file.cells[c].0 == file.cells[c].1)
            .collect();
        assert!(!points.is_empty(), "the layer has coincident boundaries");
        let report = check_k2(w.as_ref(), &file).expect("the search's own file is accepted");
        assert!(report.max_recomputed <= file.upper && report.value_at_argmax >= file.lower);
        // Without a point cell (and its leaves, renumbered), the junction's pattern is neither
        // neighbour's: refused.
        let gone = points[0];
        let mut cut = file.clone();
        cut.cells.remove(gone);
        let renumber = |c: usize| if c > gone { c - 1 } else { c };
        cut.leaves = file
            .leaves
            .iter()
            .filter(|l| l.cells.0 != gone && l.cells.1 != gone)
            .map(|l| RangeLeaf {
                cells: (renumber(l.cells.0), renumber(l.cells.1)),
                ..*l
            })
            .collect();
        let refused = check_k2(w.as_ref(), &cut).expect_err("a missing point cell is refused");
        assert!(refused.contains("point cell is missing"), "{refused}");
    }

    #[test]
    fn a_leaf_of_a_point_pair_cannot_be_duplicated_or_dropped() {
        let w = coincident_layer();
        let file = K2CertificateFile::new(&certify_with_leaves(w.as_ref(), 1e-3), w.as_ref(), 1);
        let is_point = |c: usize| file.cells[c].0 == file.cells[c].1;
        let n = file
            .leaves
            .iter()
            .position(|l| is_point(l.cells.0) != is_point(l.cells.1))
            .expect("a point × arc pair");
        let mut twice = file.clone();
        twice.leaves.push(file.leaves[n]);
        assert!(check_k2(w.as_ref(), &twice).unwrap_err().contains("overlap"));
        let mut dropped = file.clone();
        dropped.leaves.remove(n);
        assert!(check_k2(w.as_ref(), &dropped).is_err());
    }
}
