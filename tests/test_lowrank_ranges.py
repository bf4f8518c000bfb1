"""gaussian_range (HMT Alg. 4.4), its normalizers, and the backend linear-algebra helpers."""

import numpy as np
import pytest
import scipy.linalg

from matsign._backend import dtype_name
from matsign._backend.linalg import cholesky_upper, column_pivots, solve_upper_right
from matsign.lowrank.orth import orthonormalize
from matsign.lowrank.ranges import NORMALIZERS, gaussian_range, wide_gaussian_range, wide_gaussian_range_flops
from matsign.lowrank.oracle import oracle_lowrank_sign
from matsign.lowrank.sign import sketched_msign
from matsign.synthetic import haar_orthogonal, power_law, with_spectrum

SHAPES = [(30, 50), (50, 30), (40, 40)]


def _orth_error(Q):
    return np.abs(Q.T @ Q - np.eye(Q.shape[1])).max()


def _residual(G, Q):
    return np.linalg.norm(G - Q @ (Q.T @ G))


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@pytest.mark.parametrize("shape", SHAPES)
def test_orthonormal_basis_of_requested_width(backend, shape, normalizer):
    G = with_spectrum(power_law(min(shape)), *shape, rng=1)
    Q = gaussian_range(backend.asarray(G), 6, oversample=3, power_iters=2, normalizer=normalizer, rng=2)
    Qn = backend.to_numpy(Q)
    backend.assert_close(Q, Qn, rtol=0, dtype="float64")  # library, device and dtype kept
    assert Qn.shape == (shape[0], 9)
    assert _orth_error(Qn) <= 1e-12


@pytest.mark.parametrize("normalizer", NORMALIZERS)
def test_float32_stays_float32_and_orthonormal(backend, normalizer):
    G = with_spectrum(power_law(30), 30, 50, rng=3)
    Q = gaussian_range(backend.asarray(G, dtype="float32"), 5, oversample=2, power_iters=1, normalizer=normalizer, rng=0)
    backend.assert_close(Q, backend.to_numpy(Q), rtol=0, dtype="float32")  # library, device, dtype
    assert _orth_error(backend.to_numpy(Q).astype(np.float64)) <= 1e-5


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@pytest.mark.parametrize("power_iters", [0, 2])
@pytest.mark.parametrize("shape", SHAPES)
def test_captures_the_range_of_an_exactly_low_rank_matrix(backend, shape, power_iters, normalizer):
    U = haar_orthogonal(shape[0], 4, rng=4)
    V = haar_orthogonal(shape[1], 4, rng=5)
    G = (U * np.array([5.0, 2.0, 1.0, 0.1])) @ V.T
    basis = gaussian_range(backend.asarray(G), 4, power_iters=power_iters, normalizer=normalizer, rng=6)
    Q = backend.to_numpy(basis)
    backend.assert_close(basis, Q, rtol=0, dtype="float64")  # library, device and dtype kept
    # Without orthonormalization the sketch sees σ₄/σ₁ = 0.02 as 0.02⁵ ≈ 3e-9 when q = 2, so
    # that direction keeps only about eps/3e-9 ≈ 1e-7 relative accuracy (see the docstring).
    tol = 1e-7 if normalizer == "none" and power_iters > 0 else 1e-10
    assert _residual(G, Q) <= tol * np.linalg.norm(G)


def test_without_normalization_power_iterations_lose_small_directions():
    # σ₂/σ₁ = 1e-3 becomes 1e-21 after q = 3 (σ^7), below float64 resolution: "none" loses the
    # second direction, re-orthonormalization keeps it.
    U = haar_orthogonal(10, 2, rng=19)
    V = haar_orthogonal(12, 2, rng=20)
    G = (U * np.array([1.0, 1e-3])) @ V.T
    kept = gaussian_range(G, 2, power_iters=3, normalizer="qr", rng=21)
    lost = gaussian_range(G, 2, power_iters=3, normalizer="none", rng=21)
    assert _residual(G, kept) <= 1e-14
    assert _residual(G, lost) >= 1e-5


def test_normalizers_span_the_same_range():
    # Same seed ⇒ same Ω ⇒ the same range (GGᵀ)^q GΩ in exact arithmetic, whatever the normalizer.
    G = with_spectrum(power_law(30), 30, 50, rng=7)
    projectors = []
    for normalizer in NORMALIZERS:
        Q = gaussian_range(G, 6, oversample=2, power_iters=2, normalizer=normalizer, rng=8)
        projectors.append(Q @ Q.T)
    for P in projectors[1:]:
        assert np.abs(P - projectors[0]).max() <= 1e-8


def test_power_iterations_reduce_the_residual():
    G = with_spectrum(power_law(60), 60, 80, rng=9)
    means = [
        np.mean([_residual(G, gaussian_range(G, 8, power_iters=q, rng=seed)) for seed in range(10)])
        for q in (0, 1, 2)
    ]
    assert means[0] > means[1] > means[2]


def test_seeded_runs_are_reproducible(backend):
    G = backend.asarray(with_spectrum(power_law(20), 20, 30, rng=10))
    first = backend.to_numpy(gaussian_range(G, 5, oversample=2, power_iters=1, rng=11))
    again = gaussian_range(G, 5, oversample=2, power_iters=1, rng=11)
    other = backend.to_numpy(gaussian_range(G, 5, oversample=2, power_iters=1, rng=12))
    backend.assert_close(again, first, rtol=0)
    assert np.abs(first - other).max() > 1e-3


def test_cholesky_qr_falls_back_on_rank_deficient_sketches(backend):
    # rank(G) = 3 < ℓ = 6: the sketch's Gram matrix is singular, Cholesky breaks down, and the
    # documented Householder fallback still returns an orthonormal basis containing range(G).
    U = haar_orthogonal(20, 3, rng=13)
    V = haar_orthogonal(25, 3, rng=14)
    G = (U * np.array([3.0, 2.0, 1.0])) @ V.T
    basis = gaussian_range(backend.asarray(G), 6, power_iters=1, normalizer="cholesky_qr", rng=15)
    Q = backend.to_numpy(basis)
    backend.assert_close(basis, Q, rtol=0, dtype="float64")  # library, device and dtype kept
    assert _orth_error(Q) <= 1e-10
    assert _residual(G, Q) <= 1e-10


def test_alignment_with_two_power_iterations_reaches_the_oracle(backend):
    # reference §1: 256×512, σ_i = 1/i, r = 32 — Gaussian 0.612, + 2 power steps 0.661, oracle 0.663.
    G = with_spectrum(power_law(256), 256, 512, rng=16)
    sigma = np.linalg.svd(G, compute_uv=False)
    nuclear = sigma.sum()
    oracle = sigma[:32].sum() / nuclear

    def ratio(power_iters, seed):
        result = sketched_msign(backend.asarray(G), 32, power_iters=power_iters, rng=seed)
        X = backend.to_numpy(result)
        backend.assert_close(result, X, rtol=0, dtype="float64")  # library, device and dtype kept
        return np.sum(G * X) / nuclear

    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    oracle_sign = oracle_lowrank_sign(backend.asarray(G), 32)
    # σ₃₂/σ₃₃ = 33/32: the top-32 singular subspace is well separated, float64 roundoff only.
    backend.assert_close(oracle_sign, U[:, :32] @ Vt[:32], rtol=0, atol=1e-10)
    oracle_x = backend.to_numpy(oracle_sign)
    assert np.sum(G * oracle_x) / nuclear == pytest.approx(oracle, rel=1e-12)
    with_power = np.mean([ratio(2, s) for s in range(3)])
    without = np.mean([ratio(0, s) for s in range(3)])
    assert oracle == pytest.approx(0.663, abs=5e-4)
    assert with_power >= 0.99 * oracle
    assert without <= 0.95 * oracle
    assert without == pytest.approx(0.612, abs=0.01)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rank": 0}, "rank must be a positive integer"),
        ({"rank": 31}, "rank must be at most min"),
        ({"rank": 2.0}, "rank must be a positive integer"),
        ({"rank": 25, "oversample": 6}, "rank \\+ oversample = 25 \\+ 6 = 31 exceeds min\\(m, n\\) = 30"),
        ({"rank": 5, "oversample": -1}, "oversample must be a non-negative integer"),
        ({"rank": 5, "power_iters": -1}, "power_iters must be a non-negative integer"),
        ({"rank": 5, "power_iters": True}, "power_iters must be a non-negative integer"),
        ({"rank": 5, "normalizer": "householder"}, "normalizer must be one of"),
    ],
)
def test_bad_arguments_name_themselves(backend, kwargs, match):
    G = backend.asarray(np.ones((30, 40)))
    options = dict(kwargs)
    rank = options.pop("rank")
    with pytest.raises(ValueError, match=match):
        gaussian_range(G, rank, **options)


def test_bad_matrices_are_rejected(backend):
    with pytest.raises(ValueError, match="G must be a matrix"):
        gaussian_range(backend.asarray(np.ones(5)), 1)
    bad = np.ones((4, 5))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        gaussian_range(backend.asarray(bad), 1)


def test_orthonormalize_rejects_unknown_methods():
    with pytest.raises(ValueError, match="method must be one of"):
        orthonormalize(np.eye(3), "householder")



@pytest.mark.parametrize(
    "Y, error, match",
    [
        (np.array([[np.nan, 1.0], [2.0, 3.0], [4.0, 5.0]]), ValueError, "Y contains NaN or Inf"),
        (np.ones((3, 2), dtype=np.int64), TypeError, "Y must be a real floating-point array"),
        (np.ones((3, 2), dtype=np.complex128), TypeError, "Y must be a real floating-point array"),
        (np.ones((2, 3)), ValueError, "Y must be tall \\(p ≥ k\\)"),
        (np.ones((3, 0)), ValueError, "Y is empty"),
        (np.ones(3), ValueError, "Y must be a matrix"),
        ([[1.0], [2.0]], TypeError, "Y must be a NumPy, CuPy or PyTorch array"),
    ],
)
@pytest.mark.parametrize("method", ["qr", "cholesky_qr"])
def test_orthonormalize_rejects_bad_blocks_naming_y(Y, error, match, method):
    with pytest.raises(error, match=match):
        orthonormalize(Y, method)


@pytest.mark.parametrize("method", ["qr", "cholesky_qr"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_orthonormalize_computes_16_bit_blocks_in_float32(backend, dtype, method):
    Y = backend.asarray(np.array([[3.0, 1.0], [4.0, 1.0], [0.0, 1.0], [0.0, 2.0]]), dtype=dtype)
    Q = orthonormalize(Y, method)
    assert tuple(Q.shape) == (4, 2)
    Qn = backend.to_numpy(Q).astype(np.float64)
    backend.assert_close(Q, Qn, rtol=0, dtype=dtype_name(Y.dtype))  # library, device and dtype kept
    # Rounding the float32 basis to 16 bits costs at most 2⁻⁸ (bfloat16) relative per entry.
    assert _orth_error(Qn) <= 2e-2
    Yn = backend.to_numpy(Y).astype(np.float64)
    assert _residual(Yn, Qn) <= 2e-2 * np.linalg.norm(Yn)


@pytest.mark.parametrize("dtype, scales", [("float64", (1e300, 1e-300)), ("float32", (1e30, 1e-30))])
def test_normalizer_none_is_scale_free(backend, dtype, scales):
    # G of exact rank 2: the sketch spans its column space, so sketched_msign returns U₂V₂ᵀ at
    # any scale; without rescaling, σ₁³ overflows at the large scale and underflows at the small.
    U = haar_orthogonal(6, 2, rng=7)
    V = haar_orthogonal(5, 2, rng=8)
    G = (U * np.array([2.0, 1.0])) @ V.T
    oracle = U @ V.T
    tol = 1e-4 if dtype == "float32" else 1e-10  # a few hundred ulps of the working precision
    for scale in scales:
        X = sketched_msign(backend.asarray(scale * G, dtype=dtype), 2, power_iters=1, normalizer="none", rng=0)
        backend.assert_close(X, oracle, rtol=0, atol=tol, dtype=dtype)


@pytest.mark.filterwarnings("ignore:.*encountered in matmul:RuntimeWarning")
def test_normalizer_none_overflow_names_power_iters(backend):
    # σ₁/max|G| = √30 for the all-ones 6 × 5 matrix: 30^{30.5} ≈ 1e45 exceeds float32.
    with pytest.raises(ValueError, match="normalizer='none' overflowed.*power_iters = 30"):
        gaussian_range(backend.asarray(np.ones((6, 5)), dtype="float32"), 2, power_iters=30, normalizer="none", rng=0)


# ------------------------------------------------------------------ _backend.linalg


def test_cholesky_upper(backend):
    W = np.array([[4.0, 2.0, 0.0], [2.0, 5.0, 1.0], [0.0, 1.0, 3.0]])
    result = cholesky_upper(backend.asarray(W))
    backend.assert_close(result, np.linalg.cholesky(W).T, rtol=1e-7, atol=1e-12)
    R = backend.to_numpy(result)
    np.testing.assert_allclose(R, np.triu(R), atol=0)
    np.testing.assert_allclose(R.T @ R, W, atol=1e-12)
    assert cholesky_upper(backend.asarray(np.array([[1.0, 2.0], [2.0, 1.0]]))) is None
    assert cholesky_upper(backend.asarray(np.zeros((3, 3)))) is None


def test_solve_upper_right(backend):
    rng = np.random.default_rng(17)
    R = np.triu(rng.standard_normal((4, 4))) + 4 * np.eye(4)
    Y = rng.standard_normal((7, 4))
    result = solve_upper_right(backend.asarray(Y), backend.asarray(R))
    X = backend.to_numpy(result)
    np.testing.assert_allclose(X @ R, Y, atol=1e-12)
    # R = triu + 4I is well conditioned: X = Y R⁻¹ to float64 roundoff.
    backend.assert_close(result, Y @ np.linalg.inv(R), rtol=1e-7, atol=1e-12)


def test_column_pivots_match_scipy_and_stay_on_the_backend(backend):
    S = np.random.default_rng(18).standard_normal((5, 12))
    expected = scipy.linalg.qr(S, pivoting=True)[2][:4]
    idx = column_pivots(backend.asarray(S), 4)
    backend.assert_close(idx, expected, rtol=0, dtype="int64")


@pytest.mark.parametrize("power_iters, oversample", [(0, 0), (1, 4), (2, 8)])
def test_sketched_sign_of_a_tall_matrix_is_the_transpose_of_the_wide_one(backend, power_iters, oversample):
    # The Gaussian sign sketches the wide orientation: for tall G it is exactly the transposed
    # sign of Gᵀ under the same seed (same Ω, same basis); only rounding of the transposed
    # products differs (float64, κ ≈ 60: a few hundred eps).
    G = with_spectrum(power_law(30, alpha=1.0), 80, 30, rng=4)
    tall = sketched_msign(backend.asarray(G), 6, power_iters=power_iters, oversample=oversample, rng=9)
    wide = sketched_msign(backend.asarray(G.T), 6, power_iters=power_iters, oversample=oversample, rng=9)
    np.testing.assert_allclose(backend.to_numpy(tall), backend.to_numpy(wide).T, atol=1e-12)
    basis = wide_gaussian_range(backend.asarray(G), 6, oversample=oversample, power_iters=power_iters, rng=9)
    assert backend.to_numpy(basis).shape == (30, 6 + oversample)  # a row-space basis: n rows


def test_tall_gaussian_flops_normalize_the_short_side():
    # At 3072 × 768, rank 64 + 8, one power iteration with LU: the sketch's products are the
    # same either way; the power iteration's LU of the sketch and the final Householder QR now
    # act on 768 rows, its LU of the other side's block on 3072 (kernel counts written out: LU
    # pk² − k³/3, QR with Q formed 4pk² − 4k³/3).
    from matsign.registry import get_method

    m, n, k = 3072, 768, 72
    flops = get_method("gaussian").flops
    tall = flops(m, n, rank=64, oversample=8, power_iters=1, normalizer="lu", inner="exact", steps=None)
    wide = flops(n, m, rank=64, oversample=8, power_iters=1, normalizer="lu", inner="exact", steps=None)
    assert tall == wide
    products = 3 * 2 * m * n * k
    normalizations = (n * k * k - k**3 / 3) + (m * k * k - k**3 / 3) + (4 * n * k * k - 4 * k**3 / 3)
    assert wide_gaussian_range_flops(m, n, rank=64, oversample=8, power_iters=1, normalizer="lu").flops == \
        pytest.approx(products + normalizations, rel=1e-12)
