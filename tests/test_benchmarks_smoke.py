"""The GPU benchmark script runs end to end on the CPU (tiny sizes; no timing is asserted)."""

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
ROUTINES = {"gemm", "muon_ns", "newton_schulz", "gram_newton_schulz", "lowrank_sign", "msign_eigh", "svd_polar"}


def test_gpu_benchmark_runs_on_cpu(tmp_path):
    out = tmp_path / "gpu.csv"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--sizes", "32,16x48", "--repeats", "1", "--csv", str(out)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["shape"] for r in rows} == {"32×32", "16×48"}
    for shape in ("32×32", "16×48"):
        names = [r["routine"].split(" ")[0] for r in rows if r["shape"] == shape]
        assert set(names) == ROUTINES
        assert len(names) == 3 + 1 + 3 + 3 + 3  # GEMM, peer, NS, Gram NS in 3 dtypes; 3 fp32 routines
    for r in rows:
        assert float(r["ms"]) > 0
        if r["routine"] != "gemm":
            assert math.isfinite(float(r["rel. error"])) and math.isfinite(float(r["max error"]))
        if r["routine"] == "svd_polar":
            # float32 SVD of a 32-column matrix with κ = 1e3: relative error ≈ κ · eps_fp32 ≈ 1e-4 at most.
            assert float(r["rel. error"]) < 1e-3
    # The Markdown table has one line per CSV row, and the targets table follows it.
    table_lines = [line for line in result.stdout.splitlines() if line.startswith("| 32×32") or line.startswith("| 16×48")]
    assert len(table_lines) == len(rows) + 2 * 5
    assert "Targets" in result.stdout
