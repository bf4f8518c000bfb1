"""The experiments intermediates, shards, quarter-power and projected-ns: tiny grids swept into a
temporary folder with each experiment's columns, each row recomputed independently in float64
NumPy (SVD signs, a plain Newton–Schulz loop, the formulas of the experiments' docstrings).
Their figures are drawn by the quick runs of tests/test_experiments.py."""

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from matsign.exact.gram_newton_schulz import gram_newton_schulz  # noqa: E402
from matsign.exact.newton_schulz import newton_schulz  # noqa: E402
from matsign.exact.schedules import get_schedule  # noqa: E402
from matsign.experiments import EXPERIMENTS  # noqa: E402
from matsign.experiments.config import load_config  # noqa: E402
from matsign.experiments.engine import sweep  # noqa: E402
from matsign.experiments.grid import build_cells  # noqa: E402
from matsign.experiments.intermediates import traced_gram_newton_schulz, traced_newton_schulz  # noqa: E402
from matsign.experiments.sources import get_source  # noqa: E402

# Float64 against float64 computed in another order (SVD vs SVD, NumPy loop vs the kernel's
# products): rounding of O(100) flops per entry on O(1) values, far below 1e-10.
F64 = 1e-10


def _run(tmp_path, name, config_text):
    """Sweep experiment ``name``'s columns over the grid ``config_text``; yield each row, its
    method's parameters and its matrix."""
    config = tmp_path / f"{name}-tiny.toml"
    config.write_text(config_text)
    experiment = EXPERIMENTS[name]
    cells = build_cells(load_config(config))
    experiment.check(cells)
    table = sweep(cells, tmp_path / f"{name}.csv", extra=experiment.extra, progress=False)
    by_key = {cell.key: cell for cell in cells}
    for row in table.to_dict("records"):
        cell = by_key[row["key"]]
        G = get_source(cell.source)(cell.m, cell.n, rng=cell.matrix_seed, **dict(cell.source_params))
        yield row, dict(cell.method_params), np.asarray(G, dtype=np.float64)


def _msign(G):
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    keep = s > max(G.shape) * np.finfo(np.float64).eps * s[0]
    return U[:, keep] @ Vt[keep, :]


def _ns(G, schedule, steps=None, *, peaks=False):
    """Newton–Schulz in float64 NumPy from the schedule's coefficients (wide orientation inside)."""
    sched = get_schedule(schedule)
    tall = G.shape[0] > G.shape[1]
    norm = np.linalg.norm(G)
    X = (G.T if tall else G) / (sched.prescale * norm if norm > 0 else 1.0)  # the zero matrix stays zero
    top = {"max_x": np.abs(X).max(), "max_gram": 0.0, "max_b": 0.0}
    for a, b, c in sched.steps_coefficients(steps):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
        top = {"max_x": max(top["max_x"], np.abs(X).max()), "max_gram": max(top["max_gram"], np.abs(A).max()),
               "max_b": max(top["max_b"], np.abs(B).max())}
    X = X.T if tall else X
    return (X, top) if peaks else X


def _relative(X, S):
    return np.linalg.norm(X - S) / np.linalg.norm(S)


INTERMEDIATES = """
seeds = [0]
[[sources]]
family = "scale_mismatch"
m = 16
n = 40
row_spread = 1e4
[[sources]]
family = "power_law"
m = 24
n = 12
[[methods]]
name = "newton_schulz"
schedule = "polar_express"
dtype = ["float32", "bfloat16", "float16"]
[[methods]]
name = "gram_newton_schulz"
schedule = "muon"
dtype = ["float32", "float16"]
"""

# Relative deviation of a peak from its float64 value: float32 iterates carry a few 1e-7 per
# step over 5 steps (1e-5 leaves room); the Gram iteration in float32 drifts more (its R_k holds
# squared singular values, error growing with κ; 1e-3). A 16-bit format's peak is a few of its
# ε (bfloat16 2⁻⁷, float16 2⁻¹⁰) from the float64 one: 5 %.
PEAK_RTOL = {("newton_schulz", "float32"): 1e-5, ("gram_newton_schulz", "float32"): 1e-3}


def test_intermediates_rows_match_a_float64_iteration(tmp_path):
    rows = list(_run(tmp_path, "intermediates", INTERMEDIATES))
    assert len(rows) == 10
    by_matrix = {}
    for row, params, G in rows:
        X64, top = _ns(G, params["schedule"], peaks=True)
        rtol = PEAK_RTOL.get((row["method"], row["dtype"]), 0.05)
        # max_b is the same quantity in both iterations (B_k = b R_k + c R_k², R_k = A_k exactly);
        # the standard iteration's max_x and max_gram are A_k and X_k of the float64 loop.
        names = ("max_x", "max_gram", "max_b") if row["method"] == "newton_schulz" else ("max_b",)
        for name in names:
            assert row[name] == pytest.approx(top[name], rel=rtol), (row["method"], row["dtype"], name)
        assert row["error"] == pytest.approx(_relative(X64, _msign(G)), rel=max(rtol, 1e-5))
        x0 = np.abs(G) / (get_schedule(params["schedule"]).prescale * np.linalg.norm(G))
        smallest = 2.0**-14 if row["dtype"] == "float16" else 2.0**-126
        assert row["x0_subnormal"] == pytest.approx(np.mean(x0[x0 > 0] < smallest), abs=1e-12)
        by_matrix.setdefault((row["source"], row["method"]), {})[row["dtype"]] = row["rounding_error"]
    for rounding in by_matrix.values():
        assert rounding["float32"] < 1e-3 < rounding["float16"]  # float16's ε is 2⁻¹⁰ ≈ 1e-3
        if "bfloat16" in rounding:
            assert rounding["bfloat16"] > rounding["float16"]  # 3 fewer mantissa bits
    # Rows spread over 1e4 in scale: float16 stores part of X₀ below its normal range.
    assert any(row["x0_subnormal"] > 0.1 for row, _, _ in rows if row["dtype"] == "float16")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("shape", [(12, 20), (20, 12)])
def test_traced_iterations_are_the_kernels_bit_for_bit(backend, dtype, shape, np_rng):
    if not backend.stores("float32"):
        pytest.skip("the 16-bit emulation stores float32")
    G = backend.asarray(np_rng.standard_normal(shape) * np.logspace(0, 2, shape[1]))
    for traced, kernel in ((traced_newton_schulz, newton_schulz), (traced_gram_newton_schulz, gram_newton_schulz)):
        X, peaks = traced(G, "polar_express", dtype=dtype)
        expected = backend.to_numpy(kernel(G, "polar_express", dtype=dtype))
        X = backend.to_numpy(X).astype(np.float64)
        np.testing.assert_array_equal(X.T if shape[0] > shape[1] else X, expected)
        assert peaks["max_x"] >= np.abs(expected).max()  # the result is one of the iterates


SHARDS = """
seeds = [0]
[[sources]]
family = "power_law"
m = 16
n = 40
[[sources]]
family = "recorded"
tensor = "blocks.0.attn.out.weight"
step = 100
[[methods]]
name = "exact_svd"
[[methods]]
name = "newton_schulz"
schedule = "polar_express"
"""


def test_shards_rows_match_numpy_signs_of_the_blocks(tmp_path):
    rows = list(_run(tmp_path, "shards", SHARDS))
    assert len(rows) == 4
    for row, params, G in rows:
        S = _msign(G)
        sign = _msign if row["method"] == "exact_svd" else (lambda B: _ns(B, params["schedule"]))
        for k in (1, 2, 4, 8):
            for axis, split in (("rows", 0), ("cols", 1)):
                blocks = np.array_split(G, k, axis=split)  # contiguous, sizes within one
                X = np.concatenate([sign(B) for B in blocks], axis=split)
                norm = np.linalg.norm(X, 2)
                assert row[f"error_{axis}_{k}"] == pytest.approx(_relative(X, S), rel=F64, abs=F64)
                assert row[f"norm_{axis}_{k}"] == pytest.approx(norm, rel=F64)
                nuclear = np.linalg.svd(G, compute_uv=False).sum()
                assert row[f"alignment_{axis}_{k}"] == pytest.approx(np.sum(G * X) / (nuclear * norm), rel=F64)
        if row["method"] == "exact_svd":
            assert row["error_rows_1"] < F64 and row["error_rows_8"] > 0.1


QUARTER = """
seeds = [0]
[[sources]]
family = "scale_mismatch"
m = 16
n = 40
row_spread = 1e3
[[methods]]
name = "newton_schulz"
schedule = "muon"
[[methods]]
name = "muoneq"
mode = "RC"
exponent = [-0.5, -0.25]
schedule = "muon"
"""


def test_quarter_power_rows_match_the_scaling_formula(tmp_path):
    rows = list(_run(tmp_path, "quarter-power", QUARTER))
    assert len(rows) == 3
    for row, params, G in rows:
        if row["method"] == "muoneq":
            # MuonEq's one-pass two-sided scaling, both factors from G, eps = 1e-8 (its default).
            r = (np.sum(G * G, axis=1) + 1e-8) ** params["exponent"]
            c = (np.sum(G * G, axis=0) + 1e-8) ** params["exponent"]
            target = r[:, None] * G * c[None, :]
        else:
            target = G
        X = _ns(target, params["schedule"])
        assert row["error"] == pytest.approx(_relative(X, _msign(G)), rel=F64)
        assert row["target_error"] == pytest.approx(_relative(X, _msign(target)), rel=F64)


PROJECTED = """
seeds = [0]
[[sources]]
family = "power_law"
m = 24
n = 40
[[methods]]
name = "galore"
rank = 4
inner = "polar_express"
steps = [2, 5]
"""


def test_projected_ns_rows_match_numpy_projections(tmp_path):
    rows = list(_run(tmp_path, "projected-ns", PROJECTED))
    assert len(rows) == 2
    for row, params, G in rows:
        U, s, _ = np.linalg.svd(G, full_matrices=False)
        r, inner, steps = params["rank"], params["inner"], params["steps"]
        P = U[:, :r]
        X = P @ _ns(P.T @ G, inner, steps)
        assert row["inner_error"] == pytest.approx(_relative(X, P @ _msign(P.T @ G)), rel=F64)
        R = G - P @ (P.T @ G)
        complement = np.eye(G.shape[0]) - P @ P.T
        expected = _relative(complement @ _ns(R, inner, steps), complement @ _msign(R))
        # The residual's r singular values that vanish in exact arithmetic are rounding noise
        # (~eps·σ₁) of another size in each computation; the iteration lifts them a little: 1e-8.
        assert row["residual_error"] == pytest.approx(expected, rel=1e-8)
        assert row["full_error"] == pytest.approx(_relative(_ns(G, inner, steps), _msign(G)), rel=F64)
        assert row["projected_kappa"] == pytest.approx(s[0] / s[r - 1], rel=F64)
        assert row["residual_kappa"] == pytest.approx(s[r] / s[-1], rel=1e-8)  # σ_ρ is small: its SVDs differ more


def test_flattening_rows_match_numpy_views_of_the_stored_tensors(tmp_path):
    from matsign.recorder.zoo import ZOO_DIR

    grid = f"""
seeds = [0]
[[sources]]
family = "recorded"
path = "{ZOO_DIR / 'cnn'}"
tensor = "conv2.weight"
step = 200
[[sources]]
family = "recorded"
path = "{ZOO_DIR / 'moe'}"
tensor = "model.layers.0.mlp.experts.w2[0]"
step = 100
[[methods]]
name = "newton_schulz"
schedule = "polar_express"
"""
    rows = list(_run(tmp_path, "flattening", grid))
    assert len(rows) == 2
    for row, params, _ in rows:
        if row["tensor"] == "conv2.weight":
            T = torch_load(ZOO_DIR / "cnn" / "cnn_grad_step000200.pt")["conv2.weight"]  # (16, 8, 3, 3)
            o, i, kh, kw = T.shape
            views = {"out": ([T.reshape(o, -1)], lambda X: X[0].reshape(T.shape)),
                     "in": ([np.swapaxes(T, 0, 1).reshape(i, -1)],
                            lambda X: np.swapaxes(X[0].reshape(i, o, kh, kw), 0, 1)),
                     "spatial": ([T[:, :, a, b] for a in range(kh) for b in range(kw)],
                                 lambda X: np.stack(X, axis=-1).reshape(o, i, kh, kw))}
        else:
            T = safetensors_stack(ZOO_DIR / "moe" / "global_step100", "model.layers.0.mlp.experts.w2.grad")
            E, m, n = T.shape  # (4, 64, 128)
            views = {"out": ([T.reshape(E * m, n)], lambda X: X[0].reshape(E, m, n)),
                     "in": ([np.concatenate(list(T), axis=1)], lambda X: np.stack(np.split(X[0], E, axis=1))),
                     "spatial": (list(T), np.stack)}
        for view, (matrices, back) in views.items():
            X = [_ns(M, params["schedule"]) for M in matrices]
            S = [_msign(M) for M in matrices]
            error = np.sqrt(sum(np.linalg.norm(x - s) ** 2 for x, s in zip(X, S))
                            / sum(np.linalg.norm(s) ** 2 for s in S))
            U = back(X)
            # The dump's float32 values upcast exactly; NS in float64 on O(1) entries: F64.
            assert row[f"error_{view}"] == pytest.approx(error, rel=F64)
            assert row[f"cosine_{view}"] == pytest.approx(np.sum(T * U) / (np.linalg.norm(T) * np.linalg.norm(U)),
                                                          rel=F64)
        # A stacked product and a loop of 2-D products round alike here (measured: equal).
        assert row["batched_parity"] <= 1e-12


def torch_load(path):
    torch = pytest.importorskip("torch")
    return {k: v.double().numpy() for k, v in torch.load(path, weights_only=True).items()}


def safetensors_stack(step_dir, key):
    import json

    safetensors = pytest.importorskip("safetensors.numpy")
    index = json.loads((step_dir / "model.safetensors.index.json").read_text())
    return safetensors.load_file(step_dir / index["weight_map"][key])[key].astype(np.float64)
