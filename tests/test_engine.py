"""The sweep engine: grid checks before work, seeds from coordinates, crash and resume, workers."""

import math

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("threadpoolctl")

from matsign import registry  # noqa: E402
from matsign.exact.sign import msign  # noqa: E402
from matsign.experiments.engine import TIMING, Extra, ResultsError, sweep  # noqa: E402
from matsign.experiments.grid import GridError, build_cells  # noqa: E402
from matsign.experiments.sources import get_source  # noqa: E402
from matsign.metrics import relative_error  # noqa: E402

SPEC = {
    "seeds": [0, 1],
    "sources": [{"family": "log_uniform", "m": 24, "n": 40, "kappa": [10.0, 1e3]},
                {"family": "power_law", "m": 32, "n": 20}],
    "methods": [{"name": "newton_schulz", "schedule": ["muon", "polar_express"], "steps": [3, 6]},
                {"name": "gaussian", "rank": [4, 8], "power_iters": 1},
                {"name": "column", "rank": 6, "strategy": "norm"}],
}


#: A one-matrix grid for tests of the results file (cells run in milliseconds).
SMALL = {"seeds": [0], "sources": [{"family": "log_uniform", "m": 6, "n": 8, "kappa": 10.0}]}


def _same(a, b):
    """Tables equal in every column but the timings (exact equality, NaN == NaN)."""
    pd.testing.assert_frame_equal(a.drop(columns=list(TIMING)), b.drop(columns=list(TIMING)), check_exact=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "t.csv"
    return sweep(build_cells(SPEC), path, progress=False)


# ---------------------------------------------------------------- the grid


@pytest.mark.parametrize("change, message", [
    ({"methods": [{"name": "no_such_method"}]}, r"methods\[0\]: unknown method 'no_such_method'"),
    ({"methods": [{"name": "gaussian", "rank": 4, "rnak": 2}]}, r"methods\[0\] \(gaussian\): .*no parameter 'rnak'"),
    ({"methods": [{"name": "gaussian"}]}, r"methods\[0\] \(gaussian\): .*needs parameter 'rank'"),
    ({"methods": [{"name": "gaussian", "rank": []}]}, r"methods\[0\] \(gaussian\): 'rank' is an empty list"),
    ({"methods": [{"name": "column", "rank": [4, 30]}]},
     r"methods\[0\] \(column\): rank 30 exceeds min\(m, n\) = 24 of sources\[0\] \(log_uniform\)"),
    ({"methods": [{"name": "gaussian", "rank": 16, "oversample": 10}]},
     r"rank \+ oversample 26 exceeds min\(m, n\) = 24"),
    ({"methods": []}, r"no methods given"),
    ({"seeds": []}, r"seeds must be a non-empty list"),
    ({"sources": [{"family": "plaw", "m": 4, "n": 4}]}, r"sources\[0\]: unknown source 'plaw'"),
    ({"sources": [{"family": "log_uniform", "m": 4, "n": 4}]}, r"sources\[0\] \(log_uniform\): .*needs parameter 'kappa'"),
    ({"sources": [{"family": "log_uniform", "m": 4, "kappa": 2.0}]}, r"sources\[0\] \(log_uniform\): n must be a positive"),
    ({"sources": [{"family": "log_uniform", "m": 4, "n": 6, "kappa": 0.5}]}, r"kappa must be a finite number ≥ 1, got 0.5"),
    ({"sources": [{"family": "log_uniform", "m": 4, "n": 6, "kappa": 2.0, "input_dtype": "bfloat16"}]},
     r"input_dtype 'bfloat16' cannot be stored on backend 'numpy'"),
    ({"methods": [{"name": "exact_svd"}, {"name": "exact_svd"}]}, r"repeats the cell of"),
    # Parameter values are checked by the method's own rules before any cell runs.
    ({"methods": [{"name": "gaussian", "rank": 4, "power_iters": -1}]},
     r"methods\[0\] \(gaussian\): power_iters must be a non-negative integer, got -1"),
    ({"methods": [{"name": "gaussian", "rank": 4, "oversample": -10}]}, r"\(gaussian\): oversample must be a non-negative"),
    ({"methods": [{"name": "gaussian", "rank": 4, "inner": "newton_schulz"}]},
     r"\(gaussian\): inner must be 'exact' or a Newton–Schulz schedule"),
    ({"methods": [{"name": "newton_schulz", "schedule": "nope"}]}, r"\(newton_schulz\): unknown schedule 'nope'"),
    ({"methods": [{"name": "newton_schulz", "steps": 0}]}, r"\(newton_schulz\): steps must be a positive integer, got 0"),
    ({"methods": [{"name": "newton_schulz", "dtype": "float8"}]}, r"\(newton_schulz\): dtype must be one of"),
    ({"methods": [{"name": "column", "rank": 4, "strategy": "bogus"}]}, r"\(column\): strategy must be one of"),
    ({"methods": [{"name": "gram_newton_schulz", "restarts": [2]}]},  # a list is an axis: restarts = 2
     r"\(gram_newton_schulz\): restarts must be a sequence of step indices, got 2"),
    ({"methods": [{"name": "exact_ns", "dtype": "float16"}]}, r"\(exact_ns\): dtype must be one of \('float64', 'float32'\)"),
    ({"methods": [{"name": "qdwh", "dtype": "bfloat16"}]}, r"\(qdwh\): dtype must be one of"),
    ({"methods": [{"name": "muoneq", "mode": "X"}]}, r"\(muoneq\): mode must be one of"),
    ({"methods": [{"name": "dion2", "fraction": 1.5}]}, r"\(dion2\): fraction must be a number in \(0, 1\]"),
    ({"methods": [{"name": "dion2", "steps": 3}]}, r"\(dion2\): steps applies only to a Newton–Schulz inner sign"),
    ({"methods": [{"name": "gum", "rank": 4, "q": 1.0}]}, r"\(gum\): q must be a number in \(0, 1\)"),
    # Source values: finite real numbers, errors that name the parameter.
    ({"sources": [{"family": "power_law", "m": 4, "n": 6, "alpha": math.nan}]},
     r"sources\[0\] \(power_law\): alpha must be a finite number ≥ 0, got nan"),
    ({"sources": [{"family": "power_law", "m": 4, "n": 6, "alpha": "one"}]}, r"alpha must be a finite number ≥ 0, got 'one'"),
    ({"sources": [{"family": "exponential", "m": 4, "n": 6, "rate": "x"}]}, r"rate must be a finite number ≥ 0, got 'x'"),
    ({"sources": [{"family": "exponential", "m": 4, "n": 6, "rate": -1.0}]}, r"rate must be a finite number ≥ 0, got -1.0"),
    ({"sources": [{"family": "log_uniform", "m": 4, "n": 6, "kappa": [1.0, "x"]}]}, r"kappa must be a finite number ≥ 1, got 'x'"),
    ({"sources": [{"family": "log_uniform", "m": 4, "n": 6, "kappa": math.inf}]}, r"kappa must be a finite number ≥ 1, got inf"),
    ({"sources": [{"family": "low_rank_noise", "m": 4, "n": 6, "signal_rank": 2, "noise": "x"}]},
     r"noise must be a number in \[0, 1\], got 'x'"),
    ({"sources": [{"family": "low_rank_noise", "m": 4, "n": 6, "signal_rank": 2, "noise": 2.0}]},
     r"sources\[0\] \(low_rank_noise\): noise must be a number in \[0, 1\], got 2.0"),
    ({"sources": [{"family": "low_rank_noise", "m": 4, "n": 6, "signal_rank": 5, "noise": 0.1}]},
     r"signal_rank must be at most"),
    ({"sources": [{"family": "scale_mismatch", "m": 4, "n": 6, "kappa": math.nan}]}, r"kappa must be a finite number ≥ 1, got nan"),
])
def test_bad_grids_fail_before_any_work_naming_the_entry(change, message):
    with pytest.raises(GridError, match=message):
        build_cells({**SPEC, **change})


def test_sweeps_tables_take_only_seeds_sources_and_methods():
    block = {"seed": [5], "sources": SPEC["sources"], "methods": [{"name": "exact_svd"}]}
    with pytest.raises(GridError, match=r"sweeps\[0\]: unknown key 'seed'; a \[\[sweeps\]\] table has seeds, sources"):
        build_cells({"seeds": [0], "sweeps": [block]})
    del block["seed"]
    assert {c.seed for c in build_cells({"seeds": [0], "sweeps": [block]})} == {0}


def test_tf32_is_a_working_precision_not_a_storage_format():
    source = {"family": "log_uniform", "m": 4, "n": 6, "kappa": 2.0, "input_dtype": "tfloat32"}
    with pytest.raises(GridError, match=r"input_dtype 'tfloat32' cannot be stored on backend 'torch'"):
        build_cells({**SPEC, "sources": [source]}, backend="torch")


def test_cells_are_ordered_and_their_identity_ignores_spelling():
    cells = build_cells(SPEC)
    assert len(cells) == 3 * 2 * (4 + 2 + 1)
    spelled = build_cells({**SPEC, "methods": [{"name": "gaussian", "rank": 4, "power_iters": 1, "oversample": 0,
                                                "normalizer": "auto"}]})
    assert spelled[0].key == next(c.key for c in cells if c.method == "gaussian" and dict(c.method_params)["rank"] == 4)
    # One matrix per (source, parameters, seed), whatever the method; a method seed per cell.
    first = [c for c in cells if c.matrix_id == cells[0].matrix_id]
    assert len(first) == 7 and len({c.matrix_seed for c in first}) == 1
    assert len({c.method_seed for c in cells}) == len(cells)
    assert len({c.matrix_seed for c in cells}) == 3 * 2


def test_rows_hold_every_parameter_and_correct_metrics(reference):
    table = reference
    assert len(table) == 42 and table["key"].is_unique
    assert {"kappa", "alpha", "schedule", "steps", "rank", "power_iters", "strategy", "flops", "seconds",
            "backend", "seed", "error", "alignment", "orthogonality_error", "rank_floor"} <= set(table.columns)
    row = table[(table["method"] == "newton_schulz") & (table["kappa"] == 1e3)].iloc[0]
    # Rebuild the matrix from the recorded seed and recompute the error independently.
    G = get_source("log_uniform")(24, 40, rng=int(row["matrix_seed"]), kappa=1e3)
    X = registry.METHODS["newton_schulz"](G, schedule=row["schedule"], steps=int(row["steps"]))
    assert row["error"] == pytest.approx(float(relative_error(X, msign(G))), rel=1e-12)
    assert row["flops"] == registry.METHODS["newton_schulz"].flops(24, 40, schedule=row["schedule"], steps=int(row["steps"]))
    gaussian = table[table["method"] == "gaussian"]
    np.testing.assert_allclose(gaussian["rank_floor"], np.sqrt((gaussian["rho"] - gaussian["rank"]) / gaussian["rho"]))
    assert (gaussian["error"] >= gaussian["rank_floor"] - 1e-12).all()
    assert table.loc[table["method"] == "newton_schulz", "rank_floor"].isna().all()


# ---------------------------------------------------------------- crash and resume


@pytest.fixture
def flaky():
    """A method that raises once a countdown reaches zero (a simulated crash), else runs NS."""
    state = {"left": None}

    def function(G, *, rng=None, steps=3):
        if state["left"] is not None:
            if state["left"] == 0:
                raise RuntimeError("simulated crash")
            state["left"] -= 1
        return registry.METHODS["newton_schulz"](G, steps=steps)

    registry.register("test_flaky", function, description="NS that crashes on demand",
                     flops=lambda m, n, *, steps: 0.0)
    yield state
    registry._METHODS.pop("test_flaky")


def test_a_crashed_sweep_resumes_to_the_uninterrupted_table(tmp_path, flaky):
    spec = {**SPEC, "methods": [{"name": "test_flaky", "steps": [1, 2, 3, 4]}, {"name": "oracle", "rank": 5}]}
    cells = build_cells(spec)
    whole = sweep(cells, tmp_path / "whole.csv", progress=False)
    flaky["left"] = 7
    with pytest.raises(RuntimeError, match="simulated crash"):
        sweep(cells, tmp_path / "t.csv", progress=False)
    written = (tmp_path / "t.csv").read_text().splitlines()
    assert 7 <= len(written) - 1 < len(cells)
    # A crash in the middle of a write leaves a cut-short last row: it is dropped and re-run.
    with open(tmp_path / "t.csv", "a") as f:
        f.write(written[-1][: len(written[-1]) // 2])
    flaky["left"] = None
    resumed = sweep(cells, tmp_path / "t.csv", progress=False)
    assert resumed["key"].is_unique and len(resumed) == len(cells)
    _same(resumed, whole)
    # The file on disk is the table: same lines as the uninterrupted run's but for the timings.
    seconds = whole.columns.get_loc("seconds")

    def untimed(name):
        return [line.split(",")[:seconds] + line.split(",")[seconds + 1:]
                for line in (tmp_path / name).read_text().splitlines()]

    assert untimed("t.csv") == untimed("whole.csv")


def test_resume_skips_finished_cells(tmp_path, flaky, reference):
    path = tmp_path / "t.csv"
    sweep(build_cells(SPEC), path, progress=False)
    before = path.read_text()
    flaky["left"] = 0  # any call of the flaky method would raise: none may run
    again = sweep(build_cells(SPEC), path, progress=False)
    assert path.read_text() == before
    _same(again, reference)


def test_a_killed_process_resumes_without_loss_or_duplicates(tmp_path, reference):
    path = tmp_path / "t.csv"
    spec = {**SPEC, "seeds": list(range(12))}
    script = textwrap.dedent(f"""
        from matsign.experiments.engine import sweep
        from matsign.experiments.grid import build_cells
        sweep(build_cells({spec!r}), {str(path)!r}, progress=False)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and (not path.exists() or path.read_text().count("\n") < 20):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = path.read_text().count("\n") - 1
    cells = build_cells(spec)
    assert 0 < done < len(cells)
    resumed = sweep(cells, path, progress=False)
    assert resumed["key"].is_unique and len(resumed) == len(cells)
    # The first two seeds are the reference grid's cells: identical rows.
    _same(resumed[resumed["seed"] < 2].reset_index(drop=True), reference)


def test_rows_of_another_grid_stay_on_disk(tmp_path, flaky):
    path = tmp_path / "t.csv"
    first = build_cells({**SMALL, "methods": [{"name": "test_flaky", "steps": [1, 2]}]})
    second = build_cells({**SMALL, "methods": [{"name": "oracle", "rank": [2, 3]}]})
    before = sweep(first, path, progress=False)
    table = sweep(second, path, progress=False)
    # The returned table is this grid's, as a run into an empty file gives it…
    assert list(table["key"]) == [c.key for c in second] and "steps" not in table.columns
    _same(table, sweep(second, tmp_path / "alone.csv", progress=False))
    # …and the first grid's rows are still on disk: rerunning it runs nothing.
    assert set(pd.read_csv(path)["key"]) == {c.key for c in first + second}
    flaky["left"] = 0  # any call of the flaky method would raise
    _same(sweep(first, path, progress=False), before)
    assert set(pd.read_csv(path)["key"]) == {c.key for c in first + second}


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n", r"no 'key' column"),
    ("key,source,m,n\n0123,power_law,4,6\n", r"no 'input_dtype' column"),  # an older or foreign table
])
def test_a_file_that_is_not_a_results_table_is_refused_untouched(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ResultsError, match=f"{path}.*{message}.*--out"):
        sweep(build_cells({**SMALL, "methods": [{"name": "exact_svd"}]}), path, progress=False)
    assert path.read_text() == text


# ---------------------------------------------------------------- workers


def _waits_for_another_row(X, context, cell):
    """Extra column: whether, in a worker, the seed-0 cell saw another cell's row reach the file."""
    if cell.seed != 0:
        return {"saw_row": math.nan}
    path = os.environ["MATSIGN_TEST_RESULTS"]
    deadline = time.time() + 8
    while time.time() < deadline:
        if open(path).read().count("\n") >= 2:  # the header and one row
            return {"saw_row": 1.0}
        time.sleep(0.02)
    return {"saw_row": 0.0}


def test_worker_rows_reach_the_file_as_cells_finish(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    monkeypatch.setenv("MATSIGN_TEST_RESULTS", str(path))
    cells = build_cells({**SMALL, "seeds": [0, 1], "methods": [{"name": "exact_svd"}]})  # two chunks
    extra = Extra(("saw_row",), _waits_for_another_row)
    table = sweep(cells, path, workers=2, extra=extra, progress=False)
    assert table.loc[table["seed"] == 0, "saw_row"].item() == 1.0


def test_two_processes_give_the_serial_table(tmp_path, reference):
    _same(sweep(build_cells(SPEC), tmp_path / "p.csv", workers=2, progress=False), reference)


def test_a_dask_cluster_gives_the_serial_table(tmp_path, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
        table = sweep(build_cells(SPEC), tmp_path / "d.csv", scheduler=client, workers=2, progress=False)
    _same(table, reference)


def test_parquet_copy_equals_the_csv_table(tmp_path, reference):
    pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    table = sweep(build_cells(SPEC), tmp_path / "q.csv", parquet=True, progress=False)
    _same(table, reference)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "q.parquet"), table)


def test_extra_columns_must_match_their_declaration(tmp_path):
    cells = build_cells({**SPEC, "methods": [{"name": "exact_svd"}]})
    with pytest.raises(RuntimeError, match="differ from the declared"):
        sweep(cells, tmp_path / "t.csv", extra=Extra(("a",), _wrong_extra), progress=False)


def _wrong_extra(X, context, cell):
    return {"b": 1.0}


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        sweep(build_cells(SPEC), tmp_path / "t.csv", workers=0)
    with pytest.raises(GridError, match="CPU only"):
        sweep(build_cells(SPEC, device="cuda"), tmp_path / "t.csv", progress=False)
    with pytest.raises(GridError, match="backend must be one of"):
        build_cells(SPEC, backend="jax")
    assert not (tmp_path / "t.csv").exists()


# ---------------------------------------------------------------- the results store


def _store(path, **kwargs):
    from matsign.experiments.store import ResultsStore

    return ResultsStore(path, ["run", "step", "value"], key=lambda row: row["run"],
                        complete=lambda rows: [r["step"] for r in rows] == ["0", "1"], **kwargs)


def test_the_store_resumes_complete_groups_and_drops_what_a_crash_cut_short(tmp_path):
    path = tmp_path / "s.csv"
    store = _store(path)
    store.append([{"run": "a", "step": 0, "value": 0.1}, {"run": "a", "step": 1, "value": None}])
    store.append([{"run": "b", "step": 0, "value": 1e30}, {"run": "b", "step": 1, "value": math.nan}])
    store.close()
    assert path.read_text() == "run,step,value\na,0,0.1\na,1,\nb,0,1e+30\nb,1,nan\n"
    path.write_text(path.read_text() + "c,0,0.5\nc,1,0.")  # run c: its last line cut short
    again = _store(path)
    assert "a" in again and "b" in again and "c" not in again
    again.finish(["b", "a"])  # the given keys last, in that order
    assert path.read_text() == "run,step,value\nb,0,1e+30\nb,1,nan\na,0,0.1\na,1,\n"


def test_the_store_lets_its_check_refuse_a_file_untouched(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("run,step\nx,0\n")  # incomplete group, which a rewrite would drop

    def check(header, rows):
        if "value" not in header:
            raise ResultsError("no 'value' column")

    with pytest.raises(ResultsError, match="value"):
        _store(path, check=check)
    assert path.read_text() == "run,step\nx,0\n"


# ---------------------------------------------------------------- threads

#: Run in a fresh process (SciPy's BLAS not loaded yet): a serial sweep and a worker's chunk, each
#: cell recording the largest thread count of every BLAS/OpenMP pool after a lazy
#: ``scipy.linalg`` import, and PyTorch's intra-op threads.
THREADS_SCRIPT = """
import json, sys
from threadpoolctl import threadpool_info
from matsign.experiments.engine import Extra, sweep
from matsign.experiments.executors import run_chunk
from matsign.experiments.grid import build_cells

assert "scipy.linalg" not in sys.modules  # the cell loads it, as the pivoted-QR column method does
import torch

def threads(X, context, cell):
    import scipy.linalg
    scipy.linalg.qr(context.G, pivoting=True)
    pools = {p["internal_api"] + ":" + p["filepath"]: p["num_threads"] for p in threadpool_info()}
    return {"pools": json.dumps(pools), "torch_threads": torch.get_num_threads()}

cells = build_cells({"seeds": [0], "sources": [{"family": "log_uniform", "m": 6, "n": 8, "kappa": 10.0}],
                     "methods": [{"name": "column", "rank": 3, "strategy": "pivoted_qr"}]})
extra = Extra(("pools", "torch_threads"), threads)
table = sweep(cells, sys.argv[1], extra=extra, progress=False)
rows = [{"pools": table["pools"][0], "torch_threads": int(table["torch_threads"][0])}, run_chunk(cells, extra)[0]]
print(json.dumps([{"pools": json.loads(r["pools"]), "torch_threads": r["torch_threads"]} for r in rows]))
"""


def test_every_blas_pool_runs_one_thread_in_a_cell_even_if_loaded_in_it(tmp_path):
    pytest.importorskip("torch")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)  # the machine's default thread counts, as a user's shell has them
    result = subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(tmp_path / "t.csv")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    import json

    for row in json.loads(result.stdout):  # the serial sweep's cell, then a worker's
        assert any("scipy" in path for path in row["pools"]), row  # SciPy's own BLAS was seen
        assert set(row["pools"].values()) == {1}, row
        assert row["torch_threads"] == 1, row


def test_a_finished_sweep_starts_no_pool_or_cluster(tmp_path, monkeypatch):
    import matsign.experiments.engine as engine
    import matsign.experiments.executors as executors

    cells = build_cells({**SMALL, "methods": [{"name": "exact_svd"}]})
    first = sweep(cells, tmp_path / "t.csv", progress=False)

    def refuse(*args, **kwargs):
        raise AssertionError("a pool or cluster was started with no cell pending")

    monkeypatch.setattr(engine, "batches", refuse)
    _same(sweep(cells, tmp_path / "t.csv", workers=2, scheduler="local", progress=False), first)
    monkeypatch.setattr(executors, "_dask", refuse)
    monkeypatch.setattr(executors, "_process_pool", refuse)
    assert list(executors.batches([], workers=2, scheduler="local")) == []
    assert list(executors.batches([], workers=2)) == []
