#!/usr/bin/env python3
"""Reference values for src/images/wavelet.rs, computed with PyWavelets (the reference
implementation named in docs/DATA.md) and written to tests/fixtures/wavelet/db4-periodization.json.

    pip install PyWavelets numpy && python3 scripts/wavelet-test-vectors.py

For each input x (32x32, row-major) and level L the file holds
    pywt.coeffs_to_array(pywt.wavedec2(x, 'db4', mode='periodization', level=L))[0].ravel()
which is the coefficient layout documented in src/images/wavelet.rs. Floats are written with
Python's repr (shortest round-trip form), so the stored values are the computed doubles.
Inputs: the first MNIST test digit (from the committed fixture, pixel / 255, zero-padded to
32x32 with 2 zero rows/columns on each side) and a deterministic pseudo-random array.
Levels above pywt.dwt_max_level(32, 8) = 2 make PyWavelets warn about boundary effects; they
are still exact periodized transforms and are kept as test vectors for the wrap-around.
"""
import json
import pathlib
import warnings

import numpy as np
import pywt

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "mnist" / "t10k-first16-images-idx3-ubyte"
OUT = ROOT / "tests" / "fixtures" / "wavelet" / "db4-periodization.json"
SEED = 20180601


def fixture_digit(index):
    data = FIXTURE.read_bytes()
    pixels = np.frombuffer(data[16 + 784 * index:16 + 784 * (index + 1)], dtype=np.uint8)
    return np.pad(pixels.reshape(28, 28).astype(np.float64) / 255.0, 2)


def coefficients(x, level):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the boundary-effect warning for levels > 2
        coeffs = pywt.wavedec2(x, "db4", mode="periodization", level=level)
    array, _ = pywt.coeffs_to_array(coeffs)
    assert array.shape == (32, 32)
    return array.ravel().tolist()


def main():
    inputs = [
        ("mnist-test-0-padded", fixture_digit(0), [1, 2, 3]),
        (f"normal-seed-{SEED}", np.random.default_rng(SEED).standard_normal((32, 32)), [1, 2, 3, 5]),
    ]
    doc = {
        "generator": "scripts/wavelet-test-vectors.py",
        "pywt_version": pywt.__version__,
        "numpy_version": np.__version__,
        "wavelet": "db4",
        "mode": "periodization",
        "dwt_max_level_32_8": pywt.dwt_max_level(32, 8),
        "layout": "pywt.coeffs_to_array(pywt.wavedec2(x, 'db4', mode='periodization', level=L))[0], row-major",
        "dec_lo": pywt.Wavelet("db4").dec_lo,
        "inputs": [
            {
                "name": name,
                "image": x.ravel().tolist(),
                "levels": [{"level": level, "coeffs": coefficients(x, level)} for level in levels],
            }
            for name, x, levels in inputs
        ],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
