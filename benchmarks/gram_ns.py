"""CPU benchmark: Gram Newton–Schulz against the standard iteration, side by side in one run.

For each shape, library (NumPy, torch CPU) and dtype (float64, float32), the median time of
``gram_newton_schulz(G, "polar_express")`` (one restart, the default) and of
``newton_schulz(G, "polar_express")``, their ratio, the flop-model ratio it should approach, and
the max-entry difference between the two results (float64: roundoff; float32: the Gram form's
extra rounding).

Usage: ``python benchmarks/gram_ns.py [--shapes 256x4096 1024x1024] [--repeats 5]``; prints a
Markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np

from matsign._backend import from_numpy
from matsign.exact.gram_newton_schulz import gram_newton_schulz, gram_newton_schulz_flops
from matsign.exact.newton_schulz import newton_schulz
from matsign.registry import METHODS
from matsign.synthetic import log_uniform, with_spectrum
from timing import cpu_libraries, matrix_shape, median_time, positive_int, table

SCHEDULE = "polar_express"


def rows_for(m, n, repeats, libs):
    G64 = with_spectrum(log_uniform(min(m, n), 1e3), m, n, rng=0)
    model = gram_newton_schulz_flops(m, n, SCHEDULE) / METHODS["newton_schulz"].flops(m, n, schedule=SCHEDULE)
    rows = []
    for lib in libs:
        for dtype in ("float64", "float32"):
            G = from_numpy(G64, like=lib, dtype=dtype)
            t_std = median_time(lambda: newton_schulz(G, SCHEDULE), repeats)
            t_gram = median_time(lambda: gram_newton_schulz(G, SCHEDULE), repeats)
            diff = np.abs(np.asarray(gram_newton_schulz(G, SCHEDULE), dtype=np.float64)
                          - np.asarray(newton_schulz(G, SCHEDULE), dtype=np.float64)).max()
            rows.append((f"{m}×{n}", lib, dtype, t_std * 1e3, t_gram * 1e3, t_gram / t_std, model, diff))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", type=matrix_shape, nargs="+",
                        default=[(256, 4096), (512, 4096), (1024, 4096), (1024, 1024)], help="MxN shapes")
    parser.add_argument("--repeats", type=positive_int, default=5)
    args = parser.parse_args()
    libs, machine = cpu_libraries()
    print(machine + "\n")
    rows = []
    for m, n in args.shapes:
        rows += rows_for(m, n, args.repeats, libs)
    print(f"Gram Newton–Schulz vs Newton–Schulz ({SCHEDULE}, 5 steps, Gram with one restart)\n")
    print(table(["shape", "library", "dtype", "NS ms", "Gram NS ms", "time ratio", "flop ratio", "max abs diff"],
                rows, ["{}", "{}", "{}", "{:.1f}", "{:.1f}", "{:.2f}", "{:.2f}", "{:.1e}"]))


if __name__ == "__main__":
    main()
