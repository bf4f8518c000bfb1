"""``uniform_sign_error``, the exact sup of ``|φ(σ) − 1|`` over ``[ℓ, 1]``, against a dense grid."""

import numpy as np
import pytest

from matsign.exact import SCHEDULES, scalar_map, uniform_sign_error


def _grid_error(schedule, steps, lower):
    # Both ends, 2·10⁵ evenly spaced points and 2·10⁵ log-spaced ones (the small σ, where the
    # low steps' slopes are steepest).
    even, logarithmic = np.linspace(lower, 1.0, 200_001), np.geomspace(lower, 1.0, 200_001)
    sigma = np.unique(np.concatenate([even, logarithmic]))
    return float(np.max(np.abs(scalar_map(sigma, schedule, steps=steps) - 1.0)))


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("lower", [1e-3, 1e-2, 0.3])
def test_uniform_sign_error_is_the_sup_over_the_interval(schedule, lower):
    exact = uniform_sign_error(schedule, lower=lower)
    sampled = _grid_error(schedule, None, lower)
    # A sampled sup never exceeds the true one (up to float64 rounding of φ, ~1e-15).
    assert sampled <= exact + 1e-13
    # An interior extreme is a critical point, where φ is flat: the nearest grid point, at most
    # h ≈ 5e-6 away, misses it by ~|φ''|·h²/2 (|φ''| ≲ 1e4 for these compositions) ≲ 1e-6.
    assert exact <= sampled + 1e-6


@pytest.mark.parametrize("steps", [1, 2, 3, 6])
def test_uniform_sign_error_by_steps_matches_the_grid(steps):
    exact = uniform_sign_error("polar_express", steps, 1e-3)
    assert _grid_error("polar_express", steps, 1e-3) <= exact + 1e-13
    assert exact <= _grid_error("polar_express", steps, 1e-3) + 1e-6


def test_one_cubic_step_has_the_closed_form():
    # 1.5σ − 0.5σ³ increases on [0, 1] to 1: the sup is at σ = ℓ, 1 − ℓ(3 − ℓ²)/2.
    for lower in (1e-3, 0.25, 0.5):
        expected = 1 - lower * (3 - lower**2) / 2
        assert uniform_sign_error("cubic", 1, lower) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("lower", [0.0, 1.0, -0.5, float("nan")])
def test_uniform_sign_error_rejects_a_lower_bound_outside_the_unit_interval(lower):
    with pytest.raises(ValueError, match="lower"):
        uniform_sign_error("muon", lower=lower)
