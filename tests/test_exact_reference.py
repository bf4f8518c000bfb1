"""The hardened exact family against its plain NumPy references (matsign.exact.reference), float64.

The references write out the papers' updates; the hardened versions add orientation handling,
scale-safe norms, fused products, stacks and backends. In float64 the two differ only by
rounding, so each tolerance below is a rounding bound for that algorithm, stated beside it.
"""

import numpy as np
import pytest

from matsign.exact import reference
from matsign.exact.gram_newton_schulz import gram_newton_schulz
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.polar_express import polar_express_coefficients
from matsign.exact.qdwh import qdwh_sign
from matsign.exact.schedules import SCHEDULES
from matsign.exact.sign import msign
from matsign.synthetic import haar_orthogonal, log_uniform, with_spectrum

EPS = 2.0**-52


def _rank_deficient(m, n, rank, seed):
    """``U diag(σ) Vᵀ`` with ``rank`` log-spaced singular values in [0.01, 1], the rest exactly 0."""
    U, V = haar_orthogonal(m, rank, rng=seed), haar_orthogonal(n, rank, rng=seed + 1)
    return (U * log_uniform(rank, 100.0)) @ V.T, U, V


#: name → (G, kappa); κ of the nonzero part. Wide, tall, square, and rank 12 of 30 × 24.
MATRICES = {
    "wide": (with_spectrum(log_uniform(20, 1e2), 20, 36, rng=1), 1e2),
    "tall": (with_spectrum(log_uniform(20, 1e4), 36, 20, rng=2), 1e4),
    "square": (with_spectrum(log_uniform(24, 1e3), 24, 24, rng=3), 1e3),
    "rank_deficient": (_rank_deficient(30, 24, 12, seed=4)[0], 1e2),
}


@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("name", list(MATRICES))
def test_newton_schulz_matches_reference(backend, name, schedule):
    G, _ = MATRICES[name]
    sched = SCHEDULES[schedule]
    triples = sched.steps_coefficients()
    want = reference.newton_schulz(G, triples, sched.prescale)
    # Rounding differs (max-entry scaling before the norm, fused bA + cA² and aX + BX): about u
    # per step, amplified by the later steps' slopes |p_k'(s)| ≤ a_k, the slope at 0, which
    # small singular values and the roundoff in null directions see. So the bound is
    # u·Π a_k (7.6u for 5 cubic steps, 990u for polar_express, 7.9e4u for deepseek_v4's eight
    # Muon steps); measured ≤ 0.16 of it. 10u more for the final rounding.
    atol = (10 + np.prod([a for a, _, _ in triples])) * EPS
    backend.assert_close(newton_schulz(backend.asarray(G), schedule), want, rtol=0, atol=atol)


@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("shape", ["wide", "tall", "rank_deficient"])
def test_gram_newton_schulz_matches_reference(shape, schedule):
    # κ = 100 only: beyond, the plain Gram iteration drifts by design (its docstring).
    G = MATRICES["rank_deficient" if shape == "rank_deficient" else "wide"][0]
    G = G.T if shape == "tall" else G
    sched = SCHEDULES[schedule]
    triples = sched.steps_coefficients()
    got = gram_newton_schulz(G, schedule, restarts=())
    # As for newton_schulz, roundoff amplified by at most Π a_k; here it is never corrected by
    # re-forming X_k = Q_k X₀, and R_k's roundoff, of size u, sits on singular values 0 in the
    # rank-deficient case: measured ≤ 0.6 u·Π a_k at full rank, ≤ 4.4 u·Π a_k at rank 12 of 24.
    atol = 10 * (1 + np.prod([a for a, _, _ in triples])) * EPS
    np.testing.assert_allclose(got, reference.gram_newton_schulz(G, triples, sched.prescale), rtol=0, atol=atol)
    # And the Gram form is the standard iteration in exact arithmetic.
    np.testing.assert_allclose(got, reference.newton_schulz(G, triples, sched.prescale), rtol=0, atol=atol)


@pytest.mark.parametrize("name", list(MATRICES))
def test_msign_matches_svd_polar(backend, name):
    G, kappa = MATRICES[name]
    rtol = max(G.shape) * EPS  # msign's default for float64 input
    want = reference.svd_polar(G, rtol)
    # The same truncation. NumPy runs the same LAPACK SVD (equal to a few u); another library's
    # SVD is backward stable too, and the polar factor's condition number relative to ‖G‖ is
    # ~κ, so the two agree to about κu (measured ≤ 0.4κu on PyTorch): 4κu + 10u.
    backend.assert_close(msign(backend.asarray(G)), want, rtol=0, atol=(10 + 4 * kappa) * EPS)
    # The Gram route squares the condition number: error about κ²u (measured ≤ 0.1 κ²u).
    backend.assert_close(msign(backend.asarray(G), method="eigh"), want, rtol=0, atol=kappa**2 * EPS)


@pytest.mark.parametrize("name", ["wide", "tall", "square"])
def test_qdwh_matches_reference(backend, name):
    G, kappa = MATRICES[name]
    want = reference.qdwh(G)
    # Both are backward stable (3–5 u) with the same weights and step forms, so each is within
    # about κu of the polar factor (its condition number relative to ‖G‖ is ~κ); measured
    # ≤ 0.7κu between them. 4κu + 10u.
    backend.assert_close(qdwh_sign(backend.asarray(G)), want, rtol=0, atol=(10 + 4 * kappa) * EPS)
    np.testing.assert_allclose(want, reference.svd_polar(G, 0.0), rtol=0, atol=(10 + 4 * kappa) * EPS)


def test_qdwh_matches_reference_on_the_range_of_a_rank_deficient_matrix():
    G, U, V = _rank_deficient(30, 24, 12, seed=4)
    got, want = qdwh_sign(G), reference.qdwh(G)
    # The null directions end anywhere in [0, 1], set by roundoff (qdwh_sign's Notes), so only
    # U Uᵀ X V Vᵀ is determined: both equal U Vᵀ there to the κ = 100 rounding bound above.
    project = lambda X: U @ (U.T @ X @ V) @ V.T  # noqa: E731
    np.testing.assert_allclose(project(got), project(want), rtol=0, atol=410 * EPS)
    np.testing.assert_allclose(project(want), U @ V.T, rtol=0, atol=410 * EPS)


@pytest.mark.parametrize(
    "params",
    [
        {"steps": 5, "lower": 1e-3, "safety": 0.02, "cushion": 0.02},  # polar_express
        {"steps": 5, "lower": 1e-3, "safety": 0.0, "cushion": 0.0},  # CANS
        {"steps": 8, "lower": 1e-3, "safety": 0.0, "cushion": 0.02407327424182761},  # the paper's 8
        {"steps": 12, "lower": 1e-6, "safety": 0.01, "cushion": 0.05},
    ],
)
def test_polar_express_coefficients_match_reference(params):
    got = np.array(polar_express_coefficients(**params))
    want = np.array(reference.polar_express_coefficients(**params))
    rel = np.abs(got - want) / np.abs(want)
    # Well-conditioned Remez steps agree to rounding. A step fitted on [ℓ, u] with ℓ/u near 1
    # solves an equioscillation system of condition up to ~1e7 (2.0e6 at ℓ/u = 1 − 2.4e-3),
    # where the two versions' last-bit differences in ℓ become κ·u ≈ 1e-9 (see
    # tests/test_polar_express.py, STEP_SEVEN_RTOL); the Taylor steps past ℓ/u = 1 − 5e-6 are
    # scaled by u = 2 − ℓ, equal to 1e-12.
    ratios = []
    lo, hi = params["lower"], 1.0
    for a, b, c in got:
        ratios.append(max(lo, params["cushion"] * hi) / hi)
        lo = a * lo + b * lo**3 + c * lo**5
        hi = 2 - lo
    for k, ratio in enumerate(ratios):
        assert rel[k].max() <= (1e-12 if ratio < 0.9 or ratio >= 1 - 5e-6 else 2e-9), (k, ratio, rel[k])
