"""The hardened transforms against the plain NumPy versions of matsign.transforms.reference.

All in float64. The hardened code computes the same formulas in another order (largest-entry
scaling before norms, elementwise scaling instead of diagonal products, another LAPACK on
PyTorch), so the two agree to rounding, amplified at most by the conditioning noted per test.
"""

import numpy as np
import pytest

from matsign.exact.schedules import get_schedule
from matsign.registry import get_method
from matsign.synthetic import log_uniform, with_spectrum
from matsign.transforms import (
    MODES,
    equilibrate,
    galore_projector,
    gum_estimate,
    slices_msign,
    select_slices,
    dion2_msign,
)
from matsign.transforms import reference

SHAPES = [(12, 18), (18, 12), (15, 15)]


def _scaled(shape, rng):
    """Spectrum spread 100 (κ = 100) times row scales spread 100: what MuonEq is for."""
    return with_spectrum(log_uniform(min(shape), 100.0), *shape, rng=rng) * np.logspace(0, 2, shape[0])[:, None]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("exponent", [-0.5, -0.25])
def test_equilibrate_is_the_diagonal_scaling(backend, shape, mode, exponent):
    G = _scaled(shape, 1)
    expected = reference.equilibrate(G, mode, exponent)
    # Sums of ≤ 18 squares, one power, then one or two products per entry (the diagonal
    # products add exact zeros): a few ulps.
    backend.assert_close(equilibrate(backend.asarray(G), mode, exponent=exponent), expected, rtol=1e-14)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("exponent", [-0.5, -0.25])
@pytest.mark.parametrize("schedule", ["muon", "polar_express"])
def test_muoneq_matches_the_reference(backend, shape, mode, exponent, schedule):
    G = _scaled(shape, 2)
    sched = get_schedule(schedule)
    expected = reference.muoneq(G, mode, exponent, 1e-8, sched.steps_coefficients(), sched.prescale)
    X = get_method("muoneq")(backend.asarray(G), mode=mode, exponent=exponent, schedule=schedule)
    # Inputs agree to a few ulps; each of the 5 steps multiplies a perturbation by at most the
    # step polynomial's largest slope on [0, 1.2] (about 4), so ≤ 4⁵·1e-15 ≈ 1e-12 (seen: 2e-14).
    backend.assert_close(X, expected, rtol=0.0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
def test_dion2_matches_the_reference(backend, shape, fraction, np_rng):
    # Gaussian entries: L1 norms distinct (no ties), the k selected slices well conditioned.
    G = np_rng.standard_normal(shape)
    expected = reference.dion2(G, fraction)
    A = backend.asarray(G)
    # The same selection, then the SVD sign of a well-conditioned submatrix: rounding (seen: 2e-15).
    backend.assert_close(dion2_msign(A, fraction), expected, rtol=0.0, atol=1e-12)
    backend.assert_close(get_method("dion2")(A, fraction=fraction), expected, rtol=0.0, atol=1e-12)
    axis, indices = select_slices(A, fraction)
    backend.assert_close(slices_msign(A, axis, indices), expected, rtol=0.0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rank", [1, 3, 5])
def test_galore_projector_and_method_match_the_reference(backend, shape, rank):
    G = with_spectrum(log_uniform(min(shape), 10.0), *shape, rng=3)
    P = reference.galore_projector(G, rank)
    A = backend.asarray(G)
    hardened = galore_projector(A, rank).P
    P_hardened = backend.to_numpy(hardened)
    backend.assert_close(hardened, P_hardened, rtol=0, dtype="float64")  # library, device and dtype kept
    # Singular values spaced by 10^(1/11) or more: the subspace, hence PPᵀ, is determined to
    # rounding whatever the SVD's signs (seen: 6e-15).
    np.testing.assert_allclose(P_hardened @ P_hardened.T, P @ P.T, atol=1e-12)
    expected = reference.gum_sign(G, P, 0.5, "low_rank")  # P·msign(PᵀG), the scale is immaterial
    backend.assert_close(get_method("galore")(A, rank=rank), expected, rtol=0.0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("q", [0.3, 0.5])
def test_gum_estimate_and_method_match_the_reference_for_each_branch(backend, shape, q):
    G = with_spectrum(log_uniform(min(shape), 10.0), *shape, rng=4)
    rank = 3
    A = backend.asarray(G)
    projector = galore_projector(A, rank)
    P = backend.to_numpy(projector.P)
    seen = set()
    for seed in range(8):
        estimate, branch = gum_estimate(A, projector, q, rng=seed)
        seen.add(branch)
        # The same projector, one product and a scaling: rounding (seen: 7e-16).
        backend.assert_close(estimate, reference.gum_estimate(G, P, q, branch), rtol=0.0, atol=1e-13)
        # The method draws the same branch from the same seed. The signs of the projection and
        # of the residual (κ ≤ 10 on their nonzero singular values) agree to rounding (seen: 4e-15).
        X = get_method("gum")(A, rng=seed, rank=rank, q=q)
        backend.assert_close(X, reference.gum_sign(G, P, q, branch), rtol=0.0, atol=1e-12)
    assert seen == {"full_rank", "low_rank"}
