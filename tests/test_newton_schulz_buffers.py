"""Newton–Schulz in reused buffers: the same numbers as the allocating loop, and its peak memory."""

import tracemalloc

import numpy as np
import pytest

from matsign._backend import arithmetic, matmul_add, matmul_add_into, matmul_into, namespace
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.normalization import normalized
from matsign.exact.schedules import get_schedule


def _allocating_newton_schulz(G, schedule, dtype=None):
    """The loop with a fresh array per product (the definition): ``A = XXᵀ``, ``B = bA + cA²``,
    ``X ← aX + BX``, on the wide orientation."""
    sched = get_schedule(schedule)
    ar = arithmetic(G, dtype)
    T = namespace(G).matrix_transpose
    tall = G.shape[-2] > G.shape[-1]
    X, _ = normalized(T(G) if tall else G, "frobenius", sched.prescale, ar)
    for a, b, c in sched.steps_coefficients(None):
        A = ar.matmul(X, T(X))
        B = ar.matmul_add(b, A, c, A, A) if c != 0 else ar.round(b * A)
        X = ar.matmul_add(a, X, 1.0, B, X)
    return T(X) if tall else X


@pytest.mark.parametrize("shape", [(24, 40), (40, 24), (3, 16, 20)])
@pytest.mark.parametrize("schedule", ["muon", "polar_express", "cubic"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
def test_bit_identical_to_allocating_loop(backend, shape, schedule, dtype):
    # Reusing buffers changes where results are stored, not one rounding: equality is exact.
    G = np.random.default_rng(0).standard_normal(shape)
    A = backend.asarray(G, dtype="float32" if dtype == "bfloat16" else dtype)
    got = backend.to_numpy(newton_schulz(A, schedule, dtype=dtype))
    expected = backend.to_numpy(_allocating_newton_schulz(A, schedule, dtype))
    np.testing.assert_array_equal(got, expected.astype(got.dtype))


@pytest.mark.parametrize("transposed", [False, True])
def test_into_helpers_match_allocating_products(backend, transposed):
    rng = np.random.default_rng(1)
    X = backend.asarray(rng.standard_normal((12, 9)).T if transposed else rng.standard_normal((9, 12)))
    B = backend.asarray(rng.standard_normal((9, 9)))
    expected_product = backend.to_numpy(X @ X.T)
    expected_sum = backend.to_numpy(matmul_add(0.5, X, -2.0, B, X))
    out = backend.asarray(np.empty((9, 9)))
    assert matmul_into(X, X.T, out) is out
    np.testing.assert_array_equal(backend.to_numpy(out), expected_product)
    out = backend.asarray(np.empty((9, 12)))
    assert matmul_add_into(0.5, X, -2.0, B, X, out) is out
    np.testing.assert_array_equal(backend.to_numpy(out), expected_sum)


@pytest.mark.parametrize("shape", [(256, 1024), (1024, 256)])
def test_peak_memory(shape):
    # The loop holds X, W (the next X) and A = XXᵀ: (2 + m/n)·|G| = 2.25·|G| here; the
    # normalization briefly holds two copies. tracemalloc counts NumPy's allocations exactly.
    G = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    newton_schulz(G)  # first call: imports and caches outside the measurement
    tracemalloc.start()
    try:
        X = newton_schulz(G)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert X.shape == G.shape
    assert peak <= 2.3 * G.nbytes, peak / G.nbytes
