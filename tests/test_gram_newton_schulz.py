"""Gram Newton–Schulz against the standard iteration, the scalar map, and a float64 oracle."""

import numpy as np
import pytest

from matsign.exact.gram_newton_schulz import gram_newton_schulz, gram_newton_schulz_flops
from matsign.exact.newton_schulz import NORMALIZATIONS, newton_schulz
from matsign.exact.schedules import SCHEDULES, scalar_map
from matsign.synthetic import log_uniform, with_spectrum


def _svals(X):
    return np.linalg.svd(X, compute_uv=False)


@pytest.fixture(scope="module")
def G():
    # σ log-spaced over [1e-3, 1], wide 24 × 80: the shape Gram Newton–Schulz is made for.
    return with_spectrum(log_uniform(24, 1e3), 24, 80, rng=3)


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("orientation", ["wide", "tall", "square"])
@pytest.mark.parametrize("restarts", [(), (2,)])
def test_equals_standard_newton_schulz_in_float64(backend, G, name, orientation, restarts):
    A = {"wide": G, "tall": G.T, "square": G[:, :24]}[orientation]
    Ab = backend.asarray(A)
    X = gram_newton_schulz(Ab, name, restarts=restarts)
    ref = backend.to_numpy(newton_schulz(Ab, name))
    # Same polynomial, evaluated in a different order: float64 roundoff (≈1e-16) amplified by
    # the schedules' slopes (≤ 8 per step over ≤ 10 steps on ≤ 80 columns).
    backend.assert_close(X, ref, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_singular_values_follow_scalar_map(G, name):
    X = gram_newton_schulz(G, name, restarts=())
    predicted = scalar_map(_svals(G) / np.linalg.norm(G), name)
    np.testing.assert_allclose(np.sort(_svals(X)), np.sort(predicted), atol=1e-10)


@pytest.mark.parametrize("normalize", NORMALIZATIONS)
def test_every_normalization_matches_standard(backend, G, normalize):
    Gb = backend.asarray(G)
    X = gram_newton_schulz(Gb, "polar_express", normalize=normalize)
    ref = backend.to_numpy(newton_schulz(Gb, "polar_express", normalize=normalize))
    backend.assert_close(X, ref, rtol=1e-7, atol=1e-12)


def test_batched_equals_per_slice(backend):
    S = np.stack([with_spectrum(log_uniform(8, 30.0), 8, 20, rng=k) for k in range(3)])
    X = gram_newton_schulz(backend.asarray(S), "you5")
    per_slice = np.stack([gram_newton_schulz(S[k], "you5") for k in range(3)])
    backend.assert_close(X, per_slice, rtol=1e-7, atol=1e-13)


def test_float32_against_float64_oracle(backend, G):
    G32 = backend.asarray(G, "float32")
    result = gram_newton_schulz(G32, "polar_express")
    X = backend.to_numpy(result)
    ref = newton_schulz(G, "polar_express")
    err_std = np.abs(backend.to_numpy(newton_schulz(G32, "polar_express")) - ref).max()
    # κ = 1e3. Measured 8.1e-6 against 3.1e-6 for the standard iteration: float32 eps 1.2e-7
    # amplified by the schedule, more so on σ² ≈ 1e-6 held by the Gram matrix.
    assert np.abs(X - ref).max() < max(5 * err_std, 1e-6)
    backend.assert_close(result, ref, rtol=0, atol=1e-4, dtype="float32")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_within_factor_of_standard_on_well_conditioned_input(backend, dtype):
    G = with_spectrum(log_uniform(32, 10.0), 32, 128, rng=5)
    Gb = backend.asarray(G)
    ref = newton_schulz(G, "polar_express")
    err_std = np.abs(backend.to_numpy(newton_schulz(Gb, "polar_express", dtype=dtype)).astype(np.float64) - ref).max()
    X = gram_newton_schulz(Gb, "polar_express", dtype=dtype)
    err_gram = np.abs(backend.to_numpy(X) - ref).max()
    # A 16-bit working precision on float64 storage returns float64 (elementwise, within err_gram).
    backend.assert_close(X, ref, rtol=0, atol=err_gram)
    # Measured ratios 1.5–2.3 (32 × 128, κ = 10): the Gram matrix holds σ², whose rounding is
    # relative to σ₁² rather than σ₁; 4× leaves room for other seeds and accumulation orders.
    assert err_gram < 4 * err_std


def test_restart_repairs_ill_conditioned_bfloat16():
    # κ = 1e4: without restarts the bfloat16 Gram iteration drifts away (measured error ≈ 1e6,
    # i.e. no sign at all); one restart before step 2 brings it back to the standard iteration's
    # level (measured 0.09 against 0.09), which is itself limited by bfloat16 on σ ≈ 1e-4.
    G = with_spectrum(log_uniform(64, 1e4), 64, 256, rng=0)
    ref = newton_schulz(G, "polar_express")
    err_std = np.abs(newton_schulz(G, "polar_express", dtype="bfloat16") - ref).max()
    err_plain = np.abs(gram_newton_schulz(G, "polar_express", restarts=(), dtype="bfloat16") - ref).max()
    err_restarted = np.abs(gram_newton_schulz(G, "polar_express", dtype="bfloat16") - ref).max()
    assert err_plain > 10 * err_std
    assert err_restarted < 2 * err_std


def test_flops_match_model_and_save_on_wide_shapes():
    m, n = 64, 1024
    standard = 5 * (4 * m * m * n + 2 * m**3)
    assert gram_newton_schulz_flops(m, n, "muon", restarts=()) == 4 * m * m * n + 34 * m**3
    assert gram_newton_schulz_flops(n, m, "muon") == gram_newton_schulz_flops(m, n, "muon")
    assert gram_newton_schulz_flops(m, n, "muon") < standard
    assert gram_newton_schulz_flops(m, m, "muon", restarts=()) > 5 * 6 * m**3


def test_zero_matrix_and_argument_errors():
    np.testing.assert_array_equal(gram_newton_schulz(np.zeros((3, 5))), np.zeros((3, 5)))
    G = np.ones((2, 3))
    with pytest.raises(ValueError, match="restarts"):
        gram_newton_schulz(G, restarts=(0,))
    with pytest.raises(ValueError, match="restarts"):
        gram_newton_schulz(G, restarts=3)
    with pytest.raises(ValueError, match="normalize"):
        gram_newton_schulz(G, normalize="max")
    with pytest.raises(ValueError, match="dtype"):
        gram_newton_schulz(G, dtype="int8")


@pytest.mark.parametrize("normalize", ["schatten4", "aol"])
def test_float16_gram_normalizations_do_not_overflow_on_long_rows(backend, normalize):
    # As for newton_schulz: n = 70000 > 65504 columns would overflow a float16 Gram matrix of G
    # itself; the orthogonal rows (σ = √n, √n/2) give msign(G) = rows / their norms, which AOL
    # row scaling keeps. The restart product Q_k X₀ adds roundings: 4·2⁻¹⁰ relative.
    n = 70_000
    G = np.stack([np.ones(n), 0.5 * (-1.0) ** np.arange(n)])
    oracle = G / np.linalg.norm(G, axis=1, keepdims=True)
    X = gram_newton_schulz(backend.asarray(G), "cubic", steps=30, normalize=normalize, dtype="float16")
    backend.assert_close(X, oracle, rtol=4 * 2.0**-10, atol=0)


@pytest.mark.parametrize("m, n, name", [(0, 5, "m"), (5, -2, "n"), (2.5, 5, "m")])
def test_flops_reject_invalid_sizes(m, n, name):
    with pytest.raises(ValueError, match=f"^{name} must be a positive integer"):
        gram_newton_schulz_flops(m, n)
