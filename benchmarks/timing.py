"""Shared by the benchmark scripts: the CPU libraries and machine line, a warm median wall time,
a Markdown table, the peer Newton–Schulz loop as Muon writes it, and argument types that turn a
bad command-line value into a usage error naming the option."""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import numpy as np
import scipy

from matsign._backend import check_positive_int, integer_argument


MUON_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def muon_loop(X, steps=5):
    """The peer: Muon's Newton–Schulz loop (K. Jordan et al., 2024) on a NumPy array or torch
    tensor, in its own dtype — Frobenius-normalize with ``+1e-7``, then ``steps`` quintic steps
    written as plain products and element-wise sums."""
    a, b, c = MUON_COEFFICIENTS
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X = X.swapaxes(-1, -2)
    if isinstance(X, np.ndarray):
        norm = np.linalg.norm(X, axis=(-2, -1), keepdims=True)
    else:
        norm = X.norm(dim=(-2, -1), keepdim=True)
    X = X / (norm + 1e-7)
    for _ in range(steps):
        A = X @ X.swapaxes(-1, -2)
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X.swapaxes(-1, -2) if tall else X


#: ``argparse`` type: an integer ≥ 1.
positive_int = integer_argument(check_positive_int, "positive integer")


def condition_number(text):
    """``argparse`` type: a finite number κ ≥ 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 1, got {text!r}")
    return value


def matrix_shape(text, minimum=1):
    """``argparse`` type: ``"MxN"`` → ``(M, N)``, both integers of at least ``minimum``."""
    dims = text.strip().split("x")
    if len(dims) != 2:
        raise argparse.ArgumentTypeError(f"shape {text!r} is not MxN")
    return tuple(dimension(d, text, minimum) for d in dims)


def dimension(text, shape, minimum):
    """One dimension of ``shape``: an integer of at least ``minimum``, else a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape {shape!r}: {text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"shape {shape!r}: dimensions must be at least {minimum}, got {value}")
    return value


def cpu_libraries():
    """``(libraries, line)``: NumPy, and PyTorch when installed; a line naming the machine and versions."""
    libs = ["numpy"]
    try:
        import torch

        libs.append("torch")
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    line = (f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
            f"torch {torch_version}")
    return libs, line


def start_cpu_benchmark(description, default_sizes):
    """Parse ``--sizes N [N ...]`` and ``--repeats R`` of a square-size CPU benchmark, print the
    machine line, and return ``(args, libraries)``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=list(default_sizes))
    parser.add_argument("--repeats", type=positive_int, default=5)
    args = parser.parse_args()
    libs, machine = cpu_libraries()
    print(machine + "\n")
    return args, libs


def median_time(fn, repeats):
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()  # warm-up: thread pools, allocator, first-touch pages
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def table(header, rows, fmt):
    """A Markdown table: ``header`` names, one ``rows`` tuple per line formatted by ``fmt``."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(f.format(v) for f, v in zip(fmt, r)) + " |" for r in rows]
    return "\n".join(out)
