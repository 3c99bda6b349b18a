//! End-to-end runs of the `dpr-audit` binary at small sizes: every subcommand, the report
//! format, determinism across thread counts, and the bad-input contract (one-line error
//! naming the value, exit code 2, no output folder left behind).

mod common;
use common::{assert_ok, assert_usage_errors, read, run};

fn scratch(name: &str) -> common::Scratch {
    common::scratch_dir("cli", name)
}

use std::path::Path;

#[test]
fn expected_rho_writes_the_theory_table_and_a_manifest() {
    let dir = scratch("rho");
    let out = run(&dir, &["--quiet", "expected", "rho", "--d-max", "4"]);
    assert_ok(&out);
    let csv = read(&dir.join("reports/expected-rho/rho.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "d,theta_check,rho_cs,rho_pr");
    assert_eq!(lines.len(), 5);
    let d2: Vec<f64> = lines[2].split(',').map(|v| v.parse().unwrap()).collect();
    assert!((d2[3] - 0.6691522942).abs() < 1e-9, "rho_2 = {}", d2[3]);
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&dir.join("reports/expected-rho/manifest.json"))).unwrap();
    assert_eq!(manifest["command"], "expected rho");
    assert_eq!(manifest["parameters"]["d_max"], 4);
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        manifest["command_line"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--d-max")
    );
}

#[test]
fn expected_landscape_grid_and_figure() {
    let dir = scratch("landscape");
    let out = run(
        &dir,
        &[
            "--out",
            "land",
            "--json",
            "expected",
            "landscape",
            "--d",
            "3",
            "--x0",
            "-1,0.5",
            "--grid",
            "11",
            "--range",
            "1.5",
        ],
    );
    assert_ok(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["kind"], "exact");
    assert!(summary["f_at_x0"].as_f64().unwrap().abs() < 1e-15);
    let csv = read(&dir.join("land/landscape.csv"));
    assert_eq!(csv.lines().count(), 1 + 11 * 11);
    assert!(csv.starts_with("d,x0_1,x0_2,x_1,x_2,f_expected,h_norm\n"));
    // The grid is odd, so the origin is a grid point, where h is undefined (empty cell).
    assert!(
        csv.lines()
            .any(|l| l.starts_with("3,-1.0,0.5,0.0,0.0,") && l.ends_with(','))
    );
    let png = std::fs::read(dir.join("land/landscape.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

/// `--figure-format`: `png` and `svg` write only their own file, `both` (the default) both;
/// the PNG bytes are the same with or without the SVG; the manifest lists what was written.
#[test]
fn figure_format_writes_png_svg_or_both_and_lists_them() {
    let dir = scratch("figure-format");
    let land = ["expected", "landscape", "--grid", "11"];
    for (format, out) in [(None, "both"), (Some("png"), "png"), (Some("svg"), "svg")] {
        let mut args = vec!["--quiet", "--out", out];
        if let Some(f) = format {
            args.extend(["--figure-format", f]);
        }
        args.extend(land);
        assert_ok(&run(&dir, &args));
    }
    let listed = |out: &str| -> Vec<String> {
        let manifest: serde_json::Value = serde_json::from_str(&read(&dir.join(out).join("manifest.json"))).unwrap();
        let files = manifest["files"].as_array().unwrap();
        ["landscape.png", "landscape.svg"]
            .into_iter()
            .filter(|f| files.iter().any(|x| x == f))
            .map(String::from)
            .collect()
    };
    assert_eq!(listed("both"), ["landscape.png", "landscape.svg"]);
    assert_eq!(listed("png"), ["landscape.png"]);
    assert_eq!(listed("svg"), ["landscape.svg"]);
    for out in ["both", "png", "svg"] {
        for file in ["landscape.png", "landscape.svg"] {
            let listed = listed(out).iter().any(|f| f == file);
            assert_eq!(dir.join(out).join(file).exists(), listed, "{out}/{file}");
        }
    }
    let png = |out: &str| std::fs::read(dir.join(out).join("landscape.png")).unwrap();
    assert_eq!(png("both"), png("png"), "the PNG does not depend on the SVG beside it");
    let svg = read(&dir.join("svg/landscape.svg"));
    assert!(
        svg.starts_with("<svg") && svg.contains("x_1") && svg.contains("x_2"),
        "axis labels in the SVG"
    );
    assert_eq!(svg, read(&dir.join("both/landscape.svg")));
}

#[test]
fn net_saves_and_reinspects_a_network() {
    let dir = scratch("net");
    let out = run(
        &dir,
        &[
            "--seed",
            "5",
            "--out",
            "a",
            "net",
            "--widths",
            "3,10,12",
            "--save",
            "net.safetensors",
        ],
    );
    assert_ok(&out);
    let again = run(&dir, &["--out", "b", "net", "--weights", "net.safetensors"]);
    assert_ok(&again);
    let a = read(&dir.join("a/layers.csv"));
    let b = read(&dir.join("b/layers.csv"));
    assert!(a.starts_with("source,weight_scale,seed,layer,n_out,n_in,activation,has_bias,expansivity_ratio,weight_mean,weight_std,theory_std\n"));
    // Same statistics from the random network and its file (the source column differs).
    let stats = |s: &str| {
        s.lines()
            .skip(1)
            .map(|l| l.split(',').skip(3).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(stats(&a), stats(&b));
    assert!(String::from_utf8_lossy(&again.stdout).contains("bias-free ReLU"));
}

#[test]
fn verify_quick_writes_summary_and_passes() {
    let dir = scratch("verify");
    // The claims that follow from exact mathematics (C0, C1, C4) or hold with a wide margin on
    // the quick protocol; claims that the measurements refute (e.g. C5 on its quick instances)
    // are a valid FAIL of the audit and are not asserted here.
    let out = run(&dir, &["--quiet", "verify", "--strict", "--only", "C0,C1,C2,C3,C4"]);
    assert_ok(&out);
    let summary = read(&dir.join("reports/verify/SUMMARY.md"));
    assert!(summary.contains("| C0 |") && summary.contains("| C1 |"));
    assert!(!summary.contains("**FAIL**"));
    for file in [
        "C0-expectation-identities/c0_entries.csv",
        "C1-expected-landscape/c1_checks.csv",
        "summary.csv",
        "manifest.json",
    ] {
        assert!(dir.join("reports/verify").join(file).exists(), "{file} missing");
    }
}

#[test]
fn csv_is_byte_identical_across_thread_counts() {
    let dir = scratch("threads");
    for (threads, out) in [("1", "t1"), ("2", "t2")] {
        assert_ok(&run(
            &dir,
            &[
                "--quiet",
                "--seed",
                "9",
                "--threads",
                threads,
                "--out",
                out,
                "verify",
                "--only",
                "C0",
            ],
        ));
    }
    for file in ["C0-expectation-identities/c0_entries.csv", "summary.csv"] {
        assert_eq!(
            read(&dir.join("t1").join(file)),
            read(&dir.join("t2").join(file)),
            "{file}"
        );
    }
    let m1: serde_json::Value = serde_json::from_str(&read(&dir.join("t1/manifest.json"))).unwrap();
    assert_eq!(m1["threads"], 1);
}

/// Each bad input: exit 2, one line on stderr naming the value, and no output folder.
#[test]
fn bad_input_is_a_one_line_error_with_exit_code_2_and_no_output() {
    let dir = scratch("bad");
    std::fs::write(dir.join("corrupt.safetensors"), b"this is not a safetensors file").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["net", "--widths", "20,0,784"], "entry 2 is 0"),
        (&["net", "--widths", "20,abc"], "abc"),
        (&["net", "--widths", "20"], "at least two widths"),
        (&["net"], "--widths"),
        (&["net", "--weights", "missing.safetensors"], "missing.safetensors"),
        (&["net", "--weights", "corrupt.safetensors"], "corrupt.safetensors"),
        (&["expected", "landscape", "--d", "0"], "--d"),
        (&["expected", "landscape", "--grid", "1"], "--grid"),
        (&["expected", "landscape", "--x0", "NaN,1"], "NaN"),
        (&["expected", "landscape", "--x0", "0,0"], "nonzero"),
        (&["expected", "landscape", "--x0", "1,2,3"], "exactly 2"),
        (&["expected", "landscape", "--range", "-1"], "--range"),
        (&["expected", "rho", "--d-max", "0"], "--d-max"),
        (&["expected", "rho", "--d-max", "-3"], "-3"),
        (&["verify", "--only", "C99"], "C99"),
    ];
    assert_usage_errors(&dir, cases);
}

/// Header columns of every CSV file under `dir`, recursively.
fn csv_columns(dir: &Path, into: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            csv_columns(&path, into);
        } else if path.extension().is_some_and(|e| e == "csv") {
            let header = read(&path).lines().next().unwrap_or_default().to_string();
            into.extend(header.split(',').map(|c| (c.to_string(), path.display().to_string())));
        }
    }
}

#[test]
fn every_csv_column_is_documented() {
    let dir = scratch("columns");
    for args in [
        &["--quiet", "expected", "rho"][..],
        &["--quiet", "expected", "landscape", "--grid", "5"],
        &["--quiet", "net", "--widths", "2,5"],
        &[
            "--quiet",
            "--out",
            "reports/landscape",
            "landscape",
            "--widths",
            "4,8,16",
            "--m",
            "10",
            "--grid",
            "5",
            "--rays",
            "1",
            "--ray-points",
            "2",
            "--shells",
            "0.2",
            "--shell-points",
            "2",
            "--origin-directions",
            "2",
        ],
        &["--quiet", "verify"],
        &[
            "--quiet",
            "rrcp",
            "--widths",
            "3,10,20",
            "--m",
            "20,40",
            "--trials",
            "2",
            "--tuples",
            "20",
            "--refine-steps",
            "5",
        ],
        &[
            "--quiet",
            "--out",
            "reports/census",
            "landscape",
            "census",
            "--widths",
            "3,20,60",
            "--m",
            "40",
            "--starts",
            "6",
        ],
        &[
            "--quiet",
            "--out",
            "reports/solve",
            "solve",
            "--widths",
            "3,20,40",
            "--m",
            "30",
            "--method",
            "adam2",
            "--max-iters",
            "20",
            "--select",
            "both",
            "--trace",
        ],
        &[
            "--quiet",
            "--out",
            "reports/wdc-net",
            "wdc",
            "--widths",
            "2,30,40",
            "--pairs",
            "300",
            "--refine-steps",
            "5",
            "--certify",
        ],
        &[
            "--quiet",
            "--out",
            "reports/wdc-scaling",
            "wdc",
            "--k",
            "2,3",
            "--n",
            "10,20,30",
            "--pairs",
            "100",
            "--refine-steps",
            "5",
        ],
        &[
            "--quiet",
            "audit",
            "--widths",
            "3,10,20",
            "--pairs",
            "200",
            "--refine-steps",
            "5",
        ],
        &[
            "--quiet",
            "--out",
            "reports/sweep",
            "sweep",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/verify/sweeps/quick.toml"),
        ],
        &[
            "--quiet",
            "--out",
            "reports/landscape-sweep",
            "landscape",
            "sweep",
            "--hidden",
            "10x30,20x60",
            "--m",
            "30",
            "--trials",
            "2",
            "--grid",
            "5",
            "--census-starts",
            "2",
            "--wdc-pairs",
            "10",
        ],
        &[
            "--quiet",
            "--out",
            "reports/mnist-train",
            "mnist",
            "train",
            "--fixture",
            "--epochs",
            "1",
            "--weights-dir",
            "mnist-models",
        ],
        &[
            "--quiet",
            "--out",
            "reports/mnist-reconstruct",
            "mnist",
            "reconstruct",
            "--fixture",
            "--images",
            "0",
            "--m",
            "50",
            "--restarts",
            "1",
            "--iterations",
            "5",
            "--s-max",
            "17",
        ],
        &[
            "--quiet",
            "--out",
            "reports/mnist-synthetic",
            "mnist",
            "synthetic",
            "--m",
            "30",
            "--trials",
            "1",
            "--sparsities",
            "3",
            "--n",
            "100",
        ],
        &[
            "--quiet",
            "--out",
            "reports/mnist-audit",
            "mnist",
            "audit",
            "--decoder",
            "vae",
            "--pairs",
            "32",
            "--refine-steps",
            "1",
            "--rrcp-m",
            "30",
            "--tuples",
            "8",
            "--rrcp-refine-steps",
            "1",
        ],
    ] {
        assert_ok(&run(&dir, args));
    }
    let doc = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/COLUMNS.md"));
    let mut columns = Vec::new();
    csv_columns(&dir.join("reports"), &mut columns);
    assert!(columns.len() > 20);
    for (column, file) in columns {
        assert!(
            doc.contains(&format!("`{column}`")),
            "column {column} of {file} is not in docs/COLUMNS.md"
        );
    }
}

/// `solve`: DPR recovers a small instance; the JSON has `relative_error`; the CSV files carry
/// one row per run and per selection rule; bad input is refused before any work.
#[test]
fn solve_recovers_and_reports_relative_error() {
    let dir = scratch("solve");
    let out = run(
        &dir,
        &[
            "--json",
            "--out",
            "s",
            "solve",
            "--widths",
            "4,60,240",
            "--m",
            "100",
            "--restarts",
            "2",
            "--select",
            "both",
        ],
    );
    assert_ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = json["relative_error"].as_f64().unwrap();
    assert!(err < 1e-6, "relative error {err}");
    assert_eq!(json["method"], "dpr");
    let runs = read(&dir.join("s/runs.csv"));
    assert_eq!(runs.lines().count(), 3, "{runs}");
    let solutions = read(&dir.join("s/solve.csv"));
    assert!(
        solutions.contains(",objective,") && solutions.contains(",oracle,"),
        "{solutions}"
    );
    assert_usage_errors(
        &dir,
        &[
            (&["solve", "--widths", "4,60,240", "--m", "0"], "--m"),
            (&["solve", "--widths", "4,60,240", "--restarts", "0"], "--restarts"),
            (&["solve", "--widths", "2,30", "--x0", "1,2,3"], "--x0"),
            (&["solve", "--widths", "2,30", "--step", "-1"], "step"),
            (&["solve", "--widths", "2,30", "--grad-tol", "nan"], "--grad-tol"),
        ],
    );
}
