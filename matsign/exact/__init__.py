"""Exact and iterative matrix sign: SVD/eigh polar factor, Newton–Schulz and its schedules.

- :mod:`.sign` — ``msign`` (exact, with zero-singular-value truncation);
- :mod:`.schedules` — named coefficient lists with provenance, ``scalar_map``;
- :mod:`.polar_express` — the greedy minimax coefficient generator;
- :mod:`.newton_schulz` — the iteration and its normalizations;
- :mod:`.gram_newton_schulz` — the same iteration carried on the ``m × m`` Gram matrix;
- :mod:`.converged` — Newton–Schulz run to convergence: the exact sign by matrix products alone;
- :mod:`.qdwh` — the QR-based dynamically weighted Halley iteration (backward-stable polar factor).
"""

from matsign.exact.converged import converged_newton_schulz, converged_newton_schulz_flops
from matsign.exact.gram_newton_schulz import gram_newton_schulz, gram_newton_schulz_flops
from matsign.exact.newton_schulz import NORMALIZATIONS, newton_schulz
from matsign.exact.polar_express import polar_express_coefficients
from matsign.exact.qdwh import qdwh_flops, qdwh_sign
from matsign.exact.schedules import SCHEDULES, Schedule, get_schedule, polar_express_schedule, scalar_map
from matsign.exact.sign import msign

__all__ = [
    "NORMALIZATIONS",
    "SCHEDULES",
    "Schedule",
    "converged_newton_schulz",
    "converged_newton_schulz_flops",
    "get_schedule",
    "gram_newton_schulz",
    "gram_newton_schulz_flops",
    "msign",
    "newton_schulz",
    "polar_express_coefficients",
    "polar_express_schedule",
    "qdwh_flops",
    "qdwh_sign",
    "scalar_map",
]
