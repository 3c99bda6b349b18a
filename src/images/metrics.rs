//! Per-pixel reconstruction errors of the image experiment (docs/THEORY.md §8).
//! Two named variants, because the paper's number is on the zero-padded 32×32 image while
//! the 784 original pixels are what a reader may expect:
//!
//! - [`per_pixel_error_padded`]: `‖ŷ − y‖² / 1024` on 32×32 padded images (the paper's);
//! - [`per_pixel_error_original`]: `‖ŷ − y‖² / 784` on the 28×28 original pixels (crop
//!   32×32 images first with [`super::mnist::crop_to_28`]).
//!
//! On a padded pair whose border is zero in both images the two differ only by the factor
//! 1024/784. A reconstruction in the padded domain (the sparse baselines) may put energy on
//! the border: the padded error counts it, the original-pixel error does not.

use super::{MNIST_PIXELS, PADDED_PIXELS};

/// `‖ŷ − y‖² / pixels` for two images of `pixels` values each (`shape` names them in the panic).
#[track_caller]
fn mean_squared_difference(estimate: &[f64], truth: &[f64], pixels: usize, shape: &str) -> f64 {
    assert_eq!((estimate.len(), truth.len()), (pixels, pixels), "two {shape} images");
    let sum: f64 = estimate.iter().zip(truth).map(|(a, b)| (a - b) * (a - b)).sum();
    sum / pixels as f64
}

/// The paper's per-pixel error `‖ŷ − y‖² / 1024` of two 32×32 zero-padded images (1024 values
/// each, pixels on the `[0, 1]` scale). Panics on other lengths.
#[track_caller]
pub fn per_pixel_error_padded(estimate: &[f64], truth: &[f64]) -> f64 {
    mean_squared_difference(estimate, truth, PADDED_PIXELS, "32×32")
}

/// The per-pixel error on the original pixels, `‖ŷ − y‖² / 784`, of two 28×28 images (784
/// values each). Panics on other lengths.
#[track_caller]
pub fn per_pixel_error_original(estimate: &[f64], truth: &[f64]) -> f64 {
    mean_squared_difference(estimate, truth, MNIST_PIXELS, "28×28")
}

#[cfg(test)]
mod tests {
    use super::super::mnist::{crop_to_28, fixture, pad_to_32};
    use super::*;

    #[test]
    fn padded_and_original_errors_differ_by_the_pixel_counts() {
        let d = fixture().unwrap();
        let (y, z) = (d.image(0), d.image(1));
        let original = per_pixel_error_original(&z, &y);
        let padded = per_pixel_error_padded(&pad_to_32(&z), &pad_to_32(&y));
        assert!(original > 0.01, "two different digits: {original}");
        assert!((padded * 1024.0 - original * 784.0).abs() < 1e-12 * original * 784.0);
        assert_eq!(per_pixel_error_padded(&pad_to_32(&y), &pad_to_32(&y)), 0.0);
    }

    #[test]
    fn border_energy_counts_only_in_the_padded_error() {
        let y = pad_to_32(&fixture().unwrap().image(0));
        let mut estimate = y.clone();
        estimate[0] = 0.5; // a border pixel, outside the 28×28 digit
        assert!((per_pixel_error_padded(&estimate, &y) - 0.25 / 1024.0).abs() < 1e-18);
        assert_eq!(per_pixel_error_original(&crop_to_28(&estimate), &crop_to_28(&y)), 0.0);
    }
}
