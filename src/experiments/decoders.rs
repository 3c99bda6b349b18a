//! The decoders the image experiment searches: the two shipped with the repository
//! (`models/vae-decoder.safetensors`, `models/relu-decoder.safetensors`, trained by `dpr-audit
//! mnist train`, see `models/README.md`), checked against `models/SHA256SUMS`, or any
//! safetensors file.
//!
//! A relative models folder is looked up in the working directory first, then in the
//! repository the binary was built from (so `verify` finds the shipped decoders from any
//! working directory of a source checkout).

use std::path::{Path, PathBuf};

use super::reconstruct::Decoder;
use crate::core::weights;
use crate::error::{Error, Result};
use crate::images::mnist::sha256_hex;
use crate::images::vae::DecoderKind;

/// The checksum file beside the shipped decoders (`sha256sum -c` format).
pub const CHECKSUMS: &str = "SHA256SUMS";

/// Which shipped decoders to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DecoderChoice {
    /// Bora et al.'s VAE decoder (softplus, biases, sigmoid output).
    Vae,
    /// The theory-faithful decoder (bias-free ReLU).
    Relu,
    /// Both, VAE first.
    Both,
}

impl DecoderChoice {
    /// The kinds it names, VAE first.
    pub fn kinds(self) -> Vec<DecoderKind> {
        match self {
            DecoderChoice::Vae => vec![DecoderKind::Vae],
            DecoderChoice::Relu => vec![DecoderKind::Relu],
            DecoderChoice::Both => vec![DecoderKind::Vae, DecoderKind::Relu],
        }
    }
}

/// `models` itself when it exists or is absolute; else the same relative path inside the
/// source tree of this build when that exists; else `models` (whose absence the loader
/// reports).
pub fn resolve(models: &Path) -> PathBuf {
    if models.exists() || models.is_absolute() {
        return models.to_path_buf();
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join(models);
    if built_from.exists() {
        built_from
    } else {
        models.to_path_buf()
    }
}

/// The SHA-256 that `dir/SHA256SUMS` lists for `file`, if the file lists it.
fn listed_checksum(dir: &Path, file: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(CHECKSUMS)).ok()?;
    text.lines()
        .filter_map(|l| l.split_once("  "))
        .find(|(_, name)| name.trim() == file)
        .map(|(sum, _)| sum.trim().to_lowercase())
}

/// Loads the shipped decoder `kind` from the folder `models` ([`resolve`]d), refusing a file
/// whose SHA-256 differs from the one `SHA256SUMS` lists for it, or that `SHA256SUMS` does not
/// list (a folder of decoders is always checked; `--weights FILE` loads one unchecked). A
/// missing file is a usage error naming `dpr-audit mnist train`.
pub fn load_shipped(models: &Path, kind: DecoderKind) -> Result<Decoder> {
    let dir = resolve(models);
    let path = dir.join(kind.file_name());
    let bytes = std::fs::read(&path).map_err(|e| Error::MissingInput {
        path: path.clone(),
        source: std::io::Error::new(
            e.kind(),
            format!(
                "{e}; the shipped decoders live in models/ (see models/README.md); retrain them with `dpr-audit mnist train`, or give --weights FILE"
            ),
        ),
    })?;
    let Some(expected) = listed_checksum(&dir, kind.file_name()) else {
        return Err(Error::Weights {
            path,
            reason: format!(
                "no SHA-256 listed for {} in {}; restore {CHECKSUMS} from git, retrain with `dpr-audit mnist train` (it writes one), or load the file unchecked with --weights FILE",
                kind.file_name(),
                dir.join(CHECKSUMS).display()
            ),
        });
    };
    let found = sha256_hex(&bytes);
    if found != expected {
        return Err(Error::Weights {
            path,
            reason: format!(
                "SHA-256 {found} differs from {expected} listed in {CHECKSUMS}; restore the file from git or retrain it with `dpr-audit mnist train`"
            ),
        });
    }
    let loaded = weights::load(&path)?;
    Decoder::new(kind.name(), path.display().to_string(), loaded.net)
}

/// Loads the shipped decoders `choice` names.
pub fn load_choice(models: &Path, choice: DecoderChoice) -> Result<Vec<Decoder>> {
    choice.kinds().into_iter().map(|k| load_shipped(models, k)).collect()
}

/// Loads a decoder from any safetensors file; its name is the file's stem.
pub fn load_file(path: &Path) -> Result<Decoder> {
    let loaded = weights::load(path)?;
    let name = path
        .file_stem()
        .map_or_else(|| "decoder".to_string(), |s| s.to_string_lossy().into_owned());
    Decoder::new(name, path.display().to_string(), loaded.net)
}

/// `--weights FILE` when given, else the shipped decoders of `choice` (default both).
pub fn select(models: &Path, choice: Option<DecoderChoice>, weights: Option<&Path>) -> Result<Vec<Decoder>> {
    match weights {
        Some(path) => Ok(vec![load_file(path)?]),
        None => load_choice(models, choice.unwrap_or(DecoderChoice::Both)),
    }
}
