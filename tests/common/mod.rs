//! Helpers shared by the end-to-end tests: scratch folders and running the binary.
#![allow(dead_code)] // each test file uses a different subset

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fresh, empty scratch folder for one test (`tag` names the test file, `name` the test).
/// It is removed when the test passes and kept when it fails (a panic), for inspection.
pub fn scratch_dir(tag: &str, name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("dpr-audit-{tag}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A scratch folder that removes itself on drop unless the thread is panicking.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;

    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the scratch folder of the failed test: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs the binary with `args` inside `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpr-audit"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The process's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A file's contents (panics naming the path).
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts a zero exit status, showing stderr otherwise.
pub fn assert_ok(out: &Output) {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), stderr(out));
}

/// The address space a bad-input case may use (`RLIMIT_AS`): a refusal needs a few hundred MiB
/// of mostly untouched virtual memory (thread stacks, allocator arenas); any refused size would
/// allocate far more, so a case that allocates before refusing fails.
pub const GUARD_ADDRESS_SPACE: u64 = 1 << 30;
/// The memory budget a bad-input case passes (`--max-memory`), so that refusals do not depend
/// on the machine.
pub const GUARD_BUDGET: &str = "256M";
/// The longest a guarded case may run before it counts as a hang. Refusals take milliseconds;
/// the cap is generous because the test machine may be loaded.
pub const GUARD_TIME: Duration = Duration::from_secs(30);

/// How a guarded run ended.
pub struct Guarded {
    /// The output, if the process exited (or was killed by a signal) within the time cap.
    pub output: Option<Output>,
    /// Wall time until it ended or was killed.
    pub elapsed: Duration,
}

/// Runs the binary with `args` in `dir` under an address-space limit and a time cap; a run
/// past the cap is killed (`output: None`).
pub fn run_guarded(dir: &Path, args: &[&str], address_space: u64, cap: Duration) -> Guarded {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dpr-audit"));
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let limit = libc::rlimit {
        rlim_cur: address_space as libc::rlim_t,
        rlim_max: address_space as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = command.spawn().unwrap();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let elapsed = start.elapsed();
            let output = Output {
                status,
                stdout: stdout.join().unwrap(),
                stderr: stderr.join().unwrap(),
            };
            return Guarded {
                output: Some(output),
                elapsed,
            };
        }
        if start.elapsed() > cap {
            let _ = child.kill();
            let _ = child.wait();
            return Guarded {
                output: None,
                elapsed: start.elapsed(),
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Each `(args, needle)`: run with `--out out` and `--max-memory` [`GUARD_BUDGET`] in `dir`,
/// under [`GUARD_ADDRESS_SPACE`] and [`GUARD_TIME`]; the contract for bad input is exit code 2,
/// one line on stderr containing `needle`, no output folder and no staging leftovers.
pub fn assert_usage_errors(dir: &Path, cases: &[(&[&str], &str)]) {
    for (args, needle) in cases {
        let mut full = vec!["--out", "out"];
        if !args.iter().any(|a| a.starts_with("--max-memory")) {
            full.extend(["--max-memory", GUARD_BUDGET]);
        }
        full.extend_from_slice(args);
        let guarded = run_guarded(dir, &full, GUARD_ADDRESS_SPACE, GUARD_TIME);
        let out = guarded
            .output
            .unwrap_or_else(|| panic!("{args:?} still ran after {:?} (a hang)", GUARD_TIME));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} does not name {needle:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err:?}");
        assert!(!dir.join("out").exists(), "{args:?} left an output folder");
        let leftovers: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{args:?} left {leftovers:?}");
    }
}

/// Waits until `path` has at least `lines` lines (or `child` exits, which fails the test).
pub fn wait_for_lines(child: &mut std::process::Child, path: &Path, lines: usize) {
    let start = std::time::Instant::now();
    loop {
        if std::fs::read_to_string(path).is_ok_and(|t| t.lines().count() >= lines) {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before it could be killed"
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "no trial completed in 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Writes a noiseless instance of `problem` with truth `x0` as `good.safetensors` in `dir`, and
/// four broken copies: `missing.safetensors` (no `b`), `shape.safetensors` (`A` of shape
/// `[n, m]`), `x0.safetensors` (`x0` of shape `[1, k]`) and `noisy.safetensors` (`b[4]` × 1.5,
/// so `b` is not `|A G(x0)|`). `problem` needs at least 5 measurements.
pub fn instance_fixtures(dir: &Path, problem: &dpr_audit::core::objective::Problem, x0: &[f64]) {
    use dpr_audit::core::instance::save_instance;
    use dpr_audit::core::weights::{ExtraTensors, save_with};
    let meta = Default::default();
    save_instance(problem, x0, &dir.join("good.safetensors"), &meta).expect("save");
    let (m, n, k) = (problem.b.len(), problem.net.output_dim(), x0.len());
    let a: Vec<f64> = (0..m)
        .flat_map(|r| (0..n).map(move |c| (r, c)))
        .map(|(r, c)| problem.meas.a[(r, c)])
        .collect();
    let write = |name: &str, tensors: &[(&str, Vec<usize>, Vec<f64>)]| {
        let t: ExtraTensors = tensors
            .iter()
            .map(|(n, s, v)| (n.to_string(), (s.clone(), v.clone())))
            .collect();
        save_with(&problem.net, &dir.join(name), &meta, &t).expect("save");
    };
    let mut wrong_b = problem.b.clone();
    wrong_b[4] *= 1.5;
    write(
        "missing.safetensors",
        &[("A", vec![m, n], a.clone()), ("x0", vec![k], x0.to_vec())],
    );
    write(
        "shape.safetensors",
        &[
            ("A", vec![n, m], a.clone()),
            ("x0", vec![k], x0.to_vec()),
            ("b", vec![m], problem.b.clone()),
        ],
    );
    write(
        "x0.safetensors",
        &[
            ("A", vec![m, n], a.clone()),
            ("x0", vec![1, k], x0.to_vec()),
            ("b", vec![m], problem.b.clone()),
        ],
    );
    write(
        "noisy.safetensors",
        &[
            ("A", vec![m, n], a),
            ("x0", vec![k], x0.to_vec()),
            ("b", vec![m], wrong_b),
        ],
    );
}

/// The CSV without its `source` column (the one column that names where the instance came
/// from: `random` or the file).
pub fn without_source(csv: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = header.iter().position(|h| *h == "source").expect("source column");
    std::iter::once(csv.lines().next().expect("header").to_string())
        .chain(lines.map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != col)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(",")
        }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes two `2-8-12` networks outside the bias-free ReLU class to `dir`:
/// `biased.safetensors` (a bias in layer 1) and `smooth.safetensors` (softplus in layer 1).
pub fn non_relu_networks(dir: &Path) {
    use dpr_audit::core::network::{Activation, Layer, Network};
    use dpr_audit::core::weights::save;
    let layer = |rows: usize, cols: usize, bias: bool, activation: Activation| Layer {
        weight: faer::Mat::from_fn(rows, cols, |i, j| ((i * 3 + j * 5) % 7) as f64 - 3.0),
        bias: bias.then(|| vec![0.5; rows]),
        activation,
    };
    let biased = Network::from_layers(vec![
        layer(8, 2, true, Activation::Relu),
        layer(12, 8, false, Activation::Relu),
    ])
    .expect("net");
    let smooth = Network::from_layers(vec![
        layer(8, 2, false, Activation::Softplus),
        layer(12, 8, false, Activation::Relu),
    ])
    .expect("net");
    save(&biased, &dir.join("biased.safetensors"), &Default::default()).expect("save");
    save(&smooth, &dir.join("smooth.safetensors"), &Default::default()).expect("save");
}

/// An edit of a certificate file.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

/// Refuses (exit 3, REFUSED) the certificate file `original` in `dir` (with `cells` and
/// `leaves`) after each of: one leaf bound of a refined cell pair lowered by `lower_by(leaf)`,
/// a leaf of a refined pair removed, the leaf of a single-leaf pair removed, a cell removed,
/// `upper` lowered by 10⁻³. `check` runs `check-certificate` on a file name.
pub fn assert_tampering_refused(
    dir: &Path,
    original: &str,
    lower_by: fn(&serde_json::Value) -> f64,
    check: &dyn Fn(&str) -> (Option<i32>, String),
) {
    let original: serde_json::Value = serde_json::from_str(&read(&dir.join(original))).unwrap();
    let leaves = original["leaves"].as_array().unwrap();
    let pair = |l: &serde_json::Value| l["cells"].to_string();
    let mut per_pair = std::collections::HashMap::new();
    leaves.iter().for_each(|l| *per_pair.entry(pair(l)).or_insert(0) += 1);
    let refined = leaves
        .iter()
        .position(|l| per_pair[&pair(l)] > 1)
        .expect("the search refined some pair");
    let single = leaves.iter().position(|l| per_pair[&pair(l)] == 1).unwrap();
    let tampered: Vec<(&str, Edit)> = vec![
        (
            "lowered.json",
            Box::new(move |v| {
                let leaf = &mut v["leaves"][refined];
                let b = leaf["bound"].as_f64().unwrap() - lower_by(leaf);
                leaf["bound"] = serde_json::json!(b);
            }),
        ),
        (
            "refined-gone.json",
            Box::new(move |v| {
                v["leaves"].as_array_mut().unwrap().remove(refined);
            }),
        ),
        (
            "single-gone.json",
            Box::new(move |v| {
                v["leaves"].as_array_mut().unwrap().remove(single);
            }),
        ),
        (
            "cell-gone.json",
            Box::new(|v| {
                v["cells"].as_array_mut().unwrap().remove(3);
            }),
        ),
        (
            "upper.json",
            Box::new(|v| {
                let u = v["upper"].as_f64().unwrap();
                v["upper"] = serde_json::json!(u - 1e-3);
            }),
        ),
    ];
    for (name, edit) in &tampered {
        let mut v = original.clone();
        edit(&mut v);
        std::fs::write(dir.join(name), serde_json::to_vec(&v).unwrap()).unwrap();
        let (code, text) = check(name);
        assert_eq!(code, Some(3), "{name}: {text}");
        assert!(text.contains("REFUSED"), "{name}: {text}");
    }
}

/// `wdc_args … --certificate mine.txt` on an existing file the tool did not write: exit 2,
/// the file untouched, no output folder `o2`.
pub fn assert_foreign_file_kept(dir: &Path, wdc_args: &[&str]) {
    std::fs::write(dir.join("mine.txt"), "not a certificate").unwrap();
    let mut args = vec!["--out", "o2"];
    args.extend_from_slice(wdc_args);
    args.extend_from_slice(&["--certificate", "mine.txt"]);
    let o = run(dir, &args);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(read(&dir.join("mine.txt")), "not a certificate");
    assert!(!dir.join("o2").exists());
    assert_certificate_writes_are_safe(dir, wdc_args);
}

/// `wdc_args … --certificate safe.json`: refused (exit 2, naming the holder's pid, nothing
/// written) while another process holds `safe.json.lock`; then written with the lock free, leaving
/// the user's `safe.partial` and `.safe.json.partial` untouched and no staging file or lock behind.
fn assert_certificate_writes_are_safe(dir: &Path, wdc_args: &[&str]) {
    let mine = [("safe.partial", "my notes"), (".safe.json.partial", "my hidden notes")];
    for (name, text) in mine {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut args = vec!["--quiet", "--out", "o3"];
    args.extend_from_slice(wdc_args);
    args.extend_from_slice(&["--certificate", "safe.json"]);
    let holder = std::fs::File::create(dir.join("safe.json.lock")).unwrap();
    holder.lock().unwrap();
    std::fs::write(dir.join("safe.json.lock"), "4242\n").unwrap();
    let o = run(dir, &args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pid 4242"), "{}", stderr(&o));
    assert!(!dir.join("safe.json").exists() && !dir.join("o3").exists());
    drop(holder);
    std::fs::remove_file(dir.join("safe.json.lock")).unwrap();
    assert_ok(&run(dir, &args));
    assert!(read(&dir.join("safe.json")).contains("dpr-audit/"));
    for (name, text) in mine {
        assert_eq!(read(&dir.join(name)), text, "{name} is the user's");
    }
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".safe.json.partial-") || n == "safe.json.lock")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
