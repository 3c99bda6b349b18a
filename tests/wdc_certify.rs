//! `wdc --certify` for layers with 3 and 4 inputs and `check-certificate`, end to end
//! (docs/THEORY.md §14).

mod common;
use common::{assert_ok, assert_usage_errors, read, run};

fn scratch(name: &str) -> common::Scratch {
    common::scratch_dir("wdc-certify", name)
}

/// The value of `column` in every row of a CSV text whose `kind` is `kind`.
fn column(csv: &str, kind: &str, column: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|cells| cells[at("kind")] == kind)
        .map(|cells| cells[at(column)].parse().unwrap())
        .collect()
}

#[test]
fn bad_certify_options_are_refused_before_anything_is_written() {
    let dir = scratch("bad");
    std::fs::write(dir.join("c.json"), "{}").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["wdc", "--widths", "5,50", "--certify"], "k = 2, 3 or 4"),
        (&["wdc", "--k", "3,5", "--n", "50", "--certify"], "--k = 5"),
        (&["wdc", "--widths", "3,50", "--certify", "--tol", "0"], "--tol"),
        (&["wdc", "--widths", "3,50", "--certify", "--tol", "-0.01"], "--tol"),
        (&["wdc", "--widths", "3,50", "--certify", "--tol", "NaN"], "--tol"),
        (&["wdc", "--widths", "3,50", "--certify", "--rel-tol", "0"], "--rel-tol"),
        (&["wdc", "--widths", "3,50", "--certify", "--budget", "0"], "--budget"),
        (&["wdc", "--widths", "3,50", "--certify", "--budget", "0s"], "--budget"),
        (
            &["wdc", "--widths", "3,50", "--certify", "--budget", "5 parsecs"],
            "--budget",
        ),
        (
            &[
                "wdc",
                "--widths",
                "3,50",
                "--certify",
                "--certificate",
                "missing/c.json",
            ],
            "missing/c.json",
        ),
        (
            &["wdc", "--widths", "2,50", "--certify", "--certificate", "gone/k2.json"],
            "gone/k2.json",
        ),
        (&["check-certificate", "absent.json", "--widths", "3,50"], "absent.json"),
        (&["check-certificate", "c.json", "--widths", "3,50"], "c.json"),
    ];
    assert_usage_errors(&dir, cases);
    assert!(!dir.join("gone").exists());
}

/// `wdc ARGS --certify --no-audit` with 1 and 2 threads, into `t1`, `t2` and the certificate
/// files `c1.json`, `c2.json`.
fn certify_with_one_and_two_threads(dir: &std::path::Path, args: &[&str]) {
    for threads in ["1", "2"] {
        let (out, file) = (format!("t{threads}"), format!("c{threads}.json"));
        let mut all = vec!["--quiet", "--threads", threads, "--out", &out, "wdc"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--certify", "--no-audit", "--certificate", &file]);
        assert_ok(&run(dir, &all));
    }
}

/// The certificate of a 3 → 20 layer: the CSV and the file are byte-identical for 1 and 2
/// threads, the checker accepts the file and refuses it with its largest leaf bound lowered.
#[test]
fn certificates_are_deterministic_and_checked_independently() {
    let dir = scratch("file");
    certify_with_one_and_two_threads(&dir, &["--widths", "3,20", "--pairs", "2000"]);
    assert_eq!(read(&dir.join("t1/wdc.csv")), read(&dir.join("t2/wdc.csv")));
    assert_eq!(read(&dir.join("c1.json")), read(&dir.join("c2.json")));
    let csv = read(&dir.join("t1/wdc.csv"));
    let (lower, upper) = (
        column(&csv, "certified_interval", "lower")[0],
        column(&csv, "certified_interval", "upper")[0],
    );
    assert!(upper - lower <= 1e-2 + 1e-12 && lower > 0.0, "[{lower}, {upper}]");
    // The sampled estimate is a lower bound: it never exceeds the certified upper end.
    assert!(column(&csv, "lower_bound", "lower")[0] <= upper);

    let ok = run(&dir, &["check-certificate", "c1.json", "--widths", "3,20"]);
    assert_ok(&ok);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ACCEPTED"));
    // Another seed draws other weights: refused by their hash.
    let other = run(
        &dir,
        &["--seed", "2", "check-certificate", "c1.json", "--widths", "3,20"],
    );
    assert_eq!(other.status.code(), Some(3));

    let mut file: serde_json::Value = serde_json::from_str(&read(&dir.join("c1.json"))).unwrap();
    let leaves = file["leaf_upper"].as_array_mut().unwrap();
    let worst = (0..leaves.len())
        .max_by(|&a, &b| leaves[a].as_f64().unwrap().total_cmp(&leaves[b].as_f64().unwrap()))
        .unwrap();
    leaves[worst] = serde_json::json!(leaves[worst].as_f64().unwrap() - 1e-4);
    std::fs::write(dir.join("lowered.json"), file.to_string()).unwrap();
    let refused = run(&dir, &["check-certificate", "lowered.json", "--widths", "3,20"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("REFUSED"));
}

/// Over several small layers the sampled-and-refined estimate never exceeds the certified
/// upper end (a defect in either would show here), and k = 4 certifies too.
#[test]
fn the_sampled_estimate_never_exceeds_the_certified_upper_end() {
    let dir = scratch("sampled");
    for (widths, seed) in [("3,6", "1"), ("3,9", "2"), ("3,14", "3"), ("3,20", "4"), ("4,12", "5")] {
        let out_dir = format!("o{seed}");
        let out = run(
            &dir,
            &[
                "--quiet",
                "--seed",
                seed,
                "--out",
                &out_dir,
                "wdc",
                "--widths",
                widths,
                "--certify",
                "--no-audit",
            ],
        );
        assert_ok(&out);
        let csv = read(&dir.join(&out_dir).join("wdc.csv"));
        let sampled = column(&csv, "lower_bound", "lower")[0];
        let upper = column(&csv, "certified_interval", "upper")[0];
        assert!(sampled <= upper, "{widths}: sampled {sampled} > upper {upper}");
    }
}

/// A certified scaling study over k = 2, 3 and two widths: every row is a certified interval
/// with its tolerance, and both laws are fitted to both certified ends (docs/THEORY.md §17.4),
/// with the fitted k–n law's exponents inside their own intervals.
#[test]
fn a_certified_scaling_study_fits_both_ends() {
    let dir = scratch("scaling");
    let out = run(
        &dir,
        &[
            "--quiet",
            "--out",
            "s",
            "wdc",
            "--k",
            "2,3",
            "--n",
            "8,12",
            "--trials",
            "2",
            "--certify",
            "--tol",
            "0.05",
            "--pairs",
            "200",
            "--refine-steps",
            "20",
        ],
    );
    assert_ok(&out);
    let rows = read(&dir.join("s/wdc_scaling.csv"));
    let lower = column(&rows, "certified_interval", "epsilon");
    let upper = column(&rows, "certified_interval", "epsilon_upper");
    let tol = column(&rows, "certified_interval", "tol");
    assert_eq!(lower.len(), 8, "every setting certified: {rows}");
    for ((lo, hi), t) in lower.iter().zip(&upper).zip(&tol) {
        assert!(
            lo <= hi && hi - lo <= t + 1e-12 && *t == 0.05,
            "[{lo}, {hi}] with tol {t}"
        );
    }
    let fits = read(&dir.join("s/wdc_scaling_fits.csv"));
    for series in ["certified_upper", "certified_lower"] {
        let count = |law: &str| {
            fits.lines()
                .filter(|l| l.contains(&format!(",{series},{law},")))
                .count()
        };
        assert_eq!(count("C k^a n^c (ln n)^(1/2)"), 3, "{series}: {fits}");
        assert_eq!(count("C (k ln n / n)^b"), 2, "{series}: {fits}");
    }
    for line in fits.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let [estimate, lo, hi]: [f64; 3] = [5, 6, 7].map(|i| cells[i].parse().unwrap());
        assert!(lo <= estimate && estimate <= hi && cells[8] == "4", "{line}");
    }
}

/// The `k = 2` certificate file of a 2 → 20 layer (docs/THEORY.md §17.9): byte-identical for 1
/// and 2 threads and accepted; refused (exit 3) with a leaf bound lowered, a leaf removed from a
/// refined cell pair and from a single-leaf pair, a cell removed, `upper` lowered, or the
/// weights of another seed; a file the tool did not write is never overwritten (exit 2).
#[test]
fn k2_certificate_files_are_checked_and_tampering_is_refused() {
    let dir = scratch("k2-file");
    let widths = ["--widths", "2,20"];
    certify_with_one_and_two_threads(&dir, &[widths[0], widths[1], "--tol", "2e-3"]);
    assert_eq!(read(&dir.join("c1.json")), read(&dir.join("c2.json")));
    let check = |name: &str, seed: &str| {
        let o = run(&dir, &["--seed", seed, "check-certificate", name, widths[0], widths[1]]);
        (o.status.code(), String::from_utf8_lossy(&o.stdout).to_string())
    };
    let (code, text) = check("c1.json", "1");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ACCEPTED"), "{text}");
    let csv = read(&dir.join("t1/wdc.csv"));
    let original: serde_json::Value = serde_json::from_str(&read(&dir.join("c1.json"))).unwrap();
    assert_eq!(
        original["upper"].as_f64().unwrap(),
        column(&csv, "certified_interval", "upper")[0],
        "the file claims the interval the run reports"
    );
    let (code, text) = check("c1.json", "2");
    assert_eq!(code, Some(3), "another seed's weights: {text}");

    // The search's Lipschitz constant (1 + √2)/(2π) exceeds the checker's 1/π by 0.066, so a
    // bound lowered by 0.1 (h + h′) + 10⁻⁶ is below the checker's bound.
    let lower_by =
        |leaf: &serde_json::Value| 0.1 * (leaf["half"][0].as_f64().unwrap() + leaf["half"][1].as_f64().unwrap()) + 1e-6;
    common::assert_tampering_refused(&dir, "c1.json", lower_by, &|name| check(name, "1"));
    common::assert_foreign_file_kept(&dir, &["wdc", widths[0], widths[1], "--certify", "--no-audit"]);
}
