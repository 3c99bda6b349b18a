//! SSIM exactly as Wang, Bovik, Sheikh and Simoncelli, *Image quality assessment: from error
//! visibility to structural similarity*, IEEE TIP 13(4), 2004, in the convention of their
//! reference MATLAB code `ssim_index.m` (docs/THEORY.md §8). The variant is named in every function
//! (`_wang2004`) because SSIM conventions differ by up to ~0.16 on padded digits.
//!
//! | ingredient | value |
//! |---|---|
//! | window `w` | 11×11 Gaussian, σ = 1.5, normalised to `Σ w = 1` (MATLAB `fspecial('gaussian', 11, 1.5)`) |
//! | constants | `C1 = (K1 L)²`, `C2 = (K2 L)²`, `K1 = 0.01`, `K2 = 0.03`, `L` = data range, given explicitly |
//! | windows | `'valid'` only (`filter2(w, ·, 'valid')`): an `r × c` image gives an `(r − 10) × (c − 10)` map, 22×22 on 32×32 |
//! | moments | `μ_x = Σ w x`, `σ_x² = Σ w x² − μ_x²`, `σ_xy = Σ w x y − μ_x μ_y` (weighted population moments, no `n − 1`) |
//! | map | `((2 μ_x μ_y + C1)(2 σ_xy + C2)) / ((μ_x² + μ_y² + C1)(σ_x² + σ_y² + C2))` |
//! | mean SSIM | plain mean of the map |
//!
//! No downsampling: `ssim_index.m` has none (the later `ssim.m` downsamples by
//! `max(1, round(min(r, c) / 256))`, which is 1 on these images anyway).

use super::PADDED_SIDE;
use crate::{Error, Result};

/// Side of the Gaussian window.
pub const WINDOW_SIDE: usize = 11;
/// Standard deviation of the Gaussian window, in pixels.
pub const WINDOW_SIGMA: f64 = 1.5;
/// Luminance stabiliser: `C1 = (K1 · data_range)²`.
pub const K1: f64 = 0.01;
/// Contrast stabiliser: `C2 = (K2 · data_range)²`.
pub const K2: f64 = 0.03;
/// Data range of images scaled to `[0, 1]`, as in the paper's experiment.
pub const UNIT_DATA_RANGE: f64 = 1.0;

/// The local SSIM values of one image pair on the `'valid'` windows.
#[derive(Debug, Clone, PartialEq)]
pub struct SsimMap {
    /// Rows of the map, `image rows − 10`.
    pub rows: usize,
    /// Columns of the map, `image columns − 10`.
    pub cols: usize,
    /// Row-major values; entry `(i, j)` is the SSIM of the window whose top-left corner is
    /// pixel `(i, j)`.
    pub values: Vec<f64>,
}

impl SsimMap {
    /// The mean SSIM (mean of the map), Wang et al.'s `mssim`.
    pub fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len() as f64
    }
}

/// MATLAB's `fspecial('gaussian', 11, 1.5)`: `w_{ij} ∝ exp(−(i² + j²)/(2σ²))` for
/// `i, j ∈ −5..=5`, normalised to sum 1 (row-major, 121 values). MATLAB also zeroes entries
/// below `eps · max`; none is that small here (the smallest is `e^{−100/9}` of the largest).
pub fn gaussian_window() -> [f64; WINDOW_SIDE * WINDOW_SIDE] {
    let half = (WINDOW_SIDE / 2) as f64;
    let mut w: [f64; WINDOW_SIDE * WINDOW_SIDE] = std::array::from_fn(|k| {
        let (i, j) = ((k / WINDOW_SIDE) as f64 - half, (k % WINDOW_SIDE) as f64 - half);
        (-(i * i + j * j) / (2.0 * WINDOW_SIGMA * WINDOW_SIGMA)).exp()
    });
    let sum: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= sum);
    w
}

/// The five weighted window sums `Σ w x`, `Σ w y`, `Σ w x²`, `Σ w y²`, `Σ w x y` of the
/// window with top-left corner `(top, left)`.
fn window_sums(x: &[f64], y: &[f64], cols: usize, top: usize, left: usize, w: &[f64]) -> [f64; 5] {
    let mut s = [0.0; 5];
    for (k, &wk) in w.iter().enumerate() {
        let p = (top + k / WINDOW_SIDE) * cols + left + k % WINDOW_SIDE;
        let (a, b) = (x[p], y[p]);
        s[0] += wk * a;
        s[1] += wk * b;
        s[2] += wk * a * a;
        s[3] += wk * b * b;
        s[4] += wk * a * b;
    }
    s
}

/// The SSIM of one window from its weighted sums (Wang et al. 2004, eq. 13 with the
/// moments of the module docs).
fn ssim_from_sums([mx, my, sxx, syy, sxy]: [f64; 5], c1: f64, c2: f64) -> f64 {
    let (mx2, my2, mxy) = (mx * mx, my * my, mx * my);
    let (vx, vy, cxy) = (sxx - mx2, syy - my2, sxy - mxy);
    ((2.0 * mxy + c1) * (2.0 * cxy + c2)) / ((mx2 + my2 + c1) * (vx + vy + c2))
}

/// Validates the inputs of the SSIM functions; lengths that disagree with `rows × cols` are
/// the caller's bug (panic), a bad data range or a too small image a usage error.
#[track_caller]
fn check_inputs(x: &[f64], y: &[f64], rows: usize, cols: usize, data_range: f64) -> Result<()> {
    assert_eq!(
        (x.len(), y.len()),
        (rows * cols, rows * cols),
        "SSIM takes two {rows}×{cols} images"
    );
    if !(data_range.is_finite() && data_range > 0.0) {
        return Err(Error::param(
            "SSIM data range",
            data_range,
            "give the images' dynamic range, e.g. 1 for pixels in [0, 1]",
        ));
    }
    if rows < WINDOW_SIDE || cols < WINDOW_SIDE {
        let fix = format!("the 11×11 window needs images of at least 11×11 (got {rows}×{cols})");
        return Err(Error::param("SSIM image size", format!("{rows}×{cols}"), fix));
    }
    Ok(())
}

/// The SSIM map (Wang et al. 2004, `ssim_index.m` convention; see the module docs) of two
/// row-major `rows × cols` images with dynamic range `data_range` (1 for `[0, 1]` pixels).
#[track_caller]
pub fn ssim_map_wang2004(x: &[f64], y: &[f64], rows: usize, cols: usize, data_range: f64) -> Result<SsimMap> {
    check_inputs(x, y, rows, cols, data_range)?;
    let w = gaussian_window();
    let c1 = (K1 * data_range).powi(2);
    let c2 = (K2 * data_range).powi(2);
    let (map_rows, map_cols) = (rows - WINDOW_SIDE + 1, cols - WINDOW_SIDE + 1);
    let values = (0..map_rows * map_cols)
        .map(|k| ssim_from_sums(window_sums(x, y, cols, k / map_cols, k % map_cols, &w), c1, c2))
        .collect();
    Ok(SsimMap {
        rows: map_rows,
        cols: map_cols,
        values,
    })
}

/// Mean SSIM (Wang et al. 2004, `ssim_index.m` convention: Gaussian 11×11, σ = 1.5,
/// K1 = 0.01, K2 = 0.03, valid windows, population moments) of two `rows × cols` images.
#[track_caller]
pub fn ssim_wang2004(x: &[f64], y: &[f64], rows: usize, cols: usize, data_range: f64) -> Result<f64> {
    Ok(ssim_map_wang2004(x, y, rows, cols, data_range)?.mean())
}

/// The paper's metric: [`ssim_wang2004`] of two 32×32 zero-padded images with pixels in
/// `[0, 1]` (data range 1; a 22×22 map). Panics unless both have 1024 values.
#[track_caller]
pub fn ssim_wang2004_padded(x: &[f64], y: &[f64]) -> f64 {
    ssim_wang2004(x, y, PADDED_SIDE, PADDED_SIDE, UNIT_DATA_RANGE).expect("32×32 images with data range 1 are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::PADDED_PIXELS;

    #[test]
    fn window_is_normalised_and_symmetric() {
        let w = gaussian_window();
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        let centre = w[5 * 11 + 5];
        assert!(w.iter().all(|&v| v <= centre && v > 0.0));
        for i in 0..11 {
            for j in 0..11 {
                assert_eq!(w[i * 11 + j], w[j * 11 + i]);
                assert_eq!(w[i * 11 + j], w[(10 - i) * 11 + j]);
            }
        }
        // Ratio of the corner to the centre: exp(−(25 + 25)/4.5).
        assert!((w[0] / centre - (-50.0f64 / 4.5).exp()).abs() < 1e-18);
    }

    #[test]
    fn map_has_valid_window_shape() {
        let x = vec![0.5; 32 * 20];
        let map = ssim_map_wang2004(&x, &x, 32, 20, 1.0).unwrap();
        assert_eq!((map.rows, map.cols, map.values.len()), (22, 10, 220));
    }

    #[test]
    fn bad_data_range_and_small_images_are_usage_errors() {
        let x = vec![0.0; 100];
        for range in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = ssim_wang2004(&x, &x, 10, 10, range).unwrap_err();
            assert!(e.is_usage() && e.to_string().contains("data range"), "{e}");
        }
        let e = ssim_wang2004(&x, &x, 10, 10, 1.0).unwrap_err();
        assert!(e.to_string().contains("at least 11×11"), "{e}");
    }

    #[test]
    fn constant_images_follow_the_luminance_term() {
        // Two flat images a, b: σ terms vanish, SSIM = (2ab + C1)/(a² + b² + C1) everywhere.
        let (a, b) = (0.2, 0.6);
        let (x, y) = (vec![a; PADDED_PIXELS], vec![b; PADDED_PIXELS]);
        let c1 = (K1 * 1.0f64).powi(2);
        let expected = (2.0 * a * b + c1) / (a * a + b * b + c1);
        let got = ssim_wang2004_padded(&x, &y);
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }
}
