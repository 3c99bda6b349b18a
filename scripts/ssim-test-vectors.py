#!/usr/bin/env python3
"""Reference SSIM values for src/images/ssim.rs: an independent NumPy implementation of Wang,
Bovik, Sheikh, Simoncelli (IEEE TIP 2004) as in their MATLAB ssim_index.m, written to
tests/fixtures/ssim/wang2004.json.

    pip install numpy && python3 scripts/ssim-test-vectors.py

The definition (ssim_index.m, no downsampling):
    window = fspecial('gaussian', 11, 1.5)          # exp(-(i^2+j^2)/(2*1.5^2)), i,j in -5..5, / sum
    C1 = (0.01 L)^2, C2 = (0.03 L)^2                # L = data range, given explicitly
    mu1 = filter2(window, img1, 'valid'), mu2 likewise
    sigma1_sq = filter2(window, img1.*img1, 'valid') - mu1.^2, sigma2_sq likewise
    sigma12 = filter2(window, img1.*img2, 'valid') - mu1.*mu2
    map = ((2 mu1 mu2 + C1)(2 sigma12 + C2)) ./ ((mu1^2 + mu2^2 + C1)(sigma1_sq + sigma2_sq + C2))
    mssim = mean(map)
filter2(w, x, 'valid') is the correlation of x with w over the windows that fit inside x;
here it is computed with numpy's sliding_window_view and einsum (a different summation from
the Rust loops). Floats are written with Python's repr (the computed doubles).
"""
import json
import pathlib

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "mnist" / "t10k-first16-images-idx3-ubyte"
OUT = ROOT / "tests" / "fixtures" / "ssim" / "wang2004.json"
SEED = 20040401


def fspecial_gaussian(size=11, sigma=1.5):
    half = (size - 1) / 2
    y, x = np.meshgrid(np.arange(-half, half + 1), np.arange(-half, half + 1), indexing="ij")
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def filter2_valid(window, image):
    windows = sliding_window_view(image, window.shape)
    return np.einsum("ijkl,kl->ij", windows, window)


def ssim_map(img1, img2, data_range):
    window = fspecial_gaussian()
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu1, mu2 = filter2_valid(window, img1), filter2_valid(window, img2)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = filter2_valid(window, img1 * img1) - mu1_sq
    sigma2_sq = filter2_valid(window, img2 * img2) - mu2_sq
    sigma12 = filter2_valid(window, img1 * img2) - mu1_mu2
    return ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))


def fixture_digit(index):
    data = FIXTURE.read_bytes()
    pixels = np.frombuffer(data[16 + 784 * index:16 + 784 * (index + 1)], dtype=np.uint8)
    return np.pad(pixels.reshape(28, 28).astype(np.float64) / 255.0, 2)


def main():
    rng = np.random.default_rng(SEED)
    d0, d1 = fixture_digit(0), fixture_digit(1)
    noisy = np.clip(d0 + 0.1 * rng.standard_normal(d0.shape), 0.0, 1.0)
    cases = [
        ("digit0-vs-digit1", d0, d1, 1.0),
        ("digit0-vs-noisy-digit0", d0, noisy, 1.0),
        ("digit0-vs-blank", d0, np.zeros_like(d0), 1.0),
        ("uniform-pair", rng.uniform(size=(32, 32)), rng.uniform(size=(32, 32)), 1.0),
        ("rect-28x40-range-255", rng.uniform(0, 255, (28, 40)), rng.uniform(0, 255, (28, 40)), 255.0),
    ]
    doc = {
        "generator": "scripts/ssim-test-vectors.py",
        "numpy_version": np.__version__,
        "definition": "Wang et al. 2004, ssim_index.m: Gaussian 11x11 sigma 1.5 (sum 1), K1 0.01, K2 0.03, "
        "valid windows, population moments, mean of the map",
        "cases": [],
    }
    for name, x, y, data_range in cases:
        m = ssim_map(x, y, data_range)
        doc["cases"].append({
            "name": name,
            "rows": x.shape[0],
            "cols": x.shape[1],
            "data_range": data_range,
            "x": x.ravel().tolist(),
            "y": y.ravel().tolist(),
            "mean_ssim": float(m.mean()),
            "map": m.ravel().tolist(),
        })
        print(f"{name}: mean SSIM {m.mean():.12f}, map {m.shape}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
