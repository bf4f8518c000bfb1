"""How far NorMuon's and MUD's directions are from ``msign(G)``, beside Muon's.

Usage: ``python scripts/whitening_vs_sign.py`` (from the repository root). One step of each
update rule from a fresh state (so the momentum is ``G`` and the sign target ``msign(G)``), on
256 × 512 and 512 × 256 float64 matrices with log-spaced singular values (κ = 10 and 10³,
random singular vectors) and on the four gradients of the recorded dump at step
500. Prints a markdown table
of the relative Frobenius error ``‖X − msign(G)‖_F/‖msign(G)‖_F`` and the alignment
``⟨G, X⟩/‖G‖_*`` (1 for the exact sign), from the rules' own diagnostics.
"""

from __future__ import annotations

import numpy as np

import matsign
from matsign.io import RECORDED_DUMP
from matsign.synthetic import log_uniform, with_spectrum
from matsign.updates import MUD, Muon, NorMuon

# NorMuon normalizes the rows (neurons) of a stored out × in matrix: the rows of a wide
# matrix's exact sign already have unit norm, a tall one's do not, hence both shapes.

RULES = {
    "Muon (NS5)": lambda: Muon(),
    "Muon (exact)": lambda: Muon(inner="exact"),
    "NorMuon (NS5)": lambda: NorMuon(),
    "NorMuon (exact)": lambda: NorMuon(inner="exact"),
    "MUD ×1": lambda: MUD(),
    "MUD ×2": lambda: MUD(passes=2),
    "MUD ×3": lambda: MUD(passes=3),
}


def _matrices():
    for kappa in (1e1, 1e3):
        for m, n in ((256, 512), (512, 256)):
            G = with_spectrum(log_uniform(256, kappa), m, n, rng=0)
            yield f"synthetic κ = {kappa:.0e}, {m}×{n}", G
    for record in matsign.load_gradients(RECORDED_DUMP):
        if record.kind == "grad" and record.step == 500:
            G = np.asarray(record.load(), dtype=np.float64)
            yield f"recorded {record.name} {G.shape[0]}×{G.shape[1]}", G


def main():
    print("| matrix | " + " | ".join(f"{name} error / alignment" for name in RULES) + " |")
    print("|---" * (len(RULES) + 1) + "|")
    for label, G in _matrices():
        cells = []
        for make in RULES.values():
            d = make().step(G).diagnostics
            cells.append(f"{d['relative_error']:.3f} / {d['alignment']:.3f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
