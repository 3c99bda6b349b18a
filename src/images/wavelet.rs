//! The orthogonal Daubechies-4 wavelet transform (8 taps, `"db4"` in PyWavelets naming) of a
//! 32×32 image in periodization mode, multi-level, forward `v = Ψ y` and inverse `y = Ψᵀ v`
//! (docs/THEORY.md §7: the sparse baselines recover `v_0 = Ψ y_0`).
//!
//! **One level in 1-D** on a signal `x` of even length `n` (indices mod `n`), with the
//! scaling filter `h` ([`DB4_SCALING_FILTER`]) and the wavelet filter `g_i = (−1)^i h_{7−i}`:
//!
//! ```text
//! a_k = Σ_{i=0}^{7} h_i x_{(2k + i − 3) mod n},   d_k = Σ_{i=0}^{7} g_i x_{(2k + i − 3) mod n},   k = 0..n/2
//! ```
//!
//! This is PyWavelets' `dwt(x, 'db4', mode='periodization')` (its `dec_lo` is `h` reversed,
//! and the offset 3 = 8/2 − 1 is its periodization alignment; checked against committed
//! PyWavelets output, including the wrap-around at lengths 8, 4 and 2). The matrix of one
//! level is orthogonal, so the inverse is its transpose.
//!
//! **2-D, multi-level**: level 1 transforms every row of the 32×32 image, then every column;
//! level `l + 1` does the same on the top-left `32/2^l × 32/2^l` block of approximation
//! coefficients, and so on for `level` steps.
//!
//! **Coefficient layout** (a flat vector of 1024, row-major over a 32×32 array): exactly
//! `pywt.coeffs_to_array(pywt.wavedec2(y, 'db4', mode='periodization', level=L))[0].ravel()`.
//! With `s = 32 / 2^L`, the approximation `cA_L` fills rows and columns `0..s`; the details of
//! level `l` (block size `b = 32 / 2^l`) fill, around the `b × b` corner,
//!
//! | region (rows, columns) | PyWavelets name | filtered along rows (axis 0), columns (axis 1) |
//! |---|---|---|
//! | `0..b`, `b..2b` | `cV_l` (`'ad'`) | low-pass, high-pass |
//! | `b..2b`, `0..b` | `cH_l` (`'da'`) | high-pass, low-pass |
//! | `b..2b`, `b..2b` | `cD_l` (`'dd'`) | high-pass, high-pass |
//!
//! **Level**: default [`DEFAULT_LEVEL`] = PyWavelets' `dwt_max_level(32, 8)` = 2
//! ([`dwt_max_level`]); any level `0..=5` is accepted (`0` is the identity; above 2 the filter
//! wraps around the short approximation signals, which PyWavelets warns about, but the
//! transform stays orthogonal and equal to PyWavelets'). Level 6 is impossible (32 = 2⁵).

use super::{PADDED_PIXELS, PADDED_SIDE};
use crate::{Error, Result};

/// Number of taps of the Daubechies-4 filters.
pub const DB4_FILTER_LEN: usize = 8;

/// The Daubechies-4 scaling (low-pass reconstruction) filter `h`, normalised to `Σ h = √2`,
/// `Σ h² = 1`. Source: I. Daubechies, *Ten Lectures on Wavelets* (SIAM 1992), Table 6.1
/// (N = 4), in the 60-digit form used by PyWavelets (`db4` in `wavelets_coeffs.template.h`),
/// rounded to the nearest `f64`; these are bit for bit PyWavelets' `Wavelet('db4').rec_lo`
/// (its `dec_lo` is this array reversed).
pub const DB4_SCALING_FILTER: [f64; DB4_FILTER_LEN] = [
    0.2303778133088965,    // 2.303778133088965008632911830440708500016152482483092977910968e-01
    0.7148465705529157,    // 7.148465705529156470899219552739926037076084010993081758450110e-01
    0.6308807679298589,    // 6.308807679298589078817163383006152202032229226771951174057473e-01
    -0.027983769416859854, // -2.798376941685985421141374718007538541198732022449175284003358e-02
    -0.18703481171909309,  // -1.870348117190930840795706727890814195845441743745800912057770e-01
    0.030841381835560764,  // 3.084138183556076362721936253495905017031482172003403341821219e-02
    0.0328830116668852,    // 3.288301166688519973540751354924438866454194113754971259727278e-02
    -0.010597401785069032, // -1.059740178506903210488320852402722918109996490637641983484974e-02
];

/// PyWavelets' periodization alignment: output `k` starts at input `2k − OFFSET`.
const OFFSET: usize = DB4_FILTER_LEN / 2 - 1;

/// PyWavelets' `dwt_max_level(data_len, filter_len)`: `⌊log₂(data_len / (filter_len − 1))⌋`
/// (integer division; 0 when `data_len < filter_len − 1`), the deepest level at which the
/// filter still fits inside the approximation signal. Panics when `filter_len < 2`.
pub const fn dwt_max_level(data_len: usize, filter_len: usize) -> usize {
    assert!(filter_len >= 2, "a filter has at least 2 taps");
    let ratio = data_len / (filter_len - 1);
    if ratio == 0 { 0 } else { ratio.ilog2() as usize }
}

/// Default decomposition level, `dwt_max_level(32, 8)` = 2 (PyWavelets' default for `db4`
/// on 32 samples).
pub const DEFAULT_LEVEL: usize = dwt_max_level(PADDED_SIDE, DB4_FILTER_LEN);

/// Deepest possible level on 32×32: 5, where the approximation is a single coefficient.
pub const MAX_LEVEL: usize = PADDED_SIDE.trailing_zeros() as usize;

/// The wavelet filter `g_i = (−1)^i h_{7−i}` (PyWavelets' `rec_hi`).
fn wavelet_filter() -> [f64; DB4_FILTER_LEN] {
    std::array::from_fn(|i| {
        let h = DB4_SCALING_FILTER[DB4_FILTER_LEN - 1 - i];
        if i.is_multiple_of(2) { h } else { -h }
    })
}

/// Input index of tap `i` for output `k` on a periodic signal of length `n`.
fn tap(k: usize, i: usize, n: usize) -> usize {
    (2 * k + i + DB4_FILTER_LEN * n - OFFSET) % n
}

/// One analysis level on `line` (even length `n`): approximation into `line[..n/2]`, detail
/// into `line[n/2..]`. `scratch` holds at least `n` values.
fn analyze_line(line: &mut [f64], scratch: &mut [f64], g: &[f64; DB4_FILTER_LEN]) {
    let n = line.len();
    let half = n / 2;
    for k in 0..half {
        let (mut a, mut d) = (0.0, 0.0);
        for i in 0..DB4_FILTER_LEN {
            let x = line[tap(k, i, n)];
            a += DB4_SCALING_FILTER[i] * x;
            d += g[i] * x;
        }
        scratch[k] = a;
        scratch[half + k] = d;
    }
    line.copy_from_slice(&scratch[..n]);
}

/// The transpose (= inverse) of [`analyze_line`].
fn synthesize_line(line: &mut [f64], scratch: &mut [f64], g: &[f64; DB4_FILTER_LEN]) {
    let n = line.len();
    let half = n / 2;
    scratch[..n].fill(0.0);
    for k in 0..half {
        let (a, d) = (line[k], line[half + k]);
        for i in 0..DB4_FILTER_LEN {
            scratch[tap(k, i, n)] += DB4_SCALING_FILTER[i] * a + g[i] * d;
        }
    }
    line.copy_from_slice(&scratch[..n]);
}

/// Applies `op` to every row, then every column, of the top-left `size × size` block of a
/// 32×32 row-major array.
fn for_rows_and_columns(data: &mut [f64], size: usize, op: impl Fn(&mut [f64], &mut [f64])) {
    let mut line = [0.0; PADDED_SIDE];
    let mut scratch = [0.0; PADDED_SIDE];
    for r in 0..size {
        op(&mut data[r * PADDED_SIDE..r * PADDED_SIDE + size], &mut scratch);
    }
    for c in 0..size {
        for r in 0..size {
            line[r] = data[r * PADDED_SIDE + c];
        }
        op(&mut line[..size], &mut scratch);
        for r in 0..size {
            data[r * PADDED_SIDE + c] = line[r];
        }
    }
}

/// The 2-D multi-level Daubechies-4 transform `Ψ` on 32×32 images, periodization mode, with
/// PyWavelets' coefficient layout (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Db4Transform {
    level: usize,
}

impl Default for Db4Transform {
    /// The transform at [`DEFAULT_LEVEL`].
    fn default() -> Self {
        Db4Transform { level: DEFAULT_LEVEL }
    }
}

impl Db4Transform {
    /// The transform with `level` decomposition steps, `0..=5` ([`MAX_LEVEL`]).
    pub fn new(level: usize) -> Result<Self> {
        if level > MAX_LEVEL {
            let fix = format!(
                "a 32×32 image allows levels 0 to {MAX_LEVEL} (default {DEFAULT_LEVEL}, PyWavelets' dwt_max_level(32, 8))"
            );
            return Err(Error::param("wavelet level", level, fix));
        }
        Ok(Db4Transform { level })
    }

    /// The number of decomposition steps.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Coefficients `v = Ψ y` of a 32×32 image `y` (1024 values, row-major) in the layout of
    /// the module docs.
    #[track_caller]
    pub fn forward(&self, image: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; PADDED_PIXELS];
        self.forward_into(image, &mut out);
        out
    }

    /// [`Self::forward`] into `coeffs` (no allocation).
    #[track_caller]
    pub fn forward_into(&self, image: &[f64], coeffs: &mut [f64]) {
        assert_eq!(
            (image.len(), coeffs.len()),
            (PADDED_PIXELS, PADDED_PIXELS),
            "32×32 in and out"
        );
        coeffs.copy_from_slice(image);
        let g = wavelet_filter();
        for step in 0..self.level {
            for_rows_and_columns(coeffs, PADDED_SIDE >> step, |line, s| analyze_line(line, s, &g));
        }
    }

    /// The image `y = Ψᵀ v` with coefficients `v` (exact inverse of [`Self::forward`], as `Ψ`
    /// is orthogonal).
    #[track_caller]
    pub fn inverse(&self, coeffs: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; PADDED_PIXELS];
        self.inverse_into(coeffs, &mut out);
        out
    }

    /// [`Self::inverse`] into `image` (no allocation).
    #[track_caller]
    pub fn inverse_into(&self, coeffs: &[f64], image: &mut [f64]) {
        assert_eq!(
            (coeffs.len(), image.len()),
            (PADDED_PIXELS, PADDED_PIXELS),
            "32×32 in and out"
        );
        image.copy_from_slice(coeffs);
        let g = wavelet_filter();
        for step in (0..self.level).rev() {
            for_rows_and_columns(image, PADDED_SIDE >> step, |line, s| synthesize_line(line, s, &g));
        }
    }

    /// The 1024×1024 matrix `Ψ`, row-major: entry `(r, j)` is coefficient `r` of the unit
    /// image `e_j`, so column `j` is `forward(e_j)`.
    pub fn matrix(&self) -> Vec<f64> {
        let mut psi = vec![0.0; PADDED_PIXELS * PADDED_PIXELS];
        let mut unit = vec![0.0; PADDED_PIXELS];
        let mut column = vec![0.0; PADDED_PIXELS];
        for j in 0..PADDED_PIXELS {
            unit[j] = 1.0;
            self.forward_into(&unit, &mut column);
            unit[j] = 0.0;
            for (r, &v) in column.iter().enumerate() {
                psi[r * PADDED_PIXELS + j] = v;
            }
        }
        psi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reconstruction error allowed after a forward and inverse transform: a few hundred
    /// roundings of values of order 1.
    const ROUND_TRIP_TOL: f64 = 1e-13;

    #[test]
    fn filter_is_orthonormal() {
        let h = DB4_SCALING_FILTER;
        let sum: f64 = h.iter().sum();
        assert!((sum - std::f64::consts::SQRT_2).abs() < 1e-15, "{sum}");
        for shift in 0..4 {
            let c: f64 = (0..8 - 2 * shift).map(|i| h[i] * h[i + 2 * shift]).sum();
            let expected = if shift == 0 { 1.0 } else { 0.0 };
            assert!((c - expected).abs() < 1e-15, "shift {shift}: {c}");
        }
    }

    #[test]
    fn max_level_matches_pywavelets() {
        // pywt.dwt_max_level(n, 8) for these n: 0, 0, 1, 2, 2, 3, 7.
        let cases = [(6, 0), (13, 0), (14, 1), (28, 2), (32, 2), (56, 3), (1000, 7)];
        for (n, level) in cases {
            assert_eq!(dwt_max_level(n, DB4_FILTER_LEN), level, "n = {n}");
        }
        assert_eq!((DEFAULT_LEVEL, MAX_LEVEL), (2, 5));
        assert_eq!(Db4Transform::default().level(), 2);
    }

    #[test]
    fn impossible_levels_are_refused() {
        let e = Db4Transform::new(6).unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("levels 0 to 5"), "{e}");
        let identity = Db4Transform::new(0).unwrap();
        let y: Vec<f64> = (0..1024).map(|i| i as f64).collect();
        assert_eq!(identity.forward(&y), y);
    }

    #[test]
    fn inverse_reconstructs_at_every_level() {
        let y: Vec<f64> = (0..1024).map(|i| ((i * 7919) % 1013) as f64 / 1013.0 - 0.5).collect();
        for level in 0..=MAX_LEVEL {
            let t = Db4Transform::new(level).unwrap();
            let v = t.forward(&y);
            let back = t.inverse(&v);
            let err = y.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err < ROUND_TRIP_TOL, "level {level}: {err}");
            let energy = |x: &[f64]| x.iter().map(|a| a * a).sum::<f64>();
            assert!((energy(&v) - energy(&y)).abs() < 1e-11 * energy(&y), "level {level}");
        }
    }
}
