"""CPU cost of the cheap signs against Muon's full Newton–Schulz, measured side by side in one run.

Every row times one approximation of the sign of the same ``s × N`` matrix (float32, the wide
orientation) and divides by the time of Muon's 5-step quintic on the whole matrix, measured in
the same run; the flop ratio from :data:`matsign.registry.METHODS` stands beside it.

1. Dion2 (arXiv 2512.16928): select ``k = ⌈α·s⌉`` rows by L1 norm, 5 Muon steps on the
   ``k × N`` submatrix, scatter back. The Gram work of a step is ``4k²N``, so the cost should
   fall as ``α²`` (plus ``2k³``, which falls as ``α³``, and the selection's ``O(sN)``); the
   iteration on a ``k × N`` block alone separates the Gram work from the selection and scatter.
2. Low-rank sign (arXiv 2509.11983): ``Q·NS5(QᵀG)`` with ``Q`` from a Gaussian sketch (0 or 2
   power iterations, Householder QR or Cholesky-QR2 between products) or from ``r`` uniformly
   chosen columns, as the official Low-rank-Muon code.
3. MuonEq (arXiv 2603.28254): row equilibration before the same iteration (elementwise work).
4. GaLore / GUM (arXiv 2510.17802): the thin SVD that refreshes the projector, once per period.

Usage: ``python benchmarks/costs.py [--shape 1024 4096] [--repeats 9] [--threads 1]
[--library numpy]``, with ``128 ≤ S ≤ N`` (the largest rank timed is 128); prints a Markdown table.
BLAS runs on ``--threads`` threads (default one, through threadpoolctl), so the ratios stay
stable when other jobs share the cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

import matsign
from matsign.synthetic import power_law, with_spectrum
from timing import positive_int

STEPS = 5
#: Ranks of the low-rank signs; the largest is also the GaLore projector's.
RANKS = (32, 128)


def interleaved_ratios(fns, repeats):
    """Best time of each callable, its ratio to the first one's best, and the median per-round ratio.

    Every round times each callable once, in order, so a change in the machine's load between
    rounds moves the numerator and the denominator of a round's ratio together; on a shared
    machine the best times are the least disturbed, and the two ratios bracket the noise.
    """
    for fn in fns:
        fn()  # warm-up: thread pools, allocator, first-touch pages
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    best = [min(ts) for ts in times]
    medians = [statistics.median(t / b for t, b in zip(ts, times[0])) for ts in times]
    return best, [b / best[0] for b in best], medians


def cases(s, N):
    """(label, callable on G, flops) for every approximation, Muon's full iteration first."""
    methods = matsign.registry.METHODS
    rows = [("Muon: NS5 on the whole matrix", lambda G: matsign.newton_schulz(G, "muon", steps=STEPS),
             methods["newton_schulz"].flops(s, N, schedule="muon", steps=STEPS))]
    for alpha in (1.0, 0.5, 0.25, 0.125):
        params = dict(fraction=alpha, inner="newton_schulz", schedule="muon", steps=STEPS)
        rows.append((f"Dion2 α = {alpha}: L1 rows, NS5 on k × N", _bind(methods["dion2"], params, 0),
                     methods["dion2"].flops(s, N, **params)))
    for alpha in (0.5, 0.25, 0.125):
        k = matsign.transforms.slice_count(alpha, s)
        rows.append((f"NS5 on the first k = {k} rows alone (α = {alpha}; no selection, no scatter)",
                     lambda G, k=k: matsign.newton_schulz(G[:k], "muon", steps=STEPS),
                     methods["newton_schulz"].flops(k, N, schedule="muon", steps=STEPS)))
    for rank in RANKS:
        for power_iters in (0, 2):
            params = dict(rank=rank, power_iters=power_iters, inner="muon", steps=STEPS)
            rows.append((f"low-rank, Gaussian r = {rank}, q = {power_iters}, NS5 inside",
                         _bind(methods["gaussian"], params, 0), methods["gaussian"].flops(s, N, **params)))
        if rank == max(RANKS):
            params = dict(rank=rank, power_iters=2, normalizer="cholesky_qr", inner="muon", steps=STEPS)
            rows.append((f"low-rank, Gaussian r = {rank}, q = 2, Cholesky-QR2, NS5 inside",
                         _bind(methods["gaussian"], params, 0), methods["gaussian"].flops(s, N, **params)))
        params = dict(rank=rank, strategy="uniform", inner="muon", steps=STEPS)
        rows.append((f"low-rank, {rank} uniform columns, NS5 inside",
                     _bind(methods["column"], params, 0), methods["column"].flops(s, N, **params)))
    params = dict(mode="R", schedule="muon", steps=STEPS)
    rows.append(("MuonEq R: row scaling + NS5", _bind(methods["muoneq"], params, None),
                 methods["muoneq"].flops(s, N, **params)))
    rows.append(("GaLore/GUM projector refresh (thin SVD)", lambda G: matsign.transforms.galore_projector(G, max(RANKS)),
                 6 * N * s * s + 20 * s**3))  # R-SVD, the flop model of matsign.registry
    return rows


def _bind(method, params, rng):
    return lambda G: method(G, rng=rng, **params)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=positive_int, nargs=2, default=[1024, 4096], metavar=("S", "N"),
                        help=f"the wide orientation, {max(RANKS)} ≤ S ≤ N (the largest rank timed is {max(RANKS)})")
    parser.add_argument("--repeats", type=positive_int, default=9)
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--library", choices=("numpy", "torch"), default="numpy")
    args = parser.parse_args()
    s, N = args.shape
    if not max(RANKS) <= s <= N:
        parser.error(f"argument --shape: need {max(RANKS)} ≤ S ≤ N (the wide orientation, ranks up to "
                     f"{max(RANKS)}), got S = {s}, N = {N}")
    G = with_spectrum(power_law(s), s, N, rng=0).astype(np.float32)
    versions = f"NumPy {np.__version__}"
    if args.library == "torch":
        import torch

        G = torch.from_numpy(G)
        torch.set_num_threads(args.threads)
        versions += f", torch {torch.__version__}"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {versions}; {args.library} float32 on {args.threads} "
          f"thread(s), {s} × {N}, σ_i = 1/i, {args.repeats} interleaved rounds\n")
    table = cases(s, N)
    with threadpool_limits(limits=args.threads):
        best, ratios, medians = interleaved_ratios([lambda fn=fn: fn(G) for _, fn, _ in table], args.repeats)
    base_flops = table[0][2]
    print("| approximation | best ms | time / Muon (best) | time / Muon (median round) | flops / Muon |")
    print("|---|---|---|---|---|")
    for (label, _, flops), t, ratio, median in zip(table, best, ratios, medians):
        print(f"| {label} | {t * 1e3:.1f} | {ratio:.3f} | {median:.3f} | {flops / base_flops:.3f} |")


if __name__ == "__main__":
    main()
