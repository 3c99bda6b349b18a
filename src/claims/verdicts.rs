//! Verdict rules shared by several claims: pure functions from a confidence interval (or a set
//! of them) to PASS / FAIL / INCONCLUSIVE (docs/THEORY.md §15.3 and §15.5).
//!
//! Both rules invert tests: a `1 − α` interval that excludes a value rejects that value at
//! level α, so a verdict decided by where an interval lies has the interval's error rate.

use super::Verdict;

/// The verdict on a fitted decay exponent `p` with interval `[lo, hi]` (`None`: no fit) when
/// the theory predicts decay at a rate in `band = [band_lo, band_hi]` (`band_hi ≤ 0`; use
/// `f64::NEG_INFINITY` for "any decay"):
///
/// - PASS: `hi < 0` (decay is significant: `H0: p ≥ 0` rejected) and the interval meets the
///   band (the predicted rate is not rejected);
/// - FAIL: the interval misses the band (every predicted rate is rejected at the interval's
///   level; this includes a significant rise);
/// - INCONCLUSIVE: otherwise (the interval meets the band but contains 0), or no fit.
pub fn decay_exponent(interval: Option<(f64, f64)>, band: (f64, f64)) -> Verdict {
    let Some((lo, hi)) = interval else {
        return Verdict::Inconclusive;
    };
    let meets_band = lo <= band.1 && band.0 <= hi;
    if !meets_band {
        Verdict::Fail
    } else if hi < 0.0 {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// The verdict on a conjunction of one-sided requirements "mean > threshold" (or "<"), each
/// judged by a two-sided interval: `intervals[i] = (lo, hi)` at level `1 − α` and
/// `intervals_bonferroni[i]` at level `1 − α/K` (`K` requirements), `above[i]` whether the
/// requirement is "above" its threshold:
///
/// - PASS: every `1 − α` interval lies on the required side (an intersection–union test:
///   the claim holds only if every part does, so no correction is needed to keep a wrong PASS
///   below α);
/// - FAIL: some `1 − α/K` interval lies entirely on the wrong side (a union over `K` parts:
///   Bonferroni keeps a wrong FAIL below α);
/// - INCONCLUSIVE: otherwise, or no requirement at all.
pub fn all_clear(requirements: &[Requirement]) -> Verdict {
    if requirements.is_empty() {
        return Verdict::Inconclusive;
    }
    if requirements.iter().any(Requirement::wrong_side) {
        Verdict::Fail
    } else if requirements.iter().all(Requirement::clears) {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// One requirement "mean > threshold" or "mean < threshold" with the mean's intervals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Requirement {
    /// The threshold.
    pub threshold: f64,
    /// `true` for "> threshold", `false` for "< threshold".
    pub above: bool,
    /// The two-sided `1 − α` interval.
    pub interval: (f64, f64),
    /// The two-sided `1 − α/K` interval (`K` requirements in the claim).
    pub interval_bonferroni: (f64, f64),
}

impl Requirement {
    /// The `1 − α` interval lies strictly on the required side.
    pub fn clears(&self) -> bool {
        if self.above {
            self.interval.0 > self.threshold
        } else {
            self.interval.1 < self.threshold
        }
    }

    /// The `1 − α/K` interval lies strictly on the wrong side.
    pub fn wrong_side(&self) -> bool {
        if self.above {
            self.interval_bonferroni.1 < self.threshold
        } else {
            self.interval_bonferroni.0 > self.threshold
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C3 band: −1/2 ± 0.15.
    const BAND: (f64, f64) = (-0.65, -0.35);

    #[test]
    fn a_decay_exponent_passes_only_when_significant_and_on_the_predicted_rate() {
        assert_eq!(decay_exponent(Some((-0.6, -0.45)), BAND), Verdict::Pass);
        // Significant decay, but far faster than predicted: the prediction is rejected.
        assert_eq!(decay_exponent(Some((-1.2, -0.9)), BAND), Verdict::Fail);
        // A significant rise rejects every decay rate.
        assert_eq!(
            decay_exponent(Some((0.1, 0.4)), (f64::NEG_INFINITY, 0.0)),
            Verdict::Fail
        );
        // Compatible with the band but also with no decay at all: the data cannot tell.
        assert_eq!(decay_exponent(Some((-0.5, 0.2)), BAND), Verdict::Inconclusive);
        assert_eq!(decay_exponent(None, BAND), Verdict::Inconclusive);
        // "Any decay": an interval just below 0 passes, one touching 0 does not.
        assert_eq!(
            decay_exponent(Some((-0.3, -0.01)), (f64::NEG_INFINITY, 0.0)),
            Verdict::Pass
        );
        assert_eq!(
            decay_exponent(Some((-0.3, 0.0)), (f64::NEG_INFINITY, 0.0)),
            Verdict::Inconclusive
        );
    }

    fn req(above: bool, interval: (f64, f64), wide: (f64, f64)) -> Requirement {
        Requirement {
            threshold: 0.9,
            above,
            interval,
            interval_bonferroni: wide,
        }
    }

    #[test]
    fn a_conjunction_passes_when_every_interval_clears_and_fails_on_a_corrected_miss() {
        let dpr_clears = req(true, (0.91, 0.95), (0.905, 0.955));
        let sparse_clears = req(false, (0.3, 0.5), (0.25, 0.55));
        assert_eq!(all_clear(&[dpr_clears, sparse_clears]), Verdict::Pass);
        // DPR's 95% interval straddles 0.9: not a PASS, and not a FAIL either.
        let dpr_straddles = req(true, (0.89, 0.93), (0.88, 0.94));
        assert_eq!(all_clear(&[dpr_straddles, sparse_clears]), Verdict::Inconclusive);
        // Below 0.9 at 95% but not at the corrected level: still INCONCLUSIVE (a FAIL must
        // survive the correction for the K parts).
        let dpr_barely_below = req(true, (0.85, 0.899), (0.84, 0.91));
        assert_eq!(all_clear(&[dpr_barely_below, sparse_clears]), Verdict::Inconclusive);
        let dpr_below = req(true, (0.80, 0.85), (0.79, 0.86));
        assert_eq!(all_clear(&[dpr_below, sparse_clears]), Verdict::Fail);
        let sparse_above = req(false, (0.92, 0.95), (0.91, 0.96));
        assert_eq!(all_clear(&[dpr_clears, sparse_above]), Verdict::Fail);
        assert_eq!(all_clear(&[]), Verdict::Inconclusive);
    }

    #[test]
    fn an_interval_end_on_the_threshold_decides_nothing() {
        // Both rules are strict: an interval whose end equals the threshold contains it, so it
        // rejects nothing, and the requirement neither clears nor lies on the wrong side. A
        // rule that took `≥` for `>` would PASS or FAIL each of these.
        let cases = [
            // "above": the 95% interval starts at 0.9; the Bonferroni one ends at 0.9.
            req(true, (0.9, 0.95), (0.88, 0.97)),
            req(true, (0.85, 0.89), (0.84, 0.9)),
            // "below": the 95% interval ends at 0.9; the Bonferroni one starts at 0.9.
            req(false, (0.85, 0.9), (0.83, 0.92)),
            req(false, (0.91, 0.95), (0.9, 0.96)),
        ];
        for case in cases {
            assert_eq!(all_clear(&[case]), Verdict::Inconclusive, "{case:?}");
        }
    }
}
