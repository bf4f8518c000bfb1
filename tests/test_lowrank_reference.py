"""The hardened low-rank family against the plain NumPy reference (matsign.lowrank.reference).

All in float64, with the same Gaussian test matrix (drawn by the backend and handed to the
reference) or the same selected columns. Test matrices have log-uniform spectra with
κ = 10³, so every singular gap is a fixed fraction (about 20 %) of its singular values: the
roundoff of the products and factorizations (≈ √n·u·‖G‖, u = 1.1e-16) is amplified by at most
κ/gap ≈ 10⁴ in the subspaces and the small signs, ≲ 1e-11. The tolerances below, 1e-10 for
bases compared as projectors QQᵀ (bases differ by column signs and rotations) and for the signs,
leave a margin of ten over that.
"""

import numpy as np
import pytest

from matsign._backend import generator, standard_normal
from matsign.lowrank import reference
from matsign.lowrank.columns import STRATEGIES, column_range, select_columns
from matsign.lowrank.oracle import oracle_lowrank_sign
from matsign.lowrank.ranges import gaussian_range, subspace_iteration
from matsign.lowrank.sign import lowrank_msign, sketched_msign
from matsign.synthetic import haar_orthogonal, log_uniform, with_spectrum

SHAPES = [(24, 40), (40, 24), (32, 32)]
TOL = 1e-10  # see the module docstring


def _matrix(shape, seed):
    return with_spectrum(log_uniform(min(shape), 1e3), *shape, rng=seed)


def _wide(G):
    return G if G.shape[0] <= G.shape[1] else G.T


def _projector(Q):
    return Q @ Q.T


@pytest.mark.parametrize("normalizer", ["qr", "cholesky_qr"])
@pytest.mark.parametrize("power_iters", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES)
def test_gaussian_range_is_hmt_subspace_iteration(backend, shape, power_iters, normalizer):
    G = _matrix(shape, 1)
    A = backend.asarray(G)
    Omega = standard_normal(generator(2, A), (shape[1], 8), like=A)  # the draw gaussian_range makes
    Q = gaussian_range(A, 6, oversample=2, power_iters=power_iters, normalizer=normalizer, rng=2)
    expected = reference.range_finder(G, backend.to_numpy(Omega), power_iters)
    # Cholesky-QR2 and Householder QR span the same range; both are orthonormal to roundoff.
    np.testing.assert_allclose(_projector(backend.to_numpy(Q)), _projector(expected), atol=TOL)
    backend.assert_close(Q, backend.to_numpy(subspace_iteration(A, Omega, power_iters, normalizer)), rtol=1e-7)


@pytest.mark.parametrize("rank, width", [(4, 4), (4, 9)])
@pytest.mark.parametrize("shape", SHAPES)
def test_lowrank_msign_is_the_rayleigh_ritz_sign(backend, shape, rank, width):
    G = _matrix(shape, 3)
    Q = haar_orthogonal(shape[0], width, rng=4)
    X = lowrank_msign(backend.asarray(G), backend.asarray(Q), rank=rank)
    backend.assert_close(X, reference.sketched_msign(G, Q, rank), rtol=0, atol=TOL)


def test_lowrank_msign_right_projection_is_the_reference_on_the_transpose(backend):
    G = _matrix((40, 24), 5)
    Q = haar_orthogonal(24, 6, rng=6)  # a row-space basis of the tall G
    X = lowrank_msign(backend.asarray(G), backend.asarray(Q), rank=4)
    backend.assert_close(X, reference.sketched_msign(G.T, Q, 4).T, rtol=0, atol=TOL)


@pytest.mark.parametrize("options", [{}, {"oversample": 4, "power_iters": 2}])
@pytest.mark.parametrize("shape", SHAPES)
def test_gaussian_lowrank_sign_end_to_end(shape, options):
    G = _matrix(shape, 7)
    X = sketched_msign(G, 5, rng=8, **options)
    # The Gaussian sign sketches the wide orientation: a tall G is signed as the transpose of Gᵀ's.
    tall = shape[0] > shape[1]
    wide = G.T if tall else G
    Omega = np.random.default_rng(8).standard_normal((wide.shape[1], 5 + options.get("oversample", 0)))
    Q = reference.range_finder(wide, Omega, options.get("power_iters", 0))
    expected = reference.sketched_msign(wide, Q, 5)
    np.testing.assert_allclose(X, expected.T if tall else expected, atol=TOL)


def test_a_numpy_stack_takes_its_test_matrices_in_c_order():
    G = np.stack([_matrix((16, 24), s) for s in (9, 10, 11)])
    X = sketched_msign(G, 4, oversample=2, power_iters=1, rng=12)
    Omega = np.random.default_rng(12).standard_normal((3, 24, 6))
    for i in range(3):
        expected = reference.sketched_msign(G[i], reference.range_finder(G[i], Omega[i], 1), 4)
        np.testing.assert_allclose(X[i], expected, atol=TOL)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("shape", [(12, 40), (40, 12), (30, 30)])
def test_selection_draws_the_reference_columns(shape, strategy):
    # The same generator calls in the same order: the same keys and sketches. The hardened
    # version scales X by max|X| first, which moves no comparison of keys but by rounding.
    G = _matrix(shape, 13)
    for k in (3, 25):
        if k > min(shape):
            continue
        J = select_columns(G, k, strategy=strategy, rng=14)
        expected = reference.select_columns(_wide(G), k, strategy, np.random.default_rng(14))
        np.testing.assert_array_equal(J, expected)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_column_range_spans_the_selected_columns_and_signs_like_the_reference(backend, shape, strategy):
    G = _matrix(shape, 15)
    A = backend.asarray(G)
    J = backend.to_numpy(select_columns(A, 6, strategy=strategy, rng=16))
    basis = column_range(A, 6, strategy=strategy, rng=16)
    Q = backend.to_numpy(basis)
    backend.assert_close(basis, Q, rtol=0, dtype="float64")  # library, device and dtype kept
    expected = reference.column_basis(_wide(G), J)
    np.testing.assert_allclose(_projector(Q), _projector(expected), atol=TOL)
    X = sketched_msign(A, 6, range="column", strategy=strategy, rng=16)
    oracle = reference.sketched_msign(_wide(G), expected, 6)
    backend.assert_close(X, oracle if shape[0] <= shape[1] else oracle.T, rtol=0, atol=TOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_oracle_is_the_truncated_svd_sign(backend, shape):
    G = _matrix(shape, 17)
    backend.assert_close(oracle_lowrank_sign(backend.asarray(G), 7), reference.oracle(G, 7), rtol=0, atol=TOL)
