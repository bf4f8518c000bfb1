"""CPU benchmark of the core, every ratio measured side by side in one run.

1. Newton–Schulz (5 quintic steps) against its matrix-product floor, the time of the same
   number of GEMMs (3 n×n products per step on a square input), and against the peer, Muon's
   loop written with plain products and element-wise sums, in the same library and dtype.
2. The exact sign by SVD and by eigh against ``scipy.linalg.polar``, with the error of each
   against an SVD polar factor computed in float64, on a well-conditioned input (κ = 10), plus
   the eigh route's error at larger κ, where squaring the condition number costs accuracy.
3. The exact sign of a float32 matrix by every route — SVD, Gram eigh, Newton–Schulz to
   convergence in float32 and with float64 work, QDWH — timed at κ = 1e3, with the relative
   Frobenius error of each against the float64 SVD polar factor of the same (float32) matrix
   for κ = 1e1 … 1e6.

Usage: ``python benchmarks/cpu.py [--sizes 1024 2048] [--repeats 5]``; prints Markdown tables.
"""

from __future__ import annotations

import numpy as np
import scipy
import scipy.linalg

from matsign._backend import from_numpy
from matsign.exact.converged import converged_newton_schulz
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.qdwh import qdwh_sign
from matsign.exact.sign import msign
from matsign.synthetic import log_uniform, with_spectrum
from timing import median_time, muon_loop, start_cpu_benchmark, table

STEPS = 5
GEMMS_PER_STEP = 3  # A = XXᵀ, A·A, B·X on a square input


def ns_vs_floor(n, repeats, libs):
    rows = []
    G64 = with_spectrum(log_uniform(n, 10.0), n, n, rng=0)
    for lib in libs:
        for dtype in ("float64", "float32"):
            G = from_numpy(G64, like=lib, dtype=dtype)
            B = G * 0.5
            gemm = median_time(lambda: G @ B, repeats)
            ns = median_time(lambda: newton_schulz(G, "muon", steps=STEPS), repeats)
            peer = median_time(lambda: muon_loop(G, STEPS), repeats)
            floor = STEPS * GEMMS_PER_STEP * gemm
            gflops = 2 * n**3 / gemm / 1e9
            rows.append((f"{n}²", lib, dtype, gemm * 1e3, gflops, ns * 1e3, peer * 1e3, floor * 1e3,
                         ns / floor, peer / floor))
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


EXACT_ROUTES = {
    "msign(method='svd')": lambda G: msign(G),
    "msign(method='eigh')": lambda G: msign(G, method="eigh"),
    "converged_newton_schulz": converged_newton_schulz,
    "converged_newton_schulz(dtype='float64')": lambda G: converged_newton_schulz(G, dtype="float64"),
    "qdwh_sign": qdwh_sign,
}
EXACT_KAPPAS = (1e1, 1e3, 1e4, 1e6)


def exact_float32(n, repeats):
    """Rows ``(size, routine, ms at κ = 1e3, relative error at each κ of EXACT_KAPPAS)``."""
    inputs = {k: with_spectrum(log_uniform(n, k), n, n, rng=3).astype(np.float32) for k in EXACT_KAPPAS}
    references = {}
    for k, G in inputs.items():
        U, _, Vt = np.linalg.svd(G.astype(np.float64))
        references[k] = U @ Vt
    rows = []
    for name, route in EXACT_ROUTES.items():
        ms = median_time(lambda: route(inputs[1e3]), repeats) * 1e3
        errors = [np.linalg.norm(route(G).astype(np.float64) - references[k]) / np.sqrt(n)
                  for k, G in inputs.items()]
        rows.append((f"{n}²", name, ms, *errors))
    return rows


def main():
    args, libs = start_cpu_benchmark(__doc__, [1024, 2048])
    ns_rows = [r for n in args.sizes for r in ns_vs_floor(n, args.repeats, libs)]
    print("Newton–Schulz (muon, 5 steps) and the Muon loop vs their GEMM floor (15 GEMMs of the same size)\n")
    print(table(["size", "library", "dtype", "GEMM ms", "GEMM GFLOP/s", "NS ms", "Muon loop ms", "floor ms",
                 "NS / floor", "Muon loop / floor"],
                ns_rows, ["{}", "{}", "{}", "{:.1f}", "{:.0f}", "{:.1f}", "{:.1f}", "{:.1f}", "{:.3f}", "{:.3f}"]))
    ex_rows = [r for n in args.sizes for r in exact_vs_scipy(n, args.repeats)]
    print("\nExact sign, float64, κ = 10: time, speed-up over scipy.linalg.polar, max |error|\n")
    print(table(["size", "routine", "ms", "speed-up", "max abs error"], ex_rows,
                ["{}", "{}", "{:.0f}", "{:.2f}", "{:.1e}"]))
    print(f"\nWhere eigh loses accuracy ({min(args.sizes)}², float64, max abs error vs scipy polar)\n")
    print(table(["κ", "eigh", "svd"], eigh_accuracy(min(args.sizes)), ["{}", "{:.1e}", "{:.1e}"]))
    print("\nExact sign of a float32 matrix: ms at κ = 1e3 (NumPy), relative error against the float64 "
          "polar factor of the same matrix\n")
    rows = [r for n in args.sizes for r in exact_float32(n, args.repeats)]
    print(table(["size", "routine", "ms (κ = 1e3)", *(f"error κ = {k:.0e}" for k in EXACT_KAPPAS)], rows,
                ["{}", "{}", "{:.0f}", *(["{:.1e}"] * len(EXACT_KAPPAS))]))


if __name__ == "__main__":
    main()
