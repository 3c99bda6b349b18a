//! Output folders a user can trust: a folder holding anything the tool did not write is never
//! replaced (nor the current folder, its ancestors, `/`, or a folder holding an input); a
//! folder the tool wrote is replaced, except that a study's completed trials are only
//! continued with `--resume`; one writer per output folder and per shard folder (a second
//! process is refused at once, naming the holder's pid); killed runs resume to outputs
//! byte-identical to an uninterrupted run; torn or duplicated rows are repaired by `--resume`
//! and refused by `merge`; staging folders of killed runs are removed.

mod common;
use common::{assert_ok, read, scratch_dir, stderr, wait_for_lines};

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// 2 k × 3 m × 2 methods × 5 trials = 60 trials, about a second.
const SMALL: &str = "k = [2, 3]\nlayer_widths = [[20, 60]]\nm = [6, 12, 24]\nmethods = [\"dpr\", \"gd\"]\ntrials = 5\n";

/// 192 trials that take a few seconds (failing trials run 2000 iterations): long enough to be
/// killed or raced midway.
const SLOW: &str =
    "k = [3, 5]\nlayer_widths = [[80, 240]]\nm = [8, 16, 32, 64]\nmethods = [\"dpr\", \"gd\"]\ntrials = 12\n";

/// The binary with `args` in `dir`, outside any Slurm array (so shards come from `--shard`).
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dpr-audit"));
    cmd.args(args).current_dir(dir);
    for var in dpr_audit::exec::shard::SLURM_VARS {
        cmd.env_remove(var);
    }
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    command(dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn scratch(name: &str, config: &str) -> common::Scratch {
    let dir = scratch_dir("outputs", name);
    std::fs::write(dir.join("grid.toml"), config).unwrap();
    dir
}

/// `sweep --config grid.toml` into `out`, with `extra` arguments.
fn sweep<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--quiet",
        "--threads",
        "2",
        "--out",
        out,
        "sweep",
        "--config",
        "grid.toml",
    ];
    args.extend_from_slice(extra);
    args
}

/// The CSV files at the top of an output folder, by name.
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

fn assert_same_csv(a: &Path, b: &Path) {
    let (fa, fb) = (csv_files(a), csv_files(b));
    assert!(fa.len() >= 3, "{}: {fa:?}", a.display());
    let names = |f: &[(String, String)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&fa), names(&fb), "{} vs {}", a.display(), b.display());
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        assert!(x == y, "{name} differs between {} and {}", a.display(), b.display());
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The trial ids of a final `trials.csv`.
fn trial_ids(dir: &Path) -> Vec<u64> {
    read(&dir.join("trials.csv"))
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

fn assert_refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "a one-line error: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{err:?} does not name {needle:?}");
    }
}

#[test]
fn folders_holding_user_files_survive_byte_for_byte() {
    let dir = scratch("user-files", SMALL);
    std::fs::create_dir_all(dir.join("p/figs")).unwrap();
    std::fs::write(dir.join("p/draft.tex"), "x\n").unwrap();
    std::fs::write(dir.join("p/figs/plot.pdf"), [0u8, 1, 2]).unwrap();
    let before = names(&dir);
    for args in [
        &["--out", "p", "expected", "rho"][..],
        &["--out", "p", "sweep", "--config", "grid.toml"],
        &["--out", "p/figs", "expected", "rho"],
    ] {
        let out = run(&dir, args);
        assert_refused(&out, &["--out", "did not write"]);
        assert_eq!(read(&dir.join("p/draft.tex")), "x\n");
        assert_eq!(std::fs::read(dir.join("p/figs/plot.pdf")).unwrap(), [0u8, 1, 2]);
        assert_eq!(names(&dir), before, "{args:?} left something behind");
        assert_eq!(names(&dir.join("p")), ["draft.tex", "figs"]);
    }
    assert!(stderr(&run(&dir, &["--out", "p", "expected", "rho"])).contains("draft.tex"));
    // A user file added to a folder the tool wrote makes it foreign too.
    assert_ok(&run(&dir, &["--quiet", "--out", "o", "expected", "rho"]));
    std::fs::write(dir.join("o/notes.md"), "mine\n").unwrap();
    assert_refused(&run(&dir, &["--out", "o", "expected", "rho"]), &["notes.md"]);
    assert_eq!(read(&dir.join("o/notes.md")), "mine\n");
    // An output location that cannot be created: exit code 2 with the fix.
    let out = run(&dir, &["--out", "grid.toml/sub", "expected", "rho"]);
    assert_refused(&out, &["grid.toml", "choose an --out"]);
    // A file where a folder should be.
    assert_refused(
        &run(&dir, &["--out", "grid.toml", "expected", "rho"]),
        &["not a folder"],
    );
    assert_eq!(read(&dir.join("grid.toml")), SMALL);
}

#[test]
fn the_current_folder_its_ancestors_and_input_holders_are_refused() {
    let dir = scratch("dangerous", SMALL);
    let before = names(&dir);
    let cwd = dir.display().to_string();
    let parent = dir.parent().unwrap().display().to_string();
    for out in [".", "..", "/", &cwd, &parent, "./x/../."] {
        assert_refused(&run(&dir, &["--out", out, "expected", "rho"]), &["--out", "folder"]);
        assert_eq!(names(&dir), before, "--out {out}");
    }
    // A folder the tool wrote, but one of the run's inputs lies inside it.
    std::fs::create_dir_all(dir.join("o")).unwrap();
    std::fs::write(dir.join("o/grid.toml"), SMALL).unwrap();
    std::fs::write(
        dir.join("o/manifest.json"),
        r#"{"tool": "dpr-audit", "files": ["grid.toml", "manifest.json"]}"#,
    )
    .unwrap();
    let out = run(&dir, &["--out", "o", "sweep", "--config", "o/grid.toml"]);
    assert_refused(&out, &["input", "o/grid.toml"]);
    assert_eq!(read(&dir.join("o/grid.toml")), SMALL);
    // merge into the folder holding the shards it reads.
    assert_ok(&run(&dir, &sweep("s", &["--shard", "0/1"])));
    assert_refused(&run(&dir, &["--out", "s", "merge", "s/shard-0-of-1"]), &["input"]);
    assert!(dir.join("s/shard-0-of-1/rows.csv").exists());
}

#[test]
fn a_second_run_into_a_tool_output_replaces_it_and_a_finished_study_resumes_to_nothing() {
    let dir = scratch("again", SMALL);
    assert_ok(&run(&dir, &["--quiet", "--out", "o", "expected", "rho"]));
    assert!(dir.join("o/rho.csv").exists());
    assert_ok(&run(&dir, &["--quiet", "--out", "o", "expected", "landscape"]));
    assert!(!dir.join("o/rho.csv").exists(), "the earlier output is replaced whole");
    assert_eq!(
        names(&dir),
        ["grid.toml", "o"],
        "no staging folder, set-aside folder or lock file remains"
    );
    // A study's finished output holds its completed trials: only --resume continues it, and
    // then runs nothing again.
    assert_ok(&run(&dir, &sweep("s", &[])));
    let reference = csv_files(&dir.join("s"));
    assert_refused(&run(&dir, &sweep("s", &[])), &["--resume"]);
    let resumed = run(
        &dir,
        &["--json", "--out", "s", "sweep", "--config", "grid.toml", "--resume"],
    );
    assert_ok(&resumed);
    let json: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(json["run"]["ran"], 0, "{json}");
    assert_eq!(json["run"]["reused"], 60, "{json}");
    assert_eq!(csv_files(&dir.join("s")), reference);
    // The same for a complete shard.
    assert_ok(&run(&dir, &sweep("parts", &["--shard", "1/2"])));
    let again = resume_shard(&dir, "1/2");
    assert_ok(&again);
    let json: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(json["shard"]["ran"], 0, "{json}");
}

#[test]
fn stale_staging_folders_of_dead_processes_are_removed() {
    let dir = scratch("stale", SMALL);
    // A pid that existed and is gone: a finished child's.
    let mut child = Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let dead = child.id();
    let live = std::process::id();
    for name in [
        format!(".o.partial-{dead}"),
        format!(".o.partial-{live}"),
        format!(".other.partial-{dead}"),
    ] {
        std::fs::create_dir_all(dir.join(&name)).unwrap();
        std::fs::write(dir.join(name).join("rho.csv"), "x").unwrap();
    }
    assert_ok(&run(&dir, &["--quiet", "--out", "o", "expected", "rho"]));
    let left = names(&dir);
    assert!(!left.contains(&format!(".o.partial-{dead}")), "{left:?}");
    assert!(
        left.contains(&format!(".o.partial-{live}")),
        "a live process's staging is kept: {left:?}"
    );
    assert!(
        left.contains(&format!(".other.partial-{dead}")),
        "only this output's: {left:?}"
    );
}

#[test]
fn one_writer_per_output_and_per_shard() {
    let dir = scratch("lock", SLOW);
    assert_ok(&run(&dir, &sweep("reference", &[])));
    // Two sweeps on one --out: the second (with or without --resume) is refused while the
    // first is still running, naming its pid; the first finishes with the reference outputs.
    let mut first = spawn(&dir, &sweep("out", &[]));
    wait_for_lines(&mut first, &dir.join("out/shard-0-of-1/done.txt"), 1);
    for extra in [&[][..], &["--resume"]] {
        let second = run(&dir, &sweep("out", extra));
        assert_refused(&second, &[&format!("pid {}", first.id()), "another dpr-audit process"]);
        assert!(
            first.try_wait().unwrap().is_none(),
            "the refusal waited for the first run"
        );
    }
    assert!(first.wait().unwrap().success());
    assert_same_csv(&dir.join("reference"), &dir.join("out"));
    assert_eq!(trial_ids(&dir.join("out")), (0..192).collect::<Vec<u64>>());
    assert!(!dir.join("out.lock").exists(), "the lock file is removed at the end");
    // Two shards at once both run; a second copy of a running shard is refused.
    let mut shards: Vec<Child> = (0..2)
        .map(|i| spawn(&dir, &sweep("parts", &["--shard", if i == 0 { "0/2" } else { "1/2" }])))
        .collect();
    wait_for_lines(&mut shards[0], &dir.join("parts/shard-0-of-2/done.txt"), 1);
    let copy = run(&dir, &sweep("parts", &["--shard", "0/2", "--resume"]));
    assert_refused(&copy, &[&format!("pid {}", shards[0].id()), "shard-0-of-2"]);
    for shard in &mut shards {
        assert!(shard.wait().unwrap().success());
    }
    assert_ok(&run(&dir, &["--quiet", "--out", "merged", "merge", "parts"]));
    assert_same_csv(&dir.join("reference"), &dir.join("merged"));
}

/// A small deterministic generator for the kill times (xorshift64).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn a_sweep_killed_at_random_points_resumes_to_the_uninterrupted_outputs() {
    const KILLS: usize = 12;
    let dir = scratch("kill-loop", SLOW);
    assert_ok(&run(&dir, &sweep("reference", &[])));
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut kills = 0;
    // One thread (the reference ran with two) keeps each run's progress small, so that most
    // runs are killed mid-way on a fast machine too.
    let mut killed = sweep("killed", &["--resume"]);
    killed[2] = "1";
    for _ in 0..4 * KILLS {
        let mut child = spawn(&dir, &killed);
        let delay = 10 + next(&mut state) % 200;
        std::thread::sleep(std::time::Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        if kills == KILLS {
            break;
        }
    }
    assert!(kills >= 10, "only {kills} runs were killed while running");
    assert_ok(&run(&dir, &sweep("killed", &["--resume"])));
    assert_same_csv(&dir.join("reference"), &dir.join("killed"));
    assert_eq!(trial_ids(&dir.join("killed")), (0..192).collect::<Vec<u64>>());
    let done = read(&dir.join("killed/shard-0-of-1/done.txt"));
    assert_eq!(done.lines().count(), 192, "every trial listed exactly once");
    assert_eq!(
        names(&dir),
        ["grid.toml", "killed", "reference"],
        "no staging folder, set-aside folder or lock file remains"
    );
}

/// Tears trial `a`'s row in the middle (its newline kept) and appends a copy of trial `b`'s
/// row, in a shard folder whose trials have one row each; returns the two ids.
fn damage(shard: &Path) -> (u64, u64) {
    let rows = read(&shard.join("rows.csv"));
    let mut lines: Vec<String> = rows.lines().map(String::from).collect();
    let id = |line: &str| line.split(',').next().unwrap().parse::<u64>().unwrap();
    let (a, b) = (id(&lines[2]), id(&lines[4]));
    let half = lines[2].len() / 2;
    lines[2].truncate(half);
    lines.push(lines[4].clone());
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(shard.join("rows.csv"), text).unwrap();
    (a, b)
}

#[test]
fn torn_and_duplicated_rows_are_repaired_by_resume_and_refused_by_merge() {
    let dir = scratch("torn", SMALL);
    assert_ok(&run(&dir, &sweep("whole", &[])));
    for shard in ["0/2", "1/2"] {
        assert_ok(&run(&dir, &sweep("parts", &["--shard", shard])));
    }
    let shard = dir.join("parts/shard-0-of-2");
    let (torn, duplicated) = damage(&shard);
    let refused = run(&dir, &["--out", "merged", "merge", "parts"]);
    assert_refused(&refused, &["shard-0-of-2", "--resume"]);
    let err = stderr(&refused);
    let listed = err.split("lists").nth(1).unwrap_or_default();
    let ids = |a: u64, b: u64| format!("{}, {}", a.min(b), a.max(b));
    assert!(listed.contains(&ids(torn, duplicated)), "{err}");
    assert!(!dir.join("merged").exists());
    let resumed = resume_shard(&dir, "0/2");
    assert_ok(&resumed);
    let json: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(json["shard"]["ran"], 2, "{json}");
    let mut repaired = vec![torn, duplicated];
    repaired.sort_unstable();
    assert_eq!(json["shard"]["repaired"], serde_json::json!(repaired), "{json}");
    assert_ok(&run(&dir, &["--quiet", "--out", "merged", "merge", "parts"]));
    assert_same_csv(&dir.join("whole"), &dir.join("merged"));
    // The same damage in a finished unsharded output: --resume reruns just those trials.
    damage(&dir.join("whole/shard-0-of-1"));
    let resumed = run(
        &dir,
        &["--json", "--out", "whole", "sweep", "--config", "grid.toml", "--resume"],
    );
    assert_ok(&resumed);
    let json: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(json["run"]["ran"], 2, "{json}");
    assert_same_csv(&dir.join("merged"), &dir.join("whole"));
}

/// `--json sweep --shard SHARD --resume` into `dir/parts` (the grid of `grid.toml`).
fn resume_shard(dir: &Path, shard: &str) -> Output {
    run(
        dir,
        &[
            "--json",
            "--out",
            "parts",
            "sweep",
            "--config",
            "grid.toml",
            "--shard",
            shard,
            "--resume",
        ],
    )
}
