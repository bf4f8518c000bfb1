"""CPU benchmark of Newton–Schulz's memory and speed: its buffers, its GEMM floor, and torch's Muon.

For each shape (one BLAS thread, set before NumPy loads):

1. Peak memory (``tracemalloc``, NumPy float32) of ``newton_schulz(G, "muon")`` and of the same
   iteration written with a fresh array per product (the Muon loop of :func:`timing.muon_loop`),
   as multiples of the input's size: the loop needs ``X``, ``A = XXᵀ`` and the next ``X``,
   ``(2 + m/n)·|G|`` on the wide orientation.
2. Time (the process's CPU time, min over interleaved repeats) of ``newton_schulz`` against its
   GEMM floor, the time of the products it performs (``XXᵀ``, ``A·A`` and ``B·X`` per step, each
   timed alone on matrices of its shapes) on NumPy and torch CPU, float64 and float32.
3. On torch, against ``torch.optim._muon._zeropower_via_newtonschulz`` (PyTorch's own Muon
   Newton–Schulz, present in torch ≥ 2.9; it works in bfloat16) and our ``newton_schulz`` with
   ``dtype="bfloat16"``: the same five quintic steps in the same precision.

Usage: ``python benchmarks/newton_schulz.py [--shapes 1024x4096 4096x1024 2048x2048] [--repeats 5]``;
prints Markdown tables.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from matsign._backend import from_numpy  # noqa: E402
from matsign.exact.newton_schulz import newton_schulz  # noqa: E402
from matsign.synthetic import log_uniform, with_spectrum  # noqa: E402
from timing import MUON_COEFFICIENTS, cpu_libraries, matrix_shape, muon_loop, positive_int, table  # noqa: E402

STEPS = 5  # Muon's schedule


def peak_ratio(function, G):
    """Peak of NumPy allocations during ``function(G)``, as a multiple of ``G.nbytes``."""
    function(G)
    tracemalloc.start()
    try:
        function(G)
        return tracemalloc.get_traced_memory()[1] / G.nbytes
    finally:
        tracemalloc.stop()


def cpu_times(functions, repeats):
    """Min process CPU time of each function, the calls interleaved ``repeats`` times after a warm-up."""
    for f in functions.values():
        f()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start = time.process_time()
            f()
            times[name].append(time.process_time() - start)
    return {name: min(t) for name, t in times.items()}


def memory_rows(shapes):
    rows = []
    for m, n in shapes:
        G = with_spectrum(log_uniform(min(m, n), 1e3), m, n, rng=0).astype(np.float32)
        rows.append((f"{m}×{n}", peak_ratio(lambda X: newton_schulz(X, "muon"), G),
                     peak_ratio(lambda X: muon_loop(X, STEPS), G), 2 + min(m, n) / max(m, n)))
    return rows


def speed_rows(shapes, repeats, libs):
    rows = []
    for m, n in shapes:
        s, N = min(m, n), max(m, n)
        G64 = with_spectrum(log_uniform(s, 1e3), m, n, rng=0)
        for lib in libs:
            for dtype in ("float64", "float32"):
                G = from_numpy(G64, like=lib, dtype=dtype)
                X = from_numpy(G64[:s, :N] if m <= n else G64[:N, :s].T, like=lib, dtype=dtype)
                A = X[:, :s] * 0.5
                functions = {
                    "newton_schulz": lambda: newton_schulz(G, "muon"),
                    "XXᵀ": lambda: X @ X.T,
                    "A·A": lambda: A @ A,
                    "B·X": lambda: A @ X,
                }
                times = cpu_times(functions, repeats)
                floor = STEPS * (times["XXᵀ"] + times["A·A"] + times["B·X"])
                rows.append((f"{m}×{n}", lib, dtype, times["newton_schulz"] * 1e3, floor * 1e3,
                             times["newton_schulz"] / floor))
    return rows


def torch_muon_rows(shapes, repeats):
    import torch

    try:
        from torch.optim._muon import _zeropower_via_newtonschulz
    except ImportError:
        return []
    rows = []
    for m, n in shapes:
        G = torch.from_numpy(with_spectrum(log_uniform(min(m, n), 1e3), m, n, rng=0).astype(np.float32))
        functions = {
            "torch.optim._muon": lambda: _zeropower_via_newtonschulz(G, MUON_COEFFICIENTS, STEPS, 1e-7),
            "newton_schulz(dtype='bfloat16')": lambda: newton_schulz(G, "muon", dtype="bfloat16"),
        }
        times = cpu_times(functions, repeats)
        ours, theirs = times["newton_schulz(dtype='bfloat16')"], times["torch.optim._muon"]
        rows.append((f"{m}×{n}", theirs * 1e3, ours * 1e3, ours / theirs))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", type=matrix_shape, nargs="+", default=[(1024, 4096), (4096, 1024), (2048, 2048)])
    parser.add_argument("--repeats", type=positive_int, default=5)
    args = parser.parse_args()
    libs, machine = cpu_libraries()
    print(f"{machine}, one BLAS thread\n")
    print("Peak memory during the call (tracemalloc, NumPy float32), multiples of the input\n")
    print(table(["shape", "newton_schulz", "Muon loop (a fresh array per product)", "X, A, next X: 2 + s/N"],
                memory_rows(args.shapes), ["{}", "{:.2f}", "{:.2f}", "{:.2f}"]))
    with threadpool_limits(limits=1):
        if "torch" in libs:
            import torch

            torch.set_num_threads(1)
        print(f"\nnewton_schulz (muon, {STEPS} steps) against its GEMM floor: CPU ms, min of {args.repeats} "
              "interleaved\n")
        print(table(["shape", "library", "dtype", "NS ms", "floor ms", "NS / floor"],
                    speed_rows(args.shapes, args.repeats, libs), ["{}", "{}", "{}", "{:.1f}", "{:.1f}", "{:.3f}"]))
        rows = torch_muon_rows(args.shapes, args.repeats) if "torch" in libs else []
        if rows:
            print("\nAgainst PyTorch's Muon Newton–Schulz (bfloat16 on torch CPU, 5 steps): CPU ms\n")
            print(table(["shape", "torch.optim._muon", "newton_schulz(dtype='bfloat16')", "ratio"], rows,
                        ["{}", "{:.1f}", "{:.1f}", "{:.3f}"]))


if __name__ == "__main__":
    main()
