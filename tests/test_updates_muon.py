"""Muon / MuonEq / low-rank Muon update rules, shape factors, shared diagnostics."""

import math

import numpy as np
import pytest

from matsign.transforms.equilibration import equilibrate
from matsign.exact.newton_schulz import newton_schulz
from matsign.synthetic import log_uniform, with_spectrum
from matsign.updates import (
    SHAPE_FACTORS,
    UPDATE_RULES,
    GaLoreMuon,
    LowRankMuon,
    Muon,
    MuonEq,
    StepResult,
    shape_factor,
)

MUON_QUINTIC = (3.4445, -4.7750, 2.0315)
SHAPES = [(12, 20), (20, 12), (16, 16)]


def _gradients(shape, count=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(count)]


def _quintic_ns(X, steps=5):
    """Muon's Newton–Schulz, written out: Frobenius normalization, then the same triple."""
    a, b, c = MUON_QUINTIC
    tall = X.shape[0] > X.shape[1]
    X = X.T if tall else X
    X = X / np.linalg.norm(X)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tall else X


def _svd_sign(X):
    U, _, Vt = np.linalg.svd(X, full_matrices=False)
    return U @ Vt


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_follows_the_hand_written_recurrence(backend, shape, nesterov):
    mu = 0.9
    rule = Muon(mu, nesterov=nesterov)
    M = np.zeros(shape)
    for G in _gradients(shape):
        M = mu * M + G
        expected = _quintic_ns(G + mu * M if nesterov else M)
        out = rule.step(backend.asarray(G))
        # float64 throughout: five quintic steps amplify rounding by ~10², far below 1e-11.
        backend.assert_close(out.update, expected, rtol=0, atol=1e-11)
    backend.assert_close(rule.buffer, M, rtol=1e-14, atol=1e-13)
    assert rule.step_count == 5


def test_exact_inner_gives_the_svd_sign_and_perfect_diagnostics():
    rule = Muon(0.5, inner="exact")
    M = np.zeros((12, 20))
    for G in _gradients((12, 20)):
        M = 0.5 * M + G
        out = rule.step(G)
    np.testing.assert_allclose(out.update, _svd_sign(G + 0.5 * M), atol=1e-12)
    assert out.diagnostics["alignment"] == pytest.approx(1.0, abs=1e-12)
    assert out.diagnostics["relative_error"] < 1e-12


@pytest.mark.parametrize("mode", ["R", "C", "RC"])
def test_muoneq_orthogonalizes_the_equilibrated_nesterov_momentum(backend, mode):
    mu = 0.8
    # Rows and columns of very different scales, where equilibration matters.
    rng = np.random.default_rng(3)
    grads = [np.diag(np.logspace(0, 2, 12)) @ rng.standard_normal((12, 20)) for _ in range(4)]
    rule, plain = MuonEq(mode, momentum=mu), Muon(mu)
    M = np.zeros((12, 20))
    for G in grads:
        M = mu * M + G
        out = rule.step(backend.asarray(G))
        base = plain.step(backend.asarray(G))
    T = backend.asarray(G + mu * M)
    expected = backend.to_numpy(newton_schulz(equilibrate(T, mode)))
    backend.assert_close(out.update, expected, rtol=0, atol=1e-11)
    # The equilibration changes the step, and the diagnostics still measure against msign(T).
    assert np.abs(backend.to_numpy(out.update) - backend.to_numpy(base.update)).max() > 1e-2
    target_sign = _svd_sign(G + mu * M)
    rel = np.linalg.norm(backend.to_numpy(out.update) - target_sign) / np.linalg.norm(target_sign)
    assert out.diagnostics["relative_error"] == pytest.approx(rel, rel=1e-9)


def test_muoneq_is_muon_with_an_equilibration():
    assert MuonEq("RC").equilibration == "RC"
    with pytest.raises(ValueError, match="mode"):
        MuonEq("X")
    with pytest.raises(ValueError, match="equilibration"):
        Muon(equilibration="rows")
    with pytest.raises(ValueError, match="exponent"):
        Muon(exponent=-0.25)


def test_shape_factors_have_their_closed_forms():
    assert SHAPE_FACTORS == ("none", "spectral", "match_rms")
    assert shape_factor((64, 16), "none") == 1.0
    assert shape_factor((64, 16), "spectral") == pytest.approx(math.sqrt(64 / 16))
    assert shape_factor((16, 64), "spectral") == pytest.approx(0.5)
    assert shape_factor((16, 64), "match_rms") == pytest.approx(0.2 * 8)
    with pytest.raises(ValueError, match="shape"):
        shape_factor((16, 64), "sqrt")
    with pytest.raises(ValueError, match="shape"):
        shape_factor((16,), "spectral")


@pytest.mark.parametrize("name", ["spectral", "match_rms"])
def test_the_update_carries_the_shape_factor_and_the_diagnostics_do_not(name):
    shape = (12, 20)
    scaled, plain = Muon(shape=name), Muon()
    for G in _gradients(shape, 3):
        a, b = scaled.step(G), plain.step(G)
    factor = shape_factor(shape, name)
    assert scaled.factor == factor
    np.testing.assert_allclose(a.update, factor * b.update, rtol=1e-15)
    assert a.diagnostics == b.diagnostics


@pytest.mark.parametrize("shape", SHAPES)
def test_diagnostics_are_present_and_in_range(shape):
    rule = Muon(0.9, schedule="polar_express")
    for G in _gradients(shape, 3):
        out = rule.step(G)
    assert isinstance(out, StepResult)
    assert set(out.diagnostics) == {"alignment", "relative_error"}
    assert all(isinstance(v, float) for v in out.diagnostics.values())
    # alignment = ⟨T, D⟩/‖T‖_* ≤ ‖D‖₂ (von Neumann), and positive for a sign approximation.
    spectral = np.linalg.norm(out.update, 2)
    assert 0 < out.diagnostics["alignment"] <= spectral + 1e-12
    assert 0 <= out.diagnostics["relative_error"] < 0.2
    assert Muon(diagnostics=False).step(G).diagnostics == {}


def test_gradients_must_match_the_first_one():
    rule = Muon()
    rule.step(np.ones((3, 4)))
    with pytest.raises(ValueError, match="G must match"):
        rule.step(np.ones((4, 3)))
    with pytest.raises(ValueError, match="G must match"):
        rule.step(np.ones((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        rule.step(np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="momentum"):
        Muon(1.0)
    with pytest.raises(ValueError, match="inner"):
        Muon(inner="svd")
    with pytest.raises(ValueError, match="steps"):
        Muon(inner="exact", steps=3)


def test_zero_gradients_give_zero_updates():
    out = Muon(inner="exact").step(np.zeros((3, 4)))
    assert not np.any(out.update)
    assert out.diagnostics["relative_error"] == 0.0


def test_float32_stays_float32(backend):
    G = backend.asarray(_gradients((12, 20), 1)[0], dtype="float32")
    out = Muon().step(G)
    expected = _quintic_ns(backend.to_numpy(G).astype(np.float64))
    # float32 rounding (u ≈ 6e-8) amplified by the five quintic steps.
    backend.assert_close(out.update, expected, rtol=1e-7, atol=2e-4, dtype="float32")


@pytest.mark.parametrize("shape", SHAPES)
def test_lowrank_muon_at_full_rank_is_exact_muon(shape):
    rule = LowRankMuon(min(shape), 0.9, inner="exact", rng=0)
    muon = Muon(0.9, inner="exact")
    for G in _gradients(shape, 4):
        a, b = rule.step(G), muon.step(G)
        np.testing.assert_allclose(a.update, b.update, atol=1e-10)


def test_lowrank_muon_size_fallback_is_muon_at_or_below_the_side_and_low_rank_above():
    # The official code's fallback: a side ≤ full_rank_side gets the full sign (exact Muon's
    # update to rounding); a larger matrix gets the rank-2 operator (rank ≤ 2, not Muon's).
    small, large = _gradients((12, 20), 3), _gradients((24, 30), 3)
    rule, muon = LowRankMuon(2, 0.9, inner="exact", rng=0, full_rank_side=12), Muon(0.9, inner="exact")
    for G in small:
        np.testing.assert_allclose(rule.step(G).update, muon.step(G).update, atol=1e-10)
    rule = LowRankMuon(2, 0.9, inner="exact", rng=0, full_rank_side=23)
    for G in large:
        update = rule.step(G).update
    assert np.linalg.matrix_rank(update) == 2
    with pytest.raises(ValueError, match="full_rank_side"):
        LowRankMuon(2, full_rank_side=0)


def test_lowrank_muon_recovers_the_sign_of_a_low_rank_momentum():
    # Gradients in a fixed rank-3 space: every momentum has rank 3, so a rank-3 Gaussian
    # range finds it exactly and the step is the exact sign (relative error ~ rounding).
    rng = np.random.default_rng(4)
    U, V = np.linalg.qr(rng.standard_normal((20, 3)))[0], np.linalg.qr(rng.standard_normal((30, 3)))[0]
    rule = LowRankMuon(3, 0.9, inner="exact", rng=1)
    for _ in range(4):
        out = rule.step(U @ rng.standard_normal((3, 3)) @ V.T)
    assert out.diagnostics["relative_error"] < 1e-10
    assert out.diagnostics["alignment"] == pytest.approx(1.0, abs=1e-10)


def test_lowrank_muon_error_respects_the_rank_floor_and_is_reproducible():
    G = with_spectrum(log_uniform(16, 100.0), 16, 24, rng=2)
    out = LowRankMuon(4, 0.0, inner="exact", power_iters=1, rng=5).step(G)
    # ‖msign(G) − X‖_F ≥ √(16 − 4) for rank-4 X, and ‖msign(G)‖_F = 4.
    assert out.diagnostics["relative_error"] >= math.sqrt(12) / 4 - 1e-12
    again = LowRankMuon(4, 0.0, inner="exact", power_iters=1, rng=5).step(G)
    np.testing.assert_array_equal(out.update, again.update)
    with pytest.raises(ValueError, match="rank"):
        LowRankMuon(17).step(G)
    with pytest.raises(ValueError, match="range"):
        LowRankMuon(2, range="sketch")


def test_update_rules_registry():
    assert set(UPDATE_RULES) == {
        "muon", "muoneq", "lowrank_muon", "dion", "dion2", "galore_muon", "gum",
        "mucon", "normuon", "mud",
    }
    assert UPDATE_RULES["galore_muon"] is GaLoreMuon
    for name, rule in UPDATE_RULES.items():
        assert rule.name == name


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda: LowRankMuon(2, oversample=-1), "oversample"),
        (lambda: LowRankMuon(2, power_iters=1.5), "power_iters"),
        (lambda: LowRankMuon(2, normalizer="svd"), "normalizer"),
        (lambda: LowRankMuon(2, strategy="norm"), "strategy"),  # a column option with range="gaussian"
        (lambda: LowRankMuon(2, range="column", oversample=2), "oversample"),
        (lambda: LowRankMuon(2, range="column", strategy="best"), "strategy"),
        (lambda: LowRankMuon(2, range="rows"), "range"),
        (lambda: Muon(equilibration="R", exponent=0.5), "exponent"),
        (lambda: MuonEq("RC", exponent=float("nan")), "exponent"),
    ],
)
def test_bad_options_fail_at_construction_naming_the_option(make, named):
    with pytest.raises(ValueError, match=named):
        make()


def test_a_sketch_wider_than_the_matrix_fails_before_the_momentum_moves():
    rule = LowRankMuon(2, oversample=5)
    with pytest.raises(ValueError, match=r"rank \+ oversample"):
        rule.step(np.ones((4, 6)))
    assert rule.step_count == 0 and rule.buffer is None


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_sign_diagnostics_refuses_a_non_finite_target_by_name(bad):
    from matsign.updates import sign_diagnostics

    T = np.diag([3.0, 1.0])
    T[0, 1] = bad
    with pytest.raises(ValueError, match="target contains NaN or Inf"):
        sign_diagnostics(np.eye(2), T)
    with np.errstate(invalid="ignore"):  # inf · 0 in the alignment's inner product
        diverged = sign_diagnostics(np.full((2, 2), np.inf), np.diag([3.0, 1.0]))
    assert diverged["relative_error"] == np.inf  # a diverged step is measured, not refused


def test_lowrank_muon_bfloat16_inner_newton_schulz(np_rng):
    # The official Low-rank-Muon runs Newton–Schulz on QᵀX in bfloat16. Same seed, same range:
    # only the inner sign's precision differs, so the relative difference is bfloat16's (order
    # 1e-2 after 5 steps), far above float32's ≈ 1e-6 — the window shows bfloat16 was used.
    Gs = [np_rng.standard_normal((40, 96)) for _ in range(3)]
    wide = LowRankMuon(8, range="column", rng=3, diagnostics=False)
    narrow = LowRankMuon(8, range="column", inner_dtype="bfloat16", rng=3, diagnostics=False)
    for G in Gs:
        a, b = wide.step(G).update, narrow.step(G).update
        assert 1e-4 < np.linalg.norm(a - b) / np.linalg.norm(a) < 5e-2
    with pytest.raises(ValueError, match="applies only to a Newton–Schulz inner sign"):
        LowRankMuon(8, inner="exact", inner_dtype="bfloat16")
