"""Error against flops: QDWH + Newton–Schulz (``hybrid``) against QDWH and Polar Express alone.

Usage: ``python scripts/hybrid_error_vs_flops.py`` (from the repository root). For 128 × 256
float64 matrices with log-spaced singular values of condition number κ = 10, 10³, 10⁵, prints
a markdown table: per method and step count (the hybrid with the default ``polar_express``
schedule and with Polar Express schedules generated for the interval ``[ℓ_K, 1]`` the rational
steps leave, for ``lower`` = 1e-3 and 1e-5), the flops over ``m·n²`` (``n`` the shorter side,
:data:`matsign.registry.METHODS`' flop models; QDWH's from the steps it took) and the relative
Frobenius error against the SVD polar factor at each κ. Then, per κ, the hybrid runs that beat
both parts: a smaller error than every Polar Express run of at most their flops (there must be
one), with fewer flops than QDWH run to convergence.
"""

from __future__ import annotations

import numpy as np

import math

from matsign.exact import (
    hybrid_flops,
    hybrid_sign,
    newton_schulz,
    newton_schulz_flops,
    polar_express_schedule,
    qdwh_flops,
    qdwh_sign,
)
from matsign.exact.qdwh import dwh_weights
from matsign.synthetic import log_uniform, with_spectrum

M, N = 256, 128
KAPPAS = (1e1, 1e3, 1e5)


def _ell_after(qdwh_steps, lower):
    """The lower bound the rational steps carry from ``ℓ₀ = lower/√N``."""
    ell = lower / math.sqrt(N)
    for _ in range(qdwh_steps):
        a, b, c = dwh_weights(ell)
        ell = min(1.0, ell * (a + b * ell * ell) / (1 + c * ell * ell))
    return ell


def _runs():
    """``(family, label, call(G) -> X, flops)`` for every configuration."""
    for steps in range(5, 13):
        yield ("polar_express", f"polar_express × {steps}",
               lambda G, k=steps: newton_schulz(G, "polar_express", steps=k),
               newton_schulz_flops(M, N, "polar_express", steps))
    for lower in (1e-3, 1e-5):
        for qdwh_steps in (1, 2):
            yield ("hybrid", f"{qdwh_steps}×QDWH({lower:g}) + polar_express",
                   lambda G, q=qdwh_steps, lo=lower: hybrid_sign(G, qdwh_steps=q, lower=lo),
                   hybrid_flops(M, N, qdwh_steps, lower))
            # The schedule the composition calls for: Polar Express generated for [ℓ_K, 1].
            ell = _ell_after(qdwh_steps, lower)
            for steps in (1, 2, 3, 4):
                schedule = polar_express_schedule(steps, lower=ell)
                yield ("hybrid", f"{qdwh_steps}×QDWH({lower:g}) + PE[{ell:.2g}, 1] × {steps}",
                       lambda G, q=qdwh_steps, lo=lower, s=schedule: hybrid_sign(
                           G, qdwh_steps=q, lower=lo, schedule=s),
                       hybrid_flops(M, N, qdwh_steps, lower, schedule))


def main():
    matrices = {kappa: with_spectrum(log_uniform(N, kappa), M, N, rng=0) for kappa in KAPPAS}
    polar = {}
    for kappa, G in matrices.items():
        U, _, Vt = np.linalg.svd(G, full_matrices=False)
        polar[kappa] = U @ Vt
    scale = M * N * N
    rows = []
    for family, label, call, flops in _runs():
        errors = [np.linalg.norm(call(G) - polar[k]) / np.linalg.norm(polar[k])
                  for k, G in matrices.items()]
        rows.append((family, label, flops / scale, errors))
    qdwh_errors, qdwh_cost = [], []
    for kappa, G in matrices.items():
        X, forms = qdwh_sign(G, return_forms=True)
        qdwh_errors.append(np.linalg.norm(X - polar[kappa]) / np.linalg.norm(polar[kappa]))
        qdwh_cost.append(qdwh_flops(M, N, forms.count("qr"), forms.count("cholesky")) / scale)
    rows.append(("qdwh", "qdwh (to convergence)", max(qdwh_cost), qdwh_errors))
    print("| method | flops / mn² | " + " | ".join(f"error κ = {k:.0e}" for k in KAPPAS) + " |")
    print("|---|---|" + "---|" * len(KAPPAS))
    for _, label, cost, errors in rows:
        print(f"| {label} | {cost:.1f} | " + " | ".join(f"{e:.1e}" for e in errors) + " |")
    print()
    for i, kappa in enumerate(KAPPAS):
        winners = []
        for family, label, cost, errors in rows:
            if family != "hybrid" or cost >= qdwh_cost[i]:
                continue
            cheaper = [e[i] for f, _, c, e in rows if f == "polar_express" and c <= cost]
            if cheaper and all(errors[i] < e for e in cheaper):
                winners.append(f"{label} ({errors[i]:.1e} at {cost:.1f} mn²)")
        print(f"κ = {kappa:.0e}: hybrid beats both parts with " + ("; ".join(winners) or "none"))


if __name__ == "__main__":
    main()
