//! Landscape probes: points per second for widths 10-500-1000 and m = 200 (each probe is one
//! value-and-gradient evaluation and one exact directional derivative `D_{−v} f`, plus closed
//! forms), on one thread and on two (`landscape::probe` is a rayon `par_iter` over points).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::core::objective::Problem;
use dpr_audit::landscape::probes::{ProbePoint, SetKind};
use dpr_audit::landscape::{Settings, Truth, probe};
use dpr_audit::rng::{Stream, standard_normal_vector, stream};

const WIDTHS: [usize; 3] = [10, 500, 1000];
const M: usize = 200;
const POINTS: usize = 256;

fn bench(c: &mut Criterion) {
    let key = |s| stream(5, "bench-landscape", 0, s);
    let net = Network::gaussian(&WIDTHS, WeightScale::Normalized, &mut key(Stream::Network));
    let meas = Measurements::gaussian(
        M,
        WIDTHS[2],
        MeasurementScale::Normalized,
        &mut key(Stream::Measurements),
    );
    let x0 = standard_normal_vector(&mut key(Stream::Truth), WIDTHS[0]);
    let problem = Problem::noiseless(net, meas, &x0);
    let truth = Truth::new(&x0, 2);
    let mut rng = key(Stream::Probe);
    let points: Vec<ProbePoint> = (0..POINTS)
        .map(|i| ProbePoint {
            set: SetKind::Ray,
            set_index: i,
            s: 1.0,
            t: None,
            x: standard_normal_vector(&mut rng, WIDTHS[0]),
        })
        .collect();
    let settings = Settings::default();
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, 2]
        .into_iter()
        .map(|n| (n, rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("pool")))
        .collect();
    let run = |pool: &rayon::ThreadPool| pool.install(|| probe(&problem, &truth, &points, &settings, &|| {}));
    assert_eq!(
        run(&pools[0].1),
        run(&pools[1].1),
        "results must not depend on the thread count"
    );

    let mut group = c.benchmark_group("landscape_probes_10-500-1000_m200");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.sample_size(10);
    for (threads, pool) in &pools {
        group.bench_function(format!("threads_{threads}"), |b| b.iter(|| run(pool)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
