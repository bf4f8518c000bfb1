"""Newton–Schulz to convergence against the float64 SVD polar factor, its schedule, stopping rule
and bad input."""

import warnings

import numpy as np
import pytest

from matsign.exact.converged import (
    SCHEDULE_TOLERANCE,
    TAYLOR_QUINTIC,
    greedy_schedule,
    converged_newton_schulz,
    converged_newton_schulz_flops,
)
from matsign.synthetic import log_uniform, with_spectrum


def _input(m, n, kappa, seed=0):
    return with_spectrum(log_uniform(min(m, n), kappa), m, n, rng=seed)


def _polar(G):
    """Float64 oracle: ``U Vᵀ`` from NumPy's SVD of ``G`` in float64."""
    U, _, Vt = np.linalg.svd(np.asarray(G, dtype=np.float64), full_matrices=False)
    return U @ Vt


def _relative_error(X, ref):
    return np.linalg.norm(np.asarray(X, dtype=np.float64) - ref) / np.linalg.norm(ref)


def _no_warning(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("shape", [(48, 80), (80, 48), (64, 64)])
@pytest.mark.parametrize("kappa", [1e1, 1e3, 1e4])
def test_float64_reaches_reference_accuracy(backend, shape, kappa):
    # Measured ≤ 1.5e-13 for κ ≤ 1e4 up to 1024²: the roundoff of each product (≈ n·eps64) is
    # amplified by at most ≈ κ on its way to 1. 1e-11 leaves two orders of margin.
    G = _input(*shape, kappa)
    X = _no_warning(converged_newton_schulz, backend.asarray(G))
    assert _relative_error(backend.to_numpy(X), _polar(G)) <= 1e-11
    # Elementwise (implied by the relative bound), with library, device, dtype and shape.
    backend.assert_close(X, _polar(G), rtol=0, atol=1e-11 * np.linalg.norm(_polar(G)))


def test_float32_meets_the_exact_accuracy_target_at_kappa_1e3(backend):
    # The 1e-5 relative error is the project's bar for an "exact" float32 sign. Measured here:
    # 2–5e-6 at n = 256…1024 and κ ≤ 1e3 (products of length n carry ≈ √n·eps32 roundoff).
    G = _input(96, 160, 1e3).astype(np.float32)
    X = _no_warning(converged_newton_schulz, backend.asarray(G, dtype="float32"))
    assert _relative_error(backend.to_numpy(X), _polar(G)) <= 1e-5
    backend.assert_close(X, _polar(G), rtol=0, atol=1e-5 * np.linalg.norm(_polar(G)), dtype="float32")


def test_float64_working_precision_on_float32_input(backend):
    # Working in float64 leaves only the final rounding to float32: entries of a 64×96 polar
    # factor are O(1/√64), so the relative Frobenius error is about eps32/2 ≈ 6e-8.
    G = _input(64, 96, 1e5).astype(np.float32)
    X = _no_warning(converged_newton_schulz, backend.asarray(G, dtype="float32"), dtype="float64")
    tol = 2 * np.finfo(np.float32).eps
    assert _relative_error(backend.to_numpy(X), _polar(G)) <= tol
    backend.assert_close(X, _polar(G), rtol=0, atol=tol * np.linalg.norm(_polar(G)), dtype="float32")


def test_stack_of_matrices(backend):
    # Different κ per member; the stack stops when the worst member has converged.
    G = np.stack([_input(24, 40, kappa, seed) for seed, kappa in enumerate([1e1, 1e3, 1e5])])
    result = _no_warning(converged_newton_schulz, backend.asarray(G.reshape(3, 1, 24, 40)))
    X = backend.to_numpy(result)
    for i in range(3):
        assert _relative_error(X[i, 0], _polar(G[i])) <= 1e-11
    oracle = np.stack([_polar(G[i]) for i in range(3)]).reshape(3, 1, 24, 40)
    backend.assert_close(result, oracle, rtol=0, atol=1e-11 * max(np.linalg.norm(_polar(g)) for g in G))


def test_zero_matrices_give_zero_without_warning(backend):
    G = np.stack([np.zeros((6, 9)), _input(6, 9, 10.0)])
    result = _no_warning(converged_newton_schulz, backend.asarray(G))
    X = backend.to_numpy(result)
    assert _relative_error(X[1], _polar(G[1])) <= 1e-12
    # Member 0 exactly zero; member 1 elementwise within the relative bound above.
    oracle = np.stack([np.zeros((6, 9)), _polar(G[1])])
    backend.assert_close(result, oracle, rtol=0, atol=1e-12 * np.linalg.norm(oracle[1]))
    assert np.all(X[0] == 0)


def test_singular_values_below_lower_converge_through_the_taylor_steps():
    # κ = 1e7 with lower = 1e-4: the schedule leaves σ ≈ 1e-7·(15/8)^… to the Taylor steps,
    # which lift them by 15/8 each; the result still matches the oracle.
    G = _input(32, 48, 1e7)
    X = _no_warning(converged_newton_schulz, G, max_polish=40)
    assert _relative_error(X, _polar(G)) <= 1e-8


def test_too_few_taylor_steps_warn_with_the_residual():
    G = _input(32, 48, 1e9)
    with pytest.warns(RuntimeWarning, match="max_polish=1"):
        converged_newton_schulz(G, max_polish=1)


def test_greedy_schedule_is_the_shortest_that_reaches_the_tolerance():
    # Independent evaluation of the composed odd quintics with numpy.polynomial.
    from numpy.polynomial import polynomial as P

    for lower in (1e-2, 1e-4, 1e-6):
        schedule = greedy_schedule(lower)
        s = np.geomspace(lower, 1.0, 3001)
        values = s.copy()
        worst = []
        for a, b, c in schedule.coefficients:
            values = P.polyval(values, [0.0, a, 0.0, b, 0.0, c])
            worst.append(np.max(np.abs(values - 1)))
        assert worst[-1] <= SCHEDULE_TOLERANCE * (1 + 1e-6)
        assert all(w > SCHEDULE_TOLERANCE for w in worst[:-1])


def test_taylor_quintic_is_cubically_convergent():
    a, b, c = TAYLOR_QUINTIC
    for delta in (1e-2, 1e-3):
        s = 1 + delta
        assert a * s + b * s**3 + c * s**5 - 1 == pytest.approx(2.5 * delta**3, rel=10 * delta)


def test_flops_count_greedy_schedule_and_two_taylor_steps():
    steps = len(greedy_schedule(1e-4 * 64**-0.25).coefficients)
    assert converged_newton_schulz_flops(64, 128) == (steps + 2) * (4 * 64**2 * 128 + 2 * 64**3)
    assert converged_newton_schulz_flops(128, 64) == converged_newton_schulz_flops(64, 128)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lower": 0.0}, "lower"),
        ({"lower": 1.0}, "lower"),
        ({"lower": True}, "lower"),
        ({"max_polish": -1}, "max_polish"),
        ({"dtype": "bfloat16"}, "dtype"),
        ({"dtype": "int8"}, "dtype"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        converged_newton_schulz(np.eye(3), **kwargs)


def test_non_matrix_input_is_rejected():
    with pytest.raises(ValueError, match="G"):
        converged_newton_schulz(np.ones(4))


def test_stopping_rule_leaves_every_deviation_below_eps():
    # Docstring bound: r = ‖XXᵀ − I‖_F ≤ t = ε^{1/3} confines every δ to [√(1−t) − 1, √(1+t) − 1]
    # (the eigenvalue (1 + δ)² − 1 of XXᵀ − I is at most r in size), and one Taylor step maps
    # 1 + δ to 1 + δ³(20 + 15δ + 3δ²)/8, below 0.32ε. Evaluated exactly in rationals.
    from fractions import Fraction

    a, b, c = (Fraction(v) for v in TAYLOR_QUINTIC)
    for eps in (2.0**-52, 2.0**-23):
        t = eps ** (1 / 3)
        for delta in (np.sqrt(1 - t) - 1, np.sqrt(1 + t) - 1):
            # √(1 ± t) − 1 cancels: relative rounding up to eps/t ≈ 4e-11 (float64's ε).
            assert abs(2 * delta + delta**2) <= t * (1 + 1e-9)
            s = 1 + Fraction(float(delta))
            assert abs(a * s + b * s**3 + c * s**5 - 1) <= Fraction(0.32) * Fraction(eps)


def test_tensor_that_requires_grad_gives_no_warning():
    # The residual read back between Taylor steps must detach first (no torch UserWarning).
    torch = pytest.importorskip("torch")
    G = _input(8, 12, 10.0, seed=4)
    warn_always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)  # PyTorch warns once per process otherwise
    try:
        X = _no_warning(converged_newton_schulz, torch.tensor(G, requires_grad=True))
    finally:
        torch.set_warn_always(warn_always)
    # κ = 10 in float64: the error is ~1e-15 (test_float64_reaches_reference_accuracy).
    np.testing.assert_allclose(X.detach().numpy(), _polar(G), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"m": 0}, "m"), ({"n": -3}, "n"), ({"m": 4.5}, "m"), ({"lower": 2}, "lower"), ({"lower": 0.0}, "lower"),
     ({"polish": -1}, "polish")],
)
def test_flops_reject_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} must be a"):
        converged_newton_schulz_flops(**{"m": 4, "n": 4, **kwargs})
