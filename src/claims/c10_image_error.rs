//! C10: DPR's reconstruction error at m = 200 matches the sparse methods' at m = 750 (docs/THEORY.md
//! §8: "DPR's error at m = 200 matches theirs at m ≥ 750").
//!
//! For each decoder and selection mode: DPR's mean per-pixel error `‖ŷ − y‖²/1024` (32×32,
//! mean over the images) at m = 200 must be at most each sparse method's mean error at m = 750
//! (same selection mode; the sparsity is the oracle's in both). The verdict is the judged
//! decoder's (the paper's `vae`) under both selection modes; the other decoder is reported
//! beside it.

use std::path::PathBuf;

use super::image_experiment::{
    CheckRow, Params, SPARSE, VerdictRow, computed, decoder_names, point, report, verdict_words, verdicts,
};
use super::{ClaimDir, ClaimReport, Spec};
use crate::error::{Error, Result};
use crate::experiments::reconstruct::{Algorithm, SummaryRow};
use crate::solvers::Selection;

/// DPR's m in the claim.
pub const DPR_M: usize = 200;
/// The sparse methods' m in the claim.
pub const SPARSE_M: usize = 750;

/// The checks of C10 on a summary: one per (decoder, selection, sparse method).
pub fn checks(summary: &[SummaryRow], seed: u64) -> Vec<CheckRow> {
    let mut out = Vec::new();
    for decoder in decoder_names(summary) {
        for selection in [Selection::Objective, Selection::Oracle] {
            let Some(dpr) = point(summary, Algorithm::Dpr, &decoder, selection, DPR_M) else {
                continue;
            };
            for algorithm in SPARSE {
                if let Some(r) = point(summary, algorithm, "", selection, SPARSE_M) {
                    out.push(CheckRow {
                        seed,
                        images: r.images,
                        decoder: decoder.clone(),
                        selection,
                        algorithm,
                        m: SPARSE_M,
                        quantity: "error_padded1024_mean",
                        value: r.error_padded1024_mean,
                        requirement: format!(
                            "≥ {:e} (DPR's mean error at m = {DPR_M} with this decoder)",
                            dpr.error_padded1024_mean
                        ),
                        met: dpr.error_padded1024_mean <= r.error_padded1024_mean,
                    });
                }
            }
        }
    }
    out
}

fn measured(c: &[SummaryRow], checks: &[CheckRow], verdicts: &[VerdictRow], images: usize) -> String {
    let parts: Vec<String> = verdicts
        .iter()
        .map(|v| {
            let dpr = point(c, Algorithm::Dpr, &v.decoder, v.selection, DPR_M)
                .map_or_else(|| "n/a".into(), |r| format!("{:.5}", r.error_padded1024_mean));
            let sparse: Vec<String> = checks
                .iter()
                .filter(|k| k.decoder == v.decoder && k.selection == v.selection)
                .map(|k| format!("{} {:.5}", k.algorithm.label(), k.value))
                .collect();
            format!(
                "{}: DPR {dpr} at m = 200 vs at m = 750 {}",
                verdict_words(v),
                sparse.join(", ")
            )
        })
        .collect();
    format!(
        "mean per-pixel error ‖ŷ−y‖²/1024 over {images} images (exact for these images and seed): {}",
        parts.join("; ")
    )
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
    let c = computed(&p, seed, &source)?;
    let checks = checks(&c.summary, seed);
    let verdict_rows = verdicts(&checks, &p.judged_decoder, seed);
    let text = measured(&c.summary, &checks, &verdict_rows, c.images);
    report(spec, dir, &c, "c10", &checks, &verdict_rows, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::claims::image_experiment::test_point;

    fn row(algorithm: Algorithm, decoder: &str, m: usize, error: f64) -> SummaryRow {
        test_point(algorithm, decoder, Selection::Oracle, m, (0.0, error))
    }

    #[test]
    fn dpr_at_200_must_not_exceed_any_sparse_method_at_750() {
        let grid = |dpr: f64| {
            vec![
                row(Algorithm::Dpr, "relu", 200, dpr),
                row(Algorithm::Copram, "", 750, 0.01),
                row(Algorithm::Thwf, "", 750, 0.02),
                row(Algorithm::Thwf, "", 200, 0.001),
            ]
        };
        let checks_ok = checks(&grid(0.01), 1);
        assert_eq!(checks_ok.len(), 2);
        assert!(verdicts(&checks_ok, "relu", 1)[0].holds);
        let v = verdicts(&checks(&grid(0.015), 1), "relu", 1);
        assert!(!v[0].holds && v[0].judged);
        assert!(!verdicts(&checks(&grid(0.015), 1), "vae", 1)[0].judged);
    }
}
