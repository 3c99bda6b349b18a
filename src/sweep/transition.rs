//! The transition `m*`: the number of measurements at which the success rate reaches 50%.
//!
//! **Point estimate.** The success probability is assumed nondecreasing in m (more
//! measurements never make recovery harder), so the observed rates are first made monotone by
//! isotonic regression (pool adjacent violators, weighted by trials: the maximum-likelihood
//! nondecreasing fit), and `m*` is where that curve reaches 0.5, interpolated linearly in
//! `log m` between the two grid points around it (a curve equal to 0.5 on a stretch of grid
//! points gives their geometric midpoint). Below the first grid point or never reached: `m*`
//! is censored (`below_grid`, `above_grid`), not extrapolated. No curve shape is assumed, which
//! matters for solvers whose success rate plateaus below 1 (GD without the negation check).
//!
//! **Interval.** The bracket of grid points that the data cannot separate from 50%:
//! `m*_lo` is the largest grid m at or below `m*` whose Wilson 95% interval lies entirely below
//! 0.5, `m*_hi` the smallest grid m at or above `m*` whose interval lies entirely above 0.5
//! (empty when there is none). It is pointwise (one interval per grid point, no multiplicity
//! correction) and no finer than the grid; it says where the Wilson band crosses 0.5.

use crate::stats::wilson_interval;

/// Successes of the trials at one grid point of a success curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    /// Measurements.
    pub m: f64,
    /// Successful trials.
    pub successes: u64,
    /// Trials.
    pub trials: u64,
}

/// Where `m*` lies relative to the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// Inside the grid, interpolated.
    Interpolated,
    /// The success rate exceeds 0.5 already at the smallest m.
    BelowGrid,
    /// The success rate stays below 0.5 at every m.
    AboveGrid,
}

impl TransitionKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            TransitionKind::Interpolated => "interpolated",
            TransitionKind::BelowGrid => "below_grid",
            TransitionKind::AboveGrid => "above_grid",
        }
    }
}

/// The transition of one success curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    /// `m*` (estimate; `None` when censored).
    pub m_star: Option<f64>,
    /// Largest grid m significantly below 50% success (at or below `m*`).
    pub lo: Option<f64>,
    /// Smallest grid m significantly above 50% success (at or above `m*`).
    pub hi: Option<f64>,
    /// Where `m*` lies.
    pub kind: TransitionKind,
}

/// The nondecreasing sequence closest to `values` in weighted least squares (pool adjacent
/// violators; weights must be positive).
pub fn isotonic(values: &[f64], weights: &[f64]) -> Vec<f64> {
    // Blocks of pooled points: (mean, total weight, number of points).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(values.len());
    for (&v, &w) in values.iter().zip(weights) {
        blocks.push((v, w, 1));
        while blocks.len() > 1 && blocks[blocks.len() - 2].0 > blocks[blocks.len() - 1].0 {
            let (v2, w2, n2) = blocks.pop().expect("two blocks");
            let last = blocks.last_mut().expect("one block");
            let w = last.1 + w2;
            *last = ((last.0 * last.1 + v2 * w2) / w, w, last.2 + n2);
        }
    }
    blocks
        .into_iter()
        .flat_map(|(v, _, n)| std::iter::repeat_n(v, n))
        .collect()
}

/// The 50% point of a monotone curve `rates` at grid `ms` (see the module doc).
fn crossing(ms: &[f64], rates: &[f64]) -> (Option<f64>, TransitionKind) {
    let Some(j) = rates.iter().position(|&p| p >= 0.5) else {
        return (None, TransitionKind::AboveGrid);
    };
    if rates[j] == 0.5 {
        let last = j + rates[j..].iter().take_while(|&&p| p == 0.5).count() - 1;
        return (Some((ms[j] * ms[last]).sqrt()), TransitionKind::Interpolated);
    }
    if j == 0 {
        return (None, TransitionKind::BelowGrid);
    }
    let t = (0.5 - rates[j - 1]) / (rates[j] - rates[j - 1]);
    let log_m = ms[j - 1].ln() + t * (ms[j].ln() - ms[j - 1].ln());
    (Some(log_m.exp()), TransitionKind::Interpolated)
}

/// The transition of a success curve; `points` sorted by increasing m.
pub fn transition(points: &[CurvePoint]) -> Transition {
    let ms: Vec<f64> = points.iter().map(|p| p.m).collect();
    let rates: Vec<f64> = points.iter().map(|p| p.successes as f64 / p.trials as f64).collect();
    let weights: Vec<f64> = points.iter().map(|p| p.trials as f64).collect();
    let (m_star, kind) = crossing(&ms, &isotonic(&rates, &weights));
    let wilson: Vec<(f64, f64)> = points.iter().map(|p| wilson_interval(p.successes, p.trials)).collect();
    let below = |m: f64| match kind {
        TransitionKind::BelowGrid => false,
        TransitionKind::AboveGrid => true,
        TransitionKind::Interpolated => m <= m_star.unwrap_or(f64::INFINITY),
    };
    let above = |m: f64| match kind {
        TransitionKind::BelowGrid => true,
        TransitionKind::AboveGrid => false,
        TransitionKind::Interpolated => m >= m_star.unwrap_or(0.0),
    };
    let lo = ms
        .iter()
        .zip(&wilson)
        .rev()
        .find(|(m, w)| below(**m) && w.1 < 0.5)
        .map(|(m, _)| *m);
    let hi = ms
        .iter()
        .zip(&wilson)
        .find(|(m, w)| above(**m) && w.0 > 0.5)
        .map(|(m, _)| *m);
    Transition { m_star, lo, hi, kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tolerance for values computed by a few floating-point operations.
    const EPS: f64 = 1e-12;

    // Tests of `transition` on constructed curves are in tests/sweep.rs.

    #[test]
    fn isotonic_pools_violators_by_weight() {
        assert_eq!(isotonic(&[0.0, 0.6, 0.4, 1.0], &[1.0; 4]), vec![0.0, 0.5, 0.5, 1.0]);
        let fit = isotonic(&[0.9, 0.1, 0.2], &[1.0, 3.0, 1.0]);
        // 0.9 > 0.1 pool to (0.9 + 3·0.1)/4 = 0.3; that exceeds 0.2, so all three pool to
        // (0.9 + 0.3 + 0.2)/5 = 0.28.
        assert!(fit.iter().all(|v| (v - 0.28).abs() < EPS), "{fit:?}");
        assert_eq!(isotonic(&[0.1, 0.2], &[1.0, 1.0]), vec![0.1, 0.2]);
    }
}
