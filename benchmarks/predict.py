"""What a σ-only prediction costs against running the method, side by side in one run.

For each method and parameters, times ``matsign.predict(σ, method, shape=…, **params)`` and the
method itself on the same ``S × N`` float32 matrix (``σ_i = i^(−1/2)``, a gapless spectrum
between Haar factors), interleaved round by round, and prints the ratio of the best times. The
Gaussian range finder's Monte-Carlo prediction is timed twice: with the default sketches (4 at a
time until the mean is known to 0.0025, with the spread) and with ``sketches=1`` (the value).
The singular values are computed once beforehand (float64 SVD) and not counted: a caller that
predicts for many methods, as ``matsign advise`` does, pays for them once per matrix; their
time is printed beside the table, against Muon's Newton–Schulz.

Usage: ``python benchmarks/predict.py [--shape 1024 4096] [--repeats 5] [--threads 1]``; prints
Markdown. BLAS runs on ``--threads`` threads (default one, through threadpoolctl).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

import matsign
from matsign.synthetic import power_law, with_spectrum
from costs import interleaved_ratios
from timing import positive_int

#: (method, parameters, predict's sketches or None for its default) timed; ranks up to 128.
CASES = [
    ("newton_schulz", {"schedule": "muon"}, None),
    ("newton_schulz", {"schedule": "polar_express"}, None),
    *((("gaussian", params, sketches) for params in (
        {"rank": 32},
        {"rank": 64, "power_iters": 1, "oversample": 4},
        {"rank": 128, "power_iters": 2, "oversample": 8},
        {"rank": 64, "inner": "muon"},
    ) for sketches in (None, 1))),
    ("column", {"rank": 128}, None),
    ("dion2", {"fraction": 0.25}, None),
    ("muoneq", {"mode": "R"}, None),
    ("galore", {"rank": 128}, None),
    ("gum", {"rank": 128}, None),
    ("oracle", {"rank": 128}, None),
]

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=positive_int, nargs=2, default=[1024, 4096], metavar=("S", "N"),
                        help="the wide orientation, 136 ≤ S ≤ N (the largest sketch is 128 + 8 wide)")
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args()
    s, N = args.shape
    if not 136 <= s <= N:
        parser.error(f"argument --shape: need 136 ≤ S ≤ N, got S = {s}, N = {N}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, NumPy {np.__version__}; float32 on {args.threads} thread(s), {s} × {N}, "
          f"σ_i = i^(-1/2), {args.repeats} interleaved rounds\n")
    G = with_spectrum(power_law(s, 0.5), s, N, rng=0).astype(np.float32)
    rows = []
    with threadpool_limits(limits=args.threads):
        start = time.perf_counter()
        sigma = np.linalg.svd(G.astype(np.float64), compute_uv=False)
        svd_seconds = time.perf_counter() - start
        for name, params, sketches in CASES:
            method = matsign.get_method(name)
            options = {} if sketches is None else {"sketches": sketches}
            fns = [lambda: method(G, rng=0, **params),
                   lambda: matsign.predict(sigma, name, shape=G.shape, stored_dtype="float32", **options, **params)]
            best, ratios, medians = interleaved_ratios(fns, args.repeats)
            prediction = fns[1]()
            kind = prediction["kind"] + (f" ({prediction['draws']} sketch{'es' * (prediction['draws'] > 1)})"
                                         if prediction["draws"] else "")
            label = ", ".join(f"{k}={v}" for k, v in params.items())
            rows.append((f"{name} ({label})", kind, best[0] * 1e3, best[1] * 1e3, ratios[1], medians[1]))
        ns = min(_timed(lambda: matsign.newton_schulz(G, "muon")) for _ in range(args.repeats))
    print("| method | prediction | method ms | predict ms | predict / method (best) | (median round) |")
    print("|---|---|---|---|---|---|")
    for label, kind, t_method, t_predict, ratio, median in rows:
        print(f"| {label} | {kind} | {t_method:.1f} | {t_predict:.2f} | {100 * ratio:.2f}% | {100 * median:.2f}% |")
    print(f"\nσ by a float64 SVD (once per matrix, not in the table): {svd_seconds * 1e3:.0f} ms, "
          f"{svd_seconds / ns:.1f}× Muon's 5-step Newton–Schulz ({ns * 1e3:.0f} ms)")


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
