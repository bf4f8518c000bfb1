"""Spectral diagnostics against closed forms of prescribed spectra and float64 oracles.

Test matrices are ``U diag(σ) Vᵀ`` built in NumPy float64 (``with_spectrum``), converted to the
backend's dtype; the expected values are closed forms of the prescribed σ, or ``numpy.linalg.svd``
in float64 of the data actually stored.

Tolerances (relative to the quantity): float64 1e-12 — the SVD's backward error is a small
multiple of eps₆₄ ≈ 2e-16 times σ₁ per singular value, amplified at most κ ≤ 10 times in ratios
such as σ₁/σ_min. float32 1e-5 — rounding the data to float32 moves each σ_i by at most
‖ΔG‖₂ ≲ eps₃₂·σ₁ (Weyl; eps₃₂ ≈ 1.2e-7) and the float32 SVD adds the same again, so ratios
with κ ≤ 10 move by ≲ 10·2·1.2e-7·(small constant) ≈ 1e-6; 1e-5 leaves a margin.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest

from matsign._backend import dtype_name
from matsign.spectral import (
    condition_number,
    effective_rank,
    nuclear_norm,
    nuclear_rank,
    numerical_rank,
    power_law_exponent,
    singular_value_summary,
    singular_values,
    spectral_norm,
    spectral_summary,
    stable_rank,
    tail_energy,
)
from matsign.synthetic import log_uniform, low_rank_plus_noise, power_law, with_spectrum

RTOL = {"float64": 1e-12, "float32": 1e-5}
DTYPES = tuple(RTOL)
EPS = {"float64": 2.0**-52, "float32": 2.0**-23}
SHAPES = [(30, 50), (50, 30), (40, 40)]  # wide, tall, square

# Rank 6 < min(m, n): the remaining singular values are zero, so every "nonzero σ" rule is tested.
SIGMA = np.array([4.0, 3.0, 2.0, 2.0, 1.0, 0.5])


def _data(backend, sigma, m, n, dtype, seed=0):
    return backend.asarray(with_spectrum(sigma, m, n, rng=seed), dtype=dtype)


def _close(backend, actual, expected, dtype, scale=1.0):
    """``actual``, a backend array of ``dtype``, within ``RTOL[dtype]`` of the float64 oracle."""
    backend.assert_close(actual, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale, dtype=dtype)


def _close_numbers(actual, expected, dtype):
    """Host numbers (summaries read back to Python) within ``RTOL[dtype]`` of the oracle."""
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=RTOL[dtype])


def _entropy_rank(sigma):
    p = sigma / sigma.sum()
    return math.exp(-np.sum(p * np.log(p)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_singular_values_match_prescribed_spectrum(backend, dtype, shape):
    m, n = shape
    sigma = log_uniform(min(m, n), 10.0)
    G = _data(backend, sigma, m, n, dtype)
    s = singular_values(G)
    assert tuple(s.shape) == (min(m, n),)
    _close(backend, s, sigma, dtype)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16bit_inputs_are_computed_in_float32(backend, dtype):
    G = _data(backend, log_uniform(20, 10.0), 20, 30, dtype)
    s = singular_values(G)
    # Oracle: float64 SVD of the 16-bit values actually stored (exact in float64).
    stored = backend.to_numpy(G).astype(np.float64)
    _close(backend, s, np.linalg.svd(stored, compute_uv=False), "float32")
    assert dtype_name(spectral_norm(G).dtype) == "float32"
    assert int(backend.to_numpy(numerical_rank(G))) == 20


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16bit_default_threshold_does_not_grow_with_the_size(backend, dtype):
    """max(m, n)·eps₁₆ would be 2 for a 256 × 512 bfloat16 matrix and count every singular value
    as zero; the default keeps max(m, n)·eps₃₂ with the 16-bit epsilon as a floor, so a
    well-conditioned (κ = 2) 16-bit matrix has full numerical rank."""
    G = _data(backend, log_uniform(256, 2.0), 256, 512, dtype)
    assert int(backend.to_numpy(numerical_rank(G))) == 256
    assert float(backend.to_numpy(condition_number(G))) == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_norms_and_ranks_closed_forms(backend, dtype, shape):
    G = _data(backend, SIGMA, *shape, dtype)
    functions = (spectral_norm, nuclear_norm, nuclear_rank, stable_rank, condition_number,
                 effective_rank)
    for f in functions:
        assert tuple(f(G).shape) == (), f.__name__
    backend.assert_close(numerical_rank(G), SIGMA.size, rtol=0, dtype="int64")
    _close(backend, spectral_norm(G, method="svd"), SIGMA[0], dtype)
    _close(backend, spectral_norm(G), SIGMA[0], dtype)
    _close(backend, nuclear_norm(G), SIGMA.sum(), dtype)
    _close(backend, stable_rank(G), np.sum(SIGMA**2) / SIGMA[0] ** 2, dtype)
    _close(backend, nuclear_rank(G), SIGMA.sum() ** 2 / np.sum(SIGMA**2), dtype)
    _close(backend, condition_number(G), SIGMA[0] / SIGMA[-1], dtype)
    _close(backend, effective_rank(G), _entropy_rank(SIGMA), dtype)
    for r in (1, 3, SIGMA.size, min(shape)):
        _close(backend, tail_energy(G, r), np.sum(SIGMA[r:] ** 2) / np.sum(SIGMA**2), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_equal_singular_values_have_full_effective_and_stable_rank(backend, dtype):
    G = _data(backend, np.full(7, 3.0), 20, 25, dtype)
    _close(backend, effective_rank(G), 7.0, dtype)
    _close(backend, stable_rank(G), 7.0, dtype)
    _close(backend, condition_number(G), 1.0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_power_law_exponent_is_exact_on_a_power_law(backend, dtype, alpha):
    # κ = 12^α ≤ 144: in float32, log σ_i moves by up to κ·2 eps₃₂ ≈ 3.5e-5 at the small end,
    # and the least-squares slope over log 1..12 moves by about as much, hence 1e-4 there.
    G = _data(backend, power_law(12, alpha), 12, 20, dtype)
    tol = {"float64": 1e-12, "float32": 1e-4}[dtype]
    backend.assert_close(power_law_exponent(G), alpha, rtol=tol, dtype=dtype)


def test_power_law_exponent_is_nan_below_two_nonzero_values(backend):
    G = _data(backend, [2.0], 5, 6, "float64")
    assert np.isnan(backend.to_numpy(power_law_exponent(G)))
    assert np.isnan(backend.to_numpy(power_law_exponent(backend.asarray(np.ones((1, 4))))))


@pytest.mark.parametrize("dtype", DTYPES)
def test_rtol_sets_which_singular_values_count(backend, dtype):
    sigma = low_rank_plus_noise(10, 4, noise=1e-3)
    G = _data(backend, sigma, 16, 12, dtype)
    get = backend.to_numpy
    assert int(get(numerical_rank(G, rtol=1e-2))) == 4
    assert int(get(numerical_rank(G, rtol=1e-4))) == 10
    # rtol = 0 keeps the rounding-level singular values of the zero directions.
    assert int(get(numerical_rank(G, rtol=0.0))) == 12
    _close(backend, condition_number(G, rtol=1e-2), 1.0, dtype)
    # σ_min = 1e-3: κ = 1e3 amplifies float32 errors, so compare at κ·RTOL.
    backend.assert_close(condition_number(G, rtol=1e-4), 1e3, rtol=1e3 * RTOL[dtype], dtype=dtype)
    _close(backend, effective_rank(G, rtol=1e-2), 4.0, dtype)
    _close(backend, effective_rank(G, rtol=1e-4), _entropy_rank(sigma), dtype, scale=1e3)


@functools.lru_cache(maxsize=1)
def _power_law_matrix():
    """1500 × 2000 with σ_i = 1/i (i ≤ 256): gap σ₉/σ₁ = 1/9 for the block of 8."""
    return with_spectrum(power_law(256), 1500, 2000, rng=7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_subspace_spectral_norm_converges_on_a_gap(backend, dtype):
    G = backend.asarray(_power_law_matrix(), dtype=dtype)
    # 1e-7 is below float32's resolution of σ₁ = 1, so float32 asks for 1e-5.
    tol = {"float64": 1e-7, "float32": 1e-5}[dtype]
    estimate = spectral_norm(G, method="subspace", rng=0, tol=tol)
    assert tuple(estimate.shape) == ()
    backend.assert_close(estimate, 1.0, rtol=0, atol=tol, dtype=dtype)
    # min(m, n) = 1500 > 1024: "auto" is the subspace iteration, same seed, same numbers.
    auto = spectral_norm(G, rng=0, tol=tol)
    assert float(backend.to_numpy(auto)) == float(backend.to_numpy(estimate))
    transposed = spectral_norm(G.T, method="subspace", rng=0, tol=tol)
    backend.assert_close(transposed, 1.0, rtol=0, atol=tol, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(120, 90), (90, 120)])
@pytest.mark.parametrize(
    "sigma, max_iters",
    [
        (log_uniform(90, 1.2), 1),  # no gap, one step: far from converged
        (power_law(90), 30),  # a gap: converges to σ₁ up to rounding
    ],
    ids=["unconverged", "converged"],
)
def test_subspace_spectral_norm_is_a_lower_bound(backend, dtype, shape, sigma, max_iters):
    G = _data(backend, sigma, *shape, dtype, seed=3)
    sigma1 = np.linalg.svd(backend.to_numpy(G).astype(np.float64), compute_uv=False)[0]
    tol = {"float64": 1e-12, "float32": 1e-7}[dtype]
    for seed in range(5):
        estimate = spectral_norm(G, method="subspace", rng=seed, tol=tol, max_iters=max_iters)
        estimate = float(backend.to_numpy(estimate))
        # σ₁(QᵀG) ≤ σ₁(G) exactly; forming QᵀG and its small SVD in floating point adds a few
        # eps (at most 3 eps seen over 240 converged runs), hence 10 eps.
        assert 0.8 * sigma1 < estimate <= sigma1 * (1 + 10 * EPS[dtype])


def test_subspace_small_matrix_is_exact(backend):
    # min(m, n) ≤ 8: the block spans the whole short side, so the first estimate is exact.
    G = _data(backend, [3.0, 2.0, 1.0], 3, 50, "float64")
    _close(backend, spectral_norm(G, method="subspace", rng=1), 3.0, "float64")


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_equals_per_slice(backend, dtype):
    slices = [with_spectrum(log_uniform(5, 4.0 + i), 9, 7, rng=i) for i in range(6)]
    stack = np.stack(slices).reshape(2, 3, 9, 7)
    G = backend.asarray(stack, dtype=dtype)
    functions = {
        "singular_values": singular_values,
        "spectral_norm": spectral_norm,
        "nuclear_norm": nuclear_norm,
        "nuclear_rank": nuclear_rank,
        "stable_rank": stable_rank,
        "numerical_rank": numerical_rank,
        "condition_number": condition_number,
        "effective_rank": effective_rank,
        "power_law_exponent": power_law_exponent,
        "tail_energy": lambda x: tail_energy(x, 2),
    }
    for name, f in functions.items():
        batched = f(G)
        tail = (7,) if name == "singular_values" else ()
        assert tuple(batched.shape) == (2, 3) + tail, name
        for i in range(2):
            for j in range(3):
                single = f(backend.asarray(stack[i, j], dtype=dtype))
                assert tuple(single.shape) == tail, name
                # κ = 4..9 over the nonzero σ: within the module docstring's bound.
                backend.assert_close(batched[i, j, ...], backend.to_numpy(single), rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_matrix(backend, dtype):
    G = backend.asarray(np.zeros((6, 9)), dtype=dtype)
    get = backend.to_numpy
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero or log(0) warnings
        assert np.all(get(singular_values(G)) == 0)
        assert get(spectral_norm(G, method="svd")) == 0
        assert get(spectral_norm(G, method="subspace", rng=0)) == 0
        assert get(nuclear_norm(G)) == 0
        assert get(stable_rank(G)) == 0
        assert get(stable_rank(G, method="subspace", rng=0)) == 0
        assert get(nuclear_rank(G)) == 0
        assert get(numerical_rank(G)) == 0
        assert get(effective_rank(G)) == 0
        assert get(tail_energy(G, 2)) == 0
        assert np.isnan(get(condition_number(G)))
        assert np.isnan(get(power_law_exponent(G)))
        summary = spectral_summary(G)
    assert summary["numerical_rank"] == 0 and summary["stable_rank"] == 0.0
    assert summary["frobenius_norm"] == 0.0 and math.isnan(summary["condition_number"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_spectral_summary_closed_forms(backend, dtype, shape):
    G = _data(backend, SIGMA, *shape, dtype)
    summary = spectral_summary(G, ranks=(1, 8, 30, 41))
    expected = {
        "m": shape[0],
        "n": shape[1],
        "frobenius_norm": math.sqrt(np.sum(SIGMA**2)),
        "spectral_norm": SIGMA[0],
        "nuclear_norm": SIGMA.sum(),
        "stable_rank": np.sum(SIGMA**2) / SIGMA[0] ** 2,
        "nuclear_rank": SIGMA.sum() ** 2 / np.sum(SIGMA**2),
        "numerical_rank": SIGMA.size,
        "condition_number": SIGMA[0] / SIGMA[-1],
        "effective_rank": _entropy_rank(SIGMA),
        "power_law_exponent": -np.polyfit(np.log(np.arange(1, 7)), np.log(SIGMA), 1)[0],
        "tail_energy_r1": np.sum(SIGMA[1:] ** 2) / np.sum(SIGMA**2),
        "tail_energy_r8": 0.0,
        "tail_energy_r30": 0.0,
    }
    assert summary.keys() == expected.keys()  # r = 41 > min(m, n) is left out
    integers = ("m", "n", "numerical_rank")
    assert all(type(v) is (int if k in integers else float) for k, v in summary.items())
    for key, value in expected.items():
        # atol covers the zero tails beyond rank 6, which hold only rounding noise.
        _close_numbers(summary[key], value, dtype)


def test_errors_name_the_argument(backend):
    G = backend.asarray(np.ones((4, 5)))
    with pytest.raises(ValueError, match="G"):
        singular_values(backend.asarray(np.ones(5)))
    with pytest.raises(ValueError, match="G"):
        stable_rank(backend.asarray(np.array([[1.0, np.nan], [0.0, 1.0]])))
    with pytest.raises(ValueError, match="G"):
        effective_rank(backend.asarray(np.ones((0, 3))))
    with pytest.raises(TypeError, match="G"):
        nuclear_norm(backend.asarray(np.ones((3, 3)), dtype="int64"))
    for rank in (0, 5, 1.5, True):
        with pytest.raises(ValueError, match="rank"):
            tail_energy(G, rank)
    for rtol in (-0.1, 1.0, "1e-3"):
        with pytest.raises(ValueError, match="rtol"):
            numerical_rank(G, rtol=rtol)
        with pytest.raises(ValueError, match="rtol"):
            condition_number(G, rtol=rtol)
    with pytest.raises(ValueError, match="method"):
        spectral_norm(G, method="power")
    with pytest.raises(ValueError, match="method"):
        stable_rank(G, method="lanczos")
    for tol in (0.0, -1e-3, 1.0, float("nan")):
        with pytest.raises(ValueError, match="tol"):
            spectral_norm(G, method="subspace", tol=tol)
    with pytest.raises(ValueError, match="max_iters"):
        spectral_norm(G, method="subspace", max_iters=0)
    with pytest.raises(ValueError, match="G"):
        spectral_norm(backend.asarray(np.ones((2, 4, 5))), method="subspace")
    with pytest.raises(ValueError, match="G"):
        spectral_summary(backend.asarray(np.ones((2, 4, 5))))
    with pytest.raises(ValueError, match="ranks"):
        spectral_summary(G, ranks=(1, 0))
    with pytest.raises(ValueError, match="ranks"):
        spectral_summary(G, ranks=3)


def test_singular_value_summary_equals_the_matrix_summary(backend):
    # The matrix route runs its own SVD; handing over the float64 oracle σ must give the same
    # numbers to roundoff.
    G = with_spectrum(log_uniform(12, 1e3), 12, 20, rng=5)
    from_matrix = spectral_summary(backend.asarray(G), ranks=(1, 4, 50))
    s = backend.asarray(np.linalg.svd(G, compute_uv=False))
    from_values = singular_value_summary(s, 12, 20, ranks=(1, 4, 50))
    assert from_values.keys() == from_matrix.keys()
    for key, value in from_matrix.items():
        assert from_values[key] == pytest.approx(value, rel=1e-10), key


def test_singular_value_summary_rejects_a_wrong_spectrum_length():
    with pytest.raises(ValueError, match="min\\(m, n\\) = 3"):
        singular_value_summary(np.ones(4), 3, 5)


def test_summary_from_singular_values_matches_the_matrix_summary_for_16_bit_storage():
    """singular_value_summary with the storage dtype applies the threshold spectral_summary
    applies to the stored matrix (σ₂/σ₁ = 1e-3 is below the bfloat16 floor 2⁻⁷, above
    2·eps₃₂)."""
    torch = pytest.importorskip("torch")
    G = torch.diag(torch.tensor([1.0, 1e-3])).bfloat16()
    s = singular_values(G)
    assert spectral_summary(G)["numerical_rank"] == 1
    assert singular_value_summary(s, 2, 2, dtype=G.dtype)["numerical_rank"] == 1
    assert singular_value_summary(s, 2, 2)["numerical_rank"] == 2  # s itself is float32


@pytest.mark.parametrize("dtype, c", [("float64", 1e-300), ("float64", 1e300), ("float32", 1e-30), ("float32", 1e30)])
def test_subspace_spectral_norm_at_extreme_scales(backend, dtype, c):
    # A A^T Q of entries near 1e±300 (1e±30 in float32) over- or underflows unless A is scaled
    # first. The block (min(8, m) = 6 = m columns) spans the whole range, so the estimate is σ₁
    # itself up to rounding: 100 units of roundoff of the dtype.
    G = np.random.default_rng(3).standard_normal((6, 9))
    expected = np.linalg.svd(G, compute_uv=False)[0] * c
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate = spectral_norm(backend.asarray(G * c, dtype=dtype), method="subspace", rng=0)
    backend.assert_close(estimate, expected, rtol={"float64": 1e-13, "float32": 1e-5}[dtype], dtype=dtype)
