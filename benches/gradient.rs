//! Gradient benchmarks of the phase-retrieval objective through a 20-500-500-784 ReLU network
//! with m = 200 measurements, `N(0, 1/n_i)` weights and `N(0, 1/m)` `A` (the problem of
//! `../shared/bench-ref/bench_ref.py grad`).
//!
//! Run with `cargo bench --bench gradient`; `benches/README.md` has the NumPy comparison.
//!
//! - `gradient/single`: one [`Problem::evaluate`] (value and gradient) of one code.
//! - `gradient/batch/10`, `gradient/batch/100`: [`Problem::evaluate_batch`] of a `20 × B`
//!   block in lock-step; the `thrpt` line is codes per second (per-code time = 1 / thrpt).
//! - `faer_baseline/single`, `faer_baseline/batch/10`: the same through plain faer products,
//!   as the library did before its own kernels — an in-process reference, robust to the load
//!   of a shared machine.
//! - `forward/single`, `forward/batch/10`, `forward/batch/100`: [`Network::forward`] and
//!   [`Network::forward_batch`].
//! - `parts/*`: the backward pass through the network and the products with `A` and `Aᵀ` of
//!   one code.
//!
//! Every product runs sequentially (`Par::Seq`): these are one-core numbers.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::core::objective::Problem;
use dpr_audit::core::vector::sgn;
use dpr_audit::rng::{Stream, stream};
use faer::linalg::matmul::matmul;
use faer::{Accum, ColMut, ColRef, Mat, MatRef, Par};
use rand_distr::{Distribution, StandardNormal};

/// Widths `[k, n_1, n_2, n_3]` of the benchmarked generator.
const WIDTHS: [usize; 4] = [20, 500, 500, 784];
/// Number of measurements.
const M: usize = 200;
/// Master seed of the benchmark instance.
const SEED: u64 = 2018;
/// Experiment name of the benchmark's random streams.
const EXPERIMENT: &str = "bench-gradient";

/// Multiply–add count of one gradient: forward `W_i a` and `A G(x)`, backward `Aᵀ r` and
/// `W_iᵀ g`; two flops per multiply–add.
fn flops_per_gradient() -> usize {
    let forward: usize = WIDTHS.windows(2).map(|w| w[0] * w[1]).sum::<usize>() + M * WIDTHS[3];
    4 * forward
}

/// `len` iid `N(0, 1)` entries.
fn gaussian_vec(len: usize, rng: &mut impl rand::Rng) -> Vec<f64> {
    (0..len).map(|_| StandardNormal.sample(rng)).collect()
}

/// The benchmark instance: a noiseless problem with a Gaussian truth.
fn problem() -> Problem {
    let net = Network::gaussian(
        &WIDTHS,
        WeightScale::Normalized,
        &mut stream(SEED, EXPERIMENT, 0, Stream::Network),
    );
    let meas = Measurements::gaussian(
        M,
        WIDTHS[3],
        MeasurementScale::Normalized,
        &mut stream(SEED, EXPERIMENT, 0, Stream::Measurements),
    );
    let x0 = gaussian_vec(WIDTHS[0], &mut stream(SEED, EXPERIMENT, 0, Stream::Truth));
    Problem::noiseless(net, meas, &x0)
}

/// `cols` Gaussian codes as the columns of a `k × cols` block (the first columns of every
/// block are the same codes).
fn codes(cols: usize) -> Mat<f64> {
    let mut rng = stream(SEED, EXPERIMENT, 0, Stream::Probe);
    let mut x = Mat::zeros(WIDTHS[0], cols);
    for j in 0..cols {
        for v in x.col_as_slice_mut(j) {
            *v = StandardNormal.sample(&mut rng);
        }
    }
    x
}

/// The gradient as the library formed it before its own kernels: faer's sequential
/// matrix–vector products on the column-major weights (`W a`, `Wᵀ g` through a transposed view).
/// Kept as an in-process baseline, which is robust to the load of a shared machine.
fn faer_gradient(p: &Problem, x: &[f64]) -> (f64, Vec<f64>) {
    let gemv = |w: MatRef<'_, f64>, v: &[f64]| {
        let mut out = vec![0.0; w.nrows()];
        matmul(
            ColMut::from_slice_mut(&mut out),
            Accum::Replace,
            w,
            ColRef::from_slice(v),
            1.0,
            Par::Seq,
        );
        out
    };
    let mut pre = Vec::new();
    let mut h = x.to_vec();
    for layer in p.net.layers() {
        let z = gemv(layer.weight.as_ref(), &h);
        h = z.iter().map(|&v| v.max(0.0)).collect();
        pre.push(z);
    }
    let c = gemv(p.meas.a.as_ref(), &h);
    let value = 0.5 * c.iter().zip(&p.b).map(|(ci, bi)| (ci.abs() - bi).powi(2)).sum::<f64>();
    let r: Vec<f64> = c.iter().zip(&p.b).map(|(ci, bi)| sgn(*ci) * (ci.abs() - bi)).collect();
    let mut g = gemv(p.meas.a.transpose(), &r);
    for (layer, z) in p.net.layers().iter().zip(&pre).rev() {
        g.iter_mut().zip(z).for_each(|(gi, &zi)| *gi *= f64::from(zi > 0.0));
        g = gemv(layer.weight.transpose(), &g);
    }
    (value, g)
}

/// The lock-step batch as the library formed it before its own kernels: faer's sequential
/// matrix products (`Wᵀ G` through a transposed view).
fn faer_gradient_batch(p: &Problem, x: MatRef<'_, f64>) -> (Vec<f64>, Mat<f64>) {
    let gemm = |w: MatRef<'_, f64>, v: MatRef<'_, f64>| {
        let mut out = Mat::zeros(w.nrows(), v.ncols());
        matmul(out.as_mut(), Accum::Replace, w, v, 1.0, Par::Seq);
        out
    };
    let mut pre = Vec::new();
    let mut h = x.to_owned();
    for layer in p.net.layers() {
        let z = gemm(layer.weight.as_ref(), h.as_ref());
        h = Mat::from_fn(z.nrows(), z.ncols(), |i, j| z[(i, j)].max(0.0));
        pre.push(z);
    }
    let mut c = gemm(p.meas.a.as_ref(), h.as_ref());
    let mut values = vec![0.0; x.ncols()];
    for (j, value) in values.iter_mut().enumerate() {
        let col = c.col_as_slice_mut(j);
        *value = 0.5
            * col
                .iter()
                .zip(&p.b)
                .map(|(ci, bi)| (ci.abs() - bi).powi(2))
                .sum::<f64>();
        col.iter_mut()
            .zip(&p.b)
            .for_each(|(ci, bi)| *ci = sgn(*ci) * (ci.abs() - bi));
    }
    let mut g = gemm(p.meas.a.transpose(), c.as_ref());
    for (layer, z) in p.net.layers().iter().zip(&pre).rev() {
        for j in 0..g.ncols() {
            g.col_as_slice_mut(j)
                .iter_mut()
                .zip(z.col_as_slice(j))
                .for_each(|(gi, &zi)| *gi *= f64::from(zi > 0.0));
        }
        g = gemm(layer.weight.transpose(), g.as_ref());
    }
    (values, g)
}

/// Relative agreement required between the batch and the single-code path (and the faer
/// baseline): the same sums in another order, `≈ ε · width ≈ 1e-14`.
const AGREE_TOL: f64 = 1e-12;

/// Guards the benchmark against measuring a wrong kernel: `got` must match `want` entry by
/// entry, relative to the largest entry of `want`.
fn assert_agrees(got: &[f64], want: &[f64], what: &str) {
    let scale = want.iter().fold(f64::MIN_POSITIVE, |a, v| a.max(v.abs()));
    let err = got.iter().zip(want).fold(0.0f64, |e, (a, b)| e.max((a - b).abs()));
    assert!(
        got.len() == want.len() && err <= AGREE_TOL * scale,
        "{what}: relative error {:e}",
        err / scale
    );
}

fn bench_gradient(c: &mut Criterion) {
    let p = problem();
    let x1 = codes(1);
    let x10 = codes(10);
    let x100 = codes(100);
    let (values, directions) = p.evaluate_batch(x10.as_ref());
    let (base_values, base_directions) = faer_gradient_batch(&p, x10.as_ref());
    for j in 0..x10.ncols() {
        let single = p.evaluate(x10.col_as_slice(j));
        let (base_value, base_direction) = faer_gradient(&p, x10.col_as_slice(j));
        assert_agrees(&[values[j], base_value, base_values[j]], &[single.value; 3], "values");
        assert_agrees(directions.col_as_slice(j), &single.direction, "evaluate_batch");
        assert_agrees(&base_direction, &single.direction, "faer_gradient");
        assert_agrees(
            base_directions.col_as_slice(j),
            &single.direction,
            "faer_gradient_batch",
        );
    }
    eprintln!(
        "gradient: widths {WIDTHS:?}, m = {M}, {} flops per gradient (forward + backward products)",
        flops_per_gradient()
    );

    let mut g = c.benchmark_group("gradient");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single", |b| b.iter(|| p.evaluate(black_box(x1.col_as_slice(0)))));
    for x in [&x10, &x100] {
        let cols = x.ncols();
        g.throughput(Throughput::Elements(cols as u64));
        g.bench_with_input(BenchmarkId::new("batch", cols), x, |b, x| {
            b.iter(|| p.evaluate_batch(black_box(x.as_ref())))
        });
    }
    g.finish();

    let mut base = c.benchmark_group("faer_baseline");
    base.throughput(Throughput::Elements(1));
    base.bench_function("single", |b| {
        b.iter(|| faer_gradient(&p, black_box(x1.col_as_slice(0))))
    });
    base.throughput(Throughput::Elements(10));
    base.bench_with_input(BenchmarkId::new("batch", 10), &x10, |b, x| {
        b.iter(|| faer_gradient_batch(&p, black_box(x.as_ref())))
    });
    base.finish();

    let mut f = c.benchmark_group("forward");
    f.throughput(Throughput::Elements(1));
    f.bench_function("single", |b| b.iter(|| p.net.forward(black_box(x1.col_as_slice(0)))));
    for x in [&x10, &x100] {
        let cols = x.ncols();
        f.throughput(Throughput::Elements(cols as u64));
        f.bench_with_input(BenchmarkId::new("batch", cols), x, |b, x| {
            b.iter(|| p.net.forward_batch(black_box(x.as_ref())))
        });
    }
    f.finish();

    // The pieces of one gradient, to see where its time goes.
    let trace = p.net.forward(x1.col_as_slice(0));
    let ag = p.meas.apply(trace.output());
    let w = p.meas.apply_transpose(&ag);
    let mut parts = c.benchmark_group("parts");
    parts.bench_function("vjp_single", |b| b.iter(|| p.net.vjp(black_box(&trace), black_box(&w))));
    parts.bench_function("a_apply_single", |b| b.iter(|| p.meas.apply(black_box(trace.output()))));
    parts.bench_function("a_apply_transpose_single", |b| {
        b.iter(|| p.meas.apply_transpose(black_box(&ag)))
    });
    parts.finish();
}

criterion_group!(benches, bench_gradient);
criterion_main!(benches);
