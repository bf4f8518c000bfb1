"""QDWH against float64 SVD polar factors: accuracy, step counts, ``lower``, rank deficiency, input."""

import warnings

import numpy as np
import pytest

from matsign._backend import dtype_name
from matsign.exact import qdwh
from matsign.exact.qdwh import dwh_weights, qdwh_flops, qdwh_sign
from matsign.exact.sign import msign
from matsign.synthetic import haar_orthogonal, log_uniform, with_spectrum

EPS64 = 2.0**-52
SHAPES = {"square": (64, 64), "tall": (96, 40), "wide": (40, 96)}


def _svd_polar(G):
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    return U @ Vt


def _relative_error(X, ref):
    return np.linalg.norm(np.asarray(X, dtype=np.float64) - ref) / np.linalg.norm(ref)


def _tall(A):
    return A if A.shape[-2] >= A.shape[-1] else A.T


@pytest.mark.parametrize("kappa", [1e1, 1e4, 1e8, 1e12])
@pytest.mark.parametrize("orientation", list(SHAPES))
def test_float64_backward_stable_and_close_to_svd_polar(backend, orientation, kappa):
    G = with_spectrum(log_uniform(min(SHAPES[orientation]), kappa), *SHAPES[orientation], rng=1)
    result, forms = qdwh_sign(backend.asarray(G), return_forms=True)
    X = backend.to_numpy(result)
    # The default ℓ₀ = eps takes the fixed 2 QR-form + 4 Cholesky-form steps at every κ.
    assert forms == ["qr", "qr", "cholesky", "cholesky", "cholesky", "cholesky"]
    # Backward stability, independent of κ: X is orthogonal and G = X H with H symmetric
    # (measured ≤ 5.3 eps and ≤ 27 eps on these sizes).
    T, A = _tall(X), _tall(G)
    H = T.T @ A
    H = (H + H.T) / 2
    assert np.linalg.norm(A - T @ H) / np.linalg.norm(A) <= 20 * EPS64
    assert np.linalg.norm(T.T @ T - np.eye(T.shape[1])) <= 100 * EPS64
    # Forward error: that backward error amplified by the polar factor's condition number
    # (≤ ~2κ relative to σ₁) for QDWH and for the SVD oracle alike, so it is not κ-independent:
    # measured 0.9 κ·eps at κ = 10 (the eps floor) and 0.003–0.1 κ·eps beyond.
    assert _relative_error(X, _svd_polar(G)) <= (20 + kappa) * EPS64
    # Elementwise (implied by the relative bound), with library, device, dtype and shape.
    backend.assert_close(result, _svd_polar(G), rtol=0, atol=(20 + kappa) * EPS64 * np.linalg.norm(_svd_polar(G)))


@pytest.mark.parametrize("kappa", [1e3, 1e6])
def test_float32_within_factor_of_float32_svd_polar(backend, kappa):
    G = with_spectrum(log_uniform(64, kappa), 96, 64, rng=2)
    ref = _svd_polar(G)
    G32 = backend.asarray(G, "float32")
    result, forms = qdwh_sign(G32, return_forms=True)
    X = backend.to_numpy(result)
    assert forms == ["qr", "qr", "cholesky", "cholesky"]  # ℓ₀ = eps32 needs 4 steps
    # The same library's float32 SVD polar factor (rtol=0: no truncation at κ = 1e6).
    err_svd = _relative_error(backend.to_numpy(msign(G32, rtol=0.0)), ref)
    # Measured ratios (three shapes, three seeds, κ = 1e3 and 1e6): 1.6–2.3 on NumPy, 0.1–1.6
    # on PyTorch CPU, whose float32 SVD is itself 3–10× less accurate than NumPy's. Both
    # methods are backward stable; 4× leaves room for other seeds and builds.
    assert _relative_error(X, ref) <= 4 * err_svd
    backend.assert_close(result, ref, rtol=0, atol=4 * err_svd * np.linalg.norm(ref), dtype="float32")


def test_working_precision_is_independent_of_storage():
    G = with_spectrum(log_uniform(30, 1e3), 50, 30, rng=3)
    ref = _svd_polar(G)
    low = qdwh_sign(G, dtype="float32")
    assert low.dtype == np.float64
    assert 1e-8 < _relative_error(low, ref) < 1e-4  # float32 arithmetic, float64 storage
    high = qdwh_sign(G.astype(np.float32), dtype="float64")
    assert high.dtype == np.float32
    # Against the oracle of the rounded input, only float64 roundoff and the final rounding to
    # float32 (half an ulp, 6e-8 relative) remain.
    assert _relative_error(high, _svd_polar(G.astype(np.float32).astype(np.float64))) < 3e-7


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_16bit_input_works_in_float32_and_returns_its_dtype(backend, dtype):
    G = with_spectrum(log_uniform(16, 10.0), 24, 16, rng=4)
    Gb = backend.asarray(G, dtype)
    X = qdwh_sign(Gb)
    G16 = backend.to_numpy(Gb).astype(np.float64)
    # Entries below 1 round to the 16-bit grid with error ≤ 2⁻⁹ (bfloat16) or 2⁻¹² (float16);
    # allow one full spacing, plus the float32 iteration's own error at κ = 10.
    ulp = 2.0**-8 if dtype == "bfloat16" else 2.0**-11
    backend.assert_close(X, _svd_polar(G16), rtol=0, atol=ulp + 1e-5, dtype=dtype_name(Gb.dtype))


def test_correct_lower_saves_steps():
    G = with_spectrum(log_uniform(40, 10.0), 96, 40, rng=7)
    X, forms = qdwh_sign(G, lower=0.1, return_forms=True)
    # ℓ₀ = 0.1/√40: one QR-form step instead of two, 4 steps instead of 6 (measured).
    assert forms.count("qr") == 1 and len(forms) <= 5
    assert _relative_error(X, _svd_polar(G)) <= 30 * EPS64


@pytest.mark.parametrize("spectrum", ["log-uniform 1e4", "one at 1e-8"])
def test_too_large_lower_still_converges(spectrum):
    sigma = log_uniform(40, 1e4) if spectrum == "log-uniform 1e4" else np.r_[np.ones(39), 1e-8]
    kappa = sigma[0] / sigma[-1]
    G = with_spectrum(sigma, 96, 40, rng=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, forms = qdwh_sign(G, lower=0.5, return_forms=True)
    _, default_forms = qdwh_sign(G, return_forms=True)
    # Accuracy as with the default ℓ₀ (same κ-scaled tolerance as above); the wrong bound is
    # caught by the Gram residual and repaired at the cost of steps (measured 8 and 9). With the
    # published difference-of-iterates test, "one at 1e-8" stops after 4 steps with error 0.12.
    assert _relative_error(X, _svd_polar(G)) <= (20 + kappa) * EPS64
    assert len(forms) > len(default_forms)
    assert len(forms) <= qdwh.MAX_ITERATIONS


@pytest.mark.parametrize("shape", [(8, 6), (6, 8)])
def test_rank_deficient_agrees_with_msign_on_the_range_only(backend, shape):
    U = haar_orthogonal(shape[0], 3, rng=3)
    V = haar_orthogonal(shape[1], 3, rng=4)
    G = (U * np.array([3.0, 2.0, 1.0])) @ V.T
    result, forms = qdwh_sign(backend.asarray(G), return_forms=True)
    X = backend.to_numpy(result)
    backend.assert_close(result, X, rtol=0, dtype="float64")  # library, device and dtype kept
    assert len(forms) == 6
    np.testing.assert_allclose(U @ U.T @ X @ V @ V.T, U @ V.T, atol=1e-13)
    np.testing.assert_allclose(U @ U.T @ X @ V @ V.T, msign(G), atol=1e-13)
    s = np.linalg.svd(X, compute_uv=False)
    np.testing.assert_allclose(s[:3], 1.0, atol=1e-13)
    # The null directions carry roundoff blown up toward 1: anything in [0, 1], not msign's 0.
    assert np.all(s[3:] <= 1 + 1e-13)


def test_zero_rows_get_only_roundoff():
    A = with_spectrum(log_uniform(4, 10.0), 4, 4, rng=5)
    G = np.vstack([A[:2], np.zeros((2, 4)), A[2:]])
    X = qdwh_sign(G)
    # The zero rows' null directions start with no roundoff seed, so they stay near zero
    # (measured 2e-18) and QDWH matches msign here.
    assert np.abs(X[2:4]).max() <= 1e-15
    np.testing.assert_allclose(X, msign(G), atol=1e-13)


def test_lower_for_singular_input_warns():
    A = with_spectrum(log_uniform(3, 10.0), 6, 3, rng=6)
    G = np.hstack([A, np.zeros((6, 1))])  # an exactly zero column: σ₄ = 0 < lower·σ₁
    with pytest.warns(RuntimeWarning, match="lower=0.5"):
        X, forms = qdwh_sign(G, lower=0.5, return_forms=True)
    assert len(forms) == qdwh.MAX_ITERATIONS
    np.testing.assert_allclose(X, msign(G), atol=1e-13)  # still right on the range


@pytest.mark.parametrize("lower", [None, 0.5])
def test_zero_matrix_gives_zero(backend, lower):
    X = qdwh_sign(backend.asarray(np.zeros((5, 3))), lower=lower)
    backend.assert_close(X, np.zeros((5, 3)), rtol=0)


def test_batched_equals_per_slice(backend):
    S = np.stack([with_spectrum(log_uniform(6, 10.0**k), 8, 6, rng=k) for k in range(1, 4)] + [np.zeros((8, 6))])
    S = S.reshape(2, 2, 8, 6)
    for stack in (S, np.swapaxes(S, -1, -2)):
        X = backend.to_numpy(qdwh_sign(backend.asarray(stack)))
        for i in range(2):
            for j in range(2):
                single = qdwh_sign(backend.asarray(stack[i, j]))
                backend.assert_close(single, X[i, j], rtol=1e-7, atol=1e-13)


def test_scale_invariant_without_overflow():
    G = with_spectrum(log_uniform(10, 100.0), 20, 10, rng=6)
    X = qdwh_sign(G)
    for scale in (1e-300, 1e300):
        np.testing.assert_allclose(qdwh_sign(scale * G), X, atol=1e-14)


def test_cholesky_breakdown_runs_the_step_in_qr_form(monkeypatch):
    monkeypatch.setattr(qdwh, "cholesky_upper", lambda W: None)
    G = with_spectrum(log_uniform(40, 1e6), 96, 40, rng=9)
    X, forms = qdwh_sign(G, return_forms=True)
    assert forms == ["qr"] * 6
    assert _relative_error(X, _svd_polar(G)) <= (20 + 1e6) * EPS64


def test_weights_give_the_optimal_bound_and_the_published_step_counts():
    s = np.geomspace(1e-20, 1.0, 4001)
    for ell in (1e-16, 1e-6, 1e-2, 0.3, 0.9):
        a, b, c = dwh_weights(ell)
        f = s * (a + b * s * s) / (1 + c * s * s)
        # f never exceeds 1 on [0, 1], never lowers a singular value (the restart rule relies on
        # it), and its minimum over [ℓ, 1] is attained at ℓ: ℓ' = f(ℓ) is the bound carried.
        assert np.all(f <= 1 + 1e-12) and np.all(f >= s * (1 - 1e-12))
        f_ell = ell * (a + b * ell * ell) / (1 + c * ell * ell)
        assert f[s >= ell].min() >= f_ell * (1 - 1e-9)
    # Nakatsukasa, Bai, Gygi (2010): from ℓ₀ = 1e-16, six steps bring ℓ within eps of 1.
    for eps, steps in ((EPS64, 6), (2.0**-23, 4)):
        ell = eps
        for _ in range(steps):
            a, b, c = dwh_weights(ell)
            ell = min(1.0, ell * (a + b * ell * ell) / (1 + c * ell * ell))
        assert 1 - ell <= 5 * eps


def test_flops_model_counts_each_form():
    m, n = 300, 100
    qr = 4 * (m + n) * n**2 - 4 * n**3 / 3 + 2 * m * n**2
    cholesky = 2 * m * n**2 + n**3 / 3 + 2 * m * n**2
    assert qdwh_flops(m, n, 2, 4) == pytest.approx(2 * qr + 4 * cholesky)
    assert qdwh_flops(n, m, 1, 0) == pytest.approx(qr)


@pytest.mark.parametrize("lower", [0, 1, -0.5, 1.5, True, "0.1"])
def test_bad_lower_names_the_argument(lower):
    with pytest.raises(ValueError, match="lower"):
        qdwh_sign(np.eye(3), lower=lower)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "int8"])
def test_unsupported_dtype_names_the_argument(dtype):
    with pytest.raises(ValueError, match="dtype"):
        qdwh_sign(np.eye(3), dtype=dtype)


def test_bad_matrix_names_the_argument():
    with pytest.raises(ValueError, match="G"):
        qdwh_sign(np.ones(3))
    with pytest.raises(ValueError, match="G"):
        qdwh_sign(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(TypeError, match="G"):
        qdwh_sign(np.eye(3, dtype=np.int64))


def _dwh_weights_decimal(ell):
    """The weights of :func:`dwh_weights` evaluated in 50-digit decimal arithmetic."""
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 50
        ell2 = decimal.Decimal(ell) ** 2
        d = (4 * (1 - ell2) / (ell2 * ell2)) ** (decimal.Decimal(1) / 3)
        root = (1 + d).sqrt()
        a = root + (8 - 4 * d + 8 * (2 - ell2) / (ell2 * root)).sqrt() / 2
        b = (a - 1) ** 2 / 4
        return a, b, a + b - 1


@pytest.mark.parametrize("ell", [1e-76, 1e-40, EPS64, 0.5, 1.0])
def test_weights_are_accurate_on_the_stated_domain(ell):
    # The double-precision formula loses a few ulps to rounding in 8 − 4d + 8(2 − ℓ²)/(ℓ²√(1+d))
    # (measured ≤ 7e-15 relative); 1e-13 still fails by orders of magnitude if it breaks down.
    for got, want in zip(dwh_weights(ell), _dwh_weights_decimal(ell)):
        assert abs(got - float(want)) <= 1e-13 * float(want)


@pytest.mark.parametrize("ell", [1e-77, 1e-100, 0.0, -0.1, 1.5, True, "0.5"])
def test_weights_outside_the_domain_name_the_argument(ell):
    with pytest.raises(ValueError, match="ell must be a number in"):
        dwh_weights(ell)


@pytest.mark.parametrize(
    "args, name",
    [((-1, 5, 2, 2), "m"), ((5, 0, 2, 2), "n"), ((2.5, 5, 2, 2), "m"), ((5, 5, -1, 2), "qr_steps"),
     ((5, 5, 2, 1.5), "cholesky_steps")],
)
def test_flops_reject_invalid_sizes_and_step_counts(args, name):
    with pytest.raises(ValueError, match=f"^{name} must be a"):
        qdwh_flops(*args)


@pytest.mark.parametrize("lower", [None, 0.1])
def test_tensor_that_requires_grad_gives_no_warning(lower):
    # The residual read back with lower given must detach first (no torch UserWarning).
    torch = pytest.importorskip("torch")
    G = with_spectrum(log_uniform(6, 10.0), 9, 6, rng=21)
    warn_always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)  # PyTorch warns once per process otherwise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            X = qdwh_sign(torch.tensor(G, requires_grad=True), lower=lower)
    finally:
        torch.set_warn_always(warn_always)
    # κ = 10: the float64 error is ~κ·eps ≈ 2e-15; 1e-12 is a loose float64 bound.
    np.testing.assert_allclose(X.detach().numpy(), _svd_polar(G), rtol=0, atol=1e-12)
