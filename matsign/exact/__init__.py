"""Exact and iterative matrix sign: SVD/eigh polar factor, Newton–Schulz and its schedules.

- :mod:`.sign` — ``msign`` (exact, with zero-singular-value truncation);
- :mod:`.schedules` — named coefficient lists with provenance, ``scalar_map``,
  ``uniform_sign_error``;
- :mod:`.polar_express` — the greedy minimax coefficient generator;
- :mod:`.normalization` — the scalings that start the iterations, and their residual;
- :mod:`.newton_schulz` — the iteration;
- :mod:`.gram_newton_schulz` — the same iteration carried on the ``m × m`` Gram matrix;
- :mod:`.converged` — Newton–Schulz run to convergence: the exact sign by matrix products alone;
- :mod:`.qdwh` — the QR-based dynamically weighted Halley iteration (backward-stable polar factor);
- :mod:`.hybrid` — one or two QDWH steps, then a Newton–Schulz schedule;
- :mod:`.clip` — spectral clipping ``U·min(Σ, τ)·Vᵀ``, by the SVD or by Newton–Schulz polar factors;
- :mod:`.vendor` — ``torch.linalg.polar``, where the installed PyTorch provides it;
- :mod:`.inner` — the inner sign of composite methods;
- :mod:`.reference` — plain NumPy versions of these algorithms, the oracles of the tests.
"""

from matsign.exact.sign import msign  # first: its methods lead the registry, as before
from matsign.exact.converged import converged_newton_schulz, converged_newton_schulz_flops
from matsign.exact.gram_newton_schulz import gram_newton_schulz, gram_newton_schulz_flops
from matsign.exact.newton_schulz import NORMALIZATIONS, newton_schulz, newton_schulz_flops
from matsign.exact.polar_express import polar_express_coefficients
from matsign.exact.qdwh import qdwh_flops, qdwh_sign
from matsign.exact.hybrid import hybrid_flops, hybrid_sign
from matsign.exact.clip import spectral_clip, spectral_clip_flops
from matsign.exact.vendor import VENDOR_POLAR, vendor_polar
from matsign.exact.schedules import (
    SCHEDULES,
    Schedule,
    get_schedule,
    polar_express_schedule,
    scalar_map,
    uniform_sign_error,
)

__all__ = [
    "NORMALIZATIONS",
    "SCHEDULES",
    "Schedule",
    "VENDOR_POLAR",
    "converged_newton_schulz",
    "converged_newton_schulz_flops",
    "get_schedule",
    "gram_newton_schulz",
    "gram_newton_schulz_flops",
    "msign",
    "hybrid_flops",
    "hybrid_sign",
    "newton_schulz",
    "newton_schulz_flops",
    "polar_express_coefficients",
    "polar_express_schedule",
    "qdwh_flops",
    "qdwh_sign",
    "scalar_map",
    "spectral_clip",
    "spectral_clip_flops",
    "uniform_sign_error",
    "vendor_polar",
]
