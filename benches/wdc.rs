//! WDC pair kernel: pairs per second for k = 20, n = 500 (the NumPy reference's `wdc`
//! setting: 20000 pairs of independent Gaussian directions), on one thread and on two.
//! Compare with `python3 ../shared/bench-ref/bench_ref.py wdc` run at the same time.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dpr_audit::conditions::wdc::{BLOCK, WdcLayer};
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::rng::{Stream, stream};
use faer::Mat;
use rand::RngExt;
use rand_distr::StandardNormal;
use rayon::prelude::*;

const K: usize = 20;
const N: usize = 500;
const PAIRS: usize = 20_000;

/// Max deviation over all pairs, block by block (blocks in parallel when the pool has threads).
/// `keep = usize::MAX` computes every pair's norm exactly (what the NumPy reference does);
/// `keep = 1` lets the kernel skip pairs that provably cannot beat the block's best (the
/// maximum is the same).
fn sweep(layer: &WdcLayer, xs: &Mat<f64>, ys: &Mat<f64>, keep: usize) -> f64 {
    (0..PAIRS.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let cols = b * BLOCK..(b * BLOCK + BLOCK).min(PAIRS);
            let (x, y) = (
                xs.as_ref().subcols(cols.start, cols.len()),
                ys.as_ref().subcols(cols.start, cols.len()),
            );
            layer
                .deviations_above(x, y, f64::NEG_INFINITY, keep)
                .into_iter()
                .fold(0.0, f64::max)
        })
        .reduce(|| 0.0, f64::max)
}

fn bench(c: &mut Criterion) {
    let mut rng = stream(7, "bench-wdc", 0, Stream::Network);
    let net = Network::gaussian(&[K, N], WeightScale::Normalized, &mut rng);
    let layer = WdcLayer::new(net.layers()[0].weight.as_ref());
    let xs = Mat::from_fn(K, PAIRS, |_, _| rng.sample::<f64, _>(StandardNormal));
    let ys = Mat::from_fn(K, PAIRS, |_, _| rng.sample::<f64, _>(StandardNormal));
    let mut group = c.benchmark_group("wdc_pairs_k20_n500");
    group.throughput(Throughput::Elements(PAIRS as u64));
    group.sample_size(10);
    let exact = sweep(&layer, &xs, &ys, usize::MAX);
    assert_eq!(
        exact.to_bits(),
        sweep(&layer, &xs, &ys, 1).to_bits(),
        "the skip must not change the maximum"
    );
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        for (name, keep) in [("every_pair_exact", usize::MAX), ("max_only", 1)] {
            group.bench_function(format!("{name}/threads_{threads}"), |b| {
                b.iter(|| pool.install(|| sweep(&layer, &xs, &ys, keep)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
