//! C10: DPR's reconstruction error at m = 200 matches the sparse methods' at m = 750 (docs/THEORY.md
//! §8: "DPR's error at m = 200 matches theirs at m ≥ 750").
//!
//! Requirements, per decoder and both selection modes, for each sparse method: the mean over
//! the digits of `e_DPR(200) − e_sparse(750)` (per-pixel error `‖ŷ − y‖²/1024`, 32×32; per
//! digit, averaged over independent draws of `A`, paired by digit and draw) below 0, with its
//! stratified t interval. The verdict is [`super::image_experiment::judge`] on the judged
//! decoder's requirements (docs/THEORY.md §15.5): PASS when every 95% interval lies below 0,
//! FAIL when some Bonferroni interval lies above 0, INCONCLUSIVE otherwise.

use std::path::PathBuf;

use super::image_experiment::{
    Ask, CheckRow, Curve, Params, SPARSE, Sample, cells, checks, computed_draws, decoder_names, report, samples, strata,
};
use super::{ALPHA, ClaimDir, ClaimReport, Spec};
use crate::error::{Error, Result};
use crate::experiments::reconstruct::Algorithm;
use crate::solvers::Selection;

/// DPR's m in the claim.
pub const DPR_M: usize = 200;
/// The sparse methods' m in the claim.
pub const SPARSE_M: usize = 750;

/// The requirements of C10 on the samples, with their intervals at level `alpha`: one per
/// (decoder, selection, sparse method) with data at both m.
pub fn c10_checks(samples: &[Sample], alpha: f64, seed: u64) -> Vec<CheckRow> {
    let error = |s: &Sample| s.error;
    let mut asks = Vec::new();
    for decoder in decoder_names(samples) {
        for selection in [Selection::Objective, Selection::Oracle] {
            let dpr = Curve {
                algorithm: Algorithm::Dpr,
                decoder: decoder.clone(),
                selection,
            };
            let dpr_cells = cells(samples, &dpr, DPR_M, error);
            for algorithm in SPARSE {
                let curve = Curve {
                    algorithm,
                    decoder: String::new(),
                    selection,
                };
                let sparse_cells = cells(samples, &curve, SPARSE_M, error);
                if sparse_cells.is_empty() {
                    continue;
                }
                let differences = dpr_cells
                    .iter()
                    .filter_map(|(key, d)| sparse_cells.get(key).map(|s| (*key, d - s)))
                    .collect();
                asks.push(Ask {
                    decoder: decoder.clone(),
                    selection,
                    algorithm,
                    m: SPARSE_M,
                    quantity: "error_padded1024_dpr200_minus_sparse750",
                    strata: strata(&differences),
                    threshold: 0.0,
                    above: false,
                });
            }
        }
    }
    checks(asks, alpha, seed)
}

/// Runs C10.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    let source = PathBuf::from(format!("verify/{}", dir.name));
    if !p.m.contains(&SPARSE_M) {
        return Err(Error::Config {
            path: source,
            reason: "key `m`: C10 compares the sparse methods at m = 750; include it".into(),
        });
    }
    let draws = computed_draws(&p, seed, &source)?;
    let checks = c10_checks(&samples(&draws), ALPHA, seed);
    report(spec, dir, &draws, "c10", &checks, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Verdict;
    use crate::claims::image_experiment::{judge, testing::curve};

    /// DPR (relu) at 200 around `dpr`, CoPRAM and ThWF at 750 around 0.010 and 0.012; errors
    /// vary by ±`spread` over digits and draws (the same pattern on every curve, so the paired
    /// differences are constant), 2 draws.
    fn grid(dpr: f64, spread: f64) -> Vec<Sample> {
        let mut s = curve(Algorithm::Dpr, "relu", Selection::Oracle, 200, dpr, spread, 2);
        s.extend(curve(Algorithm::Copram, "", Selection::Oracle, 750, 0.010, spread, 2));
        s.extend(curve(Algorithm::Thwf, "", Selection::Oracle, 750, 0.012, spread, 2));
        s.extend(curve(Algorithm::Thwf, "", Selection::Oracle, 200, 0.001, spread, 2));
        s
    }

    #[test]
    fn dpr_below_every_sparse_method_passes() {
        let checks = c10_checks(&grid(0.005, 0.002), 0.05, 1);
        assert_eq!(checks.len(), 2);
        assert_eq!(judge(&checks, "relu"), Verdict::Pass);
    }

    #[test]
    fn dpr_above_a_sparse_method_fails() {
        // DPR 0.015 vs CoPRAM 0.010 on every digit and draw: the difference is +0.005 with no
        // spread at all, so the claim is contradicted with certainty.
        assert_eq!(judge(&c10_checks(&grid(0.015, 0.002), 0.05, 1), "relu"), Verdict::Fail);
    }

    #[test]
    fn a_difference_within_its_noise_is_inconclusive() {
        // DPR's errors spread differently from CoPRAM's: the differences scatter around 0.
        let mut s = curve(Algorithm::Dpr, "relu", Selection::Oracle, 200, 0.010, 0.004, 2);
        s.extend(curve(Algorithm::Copram, "", Selection::Oracle, 750, 0.010, -0.004, 2));
        assert_eq!(judge(&c10_checks(&s, 0.05, 1), "relu"), Verdict::Inconclusive);
    }
}
