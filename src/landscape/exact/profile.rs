//! The profile `φ` on one sector (docs/THEORY.md §13.2): with `|A G(u)| = S A Λ u` linear on
//! the sector, `φ(u) = ½‖b‖² − ½ (cᵀu)² / (uᵀ M u)`, `c = Λᵀ Aᵀ S b`, `M = Λᵀ AᵀA Λ`.
//! Every function here is a closed form in the angle `θ` of `u = (cos θ, sin θ)`.

/// A symmetric 2×2 matrix `[[xx, xy], [xy, yy]]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sym2 {
    /// Entry (0, 0).
    pub xx: f64,
    /// Entries (0, 1) and (1, 0).
    pub xy: f64,
    /// Entry (1, 1).
    pub yy: f64,
}

impl Sym2 {
    /// `BᵀB` for `B` given by its two columns.
    pub fn gram(p: &[f64], q: &[f64]) -> Self {
        let (mut xx, mut xy, mut yy) = (0.0, 0.0, 0.0);
        for (a, b) in p.iter().zip(q) {
            xx += a * a;
            xy += a * b;
            yy += b * b;
        }
        Self { xx, xy, yy }
    }

    /// `uᵀ M w`.
    pub fn form(&self, u: [f64; 2], w: [f64; 2]) -> f64 {
        u[0] * (self.xx * w[0] + self.xy * w[1]) + u[1] * (self.xy * w[0] + self.yy * w[1])
    }

    /// The determinant.
    pub fn det(&self) -> f64 {
        self.xx * self.yy - self.xy * self.xy
    }

    /// The trace.
    pub fn trace(&self) -> f64 {
        self.xx + self.yy
    }

    /// The entrywise absolute values.
    pub fn abs(&self) -> Self {
        Self {
            xx: self.xx.abs(),
            xy: self.xy.abs(),
            yy: self.yy.abs(),
        }
    }

    /// The spectral condition number `λ_max / λ_min` (infinite when `M` is not positive
    /// definite).
    pub fn condition(&self) -> f64 {
        let half = 0.5 * self.trace();
        let r = (0.5 * (self.xx - self.yy)).hypot(self.xy);
        let (hi, lo) = (half + r, half - r);
        if lo > 0.0 { hi / lo } else { f64::INFINITY }
    }
}

/// `u(θ) = (cos θ, sin θ)`.
pub fn direction(theta: f64) -> [f64; 2] {
    [theta.cos(), theta.sin()]
}

/// `u'(θ) = (−sin θ, cos θ)`.
pub fn tangent(theta: f64) -> [f64; 2] {
    [-theta.sin(), theta.cos()]
}

fn dot2(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

/// One sector's data: `c` and `M` of the profile (docs/THEORY.md §13.2).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Piece {
    /// `c = Λᵀ Aᵀ S b`.
    pub c: [f64; 2],
    /// `M = Λᵀ AᵀA Λ`.
    pub m: Sym2,
}

impl Piece {
    /// `φ(θ) = ½‖b‖² − ½ (cᵀu)² / (uᵀMu)` with `half_b2 = ½‖b‖²`; `½‖b‖²` where `M u = 0`.
    pub fn value(&self, half_b2: f64, theta: f64) -> f64 {
        let u = direction(theta);
        let (n, d) = (dot2(self.c, u), self.m.form(u, u));
        if d > 0.0 { half_b2 - 0.5 * n * n / d } else { half_b2 }
    }

    /// The radius `r*(θ) = cᵀu / uᵀMu` that minimises `f(r u)` along the ray
    /// (docs/THEORY.md §13.1).
    pub fn radius(&self, theta: f64) -> f64 {
        let u = direction(theta);
        dot2(self.c, u) / self.m.form(u, u)
    }

    /// `dφ/dθ = −N (N' D − N E) / D²` with `N = cᵀu`, `N' = cᵀu'`, `D = uᵀMu`, `E = uᵀMu'`
    /// (docs/THEORY.md §13.3), and a first-order bound on its rounding error when `c` and `M`
    /// carry relative errors up to `γ`: `γ` times the numerator in absolute values over `D²`,
    /// plus the effect of `D`'s own error, `2 |dφ/dθ| γ |u|ᵀ|M||u| / D`.
    pub fn slope(&self, theta: f64, gamma: f64) -> (f64, f64) {
        let (u, t) = (direction(theta), tangent(theta));
        let (n, nt) = (dot2(self.c, u), dot2(self.c, t));
        let (d, e) = (self.m.form(u, u), self.m.form(u, t));
        let slope = -n * (nt * d - n * e) / (d * d);
        let (ua, ta) = ([u[0].abs(), u[1].abs()], [t[0].abs(), t[1].abs()]);
        let (ca, ma) = ([self.c[0].abs(), self.c[1].abs()], self.m.abs());
        let (na, nta, da) = (dot2(ca, ua), dot2(ca, ta), ma.form(ua, ua));
        let scale = na * (nta * da + na * ma.form(ua, ta)) / (d * d) + 2.0 * slope.abs() * da / d;
        (slope, gamma * scale)
    }

    /// The angle of `M⁻¹ c`, the only stationary point of `φ` on the half-circle where
    /// `cᵀu > 0` (a strict local minimum when `M ≻ 0`, docs/THEORY.md §13.3); `None` when `M`
    /// is not positive definite.
    pub fn stationary_angle(&self) -> Option<f64> {
        let det = self.m.det();
        if !(det > 0.0 && self.m.xx > 0.0) {
            return None;
        }
        let w = [
            self.m.yy * self.c[0] - self.m.xy * self.c[1],
            -self.m.xy * self.c[0] + self.m.xx * self.c[1],
        ];
        (w[0] != 0.0 || w[1] != 0.0).then(|| w[1].atan2(w[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sector with a positive definite `M` and a generic `c`.
    fn piece() -> Piece {
        Piece {
            c: [0.7, -0.3],
            m: Sym2 {
                xx: 2.0,
                xy: 0.4,
                yy: 0.9,
            },
        }
    }

    #[test]
    fn slope_matches_central_differences() {
        let p = piece();
        for theta in [-2.5, -1.0, 0.1, 0.8, 2.9] {
            let h = 1e-6;
            let fd = (p.value(1.0, theta + h) - p.value(1.0, theta - h)) / (2.0 * h);
            let (s, _) = p.slope(theta, 0.0);
            assert!(
                (s - fd).abs() < 1e-8,
                "θ = {theta}: slope {s}, difference quotient {fd}"
            );
        }
    }

    #[test]
    fn stationary_angle_is_the_minimum_of_the_profile() {
        let p = piece();
        let t = p.stationary_angle().expect("M is positive definite");
        assert!(p.slope(t, 0.0).0.abs() < 1e-12);
        let v = p.value(1.0, t);
        for dt in [-1e-3, 1e-3, -0.3, 0.3] {
            assert!(p.value(1.0, t + dt) > v, "not a minimum at offset {dt}");
        }
    }
}
