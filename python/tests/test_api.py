"""Tests of the Python package: every API function at small sizes, bad input, and equality
with the command line on the same seed.

The CLI comparisons run the binary `target/release/dpr-audit` of this checkout (or the one
named by DPR_AUDIT_BIN); build it first with `cargo build --release`.
"""

import csv
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import dpr_audit as da

REPO = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("DPR_AUDIT_BIN", REPO / "target" / "release" / "dpr-audit"))


def cli(tmp_path, *args):
    """Runs the CLI into a fresh folder under tmp_path; returns that folder."""
    assert CLI.exists(), f"{CLI} is missing: run `cargo build --release` first (or set DPR_AUDIT_BIN)"
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
    subprocess.run([str(CLI), "--quiet", "--out", str(out), *map(str, args)], check=True,
                   capture_output=True, text=True)
    return out


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def small_network(seed=3):
    return da.Network.random([2, 30, 60], seed=seed)


# --- Network -------------------------------------------------------------------------------

def test_network_accepts_float32_fortran_noncontiguous_and_integer_arrays():
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(30, 2))
    w2 = rng.normal(size=(40, 30))
    reference = da.Network([w1, w2])
    as_f32 = da.Network([w1.astype(np.float32), w2.astype(np.float32)])
    fortran = da.Network([np.asfortranarray(w1), np.asfortranarray(w2)])
    big = np.zeros((60, 4))
    big[::2, ::2] = w1
    strided = da.Network([big[::2, ::2], w2])
    assert not big[::2, ::2].flags.c_contiguous
    integer = da.Network([np.arange(60).reshape(30, 2), np.ones((40, 30), dtype=np.int64)])
    for net in (fortran, strided):
        for a, b in zip(net.weights, reference.weights):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(as_f32.weights, reference.weights):
        np.testing.assert_array_equal(a, b.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(integer.weights[0], np.arange(60).reshape(30, 2).astype(float))
    assert reference.widths == [2, 30, 40]
    assert reference.activations == ["relu", "relu"]


def test_network_generate_is_relu_of_the_products():
    rng = np.random.default_rng(1)
    w1, w2 = rng.normal(size=(5, 2)), rng.normal(size=(7, 5))
    b1 = rng.normal(size=5)
    net = da.Network([w1, w2], biases=[b1, None], activations=["relu", "identity"])
    x = np.array([0.3, -1.2])
    expected = w2 @ np.maximum(w1 @ x + b1, 0.0)
    np.testing.assert_allclose(net.generate(x), expected, rtol=1e-12, atol=1e-12)


def test_random_network_is_the_cli_network_and_survives_save_and_load(tmp_path):
    net = da.Network.random([2, 20, 40], seed=7)
    out = cli(tmp_path, "--seed", 7, "net", "--widths", "2,20,40", "--save", tmp_path / "cli.safetensors")
    assert out.exists()
    from_cli = da.Network.load(tmp_path / "cli.safetensors")
    for a, b in zip(net.weights, from_cli.weights):
        np.testing.assert_array_equal(a, b)
    net.save(tmp_path / "py.safetensors")
    again = da.Network.load(tmp_path / "py.safetensors")
    for a, b in zip(net.weights, again.weights):
        np.testing.assert_array_equal(a, b)
    assert again.widths == [2, 20, 40]


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "weights, message",
    [
        ([np.array([[1.0, np.nan]] * 3)], "finite"),
        ([np.array([[1.0, np.inf]] * 3)], "finite"),
        ([np.ones((3, 2)), np.ones((4, 5))], "W1 is 3x2 but W2 is 4x5"),
        ([np.ones(3)], "shape"),
        ([np.ones((3, 2, 1))], "shape"),
        ([np.ones((3, 2), dtype=complex)], "complex"),
        ([np.array([[1, "a"]], dtype=object)], "object"),
        ([np.ones((0, 2))], "widths must be positive"),
        (np.ones((3, 2)), "list of 2-dimensional arrays"),
    ],
)
def test_bad_weights_raise_value_error_with_the_message(weights, message):
    with pytest.raises(ValueError, match=message):
        da.Network(weights)


def test_bad_arguments_raise_value_error_naming_the_parameter():
    net = small_network()
    rng = np.random.default_rng(2)
    a = rng.normal(size=(50, 60)) / math.sqrt(50)
    cases = [
        (lambda: da.Network([np.ones((3, 2))], activations=["tanh"]), "activations"),
        (lambda: da.Network.random([2, 0, 3]), "width"),
        (lambda: da.Network.random([2, 3], weight_scale="huge"), "weight_scale"),
        (lambda: da.rrcp(net, a[:, :10]), r"shape \(m, 60\)"),
        (lambda: da.rrcp(net, np.where(a > 0, np.nan, a)), "finite"),
        (lambda: da.rrcp(net, a, refine_starts=10, tuples=5), "refine_starts"),
        (lambda: da.rrcp(net, a.astype(complex)), "complex"),
        (lambda: da.solve(net, a, np.ones(49)), "one amplitude per row"),
        (lambda: da.solve(net, a, np.full(50, np.inf)), "finite"),
        (lambda: da.solve(net, a, np.ones(50), method="newton"), "method"),
        (lambda: da.wdc(da.Network.random([5, 30]), certify=True), "certify"),
        (lambda: da.wdc(np.ones((20, 2)), certify=True, tol=1e-12), "rounding margin"),
        (lambda: da.wdc(net, pairs=0), "pairs"),
        (lambda: da.wdc(net, threads=10**6), "threads"),
        (lambda: da.expected_rho(0), "d"),
        (lambda: da.expected_landscape(x0=(0.0, 0.0)), "nonzero"),
        (lambda: da.expected_landscape(x0=(1.0, 0.0, 0.0)), "two numbers"),
        (lambda: da.audit("not a network"), "Network"),
        (lambda: da.Network.load("/nonexistent/net.safetensors"), "cannot read"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


# --- the studies ---------------------------------------------------------------------------

def test_wdc_certifies_a_two_input_layer_and_the_bound_lies_in_the_interval():
    w = np.random.default_rng(1).normal(0, 0.1, (200, 2))
    result = da.wdc(w, certify=True)
    assert result.kind == "certified_interval"
    lower, upper = result.interval(1)
    assert 0 < lower <= upper <= lower + 1e-3 + 1e-9
    # A sampled lower bound can never exceed the certified upper end.
    assert result.lower_bound(1) <= upper + 1e-12
    assert "certified_interval" in repr(result)
    d = result.to_dict()
    assert d["kind"] == "certified_interval" and len(d["rows"]) == 2


def test_wdc_equals_the_cli_on_the_same_seed(tmp_path):
    net = small_network()
    net.save(tmp_path / "net.safetensors")
    out = cli(tmp_path, "--seed", 5, "wdc", "--weights", tmp_path / "net.safetensors", "--pairs", 3000,
              "--no-audit")
    rows = read_csv(out / "wdc.csv")
    result = da.wdc(net, pairs=3000, seed=5)
    assert result.kind == "lower_bound"
    assert len(rows) == len(result) == 2
    for csv_row, row in zip(rows, result):
        assert csv_row["kind"] == row["kind"] == "lower_bound"
        assert int(csv_row["layer"]) == row["layer"]
        assert float(csv_row["lower"]) == row["lower"]
        assert float(csv_row["sampled"]) == row["sampled"]


def test_certificate_equals_the_cli(tmp_path):
    net = da.Network([np.random.default_rng(4).normal(size=(50, 2))])
    net.save(tmp_path / "one.safetensors")
    out = cli(tmp_path, "--seed", 2, "wdc", "--weights", tmp_path / "one.safetensors", "--certify", "--pairs", 500,
              "--no-audit")
    cert = [r for r in read_csv(out / "wdc.csv") if r["kind"] == "certified_interval"]
    result = da.wdc(net, certify=True, pairs=500, seed=2)
    assert len(cert) == 1
    assert (float(cert[0]["lower"]), float(cert[0]["upper"])) == result.interval(1)


def test_results_do_not_depend_on_threads():
    net = small_network()
    one = da.wdc(net, pairs=2000, seed=3, threads=1)
    two = da.wdc(net, pairs=2000, seed=3, threads=2)
    assert one.rows == two.rows


def test_rrcp_gives_lower_bounds_per_mode():
    net = small_network()
    a = np.random.default_rng(5).normal(size=(80, 60)) / math.sqrt(80)
    result = da.rrcp(net, a, tuples=200, refine_starts=2, refine_steps=10, seed=1)
    assert result.kind == "lower_bound"
    assert [r["mode"] for r in result] == ["random", "subspace"]
    for r in result:
        assert r["sup"] >= r["sup_sampled"] > 0
        assert r["epsilon"] == pytest.approx(r["sup"] / 31.0, rel=1e-15)
    assert result.rows == da.rrcp(net, a, tuples=200, refine_starts=2, refine_steps=10, seed=1).rows


def test_audit_equals_the_cli(tmp_path):
    net = small_network()
    net.save(tmp_path / "net.safetensors")
    out = cli(tmp_path, "--seed", 2, "audit", "--weights", tmp_path / "net.safetensors", "--pairs", 500)
    rows = read_csv(out / "audit.csv")
    result = da.audit(net, pairs=500, seed=2)
    assert len(rows) == len(result) > 0
    for csv_row, row in zip(rows, result):
        assert csv_row["quantity"] == row["quantity"]
        assert csv_row["kind"] == row["kind"]
        if csv_row["value"]:
            assert float(csv_row["value"]) == row["value"]
    assert "epsilon" in {r["quantity"] for r in result}


def test_solve_recovers_a_code_up_to_sign():
    net = da.Network.random([2, 40, 80], seed=1)
    rng = np.random.default_rng(6)
    x0 = np.array([1.0, -0.5])
    a = rng.normal(size=(150, 80)) / math.sqrt(150)
    b = np.abs(a @ net.generate(x0))
    result = da.solve(net, a, b, method="dpr", restarts=3, seed=2)
    assert result.kind == "exact" and len(result) == 3
    error = min(np.linalg.norm(result.x - x0), np.linalg.norm(result.x + x0)) / np.linalg.norm(x0)
    assert error < 1e-3, result
    assert result.value == min(r["value"] for r in result)
    adam = da.solve(net, a, b, method="adam2", restarts=2, seed=2, max_iters=50)
    assert len(adam) == 4 and {r["init_sign"] for r in adam} == {1, -1}


def test_expected_rho_equals_the_cli(tmp_path):
    out = cli(tmp_path, "expected", "rho", "--d-max", 4)
    rows = read_csv(out / "rho.csv")
    for row in rows:
        r = da.expected_rho(int(row["d"]))
        assert r.kind == "exact"
        assert float(row["rho_pr"]) == r.rho_pr == float(r)
        assert float(row["rho_cs"]) == r.rho_cs


def test_expected_landscape_equals_the_cli(tmp_path):
    out = cli(tmp_path, "expected", "landscape", "--d", 3, "--grid", 7, "--range", 1.5, "--x0", "0.5,-1")
    rows = read_csv(out / "landscape.csv")
    result = da.expected_landscape(d=3, x0=[0.5, -1.0], grid=7, range=1.5)
    assert result.kind == "exact" and result.F.shape == (7, 7)
    assert [float(r["f_expected"]) for r in rows] == list(result.F.ravel())
    assert math.isnan(result.h_norm[3, 3])  # x = 0, where F is not differentiable
    np.testing.assert_array_equal(result.axis, np.linspace(-1.5, 1.5, 7))


def k2_instance(tmp_path):
    """A small k = 2 instance, also written as an instance file for the CLI."""
    net = da.Network.random([2, 20, 40], seed=3)
    a = np.random.default_rng(8).normal(size=(60, 40)) / math.sqrt(60)
    x0 = np.array([0.8, -0.6])
    path = tmp_path / "instance.safetensors"
    da.save_instance(path, net, a, x0)
    return net, a, x0, path


def test_landscape_exact_equals_the_cli(tmp_path):
    net, a, x0, path = k2_instance(tmp_path)
    out = cli(tmp_path, "--seed", 4, "landscape", "exact", "--instance", path, "--wdc-pairs", 100, "--grid", 5)
    rows = read_csv(out / "critical_points.csv")
    result = da.landscape_exact(net, a, x0, seed=4, wdc_pairs=100)
    assert result.kind == "exact" and len(rows) == len(result) > 0
    for csv_row, row in zip(rows, result):
        assert csv_row["kind"] == "exact"
        for column in ("type", "status", "site", "units"):
            assert csv_row[column] == str(row[column]), column
        for column in ("x_1", "x_2", "angle", "f", "phi", "f_negated", "margin", "rounding_bound"):
            assert float(csv_row[column]) == row[column], column
        assert csv_row["negation_helps"] == str(row["negation_helps"]).lower()
        assert (csv_row["radius"] == "") == (row["radius"] is None)
    import json
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == result.counts
    assert (summary["global_min"], summary["global_is_x0"], summary["sectors"]) == (
        result.global_min, result.global_is_x0, result.sectors)
    # Noiseless: f(x0) = 0, so x0 is a (the) global minimum.
    assert result.global_is_x0 and result.x0_found
    assert result.rows[result.global_min]["f"] < 1e-20
    assert all(r["type"] == "local_min" for r in result.minima())
    assert result.counts["local_min"] == len(result.minima())


def test_census_equals_the_cli(tmp_path):
    net, a, x0, path = k2_instance(tmp_path)
    out = cli(tmp_path, "--seed", 4, "landscape", "census", "--instance", path, "--starts", 12, "--max-iters", 400,
              "--test-directions", 8)
    clusters = read_csv(out / "census_clusters.csv")
    runs = read_csv(out / "census_runs.csv")
    result = da.census(net, a, x0, starts=12, max_iters=400, test_directions=8, seed=4)
    assert result.kind == "estimate"
    assert len(result.runs) == len(runs) == 12
    for csv_row, run in zip(runs, result.runs):
        assert float(csv_row["value"]) == run["value"]
        assert int(csv_row["cluster"]) == run["cluster"]
        assert int(csv_row["iterations"]) == run["iterations"]
    assert len(clusters) == len(result) > 0
    for csv_row, row in zip(clusters, result):
        assert int(csv_row["members"]) == row["members"]
        assert csv_row["limit_kind"] == row["kind"]
        assert csv_row["certificate"] == row["certificate"]
        for column in ("value", "radius_ratio", "share_estimate", "share_se"):
            assert float(csv_row[column]) == row[column], column
        p = row["members"] / 12
        assert row["share_estimate"] == p
        assert row["share_se"] == pytest.approx(math.sqrt(p * (1 - p) / 12), rel=1e-14)
        assert row["certificate"] in ("certified", "not_min", "undecided")
    assert sum(r["share_estimate"] for r in result) == pytest.approx(1.0, abs=1e-12)


def test_save_instance_refuses_a_folder_it_cannot_create(tmp_path):
    net = da.Network.random([2, 20, 40], seed=3)
    a = np.ones((5, 40))
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(OSError, match="a-file"):
        da.save_instance(tmp_path / "a-file" / "i.safetensors", net, a, [1.0, 0.0])
    with pytest.raises(ValueError, match="k = 2 numbers"):
        da.save_instance(tmp_path / "i.safetensors", net, a, [1.0, 0.0, 0.0])
    assert not (tmp_path / "i.safetensors").exists()


def test_landscape_and_census_refuse_bad_input():
    net = da.Network.random([2, 20, 40], seed=3)
    a = np.random.default_rng(8).normal(size=(60, 40)) / math.sqrt(60)
    x0 = np.array([0.8, -0.6])
    rng = np.random.default_rng(9)
    biased = da.Network([rng.normal(size=(20, 2)), rng.normal(size=(40, 20))], biases=[np.ones(20), None])
    smooth = da.Network([rng.normal(size=(20, 2)), rng.normal(size=(40, 20))], activations="softplus")
    cases = [
        (lambda: da.landscape_exact(da.Network.random([3, 20, 40]), a, [1.0, 0.0, 0.0]), "needs k = 2"),
        (lambda: da.landscape_exact(biased, a, x0), "bias"),
        (lambda: da.landscape_exact(smooth, a, x0), "ReLU"),
        (lambda: da.landscape_exact(net, a[:, :30], x0), r"shape \(m, 40\)"),
        (lambda: da.landscape_exact(net, a, [np.nan, 1.0]), "finite"),
        (lambda: da.landscape_exact(net, a, [1.0, 0.0, 2.0]), "k = 2 numbers"),
        (lambda: da.landscape_exact(net, a, [0.0, 0.0]), "nonzero"),
        (lambda: da.landscape_exact(net, a.astype(complex), x0), "complex"),
        (lambda: da.landscape_exact(net, a, x0, b=np.ones(59)), "one amplitude per row"),
        (lambda: da.landscape_exact(net, a, x0, b=np.full(60, np.inf)), "finite"),
        (lambda: da.landscape_exact(net, a, x0, tau=2.0), "tau"),
        (lambda: da.landscape_exact(net, a, np.array([1, "a"], dtype=object)), "object"),
        (lambda: da.landscape_exact(net, a.ravel(), x0), "2-dimensional"),
        (lambda: da.census(net, a, x0, starts=0), "starts"),
        (lambda: da.census(net, a, x0, cluster_tol=-1.0), "cluster_tol"),
        (lambda: da.census(net, a, x0, max_iters=0), "max_iters"),
        (lambda: da.census(net, a, x0, grad_tol=float("nan")), "grad_tol"),
        (lambda: da.census(net, a, x0, test_directions=0), "test_directions"),
        (lambda: da.census(net, a, np.array([1.0, np.inf])), "finite"),
        (lambda: da.census(net, a[:5].astype(np.complex64), x0), "complex"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_landscape_exact_accepts_float32_and_fortran_arrays_and_to_pandas():
    net = da.Network.random([2, 20, 40], seed=3)
    a = np.random.default_rng(8).normal(size=(60, 40)) / math.sqrt(60)
    x0 = np.array([0.75, -0.5])  # exact in float32
    reference = da.landscape_exact(net, a, x0, wdc_pairs=0)
    fortran = da.landscape_exact(net, np.asfortranarray(a), x0.astype(np.float32), wdc_pairs=0)
    assert fortran.rows == reference.rows
    assert all(r["k2_upper_estimate"] is None for r in reference)
    pandas = pytest.importorskip("pandas")
    frame = reference.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == len(reference)
    assert {"x_1", "x_2", "type", "angle", "radius", "negation_helps", "status", "margin"} <= set(frame.columns)
    census = da.census(net, a, x0, starts=4, max_iters=200, test_directions=4).to_pandas()
    assert {"members", "certificate", "share_estimate", "share_se"} <= set(census.columns)


def test_to_pandas_when_pandas_is_installed():
    pandas = pytest.importorskip("pandas")
    frame = da.wdc(small_network(), pairs=1000).to_pandas()
    assert isinstance(frame, pandas.DataFrame) and list(frame["layer"]) == [1, 2]


# --- the GIL and Ctrl-C --------------------------------------------------------------------

def test_the_gil_is_released_during_a_call():
    net = da.Network.random([2, 100, 200], seed=1)
    done = threading.Event()
    ticks = 0

    def work():
        da.wdc(net, pairs=5000, refine_steps=100, seed=1, threads=1)
        done.set()

    worker = threading.Thread(target=work)
    started = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    elapsed = time.perf_counter() - started
    # Were the GIL held for the whole call, this loop could not run while it lasts.
    assert elapsed < 0.05 or ticks >= 5, (elapsed, ticks)


LONG_CALLS = {
    "wdc": "da.wdc(da.Network.random([4, 400, 800], seed=1), pairs=10**5, refine_steps=10**7, threads=1)",
    "census": "da.census(net, a, x0, starts=5000, max_iters=10**7, threads=1)",
    "solve": "da.solve(net, a, np.abs(a @ net.generate(x0)), method='gd', restarts=2000, max_iters=10**7, threads=1)",
}


@pytest.mark.parametrize("call", sorted(LONG_CALLS))
def test_ctrl_c_stops_a_long_call_and_the_next_call_works(call):
    # Without the cancel token the abandoned computation kept a core busy until its end
    # (minutes); with it, the worker stops at its next poll, so the process's CPU time stays
    # flat after KeyboardInterrupt and a new call runs at once.
    script = textwrap.dedent(
        f"""
        import signal
        import time
        import numpy as np
        import dpr_audit as da
        # A child started from a shell without job control (a backgrounded CI script) inherits
        # SIGINT as ignored, and Python then installs no handler: restore Ctrl-C's default.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        net = da.Network.random([2, 40, 80], seed=1)
        a = np.random.default_rng(1).normal(size=(120, 80)) / np.sqrt(120)
        x0 = np.array([1.0, 0.5])
        print("started", flush=True)
        try:
            {LONG_CALLS[call]}
            print("finished")
        except KeyboardInterrupt:
            stopped = time.perf_counter()
            cpu = time.process_time()
            time.sleep(1.0)
            print("interrupted", time.process_time() - cpu, flush=True)
            print("next", float(da.expected_rho(3)), flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    elapsed = time.perf_counter() - sent
    lines = out.split("\n")
    assert lines[0].startswith("interrupted"), out
    busy = float(lines[0].split()[1])
    # One second of sleep after the interrupt: a computation still running on its thread would
    # add about 1 s of CPU time; a stopped one adds almost none.
    assert busy < 0.3, f"{call}: {busy:.2f} s of CPU in the second after KeyboardInterrupt"
    assert lines[1].startswith("next 0.")
    assert elapsed < 20, elapsed
