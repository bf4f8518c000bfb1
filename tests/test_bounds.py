"""HMT expectation bounds on sample means, the low-rank sign bound in every trial, and units."""

import math

import numpy as np
import pytest

from matsign import bounds, metrics
from matsign.bounds import (
    hmt_frobenius_bound,
    hmt_spectral_bound,
    lowrank_sign_bound,
    optimal_residual,
    oracle_alignment,
)
from matsign.lowrank.ranges import gaussian_range
from matsign.lowrank.oracle import oracle_lowrank_sign
from matsign.lowrank.sign import lowrank_msign
from matsign.synthetic import exponential_decay, low_rank_plus_noise, power_law, with_spectrum

M, N, RANK, TRIALS = 60, 80, 8, 200

SPECTRA = {
    "power_law_0.5": power_law(M, 0.5),
    "power_law_1": power_law(M, 1.0),
    "power_law_2": power_law(M, 2.0),
    "exponential": exponential_decay(M, 0.2),
    "low_rank_plus_noise": low_rank_plus_noise(M, RANK, 1e-2),
}

# (oversample, power_iters): the Frobenius bound (Thm 10.5) is stated for q = 0 only.
CONFIGS = [(2, 0), (5, 1), (3, 2)]


@pytest.mark.parametrize("name", SPECTRA)
def test_hmt_bounds_hold_on_the_mean_and_the_sign_bound_in_every_trial(name):
    # The expectation is over the sketch Ω for a fixed matrix: one G, TRIALS sketches.
    G = with_spectrum(SPECTRA[name], M, N, rng=1)
    sigma = np.linalg.svd(G, compute_uv=False)
    oracle = oracle_lowrank_sign(G, RANK)
    rng = np.random.default_rng(2)
    for p, q in CONFIGS:
        fro, spec, finite = [], [], 0
        for _ in range(TRIALS):
            Q = gaussian_range(G, RANK, oversample=p, power_iters=q, rng=rng)
            R = G - Q @ (Q.T @ G)
            e_fro, e_2 = np.linalg.norm(R), np.linalg.norm(R, 2)
            fro.append(e_fro)
            spec.append(e_2)
            err = lowrank_msign(G, Q, rank=RANK) - oracle
            for ord_, residual, error in (("fro", e_fro, np.linalg.norm(err)), (2, e_2, np.linalg.norm(err, 2))):
                bound = lowrank_sign_bound(sigma, RANK, residual, ord=ord_)
                assert error <= bound * (1 + 1e-9) + 1e-12, (name, p, q, ord_, error, bound)
            finite += math.isfinite(lowrank_sign_bound(sigma, RANK, e_fro))
        assert min(fro) >= optimal_residual(sigma, RANK + p) - 1e-12
        if q == 0:
            assert np.mean(fro) <= hmt_frobenius_bound(sigma, RANK, p), (name, p)
        assert np.mean(spec) <= hmt_spectral_bound(sigma, RANK, p, power_iters=q), (name, p, q)
        if name == "low_rank_plus_noise":
            # A clear gap (σ₈ = 1, σ₉ = 0.01): the sign bound is informative in every trial.
            assert finite == TRIALS


def test_sign_bound_is_within_a_small_factor_of_the_error_for_a_rotated_basis():
    # G = diag(1, 0), Q = (cos t, sin t): error ‖q e₁ᵀ − e₁e₁ᵀ‖_F = 2 sin(t/2), residual sin t,
    # gap 1: the bound √2 sin t / (1 − sin t) overestimates by only √2 as t → 0.
    G = np.diag([1.0, 0.0])
    for t in (1e-3, 1e-2, 0.1):
        Q = np.array([[math.cos(t)], [math.sin(t)]])
        error = np.linalg.norm(lowrank_msign(G, Q) - oracle_lowrank_sign(G, 1))
        residual = np.linalg.norm(G - Q @ (Q.T @ G))
        bound = lowrank_sign_bound([1.0, 0.0], 1, residual)
        assert error <= bound <= 1.6 * error


def test_sign_bound_special_cases():
    assert lowrank_sign_bound([2.0, 1.0, 0.0], 2, 0.0) == 0.0
    assert lowrank_sign_bound([2.0, 1.0, 0.9], 2, 0.1) == math.inf  # residual = gap
    assert lowrank_sign_bound([3.0, 1.0], 2, 0.5, ord=2) == pytest.approx(math.sqrt(2) * 0.5 / 0.5)  # σ₃ := 0
    # A basis holding U_r has residual σ_{r+1} (spectral) and zero error; the bound stays ≥ 0.
    assert lowrank_sign_bound([1.0, 1.0, 0.1], 2, 0.1, ord=2) == pytest.approx(math.sqrt(2) * 0.1 / 0.8)


def test_hmt_bounds_by_hand():
    sigma = [4.0, 2.0, 1.0, 0.5, 0.25, 0.0]
    tail = math.sqrt(0.5**2 + 0.25**2)  # σ₄, σ₅, σ₆ for k = 3
    assert hmt_frobenius_bound(sigma, 3, 2) == pytest.approx(math.sqrt(1 + 3 / 1) * tail)
    assert hmt_spectral_bound(sigma, 3, 2) == pytest.approx((1 + math.sqrt(3)) * 0.5 + math.e * math.sqrt(5) / 2 * tail)
    t3 = math.sqrt(0.5**6 + 0.25**6)
    expected = ((1 + math.sqrt(3)) * 0.5**3 + math.e * math.sqrt(5) / 2 * t3) ** (1 / 3)
    assert hmt_spectral_bound(sigma, 3, 2, power_iters=1) == pytest.approx(expected)
    # Order and container do not matter; scale enters linearly; huge q neither over- nor underflows.
    assert hmt_spectral_bound(sigma[::-1], 3, 2) == pytest.approx(hmt_spectral_bound(sigma, 3, 2))
    assert hmt_spectral_bound([1e3 * s for s in sigma], 3, 2, power_iters=1) == pytest.approx(1e3 * expected)
    big_q = hmt_spectral_bound(sigma, 3, 2, power_iters=200)
    assert 0.5 <= big_q <= 0.5 * 1.02  # → σ_{k+1} as q grows


def test_optimal_residual_and_oracle_alignment():
    sigma = [3.0, 2.0, 1.0, 0.0]
    assert optimal_residual(sigma, 1) == pytest.approx(math.sqrt(5.0))
    assert optimal_residual(sigma, 1, ord=2) == 2.0
    assert optimal_residual(sigma, 4, ord=2) == 0.0
    assert oracle_alignment(sigma, 2) == pytest.approx(5 / 6)
    assert math.isnan(oracle_alignment([0.0, 0.0], 1))


def test_oracle_alignment_is_the_alignment_of_the_oracle(backend):
    G = with_spectrum(power_law(12, 1.0), 12, 20, rng=3)
    A = backend.asarray(G)
    measured = metrics.alignment(oracle_lowrank_sign(A, 4), A)
    backend.assert_close(measured, oracle_alignment(power_law(12, 1.0), 4), rtol=1e-10)


def test_spectrum_from_any_backend(backend):
    sigma = backend.asarray(np.array([3.0, 2.0, 1.0, 0.5, 0.1]))
    assert hmt_frobenius_bound(sigma, 2, 2) == pytest.approx(hmt_frobenius_bound([3.0, 2.0, 1.0, 0.5, 0.1], 2, 2))


def test_rank_floor_is_the_metrics_one():
    assert bounds.rank_floor is metrics.rank_floor


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: hmt_frobenius_bound([1.0] * 6, 1, 2), ValueError, "rank must be at least 2"),
        (lambda: hmt_spectral_bound([1.0] * 6, 2, 1), ValueError, "oversample must be at least 2"),
        (lambda: hmt_spectral_bound([1.0] * 6, 3, 4), ValueError, "rank \\+ oversample = 7 exceeds"),
        (lambda: hmt_spectral_bound([1.0] * 6, 2, 2, power_iters=-1), ValueError, "power_iters must be a non-negative"),
        (lambda: hmt_frobenius_bound([1.0] * 6, 2, -2), ValueError, "oversample must be a non-negative"),
        (lambda: hmt_frobenius_bound([[1.0, 2.0]], 2, 2), ValueError, "sigma must be a non-empty 1-D"),
        (lambda: hmt_frobenius_bound([], 2, 2), ValueError, "sigma must be a non-empty 1-D"),
        (lambda: optimal_residual([1.0, -1.0], 1), ValueError, "finite and non-negative"),
        (lambda: optimal_residual([1.0, np.nan], 1), ValueError, "finite and non-negative"),
        (lambda: optimal_residual([1.0], 1, ord=1), ValueError, "ord must be 'fro' or 2"),
        (lambda: lowrank_sign_bound([1.0, 0.5], 3, 0.1), ValueError, "rank must be at most min"),
        (lambda: lowrank_sign_bound([1.0, 0.5], 0, 0.1), ValueError, "rank must be a positive integer"),
        (lambda: lowrank_sign_bound([1.0, 0.5], 1, -0.1), ValueError, "residual must be a finite number ≥ 0"),
        (lambda: lowrank_sign_bound([1.0, 0.5], 1, math.inf), ValueError, "residual must be a finite number"),
        (lambda: oracle_alignment([1.0, 0.5], 0), ValueError, "rank must be a positive integer"),
    ],
)
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()
