"""Dion: full rank reproduces msign(B); the warm start tracks a slowly rotating subspace."""

import numpy as np
import pytest
import scipy.linalg

from matsign.synthetic import haar_orthogonal, with_spectrum
from matsign.updates import ORTHONORMALIZERS, Dion, randomized_cholesky_qr

SHAPES = [(12, 20), (20, 12), (16, 16)]


def _svd_sign(X):
    U, _, Vt = np.linalg.svd(X, full_matrices=False)
    return U @ Vt


def _well_conditioned(shape, seed):
    # Distinct singular values with ratio 0.8: orthogonal iteration converges like 0.8^k.
    return with_spectrum(0.8 ** np.arange(min(shape)), *shape, rng=seed)


@pytest.mark.parametrize("right", ["normalize", "qr"])
@pytest.mark.parametrize("shape", SHAPES)
def test_full_rank_with_enough_iterations_is_the_exact_sign(backend, shape, right):
    mu = 0.9
    G = _well_conditioned(shape, 1)
    rule = Dion(min(shape), mu, orth="qr", right=right, power_iters=300, rng=0)
    out = rule.step(backend.asarray(G))
    # 0.8^300 ≈ 1e-29: converged to rounding; float64 SVD oracle, κ = 0.8^-15 ≈ 28.
    backend.assert_close(out.update, _svd_sign(G), rtol=0, atol=1e-12)
    assert out.diagnostics["relative_error"] < 1e-12
    assert out.diagnostics["captured_energy"] == pytest.approx(1.0, abs=1e-12)
    # Full rank captures all of B = G, so the error feedback leaves μ·B.
    backend.assert_close(rule.buffer, mu * G, rtol=0, atol=1e-13)


def test_one_power_iteration_at_full_rank_is_not_the_sign_but_converges_over_steps():
    # The official one round per step: at full rank P spans everything but the columns of
    # R = BᵀP are not orthogonal, so P·normalize(R)ᵀ ≠ msign(B); with a constant gradient
    # the warm start keeps iterating and the update converges to msign(G).
    G = _well_conditioned((12, 20), 2)
    rule = Dion(12, 0.0, rng=0)
    errors = [rule.step(G).diagnostics["relative_error"] for _ in range(150)]
    assert errors[0] > 1e-2
    assert errors[-1] < 1e-8


def _rotating_sequence(m, n, r, steps, *, angle=0.02, noise=0.05, seed=0):
    """G_t = U_t diag(σ) V_tᵀ + noise, with U_t, V_t turned by exp(angle·skew) every step."""
    rng = np.random.default_rng(seed)
    U, V = haar_orthogonal(m, r, rng=seed + 1), haar_orthogonal(n, r, rng=seed + 2)
    skews = []
    for k in (m, n):
        A = rng.standard_normal((k, k))
        A = A - A.T
        skews.append(scipy.linalg.expm(angle * A / np.linalg.norm(A, 2)))
    sigma = np.array([8.0, 6.0, 4.0, 3.0])[:r]
    for _ in range(steps):
        yield U @ np.diag(sigma) @ V.T + noise * rng.standard_normal((m, n))
        U, V = skews[0] @ U, skews[1] @ V


@pytest.mark.parametrize("orth", ORTHONORMALIZERS)
def test_warm_start_captures_the_top_r_energy_of_a_rotating_sequence(backend, orth):
    r = 4
    rule = Dion(r, 0.95, orth=orth, rng=3)
    ratios = []
    for G in _rotating_sequence(32, 64, r, 20):
        B = backend.to_numpy(rule.buffer) + G if rule.buffer is not None else G
        out = rule.step(backend.asarray(G))
        s = np.linalg.svd(B, compute_uv=False)
        optimal = np.sum(s[:r] ** 2) / np.sum(s**2)
        assert out.diagnostics["optimal_energy"] == pytest.approx(optimal, rel=1e-12)
        assert out.diagnostics["captured_energy"] <= optimal + 1e-12
        ratios.append(out.diagnostics["captured_energy"] / optimal)
        backend.assert_close(out.update, backend.to_numpy(out.update), rtol=0, dtype="float64")  # library, device, dtype
    # Step 1 starts from a random Q (≈ 0.9 of the optimum here); the warm start then tracks the
    # rotating subspace to within 1% of the best rank-r energy.
    assert ratios[-1] > 0.99
    assert ratios[-1] - ratios[0] > 0.05


def test_the_three_orthonormalizations_agree_on_well_conditioned_input():
    grads = list(_rotating_sequence(48, 64, 4, 5, seed=5))
    results = {}
    for orth in ORTHONORMALIZERS:
        rule = Dion(8, 0.9, orth=orth, rng=11)
        results[orth] = [rule.step(G).update for G in grads]
    # The update P·normalize(BᵀP)ᵀ does not depend on the column signs of P, so all three
    # bases give the same steps, up to the κ(BQ)·eps rounding of the Cholesky variants.
    for orth in ("cholesky_qr", "randomized_cholesky_qr"):
        for a, b in zip(results[orth], results["qr"]):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_randomized_cholesky_qr_is_an_orthonormal_basis_and_falls_back_when_deficient():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((300, 6)) @ np.diag(np.logspace(0, 3, 6))
    Q = randomized_cholesky_qr(Y, 1.25, np.random.default_rng(1))
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-13)
    np.testing.assert_allclose(Q @ (Q.T @ Y), Y, atol=1e-10 * np.linalg.norm(Y))
    Y[:, 2] = 0.0  # rank deficient: the sketch factor is singular, Householder QR takes over
    Q = randomized_cholesky_qr(Y, 1.25, np.random.default_rng(1))
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-13)


def test_zero_gradient_gives_a_zero_step_and_keeps_the_warm_start():
    rule = Dion(3, 0.9, rng=0)
    G = _well_conditioned((8, 10), 3)
    rule.step(G)
    Q = rule.right_factor.copy()
    rule.buffer = np.zeros_like(rule.buffer)
    out = rule.step(np.zeros((8, 10)))
    assert not np.any(out.update)
    np.testing.assert_array_equal(rule.right_factor, Q)
    assert np.all(np.isfinite(rule.step(G).update))


def test_diagnostics_and_shape_factor():
    G = _well_conditioned((12, 20), 4)
    out = Dion(4, shape="spectral", rng=0).step(G)
    assert set(out.diagnostics) == {"alignment", "relative_error", "captured_energy", "optimal_energy"}
    assert 0 < out.diagnostics["captured_energy"] <= out.diagnostics["optimal_energy"] <= 1
    assert np.linalg.matrix_rank(out.update) == 4
    plain = Dion(4, rng=0).step(G)
    np.testing.assert_allclose(out.update, np.sqrt(12 / 20) * plain.update, rtol=1e-15)
    assert Dion(4, diagnostics=False, rng=0).step(G).diagnostics == {}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="rank"):
        Dion(13).step(np.ones((12, 20)))
    with pytest.raises(ValueError, match="orth"):
        Dion(2, orth="svd")
    with pytest.raises(ValueError, match="right"):
        Dion(2, right="polar")
    with pytest.raises(ValueError, match="power_iters"):
        Dion(2, power_iters=0)
    with pytest.raises(ValueError, match="oversample"):
        Dion(2, oversample=0.5)
