"""Dion2 slice selection and the sign of the selected submatrix, against NumPy oracles."""

import math

import numpy as np
import pytest

from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.sign import msign
from matsign.synthetic import log_uniform, with_spectrum
from matsign.transforms.slices import SCORES, slices_msign, select_slices, slice_count, dion2_msign

# Rows: L1 norms 3, 4, 1, 2.5 and L2 norms 3, 2, 0.71, 2.5 — the two scores order them differently.
HAND = np.array(
    [
        [3.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, -1.0, 1.0, 1.0, 0.0],
        [0.5, 0.0, 0.0, 0.0, -0.5],
        [0.0, 0.0, 2.5, 0.0, 0.0],
    ]
)


def _top(values, k):
    """Indices of the k largest values (ties to the lower index), sorted ascending."""
    return np.sort(np.argsort(-values, kind="stable")[:k])


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_l1_and_l2_pick_the_top_rows(backend, k):
    A = backend.asarray(HAND)
    axis, idx = select_slices(A, k / 4, score="l1")
    assert axis == 0
    backend.assert_close(idx, _top(np.abs(HAND).sum(axis=1), k), rtol=0, dtype="int64")
    axis, idx = select_slices(A, k / 4, score="l2")
    backend.assert_close(idx, _top(np.linalg.norm(HAND, axis=1), k), rtol=0, dtype="int64")


@pytest.mark.parametrize("dtype, scale", [("float32", 1e20), ("float32", 1e-23), ("float64", 1e160), ("float64", 1e-165)])
@pytest.mark.parametrize("score", ["l1", "l2"])
def test_scores_are_scale_free(backend, score, dtype, scale):
    # The squares overflow or underflow in the working dtype at these scales; the float64 norms
    # of the unscaled matrix are the oracle.
    A = backend.asarray(scale * HAND, dtype=dtype)
    oracle = np.abs(HAND).sum(axis=1) if score == "l1" else np.linalg.norm(HAND, axis=1)
    for k in (1, 2, 3):
        _, idx = select_slices(A, k / 4, score=score)
        backend.assert_close(idx, _top(oracle, k), rtol=0, dtype="int64")


def test_the_score_matters():
    assert select_slices(HAND, 0.25, score="l1")[1].tolist() == [1]
    assert select_slices(HAND, 0.25, score="l2")[1].tolist() == [0]
    assert select_slices(HAND, 0.5, score="l1")[1].tolist() == [0, 1]
    assert select_slices(HAND, 0.5, score="l2")[1].tolist() == [0, 3]


def test_shorter_side_is_selected(np_rng):
    wide = np_rng.standard_normal((6, 10))
    tall = np_rng.standard_normal((10, 6))
    square = np_rng.standard_normal((7, 7))
    axis, idx = select_slices(wide, 0.5)
    assert axis == 0 and idx.tolist() == _top(np.abs(wide).sum(axis=1), 3).tolist()
    axis, idx = select_slices(tall, 0.5)
    assert axis == 1 and idx.tolist() == _top(np.abs(tall).sum(axis=0), 3).tolist()
    axis, idx = select_slices(square, 0.5)  # ties in shape go to rows, as in Dion2's code
    assert axis == 0 and idx.tolist() == _top(np.abs(square).sum(axis=1), 4).tolist()


@pytest.mark.parametrize(
    "fraction, size, k",
    [(0.25, 8, 2), (0.26, 8, 3), (0.1, 30, 3), (0.3, 10, 3), (1e-6, 100, 1), (1.0, 9, 9), (0.7, 10, 7), (0.71, 10, 8)],
)
def test_slice_count_rounds_up(fraction, size, k):
    assert slice_count(fraction, size) == k
    M = np.ones((size, size + 1))
    assert int(select_slices(M, fraction)[1].shape[0]) == k


def test_slice_count_is_the_ceiling_away_from_rounding_noise():
    for size in (1, 7, 64, 1000):
        for fraction in np.linspace(0.001, 1.0, 97):
            x = float(fraction) * size
            expected = round(x) if abs(x - round(x)) < 1e-9 else math.ceil(x)
            assert slice_count(float(fraction), size) == expected


def test_random_selection_is_seeded_and_reproducible(backend, np_rng):
    A = backend.asarray(np_rng.standard_normal((12, 20)))
    first = backend.to_numpy(select_slices(A, 0.25, score="random", rng=5)[1])
    backend.assert_close(select_slices(A, 0.25, score="random", rng=5)[1], first, rtol=0, dtype="int64")
    assert first.shape == (3,) and len(set(first.tolist())) == 3 and np.all(np.diff(first) > 0)
    others = {tuple(backend.to_numpy(select_slices(A, 0.25, score="random", rng=s)[1])) for s in range(20)}
    assert len(others) > 5


def test_random_selection_is_uniform():
    # Each of m = 10 rows is chosen with probability k/m = 0.3; over 2000 draws its frequency has
    # standard error √(0.3·0.7/2000) ≈ 0.010.
    M = np.ones((10, 16))
    g = np.random.default_rng(42)
    draws = 2000
    counts = np.zeros(10)
    for _ in range(draws):
        counts[select_slices(M, 0.3, score="random", rng=g)[1]] += 1
    freq = counts / draws
    se = math.sqrt(0.3 * 0.7 / draws)
    z = (freq - 0.3) / se
    print(f"\nrandom selection: max |z| of the row frequencies = {np.max(np.abs(z)):.2f}")
    assert np.max(np.abs(z)) < 4
    np.testing.assert_allclose(counts.sum(), 3 * draws)


@pytest.mark.parametrize("shape", [(12, 18), (18, 12), (15, 15)])
def test_fraction_one_gives_the_exact_sign(backend, shape):
    G = with_spectrum(log_uniform(min(shape), 100.0), *shape, rng=3)
    X = dion2_msign(backend.asarray(G), 1.0)
    # Same SVD-based sign of the same matrix, rows only permuted by the gather: rounding level.
    backend.assert_close(X, msign(G), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("shape", [(8, 14), (14, 8)])
@pytest.mark.parametrize("score", SCORES)
def test_slice_sign_is_the_sign_of_the_submatrix_scattered(backend, shape, score, np_rng):
    G = np_rng.standard_normal(shape)
    A = backend.asarray(G)
    axis, idx = select_slices(A, 0.4, score=score, rng=7)
    idx = backend.to_numpy(idx)
    result = dion2_msign(A, 0.4, score=score, rng=7)
    X = backend.to_numpy(result)
    expected = np.zeros(shape)
    if axis == 0:
        expected[idx] = msign(G[idx])
    else:
        expected[:, idx] = msign(G[:, idx])
    backend.assert_close(result, expected, rtol=1e-7, atol=1e-12)
    # The update has k orthonormal rows (or columns) and is zero elsewhere.
    kept = X[idx] if axis == 0 else X[:, idx].T
    np.testing.assert_allclose(kept @ kept.T, np.eye(len(idx)), atol=1e-12)


def test_scatter_sign_with_newton_schulz_and_any_index_order(backend, np_rng):
    G = np_rng.standard_normal((6, 9))
    A = backend.asarray(G)
    X = slices_msign(A, 1, backend.asarray(np.array([7, 2, 4])), inner="newton_schulz", schedule="cubic", steps=4)
    expected = np.zeros_like(G)
    expected[:, [2, 4, 7]] = newton_schulz(G[:, [2, 4, 7]], "cubic", steps=4)
    backend.assert_close(X, expected, rtol=1e-7, atol=1e-12)


def test_output_keeps_library_and_dtype(backend, np_rng):
    A = backend.asarray(np_rng.standard_normal((5, 7)), dtype="float32")
    X = dion2_msign(A, 0.6, inner="newton_schulz")
    assert tuple(X.shape) == (5, 7)
    backend.assert_close(X, backend.to_numpy(X), rtol=0, dtype="float32")  # library, device, dtype


@pytest.mark.parametrize("fraction", [0, 0.0, 1.5, -0.2, float("nan"), True, "0.5"])
def test_bad_fractions_are_rejected(fraction):
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\]"):
        select_slices(np.ones((3, 4)), fraction)


def test_bad_arguments_are_rejected(np_rng):
    M = np_rng.standard_normal((4, 6))
    with pytest.raises(ValueError, match="score must be one of"):
        select_slices(M, 0.5, score="l_inf")
    with pytest.raises(ValueError, match="inner must be one of"):
        dion2_msign(M, 0.5, inner="svd")
    with pytest.raises(ValueError, match="steps applies only to a Newton–Schulz inner sign"):
        dion2_msign(M, 0.5, steps=3)
    with pytest.raises(ValueError, match="axis must be 0"):
        slices_msign(M, 2, np.array([0]))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        slices_msign(M, 0, np.array([1, 4]))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 6\)"):
        slices_msign(M, 1, np.array([-1, 2]))
    with pytest.raises(ValueError, match="indices must be distinct"):
        slices_msign(M, 0, np.array([1, 1]))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        slices_msign(M, 0, np.array([], dtype=np.int64))
    with pytest.raises(TypeError, match="indices must be an integer array"):
        slices_msign(M, 0, np.array([1.0]))
    with pytest.raises(ValueError, match="M must be a single matrix"):
        select_slices(np.ones((2, 3, 4)), 0.5)
