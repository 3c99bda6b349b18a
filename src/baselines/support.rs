//! Supports and thresholding: the `s` largest magnitudes (`H_s`, hard thresholding, as in
//! SPARTA's iteration and CoSaMP's pruning), soft thresholding (ThWF's `T_τ`), and the
//! nonzero pattern of a vector.
//!
//! Ties are broken by the smaller index, so every selection is a deterministic function of
//! the values.

use std::cmp::Ordering;

/// Orders indices by decreasing `|v|`, ties by increasing index (a total order; NaN counts
/// as the largest magnitude, so a corrupted entry is never silently dropped).
fn by_magnitude(v: &[f64]) -> impl Fn(&usize, &usize) -> Ordering + '_ {
    |&i, &j| v[j].abs().total_cmp(&v[i].abs()).then(i.cmp(&j))
}

/// The indices of the `k` largest `|v_j|` (ties: smaller index first), in increasing order,
/// written into `out` (which is cleared; `scratch` is reused for the selection). `k ≥ len`
/// selects everything. `O(len)` on average.
pub fn top_k_into(v: &[f64], k: usize, scratch: &mut Vec<usize>, out: &mut Vec<usize>) {
    scratch.clear();
    scratch.extend(0..v.len());
    let k = k.min(v.len());
    if k > 0 && k < v.len() {
        scratch.select_nth_unstable_by(k - 1, by_magnitude(v));
    }
    out.clear();
    out.extend_from_slice(&scratch[..k]);
    out.sort_unstable();
}

/// The indices of the `k` largest `|v_j|`, in increasing order (see [`top_k_into`]).
pub fn top_k(v: &[f64], k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(k.min(v.len()));
    top_k_into(v, k, &mut Vec::new(), &mut out);
    out
}

/// `H_s(v)`: keeps exactly the `s` largest magnitudes (ties: smaller index), zeroes the rest.
/// Returns the kept indices in increasing order.
pub fn hard_threshold(v: &mut [f64], s: usize) -> Vec<usize> {
    let keep = top_k(v, s);
    zero_outside(v, &keep);
    keep
}

/// Zeroes every entry of `v` whose index is not in the increasing list `keep`.
pub fn zero_outside(v: &mut [f64], keep: &[usize]) {
    let mut next = keep.iter().peekable();
    for (j, x) in v.iter_mut().enumerate() {
        if next.peek() == Some(&&j) {
            next.next();
        } else {
            *x = 0.0;
        }
    }
}

/// Soft thresholding `T_τ(t) = sgn(t) · max(|t| − τ, 0)`, entrywise.
pub fn soft_threshold(v: &mut [f64], tau: f64) {
    for x in v {
        *x = x.signum() * (x.abs() - tau).max(0.0);
    }
}

/// The indices of the nonzero entries of `v`, in increasing order, written into `out`.
pub fn nonzeros_into(v: &[f64], out: &mut Vec<usize>) {
    out.clear();
    out.extend(v.iter().enumerate().filter(|(_, x)| **x != 0.0).map(|(j, _)| j));
}

/// The sorted union of two increasing index lists, written into `out`.
pub fn union_into(a: &[usize], b: &[usize], out: &mut Vec<usize>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (None, None) => unreachable!("the loop condition excludes this"),
        };
        out.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_threshold_keeps_exactly_the_s_largest_magnitudes() {
        let mut v = vec![0.5, -3.0, 2.0, -0.1, 2.5, 0.0];
        let kept = hard_threshold(&mut v, 3);
        assert_eq!(kept, vec![1, 2, 4]);
        assert_eq!(v, vec![0.0, -3.0, 2.0, 0.0, 2.5, 0.0]);
    }

    #[test]
    fn ties_go_to_the_smaller_index_whatever_the_order_of_the_values() {
        // Five equal magnitudes with both signs: the first three indices win.
        let v = [1.0, -1.0, 1.0, -1.0, 1.0, 0.5];
        assert_eq!(top_k(&v, 3), vec![0, 1, 2]);
        let w = [0.5, -1.0, 1.0, -1.0, 1.0, 1.0];
        assert_eq!(top_k(&w, 3), vec![1, 2, 3]);
        // Keeping exactly s even when the s-th value is zero.
        let mut z = vec![0.0, 2.0, 0.0, 0.0];
        assert_eq!(hard_threshold(&mut z, 2), vec![0, 1]);
    }

    #[test]
    fn selections_of_all_or_nothing() {
        assert_eq!(top_k(&[3.0, 1.0], 5), vec![0, 1]);
        assert!(top_k(&[3.0, 1.0], 0).is_empty());
    }

    #[test]
    fn soft_threshold_shrinks_towards_zero() {
        let mut v = vec![3.0, -0.5, -2.0, 0.0];
        soft_threshold(&mut v, 1.0);
        assert_eq!(v, vec![2.0, 0.0, -1.0, 0.0]);
    }

    #[test]
    fn union_is_sorted_and_without_repeats() {
        let mut out = Vec::new();
        union_into(&[1, 4, 7], &[0, 4, 9], &mut out);
        assert_eq!(out, vec![0, 1, 4, 7, 9]);
        union_into(&[], &[2], &mut out);
        assert_eq!(out, vec![2]);
    }
}
