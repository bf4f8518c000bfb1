"""MuonEq's official options (MaeChd/muon-eq, llm-baselines/src/optim/muoneq.py): rowcol_clip,
phase and the spc spectral-proxy pre-scaling, each against the official formula re-derived in
float64 NumPy (with the SVD where a norm of the spectrum is meant)."""

import numpy as np
import pytest

from matsign.synthetic import log_uniform, with_spectrum
from matsign.transforms.equilibration import equilibrate, equilibration_factors, spectral_proxy_scale
from matsign.updates import Muon, MuonEq

MUON = (3.4445, -4.7750, 2.0315)


def _clipped_oracle(G, mode, clip, exponent=-0.5, eps=1e-8):
    """Official _row_normalize / _col_normalize / _parallel_rowcol_normalize: the scales
    (x + eps)^exponent of the same G, each clamped to [1/clip, clip], then applied."""
    r = np.clip((np.sum(G * G, axis=1) + eps) ** exponent, 1 / clip, clip)
    c = np.clip((np.sum(G * G, axis=0) + eps) ** exponent, 1 / clip, clip)
    out = G
    if "R" in mode:
        out = r[:, None] * out
    if "C" in mode:
        out = out * c[None, :]
    return out


@pytest.mark.parametrize("mode", ["R", "C", "RC"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_clip_matches_the_official_clamp(backend, mode, dtype, np_rng):
    # Rows scaled over 1e-4 … 1e2, columns over 1e2 … 1e-4: squared row and column norms
    # span about 1e-4 … 1e8, scales 1e-4 … 1e2, so a clip of 3 is active on both sides.
    G = np_rng.standard_normal((7, 11)) * np.geomspace(1e-4, 1e2, 7)[:, None] * np.geomspace(1e2, 1e-4, 11)
    A = backend.asarray(G, dtype=dtype)
    expected = _clipped_oracle(backend.to_numpy(A).astype(np.float64), mode, 3.0)
    rows, cols = equilibration_factors(A, mode, clip=3.0)
    for scale in (rows, cols):
        if scale is not None:
            s = backend.to_numpy(scale)
            assert s.min() == pytest.approx(1 / 3) and s.max() == pytest.approx(3.0)  # both bounds hit
    # A clamp and one product per entry: a few ulps of the dtype (2e-6 covers float32's sums).
    backend.assert_close(equilibrate(A, mode, clip=3.0), expected, rtol={"float64": 1e-13, "float32": 2e-6}[dtype],
                         dtype=dtype)


def test_clip_is_checked():
    for bad in (0.5, 0.0, -2.0, float("inf"), "3"):
        with pytest.raises(ValueError, match="clip"):
            equilibrate(np.eye(2), "R", clip=bad)
    with pytest.raises(ValueError, match="clip apply only with an equilibration"):
        Muon(clip=2.0)


def _spc_oracle(X, eps):
    """X (‖(XXᵀ)²‖_F + eps)^{-1/4} with ‖(XXᵀ)²‖_F = (Σ σ⁸)^{1/2} from the SVD."""
    s = np.linalg.svd(X, compute_uv=False)
    return X * (np.sqrt(np.sum(s**8)) + eps) ** -0.25


@pytest.mark.parametrize("shape", [(12, 30), (30, 12), (16, 16)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_spectral_proxy_scale_matches_the_schatten8_formula(backend, shape, dtype):
    m, n = shape
    G = with_spectrum(log_uniform(min(m, n), 1e3), m, n, rng=1) * 37.0
    A = backend.asarray(G, dtype=dtype)
    expected = _spc_oracle(backend.to_numpy(A).astype(np.float64), 1e-7)
    # Two Gram products and a 4th root: float64 ≈ 1e-15; float32 sums of ≤ 30 products ≈ 1e-6.
    backend.assert_close(spectral_proxy_scale(A), expected, rtol={"float64": 1e-13, "float32": 3e-6}[dtype],
                         atol={"float64": 0.0, "float32": 1e-7}[dtype], dtype=dtype)
    # The proxy bounds σ₁: the scaled matrix has spectral norm ≤ 1, and the official ε = 1e-7
    # is negligible at this scale.
    assert np.linalg.norm(backend.to_numpy(spectral_proxy_scale(A)).astype(np.float64), 2) <= 1 + 1e-6


def test_spectral_proxy_scale_is_scale_free_and_keeps_zero():
    G = with_spectrum(log_uniform(8, 1e2), 8, 20, rng=2)
    want = _spc_oracle(G, 0.0)
    for c in (1e-100, 1.0, 1e100):  # the eighth powers of these underflow / overflow float64
        np.testing.assert_allclose(spectral_proxy_scale(c * G, eps=0.0), want, rtol=1e-12)
    assert not np.any(spectral_proxy_scale(np.zeros((3, 5))))
    with pytest.raises(ValueError, match="eps"):
        spectral_proxy_scale(G, eps=-1.0)


def _msign(X):
    U, _, Vt = np.linalg.svd(X, full_matrices=False)
    return U @ Vt


def test_phase_switches_rc_to_r_at_the_official_step(np_rng):
    # Official: muon_step counts from 1; normalize_mode "rowcol" with step ≥ phase uses "row".
    Gs = [np_rng.standard_normal((6, 9)) * np.geomspace(0.1, 10, 6)[:, None] for _ in range(5)]
    rule = MuonEq("RC", phase=3, momentum=0.9, inner="exact", diagnostics=False)
    M = np.zeros((6, 9))
    for t, G in enumerate(Gs, start=1):
        M = 0.9 * M + G
        T = G + 0.9 * M
        r = (np.sum(T * T, axis=1) + 1e-8) ** -0.5
        c = (np.sum(T * T, axis=0) + 1e-8) ** -0.5
        E = r[:, None] * T * c[None, :] if t < 3 else r[:, None] * T
        np.testing.assert_allclose(rule.step(G).update, _msign(E), atol=1e-12)
    for mode in ("R", "C"):
        with pytest.raises(ValueError, match="phase"):
            MuonEq(mode, phase=3)
    with pytest.raises(ValueError, match="phase"):
        MuonEq("RC", phase=0)


def test_spc_rule_matches_the_official_iteration(np_rng):
    # Official zeropower_via_newtonschulz5_spc: X₀ = X (‖(XXᵀ)²‖_F + 1e-7)^{-1/4}, then Muon's
    # quintic, 5 steps, with no Frobenius normalization (re-derived here in float64).
    Gs = [np_rng.standard_normal((10, 24)) for _ in range(3)]
    rule = MuonEq("R", spc=True, momentum=0.95, diagnostics=False)
    M = np.zeros((10, 24))
    for G in Gs:
        M = 0.95 * M + G
        T = G + 0.95 * M
        X = _spc_oracle((np.sum(T * T, axis=1) + 1e-8)[:, None] ** -0.5 * T, 1e-7)
        for _ in range(5):
            A = X @ X.T
            X = MUON[0] * X + (MUON[1] * A + MUON[2] * A @ A) @ X
        # Five steps of slope ≤ 3.4 on roundoff of a few ulps: ≤ 1e-12.
        np.testing.assert_allclose(rule.step(G).update, X, atol=1e-12)
    with pytest.raises(ValueError, match="spc"):
        MuonEq("R", spc=True, inner="exact")
