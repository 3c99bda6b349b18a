//! Helpers shared by the end-to-end tests: scratch folders and running the binary.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Each `(args, needle)`: run with `--out out` in `dir`; the contract for bad input is exit
/// code 2, a message on stderr containing `needle`, no output folder and no staging leftovers.
pub fn assert_usage_errors(dir: &Path, cases: &[(&[&str], &str)]) {
    for (args, needle) in cases {
        let mut full = vec!["--out", "out"];
        full.extend_from_slice(args);
        let out = run(dir, &full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} does not name {needle:?}");
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
