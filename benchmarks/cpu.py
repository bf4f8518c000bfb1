"""CPU benchmark of the core, every ratio measured side by side in one run.

1. Newton–Schulz (5 quintic steps) against its matrix-product floor: the time of the same
   number of GEMMs (3 n×n products per step on a square input) in the same library and dtype.
2. The exact sign by SVD and by eigh against ``scipy.linalg.polar``, with the error of each
   against an SVD polar factor computed in float64, on a well-conditioned input (κ = 10), plus
   the eigh route's error at larger κ, where squaring the condition number costs accuracy.

Usage: ``python benchmarks/cpu.py [--sizes 1024 2048] [--repeats 5]``; prints Markdown tables.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy
import scipy.linalg

from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.sign import msign
from matsign.synthetic import log_uniform, with_spectrum
from timing import cpu_libraries, median_time, table

STEPS = 5
GEMMS_PER_STEP = 3  # A = XXᵀ, A·A, B·X on a square input


def ns_vs_floor(n, repeats, libs):
    rows = []
    G64 = with_spectrum(log_uniform(n, 10.0), n, n, rng=0)
    for lib in libs:
        for dtype in ("float64", "float32"):
            if lib == "torch":
                import torch

                G = torch.tensor(G64).to(getattr(torch, dtype))
            else:
                G = G64.astype(dtype)
            B = G * 0.5
            gemm = median_time(lambda: G @ B, repeats)
            ns = median_time(lambda: newton_schulz(G, "muon", steps=STEPS), repeats)
            floor = STEPS * GEMMS_PER_STEP * gemm
            gflops = 2 * n**3 / gemm / 1e9
            rows.append((f"{n}²", lib, dtype, gemm * 1e3, gflops, ns * 1e3, floor * 1e3, ns / floor))
    return rows


def exact_vs_scipy(n, repeats):
    G = with_spectrum(log_uniform(n, 10.0), n, n, rng=1)
    oracle, _ = scipy.linalg.polar(G)
    t_scipy = median_time(lambda: scipy.linalg.polar(G), repeats)
    rows = [(f"{n}²", "scipy.linalg.polar", t_scipy * 1e3, 1.0, 0.0)]
    for method in ("svd", "eigh"):
        t = median_time(lambda: msign(G, method=method), repeats)
        err = np.abs(msign(G, method=method) - oracle).max()
        rows.append((f"{n}²", f"msign(method={method!r})", t * 1e3, t_scipy / t, err))
    return rows


def eigh_accuracy(n):
    rows = []
    for kappa in (1e1, 1e3, 1e5, 1e7):
        G = with_spectrum(log_uniform(n, kappa), n, n, rng=2)
        oracle, _ = scipy.linalg.polar(G)
        rows.append((f"{kappa:.0e}", np.abs(msign(G, method="eigh") - oracle).max(), np.abs(msign(G) - oracle).max()))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    libs, machine = cpu_libraries()
    print(machine + "\n")
    ns_rows = [r for n in args.sizes for r in ns_vs_floor(n, args.repeats, libs)]
    print("Newton–Schulz (muon, 5 steps) vs its GEMM floor (15 GEMMs of the same size)\n")
    print(table(["size", "library", "dtype", "GEMM ms", "GEMM GFLOP/s", "NS ms", "floor ms", "NS / floor"],
                ns_rows, ["{}", "{}", "{}", "{:.1f}", "{:.0f}", "{:.1f}", "{:.1f}", "{:.3f}"]))
    ex_rows = [r for n in args.sizes for r in exact_vs_scipy(n, args.repeats)]
    print("\nExact sign, float64, κ = 10: time, speed-up over scipy.linalg.polar, max |error|\n")
    print(table(["size", "routine", "ms", "speed-up", "max abs error"], ex_rows,
                ["{}", "{}", "{:.0f}", "{:.2f}", "{:.1e}"]))
    print(f"\nWhere eigh loses accuracy ({min(args.sizes)}², float64, max abs error vs scipy polar)\n")
    print(table(["κ", "eigh", "svd"], eigh_accuracy(min(args.sizes)), ["{}", "{:.1e}", "{:.1e}"]))


if __name__ == "__main__":
    main()
