"""Property-based checks of every public function: finite results that agree with a float64
oracle, or a ValueError naming the bad input — never a silent NaN, inf or zero.

The matrices are exact: ``G = A·B`` with small integer ``A`` (m×k) and ``B`` (k×n), so the rank
``k`` (0 included) holds exactly and every singular value of ``G`` is either 0 or far from it;
shapes run from 1×1 over 1×n and n×1 to tall and wide. They are scaled by ``c = 2^e`` (exact in
binary) with ``|e| ≤ 996`` in float64 (``c`` from 1e-300 to 1e300) and ``|e| ≤ 100`` in float32
(1e-30 to 1e30). The oracle is the float64 SVD of the unscaled integer matrix.

Tolerances follow perturbation theory: a backward-stable computation is exact for a matrix
within ``n·ε·σ₁`` of ``G``, which moves singular values by that much and the sign (its singular
vectors) by that much over ``σ_r`` — so sign-like results get ``TOL·n·ε·κ`` with ``κ = σ₁/σ_r``
(``κ²`` for routes through the Gram matrix), and comparisons whose bound exceeds 0.1 are not
made (the result is still checked to be finite and of the documented form).

``derandomize=True`` makes the examples the same on every run (CI is deterministic), and the
example counts keep the file to a few seconds.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import matsign  # noqa: E402
from matsign import exact, lowrank, metrics, spectral, transforms, updates  # noqa: E402

PROFILE = settings(max_examples=40, deadline=None, derandomize=True, database=None)

#: Headroom over the first-order rounding bound n·ε·κ: the constants of the backward-error
#: bounds of SVD/QR/matrix products on matrices of at most 9 rows or columns stay below this.
TOL = 200

EXPONENT = {"float64": 996, "float32": 100}


def _exact_rank(G) -> int:
    """Rank of an integer matrix by Gaussian elimination over the rationals."""
    rows = [[Fraction(int(v)) for v in row] for row in G]
    rank, columns = 0, len(rows[0]) if rows else 0
    for j in range(columns):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][j] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(rank + 1, len(rows)):
            factor = rows[i][j] / rows[rank][j]
            rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank])]
        rank += 1
    return rank


class Case:
    """An exact integer matrix ``G``, its scale ``c`` and dtype, and its float64 oracle."""

    def __init__(self, G, exponent, dtype):
        self.G, self.c, self.dtype = G, 2.0**exponent, dtype
        self.X = (G * self.c).astype(dtype)  # exact: integers times a power of two, in range
        self.m, self.n = G.shape
        self.U, self.s, self.Vt = np.linalg.svd(G, full_matrices=False)
        self.eps = float(np.finfo(dtype).eps)
        # The numerical rank in this dtype: the exactly nonzero σ above the default threshold
        # max(m, n)·ε·σ₁ (a tiny nonzero σ of an ill-conditioned G counts as zero in float32).
        threshold = max(self.m, self.n) * self.eps * self.s[0]
        self.rank = r = min(_exact_rank(G), int(np.count_nonzero(self.s > threshold)))
        self.sign = self.U[:, :r] @ self.Vt[:r]
        self.kappa = self.s[0] / self.s[r - 1] if r else 1.0

    def bound(self, power=1):
        """Rounding bound of a sign-like result (module docstring)."""
        return TOL * max(self.m, self.n) * self.eps * self.kappa**power

    def __repr__(self):
        return f"Case(G={self.G.tolist()}, c=2**{int(math.log2(self.c))}, dtype={self.dtype})"


@st.composite
def cases(draw, *, dtypes=("float64", "float32"), min_rank=0):
    side = st.one_of(st.just(1), st.integers(2, 9))
    m, n = draw(side), draw(side)
    # Drawn as a rank deficiency, so that the simplest example is of full rank.
    k = min(m, n) - draw(st.integers(0, min(m, n) - min(min_rank, m, n)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    G = (rng.integers(-3, 4, (m, k)) @ rng.integers(-3, 4, (k, n))).astype(np.float64)
    dtype = draw(st.sampled_from(dtypes))
    return Case(G, draw(st.integers(-EXPONENT[dtype], EXPONENT[dtype])), dtype)


def _numpy(x):
    return np.asarray(x, dtype=np.float64)


def _finite(x, what="result"):
    a = _numpy(x)
    assert np.all(np.isfinite(a)), f"{what} has NaN/inf: {a}"
    return a


def _close(actual, expected, atol, what="result"):
    event(f"compared {what}")  # --hypothesis-show-statistics counts the examples compared
    a = _finite(actual, what)
    err = float(np.max(np.abs(a - expected), initial=0.0))
    assert err <= atol, f"{what}: max error {err:.3g} > {atol:.3g}\n{a}\nexpected\n{expected}"


# ---------------------------------------------------------------- exact signs


@pytest.mark.parametrize("method", ["svd", "eigh"])
@PROFILE
@given(case=cases())
def test_msign_is_the_svd_sign_at_every_scale(method, case):
    X = exact.msign(case.X, method=method)
    assert X.dtype == case.X.dtype and X.shape == case.X.shape
    if case.rank == 0:
        event("zero matrix")
        assert np.all(_numpy(X) == 0), "the sign of the zero matrix is zero"
        return
    bound = case.bound(2 if method == "eigh" else 1)  # eigh works on GGᵀ: κ²
    if bound < 0.1:
        _close(X, case.sign, bound)
    else:
        _finite(X)


@pytest.mark.parametrize("route", ["newton_schulz", "gram_newton_schulz"])
@PROFILE
@given(case=cases())
def test_newton_schulz_singular_values_are_the_scalar_map_of_sigma(route, case):
    schedule = "polar_express"
    X = getattr(exact, route)(case.X, schedule)
    if case.rank == 0:
        assert np.all(_numpy(X) == 0)
        return
    # The contract of scalar_map: σ(NS(G)) = p(σ(G)/‖G‖_F), p the composed polynomial. Each of
    # the 5 steps is a few products, stable for σ ≤ 1: a few hundred ε per step (κ-free).
    predicted = np.sort(_numpy(exact.scalar_map(case.s / np.linalg.norm(case.s), schedule)))[::-1]
    # Gram NS forms GGᵀ once (relative error ~ ε·κ² on the small σ, which p maps near 0 anyway).
    atol = 1e3 * max(case.m, case.n) * case.eps * (case.kappa if route == "gram_newton_schulz" else 1.0)
    svals = np.linalg.svd(_finite(X), compute_uv=False)
    if atol < 0.1:
        _close(svals, predicted, atol)


@PROFILE
@given(case=cases(dtypes=("float64",)))
def test_converged_newton_schulz_reaches_the_sign_where_its_range_covers_sigma(case):
    with warnings.catch_warnings():
        # Documented: a RuntimeWarning when singular values below lower·σ₁ (zeros included) stay.
        warnings.simplefilter("ignore", RuntimeWarning)
        X = exact.converged_newton_schulz(case.X)
    if case.rank == 0:
        assert np.all(_numpy(X) == 0)
    elif case.s[case.rank - 1] / np.linalg.norm(case.s) > 1e-3:
        _close(X, case.sign, 1e-5)  # its stopping test: ‖XXᵀ − I‖ below ~6e-6 on the range
    else:
        _finite(X)


@PROFILE
@given(case=cases())
def test_qdwh_agrees_with_the_sign_on_the_range_of_G(case):
    X = exact.qdwh_sign(case.X)
    if case.rank == 0:
        assert np.all(_numpy(X) == 0)
        return
    # Documented: on rank-deficient input QDWH agrees with msign on the range of G only.
    Ur = case.U[:, : case.rank]
    bound = case.bound()
    if bound < 0.1:
        _close(Ur @ (Ur.T @ _finite(X)), case.sign, bound)
    else:
        _finite(X)


# ---------------------------------------------------------------- spectra


@PROFILE
@given(case=cases())
def test_spectral_diagnostics_match_the_float64_oracle(case):
    s, r, c, eps = case.s, case.rank, case.c, case.eps
    nk = max(case.m, case.n) * case.eps * TOL
    _close(np.asarray(spectral.singular_values(case.X)) / c, s, nk * s[0])
    _close(np.asarray(spectral.nuclear_norm(case.X)) / c, s.sum(), nk * s.sum())
    _close(np.asarray(spectral.spectral_norm(case.X)) / c, s[0], 1e-6 * s[0])  # power iteration, tol 1e-7
    stable = _finite(spectral.stable_rank(case.X))
    assert int(spectral.numerical_rank(case.X)) == r
    tail = _finite(spectral.tail_energy(case.X, 1))
    effective = _finite(spectral.effective_rank(case.X))
    if r == 0:
        assert stable == 0 and tail == 0 and effective == 0, "zero matrix: ranks and tails are 0"
        assert np.isnan(spectral.condition_number(case.X)), "documented: NaN for the zero matrix"
        assert np.isnan(spectral.power_law_exponent(case.X))
        return
    kept = s[:r]
    _close(stable, np.sum(s**2) / s[0] ** 2, nk * r)
    assert 1 - nk <= stable <= r + nk
    _close(_finite(spectral.nuclear_rank(case.X)), s.sum() ** 2 / np.sum(s**2), nk * r)
    _close(tail, np.sum(s[1:] ** 2) / np.sum(s**2), nk)
    p = kept / kept.sum()
    _close(effective, np.exp(-np.sum(p * np.log(p))), nk * r)
    assert 1 - nk <= effective <= r + nk
    if case.bound() < 0.1:
        _close(np.asarray(spectral.condition_number(case.X)) / case.kappa, 1.0, case.bound())
    exponent = spectral.power_law_exponent(case.X)
    if r < 2:
        assert np.isnan(exponent), "documented: NaN with fewer than two nonzero σ"
    elif case.bound() < 1e-3:
        x = np.log(np.arange(1, r + 1))
        y = np.log(kept)
        slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
        _close(exponent, -slope, 1e3 * case.bound())
    summary = spectral.spectral_summary(case.X)
    assert all(math.isfinite(v) for k, v in summary.items()
               if not (r < 2 and k == "power_law_exponent")), summary


# ---------------------------------------------------------------- metrics


@PROFILE
@given(case=cases(), shift=st.integers(-2, 2))
def test_metrics_are_scale_free_and_match_the_oracle(case, shift):
    Y = case.G
    X = Y + shift * np.ones_like(Y)
    error = metrics.relative_error((X * case.c).astype(case.dtype), case.X)
    if not np.any(Y):
        assert float(error) == (0.0 if not np.any(X) else math.inf), "documented: 0 or inf for Y = 0"
    else:
        _close(error, np.linalg.norm(X - Y) / np.linalg.norm(Y), 10 * case.eps * max(1.0, abs(shift) * 10))
    sign = case.sign.astype(case.dtype)
    alignment = metrics.alignment(sign, case.X)
    orthogonality = metrics.orthogonality_error(sign)
    _close(metrics.rank_floor(case.X, 1), math.sqrt(max(0, case.rank - 1)), case.eps)
    if case.rank == 0:
        assert np.isnan(alignment), "documented: NaN against a zero gradient"
        assert float(orthogonality) == 0
        return
    _close(alignment, 1.0, case.bound())
    _close(orthogonality, 0.0, case.bound() / case.kappa)  # the oracle sign, rounded to dtype


# ---------------------------------------------------------------- transforms


def _equilibrated(case, mode, eps, factor=1.0):
    """Float64 oracle of MuonEq's scaling of factor·c·G, in the log domain (no over- or underflow)."""
    G, log_c = case.G, math.log(case.c) + math.log(factor)
    with np.errstate(divide="ignore"):
        rows = np.log(np.sum(G * G, axis=1, keepdims=True)) + 2 * log_c
        cols = np.log(np.sum(G * G, axis=0, keepdims=True)) + 2 * log_c
    log_scale = log_c
    if mode in ("R", "RC"):
        log_scale = log_scale - 0.5 * np.logaddexp(rows, math.log(eps))
    if mode in ("C", "RC"):
        log_scale = log_scale - 0.5 * np.logaddexp(cols, math.log(eps))
    return G * np.exp(log_scale)


@pytest.mark.parametrize("mode", ["R", "C", "RC"])
@PROFILE
@given(case=cases())
def test_equilibrate_matches_the_log_domain_oracle(mode, case):
    expected = _equilibrated(case, mode, 1e-8)
    # Over/underflowing rows go through logaddexp and exp: ~|log(c²)| units of roundoff.
    atol = (1e3 + 4 * abs(math.log(case.c))) * case.eps * np.max(np.abs(expected), initial=0.0)
    finfo = np.finfo(case.dtype)
    if np.max(np.abs(expected), initial=0.0) > finfo.max or 0 < np.min(np.abs(expected[expected != 0]), initial=1.0) < finfo.tiny:
        return  # the exact result is not representable in this dtype (RC at extreme c in float32)
    _close(transforms.equilibrate(case.X, mode), expected, atol)


@PROFILE
@given(case=cases(), fraction=st.sampled_from([0.25, 0.5, 1.0]))
def test_dion2_selects_the_top_l1_slices_and_signs_them(case, fraction):
    axis, indices = transforms.select_slices(case.X, fraction)
    G = case.G if case.m <= case.n else case.G.T
    assert axis == (0 if case.m <= case.n else 1)
    k = math.ceil(fraction * G.shape[0])
    l1 = np.abs(G).sum(axis=1)
    # Ties go to the lower index: a stable sort on −L1.
    assert sorted(np.asarray(indices).tolist()) == sorted(np.argsort(-l1, kind="stable")[:k].tolist())
    X = transforms.dion2_msign(case.X, fraction)
    chosen = np.asarray(indices)
    U, s, Vt = np.linalg.svd(G[chosen], full_matrices=False)
    r = int(np.linalg.matrix_rank(G[chosen])) if chosen.size else 0
    expected = np.zeros_like(G)
    expected[chosen] = U[:, :r] @ Vt[:r]
    expected = expected if case.m <= case.n else expected.T
    kappa = s[0] / s[r - 1] if r else 1.0
    bound = TOL * max(case.m, case.n) * case.eps * kappa
    if bound < 0.1:
        _close(X, expected, bound)
    else:
        _finite(X)


@PROFILE
@given(case=cases(min_rank=1), rank=st.integers(1, 3))
def test_galore_projector_and_residual_ratio(case, rank):
    short = min(case.m, case.n)
    rank = min(rank, short)
    P = transforms.galore_projector(case.X, rank)
    basis = _finite(P.P)
    _close(basis.T @ basis, np.eye(rank), 10 * case.bound())
    chi = _finite(transforms.residual_ratio(case.X, P))
    assert 0 <= chi <= 1 + 1e-6
    s = case.s
    gap = s[rank - 1] - (s[rank] if rank < s.size else 0.0)
    if gap > 1e-3 * s[0] and case.bound() < 1e-3:
        # P spans the top-r singular vectors of the shorter side: χ = ‖σ_{>r}‖/‖σ‖.
        _close(chi, np.linalg.norm(s[rank:]) / np.linalg.norm(s), 1e3 * case.bound() * s[0] / gap)


# ---------------------------------------------------------------- low-rank signs


@PROFILE
@given(case=cases(), rank=st.integers(1, 3))
def test_range_finders_return_orthonormal_columns(case, rank):
    rank = min(rank, case.m, case.n)
    Q = _finite(lowrank.gaussian_range(case.X, rank, rng=0))
    _close(Q.T @ Q, np.eye(rank), 1e3 * case.eps)
    for strategy in lowrank.STRATEGIES:
        Q = _finite(lowrank.column_range(case.X, rank, strategy=strategy, rng=0), strategy)
        # Documented: orthonormal columns, then zero columns where the selection is dependent.
        norms = np.linalg.norm(Q, axis=0)
        live = norms > 0.5
        assert np.all(live[: live.sum()]), f"{strategy}: zero columns must come last, norms {norms}"
        _close(Q[:, live].T @ Q[:, live], np.eye(int(live.sum())), 1e3 * case.eps, strategy)
        assert np.all(norms[~live] == 0), f"{strategy}: dependent columns must be exactly zero, {norms}"


@PROFILE
@given(case=cases(), rank=st.integers(1, 3))
def test_lowrank_signs_match_the_oracle_within_their_basis(case, rank):
    rank = min(rank, case.m, case.n)
    Q = np.linalg.qr(np.random.default_rng(rank).standard_normal((case.m, rank)))[0]
    X = lowrank.lowrank_msign(case.X, Q.astype(case.dtype))
    B = Q.T @ case.G
    U, s, Vt = np.linalg.svd(B, full_matrices=False)
    r = int(np.sum(s > max(B.shape) * np.finfo(float).eps * s[0])) if s[0] > 0 else 0
    expected = Q @ (U[:, :r] @ Vt[:r])
    bound = TOL * max(case.m, case.n) * case.eps * (s[0] / s[r - 1] if r else 1.0)
    if bound < 0.1 and (r == 0 or s[r - 1] > 1e-6 * s[0]):  # a clear numerical rank of QᵀG
        _close(X, expected, bound)
    else:
        _finite(X)
    sketched = _finite(lowrank.sketched_msign(case.X, rank, rng=0))
    svals = np.linalg.svd(sketched, compute_uv=False)
    assert np.all((np.abs(svals - 1) < 1e-2) | (svals < 1e-2)), f"σ of a sign are 0 or 1: {svals}"
    oracle = lowrank.oracle_lowrank_sign(case.X, rank)
    k = min(rank, case.rank)
    s = case.s
    if k == 0:
        assert np.all(_numpy(oracle) == 0)
    elif (k == case.rank or s[k - 1] - s[k] > 1e-3 * s[0]) and case.bound() < 1e-3:
        _close(oracle, case.U[:, :k] @ case.Vt[:k], 1e3 * case.bound() * s[0] / (s[k - 1] - (s[k] if k < s.size else 0)))
    else:
        _finite(oracle)


# ---------------------------------------------------------------- update rules


RULES = {
    "muon": lambda: updates.Muon(),
    "muoneq": lambda: updates.MuonEq("RC"),
    "lowrank_muon": lambda: updates.LowRankMuon(1, rng=0),
    "dion": lambda: updates.Dion(1, rng=0),
    "dion2": lambda: updates.Dion2(0.5, rng=0),
    "galore_muon": lambda: updates.GaLoreMuon(1),
    "gum": lambda: updates.GUM(1, rng=0),
    "mucon": lambda: updates.MuCon(),
    "normuon": lambda: updates.NorMuon(),
    "mud": lambda: updates.MUD(),
}


def test_every_registered_update_rule_is_covered():
    assert set(RULES) == set(updates.UPDATE_RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(case=cases())
def test_an_update_rule_step_is_scale_free_and_finite(rule, case):
    # One step from a fresh state: the momentum buffer is c·G, and every rule's update is the
    # (approximate, randomized with a fixed seed) sign of something linear in it: scale-free.
    step = RULES[rule]().step(case.X)
    update = _finite(step.update, f"{rule} update")
    for name, value in step.diagnostics.items():
        if isinstance(value, float):
            assert not math.isinf(value), f"{rule}: diagnostic {name} is inf"
    if case.rank == 0:
        assert np.all(update == 0), f"{rule}: a zero gradient gives a zero update"
    if rule == "muoneq":
        # Not scale-free: eps = 1e-8 in (‖row‖² + eps)^(−1/2) matters below scale 1e-4. The
        # oracle is NS of the log-domain float64 scaling of the first Nesterov input (1 + μ)·c·G;
        # Muon's quintic amplifies an input error up to ~500-fold over its 5 steps (3.4445⁵),
        # and the log domain adds |log c²|.
        if case.dtype == "float64":
            expected = _numpy(matsign.newton_schulz(_equilibrated(case, "RC", 1e-8, factor=1.95)))
            _close(update, expected, 500 * TOL * max(case.m, case.n) * case.eps * (1 + abs(math.log(case.c))))
        return
    if rule == "mucon":
        # Not scale-free: τ = 1 is absolute. Oracle: the float64 SVD of the first Nesterov
        # input 1.95·X clipped at 1; both SVDs err by eps·σ₁(T) absolute, and the clipped
        # directions by κ·eps as msign's do.
        if case.dtype == "float64":
            U, s, Vt = np.linalg.svd(1.95 * np.asarray(case.X), full_matrices=False)
            expected = (U * np.minimum(s, 1.0)) @ Vt
            _close(update, expected, case.bound() * max(1.0, 1.95 * case.c * case.s[0]))
        return
    unit = _numpy(RULES[rule]().step(case.G.astype(case.dtype)).update)
    # Newton–Schulz-based updates are scale-free up to rounding; randomized rules use the same seed.
    _close(update, unit, 1e3 * max(case.m, case.n) * case.eps * max(1.0, np.abs(unit).max(initial=0.0))
           * (case.kappa if rule in ("dion", "lowrank_muon", "gum") else 1.0), f"{rule} update vs unit scale")


# ---------------------------------------------------------------- scalar functions and names


@PROFILE
@given(sigma=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8),
       schedule=st.sampled_from(sorted(exact.SCHEDULES)))
def test_scalar_map_is_finite_and_odd_on_the_unit_interval(sigma, schedule):
    sigma = np.array(sigma)
    mapped = _finite(matsign.scalar_map(sigma, schedule))
    assert np.all(mapped[sigma == 0] == 0)
    assert np.all(np.abs(mapped) < 2), mapped


@PROFILE
@given(steps=st.integers(1, 6), lower=st.floats(1e-4, 0.5))
def test_polar_express_schedule_is_finite_and_maps_its_interval_near_one(steps, lower):
    schedule = matsign.polar_express_schedule(steps, lower=lower)
    assert np.all(np.isfinite(np.asarray(schedule.coefficients, dtype=float)))
    sigma = np.geomspace(lower, 1.0, 50)
    mapped = _finite(matsign.scalar_map(sigma / schedule.prescale if schedule.prescale else sigma, schedule))
    assert np.all(mapped > 0)


BAD_VALUES = {
    "NaN entry": np.array([[1.0, np.nan], [0.0, 1.0]]),
    "inf entry": np.array([[1.0, np.inf], [0.0, 1.0]]),
    "0-D": np.array(1.0),
    "1-D": np.ones(3),
    "empty": np.ones((0, 3)),
}

#: Every public function that takes a matrix, with the options that make it run.
MATRIX_FUNCTIONS = {
    "msign": matsign.msign,
    "newton_schulz": matsign.newton_schulz,
    "gram_newton_schulz": exact.gram_newton_schulz,
    "converged_newton_schulz": exact.converged_newton_schulz,
    "qdwh_sign": exact.qdwh_sign,
    "singular_values": matsign.singular_values,
    "stable_rank": matsign.stable_rank,
    "condition_number": matsign.condition_number,
    "effective_rank": matsign.effective_rank,
    "numerical_rank": matsign.numerical_rank,
    "nuclear_norm": spectral.nuclear_norm,
    "nuclear_rank": spectral.nuclear_rank,
    "spectral_norm": spectral.spectral_norm,
    "power_law_exponent": spectral.power_law_exponent,
    "tail_energy": lambda G: spectral.tail_energy(G, 1),
    "spectral_summary": spectral.spectral_summary,
    "relative_error": lambda G: matsign.relative_error(G, G),
    "alignment": lambda G: matsign.alignment(G, G),
    "orthogonality_error": matsign.orthogonality_error,
    "rank_floor": lambda G: matsign.rank_floor(G, 1),
    "equilibrate": matsign.equilibrate,
    "equilibration_factors": transforms.equilibration_factors,
    "select_slices": lambda G: matsign.select_slices(G, 0.5),
    "dion2_msign": lambda G: transforms.dion2_msign(G, 0.5),
    "galore_projector": lambda G: transforms.galore_projector(G, 1),
    "gaussian_range": lambda G: matsign.gaussian_range(G, 1),
    "column_range": lambda G: matsign.column_range(G, 1),
    "lowrank_msign": lambda G: matsign.lowrank_msign(G, np.eye(2)[:, :1]),
    "sketched_msign": lambda G: matsign.sketched_msign(G, 1),
    "oracle_lowrank_sign": lambda G: lowrank.oracle_lowrank_sign(G, 1),
    **{f"{name}.step": (lambda make: lambda G: make().step(G))(make) for name, make in RULES.items()},
}


def test_every_top_level_function_is_covered():
    functions = {name for name in matsign.__all__ if callable(getattr(matsign, name))}
    # Not matrix functions: names in, schedules or a generator of records out (tested above and
    # in test_io_untrusted.py); predict takes singular values (tests/test_predict.py).
    elsewhere = {"get_method", "get_schedule", "polar_express_schedule", "scalar_map", "load_gradients", "predict"}
    assert functions - elsewhere <= set(MATRIX_FUNCTIONS), functions - elsewhere - set(MATRIX_FUNCTIONS)


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
@pytest.mark.parametrize("name", sorted(MATRIX_FUNCTIONS))
def test_bad_input_is_a_value_error(name, bad):
    with pytest.raises(ValueError, match=r"\bG\b|\bM\b|\bX\b|matrix|entries|finite|shape|empty|dimension"):
        MATRIX_FUNCTIONS[name](BAD_VALUES[bad])


@pytest.mark.parametrize("lookup", [matsign.get_method, matsign.get_schedule])
def test_unknown_names_are_value_errors(lookup):
    with pytest.raises(ValueError, match="unknown"):
        lookup("no-such-name")


@PROFILE
@given(case=cases(min_rank=1), rank=st.integers(1, 3))
def test_orthonormalize_and_select_columns(case, rank):
    rank = min(rank, case.m, case.n)
    Q = _finite(lowrank.orthonormalize(case.X[:, :rank] if case.n >= rank else case.X, "qr"))
    _close(Q.T @ Q, np.eye(Q.shape[1]), 1e3 * case.eps)
    for strategy in lowrank.STRATEGIES:
        chosen = np.asarray(lowrank.select_columns(case.X, rank, strategy=strategy, rng=0))
        # Columns of the wide orientation: rank distinct indices below max(m, n).
        assert chosen.shape == (rank,) and len(set(chosen.tolist())) == rank, (strategy, chosen)
        assert np.all((0 <= chosen) & (chosen < max(case.m, case.n))), (strategy, chosen)


FLOPS = {
    "newton_schulz_flops": lambda m, n: exact.newton_schulz_flops(m, n, "muon"),
    "gram_newton_schulz_flops": exact.gram_newton_schulz_flops,
    "converged_newton_schulz_flops": exact.converged_newton_schulz_flops,
    "qdwh_flops": lambda m, n: exact.qdwh_flops(m, n, 2, 3),
}


@pytest.mark.parametrize("name", sorted(FLOPS))
@PROFILE
@given(m=st.integers(-2, 10**6), n=st.integers(-2, 10**6))
def test_flop_counts_are_positive_or_refuse_the_size(name, m, n):
    if m < 1 or n < 1:
        with pytest.raises(ValueError, match=r"\b[mn]\b must be a positive integer"):
            FLOPS[name](m, n)
        return
    flops = FLOPS[name](m, n)
    assert math.isfinite(flops) and flops > 0
    # Every count has the cubic term of a product with the short side twice: ≥ 2·m·n·min(m, n).
    assert flops >= 2 * m * n * min(m, n) - 1e-9 * flops
