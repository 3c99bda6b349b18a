//! Small statistics used by the reports and the claims' verdicts: power-law fits with
//! confidence intervals, summaries of repeated trials, the exact McNemar test and its power,
//! Holm's step-down adjustment, Bonferroni-corrected z tests and stratified t intervals
//! (docs/THEORY.md §15).

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::factorial::ln_binomial;

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
    /// Standard error of the exponent (not written: the interval carries it).
    #[serde(skip)]
    pub exponent_se: f64,
}

impl PowerLawFit {
    /// The two-sided `1 − alpha` t interval of the exponent (`points − 2` degrees of freedom;
    /// docs/THEORY.md §15.3): `exponent_lo`/`exponent_hi` are the one at `alpha = 0.05`.
    pub fn exponent_interval(&self, alpha: f64) -> (f64, f64) {
        let t = StudentsT::new(0.0, 1.0, self.points as f64 - 2.0)
            .map_or(f64::INFINITY, |d| d.inverse_cdf(1.0 - alpha / 2.0));
        (
            self.exponent - t * self.exponent_se,
            self.exponent + t * self.exponent_se,
        )
    }
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
        exponent_se: se,
    })
}

/// An ordinary least-squares fit `y ≈ Σ_j β_j x_j` with a t interval per coefficient
/// (docs/THEORY.md §17.4).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LinearFit {
    /// The coefficients `β_j`, in the order of the design's columns.
    pub coefficients: Vec<f64>,
    /// Their standard errors `s √((XᵀX)⁻¹_jj)`, `s² = SSE / (N − p)`.
    pub standard_errors: Vec<f64>,
    /// Coefficient of determination (about the mean of `y`; the design holds an intercept).
    pub r2: f64,
    /// Points used (rows whose entries are all finite).
    pub points: usize,
}

impl LinearFit {
    /// The two-sided `1 − alpha` t interval of coefficient `j` (`points − p` degrees of
    /// freedom; docs/THEORY.md §17.4).
    pub fn interval(&self, j: usize, alpha: f64) -> (f64, f64) {
        let dof = (self.points - self.coefficients.len()) as f64;
        let t = StudentsT::new(0.0, 1.0, dof).map_or(f64::INFINITY, |d| d.inverse_cdf(1.0 - alpha / 2.0));
        let (b, se) = (self.coefficients[j], self.standard_errors[j]);
        (b - t * se, b + t * se)
    }
}

/// Fits `y ≈ X β` by ordinary least squares through the normal equations `XᵀX β = Xᵀy`
/// (docs/THEORY.md §17.4); `design[i]` is row `i` of `X` (every row of the same length `p`,
/// the first column the intercept). Rows with a non-finite entry are skipped. `None` with
/// `N ≤ p` usable rows (no interval is possible) or a singular `XᵀX` (a column that does not
/// vary independently of the others).
pub fn linear_fit(design: &[Vec<f64>], ys: &[f64]) -> Option<LinearFit> {
    let rows: Vec<(&[f64], f64)> = design
        .iter()
        .zip(ys)
        .filter(|(x, y)| y.is_finite() && x.iter().all(|v| v.is_finite()))
        .map(|(x, y)| (x.as_slice(), *y))
        .collect();
    let p = design.first()?.len();
    let n = rows.len();
    if n <= p || p == 0 {
        return None;
    }
    let mut xtx = vec![vec![0.0; p]; p];
    let mut xty = vec![0.0; p];
    for (x, y) in &rows {
        for a in 0..p {
            xty[a] += x[a] * y;
            for b in 0..p {
                xtx[a][b] += x[a] * x[b];
            }
        }
    }
    let inverse = invert(xtx)?;
    let beta: Vec<f64> = (0..p).map(|a| (0..p).map(|b| inverse[a][b] * xty[b]).sum()).collect();
    let fitted = |x: &[f64]| x.iter().zip(&beta).map(|(v, b)| v * b).sum::<f64>();
    let sse: f64 = rows.iter().map(|(x, y)| (y - fitted(x)).powi(2)).sum();
    let mean = rows.iter().map(|r| r.1).sum::<f64>() / n as f64;
    let syy: f64 = rows.iter().map(|r| (r.1 - mean).powi(2)).sum();
    let s2 = sse / (n - p) as f64;
    Some(LinearFit {
        standard_errors: (0..p).map(|j| (s2 * inverse[j][j]).sqrt()).collect(),
        coefficients: beta,
        r2: if syy > 0.0 { 1.0 - sse / syy } else { 1.0 },
        points: n,
    })
}

/// The inverse of a small symmetric positive definite matrix by Gauss–Jordan elimination with
/// partial pivoting; `None` when a pivot falls below `1e-12` of the largest diagonal entry.
fn invert(mut a: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let p = a.len();
    let scale = (0..p).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    let mut inv: Vec<Vec<f64>> = (0..p)
        .map(|i| (0..p).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for col in 0..p {
        let pivot = (col..p).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= 1e-12 * scale {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..p {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for row in (0..p).filter(|&r| r != col) {
            let f = a[row][col];
            for j in 0..p {
                a[row][j] -= f * a[col][j];
                inv[row][j] -= f * inv[col][j];
            }
        }
    }
    Some(inv)
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

/// The two-sided exact McNemar p-value of a paired design with `b` pairs discordant one way
/// and `c` the other (docs/THEORY.md §15.1): under `H0` (either discordance equally likely)
/// `b ~ Bin(b + c, 1/2)` given `b + c`, and the p-value is `min(1, 2 P(X ≤ min(b, c)))`.
/// With no discordant pair it is 1 (no evidence either way).
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    let low = b.min(c);
    let tail: f64 = (0..=low)
        .map(|i| (ln_binomial(n, i) - n as f64 * std::f64::consts::LN_2).exp())
        .sum();
    (2.0 * tail).min(1.0)
}

/// Holm's step-down adjusted p-values (docs/THEORY.md §15.2), in the order given: the `i`-th
/// smallest `p_(i)` of `G` becomes `max_{j ≤ i} min(1, (G − j + 1) p_(j))`. Rejecting every
/// hypothesis whose adjusted p-value is below α controls the family-wise error at α for any
/// dependence between the tests.
pub fn holm_adjust(p: &[f64]) -> Vec<f64> {
    let g = p.len();
    let mut order: Vec<usize> = (0..g).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; g];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((g - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The probability that the exact McNemar test at level `alpha` rejects `H0` with `pairs`
/// pairs whose discordances occur with probabilities `p_b` and `p_c` per pair
/// (docs/THEORY.md §15.4): `Σ_D P(D) Σ_b P(b | D) 1[p(b, D − b) < α]` with
/// `D ~ Bin(pairs, p_b + p_c)` and `b | D ~ Bin(D, p_b / (p_b + p_c))`, summed exactly.
pub fn mcnemar_power(pairs: u64, p_b: f64, p_c: f64, alpha: f64) -> f64 {
    let q = p_b + p_c;
    if q <= 0.0 {
        return 0.0;
    }
    let pmf = |n: u64, k: u64, p: f64| {
        if p >= 1.0 {
            return f64::from(k == n);
        }
        if p <= 0.0 {
            return f64::from(k == 0);
        }
        (ln_binomial(n, k) + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp()
    };
    let share = p_b / q;
    (0..=pairs)
        .map(|d| {
            let rejecting: f64 = (0..=d)
                .filter(|&b| mcnemar_exact(b, d - b) < alpha)
                .map(|b| pmf(d, b, share))
                .sum();
            pmf(pairs, d, q) * rejecting
        })
        .sum()
}

/// The two-sided normal p-value `2 (1 − Φ(|z|))` of a z-score.
pub fn normal_two_sided_p(z: f64) -> f64 {
    let normal = Normal::standard();
    2.0 * normal.sf(z.abs())
}

/// A two-sided `1 − α` confidence interval for a mean over fixed strata (docs/THEORY.md
/// §15.5): the strata (e.g. the paper's fixed test digits) are averaged with equal weights, and
/// within stratum `i` the `r_i ≥ 2` replicates (independent draws of the randomness) estimate
/// its mean with variance `s_i² / r_i`. The estimate is the mean of the stratum means, its
/// variance `Σ_i s_i² / r_i / S²`, and the interval uses Student's t with the
/// Welch–Satterthwaite degrees of freedom `(Σ v_i)² / Σ v_i² / (r_i − 1)`, `v_i = s_i² / r_i`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct StratifiedInterval {
    /// The mean of the stratum means.
    pub mean: f64,
    /// Its standard error.
    pub se: f64,
    /// Welch–Satterthwaite degrees of freedom (infinite when every stratum is constant).
    pub df: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
}

/// The [`StratifiedInterval`] at level `1 − alpha` of `strata` (each a list of replicates);
/// `None` unless there is a stratum and every stratum has at least 2 finite replicates.
pub fn stratified_interval(strata: &[Vec<f64>], alpha: f64) -> Option<StratifiedInterval> {
    if strata.is_empty() || strata.iter().any(|s| s.len() < 2 || s.iter().any(|v| !v.is_finite())) {
        return None;
    }
    let count = strata.len() as f64;
    let parts: Vec<(f64, f64, f64)> = strata
        .iter()
        .map(|s| {
            let sp = spread(s);
            let r = s.len() as f64;
            (sp.mean, sp.std * sp.std / r, r - 1.0)
        })
        .collect();
    let mean = parts.iter().map(|p| p.0).sum::<f64>() / count;
    let var_sum: f64 = parts.iter().map(|p| p.1).sum();
    let se = var_sum.sqrt() / count;
    let df_den: f64 = parts.iter().map(|p| p.1 * p.1 / p.2).sum();
    let df = if df_den > 0.0 {
        var_sum * var_sum / df_den
    } else {
        f64::INFINITY
    };
    let quantile = if df.is_finite() {
        StudentsT::new(0.0, 1.0, df).ok()?.inverse_cdf(1.0 - alpha / 2.0)
    } else {
        Normal::standard().inverse_cdf(1.0 - alpha / 2.0)
    };
    Some(StratifiedInterval {
        mean,
        se,
        df,
        lo: mean - quantile * se,
        hi: mean + quantile * se,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_fit_recovers_a_plane_and_agrees_with_the_power_law_fit() {
        // y = 1 − 2 a + 0.5 b exactly on a 3 × 3 grid: recovered to rounding, zero width.
        let design: Vec<Vec<f64>> = (0..9)
            .map(|i| vec![1.0, (i % 3) as f64, (i / 3) as f64 * 1.7])
            .collect();
        let ys: Vec<f64> = design.iter().map(|x| 1.0 - 2.0 * x[1] + 0.5 * x[2]).collect();
        let fit = linear_fit(&design, &ys).unwrap();
        for (b, want) in fit.coefficients.iter().zip([1.0, -2.0, 0.5]) {
            assert!((b - want).abs() < 1e-12, "{:?}", fit.coefficients);
        }
        let (lo, hi) = fit.interval(1, 0.05);
        assert!(hi - lo < 1e-9 && (fit.r2 - 1.0).abs() < 1e-12);
        // With columns (1, ln x) it is the power-law fit of y: same slope and same interval.
        let xs = [10.0, 20.0, 50.0, 100.0, 200.0];
        let noisy: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x): (usize, &f64)| 3.0 * x.powf(-0.4) * (1.0 + 0.1 * (i as f64 * 1.9).sin()))
            .collect();
        let law = power_law_fit(&xs, &noisy).unwrap();
        let rows: Vec<Vec<f64>> = xs.iter().map(|x| vec![1.0, x.ln()]).collect();
        let logs: Vec<f64> = noisy.iter().map(|y| y.ln()).collect();
        let lin = linear_fit(&rows, &logs).unwrap();
        let (lo, hi) = lin.interval(1, 0.05);
        assert!((lin.coefficients[1] - law.exponent).abs() < 1e-10);
        assert!((lo - law.exponent_lo).abs() < 1e-9 && (hi - law.exponent_hi).abs() < 1e-9);
        // A column that repeats another, or too few rows, has no fit.
        let twin: Vec<Vec<f64>> = xs.iter().map(|x| vec![1.0, x.ln(), 2.0 * x.ln()]).collect();
        assert!(linear_fit(&twin, &logs).is_none());
        assert!(linear_fit(&rows[..2], &logs[..2]).is_none());
    }

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
        let (lo, hi) = fit.exponent_interval(0.05);
        assert!((lo - fit.exponent_lo).abs() < 1e-12 && (hi - fit.exponent_hi).abs() < 1e-12);
        let (lo99, hi99) = fit.exponent_interval(0.01);
        assert!(lo99 < lo && hi < hi99);
        let s = spread(&[1.0, 2.0, 3.0]);
        assert!((s.mean - 2.0).abs() < 1e-15 && (s.std - 1.0).abs() < 1e-15 && s.min == 1.0 && s.max == 3.0);
    }

    #[test]
    fn mcnemar_matches_binomial_tables() {
        // b = 0, c = 5: 2 · 2⁻⁵ = 0.0625 (the smallest n where one side can reach 5% is 6).
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-15);
        assert!((mcnemar_exact(0, 6) - 0.03125).abs() < 1e-15);
        // b = 2, c = 10: 2 · (1 + 12 + 66)/4096 = 0.038574… (R: binom.test(2, 12)$p.value).
        assert!((mcnemar_exact(2, 10) - 0.038_574_218_75).abs() < 1e-12);
        assert!((mcnemar_exact(10, 2) - mcnemar_exact(2, 10)).abs() < 1e-15);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
    }

    #[test]
    fn holm_steps_down_and_stays_monotone() {
        // p = (0.01, 0.04, 0.03, 0.5): sorted 0.01·4, 0.03·3, 0.04·2, 0.5·1 → 0.04, 0.09, 0.09
        // (monotone), 0.5.
        let adjusted = holm_adjust(&[0.01, 0.04, 0.03, 0.5]);
        let expected = [0.04, 0.09, 0.09, 0.5];
        assert!(
            adjusted.iter().zip(expected).all(|(a, e)| (a - e).abs() < 1e-15),
            "{adjusted:?}"
        );
        assert_eq!(holm_adjust(&[0.6, 0.9]), vec![1.0, 1.0]);
    }

    #[test]
    fn mcnemar_power_is_the_rejection_probability() {
        // With every pair discordant in DPR's favour (p_b = 1) and 6 pairs, b = 6, c = 0 always
        // and p = 1/32 < 0.05: power 1; with 5 pairs p = 1/16: power 0.
        assert!((mcnemar_power(6, 1.0, 0.0, 0.05) - 1.0).abs() < 1e-12);
        assert!(mcnemar_power(5, 1.0, 0.0, 0.05).abs() < 1e-12);
        // No effect: the exact test is conservative, so the rejection rate is at most α.
        let size = mcnemar_power(60, 0.2, 0.2, 0.05);
        assert!(size > 0.0 && size <= 0.05, "{size}");
        assert!(mcnemar_power(60, 0.3, 0.05, 0.05) > 0.9);
    }

    #[test]
    fn stratified_interval_reduces_to_the_t_interval_for_one_stratum() {
        // One stratum 1, 2, 3: mean 2, SE 1/√3, t(2) quantile 4.302653 (R: qt(0.975, 2)).
        let one = stratified_interval(&[vec![1.0, 2.0, 3.0]], 0.05).unwrap();
        let half = 4.302_652_729_749_464 / 3f64.sqrt();
        assert!((one.mean - 2.0).abs() < 1e-15 && (one.df - 2.0).abs() < 1e-12);
        assert!((one.lo - (2.0 - half)).abs() < 1e-9 && (one.hi - (2.0 + half)).abs() < 1e-9);
        // Two equal-variance strata: df = 2 + 2 (Satterthwaite is exact then), SE halves by √2.
        let two = stratified_interval(&[vec![1.0, 2.0, 3.0], vec![11.0, 12.0, 13.0]], 0.05).unwrap();
        assert!((two.mean - 7.0).abs() < 1e-12 && (two.df - 4.0).abs() < 1e-12);
        assert!((two.se - (1.0 / 3f64.sqrt()) / 2f64.sqrt()).abs() < 1e-12);
        assert!(stratified_interval(&[vec![1.0]], 0.05).is_none());
        // statrs' erfc is accurate to about 1e-10 here; a wrong tail (one-sided, or 1 − Φ(z)
        // without the factor 2) is off by 0.025 or more.
        let p = normal_two_sided_p(Z_95);
        assert!((p - 0.05).abs() < 1e-9, "{p}");
    }
}
