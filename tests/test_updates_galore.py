"""GaLore-Muon and GUM: projector refresh every K steps, the two branches, residual ratio χ."""

import numpy as np
import pytest

from matsign.updates import GUM, GaLoreMuon


def _gradients(shape, count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(count)]


def _svd_sign(X):
    """U sign(Σ) Vᵀ, singular values below 1e-10·σ₁ mapped to zero (the full-rank branch's
    momentum lies in the complement of P, so it has rank ≤ min(m, n) − r)."""
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    return (U * (s > 1e-10 * s[0])) @ Vt


def _top_left(G, r):
    return np.linalg.svd(G)[0][:, :r]


@pytest.mark.parametrize("rule_class", [GaLoreMuon, GUM])
def test_projector_is_refreshed_exactly_at_multiples_of_the_period(rule_class):
    K, r = 3, 2
    rule = rule_class(r, period=K, inner="exact", **({"rng": 0} if rule_class is GUM else {}))
    previous = None
    for t, G in enumerate(_gradients((6, 9), 10), start=1):
        rule.step(G)
        refreshed = rule.projector is not previous
        assert refreshed == ((t - 1) % K == 0), t
        if refreshed:  # the top-r left singular subspace of this step's gradient
            P, U = rule.projector.P, _top_left(G, r)
            np.testing.assert_allclose(P @ P.T, U @ U.T, atol=1e-12)
        previous = rule.projector


@pytest.mark.parametrize("shape", [(6, 9), (9, 6)])
def test_galore_muon_follows_its_recurrence(shape):
    beta, r = 0.9, 2
    rule = GaLoreMuon(r, period=4, momentum=beta, inner="exact")
    R = None
    for G in _gradients(shape, 9, seed=1):
        out = rule.step(G)
        P = rule.projector.P
        left = shape[0] <= shape[1]
        low = P.T @ G if left else G @ P
        R = low if R is None else beta * R + low  # kept, unrotated, across refreshes
        expected = P @ _svd_sign(R) if left else _svd_sign(R) @ P.T
        np.testing.assert_allclose(out.update, expected, atol=1e-12)
        residual = G - (P @ P.T @ G if left else G @ P @ P.T)
        chi = np.linalg.norm(residual) / np.linalg.norm(G)
        assert out.diagnostics["residual_ratio"] == pytest.approx(chi, rel=1e-12)
        assert out.diagnostics["relative_error"] < 1e-12  # exact inner: up(msign(R)) exactly


def test_residual_ratio_at_a_refresh_is_the_tail_energy_and_grows_as_the_projector_ages():
    rng = np.random.default_rng(2)
    U, V = np.linalg.qr(rng.standard_normal((10, 10)))[0], np.linalg.qr(rng.standard_normal((14, 10)))[0]
    sigma = np.array([10.0, 8.0, 1.0, 0.5, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1])
    rule = GaLoreMuon(2, period=10)
    chis = []
    for t in range(5):
        theta = 0.1 * t  # the top pair turns away from the projector taken at t = 0
        c, s = np.cos(theta), np.sin(theta)
        Ut = U.copy()
        Ut[:, 0], Ut[:, 2] = c * U[:, 0] + s * U[:, 2], -s * U[:, 0] + c * U[:, 2]
        chis.append(rule.step(Ut @ np.diag(sigma) @ V.T).diagnostics["residual_ratio"])
    tail = np.sqrt(np.sum(sigma[2:] ** 2) / np.sum(sigma**2))
    assert chis[0] == pytest.approx(tail, rel=1e-10)
    assert chis == sorted(chis) and chis[-1] > 2 * chis[0]


@pytest.mark.parametrize("q", [0.2, 0.5])
def test_gum_branch_frequency_is_q(q):
    rule = GUM(1, q, period=1, inner="exact", rng=4)
    n = 600
    full = [rule.step(G).diagnostics["full_rank"] for G in _gradients((4, 5), n, seed=3)]
    # Binomial(600, q): five standard deviations is at most 0.102.
    assert abs(np.mean(full) - q) < 5 * np.sqrt(q * (1 - q) / n)


def test_gum_draws_one_branch_per_period_and_restarts_the_momentum():
    K, beta, q, r = 4, 0.8, 0.5, 2
    rule = GUM(r, q, period=K, momentum=beta, inner="exact", rng=6)
    branches = []
    R = None
    for t, G in enumerate(_gradients((6, 9), 24, seed=5), start=1):
        out = rule.step(G)
        P = rule.projector.P
        if (t - 1) % K == 0:
            R = None
        if rule.branch == "low_rank":
            estimate = P.T @ G / (1 - q)
            R = estimate if R is None else beta * R + estimate
            expected = P @ _svd_sign(R)
            target = P @ R
        else:
            estimate = (G - P @ (P.T @ G)) / q
            R = estimate if R is None else beta * R + estimate
            expected, target = _svd_sign(R), R
        np.testing.assert_allclose(out.update, expected, atol=1e-12)
        np.testing.assert_allclose(rule.buffer, R, rtol=1e-14, atol=1e-14)
        s = np.linalg.svd(target, compute_uv=False)
        assert out.diagnostics["alignment"] == pytest.approx(np.sum(target * expected) / s.sum(), rel=1e-10)
        branches.append(rule.branch)
    per_period = [set(branches[i : i + K]) for i in range(0, len(branches), K)]
    assert all(len(b) == 1 for b in per_period)
    assert {"low_rank", "full_rank"} == set().union(*per_period)  # this seed draws both


def test_gum_update_does_not_depend_on_the_importance_weights_within_a_period():
    grads = _gradients((6, 9), 4, seed=7)
    a, b = GUM(2, 0.3, period=4, inner="exact", rng=1), GUM(2, 0.7, period=4, inner="exact", rng=1)
    for G in grads:
        ua, ub = a.step(G).update, b.step(G).update
        if a.branch == b.branch:
            np.testing.assert_allclose(ua, ub, atol=1e-12)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="q"):
        GUM(2, 1.0)
    with pytest.raises(ValueError, match="period"):
        GaLoreMuon(2, period=0)
    with pytest.raises(ValueError, match="rank"):
        GaLoreMuon(7).step(np.ones((6, 9)))


def test_gum_full_rank_exact_sign_stays_out_of_the_projector_span():
    """Regression: with σ₁/σ_{r+1} large, the rounding noise (≈ eps·σ₁) that the full-rank
    residual keeps inside span(P) lies above msign's threshold relative to σ_{r+1}; unprojected,
    it became an extra unit singular value. The oracle is U_⊥V_⊥ᵀ, of rank min(m, n) − r."""
    from matsign.registry import METHODS
    from matsign.synthetic import with_spectrum

    r = 5
    G = with_spectrum(np.logspace(0, -7, 40), 40, 60, rng=3)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    oracle = U[:, r:] @ Vt[r:]
    full_rank = 0
    for seed in range(8):
        rule = GUM(r, q=0.5, period=10, inner="exact", rng=seed)
        update = rule.step(G).update
        method = METHODS["gum"](G, rng=seed, rank=r, q=0.5)
        if rule.branch != "full_rank":
            continue
        full_rank += 1
        for X in (update, method):
            # Float64 SVD of a 40 × 60 matrix whose gaps are ≥ 1.5× apart: subspaces to ~1e-12.
            np.testing.assert_allclose(X, oracle, atol=1e-9)
    assert full_rank >= 2  # the seeds draw the branch under test


@pytest.mark.parametrize("rule_class", [GaLoreMuon, GUM])
def test_without_diagnostics_a_step_forms_one_full_size_product(rule_class):
    """Within a period the step lifts one r-dimensional matrix to m × n, the direction; the
    lifted momentum (the diagnostics' target) is formed only when diagnostics are on."""
    torch = pytest.importorskip("torch")
    from torch.overrides import TorchFunctionMode

    m, n, r = 12, 20, 3

    class FullSizeProducts(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if getattr(func, "__name__", "") in ("matmul", "__matmul__", "addmm") and tuple(out.shape) == (m, n):
                self.count += 1
            return out

    counts = {}
    for diagnostics in (False, True):
        rule = rule_class(r, period=10, inner="exact", diagnostics=diagnostics,
                          **({"q": 0.01, "rng": 0} if rule_class is GUM else {}))
        first, second = (torch.as_tensor(G) for G in _gradients((m, n), 2))
        rule.step(first)
        assert rule_class is GaLoreMuon or rule.branch == "low_rank"
        with FullSizeProducts() as products:
            rule.step(second)  # within the period: no projector refresh
        counts[diagnostics] = products.count
    assert counts[False] == 1
    assert counts[True] > 1  # target, PPᵀG of the residual ratio, the exact sign's UVᵀ
