"""Shared by the benchmark scripts: a warm median wall time and a Markdown table."""

from __future__ import annotations

import statistics
import time


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
