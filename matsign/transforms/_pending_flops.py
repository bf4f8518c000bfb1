"""TEMPORARY flop counts of the Newton–Schulz and low-rank signs, until the merge.

TODO(merge): replace the imports of this module by ``newton_schulz_flops`` from
:mod:`matsign.exact.newton_schulz` and ``lowrank_sign_flops`` from :mod:`matsign.lowrank`
(same names and signatures, being added on other branches), then delete it.
"""

from __future__ import annotations

from matsign.exact.schedules import get_schedule
from matsign.flops import gemm, svd, svd_sign


def newton_schulz_flops(m, n, schedule, steps=None):
    """Newton–Schulz on ``m×n`` (wide orientation ``s×N``): ``4s²N`` per step, ``+2s³`` if quintic."""
    s, N = min(m, n), max(m, n)
    triples = get_schedule(schedule).steps_coefficients(steps)
    return sum(4 * s * s * N + (2 * s**3 if c != 0 else 0) for _, _, c in triples)


def lowrank_sign_flops(rows, cols, width, rank, inner, steps):
    """``Q_r · sign(Q_rᵀ A)`` for a ``rows × width`` basis ``Q`` of a ``rows × cols`` matrix ``A``."""
    total = gemm(width, rows, cols)
    if rank < width:
        total += svd(width, cols) + gemm(rows, width, rank) + gemm(rank, width, cols)
    total += svd_sign(rank, cols) if inner == "exact" else newton_schulz_flops(rank, cols, inner, steps)
    return total + gemm(rows, rank, cols)
