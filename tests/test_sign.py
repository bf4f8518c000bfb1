"""msign against float64 oracles (scipy.linalg.polar, exact SVD), its invariances and bad input."""

import numpy as np
import pytest
import scipy.linalg

from matsign.exact.sign import msign
from matsign.synthetic import haar_orthogonal, log_uniform, with_spectrum

SHAPES = [(6, 6), (9, 4), (4, 9), (1, 7), (7, 1), (511, 513)]


def _full_rank(m, n, kappa, seed):
    return with_spectrum(log_uniform(min(m, n), kappa), m, n, rng=seed)


@pytest.mark.parametrize("method", ["svd", "eigh"])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_scipy_polar_float64(backend, method, shape):
    # κ = 10: the eigh route's error grows like κ²·eps ≈ 2e-14, far below the 1e-10 target.
    G = _full_rank(*shape, kappa=10.0, seed=1)
    oracle, _ = scipy.linalg.polar(G)
    X = msign(backend.asarray(G), method=method)
    backend.assert_close(X, oracle, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method, tol", [("svd", 1e-5), ("eigh", 5e-4)])
def test_float32_accuracy(backend, method, tol):
    # float32: SVD error ~ κ·eps32·√n ≈ 1e-5 for κ = 10; eigh squares κ: ~ κ²·eps32·√n ≈ 1e-4.
    G = _full_rank(40, 60, kappa=10.0, seed=2)
    oracle, _ = scipy.linalg.polar(G)
    X = msign(backend.asarray(G, dtype="float32"), method=method)
    backend.assert_close(X, oracle, rtol=0, atol=tol, dtype="float32")


@pytest.mark.parametrize("method", ["svd", "eigh"])
def test_batched_equals_per_slice(backend, method):
    G = np.stack([_full_rank(5, 8, 10.0, s) for s in range(3)]).reshape(3, 1, 5, 8)
    X = backend.to_numpy(msign(backend.asarray(G), method=method))
    for i in range(3):
        single = msign(backend.asarray(G[i, 0]), method=method)
        backend.assert_close(single, X[i, 0], rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("method", ["svd", "eigh"])
@pytest.mark.parametrize("shape", [(6, 8), (8, 6)])
def test_rank_deficient_keeps_zero_singular_values(backend, method, shape):
    sigma = np.array([3.0, 2.0, 1.0])
    U = haar_orthogonal(shape[0], 3, rng=3)
    V = haar_orthogonal(shape[1], 3, rng=4)
    G = (U * sigma) @ V.T
    result = msign(backend.asarray(G), method=method)
    backend.assert_close(result, U @ V.T, rtol=1e-7, atol=1e-12)
    s = np.linalg.svd(backend.to_numpy(result), compute_uv=False)
    np.testing.assert_allclose(s[:3], 1.0, atol=1e-12)
    assert np.all(s[3:] <= 1e-12)


def test_rtol_truncates_small_singular_values(backend):
    U = haar_orthogonal(5, 3, rng=5)
    V = haar_orthogonal(7, 3, rng=6)
    G = (U * np.array([1.0, 1e-2, 1e-9])) @ V.T
    keep_all = msign(backend.asarray(G))
    keep_two = msign(backend.asarray(G), rtol=1e-6)
    backend.assert_close(keep_all, U @ V.T, rtol=1e-7, atol=1e-6)
    backend.assert_close(keep_two, U[:, :2] @ V[:, :2].T, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("method", ["svd", "eigh"])
def test_invariances(backend, method):
    G = _full_rank(7, 10, kappa=30.0, seed=7)
    sign = lambda A: msign(backend.asarray(A), method=method)  # noqa: E731
    X = backend.to_numpy(sign(G))
    P = haar_orthogonal(7, 7, rng=8)
    R = haar_orthogonal(10, 10, rng=9)
    backend.assert_close(sign(1e-5 * G), X, rtol=1e-7, atol=1e-11)
    backend.assert_close(sign(1e5 * G), X, rtol=1e-7, atol=1e-11)
    backend.assert_close(sign(G.T), X.T, rtol=1e-7, atol=1e-11)
    backend.assert_close(sign(P @ G @ R), P @ X @ R, rtol=1e-7, atol=1e-11)
    backend.assert_close(sign(X), X, rtol=1e-7, atol=1e-11)


def test_zero_matrix_gives_zero(backend):
    for method in ("svd", "eigh"):
        X = msign(backend.asarray(np.zeros((4, 6))), method=method)
        backend.assert_close(X, np.zeros((4, 6)), rtol=0)


def test_sixteen_bit_input_keeps_dtype():
    torch = pytest.importorskip("torch")
    G = torch.tensor(_full_rank(8, 12, 5.0, 10), dtype=torch.bfloat16)
    X = msign(G)
    assert X.dtype == torch.bfloat16
    oracle, _ = scipy.linalg.polar(G.float().double().numpy())
    # bf16 storage rounds each entry with relative error ≤ 2^-8.
    assert np.abs(X.float().numpy() - oracle).max() <= 2e-2


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN or Inf"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN or Inf"),
        (np.ones(3), "1-D"),
        (np.float64(1.0) * np.ones(()), "0-D"),
        (np.ones((0, 3)), "empty"),
        (np.ones((2, 2), dtype=np.int64), "int64"),
        (np.ones((2, 2), dtype=np.complex128), "complex"),
    ],
)
def test_bad_input_names_argument(bad, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        msign(bad)
    assert "G" in str(info.value)


def test_bad_options():
    G = np.eye(3)
    with pytest.raises(ValueError, match="method"):
        msign(G, method="qr")
    with pytest.raises(ValueError, match="rtol"):
        msign(G, rtol=-1.0)
    with pytest.raises(TypeError, match="NumPy, CuPy or PyTorch"):
        msign([[1.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("dtype, scales", [("float32", (1e-25, 1e25)), ("float64", (1e-300, 1e300))])
def test_eigh_is_scale_invariant_without_under_or_overflow(backend, dtype, scales):
    # G = [[3, 0], [4, 5]] has the closed-form polar factor [[2, -1], [1, 2]]/√5 and κ = 3. At
    # these scales the unscaled Gram matrix G Gᵀ under- or overflows the dtype. The eigh route's
    # error is about κ²·eps: 1e-5 covers float32 (9·1.2e-7 ≈ 1e-6), 1e-13 float64.
    G = np.array([[3.0, 0.0], [4.0, 5.0]])
    polar = np.array([[2.0, -1.0], [1.0, 2.0]]) / np.sqrt(5.0)
    tol = 1e-5 if dtype == "float32" else 1e-13
    stack = np.stack([scale * G for scale in scales])  # one stack, a different scale per member
    X = msign(backend.asarray(stack, dtype=dtype), method="eigh")
    Xt = msign(backend.asarray(np.swapaxes(stack, -1, -2), dtype=dtype), method="eigh")
    backend.assert_close(X, np.stack([polar] * len(scales)), rtol=0, atol=tol, dtype=dtype)
    backend.assert_close(Xt, np.stack([polar.T] * len(scales)), rtol=0, atol=tol, dtype=dtype)


@pytest.mark.parametrize("method", ["svd", "eigh"])
def test_default_rtol_of_sixteen_bit_input_has_its_epsilon_as_floor(backend, method):
    # A rank-1 matrix rounded to float16 (entries to relative 2⁻¹¹) gains noise singular values
    # up to 2⁻¹¹‖G‖_F = 2⁻¹¹σ₁: far above float32's 8·eps₃₂·σ₁, below the default's floor
    # eps₁₆·σ₁ = 2⁻¹⁰·σ₁. So msign is the rank-1 u vᵀ (unit u, v), not 8 unit singular values.
    rng = np.random.default_rng(12)
    u, v = rng.standard_normal(8), rng.standard_normal(8)
    oracle = np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    dtypes = [dtype for dtype in ("float16", "bfloat16") if backend.stores(dtype)]
    if not dtypes:
        pytest.skip(f"{backend.lib} has no 16-bit dtype (16-bit formats are emulated in float32 storage)")
    for dtype in dtypes:
        # from_numpy stores 16-bit data in float32 on NumPy (emulation); msign takes float16 itself.
        G = np.outer(u, v).astype(np.float16) if backend.lib == "numpy" else backend.asarray(np.outer(u, v), dtype)
        result = msign(G, method=method)
        # Input rounding (‖E‖ ≤ unit·σ₁) turns the top singular vectors by ≲ unit (Wedin), and
        # the output is rounded to the 16-bit grid once more: a few units of rounding each.
        unit = 2.0**-8 if dtype == "bfloat16" else 2.0**-11
        s = np.linalg.svd(backend.to_numpy(result).astype(np.float64), compute_uv=False)
        assert abs(s[0] - 1) <= 3 * unit and s[1] <= 3 * unit, (dtype, s)
        backend.assert_close(result, oracle, rtol=0, atol=6 * unit, dtype=dtype)


@pytest.mark.parametrize("method", ["svd", "eigh"])
def test_default_rtol_of_a_large_sixteen_bit_matrix_keeps_every_direction(backend, method):
    """The 16-bit floor does not scale with the size: a 256 × 384 bfloat16/float16 matrix with
    κ = 2 (max(m, n)·eps_bf16 = 3 would zero it) has the sign of its stored values to 16-bit
    accuracy."""
    G64 = with_spectrum(log_uniform(256, 2.0), 256, 384, rng=13)
    dtypes = [dtype for dtype in ("float16", "bfloat16") if backend.stores(dtype)]
    if not dtypes:
        pytest.skip(f"{backend.lib} has no 16-bit dtype (16-bit formats are emulated in float32 storage)")
    for dtype in dtypes:
        G = G64.astype(np.float16) if backend.lib == "numpy" else backend.asarray(G64, dtype)
        stored = backend.to_numpy(G).astype(np.float64)
        U, _, Vt = np.linalg.svd(stored, full_matrices=False)
        result = msign(G, method=method)
        X = backend.to_numpy(result).astype(np.float64)
        # The sign of κ = 2 input is computed in float32 (errors ≲ κ·1e-6) and rounded to the
        # 16-bit grid: relative Frobenius error about the 16-bit unit roundoff.
        unit = 2.0**-8 if dtype == "bfloat16" else 2.0**-11
        assert np.linalg.norm(X - U @ Vt) / np.sqrt(256) <= 2 * unit, dtype
        # Elementwise, implied by the Frobenius bound; and the result keeps G's backend and dtype.
        backend.assert_close(result, U @ Vt, rtol=0, atol=2 * unit * np.sqrt(256), dtype=dtype)


def test_exact_family_methods_are_declared_with_labels_and_checks():
    from matsign.exact.converged import check_converged_params
    from matsign.exact.gram_newton_schulz import check_gram_newton_schulz_params
    from matsign.exact.newton_schulz import check_newton_schulz_params
    from matsign.exact.qdwh import check_qdwh_params
    from matsign.registry import get_method

    labels = {"exact_svd": "exact (SVD)", "exact_eigh": "exact (Gram eigh)", "exact_ns": "exact (NS to convergence)",
              "qdwh": "exact (QDWH)", "gram_newton_schulz": "gram_newton_schulz"}
    for name, label in labels.items():
        assert get_method(name).label({}) == label
    assert get_method("newton_schulz").label({"schedule": "polar_express"}) == "Polar Express"
    assert get_method("newton_schulz").label({"schedule": "my_list"}) == "my_list"
    checks = {"exact_ns": check_converged_params, "qdwh": check_qdwh_params,
              "newton_schulz": check_newton_schulz_params, "gram_newton_schulz": check_gram_newton_schulz_params}
    for name, check in checks.items():
        assert get_method(name).check is check
