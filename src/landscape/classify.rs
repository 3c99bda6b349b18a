//! The class of a probe point, judged on the exact one-sided derivative
//! `D_{−v} f(x)` of docs/THEORY.md §1 (not on `−‖v‖²`, which differs from it at kinks):
//!
//! 1. `critical` when `‖v‖ ≤ critical_tol · s(x)`, with the gradient scale
//!    `s(x) = 2^{−d} max(‖x‖, ‖x0‖)` of `S_{ε,x0}` (docs/THEORY.md §5): `v = 0` within rounding;
//! 2. else `no_descent` when `D_{−v} f(x) ≥ 0` (also when it is NaN: a value that cannot be
//!    shown negative never counts as descent);
//! 3. else `descent` (`D_{−v} f(x) < 0`, what Theorem II.1 asserts outside the two balls).

/// Default of `critical_tol`. The sums behind `v` (over `m` measurements and the widths)
/// round at a relative level of about `ε_mach · (m + n) ≈ 1e-13` for widths and `m` near 1e3,
/// so `1e-10 · s(x)` is zero within rounding with a margin of a thousand, and is far below any
/// threshold `τ` used for the neighbourhoods (`≥ 1e-4`).
pub const CRITICAL_TOL: f64 = 1e-10;

/// The class of a probe point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// `D_{−v} f(x) < 0`: `−v` strictly decreases `f`.
    Descent,
    /// `D_{−v} f(x) ≥ 0` although `v ≠ 0`.
    NoDescent,
    /// `v = 0` within the tolerance.
    Critical,
}

impl Class {
    /// Every class, in output order.
    pub const ALL: [Class; 3] = [Self::Descent, Self::NoDescent, Self::Critical];

    /// The name written to files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Descent => "descent",
            Self::NoDescent => "no_descent",
            Self::Critical => "critical",
        }
    }
}

/// The gradient scale `2^{−d} max(‖x‖, ‖x0‖)` of `S_{ε,x0}` (docs/THEORY.md §5): `‖h‖` and `‖v‖`
/// are compared with multiples of it.
pub fn gradient_scale(d: usize, x_norm: f64, x0_norm: f64) -> f64 {
    0.5f64.powi(d as i32) * x_norm.max(x0_norm)
}

/// The class of a point with `‖v‖ = v_norm` and `D_{−v} f = derivative`, at gradient scale
/// `scale` (see the module doc for the rule and its order).
pub fn classify(v_norm: f64, derivative: f64, scale: f64, critical_tol: f64) -> Class {
    if v_norm <= critical_tol * scale {
        Class::Critical
    } else if derivative < 0.0 {
        Class::Descent
    } else {
        Class::NoDescent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_order_and_nan() {
        assert_eq!(classify(0.0, 0.0, 1.0, CRITICAL_TOL), Class::Critical);
        assert_eq!(classify(1e-11, -1.0, 1.0, CRITICAL_TOL), Class::Critical);
        assert_eq!(classify(1e-3, -1e-9, 1.0, CRITICAL_TOL), Class::Descent);
        assert_eq!(classify(1e-3, 0.0, 1.0, CRITICAL_TOL), Class::NoDescent);
        assert_eq!(classify(1e-3, f64::NAN, 1.0, CRITICAL_TOL), Class::NoDescent);
        assert_eq!(gradient_scale(2, 3.0, 1.0), 0.75);
    }
}
