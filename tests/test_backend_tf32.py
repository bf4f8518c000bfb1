"""TF32 as a working precision: rounding to its grid, products, Newton–Schulz, names."""

import math
import warnings

import numpy as np
import pytest

from matsign._backend import (
    EPS,
    Arithmetic,
    arithmetic,
    check_precision,
    dtype_name,
    library_dtype,
    namespace,
    round_to,
    tf32_products,
)
from matsign.exact.gram_newton_schulz import gram_newton_schulz
from matsign.exact.newton_schulz import newton_schulz

#: TF32 keeps the top 19 of float32's 32 bits: 13 low mantissa bits are dropped.
DROPPED_BITS = 13


def _tf32_oracle(values):
    """Round float32 ``values`` to 11 significant bits (ties to even) in float64 arithmetic.

    A normal float32 in ``[2^E, 2^(E+1))`` has TF32 spacing ``2^(E-10)``; ``math.frexp`` gives
    ``e = E + 1``. Below the smallest normal (``E < -126``) the spacing stays ``2^-136``.
    """
    out = []
    for v in np.asarray(values, dtype=np.float64):
        v = float(v)
        if not math.isfinite(v) or v == 0.0:
            out.append(v)
            continue
        ulp = math.ldexp(1.0, max(math.frexp(v)[1], -125) - 11)
        out.append(math.copysign(round(v / ulp) * ulp, v))  # round(): ties to even, v/ulp exact
    with np.errstate(over="ignore"):  # past the largest TF32 value the result is ±inf
        return np.array(out, dtype=np.float64).astype(np.float32)


def _hard_cases(rng):
    """float32 values around every rounding decision: ties, near-ties, carries, extremes
    (random bit patterns include NaNs)."""
    random_bits = rng.integers(0, 2**32, size=4000, dtype=np.uint64).astype(np.uint32)
    kept = random_bits & ~np.uint32(2**DROPPED_BITS - 1)
    half = np.uint32(2 ** (DROPPED_BITS - 1))
    ties = kept | half  # exactly halfway, with even and odd last kept bits
    near_ties = np.concatenate([ties - np.uint32(1), ties + np.uint32(1)])
    carries = kept | np.uint32(2**DROPPED_BITS - 1)  # all dropped bits set: rounds up
    # Mantissa all ones just below powers of two: the carry must reach the exponent.
    exponents = np.arange(1, 255, dtype=np.uint32) << np.uint32(23)
    below_powers = exponents - np.uint32(1)
    special = np.array([0x00000000, 0x80000000, 0x00000001, 0x00001000, 0x00001001, 0x00800000,
                        0x007FFFFF, 0x7F7FFFFF, 0x7F7FEFFF, 0x7F7FF000, 0x7F800000, 0xFF800000],
                       dtype=np.uint32)
    bits = np.concatenate([random_bits, ties, near_ties, carries, below_powers, special])
    return bits.view(np.float32)


def test_rounding_matches_float64_oracle(backend, np_rng):
    x = _hard_cases(np_rng)
    x = x[~np.isnan(x)]
    rounded = round_to(backend.asarray(x, "float32"), "tfloat32")
    backend.assert_close(rounded, _tf32_oracle(x), rtol=0)
    got = backend.to_numpy(rounded)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(x))  # -0 and tiny negatives keep their sign
    assert not np.any(got.view(np.uint32) & np.uint32(2**DROPPED_BITS - 1))


def test_rounding_passes_nan_through(backend):
    # Quiet, negative and payload NaNs: adding to the bit pattern of 0x7FFFFFFF would wrap to -0
    # and 0x7F800001 would round to inf; they must stay NaN.
    bits = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF, 0xFFFFFFFF], dtype=np.uint32)
    got = backend.to_numpy(round_to(backend.asarray(bits.view(np.float32), "float32"), "tfloat32"))
    assert np.all(np.isnan(got))


def test_rounding_handles_non_contiguous_stacks(backend, np_rng):
    x = np_rng.standard_normal((3, 5, 7)).astype(np.float32)
    X = backend.asarray(x, "float32")
    got = round_to(namespace(X).matrix_transpose(X), "tfloat32")
    backend.assert_close(got, _tf32_oracle(x.swapaxes(-1, -2).ravel()).reshape(3, 7, 5), rtol=0)


def test_product_error_bound_and_size(backend, np_rng):
    m, k, n = 24, 200, 16
    A = np_rng.standard_normal((m, k)).astype(np.float32)
    B = np_rng.standard_normal((k, n)).astype(np.float32)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    ar = arithmetic(backend.asarray(A, "float32"), "tfloat32")
    C = ar.matmul(backend.asarray(A, "float32"), backend.asarray(B, "float32"))
    got = backend.to_numpy(C)
    plain = backend.to_numpy(backend.asarray(A, "float32") @ backend.asarray(B, "float32"))
    # Bound: the operands become Ã = A∘(1+δ), B̃ = B∘(1+ε) with |δ|, |ε| ≤ u_t (2^-11 for
    # round to nearest; 2^-10 where hardware may truncate instead), so
    # |ÃB̃ − AB| ≤ (2u_t + u_t²)|A||B|; the float32 sum of k products adds at most
    # γ_k|Ã||B̃| ≤ γ_k(1 + u_t)²|A||B|, γ_k = ku/(1 − ku), u = 2^-24, in any summation order.
    # For k ≥ 4, u_t² = 2^-22 ≤ ku and γ_k(1 + u_t)² ≤ 1.01·ku, so c = 3 covers both:
    # |C − AB| ≤ (2u_t + 3ku)|A||B|. (The float64 reference adds ~k·2^-53, negligible.)
    u_t = 2.0**-11 if ar.emulated else 2.0**-10
    bound = (2 * u_t + 3 * k * 2.0**-24) * (np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64))
    backend.assert_close(C, exact, rtol=0, atol=float(np.max(bound)), dtype="float32")
    assert np.all(np.abs(got - exact) <= bound)  # entrywise
    # Operand rounding (relative 2^-11 per factor) dwarfs float32 accumulation (2^-24 per
    # addition): on average the TF32 product must be far less accurate, or rounding was skipped.
    assert np.mean(np.abs(got - exact)) > 10 * np.mean(np.abs(plain - exact))
    # ... while the result itself is float32, not rounded to the TF32 grid.
    assert np.any(got.view(np.uint32) & np.uint32(2**DROPPED_BITS - 1))


def test_tfloat32_stores_float32_values_unrounded(backend, np_rng):
    x = np_rng.standard_normal((4, 6))
    ar = arithmetic(backend.asarray(x), "tf32")
    assert ar.name == "tfloat32"
    assert ar.storage == library_dtype("float32", backend.lib)
    entered = ar.enter(backend.asarray(x))
    backend.assert_close(entered, x.astype(np.float32), rtol=0)
    assert ar.round(entered) is entered


@pytest.mark.parametrize("routine", [newton_schulz, gram_newton_schulz])
def test_newton_schulz_tfloat32_between_float32_and_bfloat16(backend, np_rng, routine):
    # Well-conditioned (κ = 2) and a converging schedule, so the float64 run is exact to 1e-15
    # and the error left is roundoff. The iteration is self-correcting, so that error is set
    # by the last steps' rounding: float32 (2^-24 per operation) < TF32 (2^-11 on each product
    # operand, float32 elsewhere) < bfloat16 (2^-8 on operands, results and combinations).
    # Measured ratios ≈ 1700× and ≈ 9×; asserted 10× and 2×.
    m, n = 24, 64
    U = np.linalg.qr(np_rng.standard_normal((m, m)))[0]
    V = np.linalg.qr(np_rng.standard_normal((n, m)))[0]
    G = (U * np.linspace(1.0, 0.5, m)) @ V.T
    exact = U @ V.T
    G_b = backend.asarray(G)
    errors = {}
    for dtype in ("float32", "tfloat32", "bfloat16"):
        X = routine(G_b, "polar_express8", dtype=dtype)
        errors[dtype] = np.abs(backend.to_numpy(X) - exact).max()
        backend.assert_close(X, exact, rtol=0, atol=errors[dtype])  # float64 storage kept
    assert 10 * errors["float32"] < errors["tfloat32"] < errors["bfloat16"] / 2, errors


def test_newton_schulz_tfloat32_keeps_float32_input_dtype(backend, np_rng):
    G = backend.asarray(np_rng.standard_normal((5, 9)), "float32")
    X = newton_schulz(G, "muon", dtype="tfloat32")
    assert X.shape == G.shape
    backend.assert_close(X, backend.to_numpy(X), rtol=0, dtype="float32")  # library, device, dtype


def test_names_and_epsilon():
    assert dtype_name("tf32") == "tfloat32"
    assert check_precision("tfloat32") == check_precision("tf32") == "tfloat32"
    # EPS is the spacing just above 1: 1 + EPS is on the TF32 grid, the tie 1 + EPS/2 is not.
    one_plus = np.array([1 + EPS["tfloat32"], 1 + EPS["tfloat32"] / 2], dtype=np.float32)
    np.testing.assert_array_equal(round_to(one_plus, "tfloat32"), [1 + EPS["tfloat32"], 1.0])
    with pytest.raises(ValueError, match="dtype must be one of"):
        check_precision("tf16")


def test_emulated_wherever_no_tf32_tensor_cores(backend):
    ar = arithmetic(backend.asarray(np.eye(2)), "tfloat32")
    if backend.name != "torch-cuda":
        assert ar.emulated


def test_tf32_switch_is_restored_without_warnings():
    torch = pytest.importorskip("torch")
    if not hasattr(torch.backends, "fp32_precision"):
        pytest.skip("PyTorch before 2.9 has no fp32_precision switch")
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tf32_products():
            assert matmul.fp32_precision == "tf32"
        assert matmul.fp32_precision == before
        with pytest.raises(RuntimeError, match="inside"):
            with tf32_products():
                raise RuntimeError("inside")
        assert matmul.fp32_precision == before
        # The native branch on a CPU tensor: the switch does not apply, the product is float32.
        a = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
        ar = Arithmetic("tfloat32", "torch", emulated=False)
        assert torch.equal(ar.matmul(a, a.mT), a @ a.mT)
        assert matmul.fp32_precision == before
