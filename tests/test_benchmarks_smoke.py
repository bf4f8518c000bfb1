"""The GPU benchmark script runs end to end on the CPU (tiny sizes; no timing is asserted)."""

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
ROUTINES = {"gemm", "muon_ns", "newton_schulz", "gram_newton_schulz", "lowrank_sign", "msign_eigh", "exact_ns",
            "exact_ns_fp64", "qdwh", "svd_polar"}
SHAPES = ("32×32", "16×48", "2×16×24")


def test_gpu_benchmark_runs_on_cpu(tmp_path):
    out = tmp_path / "gpu.csv"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--sizes", "32,16x48,2x16x24", "--repeats", "1", "--csv", str(out)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["shape"] for r in rows} == set(SHAPES)
    for shape in SHAPES:
        names = [r["routine"].split(" ")[0] for r in rows if r["shape"] == shape]
        assert set(names) == ROUTINES
        assert len(names) == 3 + 1 + 3 + 3 + 6  # GEMM, peer, NS, Gram NS in 3 dtypes; 6 fp32 routines
    for r in rows:
        assert float(r["ms"]) > 0
        if r["routine"] != "gemm":
            assert math.isfinite(float(r["rel. error"])) and math.isfinite(float(r["max error"]))
        if r["routine"] in ("svd_polar", "exact_ns", "exact_ns_fp64", "qdwh"):
            # Exact routes on a float32 input with κ = 1e3: the input's rounding alone moves the
            # sign by up to ≈ κ · eps_fp32 ≈ 1e-4 (relative Frobenius error).
            assert float(r["rel. error"]) < 1e-3
    # The Markdown table has one line per CSV row, and the targets table follows it.
    table_lines = [line for line in result.stdout.splitlines() if line.startswith(tuple(f"| {s} " for s in SHAPES))]
    assert len(table_lines) == len(rows) + 3 * 8  # 8 target lines per shape
    assert "Targets" in result.stdout


@pytest.mark.parametrize("shape", [(24, 40), (40, 24), (2, 16, 24)])
def test_muon_peer_loop_is_the_muon_iteration(shape):
    """The benchmarks' peer loop computes the iteration ``newton_schulz(G, "muon")`` computes:
    same coefficients, normalization and orientation, on NumPy and on torch."""
    import numpy as np
    import torch

    sys.path.insert(0, str(SCRIPT.parent))
    from timing import muon_loop

    from matsign.exact.newton_schulz import newton_schulz

    G = np.random.default_rng(0).standard_normal(shape)
    ours = newton_schulz(G, "muon", steps=5)
    # Float64 throughout; the peer's +1e-7 in the normalization rescales X₀ by 1 − O(1e-7 / ‖G‖_F),
    # which five steps amplify by at most the product of the polynomials' slopes (< 100).
    for peer in (muon_loop(G, 5), muon_loop(torch.from_numpy(G), 5).numpy()):
        np.testing.assert_allclose(peer, ours, rtol=0, atol=1e-6)
