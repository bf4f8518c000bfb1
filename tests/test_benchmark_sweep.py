"""benchmarks/sweep.py runs end to end on the quick grid (no timing asserted) and refuses bad arguments."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("threadpoolctl")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sweep.py"


def test_sweep_benchmark_compares_two_trees_on_the_quick_grid():
    tree = SCRIPT.parents[1]
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--repeats", "1", "--baseline", str(tree)],
                            capture_output=True, text=True, check=True, timeout=120)
    rows = [line for line in result.stdout.splitlines() if line.startswith(("| this tree |", "| baseline |"))]
    assert len(rows) == 2
    assert all(row.rstrip(" |").endswith("yes") for row in rows)  # the same code gives the same table
    assert "30 cells" in result.stdout and "baseline / this tree" in result.stdout


@pytest.mark.parametrize("arguments, message", [
    (["--repeats", "0"], "argument --repeats"),
    (["--baseline", "/nonexistent"], "is not a matsign checkout"),
])
def test_sweep_benchmark_refuses_a_bad_argument_before_any_work(arguments, message):
    result = subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and result.stdout == ""
