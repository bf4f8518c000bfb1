"""lowrank_msign = msign of the projected matrix; sketched_msign; the oracle U_r V_rᵀ."""

import numpy as np
import pytest

from matsign._backend import dtype_name
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.sign import msign
from matsign.lowrank.columns import STRATEGIES, column_range
from matsign.lowrank.ranges import gaussian_range
from matsign.lowrank.oracle import oracle_lowrank_sign
from matsign.lowrank.sign import lowrank_msign, sketched_msign
from matsign.synthetic import haar_orthogonal, log_uniform, power_law, with_spectrum

SHAPES = [(20, 30), (30, 20), (25, 25)]


def _matrix(shape, seed=0):
    return with_spectrum(log_uniform(min(shape), 1e3), *shape, rng=seed)


def _svd_sign_rank(A, r):
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    return U[:, :r] @ Vt[:r]


@pytest.mark.parametrize("width", [1, 6])
@pytest.mark.parametrize("shape", SHAPES)
def test_equals_the_sign_of_the_projected_matrix(backend, shape, width):
    G = _matrix(shape, 1)
    Q = haar_orthogonal(shape[0], width, rng=2)
    X = lowrank_msign(backend.asarray(G), backend.asarray(Q))
    backend.assert_close(X, msign(Q @ (Q.T @ G)), rtol=0, atol=1e-10)
    assert np.linalg.matrix_rank(backend.to_numpy(X), tol=1e-8) == width


@pytest.mark.parametrize("width", [1, 6])
def test_tall_matrix_with_a_row_space_basis_projects_on_the_right(backend, width):
    G = _matrix((30, 20), 3)
    Q = haar_orthogonal(20, width, rng=4)
    X = lowrank_msign(backend.asarray(G), backend.asarray(Q))
    backend.assert_close(X, msign(G @ Q @ Q.T), rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES)
def test_top_singular_basis_gives_the_oracle(backend, shape):
    G = _matrix(shape, 5)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    oracle = U[:, :4] @ Vt[:4]
    A = backend.asarray(G)
    backend.assert_close(lowrank_msign(A, backend.asarray(U[:, :4])), oracle, rtol=0, atol=1e-10)
    backend.assert_close(oracle_lowrank_sign(A, 4), oracle, rtol=0, atol=1e-10)
    if shape[0] > shape[1]:  # right projection onto the top right singular vectors
        V4 = np.ascontiguousarray(Vt[:4].T)
        backend.assert_close(lowrank_msign(A, backend.asarray(V4)), oracle, rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES)
def test_rank_truncates_to_the_top_directions_of_the_projection(backend, shape):
    G = _matrix(shape, 6)
    Q = haar_orthogonal(shape[0], 8, rng=7)
    X = lowrank_msign(backend.asarray(G), backend.asarray(Q), rank=3)
    backend.assert_close(X, _svd_sign_rank(Q @ (Q.T @ G), 3), rtol=0, atol=1e-10)


@pytest.mark.parametrize("schedule", ["muon", "polar_express"])
def test_newton_schulz_inner_sign(backend, schedule):
    G = _matrix((20, 30), 8)
    Q = haar_orthogonal(20, 5, rng=9)
    A, Qb = backend.asarray(G), backend.asarray(Q)
    X = lowrank_msign(A, Qb, inner=schedule, steps=6)
    backend.assert_close(X, Q @ newton_schulz(Q.T @ G, schedule, steps=6), rtol=0, atol=1e-12)
    # With a converging schedule the small sign is close to exact.
    if schedule == "polar_express":
        backend.assert_close(lowrank_msign(A, Qb, inner="deepseek_v4"), msign(Q @ (Q.T @ G)), rtol=0, atol=2e-3)


def test_newton_schulz_inner_sign_after_truncation(backend):
    G = _matrix((20, 30), 10)
    Q = haar_orthogonal(20, 8, rng=11)
    result = lowrank_msign(backend.asarray(G), backend.asarray(Q), rank=3, inner="deepseek_v4")
    backend.assert_close(result, _svd_sign_rank(Q @ (Q.T @ G), 3), rtol=1e-7, atol=2e-3)
    assert np.linalg.svd(backend.to_numpy(result), compute_uv=False)[3] <= 1e-10


@pytest.mark.parametrize("shape", SHAPES)
def test_full_rank_range_gives_the_exact_sign(backend, shape):
    G = _matrix(shape, 12)
    A = backend.asarray(G)
    s = min(shape)
    backend.assert_close(sketched_msign(A, s, rng=0), msign(G), rtol=0, atol=1e-9)
    backend.assert_close(sketched_msign(A, s, range="column", strategy="pivoted_qr", rng=0), msign(G), rtol=0, atol=1e-9)


@pytest.mark.parametrize("options", [
    {"range": "gaussian", "oversample": 4, "power_iters": 1},
    {"range": "gaussian", "oversample": 2, "normalizer": "cholesky_qr"},
    *({"range": "column", "strategy": s} for s in STRATEGIES),
])
@pytest.mark.parametrize("shape", SHAPES)
def test_lowrank_sign_has_the_requested_rank_and_is_a_partial_isometry(backend, shape, options):
    G = with_spectrum(power_law(min(shape)), *shape, rng=13)
    result = sketched_msign(backend.asarray(G), 5, rng=14, **options)
    X = backend.to_numpy(result)
    backend.assert_close(result, X, rtol=0, dtype="float64")  # library, device and dtype kept
    assert X.shape == shape
    s = np.linalg.svd(X, compute_uv=False)
    np.testing.assert_allclose(s[:5], 1.0, atol=1e-10)
    assert np.all(s[5:] <= 1e-10)


@pytest.mark.parametrize("range_", ["gaussian", "column"])
def test_lowrank_sign_seeded_runs_are_reproducible(backend, range_):
    A = backend.asarray(with_spectrum(power_law(20), 20, 30, rng=15))
    first = backend.to_numpy(sketched_msign(A, 4, range=range_, rng=16))
    backend.assert_close(sketched_msign(A, 4, range=range_, rng=16), first, rtol=0)


def test_lowrank_sign_matches_its_two_steps(backend):
    A = backend.asarray(with_spectrum(power_law(20), 20, 30, rng=17))
    Q = gaussian_range(A, 4, oversample=3, power_iters=1, rng=18)
    expected = backend.to_numpy(lowrank_msign(A, Q, rank=4))
    backend.assert_close(sketched_msign(A, 4, oversample=3, power_iters=1, rng=18), expected, rtol=0)
    Q = column_range(A.T, 4, strategy="norm", rng=19)  # tall: row-space basis
    expected = backend.to_numpy(lowrank_msign(A.T, Q))
    backend.assert_close(sketched_msign(A.T, 4, range="column", strategy="norm", rng=19), expected, rtol=0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_dtype_is_preserved(backend, dtype):
    G = backend.asarray(with_spectrum(power_law(16), 16, 24, rng=20), dtype=dtype)
    for X in (sketched_msign(G, 4, rng=0), sketched_msign(G, 4, range="column", rng=0, inner="muon"),
              oracle_lowrank_sign(G, 4)):
        values = backend.to_numpy(X).astype(np.float64)
        assert np.all(np.isfinite(values))
        backend.assert_close(X, values, rtol=0, dtype=dtype_name(G.dtype))  # library, device, dtype


@pytest.mark.parametrize("options", [{"range": "gaussian", "normalizer": "cholesky_qr"}, {"range": "gaussian"},
                                     *({"range": "column", "strategy": s} for s in STRATEGIES)])
def test_zero_matrix_gives_zero(backend, options):
    X = sketched_msign(backend.asarray(np.zeros((6, 9))), 3, rng=0, **options)
    backend.assert_close(X, np.zeros((6, 9)), rtol=0)


def test_oracle_of_a_rank_deficient_matrix_maps_zero_singular_values_to_zero(backend):
    U = haar_orthogonal(8, 3, rng=21)
    V = haar_orthogonal(10, 3, rng=22)
    G = (U * np.array([3.0, 2.0, 1.0])) @ V.T
    backend.assert_close(oracle_lowrank_sign(backend.asarray(G), 5), U @ V.T, rtol=0, atol=1e-12)


def test_oracle_of_a_rank_one_float16_matrix_has_rank_one(backend):
    """Storing a rank-1 matrix in float16 adds singular values up to about eps₁₆·σ₁ ≈ 1e-3·σ₁;
    the default threshold ``max(m, n)·eps₁₆`` (0.008 here) must treat them as zero."""
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((8, 1)), rng.standard_normal((1, 8))
    # The fixture stores NumPy float16 as float32 (emulated precision); a user's array is float16.
    G = (u @ v).astype(np.float16) if backend.lib == "numpy" else backend.asarray(u @ v, "float16")
    X = oracle_lowrank_sign(G, 4)
    expected = (u / np.linalg.norm(u)) @ (v / np.linalg.norm(v))
    # The float16 result itself is rounded to eps₁₆/2 ≈ 5e-4 relative to entries ≤ 1.
    backend.assert_close(X, expected, rtol=1e-7, atol=2e-3, dtype=dtype_name(G.dtype))


def test_oracle_of_a_large_bfloat16_matrix_keeps_its_top_directions(backend):
    """max(m, n)·eps_bf16 = 2 at 256 × 256 would zero every singular value; the default keeps
    the 16-bit epsilon as a floor only, so the rank-4 oracle has four unit singular values."""
    G = backend.asarray(with_spectrum(log_uniform(256, 2.0), 256, 256, rng=3), "bfloat16")
    result = oracle_lowrank_sign(G, 4)
    X = backend.to_numpy(result).astype(np.float64)
    backend.assert_close(result, X, rtol=0, dtype=dtype_name(G.dtype))  # library, device and dtype kept
    # bfloat16 output: unit singular values to a few 2⁻⁸.
    np.testing.assert_allclose(np.linalg.svd(X, compute_uv=False)[:5], [1, 1, 1, 1, 0], atol=0.03)


def test_oracle_batched_equals_per_slice(backend):
    G = np.stack([_matrix((6, 9), s) for s in range(3)])
    X = oracle_lowrank_sign(backend.asarray(G), 2)
    backend.assert_close(X, np.stack([_svd_sign_rank(G[i], 2) for i in range(3)]), rtol=1e-7, atol=1e-12)


def test_bad_arguments_name_themselves(backend):
    G = backend.asarray(_matrix((6, 9), 23))
    Q = backend.asarray(haar_orthogonal(6, 3, rng=24))
    with pytest.raises(ValueError, match="Q must have m = 6 rows"):
        lowrank_msign(G, backend.asarray(haar_orthogonal(9, 3, rng=0)))  # wide G: no right side
    with pytest.raises(ValueError, match="Q must have m = 9 rows .* or, since G is tall, n = 6 rows"):
        lowrank_msign(G.T, backend.asarray(haar_orthogonal(7, 3, rng=0)))
    with pytest.raises(ValueError, match="at most 6 of them"):
        lowrank_msign(G, backend.asarray(np.ones((6, 7))))
    with pytest.raises(ValueError, match="rank must be an integer in \\[1, min\\(ℓ, n\\)\\] = \\[1, 3\\]"):
        lowrank_msign(G, Q, rank=4)
    with pytest.raises(ValueError, match="rank must be an integer"):
        lowrank_msign(G, Q, rank=0)
    with pytest.raises(ValueError, match="inner must be 'exact' or a Newton–Schulz schedule"):
        lowrank_msign(G, Q, inner="svd")
    with pytest.raises(ValueError, match="steps applies only to a Newton–Schulz inner sign"):
        lowrank_msign(G, Q, steps=3)
    with pytest.raises(ValueError, match="range must be one of"):
        sketched_msign(G, 2, range="sketch")
    with pytest.raises(ValueError, match="range=.gaussian. takes the options .* got strategy"):
        sketched_msign(G, 2, strategy="norm")  # a column option given to the Gaussian finder
    with pytest.raises(ValueError, match="rank must be at most min"):
        oracle_lowrank_sign(G, 7)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        sketched_msign(G, 0)


def test_mixed_libraries_are_rejected():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        lowrank_msign(np.eye(3), torch.eye(3)[:, :2])
