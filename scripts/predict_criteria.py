"""Predicted from σ alone vs measured on every gradient of a dump: the three checks in one line.

Usage: ``python scripts/predict_criteria.py PATH`` (a dump ``matsign.load_gradients`` reads, e.g.
one written by ``python -m matsign record --width 768 --depth 1 --heads 12 --context 64
--batch 8 --steps 20 --dump-steps 1,20 --out DIR``). For every gradient ``G`` (float64 SVD,
reference: every singular value above ``max(m, n)·eps₆₄·σ₁``), the methods run on ``G`` as
stored and print:

- the Gaussian sketch at ranks 16, 32, 64 and 0–2 power iterations: the largest distance between
  the predicted mean alignment and the mean of 4 measured sketches;
- Newton–Schulz with every named schedule: the largest relative difference between predicted
  and measured alignment and error;
- column selection (5 rules, rank 32), Dion2 (fractions 1/8, 1/4, 1/2), MuonEq (R, C, RC), two
  seeds each: how many bound ends are not finite and how many measurements fall outside.
"""

from __future__ import annotations

import math
import sys

import numpy as np

import matsign
from matsign.exact.schedules import SCHEDULES

BOUNDED = ([("column", {"rank": 32, "strategy": s})
            for s in ("uniform", "norm", "leverage", "pivoted_qr", "l1_topk")]
           + [("dion2", {"fraction": f}) for f in (0.125, 0.25, 0.5)]
           + [("muoneq", {"mode": m}) for m in ("R", "C", "RC")])
ENDS = ("alignment_low", "alignment_high", "relative_error_low", "relative_error_high")


def main(path) -> None:
    records = [r for r in matsign.load_gradients(path) if r.kind == "grad"]
    worst_gaussian = worst_ns = 0.0
    checked = violated = not_finite = 0
    for record in records:
        G = record.load()
        G64 = np.asarray(G, dtype=np.float64)
        U, s, Vt = np.linalg.svd(G64, full_matrices=False)
        rho = int(np.count_nonzero(s > max(G.shape) * np.finfo(np.float64).eps * s[0]))
        R = U[:, :rho] @ Vt[:rho]

        def measure(name, seed=0, **params):
            X = np.asarray(matsign.get_method(name)(G, rng=seed, **params), dtype=np.float64)
            return float(np.sum(G64 * X)) / s.sum(), float(np.linalg.norm(X - R)) / math.sqrt(rho)

        def predict(name, **params):
            return matsign.predict(s, name, shape=G.shape, stored_dtype=record.dtype, **params)

        for rank in (16, 32, 64):
            for q in (0, 1, 2):
                measured = np.mean([measure("gaussian", seed, rank=rank, power_iters=q)[0]
                                    for seed in range(4)])
                p = predict("gaussian", rank=rank, power_iters=q)
                worst_gaussian = max(worst_gaussian, abs(measured - p["alignment"]))
        for schedule in SCHEDULES:
            a, e = measure("newton_schulz", schedule=schedule)
            p = predict("newton_schulz", schedule=schedule)
            worst_ns = max(worst_ns, abs(a - p["alignment"]) / abs(p["alignment"]),
                           abs(e - p["relative_error"]) / abs(p["relative_error"]))
        for name, params in BOUNDED:
            p = predict(name, **params)
            not_finite += sum(not math.isfinite(p[end]) for end in ENDS)
            for seed in range(2):
                a, e = measure(name, seed, **params)
                checked += 1
                slack = 1e-9  # float64 rounding of the measurement
                violated += not (p["alignment_low"] - slack <= a <= p["alignment_high"] + slack
                                 and p["relative_error_low"] - slack <= e
                                 <= p["relative_error_high"] + slack)
    print(f"{len(records)} gradients; Gaussian: largest |measured mean − predicted| alignment "
          f"{worst_gaussian:.4f}; Newton–Schulz: largest relative difference {worst_ns:.2e}; "
          f"bounds: {checked} runs, {violated} outside, {not_finite} ends not finite")


if __name__ == "__main__":
    main(sys.argv[1])
