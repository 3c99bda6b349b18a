//! Sweeps end to end: sharded + merged and resumed runs are byte-identical to one
//! uninterrupted run whatever the thread count; merge refuses missing or duplicated trials;
//! bad configs and shards are usage errors before any work; the statistics a sweep reports
//! (Wilson intervals, the transition m*) against reference values.

mod common;
use common::{assert_ok, assert_usage_errors, read, scratch_dir, stderr, wait_for_lines};

use std::path::Path;
use std::process::{Command, Output, Stdio};

use dpr_audit::stats::wilson_interval;
use dpr_audit::sweep::transition::{CurvePoint, TransitionKind, transition};

/// A small grid: 2 k × 3 m × 2 methods × 5 trials = 60 trials, about a second.
const SMALL: &str = "k = [2, 3]\nlayer_widths = [[20, 60]]\nm = [6, 12, 24]\nmethods = [\"dpr\", \"gd\"]\ntrials = 5\n";

/// A grid that takes a few seconds (failing trials run 2000 iterations), long enough to be
/// killed midway.
const SLOW: &str =
    "k = [3, 5]\nlayer_widths = [[80, 240]]\nm = [8, 16, 32, 64]\nmethods = [\"dpr\", \"gd\"]\ntrials = 12\n";

const SLURM: [&str; 4] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_COUNT",
];

/// The binary with `args` in `dir`, without Slurm's array variables unless given in `env`.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dpr-audit"));
    cmd.args(args).current_dir(dir);
    for var in SLURM {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args, &[]).output().unwrap()
}

fn scratch(name: &str, config: &str) -> common::Scratch {
    let dir = scratch_dir("sweep", name);
    std::fs::write(dir.join("grid.toml"), config).unwrap();
    dir
}

/// The CSV files of an output folder (top level), by name.
fn csv_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), read(&p)))
        .collect();
    files.sort();
    files
}

fn assert_same_csv(a: &Path, b: &Path) {
    let (fa, fb) = (csv_files(a), csv_files(b));
    assert_eq!(
        fa.iter().map(|f| &f.0).collect::<Vec<_>>(),
        fb.iter().map(|f| &f.0).collect::<Vec<_>>(),
        "{} vs {}",
        a.display(),
        b.display()
    );
    assert!(fa.len() >= 3, "{fa:?}");
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        assert!(x == y, "{name} differs between {} and {}", a.display(), b.display());
    }
}

/// The trial ids of a final `trials.csv`.
fn trial_ids(dir: &Path) -> Vec<u64> {
    read(&dir.join("trials.csv"))
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn shards_merged_equal_one_run_with_one_or_two_threads() {
    let dir = scratch("shards", SMALL);
    for threads in ["1", "2"] {
        let whole = format!("whole{threads}");
        assert_ok(&run(
            &dir,
            &[
                "--quiet",
                "--threads",
                threads,
                "--out",
                &whole,
                "sweep",
                "--config",
                "grid.toml",
            ],
        ));
        let sharded = format!("sharded{threads}");
        for i in 0..3 {
            let shard = format!("{i}/3");
            let mut args = vec![
                "--quiet",
                "--threads",
                threads,
                "--out",
                &sharded,
                "sweep",
                "--config",
                "grid.toml",
            ];
            // Shard 1 takes its place from Slurm's array variables instead of --shard.
            let env = [(SLURM[0], "8"), (SLURM[1], "7"), (SLURM[2], "9"), (SLURM[3], "3")];
            let env: &[(&str, &str)] = if i == 1 { &env } else { &[] };
            if i != 1 {
                args.extend(["--shard", &shard]);
            }
            let out = command(&dir, &args, env).output().unwrap();
            assert_ok(&out);
            assert!(dir.join(&sharded).join(format!("shard-{i}-of-3/rows.csv")).exists());
        }
        let merged = format!("merged{threads}");
        assert_ok(&run(
            &dir,
            &["--quiet", "--threads", threads, "--out", &merged, "merge", &sharded],
        ));
        assert_same_csv(&dir.join("whole1"), &dir.join(&merged));
        assert_same_csv(&dir.join("whole1"), &dir.join(&whole));
    }
    assert_eq!(trial_ids(&dir.join("merged2")), (0..60).collect::<Vec<u64>>());
    let manifest: serde_json::Value = serde_json::from_str(&read(&dir.join("merged1/manifest.json"))).unwrap();
    assert_eq!(manifest["command"], "merge");
    assert_eq!(manifest["seed"], 1);
    // Shard folders may also be listed one by one.
    assert_ok(&run(
        &dir,
        &[
            "--quiet",
            "--out",
            "listed",
            "merge",
            "sharded1/shard-2-of-3",
            "sharded1/shard-0-of-3",
            "sharded1/shard-1-of-3",
        ],
    ));
    assert_same_csv(&dir.join("whole1"), &dir.join("listed"));
}

#[test]
fn merge_refuses_missing_duplicated_and_foreign_shards() {
    let dir = scratch("merge-errors", SMALL);
    for i in 0..2 {
        let shard = format!("{i}/2");
        assert_ok(&run(
            &dir,
            &[
                "--quiet",
                "--out",
                "s",
                "sweep",
                "--config",
                "grid.toml",
                "--shard",
                &shard,
            ],
        ));
    }
    std::fs::write(dir.join("other.toml"), SMALL.replace("trials = 5", "trials = 4")).unwrap();
    assert_ok(&run(
        &dir,
        &[
            "--quiet",
            "--out",
            "o",
            "sweep",
            "--config",
            "other.toml",
            "--shard",
            "1/2",
        ],
    ));
    assert_usage_errors(
        &dir,
        &[
            (
                &["merge", "s/shard-0-of-2"],
                "30 of 60 missing: 1 (widths 2-20-60, m = 6",
            ),
            (
                &["merge", "s/shard-0-of-2", "s/shard-1-of-2", "s/shard-1-of-2"],
                "30 present more than once",
            ),
            (&["merge", "s/shard-0-of-2", "o/shard-1-of-2"], "different study"),
            (&["merge", "grid.toml"], "grid.toml"),
        ],
    );
    // An unsharded run into the shards' folder would replace them: refused.
    let over = run(&dir, &["--out", "s", "sweep", "--config", "grid.toml"]);
    assert_eq!(over.status.code(), Some(2), "{}", stderr(&over));
    assert!(
        stderr(&over).contains("shard-0-of-2, shard-1-of-2"),
        "{}",
        stderr(&over)
    );
    // Writing the merged outputs over the shards' own folder would delete them.
    let out = run(&dir, &["--out", "s", "merge", "s"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--out") && dir.join("s/shard-0-of-2/rows.csv").exists());
}

#[test]
fn a_killed_sweep_resumes_with_every_trial_exactly_once() {
    let dir = scratch("resume", SLOW);
    assert_ok(&run(
        &dir,
        &[
            "--quiet",
            "--threads",
            "2",
            "--out",
            "reference",
            "sweep",
            "--config",
            "grid.toml",
        ],
    ));
    let args = [
        "--quiet",
        "--threads",
        "2",
        "--out",
        "killed",
        "sweep",
        "--config",
        "grid.toml",
    ];
    let mut child = command(&dir, &args, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let work = dir.join("killed/shard-0-of-1");
    wait_for_lines(&mut child, &work.join("done.txt"), 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let done_text = read(&work.join("done.txt"));
    let done = done_text.matches('\n').count();
    assert!(done < 192, "all {done} trials finished before the kill");
    // Simulate a kill in the middle of a write: the rows of a trial whose id never reached
    // done.txt, then a torn line.
    let finished: Vec<u64> = done_text
        .lines()
        .take(done)
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let unfinished: Vec<u64> = (0..192).filter(|id| !finished.contains(id)).take(2).collect();
    let last_row = read(&work.join("rows.csv")).lines().last().unwrap().to_string();
    let (_, rest) = last_row.split_once(',').unwrap();
    let torn = format!(
        "{},{rest}\n{},{}",
        unfinished[0],
        unfinished[1],
        &rest[..rest.len() / 2]
    );
    let mut rows = std::fs::OpenOptions::new()
        .append(true)
        .open(work.join("rows.csv"))
        .unwrap();
    std::io::Write::write_all(&mut rows, torn.as_bytes()).unwrap();
    // Rerunning without --resume, or with another configuration, refuses to touch the rows.
    let again = run(&dir, &args);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--resume"), "{}", stderr(&again));
    std::fs::write(dir.join("changed.toml"), SLOW.replace("trials = 12", "trials = 13")).unwrap();
    let changed = run(
        &dir,
        &[
            "--quiet",
            "--out",
            "killed",
            "sweep",
            "--config",
            "changed.toml",
            "--resume",
        ],
    );
    assert_eq!(changed.status.code(), Some(2));
    assert!(
        stderr(&changed).contains("different configuration"),
        "{}",
        stderr(&changed)
    );
    let resumed = run(
        &dir,
        &[
            "--threads",
            "2",
            "--out",
            "killed",
            "sweep",
            "--config",
            "grid.toml",
            "--resume",
        ],
    );
    assert_ok(&resumed);
    let report = String::from_utf8_lossy(&resumed.stdout);
    assert!(report.contains(&format!("{done} found done")), "{report}");
    assert_eq!(trial_ids(&dir.join("killed")), (0..192).collect::<Vec<u64>>());
    assert_same_csv(&dir.join("reference"), &dir.join("killed"));
    assert_eq!(
        read(&work.join("done.txt")).lines().count(),
        192,
        "the final outputs keep the working folder, every trial listed once"
    );
}

#[test]
fn bad_configs_and_shards_fail_before_any_work() {
    let dir = scratch("bad", SMALL);
    for (name, text) in [
        ("unknown.toml", format!("{SMALL}tolerance = 1e-4\n")),
        ("empty.toml", SMALL.replace("k = [2, 3]", "k = []")),
        ("m0.toml", SMALL.replace("m = [6, 12, 24]", "m = [0, 12]")),
        ("both.toml", format!("{SMALL}d = [2]\n")),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    assert_usage_errors(
        &dir,
        &[
            (&["sweep", "--config", "unknown.toml"], "unknown field `tolerance`"),
            (&["sweep", "--config", "empty.toml"], "key `k`: the grid is empty"),
            (&["sweep", "--config", "m0.toml"], "key `m`: [0, 12] contains 0"),
            (&["sweep", "--config", "both.toml"], "not both or neither"),
            (&["sweep", "--config", "missing.toml"], "missing.toml"),
            (&["sweep", "--config", "grid.toml", "--shard", "3/2"], "--shard = 3/2"),
            (&["sweep", "--config", "grid.toml", "--shard", "0/0"], "at least 1"),
            (&["sweep", "--config", "grid.toml", "--shard", "1-of-2"], "i/N"),
        ],
    );
    for file in ["unknown.toml", "m0.toml"] {
        let out = run(&dir, &["--out", "out", "sweep", "--config", file]);
        assert!(
            stderr(&out).contains(file),
            "the error names the file: {}",
            stderr(&out)
        );
    }
}

#[test]
fn wilson_intervals_match_published_values() {
    // R. G. Newcombe, "Two-sided confidence intervals for the single proportion", Statistics in
    // Medicine 17:857–872 (1998): its worked examples 81/263, 15/148, 0/20 and 1/29 by method 3
    // (Wilson's score interval without continuity correction), printed to 4 decimals.
    for (s, n, lo, hi) in [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ] {
        let (l, h) = wilson_interval(s, n);
        assert!((l - lo).abs() < 5e-5 && (h - hi).abs() < 5e-5, "{s}/{n}: [{l}, {h}]");
    }
    let (l, h) = wilson_interval(3, 10);
    let (l2, h2) = wilson_interval(7, 10);
    assert!(
        (l - (1.0 - h2)).abs() < 1e-15 && (h - (1.0 - l2)).abs() < 1e-15,
        "symmetric in s ↔ n − s"
    );
    assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
}

fn curve(ms: &[f64], successes: &[u64], trials: u64) -> Vec<CurvePoint> {
    ms.iter()
        .zip(successes)
        .map(|(&m, &successes)| CurvePoint { m, successes, trials })
        .collect()
}

/// Tolerance for m* computed by a few floating-point operations on numbers near 100.
const M_TOL: f64 = 1e-10;

#[test]
fn transition_of_constructed_success_curves() {
    let ms = [10.0, 20.0, 40.0, 80.0, 160.0, 320.0];
    // Rates 0, .2, .4, .6, .8, 1: 0.5 lies halfway (in log m) between 40 and 80.
    let t = transition(&curve(&ms, &[0, 20, 40, 60, 80, 100], 100));
    assert_eq!(t.kind, TransitionKind::Interpolated);
    assert!((t.m_star.unwrap() - (40.0f64 * 80.0).sqrt()).abs() < M_TOL);
    // Wilson 95% at 40/100 is [0.309, 0.498] (below 0.5), at 60/100 [0.502, 0.691].
    assert_eq!((t.lo, t.hi), (Some(40.0), Some(80.0)));
    // With 10 trials per point only 0/10 (upper end 0.278) and 10/10 (lower end 0.722)
    // exclude 0.5; 2/10 reaches up to 0.510 and 8/10 down to 0.490.
    let t10 = transition(&curve(&ms, &[0, 2, 4, 6, 8, 10], 10));
    assert!((t10.m_star.unwrap() - t.m_star.unwrap()).abs() < M_TOL);
    assert_eq!((t10.lo, t10.hi), (Some(10.0), Some(320.0)));
    // A dip is pooled (0, .6, .4, 1 → 0, .5, .5, 1): m* is the geometric midpoint of 20 and 40.
    let dip = transition(&curve(&ms[..4], &[0, 6, 4, 10], 10));
    assert!((dip.m_star.unwrap() - (20.0f64 * 40.0).sqrt()).abs() < M_TOL);
    // Censored curves: above 50% from the start, or a plateau below 50% (GD-like).
    let high = transition(&curve(&ms[..2], &[9, 10], 10));
    assert_eq!(
        (high.kind, high.m_star, high.hi),
        (TransitionKind::BelowGrid, None, Some(10.0))
    );
    let low = transition(&curve(&ms[..3], &[0, 3, 4], 10));
    assert_eq!(
        (low.kind, low.m_star, low.lo),
        (TransitionKind::AboveGrid, None, Some(10.0))
    );
}

#[test]
fn shipped_sweep_configs_and_claim_grids_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hlv = dpr_audit::sweep::config::load(&root.join("verify/sweeps/hlv-synthetic.toml")).unwrap();
    assert_eq!(hlv.config.k, vec![10]);
    assert_eq!(hlv.settings[0].widths(), vec![10, 500, 1000]);
    assert_eq!(hlv.config.trials, 25);
    assert_eq!(hlv.config.weight_scale, dpr_audit::core::network::WeightScale::Unit);
    assert!(hlv.relative_m());
    dpr_audit::sweep::config::load(&root.join("verify/sweeps/quick.toml")).unwrap();
    for (file, text) in dpr_audit::claims::SPECS {
        let spec = dpr_audit::claims::Spec::parse(file, text).unwrap();
        for full in [false, true] {
            let grids: Vec<dpr_audit::sweep::SweepConfig> = match spec.id.as_str() {
                "C7" => {
                    let p: dpr_audit::claims::c7_sample_complexity::Params = spec.params(full).unwrap();
                    vec![p.k_sweep, p.d_sweep, p.n_sweep]
                }
                "C8" => vec![
                    spec.params::<dpr_audit::claims::c8_negation_check::Params>(full)
                        .unwrap()
                        .sweep,
                ],
                _ => continue,
            };
            for grid in grids {
                grid.check(Path::new(file)).unwrap();
            }
        }
    }
}

/// `selection = "both"`: each trial writes one row per rule from the same solves; the
/// objective rows (and every summary's objective rows) equal those of an objective-only sweep,
/// and each figure is drawn once per rule.
#[test]
fn both_selections_split_every_output_by_rule() {
    let dir = scratch("both", &format!("{SMALL}restarts = [2]\n"));
    std::fs::write(
        dir.join("both.toml"),
        format!("{SMALL}restarts = [2]\nselection = \"both\"\n"),
    )
    .unwrap();
    for (config, out) in [("grid.toml", "objective"), ("both.toml", "both")] {
        assert_ok(&run(&dir, &["--quiet", "--out", out, "sweep", "--config", config]));
    }
    for file in ["trials.csv", "success.csv", "transitions.csv", "fits.csv"] {
        let only = read(&dir.join("objective").join(file));
        let both = read(&dir.join("both").join(file));
        let (mut objective, mut oracle) = (Vec::new(), Vec::new());
        for line in both.lines().skip(1) {
            if line.contains(",objective,") {
                objective.push(line);
            } else {
                assert!(line.contains(",oracle,"), "{file}: {line}");
                oracle.push(line);
            }
        }
        assert_eq!(objective, only.lines().skip(1).collect::<Vec<_>>(), "{file}");
        assert_eq!(objective.len(), oracle.len(), "{file}");
        assert_eq!(both.lines().next(), only.lines().next(), "{file} header");
    }
    // The same trial ids, each once per rule.
    let ids = trial_ids(&dir.join("both"));
    assert_eq!(ids.len(), 2 * trial_ids(&dir.join("objective")).len());
    assert!(ids.chunks(2).all(|pair| pair[0] == pair[1]));
    for figure in ["success_dpr_objective.png", "success_dpr_oracle.png"] {
        assert!(dir.join("both").join(figure).exists(), "{figure}");
    }
    assert!(dir.join("objective/success_dpr.png").exists());
}

/// The Slurm route's configuration files of C7's full protocol are its three grids exactly: a
/// file that drifted from the spec would make shards whose merged rows `verify --from-merged`
/// refuses (another configuration hash), after hours of cluster time.
#[test]
fn c7_full_sweep_files_are_the_specs_grids() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = dpr_audit::claims::SPECS
        .iter()
        .map(|(file, text)| dpr_audit::claims::Spec::parse(file, text).unwrap())
        .find(|s| s.id == "C7")
        .unwrap();
    let p: dpr_audit::claims::c7_sample_complexity::Params = spec.params(true).unwrap();
    for (part, grid) in [("k", p.k_sweep), ("d", p.d_sweep), ("n", p.n_sweep)] {
        let file = dpr_audit::sweep::config::load(&root.join(format!("verify/sweeps/C7-full-{part}.toml"))).unwrap();
        assert_eq!(
            serde_json::to_value(&file.config).unwrap(),
            serde_json::to_value(&grid.check(Path::new("spec")).unwrap().config).unwrap(),
            "verify/sweeps/C7-full-{part}.toml"
        );
    }
}
