"""Spectral clipping against float64 oracles: ``U·min(Σ, τ)·Vᵀ`` from NumPy's SVD, and the
Newton–Schulz route against ``U·diag(clip_values)·Vᵀ`` (its values in exact arithmetic)."""

import numpy as np
import pytest

from matsign import predict
from matsign.exact.clip import clip_values, spectral_clip, spectral_clip_flops
from matsign.exact.newton_schulz import newton_schulz_flops
from matsign.flops import svd_sign
from matsign.metrics import alignment, relative_error
from matsign.registry import METHODS
from matsign.synthetic import log_uniform, with_spectrum

SHAPES = [(12, 20), (20, 12), (16, 16)]
# Relative to σ₁ = 8: float64 SVDs are backward stable to a few eps·σ₁ (1e-12 leaves a
# margin of 1e3); float32 data and SVD perturb σ and the vectors by ~1e-7·κ with κ = 100,
# so 1e-4 relative.
RTOL = {"float64": 1e-12, "float32": 1e-4}
SIGMA = 8.0 * log_uniform(12, 100.0)  # 8 … 0.08, straddling every τ below
TAUS = (0.05, 0.5, 2.0, 10.0)


def _oracle(G, values_of):
    """``U diag(values_of(σ)) Vᵀ`` from NumPy's float64 SVD of ``G``."""
    U, s, Vt = np.linalg.svd(np.asarray(G, dtype=np.float64), full_matrices=False)
    return (U * values_of(s)) @ Vt


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tau", TAUS)
def test_svd_route_matches_the_float64_svd(backend, dtype, shape, tau):
    G = with_spectrum(SIGMA, *shape, rng=1)
    X = spectral_clip(backend.asarray(G, dtype=dtype), tau)
    expected = _oracle(G, lambda s: np.minimum(s, tau))
    backend.assert_close(X, expected, rtol=0, atol=RTOL[dtype] * SIGMA[0], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("schedule", ["polar_express", "polar_express8", "muon"])
def test_newton_schulz_route_matches_its_exact_arithmetic_values(backend, dtype, shape, schedule):
    tau = 0.5
    G = with_spectrum(SIGMA, *shape, rng=2)
    A = backend.asarray(G, dtype=dtype)
    X = spectral_clip(A, tau, route="newton_schulz", schedule=schedule)
    expected = _oracle(G, lambda s: clip_values(s, tau, route="newton_schulz", schedule=schedule))
    # Four products and two runs of ≤ 8 steps of polynomials with slope ≤ 3 on [0, 1.2]:
    # roundoff grows by at most ~1e2, i.e. 1e-13 in float64 and ~1e-5 in float32 (× σ₁).
    tol = {"float64": 1e-12, "float32": 1e-4}[dtype]
    backend.assert_close(X, expected, rtol=0, atol=tol * SIGMA[0], dtype=dtype)


def test_the_identity_is_exact_with_converged_signs():
    """With φ ≡ 1 on the spectrum (polar_express8 on κ ≤ 100 away from τ), the Newton–Schulz
    values equal min(σ, τ) to the schedule's own error (≤ 1e-6 relative on [1e-3, 1])."""
    s = np.array([8.0, 4.0, 2.0, 0.25, 0.2, 0.1])
    values = clip_values(s, 1.0, route="newton_schulz", schedule="polar_express8")
    np.testing.assert_allclose(values, np.minimum(s, 1.0), rtol=0, atol=1e-5 * s[0])


def test_stack_equals_each_matrix(backend):
    stack = np.stack([with_spectrum(SIGMA * (i + 1), 12, 20, rng=i) for i in range(3)])
    for route in ("svd", "newton_schulz"):
        X = backend.to_numpy(spectral_clip(backend.asarray(stack), 1.0, route=route))
        for i in range(3):
            single = backend.to_numpy(spectral_clip(backend.asarray(stack[i]), 1.0, route=route))
            np.testing.assert_allclose(X[i], single, rtol=0, atol=1e-12 * SIGMA[0] * (i + 1))


def test_zero_and_threshold_above_sigma(backend):
    G = with_spectrum(SIGMA, 12, 20, rng=3)
    for route in ("svd", "newton_schulz"):
        zero = backend.to_numpy(spectral_clip(backend.asarray(np.zeros((4, 6))), 1.0, route=route))
        assert np.all(zero == 0)
    # τ ≥ σ₁ keeps G: exact by the SVD route (rounding only).
    backend.assert_close(spectral_clip(backend.asarray(G), 100.0), G, rtol=0, atol=1e-12 * SIGMA[0])


def test_registered_method_prediction_and_flops():
    G = with_spectrum(SIGMA, 12, 20, rng=4)
    R = np.linalg.svd(G, full_matrices=False)
    reference = R[0] @ R[2]
    for params in ({"tau": 0.5}, {"tau": 0.5, "route": "newton_schulz"}):
        X = METHODS["spectral_clip"](G, **params)
        p = predict(SIGMA, "spectral_clip", shape=(12, 20), **params)
        assert p["kind"] == "exact"
        np.testing.assert_allclose(
            [float(alignment(X, G)), float(relative_error(X, reference))],
            [p["alignment"], p["relative_error"]], rtol=1e-9,
        )
    assert METHODS["spectral_clip"].flops(12, 20) == svd_sign(12, 20)
    ns = 2 * newton_schulz_flops(12, 20, "polar_express") + 4 * 12 * 12 * 20
    assert spectral_clip_flops(20, 12, "newton_schulz") == ns


@pytest.mark.parametrize(
    "params, message",
    [
        ({"tau": 0.0}, "tau must be a finite number > 0"),
        ({"tau": float("inf")}, "tau must be a finite number"),
        ({"route": "eig"}, "route must be"),
        ({"steps": 3}, "steps applies only"),
        ({"route": "newton_schulz", "schedule": "nope"}, "unknown schedule"),
    ],
)
def test_bad_parameters_are_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        METHODS["spectral_clip"].check_params(params)
    with pytest.raises(ValueError, match=message):
        spectral_clip(np.eye(3), **params)
