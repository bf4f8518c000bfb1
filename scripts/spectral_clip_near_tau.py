"""How the Newton–Schulz route of spectral clipping degrades for singular values near τ.

Usage: ``python scripts/spectral_clip_near_tau.py`` (from the repository root). For 128 × 256
float64 matrices whose singular values cluster around ``τ = 1`` (``σ_i = 1 + δ·u_i``, ``u_i``
evenly spaced in [−1, 1]), with three large outliers beside such a cluster, or spread far
from it (log-spaced over [0.01, 100]), prints a
markdown table: the relative Frobenius error of ``spectral_clip(G, 1, route="newton_schulz")``
against the SVD route, and the largest error of a clipped singular value relative to ``τ``,
per schedule. The ``exact sign`` column runs the same identity with both polar factors taken
by the SVD (:func:`matsign.msign`): the identity's own error, without the schedule's.
"""

from __future__ import annotations

import numpy as np

from matsign import msign
from matsign.exact.clip import spectral_clip
from matsign.synthetic import log_uniform, with_spectrum

M, N, TAU = 128, 256, 1.0
SCHEDULES = ("muon", "polar_express", "polar_express8")


def _spectra():
    u = np.linspace(-1.0, 1.0, M)
    yield "spread 0.01…100", 100.0 * log_uniform(M, 1e4)
    for delta in (0.5, 0.1, 1e-2, 1e-3):
        yield f"τ(1 ± {delta:g})", TAU * (1.0 + delta * u)
    for delta in (0.1, 1e-2):
        # A few large values dominate ‖G − τP‖_F: the cluster's |σ − τ| become tiny inputs of S.
        cluster = TAU * (1.0 + delta * u[3:])
        yield f"100, 50, 20 + τ(1 ± {delta:g})", np.concatenate([[100.0, 50.0, 20.0], cluster])


def _identity_with_exact_signs(G):
    P = msign(G)
    D = G - TAU * P
    return 0.5 * (G + TAU * P - (msign(D) @ P.T) @ D)


def _errors(X, reference):
    frobenius = np.linalg.norm(X - reference) / np.linalg.norm(reference)
    values = np.linalg.svd(X, compute_uv=False)
    wanted = np.linalg.svd(reference, compute_uv=False)
    return frobenius, np.max(np.abs(values - wanted)) / TAU


def main():
    print("| spectrum | " + " | ".join(f"{s} (Frobenius / max σ error)" for s in SCHEDULES)
          + " | exact sign |")
    print("|---" * (len(SCHEDULES) + 2) + "|")
    for label, sigma in _spectra():
        G = with_spectrum(sigma, M, N, rng=0)
        reference = spectral_clip(G, TAU)
        cells = []
        for schedule in SCHEDULES:
            X = spectral_clip(G, TAU, route="newton_schulz", schedule=schedule)
            cells.append("%.1e / %.1e" % _errors(X, reference))
        cells.append("%.1e / %.1e" % _errors(_identity_with_exact_signs(G), reference))
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
