//! Dense feed-forward networks trained by back-propagation on mini-batches: the encoders and
//! decoders of `dpr-audit mnist train` ([`super::vae`]).
//!
//! Layer `i` maps a batch `A_{i−1}` (`n_{i−1} × B`, one example per column) to
//! `Z_i = W_i A_{i−1} + b_i 1ᵀ` and `A_i = σ_i(Z_i)` (the layout of [`crate::core::network`]:
//! `W_i` is `n_i × n_{i−1}`, optional bias, activation per layer). Back-propagation from
//! `Δ_d = ∂L/∂Z_d` (the caller's loss supplies it, so a sigmoid output can be trained on its
//! logits) is the chain rule:
//!
//! ```text
//! ∂L/∂W_i = Δ_i A_{i−1}ᵀ,   ∂L/∂b_i = Δ_i 1,   Δ_{i−1} = (W_iᵀ Δ_i) ⊙ σ'_{i−1}(Z_{i−1}).
//! ```
//!
//! Everything is generic over the element type [`Real`]: training runs in `f32`, the
//! finite-difference tests in `f64`. Buffers are column-major `Vec<T>` of exactly
//! `rows × B` entries, kept in a [`Trace`] that is reused from batch to batch.
//!
//! Determinism: the matrix products run on faer with `Par::rayon(0)`, which splits the
//! *output* into blocks and keeps every entry's sum over the inner dimension in one order
//! whatever the thread count; element-wise work runs in parallel over columns; reductions
//! (bias gradients, losses) are summed sequentially. So a result does not depend on the
//! number of threads (`tests/mnist_train.rs` checks this bit for bit with 1 and 2 threads).

use std::ops::Neg;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rand::Rng;
use rand::RngExt;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::core::network::{Activation, Layer, Network};
use crate::error::Result;

/// Columns per rayon task in element-wise passes (a column has 20 to 784 entries).
const COLUMNS_PER_TASK: usize = 8;

/// The element types the trainer runs in: `f32` (training) and `f64` (gradient checks).
pub trait Real: faer::traits::RealField + Copy + Default + Send + Sync + Neg<Output = Self> + 'static {
    /// The safetensors dtype name (`F32`, `F64`).
    const DTYPE: &'static str;
    /// `v` rounded to this type.
    fn cast(v: f64) -> Self;
    /// `self` as `f64` (exact).
    fn widen(self) -> f64;
    /// `e^self`.
    fn exp(self) -> Self;
    /// `ln(1 + self)`.
    fn ln_1p(self) -> Self;
    /// `√self`.
    fn sqrt(self) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// The larger of `self` and `other`.
    fn max(self, other: Self) -> Self;
}

macro_rules! impl_real {
    ($t:ty, $name:literal) => {
        impl Real for $t {
            const DTYPE: &'static str = $name;
            fn cast(v: f64) -> Self {
                v as $t
            }
            fn widen(self) -> f64 {
                f64::from(self)
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
        }
    };
}
impl_real!(f32, "F32");
impl_real!(f64, "F64");

/// `σ(z)` for the four activations of [`Activation`] (the same formulas as
/// [`Activation::apply`], in `T`): softplus as `max(z, 0) + ln(1 + e^{−|z|})`, which never
/// overflows.
pub fn activate<T: Real>(activation: Activation, z: T) -> T {
    let zero = T::cast(0.0);
    match activation {
        Activation::Relu => z.max(zero),
        Activation::Softplus => z.max(zero) + (-z.abs()).exp().ln_1p(),
        Activation::Sigmoid => logistic(z),
        Activation::Identity => z,
    }
}

/// `σ'(z)`, with `relu'(0) = 0` (the strict mask of docs/THEORY.md §1); softplus' = logistic.
pub fn activation_derivative<T: Real>(activation: Activation, z: T) -> T {
    match activation {
        Activation::Relu => T::cast(if z > T::cast(0.0) { 1.0 } else { 0.0 }),
        Activation::Softplus => logistic(z),
        Activation::Sigmoid => {
            let s = logistic(z);
            s * (T::cast(1.0) - s)
        }
        Activation::Identity => T::cast(1.0),
    }
}

/// The logistic function `1/(1 + e^{−z})` (exact limits 0 and 1 when `e^{−z}` over/underflows).
pub fn logistic<T: Real>(z: T) -> T {
    T::cast(1.0) / (T::cast(1.0) + (-z).exp())
}

/// How a layer's weights are drawn at initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Glorot & Bengio 2010, `N(0, 2/(n_in + n_out))` (Bora et al.'s VAE uses Xavier).
    Glorot,
    /// He et al. 2015, `N(0, 2/n_in)`, which keeps the scale of ReLU layers.
    He,
}

impl Init {
    /// Standard deviation of an entry of a `n_out × n_in` weight matrix.
    pub fn std_dev(self, n_in: usize, n_out: usize) -> f64 {
        match self {
            Init::Glorot => (2.0 / (n_in + n_out) as f64).sqrt(),
            Init::He => (2.0 / n_in as f64).sqrt(),
        }
    }
}

/// One layer `a ↦ σ(W a + b)`, its weights column-major in a flat vector.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer<T> {
    /// `n_i`, rows of `W_i`.
    pub n_out: usize,
    /// `n_{i−1}`, columns of `W_i`.
    pub n_in: usize,
    /// `W_i`, column-major (`n_out · n_in` entries).
    pub weight: Vec<T>,
    /// `b_i` (`n_out` entries), if the layer has one.
    pub bias: Option<Vec<T>>,
    /// `σ_i`.
    pub activation: Activation,
}

impl<T: Real> DenseLayer<T> {
    /// `W_i` as a faer view.
    pub fn weight_ref(&self) -> MatRef<'_, T> {
        MatRef::from_column_major_slice(&self.weight, self.n_out, self.n_in)
    }
}

/// The shape of one layer for [`Mlp::init`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerSpec {
    /// Output width `n_i`.
    pub width: usize,
    /// Activation `σ_i`.
    pub activation: Activation,
    /// Whether the layer has a bias (initialised to 0).
    pub bias: bool,
    /// How the weights are drawn.
    pub init: Init,
    /// Multiplies the standard deviation of `init` (1 for the plain scheme).
    pub gain: f64,
}

/// A feed-forward network of [`DenseLayer`]s; also the shape of its own gradient and of the
/// Adam moments ([`Mlp::zeros_like`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp<T> {
    /// The layers, input first.
    pub layers: Vec<DenseLayer<T>>,
}

impl<T: Real> Mlp<T> {
    /// A network with `input` inputs and one layer per spec, weights
    /// `N(0, (gain · init.std_dev)²)` drawn from `rng` layer by layer in column-major order,
    /// biases 0.
    pub fn init<R: Rng + ?Sized>(input: usize, specs: &[LayerSpec], rng: &mut R) -> Self {
        let mut n_in = input;
        let layers = specs
            .iter()
            .map(|spec| {
                let std = spec.gain * spec.init.std_dev(n_in, spec.width);
                let weight = (0..spec.width * n_in)
                    .map(|_| T::cast(std * rng.sample::<f64, _>(StandardNormal)))
                    .collect();
                let layer = DenseLayer {
                    n_out: spec.width,
                    n_in,
                    weight,
                    bias: spec.bias.then(|| vec![T::cast(0.0); spec.width]),
                    activation: spec.activation,
                };
                n_in = spec.width;
                layer
            })
            .collect();
        Self { layers }
    }

    /// The same shapes (biases included) with every entry 0.
    pub fn zeros_like(&self) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| DenseLayer {
                weight: vec![T::cast(0.0); l.weight.len()],
                bias: l.bias.as_ref().map(|b| vec![T::cast(0.0); b.len()]),
                ..l.clone()
            })
            .collect();
        Self { layers }
    }

    /// Input width `n_0`.
    pub fn input_dim(&self) -> usize {
        self.layers[0].n_in
    }

    /// Output width `n_d`.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    /// Number of trainable entries (weights and biases).
    pub fn parameter_count(&self) -> usize {
        self.tensors().iter().map(|t| t.len()).sum()
    }

    /// Every tensor (`W_1`, `b_1`, `W_2`, …), in a fixed order.
    pub fn tensors(&self) -> Vec<&[T]> {
        self.layers
            .iter()
            .flat_map(|l| std::iter::once(l.weight.as_slice()).chain(l.bias.as_deref()))
            .collect()
    }

    /// Every tensor, mutably, in the order of [`Mlp::tensors`].
    pub fn tensors_mut(&mut self) -> Vec<&mut [T]> {
        self.layers
            .iter_mut()
            .flat_map(|l| std::iter::once(l.weight.as_mut_slice()).chain(l.bias.as_deref_mut()))
            .collect()
    }

    /// The network as a [`Network`] (`f64`, exact for `f32` weights), for saving and for the
    /// rest of the toolkit.
    pub fn to_network(&self) -> Result<Network> {
        let layers = self
            .layers
            .iter()
            .map(|l| Layer {
                weight: faer::Mat::from_fn(l.n_out, l.n_in, |r, c| l.weight[c * l.n_out + r].widen()),
                bias: l.bias.as_ref().map(|b| b.iter().map(|v| v.widen()).collect()),
                activation: l.activation,
            })
            .collect();
        Network::from_layers(layers)
    }

    /// Runs the batch `x` (`n_0 × batch`, column-major) forward, keeping `Z_i` and `A_i` in
    /// `trace`; the output `A_d` is [`Trace::output`].
    #[track_caller]
    pub fn forward(&self, x: &[T], batch: usize, trace: &mut Trace<T>) {
        assert_eq!(x.len(), self.input_dim() * batch, "input is not n_0 × batch");
        trace.fit(self, batch);
        for (i, layer) in self.layers.iter().enumerate() {
            let (done, rest) = trace.post.split_at_mut(i);
            let input = if i == 0 { x } else { &done[i - 1] };
            let pre = &mut trace.pre[i];
            product(
                layer.weight_ref(),
                columns(input, layer.n_in, batch),
                pre,
                layer.n_out,
                batch,
            );
            if let Some(b) = &layer.bias {
                par_columns(pre, layer.n_out, |z| {
                    z.iter_mut().zip(b).for_each(|(zr, &br)| *zr += br)
                });
            }
            par_zip_columns(&mut rest[0], pre, layer.n_out, |a, z| {
                a.iter_mut()
                    .zip(z)
                    .for_each(|(ar, &zr)| *ar = activate(layer.activation, zr));
            });
        }
    }

    /// Back-propagates `∂L/∂Z_d` (set by the caller through [`Trace::output_pre_and_grad`]
    /// after [`Mlp::forward`] on the same `x`) into `grads` (same shapes as `self`,
    /// overwritten).
    /// With `input_grad`, also leaves `∂L/∂x` in [`Trace::input_grad`].
    #[track_caller]
    pub fn backward(&self, x: &[T], trace: &mut Trace<T>, grads: &mut Mlp<T>, input_grad: bool) {
        let batch = trace.batch;
        assert_eq!(
            x.len(),
            self.input_dim() * batch,
            "input is not the one of the forward pass"
        );
        for i in (0..self.layers.len()).rev() {
            let layer = &self.layers[i];
            let g = &mut grads.layers[i];
            let input = if i == 0 { x } else { &trace.post[i - 1] };
            let delta = &trace.delta[i];
            let dw = MatMut::from_column_major_slice_mut(&mut g.weight, layer.n_out, layer.n_in);
            parallel_product(
                dw,
                columns(delta, layer.n_out, batch),
                columns(input, layer.n_in, batch).transpose(),
            );
            if let Some(db) = &mut g.bias {
                row_sums(delta, layer.n_out, db);
            }
            if i == 0 && !input_grad {
                break;
            }
            let (below, at) = trace.delta.split_at_mut(i);
            let target = if i == 0 {
                &mut trace.input_grad
            } else {
                &mut below[i - 1]
            };
            target.resize(layer.n_in * batch, T::cast(0.0));
            product(
                layer.weight_ref().transpose(),
                columns(&at[0], layer.n_out, batch),
                target,
                layer.n_in,
                batch,
            );
            if i > 0 {
                let below_activation = self.layers[i - 1].activation;
                par_zip_columns(target, &trace.pre[i - 1], layer.n_in, |d, z| {
                    d.iter_mut()
                        .zip(z)
                        .for_each(|(dr, &zr)| *dr *= activation_derivative(below_activation, zr));
                });
            }
        }
    }
}

/// A column-major `rows × batch` view of a flat buffer.
fn columns<T: Real>(buf: &[T], rows: usize, batch: usize) -> MatRef<'_, T> {
    MatRef::from_column_major_slice(&buf[..rows * batch], rows, batch)
}

/// `out ← lhs · rhs` (`rows × batch`) with [`parallel_product`].
fn product<T: Real>(lhs: MatRef<'_, T>, rhs: MatRef<'_, T>, out: &mut [T], rows: usize, batch: usize) {
    parallel_product(
        MatMut::from_column_major_slice_mut(&mut out[..rows * batch], rows, batch),
        lhs,
        rhs,
    );
}

/// `dst ← lhs · rhs` with faer's parallel product (thread-count independent, see the module
/// doc), then [`clear_upper_simd_state`] on every worker.
fn parallel_product<T: Real>(dst: MatMut<'_, T>, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>) {
    matmul(dst, Accum::Replace, lhs, rhs, T::cast(1.0), Par::rayon(0));
    if rayon::current_num_threads() > 1 {
        rayon::broadcast(|_| clear_upper_simd_state());
    }
}

/// Clears the upper halves of the vector registers (`vzeroupper`) on this thread.
///
/// faer's multi-threaded f32 product (gemm 0.19, AVX-512 kernels) leaves the rayon workers
/// with "dirty" upper register state; every later non-VEX SSE instruction on those threads,
/// such as glibc's `log1pf`, then pays the AVX–SSE transition penalty. Measured on this
/// project's 2-core Xeon: 30 M softplus evaluations took 12.6 s after a 2-thread product and
/// 0.8 s after a sequential one or after this call. The call costs a few microseconds.
fn clear_upper_simd_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX (checked just above), the only requirement of
        // `vzeroupper`, which changes no value that compiled code relies on across the call.
        unsafe { zero_upper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper();
}

/// Runs `f` on every column (`rows` entries) of a buffer, columns in parallel.
pub(crate) fn par_columns<T: Real>(buf: &mut [T], rows: usize, f: impl Fn(&mut [T]) + Sync) {
    buf.par_chunks_mut(rows).with_min_len(COLUMNS_PER_TASK).for_each(&f);
}

/// Runs `f` on matching columns (`rows` entries each) of `out` and `input`, in parallel.
pub(crate) fn par_zip_columns<T: Real>(out: &mut [T], input: &[T], rows: usize, f: impl Fn(&mut [T], &[T]) + Sync) {
    out.par_chunks_mut(rows)
        .zip(input.par_chunks(rows))
        .with_min_len(COLUMNS_PER_TASK)
        .for_each(|(o, i)| f(o, i));
}

/// `out_r = Σ_j buf[r, j]`, summed over columns in order (deterministic).
fn row_sums<T: Real>(buf: &[T], rows: usize, out: &mut [T]) {
    out.iter_mut().for_each(|o| *o = T::cast(0.0));
    for col in buf.chunks_exact(rows) {
        for (o, &v) in out.iter_mut().zip(col) {
            *o += v;
        }
    }
}

/// The values of one forward pass and the buffers of the backward pass, reused across
/// batches (`Trace::default()` is empty; [`Mlp::forward`] sizes it, again when the batch
/// size changes).
#[derive(Clone, Debug, Default)]
pub struct Trace<T> {
    batch: usize,
    /// `Z_i`, one `n_i × B` buffer per layer.
    pub pre: Vec<Vec<T>>,
    /// `A_i = σ_i(Z_i)`, one `n_i × B` buffer per layer.
    pub post: Vec<Vec<T>>,
    /// `Δ_i = ∂L/∂Z_i`, one `n_i × B` buffer per layer.
    delta: Vec<Vec<T>>,
    /// `∂L/∂x` (`n_0 × B`), when asked for.
    input_grad: Vec<T>,
}

impl<T: Real> Trace<T> {
    fn fit(&mut self, net: &Mlp<T>, batch: usize) {
        let depth = net.layers.len();
        for bufs in [&mut self.pre, &mut self.post, &mut self.delta] {
            bufs.resize_with(depth, Vec::new);
            for (buf, layer) in bufs.iter_mut().zip(&net.layers) {
                buf.resize(layer.n_out * batch, T::cast(0.0));
            }
        }
        self.batch = batch;
    }

    /// The batch size of the last forward pass.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `A_d`, the network's output (`n_d × B`).
    pub fn output(&self) -> &[T] {
        self.post.last().map_or(&[], Vec::as_slice)
    }

    /// `Z_d` (the logits of a sigmoid output) and `∂L/∂Z_d` side by side, for the caller to
    /// fill the gradient from the pre-activation before [`Mlp::backward`].
    pub fn output_pre_and_grad(&mut self) -> (&[T], &mut [T]) {
        match (self.pre.last(), self.delta.last_mut()) {
            (Some(z), Some(d)) => (z, d),
            _ => (&[], &mut []),
        }
    }

    /// `∂L/∂x` after [`Mlp::backward`] with `input_grad`.
    pub fn input_grad(&self) -> &[T] {
        &self.input_grad
    }
}
