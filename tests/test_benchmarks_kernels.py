"""The Newton–Schulz and low-rank benchmark scripts run end to end at tiny sizes (no timing is
asserted) and report what their docstrings say."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script, *args):
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          check=True, timeout=300, cwd=BENCHMARKS).stdout


def test_newton_schulz_benchmark_runs():
    pytest.importorskip("threadpoolctl")  # the benchmarks pin BLAS threads (the experiments extra)
    out = _run("newton_schulz.py", "--shapes", "32x64", "--repeats", "1")
    memory = next(line for line in out.splitlines() if line.startswith("| 32×64 |"))  # the first table
    ours, loop = (float(x) for x in memory.split("|")[2:4])
    assert ours < loop  # reused buffers hold less than a fresh array per product
    assert "| 32×64 | numpy | float64 |" in out


def test_lowrank_benchmark_runs():
    pytest.importorskip("sklearn")
    pytest.importorskip("threadpoolctl")
    out = _run("lowrank.py", "--size", "96", "--rank", "8", "--repeats", "1", "--accuracy-shape", "64x64",
               "--seeds", "2")
    assert "sklearn randomized_svd + U @ Vt" in out
    assert "| 96² | float64 | sketched_msign(sketch_dtype='float32') |" in out
    assert "| sketched_msign(sketch_dtype='float32') | 2 |" in out  # the alignment over seeds
    assert out.count("| 1e+12 |") == 11  # five normalizers in two dtypes, and the float32 sketch
