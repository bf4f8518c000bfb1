"""Column selection and column_range: orientation, each strategy's law, and how they rank."""

import numpy as np
import pytest
import scipy.linalg

from matsign.lowrank.columns import STRATEGIES, column_range, select_columns
from matsign.synthetic import power_law, with_spectrum

SHAPES = [(12, 30), (30, 12), (20, 20)]


def _wide(G):
    return G if G.shape[0] <= G.shape[1] else G.T


def _dominant_columns(seed, m=40, n=200, k=6):
    """Small noise plus ``k`` columns a hundred times heavier, at random positions."""
    rng = np.random.default_rng(seed)
    G = 0.05 * rng.standard_normal((m, n))
    G[:, rng.choice(n, k, replace=False)] += 3.0 * rng.standard_normal((m, k))
    return G


def _relative_residual(G, Q):
    X = _wide(G)
    return np.linalg.norm(X - Q @ (Q.T @ X)) / np.linalg.norm(X)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_basis_spans_the_selected_columns_of_the_wide_orientation(backend, shape, strategy):
    G = with_spectrum(power_law(min(shape)), *shape, rng=1)
    A = backend.asarray(G)
    indices = select_columns(A, 5, strategy=strategy, rng=2)
    basis = column_range(A, 5, strategy=strategy, rng=2)
    idx, Q = backend.to_numpy(indices), backend.to_numpy(basis)
    backend.assert_close(indices, idx, rtol=0, dtype="int64")  # library, device and dtype kept
    backend.assert_close(basis, Q, rtol=0, dtype="float64")
    X = _wide(G)  # tall G: the candidates are its rows, the basis lives in its row space
    assert Q.shape == (min(shape), 5)
    assert idx.shape == (5,) and len(set(idx.tolist())) == 5
    assert idx.min() >= 0 and idx.max() < X.shape[1]
    np.testing.assert_allclose(Q.T @ Q, np.eye(5), atol=1e-12)
    selected = X[:, idx]
    np.testing.assert_allclose(Q @ (Q.T @ selected), selected, atol=1e-12)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_seeded_selection_is_reproducible(backend, strategy):
    A = backend.asarray(with_spectrum(power_law(40), 40, 60, rng=3))
    first = backend.to_numpy(select_columns(A, 6, strategy=strategy, rng=4))
    backend.assert_close(select_columns(A, 6, strategy=strategy, rng=4), first, rtol=0, dtype="int64")
    Q1 = backend.to_numpy(column_range(A, 6, strategy=strategy, rng=4))
    backend.assert_close(column_range(A, 6, strategy=strategy, rng=4), Q1, rtol=0, dtype="float64")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_float32_in_float32_out(backend, strategy):
    A = backend.asarray(with_spectrum(power_law(12), 12, 30, rng=5), dtype="float32")
    Q = column_range(A, 4, strategy=strategy, rng=0)
    backend.assert_close(Q, backend.to_numpy(Q), rtol=0, dtype="float32")  # library, device, dtype
    np.testing.assert_allclose(backend.to_numpy(Q).T @ backend.to_numpy(Q), np.eye(4), atol=1e-5)


def test_l1_topk_takes_the_largest_l1_columns_ties_to_the_lower_index(backend):
    G = np.array([[1.0, -4.0, 2.0, 0.0, 2.0], [1.0, 0.0, -1.0, 3.0, 1.0]])
    idx = select_columns(backend.asarray(G), 2, strategy="l1_topk")
    backend.assert_close(idx, [1, 2], rtol=0, dtype="int64")  # L1 = 2, 4, 3, 3, 3
    idx = select_columns(backend.asarray(G.T), 2, strategy="l1_topk")
    backend.assert_close(idx, [1, 2], rtol=0, dtype="int64")


def test_pivoted_qr_is_deterministic_when_no_sketch_is_needed(backend):
    # rank + 10 ≥ s: the wide orientation itself is pivoted, so the seed does not matter and the
    # order is LAPACK's column-pivoted QR of G.
    G = np.random.default_rng(6).standard_normal((8, 25))
    expected = scipy.linalg.qr(G, pivoting=True)[2][:3]
    for seed in (0, 1):
        for A in (G, G.T):
            idx = select_columns(backend.asarray(A), 3, strategy="pivoted_qr", rng=seed)
            backend.assert_close(idx, expected, rtol=0, dtype="int64")


def test_norm_sampling_draws_first_in_proportion_to_squared_norms():
    G = np.array([[1.0, 2.0, 0.0, 3.0], [0.0, 0.0, 2.0, 1.0]])  # ‖x_j‖² = 1, 4, 4, 10
    p = np.array([1.0, 4.0, 4.0, 10.0]) / 19.0
    trials = 4000
    counts = np.bincount([int(select_columns(G, 1, strategy="norm", rng=s)[0]) for s in range(trials)], minlength=4)
    # Binomial standard deviation: at most √(n/4) = 32 draws; allow 4σ.
    assert np.all(np.abs(counts - trials * p) <= 4 * np.sqrt(trials * p * (1 - p)))


def test_norm_and_leverage_draw_zero_weight_columns_last(backend):
    G = np.array([[0.0, 1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    for strategy in ("norm", "leverage"):
        idx = backend.to_numpy(select_columns(backend.asarray(G), 2, strategy=strategy, rng=7))
        assert set(idx.tolist()) == {1, 4}


def test_leverage_sampling_follows_the_rank_k_leverage_scores(backend):
    # Column 0 is the heaviest (‖x₀‖² = 1 > 0.81), but the top singular direction is shared by
    # columns 1 and 2 (σ₁ = 0.9·√2): rank-1 leverage (0, ½, ½) never picks column 0.
    G = np.array([[1.0, 0.0, 0.0], [0.0, 0.9, 0.9]])
    picks = {
        int(backend.to_numpy(select_columns(backend.asarray(G), 1, strategy="leverage", rng=seed))[0])
        for seed in range(20)
    }
    assert picks == {1, 2}


SCALES = [("float32", 1e38), ("float32", 1e-30), ("float64", 1e300), ("float64", 1e-300)]


@pytest.mark.parametrize("dtype, scale", SCALES)
def test_norm_sampling_is_scale_free(backend, dtype, scale):
    # ‖x_j‖² = 1, 0, 9: column 2 first with probability 9/10 at any scale, although the squares
    # overflow (or underflow) at these scales.
    G = backend.asarray(scale * np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]]), dtype=dtype)
    trials = 400
    hits = sum(int(backend.to_numpy(select_columns(G, 1, strategy="norm", rng=s))[0]) == 2 for s in range(trials))
    assert abs(hits - 0.9 * trials) <= 4 * np.sqrt(trials * 0.9 * 0.1)  # 4 binomial σ


@pytest.mark.parametrize("dtype, scale", SCALES)
def test_leverage_sampling_is_scale_free(backend, dtype, scale):
    # As in test_leverage_sampling_follows_the_rank_k_leverage_scores; the sketch forms XᵀX·XᵀΩ,
    # the cube of the scale.
    G = backend.asarray(scale * np.array([[1.0, 0.0, 0.0], [0.0, 0.9, 0.9]]), dtype=dtype)
    picks = {int(backend.to_numpy(select_columns(G, 1, strategy="leverage", rng=seed))[0]) for seed in range(20)}
    assert picks == {1, 2}


@pytest.mark.parametrize("dtype, scale", SCALES)
def test_deterministic_scores_are_scale_free(backend, dtype, scale):
    G = np.array([[1.5, -2.0, 0.5, 0.0, 1.0], [1.5, 0.0, 3.0, 1.0, -1.0]])  # L1 norms 3, 2, 3.5, 1, 2
    A = backend.asarray(scale * G, dtype=dtype)
    l1 = select_columns(A, 2, strategy="l1_topk")
    backend.assert_close(l1, np.argsort(-np.abs(G).sum(axis=0), kind="stable")[:2], rtol=0, dtype="int64")
    # k + 10 ≥ 2 rows: X itself is pivoted, so the float64 QRCP of G is the oracle.
    pivots = select_columns(A, 2, strategy="pivoted_qr", rng=0)
    backend.assert_close(pivots, scipy.linalg.qr(G, pivoting=True)[2][:2], rtol=0, dtype="int64")


def test_pivoted_qr_and_leverage_beat_uniform_on_dominant_columns():
    means = {}
    for strategy in STRATEGIES:
        means[strategy] = np.mean(
            [_relative_residual(G, column_range(G, 6, strategy=strategy, rng=seed))
             for seed in range(8) for G in [_dominant_columns(seed)]]
        )
    # The 6 heavy columns carry all but ~1% of the energy: picking them leaves the noise floor
    # (≈ 0.09); uniform picks mostly noise columns and leaves ≈ 0.9.
    assert means["pivoted_qr"] <= 0.1 and means["leverage"] <= 0.1
    assert means["uniform"] >= 0.8
    assert means["pivoted_qr"] < means["uniform"] / 5 and means["leverage"] < means["uniform"] / 5


def test_pivoted_qr_beats_l1_topk_on_duplicated_dominant_columns():
    # Three heavy directions, each repeated four times, and three lighter single columns: the
    # six largest L1 norms are duplicates, pivoting skips them once their direction is taken.
    rng = np.random.default_rng(8)
    G = 0.01 * rng.standard_normal((30, 60))
    heavy = 5.0 * rng.standard_normal((30, 3))
    light = 2.0 * rng.standard_normal((30, 3))
    G[:, :12] += np.repeat(heavy, 4, axis=1)
    G[:, 12:15] += light
    pivoted = _relative_residual(G, column_range(G, 6, strategy="pivoted_qr", rng=0))
    l1 = _relative_residual(G, column_range(G, 6, strategy="l1_topk"))
    assert pivoted <= 0.05 < 0.2 <= l1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_full_rank_selection_of_a_wide_matrix_spans_everything(backend, strategy):
    G = with_spectrum(power_law(6), 6, 15, rng=9)
    basis = column_range(backend.asarray(G), 6, strategy=strategy, rng=10)
    Q = backend.to_numpy(basis)
    backend.assert_close(basis, Q, rtol=0, dtype="float64")  # library, device and dtype kept
    np.testing.assert_allclose(Q @ Q.T, np.eye(6), atol=1e-10)


def test_bad_arguments_name_themselves(backend):
    A = backend.asarray(np.ones((5, 8)))
    with pytest.raises(ValueError, match="strategy must be one of"):
        column_range(A, 2, strategy="random")
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        select_columns(A, 0)
    with pytest.raises(ValueError, match="rank must be at most min\\(m, n\\) = 5"):
        column_range(A, 6)
    with pytest.raises(ValueError, match="G must be a matrix"):
        column_range(backend.asarray(np.ones(5)), 1)


@pytest.mark.parametrize("case", ["duplicated", "zero_columns"])
def test_dependent_selected_columns_give_the_sign_of_their_projection(backend, case):
    """Dependent selected columns: ``lowrank_msign(G, Q)`` must be ``msign(P_J G)``, P_J the
    orthogonal projector onto the span of the selected columns (an orthonormal completion of
    that span would add directions of G that no selected column has)."""
    from matsign.lowrank import lowrank_msign

    rng = np.random.default_rng(11)
    G = np.zeros((5, 14))
    if case == "duplicated":
        G[:, :] = rng.standard_normal((5, 14))
        G[:, 1] = G[:, 0]  # l1_topk picks both copies of the largest column
        G[:, 0] *= 4.0
        G[:, 1] *= 4.0
        strategy, k = "l1_topk", 3
    else:
        G[:, :2] = rng.standard_normal((5, 2))  # 12 zero columns, e.g. unused inputs
        strategy, k = "uniform", 4
    J = backend.to_numpy(select_columns(backend.asarray(G), k, strategy=strategy, rng=1))
    B, s, _ = np.linalg.svd(G[:, J], full_matrices=False)
    B = B[:, s > 1e-12 * s[0]]
    assert B.shape[1] < k  # the selection under test is dependent
    U, s, Vt = np.linalg.svd(B @ (B.T @ G), full_matrices=False)
    keep = s > 1e-12 * s[0]
    oracle = U[:, keep] @ Vt[keep]
    Q = column_range(backend.asarray(G), k, strategy=strategy, rng=1)
    # Float64 throughout, singular values of P_J G well separated from 0: roundoff level.
    backend.assert_close(lowrank_msign(backend.asarray(G), Q), oracle, rtol=0, atol=1e-12)
