//! Scale-out of the `wdc` and `rrcp` scaling studies: a run split into shards
//! and merged writes every CSV byte-identical to the unsharded run with 1 or 2 threads; an
//! interrupted shard resumed with `--resume` runs only its missing trials, each exactly once;
//! bad `--shard` strings are usage errors (exit code 2).

mod common;

use std::path::Path;

use common::{assert_ok, assert_usage_errors, read, run, scratch_dir};

/// A tiny WDC scaling study: 2 × 2 settings × 2 trials = 8 trials.
const WDC: &[&str] = &[
    "wdc",
    "--k",
    "2,3",
    "--n",
    "8,16",
    "--trials",
    "2",
    "--pairs",
    "40",
    "--refine-starts",
    "2",
    "--refine-steps",
    "4",
];

/// A tiny RRCP scaling study: 3 m × 2 trials = 6 trials, both modes.
const RRCP: &[&str] = &[
    "rrcp",
    "--widths",
    "3,8,16",
    "--m",
    "12,24,48",
    "--trials",
    "2",
    "--tuples",
    "12",
    "--refine-starts",
    "2",
    "--refine-steps",
    "3",
];

/// Runs `study` (extra arguments `extra`) with `threads` threads into `dir/out`.
fn study(dir: &Path, out: &str, threads: &str, study: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["--quiet", "--json", "--threads", threads, "--out", out];
    args.extend_from_slice(study);
    args.extend_from_slice(extra);
    let output = run(dir, &args);
    assert_ok(&output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The CSV files of a folder, by name (sorted).
fn csv_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), read(&p)))
        .collect();
    files.sort();
    files
}

/// Unsharded (1 thread) vs `shards` shards (2 threads) merged: every CSV byte-identical, and
/// the unsharded run keeps its working folder in the output.
fn assert_sharded_equals_whole(tag: &str, args: &[&str], shards: usize, expected_files: &[&str]) {
    let dir = scratch_dir("scaleout", tag);
    study(&dir, "whole", "1", args, &[]);
    let whole = csv_files(&dir.join("whole"));
    let names: Vec<&str> = whole.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, expected_files, "{tag}");
    assert!(
        dir.join("whole/shard-0-of-1/done.txt").exists(),
        "{tag}: the finished output keeps its working folder (for --resume)"
    );
    for i in 0..shards {
        let shard = format!("{i}/{shards}");
        study(&dir, "parts", "2", args, &["--shard", &shard]);
    }
    assert_ok(&run(&dir, &["--quiet", "--out", "merged", "merge", "parts"]));
    let merged = csv_files(&dir.join("merged"));
    assert_eq!(merged.len(), whole.len(), "{tag}");
    for ((name, a), (_, b)) in whole.iter().zip(&merged) {
        assert_eq!(
            a, b,
            "{tag}: {name} of the merged shards differs from the unsharded run"
        );
    }
    // The same study with 2 threads unsharded: identical too.
    study(&dir, "whole2", "2", args, &[]);
    assert_eq!(
        csv_files(&dir.join("whole2")),
        whole,
        "{tag}: thread count changed the output"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wdc_scaling_shards_merge_byte_identical() {
    assert_sharded_equals_whole(
        "wdc",
        WDC,
        3,
        &["wdc_scaling.csv", "wdc_scaling_fits.csv", "wdc_scaling_summary.csv"],
    );
}

#[test]
fn rrcp_scaling_shards_merge_byte_identical() {
    assert_sharded_equals_whole(
        "rrcp",
        RRCP,
        2,
        &["rrcp.csv", "rrcp_fit.csv", "rrcp_scaling.csv", "rrcp_trace.csv"],
    );
}

/// Removes the last completed trial of a shard folder (its id from `done.txt`), as if the run
/// had been killed before recording it; returns the id.
fn forget_last_trial(shard: &Path) -> u64 {
    let done = read(&shard.join("done.txt"));
    let mut lines: Vec<&str> = done.lines().collect();
    let last = lines.pop().unwrap().split(' ').next().unwrap().parse().unwrap();
    let kept: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(shard.join("done.txt"), kept).unwrap();
    last
}

/// The trial ids in a shard's `done.txt` (the first field of each line), sorted.
fn done_ids(shard: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = read(&shard.join("done.txt"))
        .lines()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// Interrupts shard 0 of 2 (its last trial forgotten), refuses to overwrite it without
/// `--resume`, resumes it (exactly one trial runs), then the merge equals the unsharded run.
fn assert_resume_completes(tag: &str, args: &[&str]) {
    let dir = scratch_dir("scaleout", tag);
    study(&dir, "whole", "2", args, &[]);
    study(&dir, "parts", "2", args, &["--shard", "0/2"]);
    study(&dir, "parts", "1", args, &["--shard", "1/2"]);
    let shard = dir.join("parts/shard-0-of-2");
    let owned = done_ids(&shard);
    forget_last_trial(&shard);
    assert_eq!(done_ids(&shard).len(), owned.len() - 1);

    let mut again = vec!["--quiet", "--out", "parts"];
    again.extend_from_slice(args);
    again.extend_from_slice(&["--shard", "0/2"]);
    let refused = run(&dir, &again);
    assert!(!refused.status.success(), "{tag}: a rerun without --resume must refuse");
    assert!(
        common::stderr(&refused).contains("--resume"),
        "{}",
        common::stderr(&refused)
    );

    let report = study(&dir, "parts", "2", args, &["--shard", "0/2", "--resume"]);
    let json: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(json["shard"]["ran"], 1, "{tag}: {report}");
    assert_eq!(json["shard"]["reused"], owned.len() - 1, "{tag}: {report}");
    assert_eq!(done_ids(&shard), owned, "{tag}: every owned trial exactly once");
    // A rows file holds each completed trial's rows once: no trial id repeats out of order.
    let rows = read(&shard.join("rows.csv"));
    let mut seen: Vec<u64> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    seen.dedup();
    let count = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), count, "{tag}: a trial's rows appear twice in rows.csv");
    assert_eq!(seen, owned, "{tag}");

    assert_ok(&run(&dir, &["--quiet", "--out", "merged", "merge", "parts"]));
    assert_eq!(csv_files(&dir.join("merged")), csv_files(&dir.join("whole")), "{tag}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wdc_scaling_resume_runs_each_trial_once() {
    assert_resume_completes("wdc-resume", WDC);
}

#[test]
fn rrcp_resume_runs_each_trial_once() {
    assert_resume_completes("rrcp-resume", RRCP);
}

#[test]
fn merge_refuses_missing_trials() {
    let dir = scratch_dir("scaleout", "missing");
    study(&dir, "parts", "2", WDC, &["--shard", "1/3"]);
    let out = run(&dir, &["--quiet", "--out", "merged", "merge", "parts"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains("missing") && err.contains("k = 2, n = 8, trial 0"),
        "{err}"
    );
    assert!(!dir.join("merged").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_shards_are_usage_errors() {
    let dir = scratch_dir("scaleout", "bad");
    let with = |base: &[&'static str], extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(extra).copied().collect()
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (with(WDC, &["--shard", "3/2"]), "--shard"),
        (with(WDC, &["--shard", "0/0"]), "--shard"),
        (with(WDC, &["--shard", "x/2"]), "--shard"),
        (with(RRCP, &["--shard", "2/2"]), "--shard"),
        (with(RRCP, &["--shard", "1"]), "--shard"),
        (vec!["wdc", "--widths", "2,8", "--shard", "0/2"], "--shard"),
        (vec!["wdc", "--widths", "2,8", "--resume"], "--resume"),
    ];
    let borrowed: Vec<(&[&str], &str)> = cases.iter().map(|(a, n)| (a.as_slice(), *n)).collect();
    assert_usage_errors(&dir, &borrowed);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unsharded_run_does_not_replace_a_sharded_runs_folders() {
    let dir = scratch_dir("scaleout", "foreign");
    for args in [WDC, RRCP] {
        let _ = std::fs::remove_dir_all(dir.join("out"));
        study(&dir, "out", "1", args, &["--shard", "0/2"]);
        let mut whole = vec!["--quiet", "--out", "out"];
        whole.extend_from_slice(args);
        let out = run(&dir, &whole);
        assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
        let err = common::stderr(&out);
        assert!(err.contains("shard-0-of-2") && err.contains("merge"), "{err}");
        assert!(dir.join("out/shard-0-of-2/rows.csv").exists(), "the shard was removed");
    }
}

/// The `verify` summary's `(claim, verdict, statistic)` and its `measured` column.
fn summary_row(path: &Path) -> ([String; 3], String) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let field = |name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_string();
    (
        [field("claim"), field("verdict"), field("statistic")],
        field("measured"),
    )
}

/// C7 through the shard route: each of its quick grids run as 2 shards with `sweep --shard`,
/// merged with `merge`, and judged with `verify --only C7 --from-merged`, gives the verdict,
/// statistic and sweep outputs of a plain `verify --only C7` (same rows, same analysis, same
/// judge); a defect in reading the merged rows back (a lost trial, a float not round-tripped)
/// would change the fits. Slow (C7's quick protocol twice, about 80 s of CPU), so ignored:
/// `cargo test --release --test scaleout -- --ignored c7_judged_from_merged_shards`.
#[test]
#[ignore]
fn c7_judged_from_merged_shards_equals_the_plain_run() {
    let dir = scratch_dir("scaleout", "c7-from-merged");
    let spec_text = read(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/verify/C7-sample-complexity.toml"
    )));
    let spec: toml::Table = toml::from_str(&spec_text).unwrap();
    let claim = "merged/C7-sample-complexity";
    std::fs::create_dir_all(dir.join(claim)).unwrap();
    let parts = ["k_sweep", "d_sweep", "n_sweep"];
    for part in parts {
        let config = format!("{part}.toml");
        std::fs::write(dir.join(&config), toml::to_string(&spec["quick"][part]).unwrap()).unwrap();
        let shards = format!("shards-{part}");
        for shard in ["0/2", "1/2"] {
            assert_ok(&run(
                &dir,
                &[
                    "--quiet", "--out", &shards, "sweep", "--config", &config, "--shard", shard,
                ],
            ));
        }
        assert_ok(&run(
            &dir,
            &["--quiet", "--out", &format!("{claim}/{part}"), "merge", &shards],
        ));
    }
    assert_ok(&run(&dir, &["--quiet", "--out", "plain", "verify", "--only", "C7"]));
    assert_ok(&run(
        &dir,
        &[
            "--quiet",
            "--out",
            "judged",
            "verify",
            "--only",
            "C7",
            "--from-merged",
            "merged",
        ],
    ));
    let (plain, _) = summary_row(&dir.join("plain/summary.csv"));
    let (judged, measured) = summary_row(&dir.join("judged/summary.csv"));
    assert_eq!(plain, judged);
    assert!(measured.contains("merged shard folders in merged"), "{measured}");
    for part in parts {
        for file in ["trials.csv", "success.csv", "transitions.csv", "fits.csv"] {
            let path = format!("C7-sample-complexity/{part}/{file}");
            assert_eq!(
                read(&dir.join("plain").join(&path)),
                read(&dir.join("judged").join(&path)),
                "{path}"
            );
        }
    }
}
