//! End-to-end solver benchmarks: 1000-iteration Adam solves (learning rate 0.01) of a
//! 20-500-500-784 ReLU generator with m = 200, `N(0, 1/n_i)` weights and `N(0, 1/m)` `A` — the
//! problem of `../shared/bench-ref/bench_ref.py solve`.
//!
//! - `adam/single`: one run (one start), as NumPy's `adam_solve_1000`.
//! - `adam/lockstep10/threads=1`, `adam/lockstep10/threads=2`: the 10 runs of one image
//!   (5 restarts × 2 inits) in lock-step as one block, in a rayon pool of 1 or 2 threads;
//!   compare with NumPy's `adam_solve_1000_x10_sequential`.
//!
//! Every run does exactly 1000 steps (Adam's default settings have no early stop).
//! Run with `cargo bench --bench solve`; `benches/README.md` has the NumPy comparison.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dpr_audit::core::measure::MeasurementScale;
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::rng::Stream;
use dpr_audit::solvers::instance::{self, Instance, InstanceKey};
use dpr_audit::solvers::{Method, MethodParams, solve};

/// Widths of the benchmarked generator.
const WIDTHS: [usize; 4] = [20, 500, 500, 784];
/// Number of measurements.
const M: usize = 200;
/// The stream key of the benchmark instance.
const KEY: InstanceKey<'static> = InstanceKey {
    seed: 2018,
    experiment: "bench-solve",
    trial: 0,
};

fn instance() -> Instance {
    let net = Network::gaussian(&WIDTHS, WeightScale::Normalized, &mut KEY.stream(Stream::Network));
    instance::draw(net, M, MeasurementScale::Normalized, None, None, &KEY)
}

fn bench(c: &mut Criterion) {
    let inst = instance();
    let params = MethodParams {
        step: 1.0,
        adam: Default::default(),
    };
    let settings = Method::Adam2.default_settings();
    let ten = instance::starts(Method::Adam2, WIDTHS[0], 5, &KEY);
    let one = ten.subcols(0, 1).to_owned();
    let mut group = c.benchmark_group("adam");
    group.sample_size(10);
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let single = pool(1);
    group.bench_function("single", |b| {
        b.iter(|| single.install(|| black_box(solve(&inst.problem, Method::Adam2, &params, &settings, one.as_ref()))))
    });
    for threads in [1, 2] {
        let p = pool(threads);
        group.bench_function(format!("lockstep10/threads={threads}"), |b| {
            b.iter(|| p.install(|| black_box(solve(&inst.problem, Method::Adam2, &params, &settings, ten.as_ref()))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
