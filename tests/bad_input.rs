//! The bad-input suite: sizes that cannot fit or finish, overflowing inputs, malformed files
//! and values across every subcommand, each refused with exit code 2 and a one-line message
//! naming the value, in a process whose address space is capped (a case that allocates what
//! it refuses fails) and whose time is capped (a hang fails); and a property test that random
//! command lines never crash.

mod common;
use common::{GUARD_ADDRESS_SPACE, GUARD_BUDGET, assert_usage_errors, run_guarded};

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// A sweep configuration that runs in a fraction of a second.
const TINY_SWEEP: &str = "k = [2]\nlayer_widths = [[5, 8]]\nm = [4]\nmethods = [\"dpr\"]\ntrials = 1\n";

/// Writes the input files the cases name into `dir`.
fn fixtures(dir: &Path) {
    let files: [(&str, &[u8]); 10] = [
        ("corrupt.safetensors", b"this is not a safetensors file"),
        ("empty.safetensors", b""),
        // A header length of 10^12 bytes with nothing after it.
        ("huge-header.safetensors", &[0, 16, 165, 212, 232, 0, 0, 0, b'{', b'}']),
        ("syntax.toml", b"k = [2\nm = [1]\n"),
        ("type.toml", b"k = \"two\"\ntrials = 3\n"),
        ("unknown.toml", b"k = [2]\nlayer_widths = [[5, 8]]\nm = [4]\nfoo = 3\n"),
        (
            "huge-trials.toml",
            b"k = [2]\nlayer_widths = [[5, 8]]\nm = [4]\nmethods = [\"dpr\"]\ntrials = 1000000000000\n",
        ),
        (
            "huge-m.toml",
            b"k = [2]\nlayer_widths = [[5, 8]]\nm = [1000000000000]\nmethods = [\"dpr\"]\ntrials = 1\n",
        ),
        (
            "huge-width.toml",
            b"k = [2]\nlayer_widths = [[5, 1000000000]]\nm = [4]\nmethods = [\"dpr\"]\ntrials = 1\n",
        ),
        ("tiny.toml", TINY_SWEEP.as_bytes()),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    // A merged sweep folder of a configuration no claim has (`verify --from-merged`).
    let merged = dir.join("merged/C8-negation-check/sweep");
    std::fs::create_dir_all(&merged).unwrap();
    std::fs::write(
        merged.join("manifest.json"),
        r#"{"version": "0.1.0", "parameters": {"config_hash": "0123abcd", "config": {"seed": 1}}}"#,
    )
    .unwrap();
    std::fs::write(merged.join("trials.csv"), "trial_id,seed\n0,1\n").unwrap();
}

const T: &str = "1000000000000"; // 10^12
const G: &str = "1000000000"; // 10^9

/// Sizes that cannot fit in memory or finish, and inputs whose arithmetic overflows: the
/// crashes and hangs a new user found, plus their neighbours in every subcommand.
#[test]
fn sizes_that_cannot_fit_or_finish_are_refused_before_allocating() {
    let dir = common::scratch_dir("bad_input", "sizes");
    fixtures(&dir);
    let w1g = format!("2,{G}");
    let cases: &[(&[&str], &str)] = &[
        // Widths of 10^9, and the network behind every subcommand.
        (&["net", "--widths", &w1g], &w1g),
        (&["net", "--widths", "2,100000,100000"], "2,100000,100000"),
        (&["net", "--widths", &format!("{T},2")], T),
        (&["wdc", "--widths", &w1g, "--no-audit"], &w1g),
        (&["rrcp", "--widths", &w1g], &w1g),
        (&["audit", "--widths", &w1g], &w1g),
        (&["solve", "--widths", &w1g], &w1g),
        (&["landscape", "--widths", &w1g], &w1g),
        (&["landscape", "census", "--widths", &w1g], &w1g),
        (&["landscape", "exact", "--widths", &w1g], &w1g),
        (&["landscape", "exact", "--widths", "2,10,20", "--m", T], T),
        (
            &["landscape", "exact", "--widths", "2,10,20", "--grid", "100000"],
            "100000",
        ),
        (&["landscape", "sweep", "--hidden", &format!("{G}x10"), "--m", "400"], G),
        (&["landscape", "exact", "--sweep", "--ladder", G], G),
        (&["landscape", "exact", "--sweep", "--ladder", "10", "--trials", T], T),
        (
            &["landscape", "exact", "--sweep", "--ladder", "10", "--rrcp-tuples", T],
            T,
        ),
        (&["wdc", "--k", "2", "--n", G], G),
        // Counts of 10^12.
        (&["rrcp", "--widths", "2,10", "--m", T], T),
        (&["solve", "--widths", "2,10,20", "--m", T], T),
        (&["landscape", "--widths", "2,10,20", "--m", T], T),
        (
            &["landscape", "census", "--widths", "2,10,20", "--starts", "1", "--m", T],
            T,
        ),
        (&["wdc", "--widths", "2,10", "--pairs", T, "--no-audit"], T),
        (&["audit", "--widths", "2,10", "--pairs", T], T),
        (&["landscape", "--widths", "2,10,20", "--rays", T], T),
        (
            &["landscape", "--widths", "2,10,20", "--rays", "1", "--ray-points", T],
            T,
        ),
        (
            &[
                "landscape",
                "--widths",
                "2,10,20",
                "--shells",
                "0.5",
                "--shell-points",
                T,
            ],
            T,
        ),
        (&["landscape", "--widths", "3,10,20", "--slices", G], G),
        (&["landscape", "--widths", "2,10,20", "--origin-directions", T], T),
        (&["landscape", "census", "--widths", "2,10,20", "--starts", T], T),
        (
            &["landscape", "census", "--widths", "2,10,20", "--test-directions", T],
            T,
        ),
        (&["solve", "--widths", "2,10,20", "--restarts", T], T),
        (
            &["solve", "--widths", "2,10,20", "--restarts", T, "--method", "adam2"],
            T,
        ),
        (&["solve", "--widths", "2,10,20", "--max-iters", T, "--trace"], T),
        (&["wdc", "--k", "2", "--n", "10", "--trials", T], T),
        (&["rrcp", "--widths", "2,10", "--trials", T], T),
        (&["landscape", "sweep", "--trials", T], T),
        (&["mnist", "synthetic", "--trials", T], T),
        (&["mnist", "synthetic", "--m", T], T),
        (&["mnist", "synthetic", "--n", T, "--sparsities", "3"], T),
        (&["mnist", "train", "--fixture", "--batch", T], T),
        (&["mnist", "train", "--fixture", "--epochs", T], T),
        (&["mnist", "reconstruct", "--fixture", "--restarts", T], T),
        (
            &["mnist", "reconstruct", "--fixture", "--m", T, "--algorithms", "thwf"],
            T,
        ),
        (&["mnist", "audit", "--pairs", T], T),
        (&["mnist", "audit", "--rrcp-m", T], T),
        (&["sweep", "--config", "huge-trials.toml"], T),
        (&["sweep", "--config", "huge-m.toml"], T),
        (&["sweep", "--config", "huge-width.toml"], G),
        // Depths and grids beyond what can finish.
        (&["expected", "rho", "--d-max", G], G),
        (&["expected", "landscape", "--d", "1000000"], "1000000"),
        (&["expected", "landscape", "--grid", "100000"], "100000"),
        (&["landscape", "--widths", "2,10,20", "--grid", "100000"], "100000"),
        (&["landscape", "sweep", "--grid", "100000"], "100000"),
        // Tolerances below what f64 resolves; thread counts far past the cores.
        (
            &["wdc", "--widths", "2,10", "--certify", "--tol", "1e-300", "--no-audit"],
            "1e-300",
        ),
        (
            &["wdc", "--k", "2", "--n", "10", "--certify", "--tol", "1e-12"],
            "1e-12",
        ),
        (&["--threads", "100000", "expected", "rho"], "100000"),
        // Inputs whose arithmetic overflows.
        (&["expected", "landscape", "--x0", "1e308,1e308"], "1e308"),
        (&["solve", "--widths", "2,10,20", "--x0", "1e308,1e308"], "1e308"),
        (&["solve", "--widths", "2,10,20", "--x0", "1e153,1e153"], "1e153"),
        (&["landscape", "--widths", "2,10,20", "--x0", "1e308,1e308"], "1e308"),
        (
            &["landscape", "census", "--widths", "2,10,20", "--x0", "1e200,-1e200"],
            "1e200",
        ),
    ];
    assert_usage_errors(&dir, cases);
}

/// Malformed values and files across the subcommands.
#[test]
fn malformed_values_and_files_are_refused() {
    let dir = common::scratch_dir("bad_input", "malformed");
    fixtures(&dir);
    let cases: &[(&[&str], &str)] = &[
        (&["--max-memory", "2Q", "expected", "rho"], "2Q"),
        (&["--max-memory=-1G", "expected", "rho"], "-1G"),
        (&["--threads", "abc", "expected", "rho"], "abc"),
        (
            &["--seed", "18446744073709551616", "expected", "rho"],
            "18446744073709551616",
        ),
        (&["--bogus", "expected", "rho"], "--bogus"),
        (
            &["expected", "rho", "--d-max", "18446744073709551616"],
            "18446744073709551616",
        ),
        (&["expected", "landscape", "--range", "inf"], "--range"),
        (&["expected", "landscape", "--range", "nan"], "--range"),
        (&["net", "--weights", "empty.safetensors"], "empty.safetensors"),
        (
            &["net", "--weights", "huge-header.safetensors"],
            "huge-header.safetensors",
        ),
        (&["wdc", "--weights", "corrupt.safetensors"], "corrupt.safetensors"),
        (
            &["net", "--widths", "2,10", "--weights", "corrupt.safetensors"],
            "--weights",
        ),
        (&["wdc", "--widths", "2,10", "--certify", "--tol", "0"], "--tol"),
        (&["wdc", "--widths", "5,10", "--certify"], "--certify"),
        (&["wdc", "--k", "2", "--n", "0"], "--n"),
        (&["rrcp", "--widths", "2,10", "--m", "5,5"], "5"),
        (&["rrcp", "--widths", "2,10", "--constant", "-1"], "-1"),
        (&["rrcp", "--widths", "2,10", "--shard", "3/2"], "3/2"),
        (&["solve", "--widths", "2,10,20", "--method", "bogus"], "bogus"),
        (&["solve", "--widths", "2,10,20", "--snr-db", "inf"], "--snr-db"),
        (&["landscape", "--widths", "2,10,20", "--tau", "2"], "--tau"),
        (&["landscape", "sweep", "--hidden", "10xabc"], "10xabc"),
        (&["landscape", "exact", "--sweep", "--ladder", "10,abc"], "abc"),
        (&["landscape", "exact", "--sweep", "--ladder", "0"], "0"),
        (&["landscape", "exact", "--sweep", "--trials", "0"], "--trials"),
        (&["landscape", "exact", "--sweep", "--min-depth", "2"], "--min-depth"),
        (&["landscape", "exact", "--sweep", "--m", "0"], "--m"),
        (&["landscape", "exact", "--sweep", "--tau", "1.5"], "--tau"),
        (&["landscape", "exact", "--sweep", "--shard", "3/2"], "3/2"),
        (
            &["landscape", "exact", "--widths", "2,10,20", "--shard", "0/2"],
            "--shard",
        ),
        (&["verify", "--only", "C42"], "C42"),
        (&["verify", "--only", "C0", "--from-merged", "merged"], "--from-merged"),
        (
            &["verify", "--only", "C7", "--from-merged", "no-such-merged"],
            "no-such-merged",
        ),
        (
            &["verify", "--only", "C7", "--from-merged", "merged", "--replicates", "2"],
            "--replicates",
        ),
        // A merged folder of another configuration: refused, naming both hashes.
        (
            &["verify", "--only", "C8", "--from-merged", "merged"],
            "config hash 0123abcd",
        ),
        (
            &["verify", "--only", "C9", "--models", "no-such-models"],
            "no-such-models",
        ),
        (&["sweep", "--config", "missing.toml"], "missing.toml"),
        (&["sweep", "--config", "syntax.toml"], "line 2, key `m`"),
        (&["sweep", "--config", "type.toml"], "line 1, key `k`"),
        (&["sweep", "--config", "unknown.toml"], "key `foo`"),
        (&["sweep"], "--config"),
        (&["merge", "no-such-folder"], "no-such-folder"),
        (&["mnist", "train", "--fixture", "--lr", "-1"], "--lr"),
        (
            &["mnist", "reconstruct", "--fixture", "--m", "100", "--figure-m", "300"],
            "300",
        ),
        (
            &[
                "mnist",
                "reconstruct",
                "--fixture",
                "--images",
                "99999",
                "--algorithms",
                "thwf",
            ],
            "99999",
        ),
        (
            &["mnist", "reconstruct", "--data", "nowhere", "--algorithms", "thwf"],
            "nowhere",
        ),
        (&["mnist", "synthetic", "--sparsities", "0"], "--sparsities"),
    ];
    assert_usage_errors(&dir, cases);
}

/// Instance files that do not hold a noiseless instance (a missing tensor, wrong shapes, `b`
/// not `|A G(x0)|`) are refused by every subcommand that reads one, before anything is written
/// (neither the output folder nor the file of `--save-instance`).
#[test]
fn broken_instance_files_are_refused_before_writing() {
    use dpr_audit::core::measure::{MeasurementScale, Measurements};
    use dpr_audit::core::network::{Network, WeightScale};
    use dpr_audit::core::objective::Problem;
    use dpr_audit::rng::{Stream, stream};
    let dir = common::scratch_dir("bad_input", "instances");
    let key = |s| stream(5, "bad-instance", 0, s);
    let net = Network::gaussian(&[2, 10, 20], WeightScale::Normalized, &mut key(Stream::Network));
    let meas = Measurements::gaussian(30, 20, MeasurementScale::Normalized, &mut key(Stream::Measurements));
    let x0 = [0.6, -1.1];
    common::instance_fixtures(&dir, &Problem::noiseless(net, meas, &x0), &x0);
    let subs: [&[&str]; 4] = [
        &["landscape"],
        &["landscape", "census"],
        &["solve"],
        &["landscape", "exact"],
    ];
    let broken = [
        ("missing.safetensors", "missing tensor b"),
        ("shape.safetensors", "A has shape [20, 30]"),
        ("x0.safetensors", "x0 has shape"),
        ("noisy.safetensors", "b[4]"),
        ("absent.safetensors", "absent.safetensors"),
    ];
    let lines: Vec<Vec<&str>> = subs
        .iter()
        .flat_map(|sub| {
            broken.iter().map(move |(file, _)| {
                let mut args = sub.to_vec();
                args.extend_from_slice(&["--instance", file, "--save-instance", "saved.safetensors"]);
                args
            })
        })
        .collect();
    let needles = subs.iter().flat_map(|_| broken.iter().map(|(_, needle)| *needle));
    let cases: Vec<(&[&str], &str)> = lines.iter().map(Vec::as_slice).zip(needles).collect();
    assert_usage_errors(&dir, &cases);
    assert!(!dir.join("saved.safetensors").exists(), "--save-instance wrote a file");
    // --instance replaces the flags that build an instance: giving both is refused.
    assert_usage_errors(
        &dir,
        &[
            (
                &["solve", "--instance", "good.safetensors", "--widths", "2,5"],
                "--widths",
            ),
            (
                &["landscape", "census", "--instance", "good.safetensors", "--m", "9"],
                "--m",
            ),
            (
                &["solve", "--instance", "good.safetensors", "--snr-db", "20"],
                "--snr-db",
            ),
        ],
    );
}

/// How a flag's random values are drawn.
#[derive(Clone, Copy)]
enum Kind {
    /// A size that memory scales with (hostile values include 10^12 and 2^64).
    Size,
    /// An iteration count: time, not memory, so no huge values (a huge count is a long run).
    Iterations,
    /// A real number.
    Real,
    /// Network widths.
    Widths,
    /// A latent code of length 2.
    Code,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A file or folder name.
    File,
    /// A switch without a value.
    Switch,
}

fn values(kind: Kind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        Kind::Size => (
            &["1", "2", "3", "5"],
            &["0", "-1", T, "18446744073709551616", "abc", ""],
        ),
        Kind::Iterations => (&["1", "2", "5"], &["0", "-1", "abc"]),
        Kind::Real => (
            &["0.5", "1", "2", "0.001"],
            &["0", "-1", "nan", "inf", "-inf", "1e-300", "1e308", "abc"],
        ),
        Kind::Widths => (
            &["2,5", "2,5,8", "3,6"],
            &["2,1000000000", "0,5", "2", "", "2,abc", "1000000000000,2"],
        ),
        Kind::Code => (
            &["1,0", "0.5,-1"],
            &["1e308,1e308", "nan,1", "0,0", "1,2,3", "1e153,1e153"],
        ),
        Kind::Choice(words) => (words, &["bogus", ""]),
        Kind::File => (
            &["tiny.toml", "missing.toml", "syntax.toml", "corrupt.safetensors"],
            &[".", ""],
        ),
        Kind::Switch => (&[], &[]),
    }
}

/// A subcommand: its words, flags that keep every run small, and the flags drawn at random.
struct Sub {
    words: &'static [&'static str],
    base: &'static [(&'static str, &'static str)],
    flags: &'static [(&'static str, Kind)],
}

const NET: (&str, Kind) = ("--widths", Kind::Widths);

const SUBS: &[Sub] = &[
    Sub {
        words: &["expected", "rho"],
        base: &[],
        flags: &[("--d-max", Kind::Size)],
    },
    Sub {
        words: &["expected", "landscape"],
        base: &[("--grid", "5")],
        flags: &[
            ("--d", Kind::Size),
            ("--grid", Kind::Size),
            ("--x0", Kind::Code),
            ("--range", Kind::Real),
        ],
    },
    Sub {
        words: &["net"],
        base: &[("--widths", "2,5")],
        flags: &[
            NET,
            ("--weights", Kind::File),
            ("--weight-scale", Kind::Choice(&["unit", "normalized"])),
        ],
    },
    Sub {
        words: &["wdc"],
        base: &[
            ("--widths", "2,5"),
            ("--pairs", "20"),
            ("--refine-steps", "2"),
            ("--no-audit", ""),
        ],
        flags: &[
            NET,
            ("--pairs", Kind::Size),
            ("--refine-starts", Kind::Size),
            ("--refine-steps", Kind::Iterations),
            ("--certify", Kind::Switch),
            ("--tol", Kind::Real),
            ("--trials", Kind::Size),
            ("--domain", Kind::Choice(&["full", "range"])),
        ],
    },
    Sub {
        words: &["rrcp"],
        base: &[
            ("--widths", "2,5"),
            ("--m", "4"),
            ("--tuples", "4"),
            ("--refine-starts", "1"),
            ("--refine-steps", "1"),
        ],
        flags: &[
            NET,
            ("--m", Kind::Size),
            ("--tuples", Kind::Size),
            ("--refine-steps", Kind::Iterations),
            ("--constant", Kind::Real),
            ("--trials", Kind::Size),
            ("--mode", Kind::Choice(&["random", "subspace", "both"])),
            ("--shard", Kind::Choice(&["0/2", "1/2"])),
        ],
    },
    Sub {
        words: &["audit"],
        base: &[("--widths", "2,5"), ("--pairs", "20"), ("--refine-steps", "2")],
        flags: &[NET, ("--pairs", Kind::Size), ("--refine-steps", Kind::Iterations)],
    },
    Sub {
        words: &["solve"],
        base: &[("--widths", "2,5,8"), ("--m", "10"), ("--max-iters", "20")],
        flags: &[
            NET,
            ("--m", Kind::Size),
            ("--restarts", Kind::Size),
            ("--x0", Kind::Code),
            ("--step", Kind::Real),
            ("--snr-db", Kind::Real),
            ("--max-iters", Kind::Iterations),
            ("--method", Kind::Choice(&["dpr", "gd", "adam2"])),
            ("--trace", Kind::Switch),
        ],
    },
    Sub {
        words: &["landscape"],
        base: &[
            ("--widths", "2,5,8"),
            ("--m", "10"),
            ("--grid", "4"),
            ("--origin-directions", "3"),
        ],
        flags: &[
            NET,
            ("--m", Kind::Size),
            ("--grid", Kind::Size),
            ("--x0", Kind::Code),
            ("--range", Kind::Real),
            ("--rays", Kind::Size),
            ("--ray-points", Kind::Size),
            ("--tau", Kind::Real),
            ("--margin", Kind::Real),
        ],
    },
    Sub {
        words: &["landscape", "census"],
        base: &[
            ("--widths", "2,5,8"),
            ("--m", "10"),
            ("--starts", "3"),
            ("--max-iters", "20"),
        ],
        flags: &[
            NET,
            ("--m", Kind::Size),
            ("--starts", Kind::Size),
            ("--x0", Kind::Code),
            ("--max-iters", Kind::Iterations),
            ("--test-directions", Kind::Size),
            ("--cluster-tol", Kind::Real),
        ],
    },
    Sub {
        words: &["landscape", "sweep"],
        base: &[
            ("--hidden", "5x8"),
            ("--m", "10"),
            ("--trials", "1"),
            ("--grid", "3"),
            ("--census-starts", "1"),
            ("--wdc-pairs", "4"),
        ],
        flags: &[
            ("--trials", Kind::Size),
            ("--grid", Kind::Size),
            ("--m", Kind::Size),
            ("--census-starts", Kind::Size),
        ],
    },
    Sub {
        words: &["sweep"],
        base: &[("--config", "tiny.toml")],
        flags: &[
            ("--config", Kind::File),
            ("--shard", Kind::Choice(&["0/2", "1/2", "0/1"])),
        ],
    },
    Sub {
        words: &["merge"],
        base: &[],
        flags: &[],
    },
    Sub {
        words: &["mnist", "synthetic"],
        base: &[
            ("--m", "10"),
            ("--trials", "1"),
            ("--sparsities", "3"),
            ("--no-dpr", ""),
        ],
        flags: &[("--m", Kind::Size), ("--trials", Kind::Size), ("--n", Kind::Size)],
    },
    Sub {
        words: &["verify"],
        base: &[("--only", "C1")],
        flags: &[("--only", Kind::Choice(&["C1", "C0,C1"]))],
    },
];

/// Global flags drawn at random.
const GLOBALS: &[(&str, &[&str])] = &[
    ("--threads", &["0", "1", "2", "100000"]),
    ("--seed", &["1", "7", "18446744073709551615"]),
    ("--max-memory", &["256M", "1K"]),
];

/// A command line for subcommand `sub` from the draws in `picks` (each chooses a flag, whether
/// its value is hostile, and which value).
fn command_line(sub: &Sub, picks: &[(usize, bool, usize)], global: &[usize]) -> Vec<String> {
    let mut flags: Vec<(String, String)> = sub.base.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect();
    for &(which, hostile, index) in picks {
        if sub.flags.is_empty() {
            break;
        }
        let (flag, kind) = sub.flags[which % sub.flags.len()];
        let (plausible, bad) = values(kind);
        let pool = if hostile && !bad.is_empty() { bad } else { plausible };
        let value = if pool.is_empty() { "" } else { pool[index % pool.len()] };
        flags.retain(|(f, _)| f != flag);
        flags.push((flag.to_string(), value.to_string()));
    }
    let mut args = vec!["--out".to_string(), "out".to_string(), "--quiet".to_string()];
    for (i, &(flag, pool)) in GLOBALS.iter().enumerate() {
        if let Some(&g) = global.get(i) {
            args.push(flag.to_string());
            args.push(pool[g % pool.len()].to_string());
        }
    }
    args.extend(sub.words.iter().map(|w| w.to_string()));
    if sub.words == ["merge"] {
        args.push(["out", "no-such-folder", "."][picks.len() % 3].to_string());
    }
    // Switches take no value: the Switch flags and the base flags given without one.
    let is_switch = |flag: &str| {
        sub.flags.iter().any(|(f, k)| *f == flag && matches!(k, Kind::Switch))
            || sub.base.iter().any(|(f, v)| *f == flag && v.is_empty())
    };
    for (flag, value) in flags {
        let switch = is_switch(&flag);
        args.push(flag);
        if !switch {
            args.push(value);
        }
    }
    args
}

/// Fixed-seed proptest configuration: deterministic cases, no regression files written.
fn proptest_config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(5),
        failure_persistence: None,
        ..Config::default()
    }
}

/// The longest one random command line may take: every subcommand runs at a small size (the
/// base flags), so a run past this is a hang, even on a loaded machine.
const ARGV_TIME: Duration = Duration::from_secs(120);

proptest! {
    #![proptest_config(proptest_config(24))]

    /// Random command lines drawn from the real subcommands and flags, with plausible and
    /// hostile values, never crash: exit 0, 1 or 2, never a signal (a panic is 101, an abort
    /// a signal), within the time cap and the address-space limit.
    #[test]
    fn random_command_lines_never_crash(
        sub in 0..SUBS.len(),
        picks in proptest::collection::vec((0..16usize, proptest::bool::weighted(0.4), 0..16usize), 0..4),
        global in proptest::collection::vec(0..8usize, 0..=3),
    ) {
        let dir = common::scratch_dir("bad_input", &format!("argv-{sub}"));
        fixtures(&dir);
        let args = command_line(&SUBS[sub], &picks, &global);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        // The process limit is the suite's, and --max-memory is drawn above or defaulted.
        let mut full = refs.clone();
        if !refs.contains(&"--max-memory") {
            full.splice(0..0, ["--max-memory", GUARD_BUDGET]);
        }
        let guarded = run_guarded(&dir, &full, GUARD_ADDRESS_SPACE, ARGV_TIME);
        let out = guarded.output.unwrap_or_else(|| panic!("{full:?} still ran after {ARGV_TIME:?}"));
        let code = out.status.code();
        prop_assert!(
            matches!(code, Some(0..=2)),
            "{:?}: status {:?}: {}",
            full,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if code == Some(2) {
            prop_assert!(!dir.join("out").exists() || refs.contains(&"--shard"), "{:?} left out/", full);
        }
    }
}

/// `wdc --domain range --certify` (docs/THEORY.md §17.1): only for bias-free ReLU networks with
/// k = 2 and a layer i ≥ 2; a tolerance below the rounding bound, a zero tolerance or budget,
/// and a size whose sectors cannot fit are refused before anything is written.
#[test]
fn range_restricted_certificates_refuse_what_they_do_not_cover() {
    let dir = common::scratch_dir("bad_input", "range");
    common::non_relu_networks(&dir);
    let range = |extra: &'static [&'static str]| -> Vec<&'static str> {
        let mut v = vec!["wdc", "--domain", "range", "--certify", "--no-audit"];
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (range(&["--widths", "3,20,50"]), "k = 2"),
        (range(&["--weights", "biased.safetensors"]), "bias"),
        (range(&["--weights", "smooth.safetensors"]), "softplus"),
        (range(&["--widths", "2,50"]), "i ≥ 2"),
        (range(&["--widths", "2,20,50", "--tol", "1e-9"]), "--tol"),
        (range(&["--widths", "2,20,50", "--tol", "0"]), "--tol"),
        (range(&["--widths", "2,20,50", "--tol", "-0.1"]), "--tol"),
        (range(&["--widths", "2,20,50", "--rel-tol", "0"]), "--rel-tol"),
        (range(&["--widths", "2,20,50", "--budget", "0"]), "--budget"),
        (range(&["--widths", "2,20,50", "--budget", "0s"]), "--budget"),
        (
            range(&["--widths", "2,1600,6400", "--max-memory", "8G"]),
            "range-restricted certificate",
        ),
    ];
    let cases: Vec<(&[&str], &str)> = cases.iter().map(|(a, n)| (a.as_slice(), *n)).collect();
    assert_usage_errors(&dir, &cases);
}
