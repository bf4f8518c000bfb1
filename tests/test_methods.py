"""The method registry: uniform calls on every backend, parameters, flop counts, registration."""

import numpy as np
import pytest

from matsign import methods
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.sign import msign
from matsign.methods import METHODS, REQUIRED, Method, get_method, register
from matsign.synthetic import log_uniform, with_spectrum

BUILTIN = ("exact_svd", "exact_eigh", "newton_schulz", "gaussian", "column", "oracle")

# Minimal parameters that make each built-in method runnable.
PARAMS = {"gaussian": {"rank": 4}, "column": {"rank": 4}, "oracle": {"rank": 4}}


def test_builtin_methods_are_registered_with_metadata():
    for name in BUILTIN:
        method = METHODS[name]
        assert isinstance(method, Method) and method.name == name
        assert method.description
        assert "rng" not in method.params
    assert dict(METHODS["gaussian"].params) == {
        "rank": REQUIRED, "oversample": 0, "power_iters": 0, "normalizer": "qr", "inner": "exact", "steps": None,
    }
    assert dict(METHODS["column"].params) == {"rank": REQUIRED, "strategy": "uniform", "inner": "exact", "steps": None}
    assert dict(METHODS["newton_schulz"].params) == {"schedule": "muon", "steps": None}
    assert dict(METHODS["oracle"].params) == {"rank": REQUIRED}
    assert dict(METHODS["exact_svd"].params) == {}


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("shape", [(12, 18), (18, 12), (15, 15)])
def test_every_method_runs_on_every_backend(backend, name, shape):
    G = with_spectrum(log_uniform(min(shape), 10.0), *shape, rng=1)
    A = backend.asarray(G)
    X = METHODS[name](A, rng=2, **PARAMS.get(name, {}))
    assert type(X) is type(A) and X.dtype == A.dtype
    Xn = backend.to_numpy(X)
    assert Xn.shape == shape
    again = backend.to_numpy(METHODS[name](A, rng=2, **PARAMS.get(name, {})))
    np.testing.assert_array_equal(Xn, again)
    if name in ("exact_svd", "exact_eigh"):
        np.testing.assert_allclose(Xn, msign(G), atol=1e-10)
    elif name == "newton_schulz":
        np.testing.assert_allclose(Xn, newton_schulz(G), atol=1e-12)
    else:
        np.testing.assert_allclose(np.linalg.svd(Xn, compute_uv=False)[:4], 1.0, atol=1e-10)


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
        methods._REGISTRY.pop("test_halve", None)
    with pytest.raises(ValueError, match="keyword-only rng"):
        register("test_bad", lambda G, rng=None: G, description="x", flops=lambda m, n: 0)
    with pytest.raises(ValueError, match="flops of method 'test_bad' must take"):
        register("test_bad", halve, description="x", flops=lambda m, n: 0)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        register("", halve, description="x", flops=halve_flops)
    assert "test_bad" not in METHODS
    with pytest.raises(TypeError):
        METHODS["x"] = None  # the public view is read-only
