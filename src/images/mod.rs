//! The image experiment's building blocks (docs/THEORY.md §7–8, docs/DATA.md): MNIST data, the
//! Daubechies-4 wavelet basis of the sparse baselines, and the two metrics.
//!
//! | module | what | main items |
//! |---|---|---|
//! | [`idx`] | the IDX file format, fully validated | [`idx::read_images`], [`idx::read_labels`], [`idx::encode_images`] |
//! | [`mnist`] | checksummed MNIST splits, the committed 16-digit fixture, `[0, 1]` scaling, 28×28 ↔ 32×32 padding | [`mnist::load`], [`mnist::fixture`], [`mnist::Digits`], [`mnist::pad_to_32`], [`mnist::crop_to_28`] |
//! | [`wavelet`] | orthogonal db4 transform `Ψ` on 32×32, periodization, PyWavelets layout | [`wavelet::Db4Transform`] |
//! | [`ssim`] | SSIM of Wang et al. 2004 (Gaussian 11×11, σ = 1.5, valid windows) | [`ssim::ssim_wang2004`], [`ssim::ssim_wang2004_padded`] |
//! | [`metrics`] | per-pixel squared error on 1024 padded / 784 original pixels | [`metrics::per_pixel_error_padded`], [`metrics::per_pixel_error_original`] |
//! | [`dense`] | dense networks with back-propagation on mini-batches (`f32`/`f64`, thread-count independent) | [`dense::Mlp`], [`dense::Trace`], [`dense::Real`] |
//! | [`vae`] | the VAE (Kingma–Welling) that trains the paper's decoder and the bias-free ReLU decoder | [`vae::Vae`], [`vae::DecoderKind`], [`vae::Vae::loss_and_gradient`] |
//! | [`train`] | Adam on shuffled mini-batches, test-set reconstruction error | [`train::train`], [`train::evaluate`], [`train::Adam`] |
//!
//! Images are `&[f64]` slices, row-major, pixels in `[0, 1]` (`pixel / 255`): 784 values for
//! a 28×28 digit, 1024 for the 32×32 zero-padded image on which the paper measures errors
//! and SSIM and the baselines use wavelets. MNIST: Y. LeCun and C. Cortes, CC BY-SA 3.0
//! (`tests/fixtures/mnist/ATTRIBUTION.md`).

pub mod dense;
pub mod idx;
pub mod metrics;
pub mod mnist;
pub mod ssim;
pub mod train;
pub mod vae;
pub mod wavelet;

/// Side of an MNIST digit.
pub const MNIST_SIDE: usize = 28;
/// Pixels of an MNIST digit, 28².
pub const MNIST_PIXELS: usize = MNIST_SIDE * MNIST_SIDE;
/// Side of the zero-padded image (a power of two, for the wavelet transform).
pub const PADDED_SIDE: usize = 32;
/// Pixels of the zero-padded image, 32².
pub const PADDED_PIXELS: usize = PADDED_SIDE * PADDED_SIDE;
/// Zero rows (columns) added on each side: `(32 − 28) / 2`, so the digit is centred.
pub const PAD: usize = (PADDED_SIDE - MNIST_SIDE) / 2;
