//! The critical-point census (`landscape census`): plain GD limits, their clusters, and the
//! per-cluster facts (docs/THEORY.md §4).

mod common;

use common::{assert_ok, assert_usage_errors, run, scratch_dir};
use dpr_audit::core::measure::MeasurementScale;
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::core::vector::{norm, sub};
use dpr_audit::landscape::census::{Census, CensusSettings, LimitKind, census};
use dpr_audit::rng::Stream;
use dpr_audit::solvers::instance::{self, InstanceKey};
use dpr_audit::solvers::{Method, dpr_step};

fn run_census(threads: usize) -> (Census, Vec<f64>) {
    let key = InstanceKey {
        seed: 4,
        experiment: "census-tests",
        trial: 0,
    };
    let net = Network::gaussian(&[4, 80, 320], WeightScale::Normalized, &mut key.stream(Stream::Network));
    let inst = instance::draw(net, 160, MeasurementScale::Normalized, None, None, &key);
    let settings = CensusSettings {
        step: dpr_step(2, 1.0, 1.0),
        settings: Method::Gd.default_settings(),
        cluster_tol: 1e-3,
        truth_tol: 1e-4,
        test_directions: 16,
        test_radius: 1e-3,
    };
    let starts = instance::starts(Method::Gd, 4, 40, &key);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let result = pool.install(|| {
        census(
            &inst.problem,
            &inst.x0,
            starts.as_ref(),
            &settings,
            &mut key.stream(Stream::Probe),
        )
    });
    (result, inst.x0)
}

/// Every run is in exactly one cluster, members lie within twice the clustering radius of
/// their representative, the truth is found and is a sampled local minimum with f = 0 there,
/// and the census is identical with one and two threads.
#[test]
fn census_clusters_every_limit_once_and_finds_the_truth() {
    let (c, x0) = run_census(1);
    assert_eq!(c.assignment.len(), 40);
    assert_eq!(c.clusters.iter().map(|cl| cl.members).sum::<usize>(), 40);
    for (j, run) in c.runs.iter().enumerate() {
        let cl = &c.clusters[c.assignment[j]];
        let gap = norm(&sub(&run.x, &cl.x)) / norm(&x0);
        assert!(gap <= 2e-3, "run {j} lies {gap} from its cluster");
    }
    let truth: Vec<_> = c.clusters.iter().filter(|cl| cl.kind == LimitKind::Truth).collect();
    assert_eq!(truth.len(), 1, "one truth cluster");
    assert!(truth[0].distance_to_truth <= 1e-4 && truth[0].value < 1e-12 && truth[0].local_minimum);
    // The truth's cluster carries an exact certificate (x0 is a strict local minimum in the
    // interior of its cell for a generic instance).
    assert_eq!(
        truth[0].certificate,
        dpr_audit::landscape::certified::MinStatus::Certified
    );
    for cl in &c.clusters {
        assert_eq!(cl.negation_helps, cl.value_negated < cl.value);
        assert!((cl.radius_ratio - norm(&cl.x) / (c.rho * norm(&x0))).abs() < 1e-12);
    }
    let (again, _) = run_census(2);
    assert_eq!(again.assignment, c.assignment);
    for (a, b) in again.runs.iter().zip(&c.runs) {
        assert_eq!(a.x, b.x);
    }
}

#[test]
fn census_cli_reports_clusters_and_refuses_bad_input() {
    let dir = scratch_dir("census", "cli");
    let out = run(
        &dir,
        &[
            "--json",
            "--out",
            "c",
            "landscape",
            "census",
            "--widths",
            "3,40,160",
            "--m",
            "80",
            "--starts",
            "12",
        ],
    );
    assert_ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let clusters = json["clusters"].as_array().unwrap();
    let members: u64 = clusters.iter().map(|c| c["members"].as_u64().unwrap()).sum();
    assert_eq!(members, 12);
    assert!(dir.join("c/census_clusters.csv").exists() && dir.join("c/census_runs.csv").exists());
    assert_usage_errors(
        &dir,
        &[
            (
                &["landscape", "census", "--widths", "3,40,160", "--starts", "0"],
                "--starts",
            ),
            (&["landscape", "census", "--widths", "3,40,160", "--m", "0"], "--m"),
            (
                &["landscape", "census", "--widths", "3,40,160", "--cluster-tol", "0"],
                "--cluster-tol",
            ),
            (&["landscape", "census", "--widths", "3,40", "--x0", "1,2"], "--x0"),
        ],
    );
}

/// `landscape sweep` split into two shards and merged writes the same CSV files, byte for
/// byte, as the unsharded run (with another thread count).
#[test]
fn landscape_sweep_shards_merge_to_the_unsharded_output() {
    let dir = scratch_dir("census", "sweep");
    let sweep = [
        "landscape",
        "sweep",
        "--hidden",
        "20x60,40x120",
        "--m",
        "60,120",
        "--trials",
        "2",
        "--grid",
        "7",
        "--census-starts",
        "4",
        "--wdc-pairs",
        "20",
    ];
    fn with<'a>(extra: &[&'a str], sweep: &[&'a str]) -> Vec<&'a str> {
        let mut v: Vec<&str> = extra.to_vec();
        v.extend_from_slice(sweep);
        v
    }
    assert_ok(&run(
        &dir,
        &with(&["--quiet", "--threads", "1", "--out", "whole"], &sweep),
    ));
    for shard in ["0/2", "1/2"] {
        let mut args = with(&["--quiet", "--threads", "2", "--out", "parts"], &sweep);
        args.extend_from_slice(&["--shard", shard]);
        assert_ok(&run(&dir, &args));
    }
    assert_ok(&run(&dir, &["--quiet", "--out", "merged", "merge", "parts"]));
    for file in ["landscape_sweep.csv", "landscape_sweep_sizes.csv"] {
        let (a, b) = (
            std::fs::read(dir.join("whole").join(file)).unwrap(),
            std::fs::read(dir.join("merged").join(file)).unwrap(),
        );
        assert!(
            !a.is_empty() && a == b,
            "{file} differs between the unsharded and the merged run"
        );
    }
    assert_usage_errors(
        &dir,
        &[
            (&["landscape", "sweep", "--hidden", "20y60"], "--hidden"),
            (&["landscape", "sweep", "--hidden", "20x60", "--m", "0"], "--m"),
            (
                &["landscape", "sweep", "--hidden", "20x60", "--m", "60", "--shard", "3/2"],
                "3/2",
            ),
        ],
    );
}
