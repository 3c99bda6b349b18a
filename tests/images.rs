//! The image building blocks against reference values: MNIST files against docs/DATA.md (skipped
//! with a note when `data/mnist/` is absent; `bash scripts/fetch-mnist.sh` fetches it), bad
//! files, the db4 transform against PyWavelets (`scripts/wavelet-test-vectors.py`) and for
//! orthogonality, SSIM against an independent NumPy implementation of Wang et al. 2004
//! (`scripts/ssim-test-vectors.py`).

mod common;

use std::path::{Path, PathBuf};

use dpr_audit::images::mnist::{self, Split};
use dpr_audit::images::ssim::{ssim_map_wang2004, ssim_wang2004, ssim_wang2004_padded};
use dpr_audit::images::wavelet::{Db4Transform, MAX_LEVEL};
use dpr_audit::images::{PADDED_PIXELS, idx};
use serde_json::Value;

/// Agreement with PyWavelets: both sides apply the same 8-tap filters in a different order;
/// coefficients are of order 10 at most, so differences are a few ulps of that.
const PYWT_TOL: f64 = 1e-12;
/// Orthogonality `‖ΨᵀΨ − I‖_max`: dot products of 1024-vectors of unit norm.
const ORTHO_TOL: f64 = 1e-12;
/// Agreement with the NumPy SSIM: same formula, different summation order; the map's
/// denominators are at least `C1 · C2 ≈ 1e-8`, so rounding differences stay far below this.
const SSIM_TOL: f64 = 1e-10;
/// docs/DATA.md rounds the pixel mean and std to 4 decimals: a correct value lies within half a
/// unit of the last place of the rounded one.
const DATA_MD_ROUNDING: f64 = 5e-5;
/// Agreement with NumPy's mean/std of the same verified files (float64, pairwise sums).
const NUMPY_STATS_TOL: f64 = 1e-12;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_json(name: &str) -> Value {
    let path = repo().join("tests/fixtures").join(name);
    serde_json::from_str(&common::read(&path)).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// The full MNIST folder when all four files are present, else `None` after a printed note.
fn full_data() -> Option<PathBuf> {
    let dir = repo().join(mnist::DEFAULT_DIR);
    let all = [Split::Train, Split::Test]
        .iter()
        .all(|s| dir.join(s.images_file().name).is_file() && dir.join(s.labels_file().name).is_file());
    if !all {
        eprintln!(
            "note: {} absent; full-MNIST checks skipped (run `{}`)",
            dir.display(),
            mnist::FETCH_COMMAND
        );
    }
    all.then_some(dir)
}

#[test]
fn fixture_labels_are_the_first_test_labels() {
    let d = mnist::fixture().unwrap();
    assert_eq!(&d.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert_eq!(d.source_index(15), 15);
}

#[test]
fn full_mnist_matches_data_md() {
    let Some(dir) = full_data() else { return };
    // (split, count, first labels, docs/DATA.md mean, docs/DATA.md std, NumPy mean, NumPy std); the NumPy
    // values are x.mean() and x.std() of all pixels / 255 of the verified files.
    let cases = [
        (
            Split::Train,
            60_000,
            [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
            0.1307,
            0.3081,
            0.1306604762738429,
            0.30810780385646264,
        ),
        (
            Split::Test,
            10_000,
            [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
            0.1325,
            0.3105,
            0.13251460584233696,
            0.3104802479305351,
        ),
    ];
    for (split, count, first, mean_md, std_md, mean_np, std_np) in cases {
        let d = mnist::load(&dir, split).unwrap();
        assert_eq!(d.len(), count, "{split:?}");
        assert_eq!(&d.labels()[..10], &first, "{split:?}");
        let (mean, std) = d.pixel_mean_std();
        assert!((mean - mean_md).abs() <= DATA_MD_ROUNDING, "{split:?} mean {mean}");
        assert!((std - std_md).abs() <= DATA_MD_ROUNDING, "{split:?} std {std}");
        assert!(
            (mean - mean_np).abs() <= NUMPY_STATS_TOL,
            "{split:?} mean {mean} vs {mean_np}"
        );
        assert!(
            (std - std_np).abs() <= NUMPY_STATS_TOL,
            "{split:?} std {std} vs {std_np}"
        );
    }
}

#[test]
fn fixture_equals_the_start_of_the_full_test_split() {
    let Some(dir) = full_data() else { return };
    let full = mnist::load(&dir, Split::Test).unwrap();
    let fixture = mnist::fixture().unwrap();
    let indices: Vec<usize> = (0..mnist::FIXTURE_LEN).collect();
    let head = full.select(&indices).unwrap();
    assert_eq!(head.raw_pixels(), fixture.raw_pixels());
    assert_eq!(head.labels(), fixture.labels());
    let e = full.select(&[10_000]).unwrap_err();
    assert!(e.to_string().contains("use indices 0 to 9999"), "{e}");
}

/// The fixture's images as an IDX record.
fn fixture_idx() -> idx::IdxImages {
    let d = mnist::fixture().unwrap();
    idx::IdxImages {
        count: d.len(),
        rows: 28,
        cols: 28,
        pixels: d.raw_pixels().to_vec(),
    }
}

/// Writes the test split's two files into a scratch folder, the images file as `images`.
fn scratch_split(name: &str, images: &[u8]) -> common::Scratch {
    let dir = common::scratch_dir("images", name);
    let labels = idx::encode_labels(mnist::fixture().unwrap().labels());
    std::fs::write(dir.join(Split::Test.images_file().name), images).unwrap();
    std::fs::write(dir.join(Split::Test.labels_file().name), labels).unwrap();
    dir
}

/// The message of the usage error that loading the test split from `dir` must give.
fn load_error(dir: &Path) -> String {
    let e = mnist::load(dir, Split::Test).unwrap_err();
    assert!(e.is_usage(), "{e}");
    e.to_string()
}

#[test]
fn missing_files_name_the_fetch_script() {
    let msg = load_error(&common::scratch_dir("images", "missing"));
    assert!(
        msg.contains("bash scripts/fetch-mnist.sh") && msg.contains("t10k-images-idx3-ubyte"),
        "{msg}"
    );
}

#[test]
fn corrupt_or_truncated_files_fail_the_checksum() {
    let fixture_images = idx::encode_images(&fixture_idx());
    // A valid IDX file that is not the original, and a truncated one.
    for (name, bytes) in [("corrupt", &fixture_images[..]), ("truncated", &fixture_images[..100])] {
        let msg = load_error(&scratch_split(name, bytes));
        assert!(
            msg.contains("SHA-256") && msg.contains("0fa7898d509279e4"),
            "{name}: {msg}"
        );
        assert!(
            msg.contains("t10k-images-idx3-ubyte") && msg.contains("bash scripts/fetch-mnist.sh"),
            "{msg}"
        );
    }
}

#[test]
fn bad_idx_files_on_disk_are_refused() {
    let d = mnist::fixture().unwrap();
    let images = fixture_idx();
    let good = idx::encode_images(&images);
    let dir = common::scratch_dir("images", "bad-idx");
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "wrong-magic",
            idx::encode_labels(d.labels()),
            "magic number 0x00000801, expected 0x00000803",
        ),
        ("truncated", good[..good.len() - 784].to_vec(), "truncated"),
        ("long", [&good[..], &[0]].concat(), "trailing bytes"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = idx::read_images(&path, "fix it").unwrap_err();
        let msg = e.to_string();
        assert!(e.is_usage() && msg.contains(needle) && msg.contains(name), "{msg}");
    }
    let labels_path = dir.join("labels");
    std::fs::write(&labels_path, idx::encode_labels(&d.labels()[..15])).unwrap();
    let labels = idx::read_labels(&labels_path, "fix it").unwrap();
    let e = idx::check_same_count(&images, &labels, &labels_path, "fix it").unwrap_err();
    assert!(e.to_string().contains("15 labels for 16 images"), "{e}");
}

#[test]
fn db4_is_orthogonal_at_every_level() {
    for level in 1..=MAX_LEVEL {
        let t = Db4Transform::new(level).unwrap();
        let psi_rows = t.matrix();
        let psi = faer::Mat::from_fn(PADDED_PIXELS, PADDED_PIXELS, |r, c| psi_rows[r * PADDED_PIXELS + c]);
        let gram = psi.transpose() * &psi;
        let mut worst: f64 = 0.0;
        for i in 0..PADDED_PIXELS {
            for j in 0..PADDED_PIXELS {
                let target = if i == j { 1.0 } else { 0.0 };
                worst = worst.max((gram[(i, j)] - target).abs());
            }
        }
        assert!(worst <= ORTHO_TOL, "level {level}: ‖ΨᵀΨ − I‖_max = {worst:e}");
    }
}

#[test]
fn db4_inverse_is_the_transpose() {
    let t = Db4Transform::default();
    let psi = t.matrix();
    let mut unit = vec![0.0; PADDED_PIXELS];
    for r in 0..PADDED_PIXELS {
        unit[r] = 1.0;
        let row = t.inverse(&unit); // Ψᵀ e_r = row r of Ψ
        unit[r] = 0.0;
        let diff = max_abs_diff(&row, &psi[r * PADDED_PIXELS..(r + 1) * PADDED_PIXELS]);
        assert!(diff <= 1e-15, "row {r}: {diff:e}");
    }
}

#[test]
fn db4_matches_pywavelets() {
    let doc = fixture_json("wavelet/db4-periodization.json");
    assert_eq!(doc["dwt_max_level_32_8"].as_u64(), Some(2));
    let mut checked = 0;
    for input in doc["inputs"].as_array().unwrap() {
        let image = floats(&input["image"]);
        for case in input["levels"].as_array().unwrap() {
            let level = case["level"].as_u64().unwrap() as usize;
            let t = Db4Transform::new(level).unwrap();
            let coeffs = t.forward(&image);
            let diff = max_abs_diff(&coeffs, &floats(&case["coeffs"]));
            assert!(diff <= PYWT_TOL, "{} level {level}: {diff:e}", input["name"]);
            let back = max_abs_diff(&t.inverse(&coeffs), &image);
            assert!(
                back <= PYWT_TOL,
                "{} level {level}: reconstruction {back:e}",
                input["name"]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 7);
}

#[test]
fn ssim_matches_the_numpy_reference() {
    let doc = fixture_json("ssim/wang2004.json");
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let (rows, cols) = (
            case["rows"].as_u64().unwrap() as usize,
            case["cols"].as_u64().unwrap() as usize,
        );
        let range = case["data_range"].as_f64().unwrap();
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let map = ssim_map_wang2004(&x, &y, rows, cols, range).unwrap();
        assert_eq!((map.rows, map.cols), (rows - 10, cols - 10));
        let diff = max_abs_diff(&map.values, &floats(&case["map"]));
        assert!(diff <= SSIM_TOL, "{}: map {diff:e}", case["name"]);
        let mean = ssim_wang2004(&x, &y, rows, cols, range).unwrap();
        let expected = case["mean_ssim"].as_f64().unwrap();
        assert!(
            (mean - expected).abs() <= SSIM_TOL,
            "{}: {mean} vs {expected}",
            case["name"]
        );
    }
}

#[test]
fn ssim_of_an_image_with_itself_is_one_and_ssim_is_symmetric() {
    let d = mnist::fixture().unwrap();
    for i in 0..d.len() {
        let (x, y) = (d.padded_image(i), d.padded_image((i + 1) % d.len()));
        let same = ssim_wang2004_padded(&x, &x);
        assert!((same - 1.0).abs() <= 1e-12, "digit {i}: {same}");
        let (xy, yx) = (ssim_wang2004_padded(&x, &y), ssim_wang2004_padded(&y, &x));
        assert!((xy - yx).abs() <= 1e-15 && xy < 0.9, "digit {i}: {xy} {yx}");
    }
}
