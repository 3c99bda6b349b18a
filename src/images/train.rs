//! Training a [`Vae`] on MNIST with Adam (Kingma & Ba 2015) on shuffled mini-batches, and the
//! test-set reconstruction error of its decoder.
//!
//! Randomness (docs/THEORY.md §12, [`crate::rng`]): with `experiment = mnist-train-<kind>`,
//! the initial weights come from the stream `(seed, experiment, 0, Network)`, epoch `e`'s
//! shuffle from `(seed, experiment, e, Probe)` and its reparameterisation noise from
//! `(seed, experiment, e, Noise)`, drawn batch by batch in order. Together with the
//! thread-count independent arithmetic of [`super::dense`], a seed fixes the trained weights
//! bit for bit.
//!
//! The reported reconstruction error is the per-pixel mean squared error on the 784 original
//! pixels, `Σ_i ‖decoder(μ(x_i)) − x_i‖² / (784 N)`, of the mean codes `μ` (exact for the
//! given weights, summed in `f64`). The decoder's output is not clipped to `[0, 1]`.

use std::time::Instant;

use rand::RngExt;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;

use super::dense::Real;
use super::mnist::Digits;
use super::vae::{DecoderKind, LossParts, Vae, Workspace};
use crate::rng::{Stream, stream};

/// Entries per rayon task of an Adam update.
const ADAM_CHUNK: usize = 16_384;
/// Images per batch when evaluating the test set (larger batches, fewer products).
const EVAL_BATCH: usize = 500;

/// Adam's hyper-parameters (Kingma & Ba 2015; the defaults are theirs and Bora et al.'s).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AdamParams {
    /// Learning rate α.
    pub lr: f64,
    /// Decay β₁ of the first moment.
    pub beta1: f64,
    /// Decay β₂ of the second moment.
    pub beta2: f64,
    /// ε added to `√v̂`.
    pub eps: f64,
}

impl AdamParams {
    /// `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8` and the given learning rate.
    pub fn with_lr(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam's state for the tensors of one model: the moments `m`, `v` and the step count.
#[derive(Clone, Debug)]
pub struct Adam<T> {
    params: AdamParams,
    step: u64,
    first: Vae<T>,
    second: Vae<T>,
}

impl<T: Real> Adam<T> {
    /// Zero moments shaped like `model`.
    pub fn new(params: AdamParams, model: &Vae<T>) -> Self {
        Self {
            params,
            step: 0,
            first: model.zeros_like(),
            second: model.zeros_like(),
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One update of every tensor of `model` by `grads` ([`adam_update`]).
    pub fn update(&mut self, model: &mut Vae<T>, grads: &Vae<T>) {
        self.step += 1;
        let p = self.params;
        let t = self.step as i32;
        let rates = AdamRates {
            beta1: T::cast(p.beta1),
            beta2: T::cast(p.beta2),
            correction1: T::cast(1.0 - p.beta1.powi(t)),
            correction2: T::cast(1.0 - p.beta2.powi(t)),
            lr: T::cast(p.lr),
            eps: T::cast(p.eps),
        };
        let tensors = model
            .tensors_mut()
            .into_iter()
            .zip(grads.tensors())
            .zip(self.first.tensors_mut())
            .zip(self.second.tensors_mut());
        for (((param, grad), m), v) in tensors {
            param
                .par_chunks_mut(ADAM_CHUNK)
                .zip(grad.par_chunks(ADAM_CHUNK))
                .zip(m.par_chunks_mut(ADAM_CHUNK))
                .zip(v.par_chunks_mut(ADAM_CHUNK))
                .for_each(|(((p, g), m), v)| adam_update(p, g, m, v, &rates));
        }
    }
}

/// The constants of one Adam step `t`: decays, bias corrections `1 − β^t`, α and ε.
#[derive(Clone, Copy, Debug)]
pub struct AdamRates<T> {
    /// β₁.
    pub beta1: T,
    /// β₂.
    pub beta2: T,
    /// `1 − β₁^t`.
    pub correction1: T,
    /// `1 − β₂^t`.
    pub correction2: T,
    /// α.
    pub lr: T,
    /// ε.
    pub eps: T,
}

/// Adam's update (Kingma & Ba 2015, Algorithm 1) of each entry:
/// `m ← β₁ m + (1 − β₁) g`, `v ← β₂ v + (1 − β₂) g²`, `θ ← θ − α m̂ / (√v̂ + ε)` with
/// `m̂ = m / (1 − β₁^t)`, `v̂ = v / (1 − β₂^t)`.
pub fn adam_update<T: Real>(param: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], r: &AdamRates<T>) {
    let one = T::cast(1.0);
    for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = r.beta1 * *m + (one - r.beta1) * g;
        *v = r.beta2 * *v + (one - r.beta2) * g * g;
        let m_hat = *m / r.correction1;
        let v_hat = *v / r.correction2;
        *p -= r.lr * m_hat / (v_hat.sqrt() + r.eps);
    }
}

/// Images as columns of a `dim × count` column-major matrix, pixels in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Images<T> {
    pixels: Vec<T>,
    dim: usize,
}

impl<T: Real> Images<T> {
    /// Wraps `pixels` (`count` images of `dim` values each, one after the other).
    #[track_caller]
    pub fn new(pixels: Vec<T>, dim: usize) -> Self {
        assert!(
            dim > 0 && pixels.len().is_multiple_of(dim),
            "pixels are not a whole number of images"
        );
        Self { pixels, dim }
    }

    /// MNIST digits as `pixel / 255`.
    pub fn from_digits(digits: &Digits) -> Self {
        let pixels = digits
            .raw_pixels()
            .iter()
            .map(|&p| T::cast(f64::from(p) / 255.0))
            .collect();
        Self::new(pixels, super::MNIST_PIXELS)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.dim
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// Values per image.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// All pixels, image after image.
    pub fn pixels(&self) -> &[T] {
        &self.pixels
    }

    /// Copies the images at `indices` into `out` (`dim × indices.len()`).
    pub fn gather(&self, indices: &[usize], out: &mut Vec<T>) {
        out.clear();
        for &i in indices {
            out.extend_from_slice(&self.pixels[i * self.dim..(i + 1) * self.dim]);
        }
    }
}

/// How long and how fast to train.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrainOptions {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per mini-batch (the last batch of an epoch may be smaller).
    pub batch: usize,
    /// Adam's parameters.
    pub adam: AdamParams,
    /// Master seed.
    pub seed: u64,
}

/// The test-set reconstruction error of a model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// `Σ_i ‖decoder(μ(x_i)) − x_i‖² / (784 N)` (exact for the weights).
    pub mse_per_pixel: f64,
    /// Mean Euclidean norm of the mean codes `μ(x_i)` (`√k ≈ 4.47` for `N(0, I_20)` draws).
    pub mean_code_norm: f64,
}

/// One line of the training curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean over the epoch's mini-batches of the loss terms (the weights change during the epoch).
    pub train: LossParts,
    /// Test-set error after the epoch.
    pub test: Evaluation,
    /// Wall-clock seconds since training started (after this epoch's evaluation).
    pub elapsed_seconds: f64,
}

/// The name of the random streams of a decoder kind's training.
pub fn experiment(kind: DecoderKind) -> String {
    format!("mnist-train-{}", kind.name())
}

/// A VAE of the paper's sizes initialised from the seed's network stream for `kind`.
pub fn init_model<T: Real>(kind: DecoderKind, sigma: f64, seed: u64) -> Vae<T> {
    Vae::mnist(kind, sigma, &mut stream(seed, &experiment(kind), 0, Stream::Network))
}

/// The test-set reconstruction error of `model` on `images` (batches of 500, mean codes).
pub fn evaluate<T: Real>(model: &Vae<T>, images: &Images<T>) -> Evaluation {
    let mut ws = Workspace::default();
    let (dim, k) = (images.dim(), model.latent_dim());
    let (mut squared, mut norms) = (0.0, 0.0);
    for chunk in images.pixels().chunks(EVAL_BATCH * dim) {
        let batch = chunk.len() / dim;
        let out = model.reconstruct(chunk, batch, &mut ws);
        let per_image: Vec<f64> = out
            .par_chunks(dim)
            .zip(chunk.par_chunks(dim))
            .map(|(a, b)| a.iter().zip(b).map(|(&p, &q)| (p - q).widen().powi(2)).sum())
            .collect();
        squared += per_image.iter().sum::<f64>();
        norms += ws
            .codes()
            .chunks_exact(k)
            .map(|mu| mu.iter().map(|v| v.widen().powi(2)).sum::<f64>().sqrt())
            .sum::<f64>();
    }
    let n = images.len() as f64;
    Evaluation {
        mse_per_pixel: squared / (n * dim as f64),
        mean_code_norm: norms / n,
    }
}

/// Trains `model` for `opts.epochs` epochs on `train` with the streams of `experiment`;
/// evaluates on `test` after every epoch. `on_batch` is called after every step (progress).
pub fn train<T: Real>(
    model: &mut Vae<T>,
    train: &Images<T>,
    test: &Images<T>,
    opts: &TrainOptions,
    experiment: &str,
    on_batch: &(dyn Fn() + Sync),
) -> Vec<EpochRecord> {
    let start = Instant::now();
    let mut adam = Adam::new(opts.adam, model);
    let mut grads = model.zeros_like();
    let mut ws = Workspace::default();
    let (mut batch_pixels, mut noise) = (Vec::new(), Vec::new());
    let k = model.latent_dim();
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut records = Vec::with_capacity(opts.epochs);
    for epoch in 1..=opts.epochs {
        let trial = epoch as u64;
        order.shuffle(&mut stream(opts.seed, experiment, trial, Stream::Probe));
        let mut noise_rng = stream(opts.seed, experiment, trial, Stream::Noise);
        let (mut sum, mut batches) = (LossParts::default(), 0usize);
        for indices in order.chunks(opts.batch) {
            train.gather(indices, &mut batch_pixels);
            noise.clear();
            noise.extend((0..k * indices.len()).map(|_| T::cast(noise_rng.sample::<f64, _>(StandardNormal))));
            let parts = model.loss_and_gradient(&batch_pixels, &noise, indices.len(), &mut grads, &mut ws);
            adam.update(model, &grads);
            sum.reconstruction += parts.reconstruction;
            sum.kl += parts.kl;
            batches += 1;
            on_batch();
        }
        let n = batches.max(1) as f64;
        records.push(EpochRecord {
            epoch,
            train: LossParts {
                reconstruction: sum.reconstruction / n,
                kl: sum.kl / n,
            },
            test: evaluate(model, test),
            elapsed_seconds: start.elapsed().as_secs_f64(),
        });
    }
    records
}
