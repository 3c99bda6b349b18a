//! Small dense-vector helpers on slices (latent codes are short; no allocation beyond results).

/// Euclidean inner product.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Euclidean norm.
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `a − b`.
pub fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// `t · a`.
pub fn scale(t: f64, a: &[f64]) -> Vec<f64> {
    a.iter().map(|x| t * x).collect()
}

/// `a + t b`.
pub fn axpy(a: &[f64], t: f64, b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + t * y).collect()
}

/// Unit vector `a / ‖a‖`; the zero vector maps to itself.
pub fn unit(a: &[f64]) -> Vec<f64> {
    let r = norm(a);
    if r > 0.0 { scale(1.0 / r, a) } else { a.to_vec() }
}

/// The angle `∠(a, b) ∈ [0, π]`, computed as `2 atan2(‖â − b̂‖, ‖â + b̂‖)`, which (unlike
/// `arccos` of the cosine) keeps full relative accuracy near 0 and π. Zero vectors give 0.
pub fn angle(a: &[f64], b: &[f64]) -> f64 {
    let (ua, ub) = (unit(a), unit(b));
    let diff = norm(&sub(&ua, &ub));
    let sum: f64 = ua.iter().zip(&ub).map(|(x, y)| (x + y) * (x + y)).sum::<f64>().sqrt();
    2.0 * diff.atan2(sum)
}

/// Sign with `sgn(0) = 0` (docs/THEORY.md §1, `A_z`).
pub fn sgn(t: f64) -> f64 {
    if t > 0.0 {
        1.0
    } else if t < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The sign-invariant relative error `min(‖x̂ − x‖, ‖x̂ + x‖) / ‖x‖` (docs/THEORY.md §6): phase
/// retrieval recovers a signal only up to its global sign. Infinite for `x = 0`.
pub fn relative_error_up_to_sign(estimate: &[f64], truth: &[f64]) -> f64 {
    debug_assert_eq!(estimate.len(), truth.len());
    let (minus, plus) = estimate.iter().zip(truth).fold((0.0, 0.0), |(m, p), (e, t)| {
        (m + (e - t) * (e - t), p + (e + t) * (e + t))
    });
    minus.min(plus).sqrt() / norm(truth)
}

/// True when every entry is finite.
pub fn all_finite(a: &[f64]) -> bool {
    a.iter().all(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_is_accurate_near_zero_and_pi() {
        let t: f64 = 1e-9;
        let a = [1.0, 0.0];
        let b = [t.cos(), t.sin()];
        assert!((angle(&a, &b) - t).abs() < 1e-20);
        let c = [-(t.cos()), t.sin()];
        assert!((angle(&a, &c) - (std::f64::consts::PI - t)).abs() < 1e-15);
        assert_eq!(sgn(0.0), 0.0);
    }
}
