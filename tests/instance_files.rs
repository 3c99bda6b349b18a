//! Instances as files: `--save-instance` then `--instance` reproduces `landscape`,
//! `landscape census` and `solve` (identical CSVs, but for the `source` column that names the
//! file), so a reported instance can be re-checked and a user's own instance audited.

mod common;
use common::{assert_ok, read, run, without_source};

/// Runs `args` twice under the same seed: first building the instance (written with
/// `--save-instance`), then reading it back with `--instance` (`build` are the flags that
/// build it, dropped the second time); returns the two output folders.
fn round_trip(
    dir: &std::path::Path,
    sub: &[&str],
    build: &[&str],
    rest: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut first = vec!["--quiet", "--seed", "3", "--out", "a"];
    first.extend_from_slice(sub);
    first.extend_from_slice(build);
    first.extend_from_slice(rest);
    first.extend_from_slice(&["--save-instance", "i.safetensors"]);
    assert_ok(&run(dir, &first));
    assert!(dir.join("i.safetensors").exists());
    let mut second = vec!["--quiet", "--seed", "3", "--out", "b"];
    second.extend_from_slice(sub);
    second.extend_from_slice(&["--instance", "i.safetensors"]);
    second.extend_from_slice(rest);
    assert_ok(&run(dir, &second));
    (dir.join("a"), dir.join("b"))
}

#[test]
fn landscape_probe_round_trip_gives_identical_csvs() {
    let dir = common::scratch_dir("instance-files", "probe");
    let (a, b) = round_trip(
        &dir,
        &["landscape"],
        &["--widths", "2,10,30", "--m", "40"],
        &["--grid", "7", "--origin-directions", "4"],
    );
    for file in ["probes.csv", "summary.csv", "origin.csv"] {
        let (x, y) = (read(&a.join(file)), read(&b.join(file)));
        assert!(x.lines().count() > 1, "{file} is empty");
        if x.lines().next().is_some_and(|h| h.split(',').any(|c| c == "source")) {
            assert_eq!(without_source(&x), without_source(&y), "{file}");
        } else {
            assert_eq!(x, y, "{file}");
        }
    }
}

#[test]
fn census_round_trip_gives_identical_csvs() {
    let dir = common::scratch_dir("instance-files", "census");
    let (a, b) = round_trip(
        &dir,
        &["landscape", "census"],
        &["--widths", "2,10,30", "--m", "40"],
        &["--starts", "6", "--max-iters", "200", "--test-directions", "4"],
    );
    for file in ["census_runs.csv", "census_clusters.csv"] {
        let x = read(&a.join(file));
        assert!(x.lines().count() > 1, "{file} is empty");
        assert_eq!(x, read(&b.join(file)), "{file}");
    }
}

#[test]
fn solve_round_trip_gives_identical_csvs_at_either_measurement_scale() {
    for scale in ["normalized", "unit"] {
        let dir = common::scratch_dir("instance-files", &format!("solve-{scale}"));
        let (a, b) = round_trip(
            &dir,
            &["solve"],
            &["--widths", "2,10,30", "--m", "40", "--measurement-scale", scale],
            &["--restarts", "2", "--max-iters", "200"],
        );
        let runs = read(&a.join("runs.csv"));
        assert!(runs.contains(scale), "runs.csv records the scale {scale}");
        assert_eq!(without_source(&runs), without_source(&read(&b.join("runs.csv"))));
        assert_eq!(read(&a.join("solve.csv")), read(&b.join("solve.csv")));
    }
}

/// A file the tool did not write is never replaced: `--save-instance` and `net --save` onto
/// it exit 2, leave it byte for byte, and leave no output folder; a file the tool wrote is
/// replaced.
#[test]
fn a_foreign_file_is_never_overwritten() {
    let dir = common::scratch_dir("instance-files", "foreign");
    std::fs::write(dir.join("mine.safetensors"), "precious").unwrap();
    let instance = [
        "--quiet",
        "--out",
        "a",
        "landscape",
        "exact",
        "--widths",
        "2,10,30",
        "--m",
        "40",
        "--save-instance",
        "mine.safetensors",
    ];
    let net = [
        "--quiet",
        "--out",
        "n",
        "net",
        "--widths",
        "2,5",
        "--save",
        "mine.safetensors",
    ];
    for args in [&instance[..], &net[..]] {
        let out = run(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(read(&dir.join("mine.safetensors")), "precious", "{args:?}");
    }
    assert!(!dir.join("a").exists() && !dir.join("n").exists());
    let mut ours = instance.to_vec();
    let last = ours.len() - 1;
    ours[last] = "ours.safetensors";
    assert_ok(&run(&dir, &ours));
    ours[2] = "a2";
    assert_ok(&run(&dir, &ours));
}
