//! Gradient benchmarks of the phase-retrieval objective through a 20-500-500-784 ReLU network
//! with m = 200 measurements (the problem of `../shared/bench-ref/bench_ref.py grad`).
//!
//! Run with `cargo bench --bench gradient`; see `benches/README.md` for the NumPy comparison.
//!
//! - `gradient/single`: one [`Problem::evaluate`] of one code.
//! - `gradient/batch10`, `gradient/batch100`: [`Problem::evaluate_batch`] of a `20 × B` block
//!   in lock-step; criterion's throughput line gives codes per second (per-code time is the
//!   reciprocal).
//! - `forward/batch10`, `forward/batch100`: [`Network::forward_batch`] of the same blocks.
//! - `forward/single`: [`Network::forward`] of one code.
//!
//! All products run sequentially (`Par::Seq`), so these are one-core numbers.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::core::objective::Problem;
use dpr_audit::rng::{Stream, stream};
use faer::Mat;
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

fn gaussian_vec(len: usize, rng: &mut impl rand::Rng) -> Vec<f64> {
    (0..len).map(|_| StandardNormal.sample(rng)).collect()
}

fn problem() -> Problem {
    let net = Network::gaussian(&WIDTHS, WeightScale::Normalized, &mut stream(SEED, EXPERIMENT, 0, Stream::Network));
    let meas = Measurements::gaussian(M, WIDTHS[3], MeasurementScale::Normalized, &mut stream(SEED, EXPERIMENT, 0, Stream::Measurements));
    let x0 = gaussian_vec(WIDTHS[0], &mut stream(SEED, EXPERIMENT, 0, Stream::Truth));
    Problem::noiseless(net, meas, &x0)
}

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

/// Guards the benchmark against measuring a wrong kernel: the batch must agree with the
/// single-code path column by column.
fn check_batch_agrees(p: &Problem, x: &Mat<f64>) {
    let (values, dirs) = p.evaluate_batch(x.as_ref());
    for j in 0..x.ncols() {
        let single = p.evaluate(x.col_as_slice(j));
        let scale = single.direction.iter().fold(1.0f64, |a, v| a.max(v.abs()));
        assert!((values[j] - single.value).abs() <= 1e-10 * single.value.abs().max(1.0));
        for (a, b) in dirs.col_as_slice(j).iter().zip(&single.direction) {
            assert!((a - b).abs() <= 1e-10 * scale, "batch column {j} disagrees with evaluate");
        }
    }
}

fn bench_gradient(c: &mut Criterion) {
    let p = problem();
    let x1 = codes(1);
    let x10 = codes(10);
    let x100 = codes(100);
    check_batch_agrees(&p, &x10);
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
        g.bench_with_input(BenchmarkId::new("batch", cols), x, |b, x| b.iter(|| p.evaluate_batch(black_box(x.as_ref()))));
    }
    g.finish();

    let mut f = c.benchmark_group("forward");
    f.throughput(Throughput::Elements(1));
    f.bench_function("single", |b| b.iter(|| p.net.forward(black_box(x1.col_as_slice(0)))));
    for x in [&x10, &x100] {
        let cols = x.ncols();
        f.throughput(Throughput::Elements(cols as u64));
        f.bench_with_input(BenchmarkId::new("batch", cols), x, |b, x| b.iter(|| p.net.forward_batch(black_box(x.as_ref()))));
    }
    f.finish();
}

criterion_group!(benches, bench_gradient);
criterion_main!(benches);
