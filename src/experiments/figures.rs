//! The paper's Figures 2 and 3 from the rows of [`super::reconstruct`].
//!
//! - [`figure2`]: the mean over images of the per-pixel error (`error_padded1024`) or of SSIM
//!   (`ssim_wang2004_padded32`) against m, one curve per algorithm (DPR per decoder), with a
//!   bar from the smallest to the largest image at each m; one figure per selection mode.
//! - [`figure3`]: the truth and every algorithm's reconstruction of each image at one m, as a
//!   grid of 32×32 grey-scale images, blank where the blank image is closer to the truth than
//!   the reconstruction (the paper's rule, [`super::reconstruct::blank_is_closer`]).

use std::collections::BTreeMap;
use std::path::Path;

use super::reconstruct::{Algorithm, ReconstructionRow, Results, SummaryRow, curve_label};
use crate::core::weights::{ExtraTensors, save_tensors};
use crate::error::{Error, Result};
use crate::images::PADDED_SIDE;
use crate::report::output::OutputDir;
use crate::report::plot::{GridRow, SpreadSeries, image_grid, line_plot_with_spread};
use crate::solvers::Selection;

/// What Figure 2 plots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// `‖ŷ − y‖²/1024` on 32×32 padded images (log axis).
    Error,
    /// SSIM (Wang et al. 2004) on 32×32 padded images.
    Ssim,
}

impl Metric {
    /// The file-name part: `error` or `ssim`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Error => "error",
            Metric::Ssim => "ssim",
        }
    }

    /// `(mean, min, max)` of a summary row.
    fn of(self, r: &SummaryRow) -> (f64, f64, f64) {
        match self {
            Metric::Error => (r.error_padded1024_mean, r.error_padded1024_min, r.error_padded1024_max),
            Metric::Ssim => (
                r.ssim_wang2004_padded32_mean,
                r.ssim_wang2004_padded32_min,
                r.ssim_wang2004_padded32_max,
            ),
        }
    }
}

/// The curves of Figure 2 for one selection: one per (algorithm, decoder), in the order of
/// `summary` (sorted by algorithm, decoder).
pub fn figure2_series(summary: &[SummaryRow], selection: Selection, metric: Metric) -> Vec<SpreadSeries> {
    let mut series: Vec<SpreadSeries> = Vec::new();
    for r in summary.iter().filter(|r| r.selection == selection) {
        let label = curve_label(r.algorithm, &r.decoder);
        let (mean, lo, hi) = metric.of(r);
        match series.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push((r.m as f64, mean, lo, hi)),
            None => series.push(SpreadSeries {
                label,
                points: vec![(r.m as f64, mean, lo, hi)],
            }),
        }
    }
    series
}

/// Figure 2 for one selection and metric into `path` (`.png` or `.svg`).
pub fn figure2(path: &Path, summary: &[SummaryRow], selection: Selection, metric: Metric) -> Result<()> {
    let images = summary.first().map_or(0, |r| r.images);
    let (title, y_label, log_y) = match metric {
        Metric::Error => (
            format!("Mean error vs m ({images} images, selection: {})", selection.name()),
            "||y_hat - y||^2 / 1024 (intensity²; mean, bars: min-max)",
            true,
        ),
        Metric::Ssim => (
            format!("Mean SSIM vs m ({images} images, selection: {})", selection.name()),
            "SSIM, 32x32 (dimensionless; mean, bars: min-max)",
            false,
        ),
    };
    line_plot_with_spread(
        path,
        &title,
        "m (measurements)",
        y_label,
        &figure2_series(summary, selection, metric),
        true,
        log_y,
    )
}

/// Figure 3 at `m` for one selection into `path`: the truth row, then one row per
/// (algorithm, decoder) in the order of `rows`; one column per image. Returns false (and
/// draws nothing) when no row has this `m`.
pub fn figure3(path: &Path, rows: &[ReconstructionRow], m: usize, selection: Selection) -> Result<bool> {
    let at_m: Vec<&ReconstructionRow> = rows.iter().filter(|r| r.m == m && r.selection == selection).collect();
    let mut images: Vec<(usize, u8)> = Vec::new();
    let mut curves: Vec<(Algorithm, String)> = Vec::new();
    for r in &at_m {
        if !images.contains(&(r.image, r.label)) {
            images.push((r.image, r.label));
        }
        if !curves.contains(&(r.algorithm, r.decoder.clone())) {
            curves.push((r.algorithm, r.decoder.clone()));
        }
    }
    if at_m.is_empty() {
        return Ok(false);
    }
    let truth = GridRow {
        label: "truth".into(),
        images: images.iter().map(|&(image, _)| truth_of(&at_m, image)).collect(),
    };
    let mut grid = vec![truth];
    for (algorithm, decoder) in &curves {
        let find = |image: usize| {
            at_m.iter()
                .find(|r| r.image == image && r.algorithm == *algorithm && r.decoder == *decoder)
        };
        grid.push(GridRow {
            label: curve_label(*algorithm, decoder),
            images: images
                .iter()
                .map(|&(image, _)| {
                    find(image)
                        .filter(|r| !r.blank_is_closer)
                        .map(|r| r.reconstruction.clone())
                })
                .collect(),
        });
    }
    let columns: Vec<String> = images.iter().map(|(i, l)| format!("#{i} ({l})")).collect();
    let title = format!(
        "m = {m}, selection: {} (blank where the blank image is closer to the truth)",
        selection.name()
    );
    image_grid(path, &title, PADDED_SIDE, &columns, &grid)?;
    Ok(true)
}

/// The true padded image of `image` (carried by its rows).
fn truth_of(rows: &[&ReconstructionRow], image: usize) -> Option<Vec<f64>> {
    rows.iter().find(|r| r.image == image).map(|r| r.truth.clone())
}

/// The file of every reconstruction and its truth at full precision, beside the figures.
pub const PIXELS_FILE: &str = "reconstructions.safetensors";

/// Writes every reconstruction `ŷ` and its truth `y_0` unclamped, in f64, as tensors
/// `reconstruction` and `truth` of shape `[rows, 32, 32]` (row-major pixels): index `i` of both
/// is row `i` of `reconstruct.csv`, whose `image`, `m`, `algorithm`, `decoder` and `selection`
/// are repeated in the metadata key `rows` (a JSON list) so the file stands alone.
pub fn write_pixels(path: &Path, rows: &[ReconstructionRow]) -> Result<()> {
    let side = PADDED_SIDE;
    if let Some((i, _)) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.reconstruction.len() != side * side || r.truth.len() != side * side)
    {
        return Err(Error::Trials {
            path: path.to_path_buf(),
            reason: format!(
                "row {i} has no 32×32 reconstruction and truth; the stored run is incomplete: remove its folder and rerun"
            ),
        });
    }
    let shape = vec![rows.len(), side, side];
    let stack = |pixels: fn(&ReconstructionRow) -> &[f64]| -> Vec<f64> {
        rows.iter().flat_map(|r| pixels(r).iter().copied()).collect()
    };
    let tensors = ExtraTensors::from([
        (
            "reconstruction".to_string(),
            (shape.clone(), stack(|r| &r.reconstruction)),
        ),
        ("truth".to_string(), (shape, stack(|r| &r.truth))),
    ]);
    let index: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "image": r.image, "label": r.label, "m": r.m, "algorithm": r.algorithm,
                "decoder": r.decoder, "selection": r.selection,
            })
        })
        .collect();
    let metadata = BTreeMap::from([
        ("format".to_string(), "dpr-audit reconstructions v1".to_string()),
        ("rows".to_string(), serde_json::to_string(&index)?),
        (
            "pixels".to_string(),
            format!("{side}x{side} padded MNIST, row-major, unclamped f64 (values outside [0, 1] kept)"),
        ),
    ]);
    save_tensors(path, &tensors, &metadata)
}

/// Writes a run's files into `out` at `prefix` (`""`, or a claim's folder): `reconstruct.csv`,
/// `figure2.csv`, `dpr_runs.csv` and `sparse_sweep.csv` (when not empty), [`PIXELS_FILE`]
/// ([`write_pixels`]), the Figure 2 PNGs of
/// both selections and metrics, and the Figure 3 grids at each of `figure_m` the run has.
/// Returns the relative names of all files and of the figures among them.
pub fn write_reconstruction(
    out: &OutputDir,
    prefix: &str,
    results: &Results,
    summary: &[SummaryRow],
    figure_m: &[usize],
) -> Result<(Vec<String>, Vec<String>)> {
    let name = |file: &str| std::path::Path::new(prefix).join(file).to_string_lossy().into_owned();
    let mut files = vec![name("reconstruct.csv"), name("figure2.csv")];
    out.write_csv(&files[0], &results.rows)?;
    out.write_csv(&files[1], summary)?;
    if !results.dpr_runs.is_empty() {
        files.push(name("dpr_runs.csv"));
        out.write_csv(&name("dpr_runs.csv"), &results.dpr_runs)?;
    }
    if !results.sparse_sweep.is_empty() {
        files.push(name("sparse_sweep.csv"));
        out.write_csv(&name("sparse_sweep.csv"), &results.sparse_sweep)?;
    }
    files.push(name(PIXELS_FILE));
    write_pixels(&out.file(&files[files.len() - 1]), &results.rows)?;
    let mut figures = Vec::new();
    for selection in [Selection::Objective, Selection::Oracle] {
        for metric in [Metric::Ssim, Metric::Error] {
            let file = name(&format!("figure2_{}_{}.png", metric.name(), selection.name()));
            figure2(&out.file(&file), summary, selection, metric)?;
            figures.push(file);
        }
        for &m in figure_m {
            let file = name(&format!("figure3_m{m}_{}.png", selection.name()));
            if figure3(&out.file(&file), &results.rows, m, selection)? {
                figures.push(file);
            }
        }
    }
    files.extend(figures.iter().cloned());
    Ok((files, figures))
}
