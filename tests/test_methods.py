"""The method registry: uniform calls on every backend, parameters, flop counts, registration."""

import numpy as np
import pytest

from matsign import registry
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.sign import msign
from matsign.registry import METHODS, REQUIRED, Method, get_method, register
from matsign.synthetic import log_uniform, with_spectrum

BUILTIN = ("exact_svd", "exact_eigh", "exact_ns", "qdwh", "newton_schulz", "gram_newton_schulz", "gaussian", "column", "oracle")

# Minimal parameters that make each built-in method runnable.
PARAMS = {"gaussian": {"rank": 4}, "column": {"rank": 4}, "oracle": {"rank": 4}}


def test_builtin_methods_are_registered_with_metadata():
    for name in BUILTIN:
        method = METHODS[name]
        assert isinstance(method, Method) and method.name == name
        assert method.description
        assert "rng" not in method.params
    assert dict(METHODS["gaussian"].params) == {
        "rank": REQUIRED, "oversample": 0, "power_iters": 0, "normalizer": "auto", "inner": "exact", "steps": None,
    }
    assert dict(METHODS["column"].params) == {"rank": REQUIRED, "strategy": "uniform", "inner": "exact", "steps": None}
    assert dict(METHODS["newton_schulz"].params) == {"schedule": "muon", "steps": None, "dtype": None}
    assert dict(METHODS["oracle"].params) == {"rank": REQUIRED}
    assert dict(METHODS["gram_newton_schulz"].params) == {"schedule": "muon", "steps": None, "restarts": (2,), "dtype": None}
    assert dict(METHODS["exact_svd"].params) == {}
    assert dict(METHODS["exact_ns"].params) == {"lower": 1e-4, "dtype": None}


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("shape", [(12, 18), (18, 12), (15, 15)])
def test_every_method_runs_on_every_backend(backend, name, shape):
    G = with_spectrum(log_uniform(min(shape), 10.0), *shape, rng=1)
    A = backend.asarray(G)
    X = METHODS[name](A, rng=2, **PARAMS.get(name, {}))
    Xn = backend.to_numpy(X)
    assert Xn.shape == shape
    backend.assert_close(METHODS[name](A, rng=2, **PARAMS.get(name, {})), Xn, rtol=0, dtype="float64")
    if name in ("exact_svd", "exact_eigh", "exact_ns", "qdwh"):
        backend.assert_close(X, msign(G), rtol=1e-7, atol=1e-10)
    elif name in ("newton_schulz", "gram_newton_schulz"):
        # the Gram form is the same polynomial of G in exact arithmetic (float64 here)
        backend.assert_close(X, newton_schulz(G), rtol=1e-7, atol=1e-12)
    else:
        np.testing.assert_allclose(np.linalg.svd(Xn, compute_uv=False)[:4], 1.0, atol=1e-10)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_names_its_matrix_g(backend, name):
    required = {param: 2 for param, default in METHODS[name].params.items() if default is REQUIRED}
    with pytest.raises(ValueError, match="^G must be a matrix"):
        METHODS[name](backend.asarray(np.ones(3)), rng=0, **required)
    with pytest.raises(TypeError, match="^G must be a NumPy, CuPy or PyTorch array, got builtins.list"):
        METHODS[name]([[1.0, 2.0], [3.0, 4.0]], rng=0, **required)


def test_full_rank_low_rank_methods_recover_the_exact_sign():
    G = with_spectrum(log_uniform(10, 10.0), 10, 16, rng=3)
    runs = [("gaussian", {"rank": 10}), ("column", {"rank": 10, "strategy": "pivoted_qr"}), ("oracle", {"rank": 10})]
    for name, params in runs:
        np.testing.assert_allclose(METHODS[name](G, rng=0, **params), msign(G), atol=1e-9)


def test_flop_estimates_against_hand_counts():
    # Muon's quintic ×5 on the wide 64×128 (the tall 128×64 is oriented wide): 5(4m²n + 2m³).
    ns = 5 * (4 * 64**2 * 128 + 2 * 64**3)
    assert METHODS["newton_schulz"].flops(64, 128) == ns
    assert METHODS["newton_schulz"].flops(128, 64) == ns
    assert METHODS["newton_schulz"].flops(64, 128, schedule="cubic", steps=3) == 3 * 4 * 64**2 * 128
    # Exact sign by SVD of 60×80: R-SVD 6·80·60² + 20·60³, then U Vᵀ 2·60²·80.
    assert METHODS["exact_svd"].flops(60, 80) == 6 * 80 * 60**2 + 20 * 60**3 + 2 * 60**2 * 80
    # Gaussian, 60×80, rank 8, oversample 2 (ℓ = 10), one power iteration, QR, exact inner sign.
    qr = lambda p, k: 4 * p * k * k - 4 * k**3 / 3  # noqa: E731
    hand = (
        2 * 60 * 80 * 10                                   # Y = GΩ
        + 2 * (2 * 60 * 80 * 10) + qr(60, 10) + qr(80, 10)  # one power iteration
        + qr(60, 10)                                       # final basis
        + 2 * 10 * 60 * 80                                 # B = QᵀG
        + (6 * 80 * 10**2 + 20 * 10**3) + 2 * 60 * 10 * 8 + 2 * 8 * 10 * 80  # truncate to rank 8
        + (6 * 80 * 8**2 + 20 * 8**3 + 2 * 8**2 * 80)      # msign of the 8×80 matrix
        + 2 * 60 * 8 * 80                                  # Q · sign
    )
    assert METHODS["gaussian"].flops(60, 80, rank=8, oversample=2, power_iters=1, normalizer="qr") == pytest.approx(
        hand, rel=1e-12)
    # The default normalizes between products by LU (getrf, pk² − k³/3), the last basis by QR.
    lu = lambda p, k: p * k * k - k**3 / 3  # noqa: E731
    hand += lu(60, 10) + lu(80, 10) - qr(60, 10) - qr(80, 10)
    assert METHODS["gaussian"].flops(60, 80, rank=8, oversample=2, power_iters=1) == pytest.approx(hand, rel=1e-12)
    # Column, L1 top-k, on the tall 80×60 (wide orientation 60×80), rank 8, Muon inner ×5.
    hand = 2 * 60 * 80 + qr(60, 8) + 2 * 8 * 60 * 80 + 5 * (4 * 8**2 * 80 + 2 * 8**3) + 2 * 60 * 8 * 80
    assert METHODS["column"].flops(80, 60, rank=8, strategy="l1_topk", inner="muon") == pytest.approx(hand, rel=1e-12)


def test_flop_estimates_order_the_methods_sensibly():
    m = n = 4096
    exact = METHODS["exact_svd"].flops(m, n)
    ns = METHODS["newton_schulz"].flops(m, n)
    gauss = METHODS["gaussian"].flops(m, n, rank=128, power_iters=2)
    # Flop-wise five quintic steps (30·n³) exceed an R-SVD polar (28·n³); they win on speed, not flops.
    assert gauss < ns and gauss < exact
    assert METHODS["gaussian"].flops(m, n, rank=128, power_iters=2) > METHODS["gaussian"].flops(m, n, rank=128)
    for strategy in ("uniform", "norm", "l1_topk", "leverage", "pivoted_qr"):
        assert 0 < METHODS["column"].flops(m, n, rank=128, strategy=strategy) < ns
    assert METHODS["gaussian"].flops(m, n, rank=128, normalizer="cholesky_qr", power_iters=1) > 0


def test_parameters_are_checked(backend):
    A = backend.asarray(np.eye(4))
    with pytest.raises(ValueError, match="method 'gaussian' needs parameter 'rank'"):
        METHODS["gaussian"](A, rng=0)
    with pytest.raises(ValueError, match="method 'gaussian' has no parameter 'strategy'"):
        METHODS["gaussian"](A, rng=0, rank=2, strategy="norm")
    with pytest.raises(ValueError, match="method 'oracle' needs parameter 'rank'"):
        METHODS["oracle"].flops(4, 4)
    with pytest.raises(ValueError, match="rank must be at most min"):
        METHODS["column"](A, rng=0, rank=5)


#: Parameter values each method rejects, with the error its check gives before any matrix is seen.
BAD_VALUES = [
    ("gaussian", {"rank": 2, "power_iters": -1}, "power_iters must be a non-negative integer"),
    ("gaussian", {"rank": 2, "oversample": -1}, "oversample must be a non-negative integer"),
    ("gaussian", {"rank": 2, "normalizer": "x"}, "normalizer must be one of"),
    ("gaussian", {"rank": 2, "inner": "newton_schulz"}, "inner must be 'exact' or a Newton–Schulz schedule"),
    ("gaussian", {"rank": 2, "steps": 3}, "steps applies only"),
    ("gaussian", {"rank": 2, "inner": "muon", "steps": 0}, "steps must be a positive integer"),
    ("column", {"rank": 2, "strategy": "bogus"}, "strategy must be one of"),
    ("oracle", {"rank": 0}, "rank must be a positive integer"),
    ("newton_schulz", {"schedule": "nope"}, "unknown schedule 'nope'"),
    ("newton_schulz", {"steps": 0}, "steps must be a positive integer"),
    ("newton_schulz", {"dtype": "float8"}, "dtype must be one of"),
    ("gram_newton_schulz", {"restarts": 2}, "restarts must be a sequence"),
    ("gram_newton_schulz", {"restarts": (0,)}, "restarts must hold step indices"),
    ("gram_newton_schulz", {"dtype": "float8"}, "dtype must be one of"),
    ("exact_ns", {"lower": 0.0}, r"lower must be a number in \(0, 1\)"),
    ("exact_ns", {"dtype": "float16"}, r"dtype must be one of \('float64', 'float32'\)"),
    ("qdwh", {"dtype": "bfloat16"}, r"dtype must be one of \('float64', 'float32'\)"),
    ("muoneq", {"mode": "X"}, "mode must be one of"),
    ("muoneq", {"exponent": 0.5}, "exponent must be a finite number < 0"),
    ("muoneq", {"schedule": "nope"}, "unknown schedule"),
    ("dion2", {"fraction": 0.0}, r"fraction must be a number in \(0, 1\]"),
    ("dion2", {"score": "l3"}, "score must be one of"),
    ("dion2", {"inner": "polar_express"}, "inner must be one of"),
    ("dion2", {"steps": 3}, "steps applies only"),
    ("dion2", {"inner": "newton_schulz", "schedule": "nope"}, "unknown schedule"),
    ("galore", {"rank": 2, "inner": "nope"}, "inner must be 'exact' or a Newton–Schulz schedule"),
    ("gum", {"rank": 2, "q": 1.0}, r"q must be a number in \(0, 1\)"),
    ("gum", {"rank": 2, "steps": 3}, "steps applies only"),
]


@pytest.mark.parametrize("name, params, message", BAD_VALUES)
def test_values_a_method_rejects_are_rejected_by_its_check_without_a_matrix(name, params, message):
    with pytest.raises((ValueError, TypeError), match=message):
        METHODS[name].check_params(params)
    # The check applies the method's own rules: the method rejects the same values.
    with pytest.raises((ValueError, TypeError)):
        METHODS[name](with_spectrum(log_uniform(6, 10.0), 6, 8, rng=0), rng=0, **params)


def test_every_method_with_parameters_checks_their_values():
    for name, method in METHODS.items():
        assert (method.check is not None) == bool(method.params), name
        given = {**PARAMS, **SEEDED_PARAMS}.get(name, {})
        assert method.check_params(given) == method.resolve(given)  # the defaults pass
    with pytest.raises(ValueError, match="check of method 'test_bad' must take the keyword-only parameters"):
        register("test_bad", lambda G, *, rng=None, c=1.0: G, description="x", flops=lambda m, n, *, c: 0,
                 check=lambda *, d: None)
    assert "test_bad" not in METHODS


def test_get_method():
    assert get_method("oracle") is METHODS["oracle"]
    with pytest.raises(ValueError, match="unknown method 'dion'; registered: exact_svd"):
        get_method("dion")


def test_register_adds_a_method_and_rejects_bad_ones():
    def halve(G, *, rng=None, factor=0.5):
        return factor * G

    def halve_flops(m, n, *, factor):
        return m * n

    try:
        method = register("test_halve", halve, description="factor·G", flops=halve_flops)
        assert METHODS["test_halve"] is method
        np.testing.assert_array_equal(method(np.ones((2, 3)), factor=0.25), 0.25)
        assert method.flops(2, 3) == 6.0
        with pytest.raises(ValueError, match="already registered"):
            register("test_halve", halve, description="again", flops=halve_flops)
    finally:
        registry._METHODS.pop("test_halve", None)
    with pytest.raises(ValueError, match="keyword-only rng"):
        register("test_bad", lambda G, rng=None: G, description="x", flops=lambda m, n: 0)
    with pytest.raises(ValueError, match="flops of method 'test_bad' must take"):
        register("test_bad", halve, description="x", flops=lambda m, n: 0)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        register("", halve, description="x", flops=halve_flops)
    assert "test_bad" not in METHODS
    with pytest.raises(TypeError):
        METHODS["x"] = None  # the public view is read-only


# ---------------------------------------------------------------- MuonEq, Dion2, GaLore, GUM

SEEDED = ("muoneq", "dion2", "galore", "gum")
SEEDED_PARAMS = {"galore": {"rank": 4}, "gum": {"rank": 4}}


def test_seeded_methods_are_registered_with_metadata():
    assert dict(METHODS["muoneq"].params) == {"mode": "R", "exponent": -0.5, "schedule": "muon", "steps": None}
    assert dict(METHODS["dion2"].params) == {
        "fraction": 0.25, "score": "l1", "inner": "exact", "schedule": "muon", "steps": None,
    }
    assert dict(METHODS["galore"].params) == {"rank": REQUIRED, "inner": "exact", "steps": None}
    assert dict(METHODS["gum"].params) == {"rank": REQUIRED, "q": 0.5, "inner": "exact", "steps": None}
    assert "target" in METHODS["muoneq"].description
    assert "biased after the sign" in METHODS["gum"].description


@pytest.mark.parametrize("name", SEEDED)
@pytest.mark.parametrize("shape", [(12, 18), (18, 12), (15, 15)])
def test_seeded_methods_run_on_every_backend(backend, name, shape):
    G = with_spectrum(log_uniform(min(shape), 10.0), *shape, rng=1)
    A = backend.asarray(G)
    X = METHODS[name](A, rng=2, **SEEDED_PARAMS.get(name, {}))
    Xn = backend.to_numpy(X)
    assert Xn.shape == shape and np.all(np.isfinite(Xn))
    # The same seed gives the same array, of A's library, device and dtype.
    backend.assert_close(METHODS[name](A, rng=2, **SEEDED_PARAMS.get(name, {})), Xn, rtol=0, dtype="float64")


@pytest.mark.parametrize("mode", ["R", "C", "RC"])
def test_muoneq_is_newton_schulz_of_the_equilibrated_matrix(backend, mode):
    from matsign.transforms.equilibration import equilibrate

    G = with_spectrum(log_uniform(10, 100.0), 10, 16, rng=5) * np.logspace(0, 2, 10)[:, None]
    A = backend.asarray(G)
    X = METHODS["muoneq"](A, mode=mode, schedule="polar_express", steps=4)
    expected = newton_schulz(equilibrate(G, mode), "polar_express", steps=4)
    # The same float64 operations on one backend; across backends, BLAS rounding (~1e-15).
    backend.assert_close(X, expected, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("shape", [(12, 18), (18, 12)])
def test_dion2_at_fraction_one_is_the_exact_sign(backend, shape):
    G = with_spectrum(log_uniform(12, 1e3), *shape, rng=6)
    for score in ("l1", "l2", "random"):
        X = METHODS["dion2"](backend.asarray(G), rng=0, fraction=1.0, score=score)
        backend.assert_close(X, msign(G), rtol=1e-7, atol=1e-12)


def test_dion2_updates_only_the_selected_slices():
    G = with_spectrum(log_uniform(8, 10.0), 8, 20, rng=7)
    X = METHODS["dion2"](G, rng=0, fraction=0.25)
    rows = np.flatnonzero(np.any(X != 0, axis=1))
    np.testing.assert_array_equal(rows, np.sort(np.argsort(-np.abs(G).sum(axis=1))[:2]))
    np.testing.assert_allclose(X[rows], msign(G[rows]), atol=1e-12)


def test_galore_with_exact_inner_is_the_oracle_and_with_a_schedule_the_projected_step():
    from matsign.lowrank.sign import lowrank_msign

    for shape in [(10, 16), (16, 10)]:
        G = with_spectrum(log_uniform(10, 100.0), *shape, rng=8)
        np.testing.assert_allclose(METHODS["galore"](G, rank=3), METHODS["oracle"](G, rank=3), atol=1e-12)
        U, _, Vt = np.linalg.svd(G, full_matrices=False)
        basis = U[:, :3] if shape[0] <= shape[1] else Vt[:3].T
        np.testing.assert_allclose(
            METHODS["galore"](G, rank=3, inner="muon", steps=4),
            lowrank_msign(G, basis, inner="muon", steps=4),
            atol=1e-12,
        )


def test_gum_returns_the_sign_of_one_branch():
    # For the SVD projector the two branches give U_r V_rᵀ (low rank) and U_⊥ V_⊥ᵀ (residual).
    G = with_spectrum(log_uniform(8, 10.0), 8, 12, rng=9)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    low, full = U[:, :3] @ Vt[:3], U[:, 3:] @ Vt[3:]
    seen = set()
    for seed in range(12):
        X = METHODS["gum"](G, rng=seed, rank=3, q=0.5)
        if np.allclose(X, low, atol=1e-10):
            seen.add("low_rank")
        else:
            np.testing.assert_allclose(X, full, atol=1e-10)
            seen.add("full_rank")
    assert seen == {"low_rank", "full_rank"}


def test_seeded_method_flops_are_positive_and_grow_with_their_parameter():
    m, n = 1024, 4096
    ns = METHODS["newton_schulz"].flops(m, n)
    assert METHODS["muoneq"].flops(m, n) == ns
    steps = [METHODS["muoneq"].flops(m, n, steps=s) for s in (1, 3, 5, 8)]
    assert 0 < steps[0] and np.all(np.diff(steps) > 0)
    for inner in ("exact", "newton_schulz"):
        costs = [METHODS["dion2"].flops(m, n, fraction=f, inner=inner) for f in (0.1, 0.25, 0.5, 1.0)]
        assert 0 < costs[0] and np.all(np.diff(costs) > 0)
    # Dion2 at fraction 1 orthogonalizes the whole matrix: Muon's cost; at 1/4, under 1/4 of it.
    assert METHODS["dion2"].flops(m, n, fraction=1.0, inner="newton_schulz") == ns
    assert METHODS["dion2"].flops(m, n, fraction=0.25, inner="newton_schulz") < ns / 4
    # Hand count: k = ⌈0.25·1024⌉ = 256 tall-side rows of length 4096, exact sign of 256×4096.
    assert METHODS["dion2"].flops(n, m) == 6 * 4096 * 256**2 + 20 * 256**3 + 2 * 256**2 * 4096
    for name in ("galore", "gum"):
        for inner in ("exact", "muon"):
            costs = [METHODS[name].flops(m, n, rank=r, inner=inner) for r in (8, 32, 128, 512)]
            assert 0 < costs[0] and np.all(np.diff(costs) > 0)
    assert METHODS["galore"].flops(m, n, rank=64) > METHODS["oracle"].flops(m, n, rank=64)
    assert METHODS["gum"].flops(m, n, rank=64, q=0.9) > METHODS["gum"].flops(m, n, rank=64, q=0.1)


def test_seeded_method_parameters_are_checked():
    G = np.eye(4)
    with pytest.raises(ValueError, match="method 'galore' needs parameter 'rank'"):
        METHODS["galore"](G)
    with pytest.raises(ValueError, match="mode must be one of"):
        METHODS["muoneq"](G, mode="X")
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\]"):
        METHODS["dion2"](G, fraction=0.0)
    with pytest.raises(ValueError, match="steps applies only"):
        METHODS["gum"](G, rng=0, rank=2, steps=3)
    with pytest.raises(ValueError, match=r"q must be a number in \(0, 1\)"):
        METHODS["gum"](G, rank=2, q=1.0)


def test_gram_newton_schulz_costs_less_only_on_wide_matrices():
    # hand count for 5 quintic steps with one restart: plain Gram 4m²n + 34m³ plus 4m²n − 6m³
    ns, gram = METHODS["newton_schulz"], METHODS["gram_newton_schulz"]
    assert gram.flops(256, 4096, schedule="muon", steps=None, restarts=(2,), dtype=None) == 8 * 256**2 * 4096 + 28 * 256**3
    for m, n, cheaper in [(256, 4096, True), (1024, 1024, False)]:
        ratio = gram.flops(m, n, schedule="muon", steps=None, restarts=(2,), dtype=None) / ns.flops(
            m, n, schedule="muon", steps=None, dtype=None)
        assert (ratio < 1) is cheaper
