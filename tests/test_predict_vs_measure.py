"""The predict-vs-measure experiment: its rows against a float64 recomputation."""

import math

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

import matsign  # noqa: E402
from matsign.experiments import EXPERIMENTS, run_experiment  # noqa: E402
from matsign.experiments.sources import get_source  # noqa: E402


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    root = tmp_path_factory.mktemp("pvm")
    experiment = EXPERIMENTS["predict-vs-measure"]
    return run_experiment(experiment, out_dir=root, quick=True, progress=False).table


def _matrix(row):
    params = {k: row[k] for k in ("alpha", "tensor", "step") if k in row and row[k] == row[k]}
    if "tensor" in params:
        params["step"] = int(params["step"])
    source = get_source(row["source"])
    return source(int(row["m"]), int(row["n"]), rng=int(row["matrix_seed"]), **params)


def test_rows_match_a_float64_recomputation(table):
    assert set(table["prediction_kind"]) == {"exact", "monte_carlo", "bound"}
    for _, row in table.iterrows():
        G = _matrix(row)
        U, s, Vt = np.linalg.svd(G, full_matrices=False)
        params = {k: row[k] for k in ("schedule", "rank", "power_iters", "strategy", "fraction")
                  if k in row and row[k] == row[k]}
        params = {k: int(v) if k in ("rank", "power_iters") else v for k, v in params.items()}
        p = matsign.predict(s, row["method"], shape=G.shape, **params)
        # The prediction is a deterministic function of σ: recomputed from a fresh float64 SVD it
        # agrees to rounding (1e-9; σ from two SVDs differ by ~1e-15 relative).
        for column, key in (("predicted_alignment_low", "alignment_low"),
                            ("predicted_error_high", "relative_error_high")):
            assert row[column] == pytest.approx(p[key], rel=1e-9, abs=1e-12), row["method"]
        rho = int(np.count_nonzero(s > max(G.shape) * np.finfo(np.float64).eps * s[0]))
        method = matsign.get_method(row["method"])
        X = np.asarray(method(G, rng=int(row["method_seed"]), **params), dtype=float)
        alignment = float(np.sum(G * X)) / s.sum()
        error = float(np.linalg.norm(X - U[:, :rho] @ Vt[:rho])) / math.sqrt(rho)
        assert row["alignment"] == pytest.approx(alignment, rel=1e-9)
        assert row["error"] == pytest.approx(error, rel=1e-9)
        if row["prediction_kind"] == "exact" and p["alignment_std"] == 0:  # deterministic
            assert abs(alignment - p["alignment"]) <= 1e-6  # equal to rounding
            assert abs(error - p["relative_error"]) <= 1e-6
        elif row["prediction_kind"] in ("exact", "bound"):  # a finite outcome set (GUM) or a bound
            assert p["alignment_low"] - 1e-9 <= alignment <= p["alignment_high"] + 1e-9
            assert p["relative_error_low"] - 1e-9 <= error <= p["relative_error_high"] + 1e-9
        else:  # one sketch: within 0.02 of the mean (its std is ≤ 0.01 at these sizes)
            assert abs(alignment - p["alignment"]) <= 0.02
            assert abs(error - p["relative_error"]) <= 0.02
