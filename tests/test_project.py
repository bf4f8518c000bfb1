"""GaLore projector and GUM's two-branch estimate: round trips, subspaces, unbiasedness."""

import numpy as np
import pytest

from matsign.synthetic import log_uniform, with_spectrum
from matsign.transforms.projection import (
    BRANCHES,
    Projector,
    galore_projector,
    gum_estimate,
    gum_lift,
    residual_ratio,
)


def _top_subspace(G, r):
    """Orthogonal projector onto the top-r singular subspace of the shorter side (NumPy SVD)."""
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    B = U[:, :r] if G.shape[0] <= G.shape[1] else Vt[:r].T
    return B @ B.T


@pytest.mark.parametrize("shape", [(8, 12), (12, 8), (9, 9)])
def test_svd_projector_spans_the_top_singular_subspace(backend, shape):
    G = with_spectrum(log_uniform(min(shape), 100.0), *shape, rng=4)
    proj = galore_projector(backend.asarray(G), 3)
    assert proj.side == ("left" if shape[0] <= shape[1] else "right")
    assert proj.rank == 3 and proj.dim == min(shape)
    P = backend.to_numpy(proj.P)
    backend.assert_close(proj.P, P, rtol=0, dtype="float64")  # library, device and dtype kept
    assert P.shape == (min(shape), 3)
    # Well-separated singular values (ratio 100^(1/8) per step): the subspace is determined to
    # rounding, so the projectors agree to ~1e-14 whatever the SVD's sign choices.
    np.testing.assert_allclose(P.T @ P, np.eye(3), atol=1e-13)
    np.testing.assert_allclose(P @ P.T, _top_subspace(G, 3), atol=1e-12)
    # up(down(G)) is the best rank-3 approximation.
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    best = (U[:, :3] * s[:3]) @ Vt[:3]
    backend.assert_close(proj.up(proj.down(backend.asarray(G))), best, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 7), (7, 5)])
def test_projector_round_trips(backend, shape, np_rng):
    m, n = shape
    side = "left" if m <= n else "right"
    P = np.linalg.qr(np_rng.standard_normal((min(shape), 2)))[0]
    proj = Projector(backend.asarray(P), side)
    G = np_rng.standard_normal(shape)
    A = backend.asarray(G)
    D = backend.to_numpy(proj.down(A))
    assert D.shape == ((2, n) if side == "left" else (m, 2))
    backend.assert_close(proj.down(A), P.T @ G if side == "left" else G @ P, rtol=1e-7, atol=1e-13)
    # down(up(X)) = X for orthonormal P.
    X = np_rng.standard_normal(D.shape)
    backend.assert_close(proj.down(proj.up(backend.asarray(X))), X, rtol=1e-7, atol=1e-13)
    # The residual is orthogonal to the span, and projecting twice changes nothing.
    R = backend.to_numpy(proj.residual(A))
    expected = G - (P @ P.T @ G if side == "left" else G @ P @ P.T)
    backend.assert_close(proj.residual(A), expected, rtol=1e-7, atol=1e-13)
    backend.assert_close(proj.down(backend.asarray(R)), np.zeros(D.shape), rtol=1e-7, atol=1e-13)
    PG = proj.up(proj.down(A))
    backend.assert_close(proj.up(proj.down(PG)), backend.to_numpy(PG), rtol=1e-7, atol=1e-13)


def test_projector_maps_stacks(np_rng):
    P = np.linalg.qr(np_rng.standard_normal((4, 2)))[0]
    proj = Projector(P, "left")
    G = np_rng.standard_normal((3, 4, 6))
    for i in range(3):
        np.testing.assert_allclose(proj.residual(G)[i], proj.residual(G[i]), atol=1e-14)


@pytest.mark.parametrize("shape", [(6, 10), (10, 6)])
def test_residual_ratio_against_numpy(backend, shape, np_rng):
    G = np_rng.standard_normal(shape)
    proj = galore_projector(backend.asarray(G), 2)
    ratio = residual_ratio(backend.asarray(G), proj)
    chi = float(backend.to_numpy(ratio))
    oracle = np.linalg.norm(G - (_top_subspace(G, 2) @ G if shape[0] <= shape[1] else G @ _top_subspace(G, 2)))
    backend.assert_close(ratio, oracle / np.linalg.norm(G), rtol=1e-12)
    # χ² is the tail energy of the spectrum for the SVD projector.
    s = np.linalg.svd(G, compute_uv=False)
    np.testing.assert_allclose(chi**2, np.sum(s[2:] ** 2) / np.sum(s**2), rtol=1e-12)


def test_residual_ratio_edge_cases():
    proj = Projector(np.eye(3)[:, :2], "left")
    assert float(residual_ratio(np.zeros((3, 4)), proj)) == 0.0
    inside = np.zeros((3, 4))
    inside[:2] = 1.0
    assert float(residual_ratio(inside, proj)) == 0.0
    outside = np.zeros((3, 4))
    outside[2] = 1.0
    assert float(residual_ratio(outside, proj)) == 1.0


def test_gum_estimate_is_unbiased_and_galore_is_not():
    # 8×12, rank 2, q = 0.3, 4000 draws. The lifted estimate takes two values per entry, so its
    # mean is within a few standard errors of G, while the deterministic GaLore projection
    # PPᵀG sits many standard errors away: its bias G − PPᵀG is real. (One branch draw scales
    # every entry, so mean − G = (f̂ − q)·(residual/q − PPᵀG/(1 − q)) and all entries share the
    # z-score of the branch frequency f̂.)
    G = with_spectrum(log_uniform(8, 10.0), 8, 12, rng=9)
    proj = galore_projector(G, 2)
    q, draws = 0.3, 4000
    g = np.random.default_rng(2024)
    lifts = np.empty((draws, 8, 12))
    branches = []
    for i in range(draws):
        estimate, branch = gum_estimate(G, proj, q, rng=g)
        branches.append(branch)
        assert estimate.shape == ((8, 12) if branch == "full_rank" else (2, 12))
        lifts[i] = gum_lift(estimate, branch, proj)
    full = np.mean([b == "full_rank" for b in branches])
    assert abs(full - q) < 4 * np.sqrt(q * (1 - q) / draws)
    mean = lifts.mean(axis=0)
    se = lifts.std(axis=0, ddof=1) / np.sqrt(draws)
    assert np.all(se > 0)
    z_gum = np.abs(mean - G) / se
    PPG = proj.up(proj.down(G))
    z_galore = np.abs(mean - PPG) / se
    print(
        f"\nGUM over {draws} draws: max |z| of mean − G = {z_gum.max():.2f}; "
        f"GaLore PPᵀG: max |z| = {z_galore.max():.1f}, ‖G − PPᵀG‖_F/‖G‖_F = "
        f"{np.linalg.norm(G - PPG) / np.linalg.norm(G):.3f}"
    )
    assert z_gum.max() < 4
    assert z_galore.max() > 20


def test_gum_draws_are_seeded(backend, np_rng):
    G = backend.asarray(np_rng.standard_normal((4, 6)))
    proj = galore_projector(G, 1)
    first = [gum_estimate(G, proj, 0.5, rng=s)[1] for s in range(16)]
    assert first == [gum_estimate(G, proj, 0.5, rng=s)[1] for s in range(16)]
    assert set(first) == set(BRANCHES)
    estimate, _ = gum_estimate(G, proj, 0.5, rng=0)
    backend.assert_close(estimate, backend.to_numpy(estimate), rtol=0, dtype="float64")  # library, device, dtype


def test_gum_branch_values(np_rng):
    G = np_rng.standard_normal((5, 3))
    proj = galore_projector(G, 2)
    assert proj.side == "right"
    for seed in range(8):
        estimate, branch = gum_estimate(G, proj, 0.4, rng=seed)
        if branch == "full_rank":
            np.testing.assert_allclose(estimate, proj.residual(G) / 0.4, atol=1e-14)
        else:
            np.testing.assert_allclose(estimate, G @ proj.P / 0.6, atol=1e-14)


def test_bad_arguments_are_rejected(np_rng):
    G = np_rng.standard_normal((4, 6))
    proj = galore_projector(G, 2)
    with pytest.raises(ValueError, match=r"rank must be at most min\(m, n\) = 4"):
        galore_projector(G, 5)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        galore_projector(G, 0)
    for q in (0, 1, 1.5, -0.1, True):
        with pytest.raises(ValueError, match=r"q must be a number in \(0, 1\)"):
            gum_estimate(G, proj, q)
    with pytest.raises(TypeError, match="projector must be a Projector"):
        gum_estimate(G, proj.P, 0.5)
    with pytest.raises(ValueError, match="branch must be one of"):
        gum_lift(G, "low", proj)
    with pytest.raises(ValueError, match="X must have 2 rows"):
        gum_lift(G, "low_rank", proj)
    with pytest.raises(ValueError, match="estimate must have 4 rows"):
        gum_lift(G.T, "full_rank", proj)
    with pytest.raises(ValueError, match="G must have 4 rows for this left projector"):
        proj.down(G.T)
    with pytest.raises(ValueError, match="side must be one of"):
        Projector(proj.P, "top")
    with pytest.raises(ValueError, match="P must have orthonormal columns"):
        Projector(np.ones((2, 3)), "left")
