"""Bounds without a spectral gap: never violated by a measurement, finite where the gap bound is not.

Spectra: power laws (no gap anywhere) between Haar factors, and the recorded dump's gradients
(float64 upcast). Measurements: the rank-k sign of QQᵀG for Gaussian sketches and selected
columns, against msign(G) computed by the float64 SVD.
"""

import math

import numpy as np
import pytest

import matsign
from matsign.bounds import (
    hmt_spectral_bound,
    lowrank_alignment_bound,
    lowrank_error_bound,
    lowrank_error_bounds,
    lowrank_sign_bound,
    oracle_alignment,
    relative_rank_floor,
    residual_alignment_bound,
)
from matsign.io import RECORDED_DUMP
from matsign.synthetic import power_law, with_spectrum

#: Float64 rounding of the measured metrics (≤ 1e-13 here) is far below this.
SLACK = 1e-9

#: (k, p, q): rank, oversampling, power iterations.
SKETCHES = [(8, 2, 0), (16, 6, 1), (16, 4, 2)]


def _synthetic():
    out = []
    for alpha, shape in [(0.5, (96, 160)), (1.0, (160, 96))]:
        s = power_law(min(shape), alpha)
        out.append((with_spectrum(s, *shape, rng=11), s))
    return out


def _recorded():
    records = [r for r in matsign.load_gradients(RECORDED_DUMP) if r.kind == "grad" and r.step in (100, 500)]
    matrices = [np.asarray(r.load(), dtype=np.float64) for r in records[::2]]
    return [(G, np.linalg.svd(G, compute_uv=False)) for G in matrices]


CASES = {"power_law": _synthetic, "recorded": _recorded}


def _measure(G, s, Q, k):
    """Alignment, error, spectral and Frobenius residual, and σ(QᵀG) of the rank-k sign of QQᵀG."""
    right = Q.shape[0] != G.shape[0]  # a row-space basis of a tall G (column selection)
    X = matsign.lowrank_msign(G, Q, rank=k)
    A = G.T if right else G
    B = Q.T @ A
    residual = A - Q @ B
    alignment = float(np.sum(G * X)) / float(s.sum())
    error = float(matsign.relative_error(X, matsign.msign(G)))
    return (alignment, error, np.linalg.norm(residual, 2), np.linalg.norm(residual), np.linalg.svd(B, compute_uv=False))


def _assert_deterministic_bounds(s, k, measured, label):
    alignment, error, eps2, epsF, projected = measured
    assert alignment >= residual_alignment_bound(s, k, eps2) - SLACK, label
    assert alignment >= residual_alignment_bound(s, k, epsF) - SLACK, label
    assert error <= lowrank_error_bound(s, k, projected=projected) + SLACK, label
    assert error <= lowrank_error_bound(s, k, residual=eps2) + SLACK, label
    assert error >= relative_rank_floor(s, k) - SLACK, label
    bounds = lowrank_error_bounds(s, k, residual=epsF)
    assert error <= min(bounds["gap"], bounds["residual"]) + SLACK, label


@pytest.mark.parametrize("case", sorted(CASES))
def test_gaussian_sketch_bounds_hold_and_are_finite(case):
    gap_bound_infinite = 0
    for G, s in CASES[case]():
        for k, p, q in SKETCHES:
            draws = [_measure(G, s, matsign.gaussian_range(G, k, oversample=p, power_iters=q, rng=seed), k)
                     for seed in range(3)]
            for measured in draws:
                _assert_deterministic_bounds(s, k, measured, (case, G.shape, k, p, q))
                gap_bound_infinite += math.isinf(lowrank_sign_bound(s, k, measured[3]))
            expected_alignment = lowrank_alignment_bound(s, k, p, power_iters=q)
            expected_error = lowrank_error_bound(s, k, residual=hmt_spectral_bound(s, k, p, power_iters=q))
            assert all(math.isfinite(b) for b in (expected_alignment, expected_error))
            # Expectation bounds, checked on the mean of 3 sketches: the alignment's sketch-to-
            # sketch std is ≤ 0.01 here, far below the bounds' distance to the measurement.
            assert np.mean([d[0] for d in draws]) >= expected_alignment
            assert np.mean([d[1] for d in draws]) <= expected_error
            assert expected_alignment <= oracle_alignment(s, k)
    assert gap_bound_infinite > 0  # where the old bound says nothing, the new ones still hold


@pytest.mark.parametrize("strategy", ["uniform", "l1_topk", "norm"])
def test_column_selection_obeys_the_deterministic_bounds(strategy):
    for G, s in _synthetic() + _recorded()[:2]:
        for k in (8, 24):
            Q = matsign.column_range(G, k, strategy=strategy, rng=3)
            _assert_deterministic_bounds(s, k, _measure(G, s, Q, k), (strategy, G.shape, k))


def test_the_error_bound_is_exact_for_the_oracle():
    s = power_law(40, 0.8)
    G = with_spectrum(s, 40, 64, rng=12)
    U = np.linalg.svd(G)[0][:, :10]
    alignment, error, *_, projected = _measure(G, s, U, 10)
    assert error == pytest.approx(lowrank_error_bound(s, 10, projected=projected), abs=1e-12)
    assert error == pytest.approx(relative_rank_floor(s, 10), abs=1e-12)
    assert alignment == pytest.approx(residual_alignment_bound(s, 10, 0.0), abs=1e-12)


def test_the_gap_bound_is_kept_where_it_is_finite_and_can_be_the_tightest():
    # A clear gap at r = 16 and a short tail: the gap bound's √2ε/δ beats the residual
    # bound's Σ_{i≤r} 2ε/σ_i when √2·√(ρ − r) < r (here 2.8 < 16).
    s = np.r_[np.ones(16), 1e-3 * np.ones(4)]
    bounds = lowrank_error_bounds(s, 16, residual=1e-4)
    assert math.isfinite(bounds["gap"]) and bounds["tightest"] == "gap"
    assert bounds["gap"] >= bounds["floor"]


def test_bad_arguments_are_named():
    s = power_law(16, 1.0)
    with pytest.raises(ValueError, match="exactly one of projected"):
        lowrank_error_bound(s, 4)
    with pytest.raises(ValueError, match="exactly one of projected"):
        lowrank_error_bound(s, 4, projected=s[:4], residual=0.1)
    with pytest.raises(ValueError, match="rank"):
        residual_alignment_bound(s, 17, 0.1)
    with pytest.raises(ValueError, match="residual"):
        residual_alignment_bound(s, 4, -1.0)
    with pytest.raises(ValueError, match="oversample"):
        lowrank_alignment_bound(s, 4, 1)
