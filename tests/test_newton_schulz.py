"""Newton–Schulz against the scalar-map prediction, exact signs, and each normalization."""

import numpy as np
import pytest
import scipy.linalg

from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.schedules import SCHEDULES, scalar_map
from matsign.synthetic import log_uniform, with_spectrum


def _svals(X):
    return np.linalg.svd(X, compute_uv=False)


@pytest.fixture(scope="module")
def G():
    # σ log-spaced over [1e-3, 1]: spans the interval every schedule is designed for.
    return with_spectrum(log_uniform(40, 1e3), 40, 64, rng=11)


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("orientation", ["wide", "tall"])
def test_singular_values_follow_scalar_map(backend, G, name, orientation):
    A = G if orientation == "wide" else G.T
    result = newton_schulz(backend.asarray(A), name)
    X = backend.to_numpy(result)
    backend.assert_close(result, X, rtol=0, dtype="float64")  # library, device and dtype kept
    predicted = scalar_map(_svals(G) / np.linalg.norm(G), name)
    # float64 rounding, amplified by at most |p'| ≈ 8 per step over ≤ 10 steps on 64 columns.
    np.testing.assert_allclose(np.sort(_svals(X)), np.sort(predicted), atol=1e-8)


@pytest.mark.parametrize("steps", [1, 3, 12])
def test_steps_truncate_and_repeat(backend, G, steps):
    result = newton_schulz(backend.asarray(G), "you5", steps=steps)
    X = backend.to_numpy(result)
    backend.assert_close(result, X, rtol=0, dtype="float64")  # library, device and dtype kept
    predicted = scalar_map(_svals(G) / np.linalg.norm(G), "you5", steps=steps)
    np.testing.assert_allclose(np.sort(_svals(X)), np.sort(predicted), atol=1e-8)


def test_singular_vectors_are_those_of_G(backend, G):
    # NS is a matrix function: X = U φ(Σ) Vᵀ with G's own singular vectors.
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    X = newton_schulz(backend.asarray(G), "polar_express")
    phi = scalar_map(s / np.linalg.norm(G), "polar_express")
    backend.assert_close(X, (U * phi) @ Vt, rtol=1e-7, atol=1e-9)


def test_normalizations_predicted(backend, G):
    s = _svals(G)
    cases = {
        "frobenius": s / np.linalg.norm(s),
        "schatten4": s / np.sum(s**4) ** 0.25,
        "spectral": s / s[0],
        "none": s,
    }
    for normalize, scaled in cases.items():
        result = newton_schulz(backend.asarray(G), "muon", normalize=normalize)
        X = backend.to_numpy(result)
        backend.assert_close(result, X, rtol=0, dtype="float64")  # library, device and dtype kept
        # "spectral" uses a 16-step power estimate of σ₁: here σ₂/σ₁ = 1e-3^(1/39) ≈ 0.838, so
        # the Rayleigh quotient is off by ~(σ₂/σ₁)^(4·16) ≈ 1e-5 relative at worst.
        tol = 1e-4 if normalize == "spectral" else 1e-9
        np.testing.assert_allclose(np.sort(_svals(X)), np.sort(scalar_map(scaled, "muon")), atol=tol, err_msg=normalize)


def test_aol_normalization_is_row_scaling(backend, G):
    d = 1.0 / np.sqrt(np.abs(G @ G.T).sum(axis=1))
    DG = d[:, None] * G
    assert np.linalg.norm(DG, 2) <= 1.0 + 1e-12  # the AOL guarantee
    X = newton_schulz(backend.asarray(G), "aol4", normalize="aol")
    Y = newton_schulz(DG, "aol4", normalize="none")
    backend.assert_close(X, Y, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_frobenius_scale_invariance(backend, G, dtype, scale):
    ref = backend.to_numpy(newton_schulz(backend.asarray(G, dtype=dtype), "polar_express"))
    X = newton_schulz(backend.asarray(G * scale, dtype=dtype), "polar_express")
    assert np.all(np.isfinite(backend.to_numpy(X)))
    # Scaling by a power-of-ten changes the rounding of the normalization only: a few ulps,
    # amplified through 5 steps with slopes up to ~8.
    tol = 1e-12 if dtype == "float64" else 2e-4
    backend.assert_close(X, ref, rtol=1e-7, atol=tol)


def test_ill_conditioned_ordering(backend):
    # κ = 1e6: Polar Express's minimax steps lift small σ far faster than Muon's fixed quintic.
    G = with_spectrum(log_uniform(64, 1e6), 64, 96, rng=12)
    exact, _ = scipy.linalg.polar(G)
    results = {name: newton_schulz(backend.asarray(G), name) for name in ("muon", "polar_express")}
    err = {name: np.linalg.norm(backend.to_numpy(X) - exact) for name, X in results.items()}
    for X in results.values():
        backend.assert_close(X, backend.to_numpy(X), rtol=0, dtype="float64")  # library, device, dtype
    assert err["polar_express"] < err["muon"]


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-4), ("bfloat16", 8e-2), ("float16", 1e-2)])
def test_low_precision_close_to_float64_iteration(backend, dtype, tol):
    # Compare with the same iteration in float64 on a well-conditioned input (κ = 10), so the
    # difference is the rounding alone: unit roundoff 6e-8 / 3.9e-3 / 4.9e-4 times a growth of
    # up to ~20 over 5 steps whose first slope is ~8 (measured: 2e-6 / 0.026–0.038 / 0.003–0.005).
    # On ill-conditioned inputs 16-bit formats swamp the directions with σ/‖G‖_F below their
    # unit roundoff; that is a property of the format, measured by the precision experiment.
    G = with_spectrum(log_uniform(40, 10.0), 40, 64, rng=11)
    ref = newton_schulz(G, "polar_express")
    Gb = backend.asarray(G, dtype="float32")
    X = newton_schulz(Gb, "polar_express", dtype=dtype)
    rel = np.linalg.norm(backend.to_numpy(X) - ref) / np.linalg.norm(ref)
    assert rel <= tol, rel
    # Elementwise, implied by the bound above; and the result stays a float32 array of Gb's backend.
    backend.assert_close(X, ref, rtol=0, atol=tol * np.linalg.norm(ref), dtype="float32")
    if dtype != "float32":
        # ... and it is really rounded: lower precision must differ from float32 arithmetic.
        assert rel > 1e-5


def test_emulated_bfloat16_matches_native_torch_statistically():
    torch = pytest.importorskip("torch")
    G = with_spectrum(log_uniform(40, 10.0), 40, 64, rng=11)
    ref = newton_schulz(G, "muon")
    emulated = newton_schulz(G.astype(np.float32), "muon", dtype="bfloat16")
    native = newton_schulz(torch.tensor(G, dtype=torch.float32), "muon", dtype="bfloat16").numpy()
    e1 = np.linalg.norm(emulated - ref) / np.linalg.norm(ref)
    e2 = np.linalg.norm(native - ref) / np.linalg.norm(ref)
    # Same model up to the order of roundings (module doc of matsign._backend.precision).
    assert 0.3 < e1 / e2 < 3.0


def test_batched_equals_per_slice(backend):
    Gs = np.stack([with_spectrum(log_uniform(6, 50.0), 6, 9, rng=s) for s in range(4)])
    for normalize in ("frobenius", "spectral", "schatten4", "aol"):
        X = backend.to_numpy(newton_schulz(backend.asarray(Gs), "cans", normalize=normalize))
        for i in range(4):
            one = newton_schulz(backend.asarray(Gs[i]), "cans", normalize=normalize)
            backend.assert_close(one, X[i], rtol=1e-7, atol=1e-12)


def test_zero_matrix_gives_zero(backend):
    for normalize in ("frobenius", "spectral", "schatten4", "aol", "none"):
        X = newton_schulz(backend.asarray(np.zeros((3, 5))), "muon", normalize=normalize)
        backend.assert_close(X, np.zeros((3, 5)), rtol=0)


def test_bad_arguments():
    G = np.eye(3)
    with pytest.raises(ValueError, match="steps"):
        newton_schulz(G, steps=0)
    with pytest.raises(ValueError, match="unknown schedule"):
        newton_schulz(G, "quintic")
    with pytest.raises(ValueError, match="normalize"):
        newton_schulz(G, normalize="max")
    with pytest.raises(ValueError, match="dtype"):
        newton_schulz(G, dtype="int8")
    with pytest.raises(ValueError, match="G contains NaN"):
        newton_schulz(np.full((2, 2), np.nan))


@pytest.mark.parametrize("normalize", ["schatten4", "aol"])
def test_float16_gram_normalizations_do_not_overflow_on_long_rows(backend, normalize):
    # Rows of n = 70000 > 65504 (float16's largest value) columns: (GGᵀ)_ii ≈ n overflows a
    # float16 Gram product of G itself. The two rows are orthogonal (σ = √n, √n/2), so
    # msign(G) = the rows divided by their norms, and AOL's row scaling keeps that target.
    n = 70_000
    G = np.stack([np.ones(n), 0.5 * (-1.0) ** np.arange(n)])
    oracle = G / np.linalg.norm(G, axis=1, keepdims=True)
    X = newton_schulz(backend.asarray(G), "cubic", steps=30, normalize=normalize, dtype="float16")
    # At the cubic's fixed point (p'(1) = 0) each entry carries a few float16 roundings: 4·2⁻¹⁰.
    backend.assert_close(X, oracle, rtol=4 * 2.0**-10, atol=0)


def test_spectral_estimate_is_the_same_for_identical_members(backend):
    # σ₂/σ₁ = 0.99: 16 power steps leave the estimate dependent on the start, which must not
    # differ between members of a stack; batched then equals per-slice (float64 rounding only).
    D = np.diag([1.0, 0.99, 0.5])
    Gs = np.stack([D, D, with_spectrum(np.array([1.0, 0.99, 0.5]), 3, 3, rng=3)])
    X = backend.to_numpy(newton_schulz(backend.asarray(Gs), "polar_express", normalize="spectral"))
    for i in range(len(Gs)):
        one = newton_schulz(backend.asarray(Gs[i]), "polar_express", normalize="spectral")
        backend.assert_close(one, X[i], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(X[0], X[1])


def test_flops_count_quintic_and_cubic_steps():
    from matsign.exact.newton_schulz import newton_schulz_flops

    # Tall and wide count alike: s = min, N = max.
    assert newton_schulz_flops(64, 256, "muon") == newton_schulz_flops(256, 64, "muon") == 5 * (4 * 64**2 * 256 + 2 * 64**3)
    assert newton_schulz_flops(64, 256, "cubic", steps=3) == 3 * 4 * 64**2 * 256
    assert newton_schulz_flops(64, 256, "you5", steps=7) == 7 * (4 * 64**2 * 256 + 2 * 64**3)
    with pytest.raises(ValueError, match="^m must be a positive integer"):
        newton_schulz_flops(0, 4, "muon")
