"""What checking an input for NaN/Inf costs, side by side in one run.

Every public sign function scans its input once (``matsign._backend.all_finite``: one sum, the
entrywise scan only when the sum is not finite). This script times, per library and size, on a
finite float32 matrix:

- the sum-first check against the entrywise scan ``all(isfinite(G))`` it replaced;
- the check against the calls it guards: ``sketched_msign`` at rank 64 (the cheapest sign here,
  two thin products) and ``newton_schulz`` (5 Muon steps).

Usage: ``python benchmarks/checks.py [--sizes 1024 4096] [--repeats 5]``; prints a Markdown table.
"""

from __future__ import annotations

import numpy as np

from matsign import sketched_msign, newton_schulz
from matsign._backend import all_finite, from_numpy, namespace
from timing import median_time, start_cpu_benchmark, table

RANK = 64


def check_costs(n, repeats, libs):
    """Rows ``(size, library, sum-first ms, scan ms, scan / sum-first, sum-first as % of
    sketched_msign and of newton_schulz)``."""
    G64 = np.random.default_rng(0).standard_normal((n, n))
    rows = []
    for lib in libs:
        G = from_numpy(G64, like=lib, dtype="float32")
        xp = namespace(G)
        # The products first: right after another library's BLAS work, the first calls of the
        # next library meet its spinning threads (on 2 cores, +7 ms per call measured).
        lowrank = median_time(lambda: sketched_msign(G, min(RANK, n), rng=0), repeats)
        ns = median_time(lambda: newton_schulz(G, "muon", steps=5), repeats)
        check = median_time(lambda: all_finite(G), repeats)
        scan = median_time(lambda: bool(xp.all(xp.isfinite(G))), repeats)
        rows.append((f"{n}²", lib, check * 1e3, scan * 1e3, scan / check, 100 * check / lowrank, 100 * check / ns))
    return rows


def main():
    args, libs = start_cpu_benchmark(__doc__, [1024, 4096])
    rows = [r for n in args.sizes for r in check_costs(n, args.repeats, libs)]
    print("NaN/Inf check of a float32 input: sum first vs entrywise scan, and its share of a call\n")
    print(table(["size", "library", "check ms (sum first)", "scan ms (isfinite)", "scan / check",
                 f"check, % of sketched_msign r={RANK}", "check, % of newton_schulz"],
                rows, ["{}", "{}", "{:.2f}", "{:.2f}", "{:.1f}", "{:.1f}", "{:.2f}"]))


if __name__ == "__main__":
    main()
