//! The IDX file format of MNIST (LeCun et al.): a big-endian header, then raw `u8` data.
//!
//! | bytes | images file (`idx3`) | labels file (`idx1`) |
//! |---|---|---|
//! | 0..4 | magic `0x00000803` (`u8` data, 3 dimensions) | magic `0x00000801` (`u8` data, 1 dimension) |
//! | 4..8 | image count `N` | label count `N` |
//! | 8..12 | rows | — |
//! | 12..16 | columns | — |
//! | rest | `N · rows · cols` pixels, image after image, row-major | `N` labels |
//!
//! The readers validate everything: the magic number (which fixes the element type and the
//! number of dimensions), the header length, that the file holds exactly the bytes the header
//! announces (no fewer, no more), labels in `0..=9`, and, through [`check_same_count`], that an
//! images file and a labels file describe the same number of items. Every error is a usage
//! error (exit code 2) that names the file and says how to obtain a good one.

use std::path::Path;

use crate::{Error, Result};

/// Magic number of an IDX file of `u8` data with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of `u8` data with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Header length of an images file: magic and three dimensions, 4 bytes each.
pub const IMAGES_HEADER_LEN: usize = 16;
/// Header length of a labels file: magic and one dimension.
pub const LABELS_HEADER_LEN: usize = 8;

/// The contents of an IDX images file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images `N`.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `N · rows · cols` pixels, image after image, each row-major.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Pixels per image, `rows · cols`.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// The `i`-th image's pixels (row-major). Panics when `i ≥ count`.
    #[track_caller]
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.count, "image {i} of {}", self.count);
        let len = self.image_len();
        &self.pixels[i * len..(i + 1) * len]
    }
}

/// The error for a file whose contents are not what its name promises. `fix` says what to do.
pub(crate) fn bad_file(path: &Path, problem: impl std::fmt::Display, fix: &str) -> Error {
    Error::param("IDX file", path.display(), format!("{problem}; {fix}"))
}

/// Reads a file, naming `fix` when it cannot be read (missing, unreadable).
pub(crate) fn read_bytes(path: &Path, fix: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::MissingInput {
        path: path.to_path_buf(),
        source: std::io::Error::new(e.kind(), format!("{e}; {fix}")),
    })
}

/// The big-endian `u32` header field number `field` (0 = magic).
fn header_field(bytes: &[u8], field: usize) -> usize {
    let start = 4 * field;
    let word = [bytes[start], bytes[start + 1], bytes[start + 2], bytes[start + 3]];
    u32::from_be_bytes(word) as usize
}

/// Checks the magic number, then the header length; `what` names the expected kind of file.
fn check_header(bytes: &[u8], path: &Path, magic: u32, header_len: usize, what: &str, fix: &str) -> Result<()> {
    let short = |len: usize| {
        let problem = format!(
            "{} bytes, shorter than the {len}-byte header of an {what} file",
            bytes.len()
        );
        bad_file(path, problem, fix)
    };
    if bytes.len() < 4 {
        return Err(short(header_len));
    }
    let found = header_field(bytes, 0);
    if found != magic as usize {
        let problem = format!("magic number 0x{found:08x}, expected 0x{magic:08x} ({what} file)");
        return Err(bad_file(path, problem, fix));
    }
    if bytes.len() < header_len {
        return Err(short(header_len));
    }
    Ok(())
}

/// Checks that the data after the header has exactly `expected` bytes.
fn check_data_len(bytes: &[u8], path: &Path, header_len: usize, expected: usize, fix: &str) -> Result<()> {
    let found = bytes.len() - header_len;
    if found != expected {
        let kind = if found < expected {
            "truncated"
        } else {
            "has trailing bytes"
        };
        let problem = format!("{kind}: the header announces {expected} data bytes, the file holds {found}");
        return Err(bad_file(path, problem, fix));
    }
    Ok(())
}

/// Parses the bytes of an IDX images file (`path` only names the file in errors; `fix` says
/// how to get a good file).
pub fn parse_images(bytes: &[u8], path: &Path, fix: &str) -> Result<IdxImages> {
    check_header(
        bytes,
        path,
        IMAGES_MAGIC,
        IMAGES_HEADER_LEN,
        "IDX images (u8, 3 dimensions)",
        fix,
    )?;
    let (count, rows, cols) = (header_field(bytes, 1), header_field(bytes, 2), header_field(bytes, 3));
    let expected = count.checked_mul(rows).and_then(|n| n.checked_mul(cols));
    let expected = expected.ok_or_else(|| bad_file(path, format!("header {count}×{rows}×{cols} overflows"), fix))?;
    check_data_len(bytes, path, IMAGES_HEADER_LEN, expected, fix)?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes[IMAGES_HEADER_LEN..].to_vec(),
    })
}

/// Parses the bytes of an IDX labels file; every label must be a digit `0..=9`.
pub fn parse_labels(bytes: &[u8], path: &Path, fix: &str) -> Result<Vec<u8>> {
    check_header(
        bytes,
        path,
        LABELS_MAGIC,
        LABELS_HEADER_LEN,
        "IDX labels (u8, 1 dimension)",
        fix,
    )?;
    let count = header_field(bytes, 1);
    check_data_len(bytes, path, LABELS_HEADER_LEN, count, fix)?;
    let labels = bytes[LABELS_HEADER_LEN..].to_vec();
    if let Some(pos) = labels.iter().position(|&l| l > 9) {
        let problem = format!("label {} at position {pos} is not a digit 0-9", labels[pos]);
        return Err(bad_file(path, problem, fix));
    }
    Ok(labels)
}

/// Reads and parses an IDX images file.
pub fn read_images(path: &Path, fix: &str) -> Result<IdxImages> {
    parse_images(&read_bytes(path, fix)?, path, fix)
}

/// Reads and parses an IDX labels file.
pub fn read_labels(path: &Path, fix: &str) -> Result<Vec<u8>> {
    parse_labels(&read_bytes(path, fix)?, path, fix)
}

/// Checks that an images file and a labels file hold the same number of items.
pub fn check_same_count(images: &IdxImages, labels: &[u8], labels_path: &Path, fix: &str) -> Result<()> {
    if images.count != labels.len() {
        let problem = format!("{} labels for {} images", labels.len(), images.count);
        return Err(bad_file(labels_path, problem, fix));
    }
    Ok(())
}

/// The bytes of an IDX images file holding `images` (the inverse of [`parse_images`]).
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    let mut out = Vec::with_capacity(IMAGES_HEADER_LEN + images.pixels.len());
    for field in [IMAGES_MAGIC as usize, images.count, images.rows, images.cols] {
        out.extend_from_slice(&(field as u32).to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// The bytes of an IDX labels file holding `labels` (the inverse of [`parse_labels`]).
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LABELS_HEADER_LEN + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = "regenerate it";

    fn sample() -> IdxImages {
        IdxImages {
            count: 3,
            rows: 2,
            cols: 4,
            pixels: (0..24).collect(),
        }
    }

    fn message(r: Result<impl std::fmt::Debug>) -> String {
        let e = r.unwrap_err();
        assert!(e.is_usage(), "{e}");
        e.to_string()
    }

    #[test]
    fn round_trip() {
        let p = Path::new("x");
        let images = sample();
        assert_eq!(parse_images(&encode_images(&images), p, FIX).unwrap(), images);
        assert_eq!(images.image(2), &[16, 17, 18, 19, 20, 21, 22, 23]);
        let labels = vec![7, 2, 1];
        assert_eq!(parse_labels(&encode_labels(&labels), p, FIX).unwrap(), labels);
        check_same_count(&images, &labels, p, FIX).unwrap();
    }

    #[test]
    fn wrong_magic_is_refused_naming_the_file() {
        let p = Path::new("data/mnist/t10k-images-idx3-ubyte");
        // A labels file where an images file is expected, and vice versa.
        let msg = message(parse_images(&encode_labels(&[1, 2]), p, FIX));
        assert!(msg.contains("magic number 0x00000801, expected 0x00000803"), "{msg}");
        assert!(msg.contains("t10k-images-idx3-ubyte") && msg.contains(FIX), "{msg}");
        let msg = message(parse_labels(&encode_images(&sample()), p, FIX));
        assert!(msg.contains("expected 0x00000801"), "{msg}");
    }

    #[test]
    fn truncated_and_overlong_files_are_refused() {
        let p = Path::new("f");
        let bytes = encode_images(&sample());
        let msg = message(parse_images(&bytes[..bytes.len() - 1], p, FIX));
        assert!(
            msg.contains("truncated") && msg.contains("24 data bytes") && msg.contains("holds 23"),
            "{msg}"
        );
        let msg = message(parse_images(&bytes[..10], p, FIX));
        assert!(msg.contains("10 bytes, shorter than the 16-byte header"), "{msg}");
        assert!(message(parse_images(&bytes[..3], p, FIX)).contains("3 bytes"));
        let mut long = encode_labels(&[1, 2, 3]);
        long.push(4);
        assert!(message(parse_labels(&long, p, FIX)).contains("trailing bytes"));
        assert!(message(parse_labels(&[], p, FIX)).contains("0 bytes"));
    }

    #[test]
    fn count_mismatch_and_bad_labels_are_refused() {
        let p = Path::new("labels");
        let msg = message(check_same_count(&sample(), &[1, 2], p, FIX));
        assert!(msg.contains("2 labels for 3 images"), "{msg}");
        let msg = message(parse_labels(&encode_labels(&[1, 10]), p, FIX));
        assert!(msg.contains("label 10 at position 1"), "{msg}");
    }

    #[test]
    fn overflowing_header_is_refused() {
        let mut bytes = encode_images(&sample());
        bytes[4..16].copy_from_slice(&[0xff; 12]);
        let msg = message(parse_images(&bytes, Path::new("f"), FIX));
        assert!(msg.contains("overflows"), "{msg}");
    }

    #[test]
    fn missing_file_names_the_fix() {
        let msg = message(read_images(
            Path::new("/nonexistent/dpr-audit/images"),
            "run the script",
        ));
        assert!(
            msg.contains("/nonexistent/dpr-audit/images") && msg.contains("run the script"),
            "{msg}"
        );
    }
}
