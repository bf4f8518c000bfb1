r"""The sweep engine: run every cell of a grid, append one row per cell to disk, resume, parallelize.

:func:`sweep` maps a list of :class:`~matsign.experiments.grid.Cell` to a tidy table: one row per
cell with its coordinates, every parameter (defaults filled in), the metrics of
:mod:`matsign.experiments.measure`, the flop estimate of :data:`matsign.registry.METHODS`, the wall time,
backend, device and seeds. Its parts:

- :mod:`~matsign.experiments.measure` runs one cell and measures its row;
- :mod:`~matsign.experiments.executors` runs the cells serially, in a process pool or on Dask;
- :mod:`~matsign.experiments.store` appends the rows to the CSV file and resumes.

**Reproducibility.** The matrix seed derives from the source coordinates and the replicate
seed, the method's seed from all coordinates (see :class:`~matsign.experiments.grid.Cell`);
every cell runs with single-threaded BLAS (``threadpoolctl``; PyTorch's intra-op threads too;
SciPy's own BLAS and any runtime loaded during the sweep as well, see
:func:`matsign._backend.threads.single_threaded`).
So the table does not depend on the order of the cells, on the number of workers or on their
kind (serial, process pool, Dask) — only the ``seconds`` column does.

**On disk.** Rows are appended as cells finish (with a process pool or Dask, as chunks finish),
``key`` identifying the cell. Run the same sweep again and finished cells are skipped: an
interrupted sweep resumes with nothing lost or duplicated. Rows of other grids in the file (e.g.
after the config file was edited) are kept: at the end the file is rewritten with those rows
first, then this grid's rows in grid order, under the union of the columns. The returned table
holds this grid's rows only, with this grid's columns — the table a run into an empty file
gives. A file that is not a results table of this engine (no ``key`` column, or a metric column
missing: an older format) raises :class:`ResultsError`, never touched. A row that does not parse
(a wrong field count, coordinates other than its key's cell, a metric that is not a number) is
dropped with a warning naming its line, and its cell runs again. While a sweep runs, a second
one on the same file refuses at once (:class:`~matsign.experiments.store.ResultsLocked`, naming
the lock file and the PID of the run holding it; see :mod:`~matsign.experiments.store`).
"""

from __future__ import annotations

from pathlib import Path

from matsign._backend import check_positive_int, single_threaded
from matsign.experiments.executors import batches, check_scheduler
from matsign.experiments.grid import COORDINATES, GridError
from matsign.experiments.measure import METRICS, TIMING, Context, Extra, check_backend, run_cell
from matsign.experiments.store import ResultsError, ResultsStore, format_value, read_table
from matsign.plots import progress_bar

__all__ = ["METRICS", "TIMING", "Context", "Extra", "ResultsError", "check_backend", "run_cell", "sweep"]


def _columns(cells, extra) -> list[str]:
    """The table's columns: ``key``, the coordinates with every parameter of the grid, the
    metrics and the extra columns; a parameter named like one of those is a grid error."""
    extra_columns = list(extra.columns if extra else ())
    reserved = {"key", *METRICS, *extra_columns}
    for cell in cells:
        clash = sorted(reserved & {k for k, _ in (*cell.source_params, *cell.method_params)})
        if clash:
            raise GridError(f"parameter {clash[0]!r} of {cell.source} / {cell.method} has the name of a result column")
    names = ["key", "source", "m", "n"]
    for cell in cells:
        names += [k for k, _ in cell.source_params if k not in names]
    names += ["input_dtype", "method"]
    for cell in cells:
        names += [k for k, _ in cell.method_params if k not in names]
    return names + ["seed", "backend", "device", *METRICS, *extra_columns]


def _row_check(cells):
    """``valid(row)`` for the store: why a row read back is garbage (a key that is not a cell's
    hash, coordinates other than its cell's, a metric that is not a number), None if it is not."""
    expected = {cell.key: {k: format_value(v) for k, v in cell.coordinates().items()} for cell in cells}
    keys = {}  # the cells' keys by their coordinate columns, then their values
    for key, coordinates in expected.items():
        keys.setdefault(tuple(coordinates), {})[tuple(coordinates.values())] = key

    def valid(row):  # a missing column is the store's check's to report
        key = row.get("key")
        if key is None:
            return None
        if len(key) != 20 or any(c not in "0123456789abcdef" for c in key):
            return f"key {key!r} is not a cell's"
        wrong = [c for c, value in expected.get(key, {}).items() if row.get(c) != value]
        if wrong:
            return f"its {wrong[0]} is {row.get(wrong[0])!r}, its key's cell has {expected[key][wrong[0]]!r}"
        for columns, by_values in keys.items():
            cell_key = by_values.get(tuple(row.get(c) for c in columns), key)
            if cell_key != key:
                return f"key {key!r} is not its cell's, {cell_key!r}"
        for column in METRICS:
            try:
                float(row.get(column) or "nan")
            except ValueError:
                return f"{column} {row[column]!r} is not a number"
        return None

    return valid


def _open_results(path: Path, columns: list[str], extra, cells) -> ResultsStore:
    """The results file, refused if it lacks a column every sweep with ``extra`` writes; rows
    that do not parse are dropped (their cells run again)."""
    required = ["key", *COORDINATES, *METRICS, *(extra.columns if extra else ())]

    def check(header, rows):
        missing = [c for c in required if c not in header]
        if missing:
            what = ("no 'key' column" if "key" in missing
                    else f"no {missing[0]!r} column: another experiment's or an older version's")
            raise ResultsError(f"{path} is not a results table of this sweep ({what}); move it away, "
                               "or write this run elsewhere (matsign run --out DIR)")

    return ResultsStore(path, columns, key=lambda row: row["key"], check=check, valid=_row_check(cells))


def _check_arguments(cells, workers, scheduler, parquet) -> int:
    """``workers`` as an int, after checking the arguments and that the grid's backend can run."""
    workers = check_positive_int(workers, "workers")
    check_scheduler(scheduler)
    if not cells:
        raise ValueError("the grid has no cells")
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError("Parquet output needs pyarrow: pip install 'matsign[parquet]'") from None
    check_backend(cells[0].backend, cells[0].device)
    return workers


def _run_pending(cells, results: ResultsStore, extra, *, workers, scheduler, progress, desc) -> None:
    """Run the cells not yet in ``results``, appending each batch of rows as it arrives."""
    pending = [c for c in cells if c.key not in results]
    if not pending:  # no pool or Dask cluster started for nothing
        return
    bar = progress_bar(len(cells), desc=desc, initial=len(cells) - len(pending), disable=not progress)
    try:
        with single_threaded():
            for batch in batches(pending, extra, workers=workers, scheduler=scheduler):
                for row in batch:
                    results.append([row])
                bar.update(len(batch))
    except BaseException:
        results.close()
        raise
    finally:
        bar.close()


def sweep(
    cells: list,
    path,
    *,
    workers: int = 1,
    scheduler=None,
    extra: Extra | None = None,
    progress: bool = True,
    parquet: bool = False,
    desc: str = "sweep",
):
    """Run every cell not yet in the results file ``path``; return the whole table in grid order.

    Parameters
    ----------
    cells : list of Cell
        From :func:`~matsign.experiments.grid.build_cells` (already checked).
    path : str or Path
        The CSV file rows are appended to (created with its folders); finished cells in it are
        skipped (see the module docstring).
    workers : int, default 1
        1 runs in this process; more run a process pool of that size (or, with ``scheduler``,
        the size of a local Dask cluster).
    scheduler : None, "local", address or distributed.Client
        Run on Dask: ``"local"`` starts a local cluster of ``workers`` processes, an address
        (``tcp://host:8786``) connects to a running scheduler, a ``Client`` is used as is.
    extra : Extra, optional
        Experiment-specific columns.
    progress : bool
        Show a progress bar (tqdm).
    parquet : bool
        Also write the returned table to ``path`` with suffix ``.parquet`` (needs pyarrow).
    desc : str
        Label of the progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per cell, in the order of ``cells``, with this grid's columns, read back from
        the final CSV file.

    Raises
    ------
    ResultsError
        If ``path`` holds a file that is not a results table of this sweep, or another sweep is
        writing it (nothing runs).
    ValueError
        For a bad argument: ``workers``, a ``scheduler`` string that is not an address (nothing runs).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from matsign.experiments.grid import build_cells
    >>> cells = build_cells({"seeds": [0], "sources": [{"family": "log_uniform", "m": 16, "n": 24, "kappa": 10.0}],
    ...                      "methods": [{"name": "newton_schulz", "schedule": "polar_express8"}, {"name": "oracle", "rank": 8}]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     table = sweep(cells, pathlib.Path(tmp) / "t.csv", progress=False)
    >>> table[["method", "rank", "error", "rank_floor"]].round(6)
              method  rank  error  rank_floor
    0  newton_schulz   NaN  0.000000         NaN
    1         oracle   8.0  0.707107    0.707107
    """
    workers = _check_arguments(cells, workers, scheduler, parquet)
    path = Path(path)
    columns = _columns(cells, extra)
    results = _open_results(path, columns, extra, cells)
    _run_pending(cells, results, extra, workers=workers, scheduler=scheduler, progress=progress, desc=desc)
    keys = [c.key for c in cells]
    results.finish(keys)
    table = read_table(path, keys, columns)
    if parquet:
        table.to_parquet(path.with_suffix(".parquet"), index=False)
    return table
