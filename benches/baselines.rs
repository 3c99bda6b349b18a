//! Time per run of the sparse phase-retrieval baselines (SPARTA, CoPRAM, ThWF) on one core,
//! at the image protocol's largest size `(n, m, s) = (1024, 1500, 50)` and at the synthetic
//! easy regime `(1000, 600, 5)`: an `s`-sparse Gaussian signal, `A` with `N(0,1)` entries.
//!
//! `*/reused/*` runs on a `PhaselessData` built once (as in a sparsity sweep, which shares the
//! cached marginals and, for CoPRAM, the Gram matrix); `*/fresh/*` builds the data inside the
//! timed loop, so it includes the one-off marginals and CoPRAM's `m n²` Gram matrix.

use criterion::{Criterion, criterion_group, criterion_main};
use dpr_audit::baselines::{self, Method, PhaselessData, Settings};
use dpr_audit::core::measure::{MeasurementScale, Measurements};
use dpr_audit::core::vector::relative_error_up_to_sign;
use dpr_audit::rng::{Stream, stream};

/// An `s`-sparse Gaussian signal and `m` unit-variance measurements.
fn instance(n: usize, m: usize, s: usize) -> (Measurements, Vec<f64>) {
    let mut rng = stream(3, "bench-baselines", 0, Stream::Truth);
    let x = baselines::sparse_gaussian_signal(n, s, &mut rng);
    let meas = Measurements::gaussian(
        m,
        n,
        MeasurementScale::Unit,
        &mut stream(3, "bench-baselines", 0, Stream::Measurements),
    );
    (meas, x)
}

fn bench(c: &mut Criterion) {
    let settings = Settings::default();
    for (n, m, s) in [(1024, 1500, 50), (1000, 600, 5)] {
        let (meas, x) = instance(n, m, s);
        let b = meas.amplitudes(&x);
        let data = PhaselessData::new(&meas.a, meas.scale, &b).unwrap();
        let label = format!("n{n}_m{m}_s{s}");
        let mut group = c.benchmark_group("baselines");
        group.sample_size(20);
        for method in Method::ALL {
            let out = baselines::run(method, &data, s, &settings).unwrap();
            eprintln!(
                "{} {label}: error {:.2e}, {} iterations, {}",
                method.name(),
                relative_error_up_to_sign(&out.estimate, &x),
                out.iterations,
                out.termination.name()
            );
            group.bench_function(format!("{}/reused/{label}", method.name()), |bench| {
                bench.iter(|| baselines::run(method, &data, s, &settings).unwrap())
            });
            group.bench_function(format!("{}/fresh/{label}", method.name()), |bench| {
                bench.iter(|| {
                    let fresh = PhaselessData::new(&meas.a, meas.scale, &b).unwrap();
                    baselines::run(method, &fresh, s, &settings).unwrap()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
