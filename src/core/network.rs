//! The generator `G(x) = relu(W_d … relu(W_1 x))` (docs/THEORY.md §1) and the general feed-forward
//! networks a trained decoder needs (biases, softplus, sigmoid).
//!
//! - Active rows use the **strict** inequality `W_{+,x} = diag(Wx > 0) W`; the derivative of
//!   ReLU at 0 is taken as 0, so [`Network::jvp`] and [`Network::vjp`] are exactly `Λ_x u` and
//!   `Λ_xᵀ w` for a bias-free ReLU network, without forming `Λ_x`.
//! - [`Network::active_product`] forms `Λ_x` (`n × k`) for small sizes; `G(x) = Λ_x x`.
//! - [`Network::forward_batch`] runs a `k × B` block of codes through matrix–matrix products.
//!
//! Matrix products run sequentially (`Par::Seq`): parallelism lives at the trial level so that
//! results never depend on the thread count. The hot products (`W_i a`, `W_iᵀ g`, `A y`, `Aᵀ r`,
//! for one code or a block) go through `kernels` (`benches/README.md` has the timings): one
//! code reads the weights in place, since its products are bound by memory bandwidth; a block
//! reads packed copies of `W_i` and `W_iᵀ`, made on its first use. Every forward entry
//! (`W_i a`, `A y`) is summed in the same order either way, so [`Network::forward_batch`]
//! reproduces [`Network::forward`] bit for bit; [`Network::vjp_batch`] sums in another order
//! than [`Network::vjp`], which changes only the rounding.

pub(crate) mod kernels;

use std::sync::OnceLock;

use faer::linalg::matmul::matmul;
use faer::{Accum, ColMut, ColRef, Mat, MatRef, Par};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use self::kernels::{Panels, columns, columns_mut};
use crate::error::{Error, Result};

/// A layer's nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(z, 0)`, derivative `1[z > 0]` (strict), one-sided rule at `z = 0`.
    Relu,
    /// `log(1 + e^z)`.
    Softplus,
    /// `1/(1 + e^{−z})`.
    Sigmoid,
    /// No nonlinearity.
    Identity,
}

impl Activation {
    /// Parses the names used in weight-file metadata and on the command line.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "relu" => Some(Self::Relu),
            "softplus" => Some(Self::Softplus),
            "sigmoid" => Some(Self::Sigmoid),
            "identity" | "linear" => Some(Self::Identity),
            _ => None,
        }
    }

    /// The name written to files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::Softplus => "softplus",
            Self::Sigmoid => "sigmoid",
            Self::Identity => "identity",
        }
    }

    /// `σ(z)`.
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Self::Relu => z.max(0.0),
            Self::Softplus => z.max(0.0) + (-z.abs()).exp().ln_1p(),
            Self::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Self::Identity => z,
        }
    }

    /// `σ'(z)`, with `relu'(0) = 0` (the strict mask of docs/THEORY.md §1).
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Self::Relu => f64::from(z > 0.0),
            Self::Softplus => 1.0 / (1.0 + (-z).exp()),
            Self::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                s * (1.0 - s)
            }
            Self::Identity => 1.0,
        }
    }

    /// Derivative of `t ↦ σ(z + t ż)` at `t = 0+` (docs/THEORY.md §1): for ReLU, `ż` if `z > 0`,
    /// `0` if `z < 0`, `max(ż, 0)` at the kink `z = 0`.
    pub fn one_sided(self, z: f64, zdot: f64) -> f64 {
        match self {
            Self::Relu if z == 0.0 => zdot.max(0.0),
            _ => self.derivative(z) * zdot,
        }
    }
}

/// Variance convention of Gaussian weights (docs/THEORY.md §1; record it with every result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum WeightScale {
    /// `N(0, 1/n_i)` for a layer with `n_i` outputs: the theorems' convention.
    Normalized,
    /// `N(0, 1)`: HLV's synthetic experiment.
    Unit,
}

impl WeightScale {
    /// The name reports record: `normalized` or `unit`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Normalized => "normalized",
            Self::Unit => "unit",
        }
    }

    /// Standard deviation of an entry of a layer with `rows` outputs.
    pub fn std_dev(self, rows: usize) -> f64 {
        match self {
            Self::Normalized => 1.0 / (rows as f64).sqrt(),
            Self::Unit => 1.0,
        }
    }
}

/// One layer `a ↦ σ(W a + b)`.
#[derive(Clone, Debug)]
pub struct Layer {
    /// `W_i ∈ R^{n_i × n_{i−1}}`.
    pub weight: Mat<f64>,
    /// Optional bias `b_i ∈ R^{n_i}`.
    pub bias: Option<Vec<f64>>,
    /// `σ_i`.
    pub activation: Activation,
}

/// A feed-forward network with widths `k = n_0, n_1, …, n_d`.
#[derive(Clone, Debug)]
pub struct Network {
    layers: Vec<Layer>,
    /// `W_i` and `W_iᵀ` packed for the block products, one per layer, made on first use (twice
    /// the weights' memory). The layers never change after construction (only `&[Layer]` is
    /// handed out), so the copies stay in sync.
    packed: OnceLock<Vec<PackedLayer>>,
}

/// The packed copies of one layer's weights, for products with blocks of codes.
#[derive(Clone, Debug)]
struct PackedLayer {
    weight: Panels,
    transposed: Panels,
}

impl PackedLayer {
    fn new(layer: &Layer) -> Self {
        Self {
            weight: Panels::pack(layer.weight.as_ref()),
            transposed: Panels::pack(layer.weight.transpose()),
        }
    }

    /// `W X` (`n_i × B`).
    fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = Mat::zeros(self.weight.rows(), x.ncols());
        let owned;
        let x = match columns(x) {
            Some(cols) => cols,
            None => {
                owned = x.to_owned();
                columns(owned.as_ref()).expect("an owned matrix is column-major")
            }
        };
        kernels::packed_product(&self.weight, &x, &mut columns_mut(&mut out));
        out
    }

    /// `Wᵀ G` (`n_{i−1} × B`).
    fn apply_transpose(&self, g: &Mat<f64>) -> Mat<f64> {
        let mut out = Mat::zeros(self.transposed.rows(), g.ncols());
        let g = columns(g.as_ref()).expect("an owned matrix is column-major");
        kernels::packed_product(&self.transposed, &g, &mut columns_mut(&mut out));
        out
    }
}

/// `W a` for one layer's column-major weights (into `out`, `n_i` entries).
fn layer_apply(layer: &Layer, a: &[f64], out: &mut [f64]) {
    let cols = columns(layer.weight.as_ref()).expect("an owned matrix is column-major");
    kernels::colmajor_product(&cols, layer.weight.nrows(), &[a], &mut [out]);
}

/// `Wᵀ g` for one layer's column-major weights (`n_{i−1}` entries).
fn layer_apply_transpose(layer: &Layer, g: &[f64]) -> Vec<f64> {
    let cols = columns(layer.weight.as_ref()).expect("an owned matrix is column-major");
    let mut out = vec![0.0; cols.len()];
    kernels::transposed_product(&cols, &[g], &mut [&mut out]);
    out
}

/// Values kept by a forward pass: pre-activations `z_i` and activations `a_i` per layer.
#[derive(Clone, Debug)]
pub struct Trace {
    /// `z_i = W_i a_{i−1} + b_i`, one vector per layer.
    pub pre: Vec<Vec<f64>>,
    /// `a_i = σ_i(z_i)`; the last one is `G(x)`.
    pub post: Vec<Vec<f64>>,
}

impl Trace {
    /// `G(x)`.
    pub fn output(&self) -> &[f64] {
        self.post.last().expect("a network has at least one layer")
    }
}

/// `dst = W src`, sequentially: through `kernels` when `W` or `Wᵀ` is column-major (an owned
/// matrix or its transpose), through faer otherwise.
pub(crate) fn matvec(dst: &mut [f64], w: MatRef<'_, f64>, src: &[f64]) {
    assert!(
        dst.len() == w.nrows() && src.len() == w.ncols(),
        "matvec: shapes must match"
    );
    if let Some(cols) = columns(w) {
        kernels::colmajor_product(&cols, w.nrows(), &[src], &mut [dst]);
    } else if let Some(rows) = columns(w.transpose()) {
        kernels::transposed_product(&rows, &[src], &mut [dst]);
    } else {
        matmul(
            ColMut::from_slice_mut(dst),
            Accum::Replace,
            w,
            ColRef::from_slice(src),
            1.0,
            Par::Seq,
        );
    }
}

/// `W X` for a block `X` (`B` columns), sequentially; column `c` equals [`matvec`] of column `c`
/// bit for bit when `W` or `Wᵀ` is column-major.
pub(crate) fn matmul_block(w: MatRef<'_, f64>, x: MatRef<'_, f64>) -> Mat<f64> {
    assert_eq!(w.ncols(), x.nrows(), "matmul_block: shapes must match");
    let mut out = Mat::zeros(w.nrows(), x.ncols());
    let owned;
    let xs = match columns(x) {
        Some(cols) => cols,
        None => {
            owned = x.to_owned();
            columns(owned.as_ref()).expect("an owned matrix is column-major")
        }
    };
    if let Some(cols) = columns(w) {
        kernels::colmajor_product(&cols, w.nrows(), &xs, &mut columns_mut(&mut out));
    } else if let Some(rows) = columns(w.transpose()) {
        kernels::transposed_product(&rows, &xs, &mut columns_mut(&mut out));
    } else {
        matmul(out.as_mut(), Accum::Replace, w, x, 1.0, Par::Seq);
    }
    out
}

impl Network {
    /// Validates and wraps layers: consecutive shapes must chain and every value be finite.
    pub fn from_layers(layers: Vec<Layer>) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::param("layers", 0, "a network needs at least one layer (d >= 1)"));
        }
        for (i, pair) in layers.windows(2).enumerate() {
            if pair[1].weight.ncols() != pair[0].weight.nrows() {
                return Err(Error::param(
                    "layer shapes",
                    format!(
                        "W{} is {}x{} but W{} is {}x{}",
                        i + 1,
                        pair[0].weight.nrows(),
                        pair[0].weight.ncols(),
                        i + 2,
                        pair[1].weight.nrows(),
                        pair[1].weight.ncols()
                    ),
                    "each W_i must have n_{i-1} columns, the row count of W_{i-1}",
                ));
            }
        }
        for (i, layer) in layers.iter().enumerate() {
            let (r, c) = (layer.weight.nrows(), layer.weight.ncols());
            if r == 0 || c == 0 {
                return Err(Error::param(
                    "layer shape",
                    format!("W{} is {r}x{c}", i + 1),
                    "widths must be positive",
                ));
            }
            let finite = (0..c).all(|j| layer.weight.col_as_slice(j).iter().all(|v| v.is_finite()));
            if !finite || layer.bias.as_ref().is_some_and(|b| b.iter().any(|v| !v.is_finite())) {
                return Err(Error::param(
                    "weights",
                    format!("layer {}", i + 1),
                    "all weights and biases must be finite",
                ));
            }
            if layer.bias.as_ref().is_some_and(|b| b.len() != r) {
                return Err(Error::param(
                    "bias length",
                    format!("layer {}", i + 1),
                    "b_i must have n_i entries",
                ));
            }
        }
        Ok(Self::with_layers(layers))
    }

    /// Wraps checked layers.
    fn with_layers(layers: Vec<Layer>) -> Self {
        Self {
            layers,
            packed: OnceLock::new(),
        }
    }

    /// The packed weights, made on first use.
    fn packed(&self) -> &[PackedLayer] {
        self.packed
            .get_or_init(|| self.layers.iter().map(PackedLayer::new).collect())
    }

    /// A bias-free ReLU network with iid Gaussian weights of the given convention.
    /// `widths = [k, n_1, …, n_d]`; call [`validate_widths`] first on user input.
    pub fn gaussian<R: Rng + ?Sized>(widths: &[usize], scale: WeightScale, rng: &mut R) -> Self {
        let layers = widths
            .windows(2)
            .map(|w| {
                let sd = scale.std_dev(w[1]);
                // Column-major fill order, fixed so that files and seeds agree.
                let mut weight = Mat::zeros(w[1], w[0]);
                for j in 0..w[0] {
                    for v in weight.col_as_slice_mut(j) {
                        let z: f64 = StandardNormal.sample(rng);
                        *v = sd * z;
                    }
                }
                Layer {
                    weight,
                    bias: None,
                    activation: Activation::Relu,
                }
            })
            .collect();
        Self::with_layers(layers)
    }

    /// The network with each `W_i` divided by `√n_i` (its number of rows): a network drawn with
    /// `N(0, 1)` weights ([`WeightScale::Unit`]) restated in the theorems' `N(0, 1/n_i)`
    /// convention. For ReLU layers (positively homogeneous) this divides `G(x)` by
    /// `Π √n_i` and `f` by `Π n_i`: the same landscape up to that constant (the same classes,
    /// critical points and descent directions), now comparable with `F` (docs/THEORY.md §4).
    pub fn unit_to_normalized(&self) -> Self {
        // A bias is scaled by the product up to its layer, so that every layer's output is the
        // original one times that product (exact for ReLU layers).
        let mut product = 1.0;
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let s = 1.0 / (l.weight.nrows() as f64).sqrt();
                product *= s;
                Layer {
                    weight: Mat::from_fn(l.weight.nrows(), l.weight.ncols(), |i, j| s * l.weight[(i, j)]),
                    bias: l.bias.as_ref().map(|b| b.iter().map(|v| product * v).collect()),
                    activation: l.activation,
                }
            })
            .collect();
        Self::with_layers(layers)
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// `[k, n_1, …, n_d]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.layers[0].weight.ncols()];
        w.extend(self.layers.iter().map(|l| l.weight.nrows()));
        w
    }

    /// Depth `d`.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Latent dimension `k = n_0`.
    pub fn latent_dim(&self) -> usize {
        self.layers[0].weight.ncols()
    }

    /// Output dimension `n = n_d`.
    pub fn output_dim(&self) -> usize {
        self.layers[self.layers.len() - 1].weight.nrows()
    }

    /// The hypotheses of the theory this network breaks (empty for a bias-free ReLU network).
    pub fn theory_violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            if l.bias.as_ref().is_some_and(|b| b.iter().any(|&v| v != 0.0)) {
                out.push(format!("layer {} has a nonzero bias", i + 1));
            }
            if l.activation != Activation::Relu {
                out.push(format!("layer {} uses {} instead of relu", i + 1, l.activation.name()));
            }
        }
        out
    }

    /// Checks that a latent code has `k` finite entries.
    pub fn check_code(&self, name: &'static str, x: &[f64]) -> Result<()> {
        if x.len() != self.latent_dim() {
            return Err(Error::param(
                name,
                format!("{} entries", x.len()),
                format!("the network's latent dimension is k = {}", self.latent_dim()),
            ));
        }
        if !x.iter().all(|v| v.is_finite()) {
            return Err(Error::param(
                name,
                format!("{x:?}"),
                "every entry must be a finite number",
            ));
        }
        Ok(())
    }

    /// Forward pass keeping every pre-activation (the activation masks are `z_i > 0`).
    pub fn forward(&self, x: &[f64]) -> Trace {
        let mut pre = Vec::with_capacity(self.depth());
        let mut post: Vec<Vec<f64>> = Vec::with_capacity(self.depth());
        for layer in &self.layers {
            let input = post.last().map_or(x, Vec::as_slice);
            let mut z = vec![0.0; layer.weight.nrows()];
            layer_apply(layer, input, &mut z);
            if let Some(b) = &layer.bias {
                z.iter_mut().zip(b).for_each(|(zi, bi)| *zi += bi);
            }
            post.push(z.iter().map(|&v| layer.activation.apply(v)).collect());
            pre.push(z);
        }
        Trace { pre, post }
    }

    /// `G(x)`.
    pub fn generate(&self, x: &[f64]) -> Vec<f64> {
        self.forward(x).post.pop().expect("nonempty")
    }

    /// Jacobian–vector product `J_x u` at a traced point (`= Λ_x u` for bias-free ReLU).
    pub fn jvp(&self, trace: &Trace, u: &[f64]) -> Vec<f64> {
        self.layers.iter().zip(&trace.pre).fold(u.to_vec(), |dot, (layer, z)| {
            let mut out = vec![0.0; layer.weight.nrows()];
            layer_apply(layer, &dot, &mut out);
            out.iter_mut()
                .zip(z)
                .for_each(|(o, &zi)| *o *= layer.activation.derivative(zi));
            out
        })
    }

    /// One-sided derivative of `t ↦ G(x + t u)` at `t = 0+` (docs/THEORY.md §1, exact at kinks):
    /// every pre-activation is affine in `t` for small `t > 0`, and ReLU at `z = 0` passes
    /// `max(ż, 0)`. Returns `Ġ`.
    pub fn one_sided_jvp(&self, trace: &Trace, u: &[f64]) -> Vec<f64> {
        self.layers.iter().zip(&trace.pre).fold(u.to_vec(), |dot, (layer, z)| {
            let mut out = vec![0.0; layer.weight.nrows()];
            layer_apply(layer, &dot, &mut out);
            out.iter_mut()
                .zip(z)
                .for_each(|(o, &zi)| *o = layer.activation.one_sided(zi, *o));
            out
        })
    }

    /// Vector–Jacobian product `J_xᵀ w` at a traced point (`= Λ_xᵀ w` for bias-free ReLU).
    pub fn vjp(&self, trace: &Trace, w: &[f64]) -> Vec<f64> {
        self.layers
            .iter()
            .zip(&trace.pre)
            .rev()
            .fold(w.to_vec(), |mut g, (layer, z)| {
                g.iter_mut()
                    .zip(z)
                    .for_each(|(gi, &zi)| *gi *= layer.activation.derivative(zi));
                layer_apply_transpose(layer, &g)
            })
    }

    /// `Λ_x = W_{d,+,x} … W_{1,+,x}` as a dense `n × k` matrix (for small sizes; for a
    /// general network this is the Jacobian of `G` at `x`).
    pub fn active_product(&self, x: &[f64]) -> Mat<f64> {
        let trace = self.forward(x);
        let k = self.latent_dim();
        let mut lambda = Mat::zeros(self.output_dim(), k);
        let mut e = vec![0.0; k];
        for j in 0..k {
            e[j] = 1.0;
            lambda.col_as_slice_mut(j).copy_from_slice(&self.jvp(&trace, &e));
            e[j] = 0.0;
        }
        lambda
    }

    /// Forward pass of a `k × B` block of codes; returns the pre-activations of every layer
    /// (`n_i × B` each) and the outputs `G(X)` (`n × B`).
    pub fn forward_batch(&self, x: MatRef<'_, f64>) -> (Vec<Mat<f64>>, Mat<f64>) {
        let mut pre: Vec<Mat<f64>> = Vec::with_capacity(self.depth());
        let mut act: Option<Mat<f64>> = None;
        for (layer, packed) in self.layers.iter().zip(self.packed()) {
            let mut z = packed.apply(act.as_ref().map_or(x, Mat::as_ref));
            let mut a = z.clone();
            for j in 0..z.ncols() {
                if let Some(b) = &layer.bias {
                    z.col_as_slice_mut(j).iter_mut().zip(b).for_each(|(zi, bi)| *zi += bi);
                }
                let zj = z.col_as_slice(j);
                a.col_as_slice_mut(j)
                    .iter_mut()
                    .zip(zj)
                    .for_each(|(ai, &zi)| *ai = layer.activation.apply(zi));
            }
            act = Some(a);
            pre.push(z);
        }
        (pre, act.expect("a network has at least one layer"))
    }

    /// `J_xᵀ W` for each column of a block, given the batch's pre-activations.
    pub fn vjp_batch(&self, pre: &[Mat<f64>], w: Mat<f64>) -> Mat<f64> {
        self.layers
            .iter()
            .zip(self.packed())
            .zip(pre)
            .rev()
            .fold(w, |mut g, ((layer, packed), z)| {
                for j in 0..g.ncols() {
                    let zj = z.col_as_slice(j);
                    g.col_as_slice_mut(j)
                        .iter_mut()
                        .zip(zj)
                        .for_each(|(gi, &zi)| *gi *= layer.activation.derivative(zi));
                }
                packed.apply_transpose(&g)
            })
    }
}

/// Validates user widths `[k, n_1, …, n_d]`: at least two entries, all positive.
pub fn validate_widths(widths: &[usize]) -> Result<()> {
    if widths.len() < 2 {
        return Err(Error::param(
            "widths",
            format!("{widths:?}"),
            "give at least two widths k,n_1[,…,n_d], e.g. 20,500,500,784",
        ));
    }
    if let Some(i) = widths.iter().position(|&w| w == 0) {
        return Err(Error::param(
            "widths",
            format!("{widths:?} (entry {} is 0)", i + 1),
            "every width must be a positive integer",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream};

    #[test]
    fn forward_batch_reproduces_forward_bit_for_bit() {
        // Widths off every panel and block size; 13 codes = two blocks on every instruction set.
        let net = Network::gaussian(
            &[7, 45, 33, 70],
            WeightScale::Normalized,
            &mut stream(1, "network", 0, Stream::Network),
        );
        let x = Mat::from_fn(7, 13, |i, j| ((i * 13 + j) as f64 * 0.37).sin());
        let (pre, out) = net.forward_batch(x.as_ref());
        for j in 0..x.ncols() {
            let trace = net.forward(x.col_as_slice(j));
            for (l, z) in trace.pre.iter().enumerate() {
                assert_eq!(pre[l].col_as_slice(j), &z[..], "layer {} column {j}", l + 1);
            }
            assert_eq!(out.col_as_slice(j), trace.output(), "output column {j}");
        }
    }

    #[test]
    fn unit_weights_restated_as_normalized_match_the_normalized_draw() {
        // The same seed draws the same standard normals; normalized entries are them / √n_i.
        let widths = [3, 20, 30];
        let key = || stream(2, "network", 0, Stream::Network);
        let unit = Network::gaussian(&widths, WeightScale::Unit, &mut key()).unit_to_normalized();
        let normalized = Network::gaussian(&widths, WeightScale::Normalized, &mut key());
        for (a, b) in unit.layers().iter().zip(normalized.layers()) {
            assert!((&a.weight - &b.weight).norm_max() <= 1e-15 * b.weight.norm_max());
        }
        // With biases, every layer's output is scaled by the product of the factors so far.
        let mut layers = Network::gaussian(&widths, WeightScale::Unit, &mut key())
            .layers()
            .to_vec();
        layers[0].bias = Some((0..20).map(|i| i as f64 - 9.5).collect());
        layers[1].bias = Some(vec![0.25; 30]);
        let biased = Network::from_layers(layers).unwrap();
        let x = [0.3, -1.2, 0.7];
        let scale = 1.0 / (20.0f64 * 30.0).sqrt();
        let expected: Vec<f64> = biased.forward(&x).output().iter().map(|v| v * scale).collect();
        let restated = biased.unit_to_normalized();
        for (a, b) in restated.forward(&x).output().iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
