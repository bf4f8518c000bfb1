"""The Gaussian-range low-rank sign on stacks (..., m, n): one independent Ω per member, batched."""

import numpy as np
import pytest

from matsign._backend import dtype_name, generator, standard_normal
from matsign._backend.linalg import cholesky_upper
from matsign.lowrank.orth import orthonormalize
from matsign.lowrank.ranges import gaussian_range, subspace_iteration
from matsign.lowrank.oracle import oracle_lowrank_sign
from matsign.lowrank.sign import lowrank_msign, sketched_msign
from matsign.synthetic import haar_orthogonal, power_law, with_spectrum

LEAD = (2, 3)
SHAPES = [(12, 20), (20, 12)]


def _stack(shape, lead=LEAD, seed=0):
    """Independent full-rank members with σ_j = 1/j, shape ``lead + shape``."""
    count = int(np.prod(lead))
    members = [with_spectrum(power_law(min(shape)), *shape, rng=seed + i) for i in range(count)]
    return np.stack(members).reshape(*lead, *shape)


def _exact_rank(shape, sigma, seed):
    r = len(sigma)
    U = haar_orthogonal(shape[0], r, rng=seed)
    V = haar_orthogonal(shape[1], r, rng=seed + 1)
    return (U * np.asarray(sigma)) @ V.T


def _orth_error(Q):
    k = Q.shape[-1]
    return np.abs(np.swapaxes(Q, -1, -2) @ Q - np.eye(k)).max()


def _transpose(A):
    return np.swapaxes(A, -1, -2)


@pytest.mark.parametrize("inner", ["exact", "muon"])
@pytest.mark.parametrize("normalizer", ["qr", "cholesky_qr", "none"])
@pytest.mark.parametrize("shape", SHAPES)
def test_each_member_equals_the_2d_computation_with_its_own_draw(backend, shape, normalizer, inner):
    G = _stack(shape, seed=1)
    A = backend.asarray(G)
    k, p, q = 3, 2, 1
    Q = gaussian_range(A, k, oversample=p, power_iters=q, normalizer=normalizer, rng=5)
    X = sketched_msign(A, k, oversample=p, power_iters=q, normalizer=normalizer, inner=inner, rng=5)
    # The documented draw: one standard Gaussian array (..., n, ℓ) from the seed; member idx
    # is sketched with Ω[idx].
    Omega = standard_normal(generator(5, A), (*LEAD, shape[1], k + p), like=A)
    # The sign sketches the wide orientation: a tall member's basis comes from Aᵀ with an
    # (..., m, ℓ) draw, and lies in the row space.
    tall = shape[0] > shape[1]
    wide = np.swapaxes(G, -1, -2) if tall else G
    Omega_sign = standard_normal(generator(5, A), (*LEAD, wide.shape[-1], k + p), like=A)
    for idx in np.ndindex(*LEAD):
        Qi = subspace_iteration(A[(*idx, ...)], Omega[(*idx, ...)], q, normalizer)
        Pi = subspace_iteration(backend.asarray(wide[idx]), Omega_sign[(*idx, ...)], q, normalizer)
        Xi = lowrank_msign(A[(*idx, ...)], Pi, rank=k, inner=inner)
        # No breakdown here (full-rank members, κ(sketch) ≤ 6e2 ≪ u^{-1/2}), so every member takes
        # the path of its 2-D call; batched and single kernels differ in summation order only:
        # float64 roundoff times modest condition numbers.
        backend.assert_close(Q[(*idx, ...)], backend.to_numpy(Qi), rtol=1e-7, atol=1e-11)
        backend.assert_close(X[(*idx, ...)], backend.to_numpy(Xi), rtol=1e-7, atol=1e-11)
    # The 2-D public call is that same computation with its own (n, ℓ) draw.
    Q2 = gaussian_range(A[0, 1, ...], k, oversample=p, power_iters=q, normalizer=normalizer, rng=9)
    Omega2 = standard_normal(generator(9, A), (shape[1], k + p), like=A)
    backend.assert_close(Q2, backend.to_numpy(subspace_iteration(A[0, 1, ...], Omega2, q, normalizer)), rtol=0)


def test_numpy_stack_equals_successive_2d_calls_sharing_one_generator():
    # NumPy fills (..., n, ℓ) in C order from one stream: the stack consumes the draws that 2-D
    # calls on G[0, 0], G[0, 1], … would, one after another, from a shared generator.
    G = _stack((12, 20), seed=2)
    options = {"oversample": 2, "power_iters": 1}
    Q = gaussian_range(G, 3, rng=np.random.default_rng(11), **options)
    X = sketched_msign(G, 3, rng=np.random.default_rng(11), **options)
    shared_q, shared_x = np.random.default_rng(11), np.random.default_rng(11)
    for idx in np.ndindex(*LEAD):
        np.testing.assert_allclose(Q[idx], gaussian_range(G[idx], 3, rng=shared_q, **options), atol=1e-12)
        np.testing.assert_allclose(X[idx], sketched_msign(G[idx], 3, rng=shared_x, **options), atol=1e-12)


def test_members_get_independent_draws(backend):
    # Two identical members: with the same Ω they would get the same basis.
    G = with_spectrum(power_law(12), 12, 20, rng=3)
    basis = gaussian_range(backend.asarray(np.stack([G, G])), 3, rng=4)
    Q = backend.to_numpy(basis)
    backend.assert_close(basis, Q, rtol=0, dtype="float64")  # library, device and dtype kept
    assert np.abs(Q[0] - Q[1]).max() > 1e-2


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rank, oversample, normalizer", [(3, 0, "qr"), (4, 2, "cholesky_qr")])
@pytest.mark.parametrize("shape", SHAPES)
def test_exact_rank_members_give_the_exact_sign(backend, shape, rank, oversample, normalizer, dtype):
    # Members of exact rank 3 (σ = 4, 2, 1), rank ≥ 3 requested: the range is captured and the
    # result is msign(G) = U₃V₃ᵀ. Its error is the backward error of the products and
    # factorizations (≈ c·u·‖G‖) over the gap σ₃ = 1, i.e. O(κ u) with κ = 4 and c a few
    # times √n: ≲ 1e-14 in float64 (u = 1.1e-16), ≲ 5e-6 in float32 (u = 6e-8); measured
    # 3e-15 and 5e-7. The sketch's spurious singular values (≈ u·σ₁/4) sit two orders below
    # msign's threshold max(ℓ, n)·eps·σ₁, so no extra direction appears when rank > 3.
    count = int(np.prod(LEAD))
    G = np.stack([_exact_rank(shape, [4.0, 2.0, 1.0], 10 + 2 * i) for i in range(count)])
    G = G.reshape(*LEAD, *shape)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    oracle = U[..., :3] @ Vt[..., :3, :]
    X = sketched_msign(backend.asarray(G, dtype=dtype), rank, oversample=oversample, power_iters=1,
                     normalizer=normalizer, rng=6)
    tol = 1e-12 if dtype == "float64" else 2e-5
    backend.assert_close(X, oracle, rtol=0, atol=tol, dtype=dtype)


def test_cholesky_qr_falls_back_for_the_whole_stack(backend):
    # Member 1 has a zero column: its Gram matrix has an exactly zero pivot, so Cholesky breaks
    # down, and the documented fallback sends every member through Householder QR.
    rng = np.random.default_rng(12)
    Y = rng.standard_normal((3, 10, 4))
    Y[1, :, 3] = 0.0
    B = backend.asarray(Y)
    assert cholesky_upper(backend.asarray(_transpose(Y) @ Y)) is None
    Q = backend.to_numpy(orthonormalize(B, "cholesky_qr"))
    assert _orth_error(Q) <= 1e-12
    np.testing.assert_allclose(Q @ (_transpose(Q) @ Y), Y, atol=1e-12)
    backend.assert_close(orthonormalize(B, "qr"), Q, rtol=0)
    # A healthy stack stays on Cholesky-QR2, member by member.
    Y[1, :, 3] = rng.standard_normal(10)
    B = backend.asarray(Y)
    Q = backend.to_numpy(orthonormalize(B, "cholesky_qr"))
    for i in range(3):
        backend.assert_close(orthonormalize(B[i, ...], "cholesky_qr"), Q[i], rtol=1e-7, atol=1e-13)


def test_rank_deficient_member_with_cholesky_qr(backend):
    # Member 1 has rank 2 < ℓ = 5: its sketch's Gram matrix is singular and Cholesky breaks down
    # (checked below), so the stack falls back to Householder QR. Every member still gets
    # orthonormal columns containing its range, and the sign, which does not depend on the basis
    # (Q·msign(QᵀG) = msign(QQᵀG)), matches each member's 2-D computation with its Ω.
    m, n, ell = 16, 24, 5
    G = np.stack([with_spectrum(power_law(m), m, n, rng=20), _exact_rank((m, n), [3.0, 1.0], 21),
                  with_spectrum(power_law(m), m, n, rng=23)])
    A = backend.asarray(G)
    Omega = standard_normal(generator(7, A), (3, n, ell), like=A)
    Y = backend.to_numpy(A @ Omega)
    assert cholesky_upper(backend.asarray(_transpose(Y) @ Y)) is None
    Q = backend.to_numpy(gaussian_range(A, ell, power_iters=1, normalizer="cholesky_qr", rng=7))
    assert _orth_error(Q) <= 1e-12
    residual = np.linalg.norm(G[1] - Q[1] @ (Q[1].T @ G[1]))
    assert residual <= 1e-12 * np.linalg.norm(G[1])
    result = sketched_msign(A, 3, oversample=2, power_iters=1, normalizer="cholesky_qr", rng=7)
    X = backend.to_numpy(result)
    for i in range(3):
        Qi = subspace_iteration(A[i, ...], Omega[i, ...], 1, "cholesky_qr")
        backend.assert_close(result[i, ...], backend.to_numpy(lowrank_msign(A[i, ...], Qi, rank=3)), rtol=1e-7, atol=1e-10)
    U, _, Vt = np.linalg.svd(G[1])
    np.testing.assert_allclose(X[1], U[:, :2] @ Vt[:2], atol=1e-12)  # rank 2 ≤ 3: the exact sign


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_dtypes_and_the_oracle_on_two_leading_dims(backend, shape):
    G = _stack(shape, seed=30)
    for dtype in ("float64", "float32", "bfloat16"):
        A = backend.asarray(G, dtype=dtype)
        Q = gaussian_range(A, 4, oversample=1, rng=0)
        X = sketched_msign(A, 4, power_iters=1, rng=0, inner="polar_express")
        assert tuple(Q.shape) == (*LEAD, shape[0], 5) and tuple(X.shape) == G.shape
        for result in (Q, X):  # library, device and A's dtype kept, values finite
            values = backend.to_numpy(result).astype(np.float64)
            assert np.all(np.isfinite(values))
            backend.assert_close(result, values, rtol=0, dtype=dtype_name(A.dtype))
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    oracle = oracle_lowrank_sign(backend.asarray(G), 4)
    backend.assert_close(oracle, U[..., :4] @ Vt[..., :4, :], rtol=1e-7, atol=1e-12)
    # The right projection of a tall stack with a stack of row-space bases.
    if shape[0] > shape[1]:
        V4 = np.ascontiguousarray(_transpose(Vt[..., :4, :]))
        X = lowrank_msign(backend.asarray(G), backend.asarray(V4))
        backend.assert_close(X, U[..., :4] @ Vt[..., :4, :], rtol=0, atol=1e-12)


def test_zero_member_gives_zero(backend):
    G = _stack((8, 12), lead=(3,), seed=40)
    G[2] = 0.0
    result = sketched_msign(backend.asarray(G), 3, power_iters=1, normalizer="cholesky_qr", rng=0)
    backend.assert_close(result[2, ...], np.zeros((8, 12)), rtol=0)
    X = backend.to_numpy(result)
    s = np.linalg.svd(X[:2], compute_uv=False)  # the other members: rank-3 partial isometries
    np.testing.assert_allclose(s[:, :3], 1.0, atol=1e-12)
    assert np.all(s[:, 3:] <= 1e-12)


def test_bad_stack_arguments_name_themselves(backend):
    A = backend.asarray(_stack((12, 20), seed=50))
    with pytest.raises(ValueError, match="range='column' selects columns of a single matrix"):
        sketched_msign(A, 3, range="column")
    with pytest.raises(ValueError, match=r"rank must be at most min\(m, n\) = 12 for shape \(2, 3, 12, 20\)"):
        sketched_msign(A, 13)
    with pytest.raises(ValueError, match=r"rank \+ oversample = 10 \+ 3 = 13 exceeds min\(m, n\) = 12"):
        gaussian_range(A, 10, oversample=3)
    Q = gaussian_range(A, 3, rng=0)
    with pytest.raises(ValueError, match=r"Q must have the leading \(stack\) dimensions of G, \(2, 3\)"):
        lowrank_msign(A, Q[0, ...])
    with pytest.raises(ValueError, match=r"rank must be an integer in \[1, min\(ℓ, n\)\] = \[1, 3\]"):
        lowrank_msign(A, Q, rank=4)
