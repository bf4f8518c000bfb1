"""Metrics against float64 oracles: ``numpy.linalg`` on the stored data, or closed forms.

The exact sign and the rank-r oracle are built in the tests from ``numpy.linalg.svd`` in float64
(``U Vᵀ``, ``U_r V_rᵀ``), never from matsign. Tolerances as in ``test_spectral.py``: float64
1e-12, float32 1e-5 relative (rounding the data to float32 moves every singular value by
≲ eps₃₂·σ₁ ≈ 1.2e-7·σ₁, and the float32 SVD adds about as much).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from matsign.metrics import alignment, orthogonality_error, rank_floor, relative_error
from matsign.synthetic import haar_orthogonal, log_uniform, with_spectrum

RTOL = {"float64": 1e-12, "float32": 1e-5}
DTYPES = tuple(RTOL)
SHAPES = [(30, 50), (50, 30), (40, 40)]  # wide, tall, square
SIGMA = np.array([4.0, 3.0, 2.0, 2.0, 1.0, 0.5])  # rank 6 < min(m, n)


def _close(backend, actual, expected, dtype):
    """``actual``, a backend array of ``dtype``, within ``RTOL[dtype]`` of the float64 oracle."""
    backend.assert_close(actual, expected, rtol=RTOL[dtype], atol=RTOL[dtype], dtype=dtype)


def _svd(G):
    return np.linalg.svd(G, full_matrices=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_alignment_of_exact_sign_is_one(backend, dtype, shape):
    G = with_spectrum(log_uniform(min(shape), 10.0), *shape, rng=1)
    u, _, vt = _svd(G)
    result = alignment(backend.asarray(u @ vt, dtype=dtype), backend.asarray(G, dtype=dtype))
    assert tuple(result.shape) == ()
    _close(backend, result, 1.0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_alignment_of_rank_r_oracle_is_ky_fan_ratio(backend, dtype, shape):
    G = with_spectrum(SIGMA, *shape, rng=2)
    u, _, vt = _svd(G)
    for r in (1, 3, 6):
        oracle = u[:, :r] @ vt[:r]
        result = alignment(backend.asarray(oracle, dtype=dtype), backend.asarray(G, dtype=dtype))
        _close(backend, result, SIGMA[:r].sum() / SIGMA.sum(), dtype)


def test_alignment_of_zero_gradient_is_nan(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = alignment(backend.asarray(np.ones((3, 4))), backend.asarray(np.zeros((3, 4))))
    assert np.isnan(backend.to_numpy(result))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rank", [1, 7, 30])
def test_orthogonality_error_of_a_partial_isometry_is_zero(backend, dtype, shape, rank):
    m, n = shape
    X = haar_orthogonal(m, rank, rng=3) @ haar_orthogonal(n, rank, rng=4).T
    Xb = backend.asarray(X, dtype=dtype)
    for ord in (2, "fro"):
        # ‖UVᵀ‖ has unit singular values up to rounding (≈ eps·√rank), far below RTOL.
        assert float(backend.to_numpy(orthogonality_error(Xb, ord=ord))) <= RTOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_orthogonality_error_closed_form(backend, dtype, shape):
    sigma = np.array([1.3, 1.1, 1.0, 0.95, 0.6])
    X = backend.asarray(with_spectrum(sigma, *shape, rng=5), dtype=dtype)
    # Only the five nonzero σ count: the zero ones would each contribute |0 − 1| = 1.
    _close(backend, orthogonality_error(X), np.max(np.abs(sigma - 1)), dtype)
    _close(backend, orthogonality_error(X, ord="fro"), np.sqrt(np.sum((sigma - 1) ** 2)), dtype)
    # rtol = 0.5 drops σ = 0.6 (≤ 0.5·1.3): the error is then |1.3 − 1|, |1.1 − 1|, ...
    _close(backend, orthogonality_error(X, rtol=0.5), 0.3, dtype)


def test_orthogonality_error_of_zero_matrix_is_zero(backend):
    X = backend.asarray(np.zeros((4, 6)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(backend.to_numpy(orthogonality_error(X))) == 0.0
        assert float(backend.to_numpy(orthogonality_error(X, ord="fro"))) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_rank_floor_closed_form(backend, dtype, shape):
    G = backend.asarray(with_spectrum(SIGMA, *shape, rng=6), dtype=dtype)
    for r in (1, 5, 6, 7, 1000):
        _close(backend, rank_floor(G, r), np.sqrt(max(0, SIGMA.size - r)), dtype)
    # rtol = 0.3 leaves σ = 4, 3, 2, 2 (1 ≤ 0.3·4): rank 4.
    _close(backend, rank_floor(G, 1, rtol=0.3), np.sqrt(3.0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_relative_error_matches_numpy_norms(backend, dtype, shape, np_rng):
    Y = with_spectrum(log_uniform(min(shape), 5.0), *shape, rng=7)
    X = Y + 0.01 * np_rng.standard_normal(shape)
    Xb, Yb = backend.asarray(X, dtype=dtype), backend.asarray(Y, dtype=dtype)
    # Oracle on the values actually stored, in float64.
    x, y = backend.to_numpy(Xb).astype(np.float64), backend.to_numpy(Yb).astype(np.float64)
    for ord in ("fro", 2):
        expected = np.linalg.norm(x - y, ord) / np.linalg.norm(y, ord)
        _close(backend, relative_error(Xb, Yb, ord=ord), expected, dtype)


def test_relative_error_against_zero_reference(backend):
    zero = backend.asarray(np.zeros((3, 5)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ord in ("fro", 2):
            assert float(backend.to_numpy(relative_error(zero, zero, ord=ord))) == 0.0
            X = backend.asarray(np.eye(3, 5))
            assert float(backend.to_numpy(relative_error(X, zero, ord=ord))) == np.inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_equals_per_slice(backend, dtype):
    slices = [with_spectrum(log_uniform(5, 2.0 + i), 8, 6, rng=i) for i in range(6)]
    G = np.stack(slices).reshape(2, 3, 8, 6)
    X = np.stack([u @ vt for u, _, vt in map(_svd, slices)]).reshape(2, 3, 8, 6)
    Xn = X + 0.1 * G  # a perturbed sign: every metric is nonzero
    functions = {
        "relative_error_fro": lambda x, g: relative_error(x, g),
        "relative_error_2": lambda x, g: relative_error(x, g, ord=2),
        "alignment": alignment,
        "orthogonality_error_2": lambda x, g: orthogonality_error(x),
        "orthogonality_error_fro": lambda x, g: orthogonality_error(x, ord="fro"),
        "rank_floor": lambda x, g: rank_floor(g, 3),
    }
    as_b = lambda a: backend.asarray(a, dtype=dtype)  # noqa: E731
    for name, f in functions.items():
        batched = f(as_b(Xn), as_b(G))
        assert tuple(batched.shape) == (2, 3), name
        for i in range(2):
            for j in range(3):
                single = f(as_b(Xn[i, j]), as_b(G[i, j]))
                assert tuple(single.shape) == (), name
                _close(backend, batched[i, j], backend.to_numpy(single), dtype)


def test_errors_name_the_argument(backend):
    G = backend.asarray(np.ones((4, 5)))
    with pytest.raises(ValueError, match="X and Y"):
        relative_error(G, backend.asarray(np.ones((5, 4))))
    with pytest.raises(ValueError, match="X and G"):
        alignment(G, backend.asarray(np.ones((2, 4, 5))))
    with pytest.raises(ValueError, match="X contains NaN"):
        alignment(backend.asarray(np.full((4, 5), np.nan)), G)
    with pytest.raises(ValueError, match="Y"):
        relative_error(G, backend.asarray(np.ones(5)))
    with pytest.raises(ValueError, match="G"):
        alignment(G, backend.asarray(np.full((4, 5), np.inf)))
    for ord in (1, "nuc", True):
        with pytest.raises(ValueError, match="ord"):
            relative_error(G, G, ord=ord)
        with pytest.raises(ValueError, match="ord"):
            orthogonality_error(G, ord=ord)
    with pytest.raises(ValueError, match="rtol"):
        orthogonality_error(G, rtol=1.5)
    for rank in (0, -2, 2.5):
        with pytest.raises(ValueError, match="rank"):
            rank_floor(G, rank)
    with pytest.raises(ValueError, match="rtol"):
        rank_floor(G, 1, rtol=-1e-3)


def test_relative_error_of_diverged_approximation_is_inf(backend):
    Y = backend.asarray(np.eye(3))
    for bad in (np.inf, np.nan):
        X = np.eye(3)
        X[0, 1] = bad
        for ord in ("fro", 2):
            assert np.isinf(backend.to_numpy(relative_error(backend.asarray(X), Y, ord=ord)))
    with pytest.raises(ValueError, match="Y contains NaN"):
        relative_error(Y, backend.asarray(np.full((3, 3), np.nan)))


# Scales whose squares overflow (large) or underflow to zero (small) in each dtype, while the
# scaled entries themselves stay normal numbers: float32 reaches 3.4e38, float64 1.8e308.
EXTREME_SCALES = {"float32": (1e30, 1e-30), "float64": (1e200, 1e-200)}


@pytest.mark.parametrize("dtype", DTYPES)
def test_relative_error_is_scale_free_at_extreme_magnitudes(backend, dtype, np_rng):
    Y = with_spectrum(log_uniform(5, 5.0), 6, 5, rng=8)
    X = Y + 0.1 * np_rng.standard_normal(Y.shape)
    for scale in EXTREME_SCALES[dtype]:
        Xb, Yb = backend.asarray(scale * X, dtype=dtype), backend.asarray(scale * Y, dtype=dtype)
        # Oracle: the ratio is invariant under scaling, so NumPy's float64 norms of the stored
        # values divided by the scale (an O(1) problem) give it.
        x = backend.to_numpy(Xb).astype(np.float64) / scale
        y = backend.to_numpy(Yb).astype(np.float64) / scale
        for ord in ("fro", 2):
            expected = np.linalg.norm(x - y, ord) / np.linalg.norm(y, ord)
            _close(backend, relative_error(Xb, Yb, ord=ord), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relative_error_of_finite_inputs_whose_difference_overflows(backend, dtype):
    # X − Y = 2X overflows for entries near the largest finite value, yet ‖X − Y‖/‖Y‖ = 2.
    big = 0.9 * np.finfo(dtype).max
    A = np.array([[1.0, -0.5], [0.25, 1.0]])
    Xb, Yb = backend.asarray(big * A, dtype=dtype), backend.asarray(-big * A, dtype=dtype)
    for ord in ("fro", 2):
        _close(backend, relative_error(Xb, Yb, ord=ord), 2.0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_alignment_is_scale_free_at_extreme_magnitudes(backend, dtype):
    G = with_spectrum(SIGMA, 8, 7, rng=4)
    u, _, vt = _svd(G)
    # ⟨G, msign(G)⟩ = ‖G‖_* = 12.5·scale, so the alignment is 1 at every scale. The large scale
    # keeps every entry of scale·G below half the dtype's largest value, yet ‖G‖_* overflows it.
    large = 0.5 * np.finfo(dtype).max / np.max(np.abs(G))
    assert SIGMA.sum() > 2 * np.max(np.abs(G))  # i.e. large·‖G‖_* exceeds the largest value
    for scale in (large, EXTREME_SCALES[dtype][1]):
        result = alignment(backend.asarray(u @ vt, dtype=dtype), backend.asarray(scale * G, dtype=dtype))
        _close(backend, result, 1.0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_orthogonality_error_of_a_huge_multiple_of_an_isometry(backend, dtype):
    # X = s·Q with orthonormal columns Q (k = 3): every σ_i = s, so the error is |s − 1| (ord 2)
    # and |s − 1|·√3 (Frobenius), whose square overflows the dtype.
    scale = EXTREME_SCALES[dtype][0]
    Q = haar_orthogonal(5, 3, rng=6)
    X = backend.asarray(scale * Q, dtype=dtype)
    # σ_i of the stored values, from the float64 SVD of X/s (an O(1) problem) scaled back.
    s = scale * np.linalg.svd(backend.to_numpy(X).astype(np.float64) / scale, compute_uv=False)
    _close(backend, orthogonality_error(X, ord=2), np.max(s - 1), dtype)
    _close(backend, orthogonality_error(X, ord="fro"), scale * np.linalg.norm((s - 1) / scale), dtype)
