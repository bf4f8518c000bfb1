"""Dion2: fraction 1 is heavy-ball Muon bit for bit; unselected slices accumulate undecayed."""

import math

import numpy as np
import pytest

from matsign.updates import Dion2, Muon

SHAPES = [(12, 20), (20, 12), (9, 6), (16, 16)]


def _gradients(shape, count=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(count)]


def _svd_sign(X):
    U, _, Vt = np.linalg.svd(X, full_matrices=False)
    return U @ Vt


@pytest.mark.parametrize("schedule", ["muon", "polar_express"])
@pytest.mark.parametrize("shape", SHAPES)
def test_fraction_one_is_heavy_ball_muon_exactly(backend, shape, schedule):
    mu = 0.95
    dion2 = Dion2(1.0, mu, score="l1", schedule=schedule)
    muon = Muon(mu, nesterov=False, schedule=schedule)
    # Tall inputs: slices_msign orthogonalizes a contiguous copy of the selected columns,
    # newton_schulz a transposed view of the whole matrix, and BLAS may round products of the
    # two layouts differently in the last bits (NumPy does at 9 × 6); otherwise bit for bit.
    layout_ulps = shape[0] > shape[1]
    for G in _gradients(shape):
        a = dion2.step(backend.asarray(G))
        b = muon.step(backend.asarray(G))
        backend.assert_close(a.update, backend.to_numpy(b.update), rtol=0, atol=1e-14 if layout_ulps else 0.0)
        # Dion2 stores μ·S_t, Muon stores S_t: the same product that both form next step.
        backend.assert_close(dion2.buffer, backend.to_numpy(mu * muon.buffer), rtol=0)
        assert a.diagnostics["alignment"] == pytest.approx(b.diagnostics["alignment"], abs=0 if not layout_ulps else 1e-14)
        assert a.diagnostics["coverage"] == 1.0 and a.diagnostics["unselected_norm"] == 0.0


def test_unselected_rows_accumulate_without_decay(backend):
    # Constant gradient. Row 0 has L1 norm 6 and is selected while its decayed sum
    # S_t = 0.5·S_{t−1} + 6 (entries 2 − 0.5^{t−1}, L1 12 − 6·0.5^{t−1}) beats row 1,
    # whose L1 norm grows as 2t undecayed: row 0 wins for t ≤ 5 (11.625 > 10), row 1 at t = 6
    # (12 > 11.8125). Row 2 (L1 t) and the zero row 3 are never selected.
    mu = 0.5
    G = np.zeros((4, 6))
    G[0, :] = 1.0
    G[1, 0] = 2.0
    G[2, 1] = 1.0
    rule = Dion2(0.25, mu, inner="exact")
    for t in range(1, 6):
        out = rule.step(backend.asarray(G))
        backend.assert_close(rule.buffer[0, :], np.full(6, mu * (2 - 0.5 ** (t - 1))), rtol=1e-15)
        backend.assert_close(rule.buffer[1:, :], t * G[1:], rtol=0)
        expected = np.zeros((4, 6))
        expected[0] = 1 / math.sqrt(6)  # the sign of a positive constant row
        backend.assert_close(out.update, expected, rtol=1e-14)
        assert out.diagnostics["coverage"] == 0.25
        # The unselected rows of M before the decay: rows 1 and 2 (and the zero row 3).
        assert out.diagnostics["unselected_norm"] == pytest.approx(math.hypot(2 * t, t), rel=1e-14)
    out = rule.step(backend.asarray(G))  # t = 6: row 1 is selected, row 0 is left alone
    backend.assert_close(rule.buffer[0, :], np.full(6, 2 - 0.5**5), rtol=1e-15)  # no decay this step
    backend.assert_close(rule.buffer[1, :], mu * 6 * G[1], rtol=0)
    backend.assert_close(rule.buffer[2, :], 6 * G[2], rtol=0)
    expected = np.zeros((4, 6))
    expected[1, 0] = 1.0
    backend.assert_close(out.update, expected, rtol=1e-14)
    assert out.diagnostics["coverage"] == 0.5
    assert out.diagnostics["unselected_norm"] == pytest.approx(
        math.hypot(math.sqrt(6) * (2 - 0.5**5), 6), rel=1e-14
    )
    # The target of the diagnostics is M before the decay.
    M = np.vstack([np.full(6, 2 - 0.5**5), 6 * G[1], 6 * G[2], G[3]])
    s = np.linalg.svd(M, compute_uv=False)
    assert out.diagnostics["alignment"] == pytest.approx(12 / s.sum(), rel=1e-12)


@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_tall_input_selects_columns_like_the_transposed_wide_input(fraction):
    wide, tall = Dion2(fraction, 0.9, inner="exact"), Dion2(fraction, 0.9, inner="exact")
    for G in _gradients((8, 14), 4, seed=2):
        a, b = wide.step(G), tall.step(G.T)
        np.testing.assert_allclose(b.update, a.update.T, atol=1e-13)
        np.testing.assert_allclose(tall.buffer, wide.buffer.T, rtol=1e-15)
        assert a.diagnostics["coverage"] == b.diagnostics["coverage"]


def test_update_is_the_sign_of_the_selected_rows_and_zero_elsewhere():
    rule = Dion2(0.25, 0.9, inner="exact")
    grads = _gradients((12, 20), 3, seed=3)
    M = np.zeros((12, 20))
    for G in grads:
        M = M + G
        rows = np.sort(np.argsort(-np.abs(M).sum(axis=1), kind="stable")[:3])
        out = rule.step(G)
        expected = np.zeros_like(M)
        expected[rows] = _svd_sign(M[rows])
        np.testing.assert_allclose(out.update, expected, atol=1e-12)
        # Reference diagnostics against msign(M) before the decay.
        rel = np.linalg.norm(expected - _svd_sign(M)) / np.linalg.norm(_svd_sign(M))
        assert out.diagnostics["relative_error"] == pytest.approx(rel, rel=1e-10)
        assert 0 < out.diagnostics["alignment"] <= 1 + 1e-12
        M[rows] *= 0.9


def test_random_selection_covers_every_row_eventually():
    rule = Dion2(0.25, 0.9, score="random", inner="exact", rng=7)
    coverage = [rule.step(G).diagnostics["coverage"] for G in _gradients((8, 10), 30, seed=4)]
    assert coverage == sorted(coverage) and coverage[0] == 0.25 and coverage[-1] == 1.0
    again = Dion2(0.25, 0.9, score="random", inner="exact", rng=7)
    assert [again.step(G).diagnostics["coverage"] for G in _gradients((8, 10), 30, seed=4)] == coverage


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="fraction"):
        Dion2(0.0)
    with pytest.raises(ValueError, match="score"):
        Dion2(0.5, score="l3")
    with pytest.raises(ValueError, match="momentum"):
        Dion2(0.5, momentum=-0.1)


def test_bfloat16_inner_newton_schulz_is_used_and_close(np_rng):
    # The official Dion2 orthogonalizes the selected slices in bfloat16. Against the same rule in
    # float64: bfloat16 (8 significant bits, u = 2⁻⁸) leaves a relative difference of order
    # 1e-2 after 5 steps; float32 would leave ≈ 1e-6. So [1e-4, 5e-2] proves bfloat16 was used
    # and stayed accurate to its precision.
    from matsign.updates import Dion2

    Gs = [np_rng.standard_normal((32, 80)) for _ in range(3)]
    wide, narrow = Dion2(0.5, diagnostics=False), Dion2(0.5, inner_dtype="bfloat16", diagnostics=False)
    for G in Gs:
        a, b = wide.step(G).update, narrow.step(G).update
        assert 1e-4 < np.linalg.norm(a - b) / np.linalg.norm(a) < 5e-2
    with pytest.raises(ValueError, match="applies only to a Newton–Schulz inner sign"):
        Dion2(0.5, inner="exact", inner_dtype="bfloat16")
    with pytest.raises(ValueError, match="dtype"):
        Dion2(0.5, inner_dtype="float8")
