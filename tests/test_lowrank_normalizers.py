"""Power-iteration normalizers on ill-conditioned sketches, against Householder QR at every step
and a float64 SVD oracle; Cholesky-QR2 at extreme scales; the LU basis; the wide small sign."""

import numpy as np
import pytest

from matsign._backend import lu_basis, thin_qr
from matsign._backend.dtypes import EPS
from matsign.lowrank.orth import orthonormalize
from matsign.lowrank.ranges import gaussian_range
from matsign.lowrank.sign import lowrank_msign, sketched_msign
from matsign.synthetic import log_uniform, with_spectrum

M, N, RANK, OVERSAMPLE, POWER_ITERS = 96, 64, 8, 4, 2


def _projector(Q):
    return Q @ Q.T


@pytest.fixture(scope="module", params=[1e2, 1e6, 1e12], ids=lambda k: f"kappa{k:.0e}")
def ill_conditioned(request):
    """G (float64) with singular values log-spaced over [1/κ, 1], its oracle top-ℓ energy and nuclear norm."""
    s = log_uniform(N, request.param)
    G = with_spectrum(s, M, N, rng=5)
    return G, float(np.sum(s[: RANK + OVERSAMPLE] ** 2)), float(np.sum(s))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("normalizer", ["auto", "lu", "cholesky_qr"])
def test_normalizers_match_householder_every_step(backend, ill_conditioned, dtype, normalizer):
    G64, top_energy, nuclear = ill_conditioned
    G = backend.asarray(G64, dtype=dtype)
    eps = EPS[dtype]

    def measured(norm):
        Q = backend.to_numpy(gaussian_range(G, RANK, oversample=OVERSAMPLE, power_iters=POWER_ITERS,
                                            normalizer=norm, rng=3)).astype(np.float64)
        X = backend.to_numpy(sketched_msign(G, RANK, oversample=OVERSAMPLE, power_iters=POWER_ITERS,
                                            normalizer=norm, rng=3)).astype(np.float64)
        orthogonality = np.linalg.norm(Q.T @ Q - np.eye(Q.shape[1]), 2)
        energy = np.linalg.norm(Q.T @ G64) ** 2 / top_energy  # captured / oracle top-ℓ energy
        return orthogonality, energy, float(np.sum(G64 * X)) / nuclear

    orth, energy, alignment = measured(normalizer)
    _, energy_qr, alignment_qr = measured("qr")
    # The last basis is Householder QR (Cholesky-QR2 for "cholesky_qr", which falls back to QR
    # when κ² > 1/u): orthonormal to a small multiple of eps (measured ≤ 4.1·eps here).
    assert orth <= 20 * eps
    # The span between products differs from Householder's only by rounding, amplified by the
    # gap σ_ℓ/σ_{ℓ+1} ≈ κ^{1/N}: captured energy and alignment agree to rounding (measured
    # ≤ 3·eps of the working precision; 50·eps leaves room for other BLAS builds).
    assert abs(energy - energy_qr) <= 50 * eps
    assert abs(alignment - alignment_qr) <= 50 * eps
    assert energy <= 1 + 50 * eps  # no basis captures more than the top-ℓ singular directions


@pytest.mark.parametrize(("dtype", "scales"), [("float64", (1e150, 1e-150, 1e200, 1e-200)),
                                                ("float32", (1e18, 1e-18, 1e25, 1e-25))])
def test_cholesky_qr_at_extreme_scales(backend, dtype, scales):
    # Scaled columns give the scaled-free Cholesky-QR2 basis itself (not the Householder
    # fallback, whose column signs differ): the Gram matrix is formed after scaling, so neither
    # overflows (1e200² in float64, 1e25² in float32) nor underflows.
    Y = np.random.default_rng(4).standard_normal((40, 6))
    reference = backend.to_numpy(orthonormalize(backend.asarray(Y, dtype=dtype), "cholesky_qr")).astype(np.float64)
    eps = EPS[dtype]
    for scale in scales:
        Q = backend.to_numpy(orthonormalize(backend.asarray(Y * scale, dtype=dtype), "cholesky_qr"))
        Q = Q.astype(np.float64)
        assert np.all(np.isfinite(Q)), scale
        assert np.linalg.norm(Q.T @ Q - np.eye(6), 2) <= 20 * eps, scale
        # Same columns as at scale 1 up to rounding of the scaled input (κ(Y) ≈ 3 here).
        np.testing.assert_allclose(Q, reference, atol=100 * eps, err_msg=f"scale {scale:g}")


def test_lu_basis_spans_the_columns(backend):
    Y = np.random.default_rng(6).standard_normal((30, 5))
    L = backend.to_numpy(lu_basis(backend.asarray(Y)))
    Q = np.linalg.qr(Y)[0]  # float64 oracle of the span
    np.testing.assert_allclose(_projector(np.linalg.qr(L)[0]), _projector(Q), atol=1e-13)
    # Partial pivoting: the permuted unit lower factor has entries of magnitude at most 1.
    assert np.max(np.abs(L)) <= 1 + 1e-14


def test_thin_qr_reproduces_the_input(backend):
    Y = np.random.default_rng(7).standard_normal((3, 30, 5))
    Q, R = thin_qr(backend.asarray(Y))
    Q, R = backend.to_numpy(Q), backend.to_numpy(R)
    np.testing.assert_allclose(Q @ R, Y, atol=1e-13)
    np.testing.assert_allclose(np.swapaxes(Q, -1, -2) @ Q, np.broadcast_to(np.eye(5), (3, 5, 5)), atol=1e-14)


@pytest.mark.parametrize("rank", [6, 3])
def test_wide_small_sign_matches_the_svd_of_the_projection(backend, rank):
    # G has rank 4 < ℓ = 6: QᵀG has two zero singular values, which must map to zero.
    rng = np.random.default_rng(8)
    G = rng.standard_normal((20, 4)) @ rng.standard_normal((4, 30))
    Q = np.linalg.qr(rng.standard_normal((20, 6)))[0]
    U, s, Vt = np.linalg.svd(Q.T @ G, full_matrices=False)  # float64 oracle
    keep = min(rank, 4)
    expected = Q @ U[:, :keep] @ Vt[:keep]
    backend.assert_close(lowrank_msign(backend.asarray(G), backend.asarray(Q), rank=rank), expected,
                         rtol=0, atol=1e-12)


def test_lu_basis_of_rank_deficient_blocks_stays_finite(backend):
    # Exact zero pivots (a zero block, a rank-1 block): the basis stays finite (SciPy returns the
    # unit columns of L for a zero block, PyTorch zeros) and, for the rank-1 block, still contains
    # its column space; no fallback that reads the host is needed.
    assert np.all(np.isfinite(backend.to_numpy(lu_basis(backend.asarray(np.zeros((5, 2)))))))
    rng = np.random.default_rng(9)
    Y = np.outer(rng.standard_normal(6), rng.standard_normal(3))
    L = backend.to_numpy(lu_basis(backend.asarray(Y)))
    assert np.all(np.isfinite(L))
    Q = np.linalg.qr(L)[0]
    np.testing.assert_allclose(Q @ (Q.T @ Y), Y, atol=1e-13)
