"""A Gaussian range finder whose products run in float32 on a float64 matrix (``sketch_dtype``).

Oracle: the same seed's float64 sketch, and the exact SVD of matrices built from known factors.
Each float32 product is exact to about eps₃₂·‖G‖, which moves the span of the sketch by about
eps₃₂·σ₁/σ_ℓ (Wedin's theorem); that is the scale of every tolerance below on the range.
"""

import warnings

import numpy as np
import pytest

from matsign.lowrank.ranges import NORMALIZERS, gaussian_range, wide_gaussian_range
from matsign.lowrank.sign import sketched_msign
from matsign.synthetic import haar_orthogonal, power_law, with_spectrum

EPS32 = 2.0**-23
SHAPES = [(60, 90), (90, 60), (80, 80)]


@pytest.mark.parametrize("normalizer", NORMALIZERS)
def test_the_basis_is_float64_and_orthonormal_to_float64_accuracy(backend, normalizer):
    G = with_spectrum(power_law(40), 40, 70, rng=3)
    Q = gaussian_range(backend.asarray(G), 6, oversample=2, power_iters=2, normalizer=normalizer, rng=0,
                       sketch_dtype="float32")
    Qn = backend.to_numpy(Q)
    backend.assert_close(Q, Qn, rtol=0, dtype="float64")  # library, device and dtype of G
    # The last orthonormalization runs in float64: ‖QᵀQ − I‖ at float64 rounding (≈ ℓ·eps₆₄),
    # where a float32 one would leave about 1e-7.
    assert np.abs(Qn.T @ Qn - np.eye(8)).max() <= 1e-13


@pytest.mark.parametrize("power_iters", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_range_is_that_of_the_float64_sketch_to_float32_rounding(backend, shape, power_iters):
    s = power_law(min(shape), 1.0)
    G = with_spectrum(s, *shape, rng=1)
    options = dict(oversample=4, power_iters=power_iters, rng=2)
    Q64 = backend.to_numpy(gaussian_range(backend.asarray(G), 8, **options))
    Q32 = backend.to_numpy(gaussian_range(backend.asarray(G), 8, sketch_dtype="float32", **options))
    # Measured 0.6–2× eps₃₂·σ₁/σ_ℓ (ℓ = 12); 10× leaves room for the 2q + 1 products and the
    # normalizations between them, and is still 1e5 times below what a different Ω would give.
    scale = EPS32 * s[0] / s[11]
    assert np.linalg.norm(Q64 @ Q64.T - Q32 @ Q32.T, 2) <= 10 * scale


@pytest.mark.parametrize("shape", SHAPES)
def test_the_sign_is_a_float64_partial_isometry_with_the_float64_alignment(backend, shape):
    s = power_law(min(shape), 1.0)
    G = with_spectrum(s, *shape, rng=1)
    options = dict(oversample=4, power_iters=2, rng=2)
    X64 = backend.to_numpy(sketched_msign(backend.asarray(G), 8, **options))
    X = sketched_msign(backend.asarray(G), 8, sketch_dtype="float32", **options)
    X32 = backend.to_numpy(X)
    backend.assert_close(X, X32, rtol=0, dtype="float64")
    # QᵀG and its sign run in float64: the 8 singular values are 1 to float64 rounding.
    sv = np.linalg.svd(X32, compute_uv=False)
    np.testing.assert_allclose(sv[:8], 1.0, rtol=0, atol=1e-13)
    assert sv[8] <= 1e-13
    # The alignment moves with the range, by at most its change (measured ≤ 5e-9).
    difference = float(np.sum(G * (X32 - X64))) / float(s.sum())
    assert abs(difference) <= 10 * EPS32 * s[0] / s[11]


def test_a_direction_below_float32_rounding_is_lost_and_the_rest_kept():
    # The documented limit: σ₄/σ₁ = 1e-9 is below eps₃₂, so the float32 products cannot see it;
    # float64 ones do. σ₃/σ₁ = 1e-4 is resolved by both.
    U, V = haar_orthogonal(50, 4, rng=4), haar_orthogonal(40, 4, rng=5)
    G = (U * np.array([1.0, 1e-2, 1e-4, 1e-9])) @ V.T
    captured64 = np.linalg.norm(gaussian_range(G, 4, rng=6).T @ U, axis=0)
    captured32 = np.linalg.norm(gaussian_range(G, 4, rng=6, sketch_dtype="float32").T @ U, axis=0)
    np.testing.assert_allclose(captured64, 1.0, atol=1e-12)
    np.testing.assert_allclose(captured32[:3], 1.0, atol=1e-6)
    assert captured32[3] < 0.5  # measured 0.08: a random direction of the 50-dim column space


# Float64 scales outside float32's normal range (1.2e-38 … 3.4e38), where a plain float32 copy
# of c·G overflows to inf (an SVD that does not converge) or flushes to subnormals or zero (a
# sign of noise), and the largest float64 scale that leaves room for the sketch's products.
EXTREME_SCALES = [1e-300, 1e-40, 1e40, 1e300, 1e306]


@pytest.mark.parametrize("c", EXTREME_SCALES)
@pytest.mark.parametrize("normalizer", NORMALIZERS)
def test_a_float32_sketch_holds_at_every_float64_scale(backend, c, normalizer):
    # Oracle: the float64 sketch of G itself (same seed); the range is scale-free, so the
    # float32 sketch of c·G must find it to the float32 rounding of the test above. Without
    # normalization the rounding of the last power is amplified by (σ₁/σ_ℓ)^{2q+1} instead
    # (measured 8.8e-5 at every scale, 1 included: 0.04 of that bound).
    s = power_law(40, 1.0)
    G = with_spectrum(s, 40, 70, rng=1)
    power_iters = 1
    options = dict(oversample=4, power_iters=power_iters, normalizer=normalizer, rng=2)
    Q64 = backend.to_numpy(gaussian_range(backend.asarray(G), 8, **options))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, underflow or invalid-value warning either
        Q32 = backend.to_numpy(gaussian_range(backend.asarray(c * G), 8, sketch_dtype="float32", **options))
    amplification = (s[0] / s[11]) ** (2 * power_iters + 1 if normalizer == "none" else 1)
    assert np.linalg.norm(Q64 @ Q64.T - Q32 @ Q32.T, 2) <= 10 * EPS32 * amplification


def test_a_float32_sketch_of_a_stack_scales_each_member(backend):
    # Members 1e-300, 1e300 and 0: each is divided by its own largest entry, the zero member
    # stays zero (its sign is zero, not NaN).
    s = power_law(30, 1.0)
    G = with_spectrum(s, 30, 50, rng=3)
    stack = backend.asarray(np.stack([1e-300 * G, 1e300 * G, np.zeros_like(G)]))
    X = backend.to_numpy(sketched_msign(stack, 5, oversample=3, power_iters=1, rng=0, sketch_dtype="float32"))
    X64 = backend.to_numpy(sketched_msign(backend.asarray(G), 5, oversample=3, power_iters=1, rng=0))
    assert np.all(X[2] == 0)
    for member in X[:2]:
        assert np.all(np.isfinite(member))
        # Different Ω per member: compare what does not depend on it, the 5 unit singular values
        # and the alignment to within the sketch's own spread (here 0.0)…
        np.testing.assert_allclose(np.linalg.svd(member, compute_uv=False)[:5], 1.0, atol=1e-13)
        assert abs(float(np.sum(G * member)) - float(np.sum(G * X64))) / s.sum() <= 0.05


def test_tall_matrices_sketch_their_wide_orientation_in_float32(backend):
    G = with_spectrum(power_law(30), 70, 30, rng=7)
    P = backend.to_numpy(wide_gaussian_range(backend.asarray(G), 5, rng=1, sketch_dtype="float32"))
    assert P.shape == (30, 5) and P.dtype == np.float64
    P64 = backend.to_numpy(wide_gaussian_range(backend.asarray(G), 5, rng=1))
    assert np.linalg.norm(P @ P.T - P64 @ P64.T, 2) <= 10 * EPS32 * 1.0 / power_law(30)[4]


def test_a_float32_matrix_is_unchanged_by_a_float32_sketch(backend):
    G = backend.asarray(with_spectrum(power_law(30), 30, 50, rng=3), dtype="float32")
    same = backend.to_numpy(sketched_msign(G, 5, power_iters=1, rng=0, sketch_dtype="float32"))
    np.testing.assert_array_equal(same, backend.to_numpy(sketched_msign(G, 5, power_iters=1, rng=0)))


def test_a_float64_sketch_of_a_float32_matrix_returns_float32(backend):
    G = backend.asarray(with_spectrum(power_law(30), 30, 50, rng=3), dtype="float32")
    Q = gaussian_range(G, 5, power_iters=1, rng=0, sketch_dtype="float64")
    backend.assert_close(Q, backend.to_numpy(Q), rtol=0, dtype="float32")
    Qn = backend.to_numpy(Q).astype(np.float64)
    assert np.abs(Qn.T @ Qn - np.eye(5)).max() <= 1e-5


@pytest.mark.parametrize("bad", ["bfloat16", "float16", "int8", 3])
def test_other_precisions_are_refused_by_name(bad):
    G = with_spectrum(power_law(20), 20, 30, rng=0)
    with pytest.raises(ValueError, match="sketch_dtype must be None or one of"):
        gaussian_range(G, 3, sketch_dtype=bad)
    with pytest.raises(ValueError, match="sketch_dtype must be None or one of"):
        sketched_msign(G, 3, sketch_dtype=bad)


def test_range_finders_without_a_sketch_dtype_refuse_one():
    G = with_spectrum(power_law(20), 20, 30, rng=0)
    with pytest.raises(ValueError, match="range='column' takes no sketch_dtype"):
        sketched_msign(G, 3, range="column", sketch_dtype="float32")
