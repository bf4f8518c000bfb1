"""The update rules against the plain NumPy references of :mod:`matsign.updates.reference`.

Float64 throughout, a few steps each, the same random draws where randomness enters (Dion's
initial ``Q`` is drawn from the rule's seed; GUM's branch is read from the rule). Tolerances are absolute, on updates whose
singular values are at most about 1 (O(1) entries). The rules and the references compute the
same operations in different groupings and through different BLAS/LAPACK calls, so they agree
to rounding amplified by the algorithm; the measured differences are at most 3e-14 on NumPy
and PyTorch CPU, and each tolerance is the a-priori estimate written beside it, which leaves
room for other BLAS libraries (GPU) to round differently.
"""

import numpy as np
import pytest

from matsign._backend.random import standard_normal
from matsign.exact.schedules import get_schedule
from matsign.exact.clip import clip_values
from matsign.updates import (
    GUM,
    MUD,
    ORTHONORMALIZERS,
    Dion,
    Dion2,
    GaLoreMuon,
    MuCon,
    Muon,
    NorMuon,
)
from matsign.updates.reference import (
    dion2_step,
    dion_step,
    galore_muon_step,
    gum_step,
    mucon_step,
    mud_step,
    muon_step,
    normuon_step,
)

SHAPES = [(12, 20), (20, 12), (16, 16)]


def _gradients(shape, count=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(count)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("schedule", ["muon", "you5"])
def test_muon_matches_the_reference(backend, shape, nesterov, schedule):
    triples = get_schedule(schedule).steps_coefficients()
    assert get_schedule(schedule).prescale == 1.0  # the reference normalizes by ‖X‖_F alone
    rule = Muon(0.9, nesterov=nesterov, schedule=schedule, diagnostics=False)
    M = np.zeros(shape)
    for G in _gradients(shape):
        M, expected = muon_step(M, G, 0.9, triples, nesterov=nesterov)
        out = rule.step(backend.asarray(G))
        # Five steps of slope ≤ 4.1 at 0 amplify a rounding error of the input (u = 1.1e-16
        # times the dimension, ~2e-15) by at most 4.1⁵ ≈ 1.2e3: 2.5e-12 on O(1) entries.
        backend.assert_close(out.update, expected, rtol=0, atol=3e-12)
    # The momentum is the same sums in the same order: equal to rounding of its O(1) entries.
    backend.assert_close(rule.buffer, M, rtol=0, atol=1e-13)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("orth", ORTHONORMALIZERS)
def test_dion_matches_algorithm_1(backend, shape, orth):
    rank, mu, seed = 4, 0.9, 3
    rule = Dion(rank, mu, orth=orth, rng=seed, diagnostics=False)
    grads = _gradients(shape)
    # The rule's first draw from its seed: Q₀, n × r standard normal.
    Q = backend.to_numpy(standard_normal(seed, (shape[1], rank), like=backend.asarray(grads[0])))
    M = np.zeros(shape)
    for G in grads:
        M, Q, expected = dion_step(M, Q, G, mu)
        out = rule.step(backend.asarray(G))
        # Every orthonormalizer returns a basis of range(BQ) that differs from Householder QR's
        # by column signs only, and P Qᵀ and P Rᵀ do not depend on them. The bases agree to
        # u·κ(BQ) (κ ≲ 10 for these Gaussian blocks), carried through four warm-started
        # steps and the entries of B (|B| ≲ 20): 1e-12.
        backend.assert_close(out.update, expected, rtol=0, atol=1e-12)
    backend.assert_close(rule.buffer, M, rtol=0, atol=1e-12)
    right = backend.to_numpy(rule.right_factor)
    backend.assert_close(rule.right_factor, right, rtol=0, dtype="float64")  # library, device and dtype kept
    np.testing.assert_allclose(right @ right.T, Q @ Q.T, rtol=0, atol=1e-12)  # Q up to column signs


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
@pytest.mark.parametrize("inner", ["exact", "newton_schulz"])
def test_dion2_matches_the_reference(backend, shape, fraction, inner):
    mu = 0.9
    triples = None if inner == "exact" else get_schedule("muon").steps_coefficients()
    rule = Dion2(fraction, mu, inner=inner, diagnostics=False)
    M = np.zeros(shape)
    for G in _gradients(shape, seed=1):
        M, expected = dion2_step(M, G, fraction, mu, triples)
        out = rule.step(backend.asarray(G))
        # The exact sign of the k × n block S (SVD, backward stable) agrees to u·κ(S) ≈ 1e-15
        # for these Gaussian blocks; Newton–Schulz as in the Muon test above: 2.5e-12.
        backend.assert_close(out.update, expected, rtol=0, atol=3e-12)
        # M + G and the decay μ·M_K are the same operations: equal to rounding.
        backend.assert_close(rule.buffer, M, rtol=0, atol=1e-13)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("inner", ["exact", "newton_schulz"])
@pytest.mark.parametrize("period", [2, 10])
def test_galore_muon_matches_the_reference(backend, shape, inner, period):
    if period < 4 and backend.name != "numpy":
        # The momentum is kept across a refresh in the old coordinates, so a later update
        # depends on the signs of the singular vectors, which differ between LAPACK builds.
        pytest.skip("refreshes within the run compare on NumPy's own SVD only")
    rank, mu = 4, 0.9
    triples = None if inner == "exact" else get_schedule("muon").steps_coefficients()
    rule = GaLoreMuon(rank, period=period, momentum=mu, inner=inner, diagnostics=False)
    R = P = None
    for t, G in enumerate(_gradients(shape, seed=2)):
        R, P, expected = galore_muon_step(R, P, G, rank, mu, triples, refresh=t % period == 0)
        out = rule.step(backend.asarray(G))
        # Within a period P's column signs cancel in P·orth(R). The top five singular values
        # of these gradients are ≥ 0.01·σ₁ apart, so P agrees to ~u/0.01 ≈ 1e-14 (PyTorch's
        # SVD: 3e-14); with the sign's 2.5e-12 of the Muon test above: 3e-12.
        backend.assert_close(out.update, expected, rtol=0, atol=3e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("inner", ["exact", "newton_schulz"])
def test_gum_matches_the_reference(backend, shape, inner):
    rank, q, mu, period = 4, 0.5, 0.9, 2
    triples = None if inner == "exact" else get_schedule("muon").steps_coefficients()
    branches = set()
    for seed in range(3):
        rule = GUM(rank, q, period=period, momentum=mu, inner=inner, rng=seed, diagnostics=False)
        R = P = None
        for t, G in enumerate(_gradients(shape, 6, seed=4)):
            out = rule.step(backend.asarray(G))  # draws the period's branch: the same draw below
            R, P, expected = gum_step(R, P, G, rank, q, mu, rule.branch, triples, refresh=t % period == 0)
            branches.add(rule.branch)
            # The momentum restarts with every P, so P's column signs cancel in the update. As in
            # the GaLore test (here the top five singular values are ≥ 0.009·σ₁ apart, P to
            # ~1e-14; PyTorch measured 1.3e-14), plus the sign's 2.5e-12: 3e-12.
            backend.assert_close(out.update, expected, rtol=0, atol=3e-12)
    assert branches == {"low_rank", "full_rank"}  # these seeds draw both branches


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tau", [0.5, 3.0])
def test_mucon_matches_the_reference(backend, shape, tau):
    """Nesterov inputs of these N(0, 1) gradients have σ from about 0.5 to 20: τ = 0.5 clips
    nearly all, τ = 3 some."""
    rule = MuCon(0.9, tau=tau, diagnostics=False)
    M = np.zeros(shape)
    for G in _gradients(shape):
        M, expected = mucon_step(M, G, 0.9, tau)
        out = rule.step(backend.asarray(G))
        # Both are backward-stable SVDs of the same float64 T (‖T‖₂ ≲ 20): a few eps·‖T‖₂,
        # ≲ 1e-13 on the entries; σ near τ move by as much, and min(·, τ) is 1-Lipschitz.
        backend.assert_close(out.update, expected, rtol=0, atol=1e-12)
    backend.assert_close(rule.buffer, M, rtol=0, atol=1e-13)


@pytest.mark.parametrize("shape", SHAPES)
def test_mucon_newton_schulz_route_is_its_exact_arithmetic_clipping(backend, shape):
    """The Newton–Schulz route clips T's singular values through clip_values (σ-determined)."""
    tau, mu = 3.0, 0.9
    rule = MuCon(mu, tau=tau, route="newton_schulz", schedule="polar_express8", diagnostics=False)
    M = np.zeros(shape)
    for G in _gradients(shape):
        M = mu * M + G
        U, s, Vt = np.linalg.svd(G + mu * M, full_matrices=False)
        expected = (U * clip_values(s, tau, route="newton_schulz", schedule="polar_express8")) @ Vt
        out = rule.step(backend.asarray(G))
        # Two 8-step runs of slope ≤ 3 polynomials amplify float64 rounding ≲ 1e3·eps·‖T‖₂.
        backend.assert_close(out.update, expected, rtol=0, atol=1e-11)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("schedule", ["muon", "you5"])
def test_normuon_matches_the_reference(backend, shape, schedule):
    triples = get_schedule(schedule).steps_coefficients()
    rule = NorMuon(0.9, beta2=0.9, schedule=schedule, diagnostics=False)
    M, v = np.zeros(shape), np.zeros((shape[0], 1))
    for G in _gradients(shape):
        M, v, expected = normuon_step(M, v, G, 0.9, 0.9, 1e-8, triples)
        out = rule.step(backend.asarray(G))
        # Muon's bound (3e-12 on the Newton–Schulz output), times the row scaling 1/√v_i: the
        # rows of an NS output have mean squares ≈ 1/n, so 1/√v ≲ 2√n ≈ 9 here: 3e-11.
        backend.assert_close(out.update, expected, rtol=0, atol=3e-11)
    backend.assert_close(rule.second_moment, v, rtol=0, atol=1e-13)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("passes", [1, 2])
def test_mud_matches_the_reference(backend, shape, passes):
    rule = MUD(0.9, passes=passes, diagnostics=False)
    M = np.zeros(shape)
    for G in _gradients(shape):
        M, expected = mud_step(M, G, 0.9, passes, 1e-8)
        out = rule.step(backend.asarray(G))
        # A unit lower-triangular solve with the Gram matrix of unit rows: forward error
        # ≲ k·eps·κ(T) with κ(T) ≲ 1e2 for these Gaussian rows (k ≤ 16): ~1e-12 per pass.
        backend.assert_close(out.update, expected, rtol=0, atol=1e-11)
