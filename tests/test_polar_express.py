"""Tests of the Polar Express greedy minimax coefficient generator.

Oracle style: expected numbers are the published lists (``reference.md`` section 2;
NoahAmsel/PolarExpress; microsoft/dion; NVIDIA-NeMo Emerging-Optimizers), typed
in here, never values produced by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from matsign.exact.polar_express import minimax_quintic, polar_express_coefficients

# microsoft/dion and modded-nanogpt: lower 1e-3, 5 steps, safety 0.02, cushion 0.02.
PUBLISHED_5 = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)

# CANS as shipped by NVIDIA-NeMo Emerging-Optimizers, to 4 decimals.
CANS_FIRST = (8.4703, -25.1081, 18.6293)
CANS_LAST = (2.2737, -1.6447, 0.4162)

# The Polar Express paper's raw 8-step list (NoahAmsel/PolarExpress), before the
# post-hoc division by 1.01^(1, 3, 5) of all but the last triple.
PAPER_RAW_8 = (
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),
)
# The cushion constant of the official code that reproduces PAPER_RAW_8.
PAPER_CUSHION = 0.02407327424182761

TAYLOR = (1.875, -1.25, 0.375)


def _p(coeffs, s):
    a, b, c = coeffs
    return a * s + b * s**3 + c * s**5


def _intervals(coefficients, lower):
    """The interval [l, u] each step is applied to, per the documented update."""
    lo, hi = lower, 1.0
    out = []
    for coeffs in coefficients:
        out.append((lo, hi))
        lo = _p(coeffs, lo)
        hi = 2.0 - lo
    return out


def _max_rel_diff(got, want):
    return max(abs(g - w) / abs(w) for gt, wt in zip(got, want) for g, w in zip(gt, wt))


def test_five_step_list_matches_published():
    got = polar_express_coefficients(5, lower=1e-3, safety=0.02, cushion=0.02)
    assert len(got) == 5
    assert _max_rel_diff(got, PUBLISHED_5) <= 1e-10


def test_defaults_are_the_published_five_step_parameters():
    assert polar_express_coefficients(5) == polar_express_coefficients(
        5, lower=1e-3, safety=0.02, cushion=0.02
    )


def test_cans_first_and_last_triples():
    got = polar_express_coefficients(5, lower=1e-3, safety=0.0, cushion=0.0)
    np.testing.assert_allclose(got[0], CANS_FIRST, rtol=0, atol=5e-5)
    np.testing.assert_allclose(got[-1], CANS_LAST, rtol=0, atol=5e-5)


# How closely a regenerated Remez step can match a list computed on another platform. Each step
# solves the 4 × 4 equioscillation system [t, t³, t⁵, ±1]·(a, b, c, E) = 1 on its nodes; LU in
# float64 gives (a, b, c) to about κ·u (u = 2⁻⁵³), and different LAPACK/OpenBLAS builds round
# differently within that. Steps 1–6 fit intervals [ℓ, u] with ℓ/u ≤ 0.78: κ ≤ 211, κ·u ≤ 2.3e-14,
# so they must agree to 1e-12. Step 7 fits [0.99882, 1.00118] (ℓ/u = 1 − 2.4e-3): its four nodes
# nearly coincide and κ = 2.0e6, κ·u = 2.2e-10. Against a 50-digit Remez on the same interval
# (test_seventh_step_is_theminimax_quintic) the paper's list is off by 2.5e-11 and NumPy 2.4's
# LU by 3.9e-11 (on opposite sides, hence 6.4e-11 between them); any two platforms agree to
# 2κ·u = 4.5e-10. A wrong coefficient (a wrong cushion, step or rescaling) is off by ≥ 1e-6.
STEP_SEVEN_RTOL = 5e-10


def test_paper_raw_eight_step_list():
    got = polar_express_coefficients(8, lower=1e-3, safety=0.0, cushion=PAPER_CUSHION)
    # Steps 1-6 are well-conditioned Remez fits and agree to rounding (see STEP_SEVEN_RTOL).
    assert _max_rel_diff(got[:6], PAPER_RAW_8[:6]) <= 1e-12
    assert _max_rel_diff(got[6:7], PAPER_RAW_8[6:7]) <= STEP_SEVEN_RTOL
    # The paper ends on the bare Taylor quintic; the generator scales it to
    # u = 2 - l = 1 + O(1e-9), hence the looser tolerance.
    np.testing.assert_allclose(got[7], PAPER_RAW_8[7], rtol=1e-8, atol=0)


def _remez_50_digits(t0):
    """The minimax odd quintic approximating 1 on ``[t0, 1]``, by Remez exchange in 50 digits."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        t0 = mpmath.mpf(t0)
        q, r = (3 * t0 + 1) / 4, (t0 + 3) / 4
        for _ in range(40):  # quadratic convergence: far more than 50 digits need
            rows = [[t, t**3, t**5, sign] for t, sign in zip((t0, q, r, 1), (1, -1, 1, -1))]
            a, b, c, _ = mpmath.lu_solve(mpmath.matrix(rows), mpmath.matrix([1, 1, 1, 1]))
            root = mpmath.sqrt(9 * b * b - 20 * a * c)
            q, r = mpmath.sqrt((-3 * b - root) / (10 * c)), mpmath.sqrt((-3 * b + root) / (10 * c))
        return float(a), float(b), float(c)


def test_seventh_step_is_theminimax_quintic():
    # The ill-conditioned step of STEP_SEVEN_RTOL: within κ·u = 2.2e-10 of the exact fit on the
    # same float64 interval (the cushion is inactive there: ℓ > cushion·u).
    got = polar_express_coefficients(8, lower=1e-3, safety=0.0, cushion=PAPER_CUSHION)
    lo, hi = _intervals(got, 1e-3)[6]
    a, b, c = _remez_50_digits(lo / hi)
    exact = (a / hi, b / hi**3, c / hi**5)
    assert _max_rel_diff(got[6:7], [exact]) <= 2.5e-10
    assert _max_rel_diff(PAPER_RAW_8[6:7], [exact]) <= 2.5e-10


def test_return_type():
    got = polar_express_coefficients(np.int64(3))
    assert isinstance(got, tuple) and len(got) == 3
    for triple in got:
        assert isinstance(triple, tuple) and len(triple) == 3
        assert all(type(x) is float for x in triple)


def _extremal_runs(err, tol):
    """Sign of each contiguous run of grid points where |err| is within tol of its max."""
    near = np.abs(err) >= np.abs(err).max() - tol
    starts = np.flatnonzero(near & ~np.concatenate([[False], near[:-1]]))
    return [np.sign(err[i]) for i in starts]


@pytest.mark.parametrize("step", range(5))
def test_equioscillation_without_cushion_or_safety(step):
    coefficients = polar_express_coefficients(5, lower=1e-3, safety=0.0, cushion=0.0)
    coeffs = coefficients[step]
    lo, hi = _intervals(coefficients, 1e-3)[step]
    assert 0.0 < lo < hi
    grid = np.linspace(lo, hi, 2_000_001)
    err = _p(coeffs, grid) - 1.0
    signs = _extremal_runs(err, 1e-9)
    assert len(signs) >= 4
    # Alternating, starting below 1 at the left end.
    assert signs[0] == -1.0
    assert all(s * t < 0 for s, t in zip(signs, signs[1:]))
    # The band is symmetric about 1: p([l, u]) = [1 - E, 1 + E], E = 1 - p(l).
    band = 1.0 - _p(coeffs, lo)
    assert 0.0 < band < 1.0
    assert err.max() == pytest.approx(band, abs=1e-9)
    assert err.min() == pytest.approx(-band, abs=1e-12)


@pytest.mark.parametrize("step", range(5))
def test_cushioned_steps_straddle_one_symmetrically(step):
    coefficients = polar_express_coefficients(5, lower=1e-3, safety=0.0, cushion=0.02)
    coeffs = coefficients[step]
    lo, hi = _intervals(coefficients, 1e-3)[step]
    grid = np.linspace(lo, hi, 200_001)
    values = _p(coeffs, grid)
    p_lo, p_hi = _p(coeffs, lo), _p(coeffs, hi)
    assert p_lo + p_hi == pytest.approx(2.0, abs=1e-12)
    assert values.min() >= p_lo - 1e-12
    assert values.max() <= p_hi + 1e-9


def test_safety_divides_all_but_the_last_step():
    eps = 0.5
    plain = polar_express_coefficients(1, safety=0.0)
    assert polar_express_coefficients(1, safety=eps) == plain
    first = polar_express_coefficients(2, safety=eps)[0]
    want = tuple(x / (1.0 + eps) ** (2 * k + 1) for k, x in enumerate(plain[0]))
    np.testing.assert_allclose(first, want, rtol=1e-14, atol=0)


def test_taylor_fallback_when_interval_degenerates():
    # l / u within 5e-6 of 1: the Taylor quintic itself, for u = 1.
    assert polar_express_coefficients(2, lower=1.0 - 1e-7, safety=0.0) == (TAYLOR, TAYLOR)
    got = polar_express_coefficients(2, lower=1.0 - 1e-7, safety=0.02)
    want = (1.875 / 1.02, -1.25 / 1.02**3, 0.375 / 1.02**5)
    np.testing.assert_allclose(got[0], want, rtol=1e-15, atol=0)


def test_taylor_fallback_is_scaled_to_u():
    # p(s) = T(s / u): coefficient k divided by u^(2k+1); exact for u = 2.
    assert minimax_quintic(2.0 * (1.0 - 1e-7), 2.0) == (0.9375, -0.15625, 0.01171875)


@pytest.mark.parametrize("gap", [1e-4, 2e-5, 6e-6])
def test_remez_approaches_taylor_as_interval_shrinks(gap):
    got = polar_express_coefficients(1, lower=1.0 - gap)[0]
    np.testing.assert_allclose(got, TAYLOR, rtol=0, atol=4 * gap)


@pytest.mark.parametrize("steps", [0, -1, 2.5, True, "5", None])
def test_bad_steps(steps):
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        polar_express_coefficients(steps)


@pytest.mark.parametrize("lower", [0.0, 1.0, -1e-3, 1.5, math.nan, math.inf])
def test_bad_lower(lower):
    with pytest.raises(ValueError, match="lower"):
        polar_express_coefficients(5, lower=lower)


@pytest.mark.parametrize("safety", [-0.01, math.nan, math.inf])
def test_bad_safety(safety):
    with pytest.raises(ValueError, match="safety"):
        polar_express_coefficients(5, safety=safety)


@pytest.mark.parametrize("cushion", [-0.01, 1.0, 2.0, math.nan])
def test_bad_cushion(cushion):
    with pytest.raises(ValueError, match="cushion"):
        polar_express_coefficients(5, cushion=cushion)


@pytest.mark.parametrize("name", ["lower", "safety", "cushion"])
def test_non_numeric_parameters(name):
    with pytest.raises(ValueError, match=f"{name} must be a (finite )?number"):
        polar_express_coefficients(5, **{name: "0.1"})


# Ratios l/u just below the 1 − 5e-6 cut-off where one machine's LAPACK left the Remez exchange
# with p' lacking two real critical points ("math domain error" before the fallback); other
# builds break down at other such ratios, or fit a quintic within rounding of Taylor's here.
BREAKDOWN_RATIOS = (0.9999932445611402, 0.9999941222805702, 0.9999946586646661, 0.9999949512378095)


@pytest.mark.parametrize("ratio", BREAKDOWN_RATIOS)
def test_near_the_cut_off_the_step_is_taylor_to_rounding(ratio):
    got = minimax_quintic(ratio, 1.0)
    # Whichever way this build's LAPACK goes (the fit or the fallback), the step is the Taylor
    # quintic up to the 4 × 4 system's conditioning (κ ≈ 1e10 here, so coefficients agree to
    # ~1e-5), and its error on [t0, 1] is O((1 − t0)³) ≈ 1e-15, within rounding of the
    # (unreachable) minimax error.
    assert np.allclose(got, TAYLOR, rtol=0, atol=1e-4)
    s = np.linspace(ratio, 1.0, 1001)
    assert np.max(np.abs(_p(got, s) - 1.0)) <= 1e-14


def test_exchange_breakdown_falls_back_to_taylor(monkeypatch):
    # Force the breakdown on any LAPACK: a solve whose p' = a + 3bt² + 5ct⁴ has no real critical
    # point (9b² − 20ac < 0), as rounding produces just below the cut-off.
    def broken_solve(system, rhs):
        return np.array([1.875, -1.25, 0.3751, 0.0])

    monkeypatch.setattr(np.linalg, "solve", broken_solve)
    assert minimax_quintic(0.99999, 1.0) == TAYLOR
    assert minimax_quintic(0.99999, 2.0) == (TAYLOR[0] / 2.0, TAYLOR[1] / 8.0, TAYLOR[2] / 32.0)


def test_authors_twelve_step_example_converges():
    # The Polar Express authors' example: l = 1e-4, 1% safety, 2% cushion, 12 steps. Its
    # interval ratio ends just under the cut-off, where the exchange is unstable.
    got = polar_express_coefficients(12, lower=1e-4, safety=0.01, cushion=0.02)
    assert len(got) == 12 and all(math.isfinite(x) for triple in got for x in triple)
    s = np.geomspace(1e-4, 1.0, 100_001)
    for coeffs in got:
        s = _p(coeffs, s)
    # The composed map sends [l, 1] into the final [l_K, 2 − l_K] the generator tracks
    # (claimed error 1 − l_K, plus rounding); after 12 steps from 1e-4 that is rounding itself.
    last_lo = _intervals(got, 1e-4)[-1][0]
    claimed = 1.0 - _p(got[-1], last_lo)
    assert np.max(np.abs(s - 1.0)) <= max(claimed, 0.0) + 1e-14
    assert np.max(np.abs(s - 1.0)) <= 1e-13
