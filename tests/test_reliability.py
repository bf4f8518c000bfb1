"""scripts/reliability.py in its quick form: a few inputs of each category, no silent failure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "reliability.py"


def _script():
    spec = importlib.util.spec_from_file_location("reliability", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quick_reliability_count_has_no_silent_failure():
    reliability = _script()
    table = reliability.count(quick=True)
    assert set(table) == set(reliability.CATEGORIES)
    for category, row in table.items():
        assert row["tried"] > 0, category
        assert row["tried"] == row[reliability.CLEAR] + row[reliability.CORRECT] + row[reliability.SILENT]
        assert row[reliability.SILENT] == 0, row["failures"]


def test_the_count_calls_a_wrong_result_a_silent_failure():
    # The judge of the scale cases against a function that loses its input at tiny scales.
    reliability = _script()
    G = reliability._matrices()["full rank 5×7"]
    flushed = lambda X: reliability.np.where(abs(X) < 1e-200, 0.0, X)  # noqa: E731
    assert reliability._judge_scaled(flushed, 1, G, 1e-300, "float64")[0] == reliability.SILENT
    assert reliability._judge_scaled(flushed, 1, G, 1e300, "float64")[0] == reliability.CORRECT
