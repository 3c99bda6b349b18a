#!/usr/bin/env python3
"""Builds tests/fixtures/mnist/ from the verified MNIST test files: the first 16 test images
and labels as IDX files (same format as the originals, with the count set to 16).

    bash scripts/fetch-mnist.sh && python3 scripts/make-mnist-fixture.py

Standard library only. Prints the SHA-256 of the two files; src/images/mnist.rs commits them
as FIXTURE_IMAGES_SHA256 / FIXTURE_LABELS_SHA256. MNIST: Y. LeCun and C. Cortes, CC BY-SA 3.0.
"""
import hashlib
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "data" / "mnist"
DST = ROOT / "tests" / "fixtures" / "mnist"
COUNT = 16
# SHA-256 of the originals (docs/DATA.md); the fixture is only made from verified files.
ORIGINALS = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def verified(name):
    data = (SRC / name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != ORIGINALS[name]:
        raise SystemExit(f"{SRC / name}: SHA-256 {digest} differs; rerun bash scripts/fetch-mnist.sh")
    return data


def write(name, data):
    tmp = DST / (name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(DST / name)
    print(hashlib.sha256(data).hexdigest(), name)


def main():
    images = verified("t10k-images-idx3-ubyte")
    labels = verified("t10k-labels-idx1-ubyte")
    magic, _, rows, cols = struct.unpack(">4I", images[:16])
    assert (magic, rows, cols) == (0x803, 28, 28)
    assert struct.unpack(">I", labels[:4])[0] == 0x801
    DST.mkdir(parents=True, exist_ok=True)
    write("t10k-first16-images-idx3-ubyte",
          struct.pack(">4I", 0x803, COUNT, rows, cols) + images[16:16 + COUNT * rows * cols])
    write("t10k-first16-labels-idx1-ubyte", struct.pack(">2I", 0x801, COUNT) + labels[8:8 + COUNT])


if __name__ == "__main__":
    main()
