"""MuonEq equilibration: row / column / one-pass two-sided scaling against NumPy formulas."""

import numpy as np
import pytest

from matsign._backend import dtype_name
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.sign import msign
from matsign.synthetic import log_uniform, with_spectrum
from matsign.transforms.equilibration import MODES, equilibrate, equilibration_factors

# Float64 computes the formula in one pass of elementwise operations: a few ulps.
# Float32 the same in single precision (sums of ~20 squares, a power): a few 1e-7 relative.
RTOL = {"float64": 1e-13, "float32": 2e-6}


def _oracle(G, mode, exponent, eps):
    """The MuonEq formula in float64 NumPy, both scales from the same G."""
    G = np.asarray(G, dtype=np.float64)
    r = (np.sum(G * G, axis=-1) + eps) ** exponent
    c = (np.sum(G * G, axis=-2) + eps) ** exponent
    out = G
    if "R" in mode:
        out = r[..., :, None] * out
    if "C" in mode:
        out = out * c[..., None, :]
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("exponent", [-0.5, -0.25])
def test_equilibrate_matches_the_formula(backend, dtype, mode, exponent, np_rng):
    G = np_rng.standard_normal((7, 11)) * np_rng.uniform(0.1, 10.0, size=(7, 1))
    A = backend.asarray(G, dtype=dtype)
    G_rounded = backend.to_numpy(A).astype(np.float64)
    expected = _oracle(G_rounded, mode, exponent, 1e-8)
    backend.assert_close(equilibrate(A, mode, exponent=exponent), expected, rtol=RTOL[dtype], dtype=dtype)


def test_row_and_column_modes_give_unit_norms(backend, np_rng):
    G = np_rng.standard_normal((6, 9)) * np.logspace(-3, 3, 6)[:, None]
    A = backend.asarray(G)
    # eps = 1e-300 is negligible against every squared norm (≥ 1e-6·O(1)): unit norms to rounding.
    R = equilibrate(A, "R", eps=1e-300)
    np.testing.assert_allclose(np.linalg.norm(backend.to_numpy(R), axis=1), 1.0, rtol=1e-14)
    C = equilibrate(A, "C", eps=1e-300)
    np.testing.assert_allclose(np.linalg.norm(backend.to_numpy(C), axis=0), 1.0, rtol=1e-14)
    # Elementwise: the float64 row and column scalings of G (rounding, as above).
    backend.assert_close(R, G / np.linalg.norm(G, axis=1, keepdims=True), rtol=1e-14)
    backend.assert_close(C, G / np.linalg.norm(G, axis=0, keepdims=True), rtol=1e-14)


def test_two_sided_mode_is_one_pass_not_sinkhorn(np_rng):
    G = np_rng.standard_normal((5, 8)) * np.logspace(0, 2, 5)[:, None] * np.logspace(0, 1, 8)[None, :]
    RC = equilibrate(G, "RC", eps=1e-300)
    # Both scales come from G itself, not from the row-scaled matrix.
    r = np.sum(G * G, axis=1) ** -0.5
    c = np.sum(G * G, axis=0) ** -0.5
    np.testing.assert_allclose(RC, r[:, None] * G * c[None, :], rtol=1e-14)
    sequential = equilibrate(equilibrate(G, "R", eps=1e-300), "C", eps=1e-300)
    assert not np.allclose(RC, sequential, rtol=1e-3)
    # A balancing iteration would reach unit row norms; one pass does not.
    row_norms = np.linalg.norm(RC, axis=1)
    assert np.max(np.abs(row_norms - 1.0)) > 0.1


def test_factors_are_the_scales_of_equilibrate(np_rng):
    G = np_rng.standard_normal((4, 6))
    rows, cols = equilibration_factors(G, "R")
    assert cols is None and rows.shape == (4,)
    np.testing.assert_allclose(equilibrate(G, "R"), rows[:, None] * G, rtol=1e-15)
    rows, cols = equilibration_factors(G, "C", exponent=-0.25)
    assert rows is None
    np.testing.assert_allclose(cols, (np.sum(G * G, axis=0) + 1e-8) ** -0.25, rtol=1e-14)


def test_batched_equals_per_slice(backend, np_rng):
    G = np_rng.standard_normal((3, 2, 5, 4))
    A = backend.asarray(G)
    for mode in MODES:
        batched = backend.to_numpy(equilibrate(A, mode))
        for i in range(3):
            for j in range(2):
                single = equilibrate(backend.asarray(G[i, j]), mode)
                backend.assert_close(single, batched[i, j], rtol=1e-14)


def test_zero_rows_and_columns_stay_zero(backend):
    G = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0]])
    A = backend.asarray(G)
    for mode in MODES:
        result = equilibrate(A, mode)
        out = backend.to_numpy(result)
        assert np.all(np.isfinite(out))
        backend.assert_close(result[0, :], np.zeros(3), rtol=0)
        backend.assert_close(result[:, 1], np.zeros(2), rtol=0)
    backend.assert_close(equilibrate(backend.asarray(np.zeros((3, 4))), "RC"), np.zeros((3, 4)), rtol=0)


def test_row_mode_is_exact_whitening_for_orthogonal_rows(np_rng):
    # GGᵀ diagonal ⇒ (GGᵀ)^(-1/2) G = diag(r)^(-1/2) G: the "R" mode is msign(G) itself.
    Q = np.linalg.qr(np_rng.standard_normal((9, 4)))[0].T  # 4×9, orthonormal rows
    G = np.diag([5.0, 0.3, 2.0, 1e-3]) @ Q
    np.testing.assert_allclose(equilibrate(G, "R", eps=1e-300), msign(G), atol=1e-13)
    np.testing.assert_allclose(equilibrate(G.T, "C", eps=1e-300), msign(G.T), atol=1e-13)


@pytest.mark.parametrize("dtype, ulp", [("float16", 2.0**-11), ("bfloat16", 2.0**-8)])
def test_16_bit_inputs_keep_their_dtype(backend, dtype, ulp):
    A = backend.asarray(np.array([[3.0, 4.0], [0.0, 2.0]]), dtype=dtype)
    # Exact inputs, scales computed in float32, one rounding of 0.6, 0.8 and 1 to the 16-bit grid
    # (spacing ulp in [0.5, 1)): within one spacing.
    expected = [[0.6, 0.8], [0.0, 1.0]]
    backend.assert_close(equilibrate(A, "R"), expected, rtol=0.0, atol=ulp, dtype=dtype_name(A.dtype))


def test_row_scaling_makes_newton_schulz_converge_but_changes_the_target():
    # 64×128 with row scales spanning 10³ over a well-conditioned Haar matrix (κ(H) = 2).
    H = with_spectrum(log_uniform(64, 2.0), 64, 128, rng=11)
    G = np.diag(np.logspace(0, 3, 64)) @ H
    E = equilibrate(G, "R")
    plain_error = np.linalg.norm(newton_schulz(G, "muon", steps=5) - msign(G)) / np.linalg.norm(msign(G))
    eq_error = np.linalg.norm(newton_schulz(E, "muon", steps=5) - msign(E)) / np.linalg.norm(msign(E))
    bias = np.linalg.norm(msign(E) - msign(G)) / np.linalg.norm(msign(G))
    print(
        f"\n5 muon steps: error to msign(G) {plain_error:.3e}; after R, error to msign(DG) "
        f"{eq_error:.3e}; target bias ‖msign(DG) − msign(G)‖_F/‖msign(G)‖_F = {bias:.3e}"
    )
    assert eq_error < plain_error
    # The small singular values are where the iteration fails: scaling lifts the smallest one.
    def smallest(X):
        return np.linalg.svd(newton_schulz(X, "muon", steps=5), compute_uv=False)[-1]

    assert smallest(E) > 3 * smallest(G)
    assert bias > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "rows"}, "mode must be one of"),
        ({"mode": "r"}, "mode must be one of"),
        ({"exponent": 0.5}, "exponent must be a finite number < 0"),
        ({"exponent": 0}, "exponent must be a finite number < 0"),
        ({"exponent": float("nan")}, "exponent must be a finite number < 0"),
        ({"exponent": True}, "exponent must be a finite number < 0"),
        ({"eps": 0.0}, r"eps must be a finite number > 0"),
        ({"eps": -1e-8}, r"eps must be a finite number > 0"),
        ({"eps": float("inf")}, r"eps must be a finite number > 0"),
    ],
)
def test_bad_options_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        equilibrate(np.eye(3), **kwargs)
    with pytest.raises(ValueError, match=match):
        equilibration_factors(np.eye(3), **kwargs)


def test_bad_matrices_are_rejected():
    with pytest.raises(ValueError, match="G must be a matrix"):
        equilibrate(np.ones(3))
    with pytest.raises(ValueError, match="G contains NaN or Inf"):
        equilibrate(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match="G must be a real floating-point array"):
        equilibrate(np.ones((2, 2), dtype=np.int64))
