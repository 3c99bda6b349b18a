//! Small statistics used by the reports: power-law fits with confidence intervals, and
//! summaries of repeated trials.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A least-squares fit of `log y = log c + p log x` (a power law `y ≈ c x^p`).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct PowerLawFit {
    /// The exponent `p`.
    pub exponent: f64,
    /// Lower end of the 95% confidence interval of `p` (t distribution, n − 2 degrees of freedom).
    pub exponent_lo: f64,
    /// Upper end of that interval.
    pub exponent_hi: f64,
    /// The constant `c`.
    pub constant: f64,
    /// Coefficient of determination of the log–log regression.
    pub r2: f64,
    /// Points used (positive, finite pairs).
    pub points: usize,
}

/// Fits `y ≈ c x^p` by ordinary least squares on `(ln x, ln y)`, skipping non-positive or
/// non-finite points. `None` with fewer than 3 usable points (no interval is possible).
pub fn power_law_fit(xs: &[f64], ys: &[f64]) -> Option<PowerLawFit> {
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && **x > 0.0 && **y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = pts.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = pts.iter().map(|p| (p.1 - intercept - slope * p.0).powi(2)).sum();
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    let t = StudentsT::new(0.0, 1.0, nf - 2.0).ok()?.inverse_cdf(0.975);
    Some(PowerLawFit {
        exponent: slope,
        exponent_lo: slope - t * se,
        exponent_hi: slope + t * se,
        constant: intercept.exp(),
        r2: if syy > 0.0 { 1.0 - sse / syy } else { 1.0 },
        points: n,
    })
}

/// Mean, sample standard deviation, minimum and maximum of repeated trials.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Spread {
    /// Sample mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// The [`Spread`] of a nonempty slice.
pub fn spread(values: &[f64]) -> Spread {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Spread {
        mean,
        std: var.sqrt(),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// `Φ⁻¹(0.975)`: the two-sided 95% normal quantile.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval `[lo, hi]` of a binomial proportion with `successes` of
/// `trials` (E. B. Wilson, "Probable inference, the law of succession, and statistical
/// inference", JASA 22:209–212, 1927): the proportions `p` a two-sided score test does not
/// reject, `(p̂ + z²/2n ± z √(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)` with `p̂ = s/n`,
/// `z = Φ⁻¹(0.975)`. Unlike the Wald interval it stays in `[0, 1]` and has positive width at
/// 0 or n successes. With no trials it is `[0, 1]` (no information).
pub fn wilson_interval(successes: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = Z_95 * Z_95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_power_law_is_recovered_with_a_tight_interval() {
        let xs = [10.0, 20.0, 50.0, 100.0, 200.0];
        let ys: Vec<f64> = xs.iter().map(|x: &f64| 3.0 * x.powf(-0.5)).collect();
        let fit = power_law_fit(&xs, &ys).unwrap();
        assert!((fit.exponent + 0.5).abs() < 1e-12 && (fit.constant - 3.0).abs() < 1e-10);
        assert!(fit.exponent_hi - fit.exponent_lo < 1e-10 && (fit.r2 - 1.0).abs() < 1e-12);
        assert!(power_law_fit(&xs[..2], &ys[..2]).is_none());
    }

    #[test]
    fn noisy_fit_interval_covers_the_truth() {
        // Deterministic ±5% wiggle: the 95% interval must contain the true exponent −1.
        let xs: Vec<f64> = (1..=12).map(|i| f64::from(i) * 10.0).collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| (1.0 + 0.05 * (i as f64 * 2.3).sin()) / x)
            .collect();
        let fit = power_law_fit(&xs, &ys).unwrap();
        assert!(fit.exponent_lo < -1.0 && -1.0 < fit.exponent_hi, "{fit:?}");
        let s = spread(&[1.0, 2.0, 3.0]);
        assert!((s.mean - 2.0).abs() < 1e-15 && (s.std - 1.0).abs() < 1e-15 && s.min == 1.0 && s.max == 3.0);
    }
}
