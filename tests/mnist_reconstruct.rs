//! `dpr-audit mnist reconstruct | synthetic | audit` end to end at tiny sizes on the committed
//! fixture digits and the shipped decoders (found through the source tree from a scratch
//! working directory): the files and their shapes, the rules of the sign without the truth and
//! of Figure 3's blanks as recorded in the CSV files, byte-identical output for 1 and 2
//! threads, and the bad-input contract (exit code 2, a message naming the fix, no folder).

mod common;
use common::{assert_ok, assert_usage_errors, read, run};

use std::path::Path;

use dpr_audit::images::mnist;

/// A tiny protocol: 2 digits, 2 values of m, 2 restarts × 30 Adam iterations, 3 sparsities.
const TINY: &[&str] = &[
    "mnist",
    "reconstruct",
    "--fixture",
    "--images",
    "0,3",
    "--m",
    "60,120",
    "--restarts",
    "2",
    "--iterations",
    "30",
    "--s-max",
    "32",
    "--s-step",
    "15",
    "--figure-m",
    "120",
];

/// Agreement of two numbers printed by the same `f64` arithmetic in another order (a sum of
/// 1024 squares of values of order 1): rounding only.
const SUM_TOL: f64 = 1e-12;

fn scratch(name: &str) -> common::Scratch {
    common::scratch_dir("mnist-reconstruct", name)
}

/// The rows of a CSV file as maps from column name to text.
fn table(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = read(path);
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<_> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header.iter().cloned().zip(r.iter().map(String::from)).collect()
        })
        .collect();
    assert!(lines.count() == rows.len());
    rows
}

fn num(row: &std::collections::HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?}", row[column]))
}

fn tiny_run(dir: &Path, out: &str, threads: &str) {
    let mut args = vec!["--quiet", "--threads", threads, "--out", out];
    args.extend_from_slice(TINY);
    assert_ok(&run(dir, &args));
}

/// `reconstructions.safetensors` holds one unclamped f64 reconstruction and its truth per row
/// of `reconstruct.csv`, in its order: the metadata names each row, the truth is a digit
/// (multiples of 1/255 in [0, 1]), the CSV's `error_padded1024` is recomputed from the tensors
/// to rounding (an 8-bit or clamped copy would miss it by far more), and some reconstruction
/// leaves [0, 1] (what the PNGs hide).
fn full_precision_pixels_match_the_rows(path: &Path, rows: &[std::collections::HashMap<String, String>]) {
    use safetensors::SafeTensors;
    use safetensors::tensor::Dtype;
    let bytes = std::fs::read(path).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["format"], "dpr-audit reconstructions v1");
    let index: Vec<serde_json::Value> = serde_json::from_str(&meta["rows"]).unwrap();
    assert_eq!(index.len(), rows.len());
    let pixels = |name: &str| -> Vec<f64> {
        let view = tensors.tensor(name).unwrap();
        assert_eq!((view.dtype(), view.shape()), (Dtype::F64, &[rows.len(), 32, 32][..]));
        view.data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let (reconstruction, truth) = (pixels("reconstruction"), pixels("truth"));
    for (i, (row, named)) in rows.iter().zip(&index).enumerate() {
        assert_eq!(named["image"].to_string(), row["image"]);
        assert_eq!(named["m"].to_string(), row["m"]);
        assert_eq!(named["algorithm"].as_str().unwrap(), row["algorithm"]);
        assert_eq!(named["selection"].as_str().unwrap(), row["selection"]);
        let (y_hat, y) = (&reconstruction[i * 1024..][..1024], &truth[i * 1024..][..1024]);
        for &v in y {
            assert!(
                (0.0..=1.0).contains(&v) && (v * 255.0 - (v * 255.0).round()).abs() < 1e-9,
                "{v}"
            );
        }
        let error = y_hat.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 1024.0;
        let recorded = num(row, "error_padded1024");
        assert!(
            (error - recorded).abs() <= SUM_TOL * recorded.max(f64::MIN_POSITIVE),
            "row {i}: {error} vs {recorded}"
        );
    }
    assert!(
        reconstruction.iter().any(|v| !(0.0..=1.0).contains(v)),
        "no pixel outside [0, 1]"
    );
}

#[test]
fn tiny_protocol_writes_every_file_with_the_expected_rows() {
    let dir = scratch("files");
    tiny_run(&dir, "r", "2");
    let out = dir.join("r");
    // 2 digits × 2 m × (2 decoders + 3 sparse methods) × 2 selections.
    let rows = table(&out.join("reconstruct.csv"));
    assert_eq!(rows.len(), 2 * 2 * 5 * 2);
    for r in &rows {
        assert_eq!(r["measurement_scale"], "unit");
        let ssim = num(r, "ssim_wang2004_padded32");
        assert!(ssim.is_finite() && ssim <= 1.0, "{r:?}");
        let sparse = r["algorithm"] != "dpr";
        assert_eq!(r["decoder"].is_empty(), sparse);
        assert_eq!(
            !r["sparsity"].is_empty(),
            r["algorithm"] == "sparta" || r["algorithm"] == "copram"
        );
        if r["algorithm"] == "dpr" {
            // DPR's image is zero outside the digit: the two errors differ by 1024/784.
            let (p, o) = (num(r, "error_padded1024"), num(r, "error_original784"));
            assert!((p * 1024.0 - o * 784.0).abs() <= SUM_TOL * p * 1024.0, "{p} {o}");
            assert_eq!(r["restarts"], "2");
        } else {
            assert_eq!((r["restarts"].as_str(), r["wavelet_level"].as_str()), ("1", "2"));
        }
    }
    // 2 digits × 2 m × 2 decoders × 4 runs.
    assert_eq!(table(&out.join("dpr_runs.csv")).len(), 2 * 2 * 2 * 4);
    // 2 digits × 2 m × (3 sparsities × 2 methods + ThWF once).
    assert_eq!(table(&out.join("sparse_sweep.csv")).len(), 2 * 2 * 7);
    // 2 m × (2 decoders + 3 methods) × 2 selections.
    assert_eq!(table(&out.join("figure2.csv")).len(), 2 * 5 * 2);
    let timing = read(&out.join("timing.csv"));
    assert!(timing.starts_with("algorithm,decoder,cells,solves,seconds,seconds_per_solve\n"));
    for png in [
        "figure2_ssim_objective.png",
        "figure2_error_oracle.png",
        "figure3_m120_objective.png",
        "figure3_m120_oracle.png",
    ] {
        let bytes = std::fs::read(out.join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png}");
    }
    assert!(!out.join("figure3_m100_objective.png").exists());
    full_precision_pixels_match_the_rows(&out.join("reconstructions.safetensors"), &rows);
    let manifest: serde_json::Value = serde_json::from_str(&read(&out.join("manifest.json"))).unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f == "reconstructions.safetensors"), "{files:?}");
    assert_eq!(manifest["command"], "mnist reconstruct");
    assert_eq!(manifest["parameters"]["images"], serde_json::json!([0, 3]));
    assert_eq!(
        manifest["parameters"]["protocol"]["sparsities"],
        serde_json::json!([2, 17, 32])
    );
    let decoders = manifest["parameters"]["decoders"].as_array().unwrap();
    assert_eq!(
        (decoders[0]["name"].as_str(), decoders[1]["name"].as_str()),
        (Some("vae"), Some("relu"))
    );
}

#[test]
fn sign_and_blank_rules_hold_in_the_recorded_rows() {
    let dir = scratch("rules");
    tiny_run(&dir, "r", "2");
    let digits = mnist::fixture().unwrap();
    let truth_sq = |image: usize| digits.padded_image(image).iter().map(|v| v * v).sum::<f64>();
    for r in table(&dir.join("r/reconstruct.csv")) {
        // Figure 3's rule: blank exactly when ‖y‖² < ‖ŷ − y‖² = 1024 · error.
        let image: usize = r["image"].parse().unwrap();
        let blank = truth_sq(image) < 1024.0 * num(&r, "error_padded1024");
        assert_eq!(r["blank_is_closer"] == "true", blank, "{r:?}");
    }
    let sweep = table(&dir.join("r/sparse_sweep.csv"));
    let chosen = table(&dir.join("r/reconstruct.csv"));
    for p in &sweep {
        // The sign without the truth: + when the pixel sum is ≥ 0.
        let expected = if num(p, "pixel_sum") >= 0.0 { "1" } else { "-1" };
        assert_eq!(p["sign_by_pixel_sum"], expected, "{p:?}");
        if p["chosen_objective"] == "true" {
            let with_sign = if expected == "1" {
                num(p, "error_padded1024_plus")
            } else {
                num(p, "error_padded1024_minus")
            };
            let row = chosen
                .iter()
                .find(|r| {
                    (&r["image"], &r["m"], &r["algorithm"], r["selection"].as_str())
                        == (&p["image"], &p["m"], &p["algorithm"], "objective")
                })
                .unwrap();
            assert_eq!(row["sparsity"], p["sparsity"]);
            assert!((num(row, "error_padded1024") - with_sign).abs() <= SUM_TOL * with_sign);
            // The oracle picks the better sign of its sparsity: never worse than the rule.
            let oracle = chosen
                .iter()
                .find(|r| {
                    (&r["image"], &r["m"], &r["algorithm"], r["selection"].as_str())
                        == (&p["image"], &p["m"], &p["algorithm"], "oracle")
                })
                .unwrap();
            assert!(num(oracle, "error_padded1024") <= num(row, "error_padded1024") * (1.0 + SUM_TOL));
        }
    }
    // DPR's oracle run is the closest image among its runs, the objective run the lowest f.
    let runs = table(&dir.join("r/dpr_runs.csv"));
    for key in runs
        .iter()
        .map(|r| (r["image"].clone(), r["m"].clone(), r["decoder"].clone()))
    {
        let mine: Vec<_> = runs
            .iter()
            .filter(|r| (r["image"].clone(), r["m"].clone(), r["decoder"].clone()) == key)
            .collect();
        let best = |col: &str| mine.iter().map(|r| num(r, col)).fold(f64::INFINITY, f64::min);
        let oracle = mine.iter().find(|r| r["chosen_by_oracle"] == "true").unwrap();
        let objective = mine.iter().find(|r| r["chosen_by_objective"] == "true").unwrap();
        assert_eq!(num(oracle, "error_padded1024"), best("error_padded1024"));
        assert_eq!(num(objective, "objective_value"), best("objective_value"));
    }
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let dir = scratch("threads");
    tiny_run(&dir, "one", "1");
    tiny_run(&dir, "two", "2");
    for file in ["reconstruct.csv", "figure2.csv", "dpr_runs.csv", "sparse_sweep.csv"] {
        assert_eq!(
            read(&dir.join("one").join(file)),
            read(&dir.join("two").join(file)),
            "{file}"
        );
    }
}

#[test]
fn a_cell_does_not_depend_on_the_grid_around_it() {
    let dir = scratch("grid");
    tiny_run(&dir, "big", "2");
    let mut args = vec!["--quiet", "--out", "small"];
    args.extend_from_slice(TINY);
    let at = args.iter().position(|a| *a == "--images").unwrap();
    args[at + 1] = "3";
    let at = args.iter().position(|a| *a == "--m").unwrap();
    args[at + 1] = "120";
    assert_ok(&run(&dir, &args));
    let big = read(&dir.join("big/reconstruct.csv"));
    let small = read(&dir.join("small/reconstruct.csv"));
    let rows = small.lines().skip(1).collect::<Vec<_>>();
    assert_eq!(rows.len(), 10);
    for line in rows {
        assert!(big.lines().any(|l| l == line), "{line}");
    }
}

#[test]
fn bad_input_is_refused_with_the_fix() {
    let dir = scratch("bad");
    let fixture = ["mnist", "reconstruct", "--fixture"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { fixture.iter().chain(extra).copied().collect() };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (with(&["--images", "14-16"]), "image index = 16"),
        (with(&["--images", "a"]), "0-9"),
        (
            vec!["mnist", "reconstruct", "--data", "no-such-folder"],
            "scripts/fetch-mnist.sh",
        ),
        (with(&["--m", "0"]), "--m"),
        (with(&["--m", "100,100"]), "--m"),
        (with(&["--m", "100000000"]), "at most 16384"),
        (with(&["--images", "0-18446744073709551615"]), "at most 60000"),
        (with(&["--images", "0,0,1"]), "selected once"),
        (with(&["--restarts", "0"]), "--restarts"),
        (with(&["--iterations", "0"]), "--iterations"),
        (with(&["--lr", "-1"]), "--lr"),
        (with(&["--wavelet-level", "6"]), "wavelet level"),
        (with(&["--s-min", "300", "--s-max", "200"]), "sparsity"),
        (with(&["--weights", "missing.safetensors"]), "missing.safetensors"),
        (with(&["--models", "no-models"]), "mnist train"),
        (with(&["--algorithms", "dpr,dpr"]), "--algorithms"),
    ];
    let cases: Vec<(&[&str], &str)> = cases.iter().map(|(a, n)| (a.as_slice(), *n)).collect();
    assert_usage_errors(&dir, &cases);
}

#[test]
fn a_decoder_that_differs_from_its_checksum_is_refused() {
    let dir = scratch("checksum");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for f in ["vae-decoder.safetensors", "relu-decoder.safetensors"] {
        std::fs::copy(shipped.join(f), models.join(f)).unwrap();
    }
    let reconstruct = |decoder: &'static str| {
        [
            "mnist",
            "reconstruct",
            "--fixture",
            "--models",
            "models",
            "--decoder",
            decoder,
        ]
    };
    // Listed checksums that differ from the files; then a SHA256SUMS that lists nothing.
    let sums = read(&shipped.join("SHA256SUMS")).replace(char::is_numeric, "0");
    std::fs::write(models.join("SHA256SUMS"), sums).unwrap();
    assert_usage_errors(&dir, &[(&reconstruct("vae"), "SHA-256")]);
    std::fs::write(models.join("SHA256SUMS"), "").unwrap();
    assert_usage_errors(
        &dir,
        &[(&reconstruct("relu"), "no SHA-256 listed for relu-decoder.safetensors")],
    );
}

#[test]
fn synthetic_and_audit_run_at_tiny_sizes() {
    let dir = scratch("synthetic-audit");
    let out = run(
        &dir,
        &[
            "--quiet",
            "--out",
            "syn",
            "mnist",
            "synthetic",
            "--m",
            "40,300",
            "--trials",
            "2",
            "--sparsities",
            "3",
            "--n",
            "200",
        ],
    );
    assert_ok(&out);
    let rates = table(&dir.join("syn/synthetic.csv"));
    // 3 sparse methods × 1 sparsity × 2 m, then DPR at 2 m.
    assert_eq!(rates.len(), 3 * 2 + 2);
    for r in &rates {
        let (lo, p, hi) = (num(r, "wilson_lo"), num(r, "success_rate"), num(r, "wilson_hi"));
        assert!(lo <= p && p <= hi && (0.0..=1.0).contains(&lo) && hi <= 1.0, "{r:?}");
    }
    assert_eq!(table(&dir.join("syn/synthetic_trials.csv")).len(), 3 * 2 * 2);
    assert!(dir.join("syn/synthetic.png").is_file() && dir.join("syn/dpr_trials.csv").is_file());
    let out = run(
        &dir,
        &[
            "--quiet",
            "--out",
            "aud",
            "mnist",
            "audit",
            "--pairs",
            "64",
            "--refine-steps",
            "2",
            "--rrcp-m",
            "50",
            "--tuples",
            "16",
            "--rrcp-refine-steps",
            "2",
        ],
    );
    assert_ok(&out);
    let md = read(&dir.join("aud/decoder_audit.md"));
    assert!(md.contains("| quantity (kind) | vae | relu | random |"), "{md}");
    let rows = table(&dir.join("aud/decoder_audit.csv"));
    for network in ["vae", "relu", "random"] {
        let eps = rows
            .iter()
            .find(|r| r["network"] == network && r["quantity"] == "rrcp_epsilon_random")
            .unwrap();
        assert_eq!(eps["kind"], "lower_bound");
        assert!(num(eps, "value") > 0.0);
    }
    // The VAE decoder has biases and softplus: the audit says so.
    assert!(
        rows.iter()
            .any(|r| r["network"] == "vae" && r["hypothesis"] == "bias_free" && r["status"] == "fails")
    );
    assert!(
        !rows
            .iter()
            .any(|r| r["network"] == "random" && r["hypothesis"] == "bias_free" && r["status"] == "fails")
    );
}

/// A killed `mnist reconstruct` resumes cell by cell (`--resume`): the rerun without it is
/// refused, and the resumed outputs equal an uninterrupted run's byte for byte.
#[test]
fn a_killed_run_resumes_with_every_cell_exactly_once() {
    let dir = scratch("resume");
    let protocol = [
        "mnist",
        "reconstruct",
        "--fixture",
        "--images",
        "0-5",
        "--m",
        "50,100,200",
        "--restarts",
        "2",
        "--iterations",
        "300",
        "--s-max",
        "62",
    ];
    let with = |out: &'static str, extra: &[&'static str]| -> Vec<&'static str> {
        ["--quiet", "--threads", "2", "--out", out]
            .into_iter()
            .chain(protocol)
            .chain(extra.iter().copied())
            .collect()
    };
    assert_ok(&run(&dir, &with("reference", &[])));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dpr-audit"))
        .args(with("killed", &[]))
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let done = dir.join("killed/shard-0-of-1/done.txt");
    common::wait_for_lines(&mut child, &done, 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let cells_done = read(&done).lines().count();
    assert!(cells_done < 18, "all {cells_done} cells finished before the kill");
    let again = run(&dir, &with("killed", &[]));
    assert_eq!(again.status.code(), Some(2), "{}", common::stderr(&again));
    assert!(common::stderr(&again).contains("--resume"));
    let resumed = run(&dir, &with("killed", &["--resume", "--json"]));
    assert_ok(&resumed);
    let json: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(json["cells_run"].as_u64().unwrap() as usize + cells_done, 18, "{json}");
    for file in ["reconstruct.csv", "dpr_runs.csv", "sparse_sweep.csv", "figure2.csv"] {
        assert!(
            read(&dir.join("reference").join(file)) == read(&dir.join("killed").join(file)),
            "{file} differs after the resume"
        );
    }
    assert_eq!(
        read(&done).lines().count(),
        18,
        "the final outputs keep the working folder, every cell listed once"
    );
}
