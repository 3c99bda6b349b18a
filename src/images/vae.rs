//! The variational auto-encoder (Kingma & Welling 2014) that trains the MNIST decoders of the
//! paper's image experiment (docs/THEORY.md §8), in two configurations ([`DecoderKind`]):
//!
//! - **`vae`**: Bora et al.'s (2017) MNIST VAE, the decoder the paper uses: decoder
//!   20–500–500–784 with biases, softplus hidden layers and a sigmoid output; encoder mirrored,
//!   784–500–500–(μ, log σ²) with softplus; Bernoulli likelihood on `pixel/255`.
//! - **`relu`**: a *theory-faithful* decoder of the same widths, bias-free with ReLU at every
//!   layer (the generator `G` of Theorem II.1, docs/THEORY.md §1), trained as the decoder of a VAE
//!   with a Gaussian likelihood of fixed standard deviation σ; the encoder is the same
//!   softplus network as for `vae` (only the decoder is kept).
//!
//! Per example `x ∈ [0, 1]^784`, with encoder outputs `μ, ℓ = log σ_q² ∈ R^20` and noise
//! `ε ~ N(0, I_20)`, the loss is the negative evidence lower bound
//!
//! ```text
//! z = μ + e^{ℓ/2} ⊙ ε                                   (reparameterisation)
//! L = R(x, Z_d(z)) + KL(N(μ, diag e^ℓ) ‖ N(0, I)),   KL = ½ Σ_j (μ_j² + e^{ℓ_j} − 1 − ℓ_j)
//! R_Bernoulli = Σ_p softplus(Z_p) − x_p Z_p            (= −log p(x | z), sigmoid output, logits Z)
//! R_Gaussian  = Σ_p (x_p − σ_d(Z_p))² / (2σ²)          (−log p(x | z) up to 784·½ log 2πσ²)
//! ```
//!
//! averaged over the mini-batch. Its gradient is back-propagated exactly through the decoder,
//! the reparameterisation and the encoder ([`Vae::loss_and_gradient`], checked against finite
//! differences in `tests/mnist_train.rs`). A digit's reconstruction uses the mean code `μ`
//! ([`Vae::reconstruct`]).

use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::MNIST_PIXELS;
use super::dense::{Init, LayerSpec, Mlp, Real, Trace, activate, activation_derivative, logistic};
use crate::core::network::Activation;

/// Latent dimension `k` of the paper's decoder.
pub const LATENT_DIM: usize = 20;
/// Width of both hidden layers of encoder and decoder.
pub const HIDDEN_WIDTH: usize = 500;
/// Where the shipped decoders live (relative to the repository root), with `SHA256SUMS`.
pub const MODELS_DIR: &str = "models";
/// Default σ of the ReLU decoder's Gaussian likelihood (pixels in `[0, 1]`). Measured on
/// 10 000 training digits, 6 epochs (test per-pixel MSE): σ = 0.1 → 0.025, 0.2 → 0.022,
/// 0.3 → 0.023; the mean test code norm was 4.2 at σ = 0.2, close to `√20 ≈ 4.47` of the
/// `N(0, I_20)` starts DPR draws.
pub const DEFAULT_RELU_SIGMA: f64 = 0.2;
/// Gain on the He-initialised output layer of the ReLU decoder. With gain 1 its first
/// outputs are of order 1 against a mean pixel of 0.13, and training is much slower:
/// measured test per-pixel MSE after 6 epochs on 10 000 training digits (σ = 0.2): 0.050 at
/// gain 1, 0.026 at 0.3, 0.022 at 0.03, 0.023 at 0.003.
pub const RELU_OUTPUT_INIT_GAIN: f64 = 0.03;

/// Which decoder a VAE trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// Bora et al.'s decoder: biases, softplus hidden layers, sigmoid output, Bernoulli loss.
    Vae,
    /// The theorem's generator: no biases, ReLU at every layer, Gaussian loss.
    Relu,
}

impl DecoderKind {
    /// `vae` or `relu`.
    pub fn name(self) -> &'static str {
        match self {
            DecoderKind::Vae => "vae",
            DecoderKind::Relu => "relu",
        }
    }

    /// The file name of the shipped decoder in [`MODELS_DIR`].
    pub fn file_name(self) -> &'static str {
        match self {
            DecoderKind::Vae => "vae-decoder.safetensors",
            DecoderKind::Relu => "relu-decoder.safetensors",
        }
    }

    /// How the decoder is built and trained, in words (for reports and file metadata).
    pub fn description(self) -> &'static str {
        match self {
            DecoderKind::Vae => {
                "Bora et al.'s MNIST VAE decoder 20-500-500-784: softplus hidden layers with biases, sigmoid output; trained as the decoder of a VAE with a Bernoulli likelihood"
            }
            DecoderKind::Relu => {
                "theory-faithful generator 20-500-500-784: no biases, ReLU at every layer; trained as the decoder of a VAE with a Gaussian likelihood of fixed sigma"
            }
        }
    }
}

/// The likelihood `p(x | z)` whose negative log is the reconstruction loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "likelihood", rename_all = "lowercase")]
pub enum Likelihood {
    /// Bernoulli with mean `sigmoid(Z_d)` (the decoder's last layer must be a sigmoid).
    Bernoulli,
    /// Gaussian with mean `σ_d(Z_d)` and standard deviation `sigma` per pixel.
    Gaussian {
        /// Standard deviation σ of every pixel (> 0).
        sigma: f64,
    },
}

impl Likelihood {
    /// `bernoulli` or `gaussian(sigma=…)`, for reports.
    pub fn label(self) -> String {
        match self {
            Likelihood::Bernoulli => "bernoulli".into(),
            Likelihood::Gaussian { sigma } => format!("gaussian(sigma={sigma})"),
        }
    }
}

/// `softplus(z) − x z`: the Bernoulli negative log-likelihood of `x ∈ [0, 1]` given the logit
/// `z` (binary cross-entropy with `sigmoid(z)`), in a form that never overflows.
pub fn bernoulli_nll<T: Real>(x: T, logit: T) -> T {
    activate(Activation::Softplus, logit) - x * logit
}

/// `∂/∂z [softplus(z) − x z] = sigmoid(z) − x`.
pub fn bernoulli_nll_grad<T: Real>(x: T, logit: T) -> T {
    logistic(logit) - x
}

/// `(x − σ(z))² / (2 s²)`: the Gaussian negative log-likelihood of `x` with mean `σ(z)` and
/// standard deviation `s`, without its constant `½ log 2π s²`.
pub fn gaussian_nll<T: Real>(x: T, z: T, activation: Activation, inv_two_var: T) -> T {
    let r = activate(activation, z) - x;
    r * r * inv_two_var
}

/// `∂/∂z (x − σ(z))² / (2 s²) = (σ(z) − x) σ'(z) / s²`.
pub fn gaussian_nll_grad<T: Real>(x: T, z: T, activation: Activation, inv_two_var: T) -> T {
    let two = T::cast(2.0);
    (activate(activation, z) - x) * activation_derivative(activation, z) * two * inv_two_var
}

/// `KL(N(μ, e^ℓ) ‖ N(0, 1)) = ½ (μ² + e^ℓ − 1 − ℓ)` for one latent coordinate.
pub fn kl_standard_normal<T: Real>(mu: T, log_var: T) -> T {
    T::cast(0.5) * (mu * mu + log_var.exp() - T::cast(1.0) - log_var)
}

/// The gradient `(∂/∂μ, ∂/∂ℓ) = (μ, ½(e^ℓ − 1))` of [`kl_standard_normal`].
pub fn kl_standard_normal_grad<T: Real>(mu: T, log_var: T) -> (T, T) {
    (mu, T::cast(0.5) * (log_var.exp() - T::cast(1.0)))
}

/// The reparameterised code `z = μ + e^{ℓ/2} ε`.
pub fn reparameterise<T: Real>(mu: T, log_var: T, noise: T) -> T {
    mu + (T::cast(0.5) * log_var).exp() * noise
}

/// The two terms of the loss, each a mean per example over a batch (nats, or squared error
/// over `2σ²` for the Gaussian likelihood).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LossParts {
    /// Mean reconstruction term `R`.
    pub reconstruction: f64,
    /// Mean KL term.
    pub kl: f64,
}

impl LossParts {
    /// `R + KL`, the negative ELBO per example.
    pub fn total(&self) -> f64 {
        self.reconstruction + self.kl
    }
}

/// An encoder–decoder pair and its likelihood. Also used, with every entry 0, as the shape of
/// its gradient ([`Vae::zeros_like`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Vae<T> {
    /// `x ↦ (μ, ℓ)`: the `2k` outputs are `μ` (first `k`) then `ℓ = log σ_q²`.
    pub encoder: Mlp<T>,
    /// `z ↦ x̂` (`k` inputs, 784 outputs).
    pub decoder: Mlp<T>,
    /// The reconstruction loss.
    pub likelihood: Likelihood,
}

/// Buffers of one loss evaluation, reused across batches.
#[derive(Clone, Debug, Default)]
pub struct Workspace<T> {
    encoder: Trace<T>,
    decoder: Trace<T>,
    /// The codes fed to the decoder (`k × B`).
    codes: Vec<T>,
    /// Per example: reconstruction term, KL term.
    per_example: Vec<(f64, f64)>,
}

impl<T: Real> Workspace<T> {
    /// The codes of the last evaluation (`k × B`, column-major): `z` for a loss, `μ` for
    /// [`Vae::reconstruct`].
    pub fn codes(&self) -> &[T] {
        &self.codes
    }
}

/// The specs of a network with two hidden layers of `hidden` units and `out` outputs, the
/// same activation on both hidden layers, the same init everywhere but the output layer's
/// gain.
fn three_layers(
    hidden: usize,
    out: usize,
    acts: [Activation; 2],
    init: Init,
    out_gain: f64,
    bias: bool,
) -> [LayerSpec; 3] {
    let spec = |width, activation, gain| LayerSpec {
        width,
        activation,
        bias,
        init,
        gain,
    };
    [
        spec(hidden, acts[0], 1.0),
        spec(hidden, acts[0], 1.0),
        spec(out, acts[1], out_gain),
    ]
}

impl<T: Real> Vae<T> {
    /// A freshly initialised VAE of the given kind and sizes (`pixels` inputs and outputs,
    /// `latent` code dimension, two hidden layers of `hidden`): encoder then decoder weights
    /// drawn from `rng`. `sigma` is the Gaussian likelihood's σ of the `relu` kind (ignored
    /// for `vae`).
    pub fn new<R: Rng + ?Sized>(
        kind: DecoderKind,
        pixels: usize,
        hidden: usize,
        latent: usize,
        sigma: f64,
        rng: &mut R,
    ) -> Self {
        let (sp, relu) = (Activation::Softplus, Activation::Relu);
        let encoder = Mlp::init(
            pixels,
            &three_layers(hidden, 2 * latent, [sp, Activation::Identity], Init::Glorot, 1.0, true),
            rng,
        );
        let (decoder, likelihood) = match kind {
            DecoderKind::Vae => (
                Mlp::init(
                    latent,
                    &three_layers(hidden, pixels, [sp, Activation::Sigmoid], Init::Glorot, 1.0, true),
                    rng,
                ),
                Likelihood::Bernoulli,
            ),
            DecoderKind::Relu => (
                Mlp::init(
                    latent,
                    &three_layers(hidden, pixels, [relu, relu], Init::He, RELU_OUTPUT_INIT_GAIN, false),
                    rng,
                ),
                Likelihood::Gaussian { sigma },
            ),
        };
        Self {
            encoder,
            decoder,
            likelihood,
        }
    }

    /// The paper's sizes: 784 pixels, hidden width 500, latent dimension 20.
    pub fn mnist<R: Rng + ?Sized>(kind: DecoderKind, sigma: f64, rng: &mut R) -> Self {
        Self::new(kind, MNIST_PIXELS, HIDDEN_WIDTH, LATENT_DIM, sigma, rng)
    }

    /// The latent dimension `k`.
    pub fn latent_dim(&self) -> usize {
        self.decoder.input_dim()
    }

    /// The data dimension (784 for MNIST).
    pub fn data_dim(&self) -> usize {
        self.encoder.input_dim()
    }

    /// The same shapes with every entry 0 (a gradient, or Adam's moments).
    pub fn zeros_like(&self) -> Self {
        Self {
            encoder: self.encoder.zeros_like(),
            decoder: self.decoder.zeros_like(),
            likelihood: self.likelihood,
        }
    }

    /// Every tensor, encoder first, in a fixed order.
    pub fn tensors(&self) -> Vec<&[T]> {
        let mut all = self.encoder.tensors();
        all.extend(self.decoder.tensors());
        all
    }

    /// Every tensor, mutably, in the order of [`Vae::tensors`].
    pub fn tensors_mut(&mut self) -> Vec<&mut [T]> {
        let mut all = self.encoder.tensors_mut();
        all.extend(self.decoder.tensors_mut());
        all
    }

    /// The loss of the batch `x` (`784 × batch`, column-major, pixels in `[0, 1]`) with the
    /// reparameterisation noise `noise` (`k × batch`, iid `N(0, 1)`); leaves `∂L/∂Z_d` in the
    /// workspace for [`Vae::loss_and_gradient`].
    #[track_caller]
    pub fn loss(&self, x: &[T], noise: &[T], batch: usize, ws: &mut Workspace<T>) -> LossParts {
        let k = self.latent_dim();
        assert_eq!(noise.len(), k * batch, "noise is not k × batch");
        self.encoder.forward(x, batch, &mut ws.encoder);
        ws.codes.resize(k * batch, T::cast(0.0));
        ws.per_example.resize(batch, (0.0, 0.0));
        let columns = ws.encoder.output().chunks_exact(2 * k).zip(noise.chunks_exact(k));
        for ((z, slot), (h, e)) in ws.codes.chunks_exact_mut(k).zip(&mut ws.per_example).zip(columns) {
            let (mu, log_var) = h.split_at(k);
            for j in 0..k {
                z[j] = reparameterise(mu[j], log_var[j], e[j]);
            }
            slot.1 = mu
                .iter()
                .zip(log_var)
                .map(|(&m, &l)| kl_standard_normal(m, l).widen())
                .sum();
        }
        self.decoder.forward(&ws.codes, batch, &mut ws.decoder);
        self.fill_output_grad(x, batch, ws);
        let n = batch as f64;
        LossParts {
            reconstruction: ws.per_example.iter().map(|p| p.0).sum::<f64>() / n,
            kl: ws.per_example.iter().map(|p| p.1).sum::<f64>() / n,
        }
    }

    /// The loss (as [`Vae::loss`]) and its gradient with respect to every weight and bias of
    /// encoder and decoder, written into `grads` (shaped by [`Vae::zeros_like`]).
    #[track_caller]
    pub fn loss_and_gradient(
        &self,
        x: &[T],
        noise: &[T],
        batch: usize,
        grads: &mut Vae<T>,
        ws: &mut Workspace<T>,
    ) -> LossParts {
        let parts = self.loss(x, noise, batch, ws);
        self.decoder
            .backward(&ws.codes, &mut ws.decoder, &mut grads.decoder, true);
        let k = self.latent_dim();
        let scale = T::cast(1.0 / batch as f64);
        let half = T::cast(0.5);
        let code_grad = ws.decoder.input_grad();
        // The encoder's last layer is the identity, so its pre-activation is (μ, ℓ).
        let (out, out_grad) = ws.encoder.output_pre_and_grad();
        let columns = out.chunks_exact(2 * k).zip(noise.chunks_exact(k));
        for ((g, dz), (h, e)) in out_grad
            .chunks_exact_mut(2 * k)
            .zip(code_grad.chunks_exact(k))
            .zip(columns)
        {
            let (mu, log_var) = h.split_at(k);
            let (g_mu, g_log_var) = g.split_at_mut(k);
            for j in 0..k {
                let (kl_mu, kl_log_var) = kl_standard_normal_grad(mu[j], log_var[j]);
                g_mu[j] = dz[j] + kl_mu * scale;
                g_log_var[j] = dz[j] * e[j] * half * (half * log_var[j]).exp() + kl_log_var * scale;
            }
        }
        self.encoder.backward(x, &mut ws.encoder, &mut grads.encoder, false);
        parts
    }

    /// Reconstructions `decoder(μ(x))` of the batch `x` (`784 × batch`), from the mean codes
    /// (left in [`Workspace::codes`]).
    #[track_caller]
    pub fn reconstruct<'w>(&self, x: &[T], batch: usize, ws: &'w mut Workspace<T>) -> &'w [T] {
        let k = self.latent_dim();
        self.encoder.forward(x, batch, &mut ws.encoder);
        ws.codes.resize(k * batch, T::cast(0.0));
        for (z, h) in ws
            .codes
            .chunks_exact_mut(k)
            .zip(ws.encoder.output().chunks_exact(2 * k))
        {
            z.copy_from_slice(&h[..k]);
        }
        self.decoder.forward(&ws.codes, batch, &mut ws.decoder);
        ws.decoder.output()
    }

    /// Per example the reconstruction term into `ws.per_example`, and `∂L/∂Z_d` (divided by
    /// the batch size) into the decoder's trace; columns in parallel, each summed in order.
    fn fill_output_grad(&self, x: &[T], batch: usize, ws: &mut Workspace<T>) {
        let pixels = self.data_dim();
        let scale = T::cast(1.0 / batch as f64);
        let likelihood = self.likelihood;
        let activation = self
            .decoder
            .layers
            .last()
            .map_or(Activation::Identity, |l| l.activation);
        let (pre, grad) = ws.decoder.output_pre_and_grad();
        grad.par_chunks_mut(pixels)
            .zip(pre.par_chunks(pixels))
            .zip(x.par_chunks(pixels))
            .zip(ws.per_example.par_iter_mut())
            .with_min_len(COLUMNS_PER_TASK)
            .for_each(|(((g, z), xs), slot)| {
                slot.0 = reconstruction_column(likelihood, activation, xs, z, g, scale);
            });
    }
}

/// Columns per rayon task when filling the output gradient (784 pixels each).
const COLUMNS_PER_TASK: usize = 4;

/// One example's reconstruction term `R(x, Z_d)` (summed over pixels in order, in `f64`) and
/// `scale · ∂R/∂Z_d` into `grad`.
fn reconstruction_column<T: Real>(
    likelihood: Likelihood,
    activation: Activation,
    x: &[T],
    logits: &[T],
    grad: &mut [T],
    scale: T,
) -> f64 {
    let mut sum = 0.0;
    match likelihood {
        Likelihood::Bernoulli => {
            for ((g, &z), &xp) in grad.iter_mut().zip(logits).zip(x) {
                sum += bernoulli_nll(xp, z).widen();
                *g = bernoulli_nll_grad(xp, z) * scale;
            }
        }
        Likelihood::Gaussian { sigma } => {
            let inv = T::cast(0.5 / (sigma * sigma));
            for ((g, &z), &xp) in grad.iter_mut().zip(logits).zip(x) {
                sum += gaussian_nll(xp, z, activation, inv).widen();
                *g = gaussian_nll_grad(xp, z, activation, inv) * scale;
            }
        }
    }
    sum
}
