"""dpr_audit: a numerical audit of phase retrieval under deep generative priors, from Python.

The functions call the Rust library `dpr-audit` (the same code, seeds and random streams as
the `dpr-audit` command line, so a call and the matching command give the same numbers).
Arrays are NumPy arrays (a torch tensor works through ``.detach().numpy()``) of any real
dtype and memory order; weights have PyTorch's ``nn.Linear`` shape ``(out, in)``.

Every result says what kind of number it holds, in ``kind`` (and per row where a table mixes
kinds): ``exact``, ``certified_interval``, ``estimate`` (with a standard error) or
``lower_bound`` (a sampled lower bound on a supremum). Results have ``to_dict()``; tables
also ``to_pandas()`` (pandas is optional).

Long calls release the GIL, honour Ctrl-C (``KeyboardInterrupt``) and run on ``threads``
worker threads (0: one per core); results never depend on ``threads``. Bad input raises
``ValueError`` with the library's one-line message naming the value and the fix.
"""

import json

import numpy as np

from . import _native

__all__ = [
    "Network",
    "wdc",
    "rrcp",
    "audit",
    "solve",
    "landscape_exact",
    "census",
    "save_instance",
    "expected_rho",
    "expected_landscape",
    "Table",
    "WdcResult",
    "RrcpResult",
    "AuditResult",
    "SolveResult",
    "ExactLandscapeResult",
    "CensusResult",
    "RhoResult",
    "LandscapeResult",
]

__version__ = _native.__version__

_REAL_KINDS = "iuf"


def _array(name, value, ndim):
    """`value` as a C-ordered float64 array of `ndim` dimensions, or a ValueError."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in _REAL_KINDS:
        raise ValueError(
            f"invalid {name} dtype = {arr.dtype}: give a real array (float32, float64 or integer);"
            " complex, object and other dtypes are not converted"
        )
    if arr.ndim != ndim:
        raise ValueError(
            f"invalid {name} shape = {arr.shape}: give a {ndim}-dimensional array"
            + (" of shape (out, in), like torch.nn.Linear.weight" if ndim == 2 else "")
        )
    return np.ascontiguousarray(arr, dtype=np.float64)


class Network:
    """A feed-forward network ``G(x) = σ_d(W_d … σ_1(W_1 x + b_1) … + b_d)``.

    ``weights``: a list of arrays of shape ``(n_i, n_{i-1})`` (PyTorch's ``nn.Linear.weight``);
    ``biases``: ``None`` or a list with an array of length ``n_i`` or ``None`` per layer;
    ``activations``: ``None`` (all ``"relu"``), one name for every layer, or one name per layer
    (``relu``, ``softplus``, ``sigmoid``, ``identity``). The theorems are about bias-free ReLU
    networks; others are audited all the same.
    """

    def __init__(self, weights, biases=None, activations=None):
        if isinstance(weights, _native.Network):
            self._net = weights
            return
        if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
            raise ValueError(
                "invalid weights: give a list of 2-dimensional arrays [W1, W2, …], one per layer"
            )
        ws = [_array(f"weights[{i}]", w, 2) for i, w in enumerate(weights)]
        if biases is None:
            bs = [None] * len(ws)
        else:
            bs = [None if b is None else _array(f"biases[{i}]", b, 1) for i, b in enumerate(biases)]
        if len(bs) != len(ws):
            raise ValueError(
                f"invalid biases = a list of {len(bs)}: give one entry (an array or None) per layer ({len(ws)})"
            )
        if activations is None:
            acts = ["relu"] * len(ws)
        elif isinstance(activations, str):
            acts = [activations] * len(ws)
        else:
            acts = [str(a) for a in activations]
        if len(acts) != len(ws):
            raise ValueError(
                f"invalid activations = a list of {len(acts)}: give one name per layer ({len(ws)}) or one for all"
            )
        self._net = _native.Network.from_arrays(ws, bs, acts)

    @classmethod
    def random(cls, widths, seed=1, weight_scale="normalized"):
        """Gaussian bias-free ReLU network with ``widths = [k, n_1, …, n_d]``: the network of
        ``dpr-audit net --widths … --seed SEED`` (``weight_scale``: ``normalized`` for
        N(0, 1/n_i), ``unit`` for N(0, 1))."""
        return cls(_native.Network.random([int(w) for w in widths], int(seed), weight_scale))

    @classmethod
    def load(cls, path):
        """Reads a safetensors file in the CLI's format (tensors W1…Wd, optional b1…bd)."""
        return cls(_native.Network.load(str(path)))

    def save(self, path):
        """Writes a safetensors file in the CLI's format (float64)."""
        self._net.save(str(path))

    @property
    def widths(self):
        """``[k, n_1, …, n_d]``."""
        return self._net.widths()

    @property
    def weights(self):
        """The weight matrices, each of shape ``(n_i, n_{i-1})`` (copies)."""
        return self._net.weights()

    @property
    def biases(self):
        """The biases (``None`` for a layer without one)."""
        return self._net.biases()

    @property
    def activations(self):
        """One activation name per layer."""
        return self._net.activations()

    def generate(self, x):
        """``G(x)`` for a latent code of length ``k``."""
        return self._net.generate(_array("x", x, 1))

    def __repr__(self):
        acts = sorted(set(self.activations))
        return f"Network(widths={self.widths}, activations={','.join(acts)})"


def _network(value, name="network"):
    if isinstance(value, Network):
        return value._net
    raise ValueError(f"invalid {name} = {type(value).__name__}: give a dpr_audit.Network")


class Table:
    """Rows of one result (a list of dicts, the CLI's CSV columns); ``kind`` says what the
    numbers are, per row in a ``kind`` column where they differ."""

    kind = None

    def __init__(self, rows, kind=None, **extra):
        self.rows = rows
        if kind is not None:
            self.kind = kind
        self.extra = extra

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def to_dict(self):
        """``{"kind": …, "rows": […], …}``: plain Python data."""
        return {"kind": self.kind, "rows": [dict(r) for r in self.rows], **self.extra}

    def to_pandas(self):
        """The rows as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install pandas") from e
        return pandas.DataFrame(self.rows)

    def __repr__(self):
        return f"{type(self).__name__}(kind={self.kind!r}, {len(self.rows)} rows)"


class WdcResult(Table):
    """WDC constants per layer: ``lower_bound`` rows (sampled and refined) and, with
    ``certify=True``, ``certified_interval`` rows for layers with 2 to 4 inputs."""

    def __init__(self, rows):
        certified = any(r["kind"] == "certified_interval" for r in rows)
        super().__init__(rows, "certified_interval" if certified else "lower_bound")

    def interval(self, layer=1):
        """``(lower, upper)`` of a certified layer (1-based)."""
        for r in self.rows:
            if r["layer"] == layer and r["kind"] == "certified_interval":
                return (r["lower"], r["upper"])
        raise ValueError(f"invalid layer = {layer}: no certified interval for it; call wdc(..., certify=True) on a layer with 2 to 4 inputs")

    def lower_bound(self, layer=1):
        """The sampled lower bound on ε of a layer (1-based)."""
        for r in self.rows:
            if r["layer"] == layer and r["kind"] == "lower_bound":
                return r["lower"]
        layers = sum(r["kind"] == "lower_bound" for r in self.rows)
        raise ValueError(f"invalid layer = {layer}: the network has layers 1 to {layers}")

    def __repr__(self):
        lines = []
        for r in self.rows:
            where = f"layer {r['layer']} ({r['n_in']} -> {r['n_out']})"
            if r["kind"] == "certified_interval":
                lines.append(f"  {where}: epsilon in [{r['lower']:.6g}, {r['upper']:.6g}] (certified_interval)")
            else:
                lines.append(f"  {where}: epsilon >= {r['lower']:.6g} (lower_bound, {r['pairs']} pairs sampled)")
        return "WdcResult(kind={!r}\n{}\n)".format(self.kind, "\n".join(lines))


class RrcpResult(Table):
    """Sampled lower bounds on the RRCP constant, one row per search mode."""

    kind = "lower_bound"

    def __repr__(self):
        body = ", ".join(f"{r['mode']}: sup >= {r['sup']:.6g} (epsilon >= {r['epsilon']:.6g})" for r in self.rows)
        return f"RrcpResult(kind='lower_bound', m={self.rows[0]['m']}, {body})"


class AuditResult(Table):
    """Each hypothesis of Theorem II.1: one row per number, each with its own ``kind``
    (``kind`` of the whole lists the kinds present)."""

    def __init__(self, rows, summary):
        kinds = sorted({str(r["kind"]) for r in rows})
        super().__init__(rows, ",".join(kinds), summary=summary)
        self.summary = summary

    def __repr__(self):
        return f"AuditResult({len(self.rows)} rows, kinds {self.kind})\n{self.summary}"


class SolveResult(Table):
    """Every run of a solve (one row per restart, and per sign for adam2) and the run of lowest
    objective, ``best``. Values ``f(x̂)`` are evaluated exactly (``kind = "exact"``)."""

    kind = "exact"

    def __init__(self, data):
        super().__init__(data["runs"], method=data["method"], step=data["step"], lr=data["lr"], best=data["best"])
        self.best = data["best"]
        self.x = np.asarray(data["runs"][data["best"]]["x"], dtype=np.float64)
        self.value = data["runs"][data["best"]]["value"]

    def __repr__(self):
        return f"SolveResult(method={self.extra['method']!r}, f(x) = {self.value:.6g} at x = {self.x}, {len(self.rows)} runs)"


class ExactLandscapeResult(Table):
    """Every critical point of ``f`` on a ``k = 2`` instance except the origin (a local
    maximum), in angular order (``dpr-audit landscape exact``): exact closed forms in float64,
    each point ``certified`` or ``undecided`` in ``status`` (its ``margin`` against its
    ``rounding_bound``). One row per point, with the columns of ``critical_points.csv``
    (``x_1``, ``x_2``, ``type``, ``status``, ``angle``, ``radius``, ``f``, ``negation_helps``, …);
    the instance facts are attributes: ``counts`` (per type), ``sectors``, ``per_source``,
    ``global_min`` (row index), ``global_is_x0``, ``global_unique``, ``x0_found``,
    ``f_origin``, ``smallest_margin_ratio``, ``wdc_epsilon_lower_bound``."""

    kind = "exact"

    def __init__(self, data):
        rows = []
        for i, p in enumerate(data["critical_points"]):
            row = {"index": i, "x_1": p["x"][0], "x_2": p["x"][1]}
            row.update({k: v for k, v in p.items() if k != "x"})
            row["units"] = ";".join(str(u) for u in p["units"])
            rows.append(row)
        facts = {k: v for k, v in data.items() if k not in ("critical_points", "kind")}
        super().__init__(rows, **facts)
        for k, v in facts.items():
            setattr(self, k, v)

    def minima(self):
        """The local minima (rows), ``x0`` included."""
        return [r for r in self.rows if r["type"] == "local_min"]

    def __repr__(self):
        c = self.counts
        return (f"ExactLandscapeResult(kind='exact', {self.sectors} sectors, {c['local_min']} local minima "
                f"({c['spurious_min']} spurious), {c['saddle']} saddles, {c['flat']} flat, {c['undecided']} undecided; "
                f"global minimum is x0: {self.global_is_x0})")


class CensusResult(Table):
    """Plain GD from many random starts and the clusters of its limits (``dpr-audit landscape
    census``): one row per cluster, with ``certificate`` (``certified``: an exact proof of a
    strict local minimum, ``not_min``, or ``undecided``), ``kind`` of the limit (``truth`` or
    ``spurious``), and its basin share ``share_estimate`` with standard error ``share_se`` (an
    estimate from the starts: ``kind = "estimate"``). Every run is in ``runs``."""

    kind = "estimate"

    def __init__(self, data):
        rows = []
        for i, c in enumerate(data["clusters"]):
            row = {"cluster": i}
            row.update(c)
            rows.append(row)
        super().__init__(rows, step=data["step"], rho_pr=data["rho_pr"], runs=data["runs"])
        self.runs = data["runs"]
        self.step = data["step"]
        self.rho_pr = data["rho_pr"]

    def __repr__(self):
        parts = [f"  cluster {r['cluster']}: {r['kind']}, {r['members']} runs, share {r['share_estimate']:.3f} "
                 f"± {r['share_se']:.3f} (estimate), certificate {r['certificate']}" for r in self.rows]
        return "CensusResult({} runs, {} clusters\n{}\n)".format(len(self.runs), len(self.rows), "\n".join(parts))


class RhoResult:
    """``ρ_d`` (phase retrieval), ``ρ_d^{CS}`` and ``θ̌_d`` at depth ``d``: exact closed forms."""

    kind = "exact"

    def __init__(self, row):
        self.d = row["d"]
        self.theta_check = row["theta_check"]
        self.rho_cs = row["rho_cs"]
        self.rho_pr = row["rho_pr"]

    def __float__(self):
        return float(self.rho_pr)

    def to_dict(self):
        return {"kind": self.kind, "d": self.d, "theta_check": self.theta_check, "rho_cs": self.rho_cs, "rho_pr": self.rho_pr}

    def __repr__(self):
        return f"RhoResult(kind='exact', d={self.d}, rho_pr={self.rho_pr!r}, rho_cs={self.rho_cs!r})"


class LandscapeResult(Table):
    """The expected objective ``F`` and ``‖h‖`` on a grid (exact closed forms); ``F`` and
    ``h_norm`` as ``(grid, grid)`` arrays indexed ``[i_2, i_1]``, ``axis`` their coordinates."""

    kind = "exact"

    def __init__(self, rows, grid, d, x0):
        super().__init__(rows, d=d, x0=list(x0))
        self.axis = np.array([r["x_1"] for r in rows[:grid]])
        self.F = np.array([r["f_expected"] for r in rows]).reshape(grid, grid)
        self.h_norm = np.array([np.nan if r["h_norm"] is None else r["h_norm"] for r in rows]).reshape(grid, grid)


def wdc(w_or_network, certify=False, tol=None, seed=1, *, rel_tol=None, pairs=None, domain="full",
        refine_starts=16, refine_steps=None, threads=0):
    """The WDC constant ε of every layer (``dpr-audit wdc``): a sampled lower bound per layer
    and, with ``certify=True``, a certified interval for layers with 2 to 4 inputs (``tol``:
    its width, default 1e-3 for k = 2, 1e-2 for k = 3, 5e-2 for k = 4).

    ``w_or_network``: a :class:`Network` or one weight matrix of shape ``(n, k)``."""
    net = w_or_network if isinstance(w_or_network, Network) else Network([w_or_network])
    rows = _native.wdc(net._net, bool(certify), tol, rel_tol, pairs, domain, int(refine_starts), refine_steps,
                       int(seed), int(threads))
    return WdcResult(json.loads(rows))


def rrcp(network, A, mode="both", tuples=2000, refine_starts=8, refine_steps=100, constant=31.0, seed=1, *,
         threads=0):
    """Sampled lower bounds on the RRCP constant of ``network`` with measurement matrix ``A``
    (shape ``(m, n)``, in the theorem's N(0, 1/m) convention), per search mode
    (``random``, ``subspace`` or ``both``)."""
    rows = _native.rrcp(_network(network), _array("A", A, 2), mode, int(tuples), int(refine_starts),
                        int(refine_steps), float(constant), int(seed), int(threads))
    return RrcpResult(json.loads(rows))


def audit(network, pairs=5000, refine_starts=2, refine_steps=50, seed=1, *, threads=0):
    """Each hypothesis of Theorem II.1 for ``network`` (``dpr-audit audit``)."""
    data = json.loads(_native.audit(_network(network), int(pairs), int(refine_starts), int(refine_steps),
                                    int(seed), int(threads)))
    return AuditResult(data["rows"], data["summary"])


def solve(network, A, b, method="dpr", restarts=1, seed=1, *, max_iters=None, step=None, lr=0.01, threads=0):
    """Recovers a latent code ``x`` from amplitudes ``b ≈ |A G(x)|`` by ``dpr`` (Algorithm 1),
    ``gd`` (no negation check) or ``adam2`` (Adam from ±x_r), from ``restarts`` random starts
    drawn as ``dpr-audit solve`` draws them; ``result.x`` is the run of lowest objective."""
    data = _native.solve(_network(network), _array("A", A, 2), _array("b", b, 1), method, int(restarts), int(seed),
                         max_iters, step, float(lr), int(threads))
    return SolveResult(json.loads(data))


def _instance(network, A, x0, b):
    """The arrays of an instance, converted and checked for shape and dtype."""
    return (_network(network), _array("A", A, 2), _array("x0", x0, 1),
            None if b is None else _array("b", b, 1))


def landscape_exact(network, A, x0, b=None, *, tau=0.01, wdc_pairs=200, seed=1, threads=0):
    """Every critical point of ``f(x) = ½‖|A G(x)| − b‖²`` for ``k = 2``, exactly
    (``dpr-audit landscape exact``): bias-free ReLU networks only. ``b`` defaults to the
    noiseless ``|A G(x0)|``; ``tau`` is the threshold of the exceptional set ``S_τ``;
    ``wdc_pairs`` sampled pairs per layer give the WDC lower bound behind the ``K₂``
    estimates (0: none), from the streams of ``seed``."""
    net, a, x, bb = _instance(network, A, x0, b)
    data = _native.landscape_exact(net, a, x, bb, float(tau), int(wdc_pairs), int(seed), int(threads))
    return ExactLandscapeResult(json.loads(data))


def census(network, A, x0, b=None, *, starts=200, seed=1, step=None, max_iters=5000, grad_tol=None, f_tol=None,
           cluster_tol=1e-3, truth_tol=1e-4, test_directions=64, test_radius=1e-3, threads=0):
    """Plain gradient descent (no negation check) from ``starts`` random starts, drawn as
    ``dpr-audit landscape census --seed SEED`` draws them, and the clusters of its limits
    (within ``cluster_tol ‖x0‖``), each with an exact certified-minimum status, a sampled
    local-minimum test (``test_directions`` at ``test_radius ‖x‖``) and its basin share."""
    net, a, x, bb = _instance(network, A, x0, b)
    data = _native.census(net, a, x, bb, int(starts), step, int(max_iters), grad_tol, f_tol, float(cluster_tol),
                          float(truth_tol), int(test_directions), float(test_radius), int(seed), int(threads))
    return CensusResult(json.loads(data))


def save_instance(path, network, A, x0):
    """Writes the instance ``(network, A, x0, b = |A G(x0)|)`` in the CLI's format, for
    ``dpr-audit landscape exact --instance PATH`` (and every command with ``--instance``)."""
    net, a, x, _ = _instance(network, A, x0, None)
    _native.save_instance(net, a, x, str(path))


def expected_rho(d):
    """``ρ_d`` of phase retrieval (and ``ρ_d^{CS}``, ``θ̌_d``) at depth ``d``: exact."""
    rows = json.loads(_native.expected_rho(int(d)))
    return RhoResult(rows[-1])


def expected_landscape(d=2, x0=(1.0, 0.0), grid=201, range=2.0):
    """The expected objective ``F`` on a ``grid × grid`` grid of ``[−range, range]²`` for a
    two-dimensional ``x0`` (``dpr-audit expected landscape``; the paper's Figure 1)."""
    x0 = _array("x0", x0, 1)
    rows = json.loads(_native.expected_landscape(int(d), x0, int(grid), float(range)))
    return LandscapeResult(rows, int(grid), int(d), x0)
