"""No silent zero, inf or NaN at extreme scales: results for ``c·G`` against the float64 oracle of ``G``.

Each quantity here is scale invariant (stable rank, Dion's update, MuonEq's update, the
"R"/"C" equilibration with a negligible ``eps``) or scales in a known way ("RC": by ``1/c``).
The scales are chosen where the unguarded code failed: squares of entries past
``√max`` overflow (1e156 in float64, 1e20 in float32) and squares below ``√tiny`` underflow
(1e-300 in float64, 1e-25 in float32).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from matsign import alignment, condition_number, effective_rank, equilibrate, msign, newton_schulz, predict, stable_rank
from matsign.bounds import hmt_frobenius_bound, lowrank_alignment_bound, optimal_residual
from matsign.registry import METHODS, REQUIRED
from matsign.spectral import nuclear_rank, power_law_exponent
from matsign.transforms.equilibration import equilibration_factors
from matsign.updates import Dion, MuonEq

# Scales per dtype, each past the over- or underflow of a square of the entries.
SCALES = {"float64": (1e-300, 1e-150, 1e156, 1e200, 1e300), "float32": (1e-30, 1e-25, 1e20, 1e25, 1e30)}
# c·G is rounded once to the dtype (relative 1.1e-16 / 6e-8) and the computation adds a few
# roundings of the same size on a well-conditioned 6×9 matrix: 100 units of roundoff suffice.
RTOL = {"float64": 1e-13, "float32": 1e-5}
CASES = [(dtype, c) for dtype, scales in SCALES.items() for c in scales]


def _gradient():
    return np.random.default_rng(7).standard_normal((6, 9))


@pytest.mark.parametrize("dtype, c", CASES)
def test_stable_rank_is_scale_free(backend, dtype, c):
    G = _gradient()
    s = np.linalg.svd(G, compute_uv=False)
    expected = np.sum(s**2) / s[0] ** 2
    result = stable_rank(backend.asarray(G * c, dtype=dtype))
    backend.assert_close(result, expected, rtol=RTOL[dtype], dtype=dtype)


@pytest.mark.parametrize("dtype, c", CASES)
def test_nuclear_rank_is_scale_free(backend, dtype, c):
    G = _gradient()
    s = np.linalg.svd(G, compute_uv=False)
    expected = np.sum(s) ** 2 / np.sum(s**2)
    result = nuclear_rank(backend.asarray(G * c, dtype=dtype))
    backend.assert_close(result, expected, rtol=RTOL[dtype], dtype=dtype)


def test_stable_rank_of_a_stack_mixes_scales_and_zero(backend):
    G = _gradient()
    s = np.linalg.svd(G, compute_uv=False)
    expected = np.sum(s**2) / s[0] ** 2
    result = stable_rank(backend.asarray(np.stack([G * 1e-300, np.zeros_like(G), G * 1e300])))
    backend.assert_close(result, [expected, 0.0, expected], rtol=RTOL["float64"])


@pytest.mark.parametrize("dtype, c", CASES + [("float64", 1e308), ("float32", 3e38)])
def test_effective_rank_is_scale_free(backend, dtype, c):
    # c·G/σ₁ has σ₁ = c: at 1e308 (float64) and 3e38 (float32) the sum of the singular values
    # exceeds the largest float, which made the entropy's weights 0 and the result NaN.
    G = _gradient()
    s = np.linalg.svd(G, compute_uv=False)
    p = s / s.sum()
    expected = np.exp(-np.sum(p * np.log(p)))
    result = effective_rank(backend.asarray(G / s[0] * c, dtype=dtype))
    backend.assert_close(result, expected, rtol=RTOL[dtype], dtype=dtype)


def _equilibrated(G, mode):
    """Float64 oracle of MuonEq's scaling of ``G`` with ``eps = 0``."""
    rows = np.sum(G * G, axis=1, keepdims=True) ** -0.5 if mode in ("R", "RC") else 1.0
    cols = np.sum(G * G, axis=0, keepdims=True) ** -0.5 if mode in ("C", "RC") else 1.0
    return rows * G * cols


@pytest.mark.parametrize("mode", ["R", "C", "RC"])
@pytest.mark.parametrize("dtype, c", [case for case in CASES if case[1] > 1])
def test_equilibrate_does_not_overflow_to_zero(backend, mode, dtype, c):
    G = _gradient()
    # "R"/"C" are scale free; "RC" scales both sides by 1/c, so the result is RC(G)/c. The
    # default eps = 1e-8 is below 1e-40 relative to the squared norms at these scales. The
    # overflowing rows go through the log domain: exp of a number near 0.5·log(c²) ≤ 700 adds
    # ~700 units of roundoff (70 in float32 at log(c²) ≤ 140).
    expected = _equilibrated(G, mode) / (c if mode == "RC" else 1.0)
    rtol = {"float64": 1e-12, "float32": 3e-5}[dtype]
    result = equilibrate(backend.asarray(G * c, dtype=dtype), mode)
    backend.assert_close(result, expected, rtol=rtol, dtype=dtype)
    rows, cols = equilibration_factors(backend.asarray(G * c, dtype=dtype), "RC")
    backend.assert_close(rows, np.sum(G * G, axis=1) ** -0.5 / c, rtol=rtol, dtype=dtype)
    backend.assert_close(cols, np.sum(G * G, axis=0) ** -0.5 / c, rtol=rtol, dtype=dtype)


def test_equilibrate_keeps_zero_rows_zero_at_huge_scale(backend):
    G = _gradient()
    G[2] = 0.0
    expected = _equilibrated(np.delete(G, 2, axis=0), "R")
    result = backend.to_numpy(equilibrate(backend.asarray(G * 1e200), "R"))
    np.testing.assert_array_equal(result[2], 0.0)
    np.testing.assert_allclose(np.delete(result, 2, axis=0), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype, c", [case for case in CASES if case[1] > 1])
def test_muoneq_step_is_scale_free(backend, dtype, c):
    G = _gradient()
    # The oracle is the same rule on G itself: at scale 1 eps = 1e-8 shifts the row scales by
    # ≤ 1e-9 relative (squared row norms ≥ 1 here), and Newton–Schulz is Frobenius-normalized.
    expected = backend.to_numpy(MuonEq().step(backend.asarray(G, dtype="float64")).update)
    result = MuonEq().step(backend.asarray(G * c, dtype=dtype)).update
    backend.assert_close(result, expected, rtol=0.0, atol={"float64": 1e-8, "float32": 1e-4}[dtype], dtype=dtype)


@pytest.mark.parametrize("orth", ["qr", "cholesky_qr", "randomized_cholesky_qr"])
@pytest.mark.parametrize("dtype, c", CASES)
def test_dion_update_is_scale_free(backend, orth, dtype, c):
    G = _gradient()
    # Dion is scale invariant (orth, column normalization and error feedback all commute with
    # c > 0); the oracle is two steps on G itself in the same dtype (Q₀ is drawn in it) from
    # the same seed. The update has entries ≤ 1: an absolute tolerance of 100 units of roundoff
    # in float64; float32's Cholesky variants square the condition number of BQ, so 1e-4.
    reference, rule = Dion(2, orth=orth, rng=0), Dion(2, orth=orth, rng=0)
    for t in range(2):
        step = G * (1.0 + t)
        expected = reference.step(backend.asarray(step, dtype=dtype))
        result = rule.step(backend.asarray(step * c, dtype=dtype))
        atol = {"float64": 1e-13, "float32": 1e-4}[dtype]
        backend.assert_close(result.update, backend.to_numpy(expected.update), rtol=0.0, atol=atol, dtype=dtype)
        for key in ("captured_energy", "optimal_energy"):
            assert result.diagnostics[key] == pytest.approx(expected.diagnostics[key], rel=RTOL[dtype] * 10)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy reports the overflow it then raises on
@pytest.mark.parametrize("schedule, sigma1", [("muon", 1.5), ("polar_express", 2.0), ("cubic", 2.5), ("cubic", 10.0)])
def test_newton_schulz_without_normalization_raises_when_it_diverges(backend, schedule, sigma1):
    G = _gradient()
    G = G / np.linalg.norm(G, 2) * sigma1
    with pytest.raises(ValueError, match="normalize"):
        newton_schulz(backend.asarray(G), schedule, normalize="none")


def test_newton_schulz_without_normalization_converges_from_below_one(backend):
    G = _gradient()
    G = G / np.linalg.norm(G, 2) * 0.9
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    # The cubic from σ ∈ [σ_min/σ₁·0.9, 0.9] converges quadratically: 30 steps reach rounding.
    result = newton_schulz(backend.asarray(G), "cubic", steps=30, normalize="none")
    backend.assert_close(result, U @ Vt, rtol=0.0, atol=1e-12)


def test_undefined_values_are_nan_without_warnings(backend):
    zero = backend.asarray(np.zeros((3, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(backend.to_numpy(condition_number(zero)))
        assert np.isnan(backend.to_numpy(power_law_exponent(backend.asarray(np.array([[2.0]])))))
        assert np.isnan(backend.to_numpy(alignment(backend.asarray(np.ones((3, 4))), zero)))


@pytest.mark.parametrize("dtype, c", CASES)
def test_galore_residual_ratio_is_scale_free(backend, dtype, c):
    # Both norms of χ = ‖(I − PPᵀ)G‖_F / ‖G‖_F overflowed at 1e300 (inf/inf = NaN).
    from matsign.transforms import Projector, residual_ratio

    G = _gradient()
    P = np.linalg.qr(np.random.default_rng(3).standard_normal((6, 2)))[0]
    expected = np.linalg.norm(G - P @ (P.T @ G)) / np.linalg.norm(G)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = residual_ratio(backend.asarray(G * c, dtype=dtype), Projector(backend.asarray(P, dtype=dtype), "left"))
    backend.assert_close(result, expected, rtol=RTOL[dtype] * 10, dtype=dtype)


@pytest.mark.parametrize("dtype, c", CASES)
def test_dion2_unselected_norm_is_scale_equivariant(backend, dtype, c):
    # The diagnostic summed squares of the unselected slices: inf at 1e300, 0 at 1e-300.
    from matsign.updates import Dion2

    G = _gradient()
    result = Dion2(0.5, rng=0).step(backend.asarray(G * c, dtype=dtype))
    rows = np.argsort(-np.abs(G).sum(axis=1), kind="stable")[3:]  # the 3 of 6 rows not selected
    expected = np.linalg.norm(G[rows])
    assert result.diagnostics["unselected_norm"] / c == pytest.approx(expected, rel=RTOL[dtype] * 10)


#: σ₁ from the smallest normal float64 scale that leaves σ₆₄/σ₁ normal to the largest float64.
PREDICTION_SCALES = (1e-300, 1e-160, 1e160, 1e300, 1.7e308)
PREDICTED = sorted(name for name, method in METHODS.items() if method.predict_function is not None)


@pytest.mark.parametrize("c", PREDICTION_SCALES)
@pytest.mark.parametrize("name", [name for name in PREDICTED if name != "spectral_clip"])
def test_predictions_are_scale_free(name, c):
    # Alignment and relative error of these methods do not change when G is multiplied by c, so
    # neither may their prediction: the unguarded sums and norms of σ overflowed (inf, NaN, a
    # RuntimeWarning) or underflowed (Newton–Schulz predicted alignment 0 at σ₁ = 1e-300).
    s = 1.0 / np.arange(1, 65)
    params = {key: 8 for key, default in METHODS[name].params.items() if default is REQUIRED}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = predict(c * s, name, shape=(64, 128), sketches=1, **params)
    unit = predict(s, name, shape=(64, 128), sketches=1, **params)
    for key in ("alignment", "alignment_low", "alignment_high", "relative_error", "relative_error_low",
                "relative_error_high"):
        # σ/σ₁ is rounded once (relative 1.1e-16); errors that are themselves ~1e-16 (the exact
        # routes) move by as much absolutely.
        np.testing.assert_allclose(scaled[key], unit[key], rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("c", PREDICTION_SCALES)
def test_spectral_clip_prediction_scales_with_its_absolute_threshold(c):
    # τ is absolute: U·min(cΣ, cτ)·Vᵀ = c·U·min(Σ, τ)·Vᵀ, so the alignment ⟨cG, cX⟩/‖cG‖_* is c
    # times that of the unit scale (closed form: Σ σ_i min(σ_i, τ) / Σ σ_i).
    s = 1.0 / np.arange(1, 65)
    tau = 0.25
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = predict(c * s, "spectral_clip", shape=(64, 128), tau=c * tau)
    expected = float(np.sum(s * np.minimum(s, tau)) / np.sum(s))
    np.testing.assert_allclose(scaled["alignment"] / c, expected, rtol=1e-12)


@pytest.mark.parametrize("c", PREDICTION_SCALES)
def test_bounds_from_sigma_scale_with_it(c):
    # Closed forms on the unit-scale spectrum, times c: the residual ‖σ_{>k}‖₂ and HMT's
    # √(1 + k/(p−1))·‖σ_{>k}‖₂ are homogeneous of degree 1, the alignment bound of degree 0.
    # Unguarded, their squares overflowed past 1e154 and underflowed to a silent 0 at 1e-300.
    s = 1.0 / np.arange(1, 65)
    tail = float(np.sqrt(np.sum(s[8:] ** 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        residual = optimal_residual(c * s, 8)
        hmt = hmt_frobenius_bound(c * s, 8, 4)
        bounds = [lowrank_alignment_bound(c * s, 8, 4, power_iters=q) for q in (0, 1)]
    np.testing.assert_allclose(residual / c, tail, rtol=1e-12)
    np.testing.assert_allclose(hmt / c, np.sqrt(1 + 8 / 3) * tail, rtol=1e-12)
    np.testing.assert_allclose(bounds, [lowrank_alignment_bound(s, 8, 4, power_iters=q) for q in (0, 1)], rtol=1e-12)


#: The largest entries of each dtype that leave room for nothing: max|G| itself near the largest
#: float, so σ₁ (up to √(mn)·max|G|), the products of a sketch and GUM's G/(1 − q) exceed it.
TOP = {"float64": 1e308, "float32": 3e38}
# spectral_clip's τ and MuonEq's ε are absolute (MuonEq at large scales: the equilibration tests above).
SCALE_FREE = sorted(name for name in METHODS if name not in ("spectral_clip", "muoneq"))


@pytest.mark.parametrize("dtype", sorted(TOP))
@pytest.mark.parametrize("name", SCALE_FREE)
def test_every_scale_free_method_holds_at_the_largest_entries(backend, name, dtype):
    # Oracle: the same method on G / max|G| (its output does not depend on the scale). Before,
    # msign, the oracle and Dion2 returned a silent zero sign at 1e308 (σ₁ overflowed), column
    # selection a zero basis at 3e38, and the sketches, GaLore and GUM did not converge.
    G = np.random.default_rng(0).standard_normal((24, 40))
    G = G / np.abs(G).max()
    method = METHODS[name]
    params = {key: 8 for key, default in method.params.items() if default is REQUIRED}
    unit = backend.to_numpy(method(backend.asarray(G, dtype=dtype), rng=0, **params)).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        top = method(backend.asarray(G * TOP[dtype], dtype=dtype), rng=0, **params)
    # Scaling by a power of two is exact; TOP[dtype] is not one, so c·G is rounded once more
    # than G and the result moves by about a unit of roundoff times the conditioning.
    backend.assert_close(top, unit, rtol=0, atol=1e-10 if dtype == "float64" else 1e-4, dtype=dtype)


def test_msign_at_the_largest_entries_is_scipys_polar_factor():
    from scipy.linalg import polar

    G = np.random.default_rng(1).standard_normal((30, 20))
    G = G / np.abs(G).max()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X = msign(G * 1e308)  # σ₁ ≈ 5e308: not a float64, but the sign is
    np.testing.assert_allclose(X, polar(G)[0], rtol=0, atol=1e-12)
