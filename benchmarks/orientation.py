"""CPU benchmark: the Gaussian low-rank sign of a tall matrix, sketched on its wide orientation
(what ``sketched_msign(G, k, range="gaussian")`` does) against the column-space sketch of the
tall matrix itself (``gaussian_range(G)`` then ``lowrank_msign``).

One BLAS thread (set before NumPy loads); both routines interleaved in one process, CPU time of
the process (min over repeats, so other load on the machine counts less than in wall time). The
ratio is new / old. Also printed: each route's mean alignment ``⟨G, X⟩/‖G‖_*`` over the repeats'
seeds (the two have the same distribution, so the means agree to Monte-Carlo error).

Usage: ``python benchmarks/orientation.py [--shape 3072x768] [--rank 64] [--oversample 8]
[--repeats 7]``; prints a Markdown table.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from matsign.lowrank.ranges import gaussian_range  # noqa: E402
from matsign.lowrank.sign import lowrank_msign, sketched_msign  # noqa: E402
from matsign.synthetic import power_law, with_spectrum  # noqa: E402
from timing import cpu_libraries, matrix_shape, positive_int, table  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=matrix_shape, default=(3072, 768))
    parser.add_argument("--rank", type=positive_int, default=64)
    parser.add_argument("--oversample", type=int, default=8)
    parser.add_argument("--repeats", type=positive_int, default=7)
    args = parser.parse_args(argv)
    m, n = args.shape
    if m <= n:
        parser.error(f"--shape must be tall (m > n), got {m}x{n}")
    s = power_law(n, 0.6)
    G = with_spectrum(s, m, n, rng=0).astype(np.float32)
    nuclear = float(s.sum())
    k, p = args.rank, args.oversample
    rows = []
    for q in (0, 1, 2):
        routes = {
            "column space of G (m rows)": lambda seed: lowrank_msign(
                G, gaussian_range(G, k, oversample=p, power_iters=q, rng=seed), rank=k),
            "wide orientation (n rows)": lambda seed: sketched_msign(G, k, oversample=p, power_iters=q, rng=seed),
        }
        best = dict.fromkeys(routes, float("inf"))
        aligned = {name: [] for name in routes}
        for seed in range(args.repeats):
            for name, route in routes.items():
                start = time.process_time()
                X = route(seed)
                best[name] = min(best[name], time.process_time() - start)
                aligned[name].append(float(np.sum(G.astype(np.float64) * X)) / nuclear)
        old = best["column space of G (m rows)"]
        for name in routes:
            rows.append([f"{m}×{n}", q, name, f"{1000 * best[name]:.1f}", f"{best[name] / old:.3f}",
                         f"{np.mean(aligned[name]):.4f}"])
    print(cpu_libraries()[1])
    print(f"rank {k} + oversample {p}, float32, σ_i = i^-0.6, min CPU time of {args.repeats} interleaved repeats\n")
    print(table(["shape", "q", "route", "CPU ms", "/ column space", "mean alignment"], rows, ["{}"] * 6))


if __name__ == "__main__":
    main()
