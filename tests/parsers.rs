//! The parsers of user files against random and mutated bytes: safetensors weights, IDX
//! images and labels, claim specs and sweep configurations (TOML), and shard folders
//! (`shard.json`, `rows.csv`, `done.txt`, through the entry points `resume` and `merge` use).
//! Each must return (a value or an error) for any input: never panic, never abort.
//!
//! Inputs are valid files (a saved network, the MNIST fixture, the shipped TOML files, a shard
//! folder written by the binary) mutated by bit flips, boundary bytes, huge length fields,
//! insertions, deletions, truncations and TOML tokens, or plain random bytes.
//!
//! The default suite runs a few hundred fixed-seed cases. The long fuzz run is ignored by
//! default; run it with
//!
//! ```sh
//! DPR_FUZZ_SECONDS=600 cargo test --release --test parsers -- --ignored --nocapture
//! ```
//!
//! It reports the number of cases and fails (naming the input kind and saving the input
//! under the system's temp folder) if any parser panics.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dpr_audit::claims::{SPECS, Spec};
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::core::weights;
use dpr_audit::exec::merge::read_folders;
use dpr_audit::exec::store::{ShardManifest, read_rows};
use dpr_audit::images::idx;
use dpr_audit::sweep::config;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The valid files every mutation starts from.
struct Seeds {
    weights: Vec<u8>,
    images: Vec<u8>,
    labels: Vec<u8>,
    tomls: Vec<Vec<u8>>,
    shard: Vec<(&'static str, Vec<u8>)>,
}

/// The parsers, by the kind of input they read.
#[derive(Clone, Copy, Debug)]
enum Target {
    Weights,
    Images,
    Labels,
    SweepConfig,
    ClaimSpec,
    ShardManifest,
    ShardRows,
    ShardDone,
}

const TARGETS: [Target; 8] = [
    Target::Weights,
    Target::Images,
    Target::Labels,
    Target::SweepConfig,
    Target::ClaimSpec,
    Target::ShardManifest,
    Target::ShardRows,
    Target::ShardDone,
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Built once per test process: a saved network, the fixture's IDX files, every shipped TOML
/// file, and the files of a shard folder of a small sharded `rrcp` study.
fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("dpr-audit-parsers-seeds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let net = Network::gaussian(&[2, 5, 7], WeightScale::Normalized, &mut ChaCha8Rng::seed_from_u64(1));
        let weights_path = dir.join("net.safetensors");
        weights::save(&net, &weights_path, &Default::default()).unwrap();
        let out = common::run(
            &dir,
            &[
                "--quiet",
                "--out",
                "study",
                "rrcp",
                "--widths",
                "2,6",
                "--m",
                "4,5",
                "--tuples",
                "2",
                "--refine-starts",
                "1",
                "--refine-steps",
                "1",
                "--trials",
                "2",
                "--shard",
                "0/2",
            ],
        );
        common::assert_ok(&out);
        let shard_dir = dir.join("study/shard-0-of-2");
        let shard = ["shard.json", "rows.csv", "done.txt"]
            .map(|name| (name, std::fs::read(shard_dir.join(name)).unwrap()))
            .to_vec();
        let mut tomls: Vec<Vec<u8>> = SPECS.iter().map(|(_, text)| text.as_bytes().to_vec()).collect();
        for name in ["verify/sweeps/quick.toml", "verify/sweeps/hlv-synthetic.toml"] {
            tomls.push(std::fs::read(repo(name)).unwrap());
        }
        let seeds = Seeds {
            weights: std::fs::read(&weights_path).unwrap(),
            images: std::fs::read(repo("tests/fixtures/mnist/t10k-first16-images-idx3-ubyte")).unwrap(),
            labels: std::fs::read(repo("tests/fixtures/mnist/t10k-first16-labels-idx1-ubyte")).unwrap(),
            tomls,
            shard,
        };
        let _ = std::fs::remove_dir_all(&dir);
        seeds
    })
}

/// Tokens that stress the TOML parser and the checks after it.
const TOML_TOKENS: [&str; 14] = [
    "=",
    "[",
    "]",
    "[[",
    "\"",
    ",",
    "\n",
    "1e309",
    "-1",
    "18446744073709551616",
    "nan",
    "inf",
    "[]",
    "0",
];

/// A random position in `0..len` (0 when empty).
fn at<R: Rng + ?Sized>(rng: &mut R, len: usize) -> usize {
    if len == 0 { 0 } else { rng.random_range(0..len) }
}

/// One random change of `bytes`.
fn mutate_once<R: Rng + ?Sized>(rng: &mut R, bytes: &mut Vec<u8>, text: bool) {
    let len = bytes.len();
    match rng.random_range(0..8) {
        0 if len > 0 => {
            let i = at(rng, len);
            bytes[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = at(rng, len);
            bytes[i] = [0u8, 0xff, 0x7f, 0x80, b'0', b'9'][rng.random_range(0..6)];
        }
        // A length or count field made huge (little- and big-endian: safetensors and IDX).
        2 if len >= 8 => {
            let i = rng.random_range(0..=len - 8);
            let v: u64 = [u64::MAX, 1 << 40, u32::MAX as u64, 1 << 31][rng.random_range(0..4)];
            let b = if rng.random_bool(0.5) {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            bytes[i..i + 8].copy_from_slice(&b);
        }
        3 => {
            let i = at(rng, len + 1).min(len);
            let n = rng.random_range(1..16);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            bytes.splice(i..i, junk);
        }
        4 if len > 0 => {
            let i = at(rng, len);
            let n = rng.random_range(1..=(len - i).min(64));
            bytes.drain(i..i + n);
        }
        5 => bytes.truncate(at(rng, len + 1)),
        6 if len > 0 => {
            let i = at(rng, len);
            let n = rng.random_range(1..=(len - i).min(64));
            let copy = bytes[i..i + n].to_vec();
            let j = at(rng, len);
            bytes.splice(j..j, copy);
        }
        _ if text => {
            let i = at(rng, len + 1).min(len);
            let token = TOML_TOKENS[rng.random_range(0..TOML_TOKENS.len())];
            bytes.splice(i..i, token.bytes());
        }
        _ => {}
    }
}

/// A case for `target`: a seed with a few mutations, or (one time in eight) random bytes.
fn input<R: Rng + ?Sized>(rng: &mut R, target: Target) -> Vec<u8> {
    let s = seeds();
    if rng.random_range(0..8) == 0 {
        let n = rng.random_range(0..256);
        return (0..n).map(|_| rng.random()).collect();
    }
    let mut bytes = match target {
        Target::Weights => s.weights.clone(),
        Target::Images => s.images.clone(),
        Target::Labels => s.labels.clone(),
        Target::SweepConfig | Target::ClaimSpec => s.tomls[rng.random_range(0..s.tomls.len())].clone(),
        Target::ShardManifest => s.shard[0].1.clone(),
        Target::ShardRows => s.shard[1].1.clone(),
        Target::ShardDone => s.shard[2].1.clone(),
    };
    let text = !matches!(target, Target::Weights | Target::Images | Target::Labels);
    for _ in 0..rng.random_range(1..5) {
        mutate_once(rng, &mut bytes, text);
    }
    bytes
}

/// Feeds `bytes` to the parser of `target` (files go to `dir`); it must return.
fn parse(target: Target, bytes: &[u8], dir: &Path) {
    let fix = "a fuzz input";
    let text = String::from_utf8_lossy(bytes);
    match target {
        Target::Weights => {
            let path = dir.join("w.safetensors");
            std::fs::write(&path, bytes).unwrap();
            if let Ok(loaded) = weights::load(&path) {
                // A network that loads is usable: its widths chain.
                let widths = loaded.net.widths();
                assert_eq!(widths.len(), loaded.net.depth() + 1);
            }
        }
        Target::Images => {
            if let Ok(images) = idx::parse_images(bytes, Path::new("images"), fix) {
                assert_eq!(images.count * images.image_len(), bytes.len() - 16);
            }
        }
        Target::Labels => {
            if let Ok(labels) = idx::parse_labels(bytes, Path::new("labels"), fix) {
                assert!(labels.iter().all(|&l| l <= 9));
            }
        }
        Target::SweepConfig => {
            if let Ok(grid) = config::parse(Path::new("fuzz.toml"), &text) {
                assert!(grid.settings.iter().all(|s| s.m >= 1 && !s.layers.is_empty()));
            }
        }
        Target::ClaimSpec => {
            if let Ok(spec) = Spec::parse("fuzz.toml", &text) {
                let _ = spec.params::<serde_json::Value>(false);
                let _ = spec.params::<serde_json::Value>(true);
            }
        }
        Target::ShardManifest | Target::ShardRows | Target::ShardDone => {
            let shard = dir.join("shard-0-of-2");
            std::fs::create_dir_all(&shard).unwrap();
            let replaced = match target {
                Target::ShardManifest => 0,
                Target::ShardRows => 1,
                _ => 2,
            };
            for (i, (name, seed)) in seeds().shard.iter().enumerate() {
                std::fs::write(shard.join(name), if i == replaced { bytes } else { seed }).unwrap();
            }
            let _ = ShardManifest::read(&shard);
            let _ = read_rows(&shard);
            let _ = read_folders(&[shard]);
        }
    }
}

/// Fixed-seed proptest configuration: deterministic cases, no regression files written.
fn proptest_config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(11),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(proptest_config(400))]

    /// Every parser returns on mutated and random inputs (a panic fails the case, and
    /// proptest shrinks the seed that caused it).
    #[test]
    fn parsers_return_on_mutated_and_random_bytes(seed in any::<u64>(), which in 0..TARGETS.len()) {
        let dir = common::scratch_dir("parsers", &format!("prop-{which}"));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let target = TARGETS[which];
        let bytes = input(&mut rng, target);
        parse(target, &bytes, &dir);
    }
}

/// The seeds themselves parse: the mutations start from valid files, so the fuzzing reaches
/// past the first check of each format.
#[test]
fn the_unmutated_seeds_parse() {
    let s = seeds();
    let dir = common::scratch_dir("parsers", "seeds");
    std::fs::write(dir.join("w.safetensors"), &s.weights).unwrap();
    assert!(weights::load(&dir.join("w.safetensors")).is_ok());
    assert!(idx::parse_images(&s.images, Path::new("i"), "").is_ok());
    assert!(idx::parse_labels(&s.labels, Path::new("l"), "").is_ok());
    for (name, text) in SPECS {
        assert!(Spec::parse(name, text).is_ok(), "{name}");
    }
    let quick = String::from_utf8(s.tomls[SPECS.len()].clone()).unwrap();
    assert!(config::parse(Path::new("quick.toml"), &quick).is_ok());
    let shard = dir.join("shard-0-of-2");
    std::fs::create_dir_all(&shard).unwrap();
    for (name, bytes) in &s.shard {
        std::fs::write(shard.join(name), bytes).unwrap();
    }
    let folders = read_folders(&[shard]).unwrap();
    assert_eq!(folders[0].rows.done.len(), 2, "shard 0 of 2 of 4 trials holds two");
}

/// The long fuzz run (see the module docs): `DPR_FUZZ_SECONDS` seconds (default 600) of
/// random and mutated inputs over every parser, from seed `DPR_FUZZ_SEED` (default 1).
#[test]
#[ignore = "a 10-minute fuzz run; see the module docs for the command"]
fn fuzz_parsers_for_a_long_time() {
    let seconds: u64 = std::env::var("DPR_FUZZ_SECONDS").map_or(600, |v| v.parse().unwrap());
    let seed: u64 = std::env::var("DPR_FUZZ_SEED").map_or(1, |v| v.parse().unwrap());
    let dir = common::scratch_dir("parsers", "fuzz");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = std::time::Instant::now();
    let mut cases = [0u64; TARGETS.len()];
    while start.elapsed().as_secs() < seconds {
        let which = rng.random_range(0..TARGETS.len());
        let bytes = input(&mut rng, TARGETS[which]);
        let outcome = std::panic::catch_unwind(|| parse(TARGETS[which], &bytes, &dir));
        if outcome.is_err() {
            let saved = std::env::temp_dir().join(format!("dpr-audit-fuzz-crash-{:?}.bin", TARGETS[which]));
            std::fs::write(&saved, &bytes).unwrap();
            panic!(
                "{:?} panicked after {} cases; input saved to {}",
                TARGETS[which],
                cases.iter().sum::<u64>(),
                saved.display()
            );
        }
        cases[which] += 1;
    }
    let total: u64 = cases.iter().sum();
    println!("fuzz: {total} cases in {seconds} s without a panic (seed {seed})");
    for (target, n) in TARGETS.iter().zip(cases) {
        println!("  {target:?}: {n}");
    }
    assert!(total > 0);
}
