"""Shared by the benchmark scripts: the CPU libraries and machine line, a warm median wall time,
and a Markdown table."""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np
import scipy


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
