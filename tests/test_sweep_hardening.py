"""Sweeps and the command line against hostile use: two runs on one file, garbage rows, output
paths that cannot be written, unreadable configs and addresses, grids too large to start."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("threadpoolctl")

from matsign.cli import main  # noqa: E402
from matsign.experiments import executors  # noqa: E402
from matsign.experiments.engine import sweep  # noqa: E402
from matsign.experiments.grid import build_cells  # noqa: E402
from matsign.experiments.store import ResultsLocked, ResultsStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = {"seeds": [0, 1], "sources": [{"family": "log_uniform", "m": 6, "n": 8, "kappa": 10.0}],
        "methods": [{"name": "exact_svd"}, {"name": "oracle", "rank": 2}]}
TINY = ('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 8\nn = 12\n'
        '[[methods]]\nname = "oracle"\nrank = [2, 4]\n')


def _run(tmp_path, *args):
    return main(["run", *args, "--no-progress", "--out", str(tmp_path / "r"), "--figures", str(tmp_path / "f")])


@pytest.fixture
def counted(monkeypatch):
    """The list of the keys of the cells run in this process."""
    ran = []
    run_cell = executors.run_cell

    def counting(cell, extra):
        ran.append(cell.key)
        return run_cell(cell, extra)

    monkeypatch.setattr(executors, "run_cell", counting)
    return ran


# ---------------------------------------------------------------- one writer per file


@pytest.fixture
def holder(tmp_path):
    """Start a process holding the results store of ``path`` open; yields its Popen."""
    procs = []

    def start(path):
        code = textwrap.dedent(f"""
            import sys
            from matsign.experiments.store import ResultsStore
            store = ResultsStore({str(path)!r}, ["key"], key=lambda row: row["key"])
            print("ready", flush=True)
            sys.stdin.read()
            store.close()
        """)
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline() == "ready\n"
        return proc

    yield start
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.skipif(os.name != "posix", reason="the lock is POSIX flock")
def test_a_second_run_on_the_same_file_refuses_naming_the_lock_and_its_holder(tmp_path, holder, counted, capsys):
    path = tmp_path / "t.csv"
    proc = holder(path)
    lock = tmp_path / "t.csv.lock"
    with pytest.raises(ResultsLocked, match=f"PID {proc.pid}, lock file {lock}"):
        sweep(build_cells(SPEC), path, progress=False)
    assert counted == []
    proc.stdin.close()
    proc.wait(timeout=30)
    assert not lock.exists()  # released and removed on closing
    path.unlink()  # the holder's one-column table
    assert len(sweep(build_cells(SPEC), path, progress=False)) == 4
    assert not lock.exists()


@pytest.mark.skipif(os.name != "posix", reason="the lock is POSIX flock")
def test_the_command_line_refuses_in_one_line_while_another_run_writes(tmp_path, holder, capsys):
    (tmp_path / "tiny.toml").write_text(TINY)
    proc = holder(tmp_path / "r" / "error-vs-rank-tiny.csv")
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "tiny.toml")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"PID {proc.pid}" in err and "error-vs-rank-tiny.csv.lock" in err


def test_a_lock_file_left_by_a_killed_run_holds_no_lock(tmp_path):
    (tmp_path / "t.csv.lock").write_text("999999\n")
    assert len(sweep(build_cells(SPEC), tmp_path / "t.csv", progress=False)) == 4
    assert not (tmp_path / "t.csv.lock").exists()


def test_a_store_refusing_its_file_releases_the_lock(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")

    def refuse(header, rows):
        raise ValueError("not mine")

    with pytest.raises(ValueError, match="not mine"):
        ResultsStore(path, ["key"], key=lambda row: row["key"], check=refuse)
    ResultsStore(path, ["a", "b"], key=lambda row: row["a"]).close()


# ---------------------------------------------------------------- rows validated on read-back


def _corrupt(path, line, edit):
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = edit(lines[line - 1])
    path.write_text("".join(lines))


@pytest.mark.parametrize("edit, reason", [
    (lambda row: "garbage\n", "1 fields, the header has"),
    (lambda row: row.rstrip("\n") + ",1.0\n", "25 fields, the header has 24"),
    (lambda row: row.replace("exact_svd", "oracle"), "its method is 'oracle', its key's cell has 'exact_svd'"),
    (lambda row: "zz" + row[2:], "key 'zz"),
    (lambda row: "0123" + row[4:], "key '0123.* is not its cell's"),
])
def test_a_garbage_row_is_dropped_with_its_line_and_its_cell_runs_again(tmp_path, counted, edit, reason):
    path = tmp_path / "t.csv"
    cells = build_cells(SPEC)
    before = sweep(cells, path, progress=False)
    _corrupt(path, 2, edit)  # the first row: the exact_svd cell of seed 0
    counted.clear()
    with pytest.warns(UserWarning, match=f"{path}, line 2: dropped a row that does not parse \\({reason}"):
        after = sweep(cells, path, progress=False)
    assert counted == [cells[0].key]
    assert after.drop(columns="seconds").equals(before.drop(columns="seconds"))
    assert "garbage" not in path.read_text() and path.read_text().count("\n") == 5


def test_a_metric_that_is_not_a_number_is_dropped(tmp_path, counted):
    path = tmp_path / "t.csv"
    cells = build_cells(SPEC)
    before = sweep(cells, path, progress=False)
    error = repr(float(before["error"][1]))
    _corrupt(path, 3, lambda row: row.replace(error, "abc"))
    counted.clear()
    with pytest.warns(UserWarning, match="line 3: dropped a row that does not parse \\(error 'abc' is not a number"):
        sweep(cells, path, progress=False)
    assert counted == [cells[1].key]


def test_a_binary_results_file_is_refused_untouched(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY)
    (tmp_path / "r").mkdir()
    binary = tmp_path / "r" / "error-vs-rank-tiny.csv"
    binary.write_bytes(b"\xff\xfe\x00key\n")
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "tiny.toml")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not UTF-8" in err
    assert binary.read_bytes() == b"\xff\xfe\x00key\n"


# ---------------------------------------------------------------- output paths before any work


@pytest.mark.parametrize("where, message", [
    ("--figures", "figure directory {file}: {file} is a file, not a directory"),
    ("--out", "output directory {file}: {file} is a file, not a directory"),
])
def test_an_output_path_that_is_a_file_fails_before_any_work(tmp_path, counted, capsys, where, message):
    (tmp_path / "tiny.toml").write_text(TINY)
    file = tmp_path / "file"
    file.write_text("x")
    other = "--out" if where == "--figures" else "--figures"
    assert main(["run", "error-vs-rank", "--config", str(tmp_path / "tiny.toml"), "--no-progress",
                 where, str(file), other, str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(file=file) in err
    assert counted == [] and not (tmp_path / "d").exists()


def test_a_directory_where_the_table_goes_fails_before_any_work(tmp_path, counted, capsys):
    (tmp_path / "tiny.toml").write_text(TINY)
    (tmp_path / "r" / "error-vs-rank-tiny.csv").mkdir(parents=True)
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "tiny.toml")) == 2
    assert "error-vs-rank-tiny.csv is a directory" in capsys.readouterr().err
    assert counted == []


def test_spectra_checks_its_output_directories_before_reading_the_dump(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    assert main(["spectra", str(tmp_path / "no-such-dump"), "--no-progress", "--out", str(tmp_path / "r"),
                 "--figures", str(file / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--figures {file / 'sub'}: {file} is a file, not a directory" in err


# ---------------------------------------------------------------- unreadable configs and addresses


@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_bytes(b'seeds = [0]\n# \xff\xfe\n'), "config {} is not a text file (not UTF-8 at byte 14)"),
    (lambda path: path.mkdir(), "config file {} cannot be read: Is a directory"),
])
def test_an_unreadable_config_is_a_one_line_error(tmp_path, capsys, make, message):
    config = tmp_path / "bad.toml"
    make(config)
    assert _run(tmp_path, "error-vs-rank", "--config", str(config)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(config) in err


@pytest.mark.parametrize("address", ["garbage", "tcp://", "tcp://host:port", "foo://host:8786", "host:99999", ":::"])
def test_a_malformed_scheduler_address_is_a_usage_error_before_any_work(tmp_path, counted, capsys, address):
    with pytest.raises(SystemExit) as info:
        _run(tmp_path, "error-vs-rank", "--quick", "--scheduler", address)
    assert info.value.code == 2
    assert "--scheduler: scheduler must be 'local' or an address [SCHEME://]HOST:PORT" in capsys.readouterr().err
    with pytest.raises(ValueError, match=f"got {address!r}"):
        sweep(build_cells(SPEC), tmp_path / "t.csv", scheduler=address, progress=False)
    assert counted == [] and not (tmp_path / "t.csv").exists()


# ---------------------------------------------------------------- grids too large to start


@pytest.fixture
def no_build(monkeypatch):
    """Make building the cells fail: the checks under test must come before it."""
    from matsign.experiments import runner

    def build_cells(*args, **kwargs):
        raise AssertionError("cells were built")

    monkeypatch.setattr(runner, "build_cells", build_cells)


@pytest.mark.parametrize("toml, message", [
    ('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 1000000\nn = 1000000\n'
     '[[methods]]\nname = "oracle"\nrank = 2\n',
     "sources[0]: a 1000000×1000000 matrix takes 7.45e+03 GiB in float64, more than 25% of the 16 GiB of "
     "memory available; use a smaller matrix, or pass --yes"),
    ('seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n[[sources]]\nfamily = "power_law"\nm = 8\nn = 12\n'
     f'alpha = {[0.5 + i / 100 for i in range(100)]}\n[[methods]]\nname = "oracle"\nrank = {list(range(1, 1001))}\n',
     "the grid has 1,000,000 cells, more than 100,000"),
], ids=["huge-matrix", "million-cells"])
def test_a_grid_too_large_is_refused_before_building_its_cells(tmp_path, no_build, monkeypatch, capsys, toml,
                                                               message):
    from matsign.experiments import grid

    monkeypatch.setattr(grid, "available_memory", lambda: 16 * 2**30)
    (tmp_path / "big.toml").write_text(toml)
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "big.toml")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "pass --yes" in err


def test_yes_runs_a_grid_refused_as_too_large(tmp_path, monkeypatch, capsys):
    from matsign.experiments import grid

    (tmp_path / "tiny.toml").write_text(TINY)
    monkeypatch.setattr(grid, "MAX_CELLS", 1)
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "tiny.toml")) == 2
    assert "the grid has 2 cells, more than 1" in capsys.readouterr().err
    monkeypatch.setattr(grid, "MAX_CELLS", 100)
    monkeypatch.setattr(grid, "available_memory", lambda: 1000)
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "tiny.toml")) == 2
    assert "a 8×12 matrix takes" in capsys.readouterr().err
    assert _run(tmp_path, "error-vs-rank", "--config", str(tmp_path / "tiny.toml"), "--yes") == 0
    assert (tmp_path / "r" / "error-vs-rank-tiny.csv").read_text().count("\n") == 3


def test_the_estimate_counts_sweeps_blocks_without_expanding_them():
    spec = {"seeds": [0, 1], "sweeps": [
        {"sources": [{"family": "power_law", "m": [8, 64], "n": 16, "alpha": [0.5, 1.0]}],
         "methods": [{"name": "oracle", "rank": [1, 2, 4]}, {"name": "exact_svd"}]},
        {"seeds": [0], "sources": [{"family": "power_law", "m": 32, "n": 48}], "methods": [{"name": "exact_svd"}]},
    ]}
    from matsign.experiments.grid import estimate

    assert estimate(spec) == (len(build_cells(spec)), (32, 48, "sweeps[1].sources[0]"))


# ---------------------------------------------------------------- spectra ranks


def test_a_rank_above_every_matrix_is_a_spectra_usage_error(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    from matsign.io import write_step

    rng = np.random.default_rng(0)
    write_step(tmp_path / "dump", 1, {"grad/a": rng.standard_normal((6, 8)), "grad/b": rng.standard_normal((10, 12))})
    outputs = ["--no-progress", "--out", str(tmp_path / "r"), "--figures", str(tmp_path / "f")]
    assert main(["spectra", str(tmp_path / "dump"), "--ranks", "2", "100000", *outputs]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ranks 100000 exceeds min(m, n) of every matrix" in err
    assert "(the largest is 10); give ranks up to 10" in err and not (tmp_path / "r").exists()
    assert main(["spectra", str(tmp_path / "dump"), "--ranks", "2", "8", *outputs]) == 0
    table = pd.read_csv(tmp_path / "r" / "spectra.csv").set_index("name")
    assert np.isnan(table.loc["a", "tail_energy_r8"]) and table.loc["b", "tail_energy_r8"] > 0


def test_closing_a_store_twice_leaves_the_next_writers_lock_alone(tmp_path):
    path = tmp_path / "t.csv"
    first = ResultsStore(path, ["key"], key=lambda row: row["key"])
    first.close()
    second = ResultsStore(path, ["key"], key=lambda row: row["key"])
    first.close()
    with pytest.raises(ResultsLocked):
        ResultsStore(path, ["key"], key=lambda row: row["key"])
    second.close()


def test_a_zero_matrix_in_a_grid_records_its_row_with_nan_alignment(tmp_path):
    """A zero gradient is valid input: the sweep records it (alignment undefined: NaN) and goes on."""
    import numpy as np

    from matsign.registry import _SOURCES, register_source

    register_source("test_zero", lambda m, n, *, rng=None: np.zeros((m, n)), description="zeros",
                    check=lambda m, n: None)
    try:
        spec = {"seeds": [0], "sources": [{"family": "test_zero", "m": 4, "n": 6}],
                "methods": [{"name": "exact_svd"}, {"name": "gaussian", "rank": 2}]}
        table = sweep(build_cells(spec), tmp_path / "zero.csv", progress=False)
    finally:
        _SOURCES.pop("test_zero", None)
    assert len(table) == 2
    assert table["alignment"].isna().all()
    assert (table["error"] == 0).all()  # the sign of zero is zero, and so is every approximation
