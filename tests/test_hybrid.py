"""The composed QDWH + Newton–Schulz sign against float64 oracles: ``U·diag(hybrid_values)·Vᵀ``
(its values in exact arithmetic) from NumPy's SVD, and the SVD polar factor."""

import math

import numpy as np
import pytest

from matsign import predict
from matsign.exact.hybrid import hybrid_flops, hybrid_sign, hybrid_values
from matsign.exact.newton_schulz import newton_schulz_flops
from matsign.metrics import alignment, relative_error
from matsign.registry import METHODS
from matsign.synthetic import log_uniform, with_spectrum

SHAPES = [(12, 20), (20, 12), (16, 16)]


def _oracle(G, values_of):
    U, s, Vt = np.linalg.svd(np.asarray(G, dtype=np.float64), full_matrices=False)
    return (U * values_of(s)) @ Vt


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("qdwh_steps", [1, 2])
@pytest.mark.parametrize("kappa", [10.0, 1e3])
def test_matches_its_exact_arithmetic_values(backend, dtype, shape, qdwh_steps, kappa):
    k = min(shape)
    G = with_spectrum(log_uniform(k, kappa), *shape, rng=1)
    X = hybrid_sign(backend.asarray(G, dtype=dtype), qdwh_steps=qdwh_steps)
    expected = _oracle(G, lambda s: hybrid_values(s, k, qdwh_steps=qdwh_steps))
    # QR/Cholesky DWH steps are backward stable; the first multiplies the small singular
    # values by up to a ≈ 1e3, and five polynomial steps of slope ≤ 8 amplify input errors
    # further: float64 results agree to ~1e-11, float32 to ~1e-3 (κ·eps₃₂·a, measured ≤ 3e-4).
    tol = {"float64": 1e-9, "float32": 2e-3}[dtype]
    backend.assert_close(X, expected, rtol=0, atol=tol, dtype=dtype)


@pytest.mark.parametrize("kappa", [10.0, 1e3, 1e5])
def test_converges_to_the_svd_polar_factor(kappa):
    """With polar_express8 after two rational steps, every singular value ends within the
    schedule's band of 1: the error is the exact-arithmetic one, max |1 − value|."""
    s = log_uniform(32, kappa)
    G = with_spectrum(s, 32, 48, rng=2)
    X = hybrid_sign(G, qdwh_steps=2, schedule="polar_express8")
    band = np.max(np.abs(1.0 - hybrid_values(s, 32, qdwh_steps=2, schedule="polar_express8")))
    assert band < 1e-3
    reference = _oracle(G, np.ones_like)
    assert np.linalg.norm(X - reference, 2) <= band + 1e-9


def test_stack_equals_each_matrix(backend):
    stack = np.stack([with_spectrum(log_uniform(12, 100.0 * (i + 1)), 12, 20, rng=i)
                      for i in range(3)])
    X = backend.to_numpy(hybrid_sign(backend.asarray(stack)))
    for i in range(3):
        single = backend.to_numpy(hybrid_sign(backend.asarray(stack[i])))
        np.testing.assert_allclose(X[i], single, rtol=0, atol=1e-12)


def test_zero_matrix_gives_zero(backend):
    assert np.all(backend.to_numpy(hybrid_sign(backend.asarray(np.zeros((5, 7))))) == 0)


def test_flops_prediction_and_registry():
    m, n = 20, 12
    # ℓ₀ = 1e-3/√12: c₀ ≈ 1e6 (QR form), c₁ ≈ 35 (Cholesky form); Polar Express: 5 quintics.
    qr = 6 * m * n**2 + 8 * n**3 / 3
    cholesky = 4 * m * n**2 + n**3 / 3
    ns = newton_schulz_flops(m, n, "polar_express")
    assert hybrid_flops(m, n, 1) == pytest.approx(qr + ns, rel=1e-12)
    two = METHODS["hybrid"].flops(n, m, qdwh_steps=2)
    assert two == pytest.approx(qr + cholesky + ns, rel=1e-12)
    s = log_uniform(12, 1e3)
    G = with_spectrum(s, 20, 12, rng=3)
    reference = _oracle(G, np.ones_like)
    for q in (1, 2):
        X = METHODS["hybrid"](G, qdwh_steps=q)
        p = predict(s, "hybrid", shape=(20, 12), qdwh_steps=q)
        np.testing.assert_allclose([float(alignment(X, G)), float(relative_error(X, reference))],
                                   [p["alignment"], p["relative_error"]], rtol=1e-8)
    assert math.isfinite(METHODS["hybrid"].flops(4096, 1024))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"qdwh_steps": 0}, "qdwh_steps must be a positive integer"),
        ({"qdwh_steps": 3}, "qdwh_steps must be 1 or 2"),
        ({"lower": 1.0}, r"lower must be a number in \(0, 1\)"),
        ({"schedule": "nope"}, "unknown schedule"),
    ],
)
def test_bad_parameters_are_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        METHODS["hybrid"].check_params(params)
    with pytest.raises(ValueError, match=message):
        hybrid_sign(np.eye(3), **params)
