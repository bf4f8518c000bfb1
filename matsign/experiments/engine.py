r"""The sweep engine: run every cell of a grid, append one row per cell to disk, resume, parallelize.

:func:`sweep` maps a list of :class:`~matsign.experiments.grid.Cell` to a tidy table: one row per
cell with its coordinates, every parameter (defaults filled in), the metrics below, the flop
estimate of :data:`matsign.METHODS`, the wall time, backend, device and seeds.

**Metrics**, all in float64 against ``S = msign(G)`` of the float64 matrix (``S`` from one thin
SVD per matrix, singular values at or below ``max(m, n)·eps·σ₁`` counting as zero, as in
:func:`matsign.msign`):

- ``error`` — :math:`\|X - S\|_F / \|S\|_F` (``inf`` if ``X`` has NaN/Inf entries);
- ``spectral_error`` — :math:`\|X - S\|_2` (:math:`\|S\|_2 = 1`);
- ``alignment`` — :math:`\langle G, X\rangle / \|G\|_*`;
- ``orthogonality_error`` — :func:`matsign.orthogonality_error` of ``X``;
- ``rank_floor`` — for methods with a ``rank``: :math:`\sqrt{\max(0, \rho - r)/\rho}`, the least
  relative error of any rank-r ``X``, ρ the numerical rank of ``G`` (empty otherwise);
- matrix descriptors ``rho``, ``stable_rank``, ``condition_number`` (σ₁/σ_ρ).

**Reproducibility.** The matrix seed derives from the source coordinates and the replicate
seed, the method's seed from all coordinates (see :class:`~matsign.experiments.grid.Cell`);
every cell runs with single-threaded BLAS (``threadpoolctl``; PyTorch's intra-op threads too),
since a multi-threaded product rounds differently. So the table does not depend on the order
of the cells, on the number of workers or on their kind (serial, process pool, Dask) — only
the ``seconds`` column does.

**On disk.** Rows are appended to a CSV file as cells finish (one ``write`` and ``flush`` per
row); with a process pool or Dask, workers run chunks of about ``len(cells)/(4·workers)`` cells
and a chunk's rows arrive when it finishes, so an interruption loses at most the unfinished
chunks. ``key`` identifies the cell. Run the same sweep again and
finished cells are skipped: an interrupted sweep resumes with nothing lost or duplicated (a row
cut short by a crash is dropped and its cell re-run). Rows of other grids in the file (e.g. after
the config file was edited) are kept: at the end the file is rewritten with those rows first, then
this grid's rows in grid order, under the union of the columns. The returned table holds this
grid's rows only, with this grid's columns — the table a run into an empty file gives. A file
that is not a results table of this engine (no ``key`` column, or a metric column missing: an
older format) raises :class:`ResultsError`, never touched.
"""

from __future__ import annotations

import csv
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from matsign._backend import from_numpy, namespace, pin_single_thread, placeholder, single_threaded, to_numpy
from matsign.experiments.grid import COORDINATES, Cell, GridError
from matsign.methods import get_method
from matsign.metrics import orthogonality_error, relative_error
from matsign.plots import progress_bar

__all__ = ["METRICS", "Context", "Extra", "ResultsError", "check_backend", "run_cell", "sweep"]

#: Columns every row gets after the coordinates, in order.
METRICS = (
    "matrix_seed", "method_seed", "rho", "stable_rank", "condition_number", "error", "spectral_error",
    "alignment", "orthogonality_error", "rank_floor", "flops", "seconds",
)

#: Columns that depend on the machine and the load, not on the computation.
TIMING = ("seconds",)


class ResultsError(ValueError):
    """A file at a sweep's output path that is not a results table of this engine; the message
    names the file and what to do."""


@dataclass(frozen=True)
class Extra:
    """Experiment-specific columns: ``function(X, context, cell) → {column: value}``.

    ``function`` must be importable (a module-level function) so workers can run it.
    """

    columns: tuple
    function: Callable


@dataclass
class Context:
    """One test matrix and what every cell on it reuses (computed once per worker and matrix).

    Attributes
    ----------
    G : array
        The matrix handed to the methods (backend, device, ``input_dtype``).
    G64 : array
        The float64 matrix on the backend (the reference).
    sigma : numpy.ndarray
        Singular values of ``G64``, descending.
    rho : int
        Numerical rank.
    exact : array
        ``msign(G64)``.
    """

    G: object
    G64: object
    sigma: np.ndarray
    rho: int
    exact: object
    _U: object = field(repr=False)
    _Vt: object = field(repr=False)

    def oracle(self, rank: int):
        """``U_r V_rᵀ``, the best rank-r sign (``r`` capped at ρ), in float64 on the backend."""
        r = min(int(rank), self.rho)
        return self._U[:, :r] @ self._Vt[:r, :]


_EXTRAS = {"torch": "a PyTorch build (pip install torch)", "cupy": 'the gpu extra (pip install -e ".[gpu]")'}


def check_backend(backend: str, device=None):
    """Raise a :class:`GridError` saying what to install or change if ``backend``/``device`` cannot run."""
    if backend == "numpy" and device not in (None, "cpu"):
        raise GridError(f"backend numpy runs on the CPU only; drop --device {device!r} or use torch/cupy")
    try:
        placeholder(backend, device)
    except ImportError:
        raise GridError(f"backend {backend!r} needs {_EXTRAS[backend]}") from None
    except Exception as exc:  # torch and cupy raise several kinds of error for a bad device
        raise GridError(f"device {device!r} is not usable with backend {backend!r}: {exc}") from None


_local = threading.local()


def _context(cell: Cell) -> Context:
    """The matrix of ``cell`` and its reference, cached per thread for consecutive cells."""
    cached = getattr(_local, "context", None)
    if cached is not None and cached[0] == cell.matrix_id:
        return cached[1]
    from matsign.experiments.sources import get_source

    like = placeholder(cell.backend, cell.device)
    A = get_source(cell.source)(cell.m, cell.n, rng=cell.matrix_seed, **dict(cell.source_params))
    G64 = from_numpy(A, like=like, dtype="float64")
    xp = namespace(G64)
    U, s, Vt = xp.linalg.svd(G64, full_matrices=False)
    sigma = np.asarray(to_numpy(s), dtype=np.float64)
    tol = max(cell.m, cell.n) * np.finfo(np.float64).eps * (sigma[0] if sigma.size else 0.0)
    rho = int(np.count_nonzero(sigma > tol))
    context = Context(
        G=from_numpy(A, like=like, dtype=cell.input_dtype), G64=G64, sigma=sigma, rho=rho,
        exact=U[:, :rho] @ Vt[:rho, :], _U=U, _Vt=Vt,
    )
    _local.context = (cell.matrix_id, context)
    return context


def _number(x) -> float:
    return float(to_numpy(x))


def run_cell(cell: Cell, extra: Extra | None = None) -> dict:
    """Run one cell; return its row (coordinates, metrics, flops, seconds, extra columns)."""
    context = _context(cell)
    method = get_method(cell.method)
    params = dict(cell.method_params)
    start = time.perf_counter()
    X = method(context.G, rng=cell.method_seed, **params)
    float(X[0, 0])  # waits for a GPU to finish
    seconds = time.perf_counter() - start
    xp = namespace(context.G64)
    X64 = xp.astype(X, xp.float64)
    error = _number(relative_error(X64, context.exact))
    finite = math.isfinite(error)
    spectral = _number(xp.linalg.svdvals(X64 - context.exact)[0]) if finite else math.inf
    sigma = context.sigma
    rank = params.get("rank")
    row = {
        "key": cell.key, **cell.coordinates(),
        "matrix_seed": cell.matrix_seed, "method_seed": cell.method_seed, "rho": context.rho,
        "stable_rank": float(np.sum(sigma**2) / sigma[0] ** 2) if sigma[0] > 0 else 0.0,
        "condition_number": float(sigma[0] / sigma[context.rho - 1]) if context.rho else math.nan,
        "error": error, "spectral_error": spectral,
        "alignment": _number(xp.sum(context.G64 * X64)) / float(np.sum(sigma)) if finite else math.nan,
        "orthogonality_error": _number(orthogonality_error(X64)) if finite else math.inf,
        "rank_floor": math.sqrt(max(0, context.rho - rank) / context.rho) if rank and context.rho else None,
        "flops": method.flops(cell.m, cell.n, **params), "seconds": seconds,
    }
    if extra is not None:
        values = extra.function(X, context, cell)
        if set(values) != set(extra.columns):
            raise ValueError(f"extra columns {sorted(values)} differ from the declared {sorted(extra.columns)}")
        row.update(values)
    return row


# ---------------------------------------------------------------- workers


def run_chunk(cells: list, extra: Extra | None = None) -> list[dict]:
    """Worker entry point: run ``cells`` (consecutive cells, mostly of one matrix) in order."""
    if cells:
        pin_single_thread(cells[0].backend)
    return [_guarded(cell, extra) for cell in cells]


def _guarded(cell, extra):
    try:
        return run_cell(cell, extra)
    except Exception as exc:
        raise RuntimeError(
            f"cell {cell.key} failed: method {cell.method} {dict(cell.method_params)} on source "
            f"{cell.source} {cell.m}×{cell.n} {dict(cell.source_params)} seed {cell.seed}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


# ---------------------------------------------------------------- the results file


def _columns(cells, extra) -> list[str]:
    """The table's columns; a parameter named like a metric or an extra column is a grid error.

    Every grid's table has the columns of :func:`_fixed_columns`; the parameter columns depend
    on the grid.
    """
    reserved = {"key", *METRICS, *(extra.columns if extra else ())}
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
    names += ["seed", "backend", "device", *METRICS]
    return names + list(extra.columns if extra else ())


def _fixed_columns(extra) -> list[str]:
    """Columns every results file of a sweep with ``extra`` has, whatever its grid."""
    return ["key", *COORDINATES, *METRICS, *(extra.columns if extra else ())]


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class _ResultsFile:
    """The CSV a sweep appends to: finished rows by key (this grid's and others'), a header with
    this grid's columns then any others the file had, one flushed line per row."""

    def __init__(self, path: Path, columns: list[str], required: list[str]):
        self.path, self.columns = path, list(columns)
        self.rows: dict[str, dict] = {}
        if path.exists():
            self._load(required)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._rewrite([])
        self._file = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, lineterminator="\n")

    def _load(self, required):
        text = self.path.read_text(encoding="utf-8")
        complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]  # a cut-short row
        reader = csv.DictReader(complete.splitlines())
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            what = ("no 'key' column" if "key" in missing
                    else f"no {missing[0]!r} column: another experiment's or an older version's")
            raise ResultsError(f"{self.path} is not a results table of this sweep ({what}); move it away, "
                               "or write this run elsewhere (matsign run --out DIR)")
        self.columns += [c for c in header if c not in self.columns]
        for row in reader:
            self.rows.setdefault(row["key"], row)
        if complete != text or header != self.columns or len(self.rows) != reader.line_num - 1:
            self._rewrite(list(self.rows.values()))

    def _rewrite(self, rows):
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, lineterminator="\n", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)

    def append(self, row: dict):
        formatted = {k: _format(row.get(k)) for k in self.columns}
        self._writer.writerow(formatted)
        self._file.flush()
        self.rows[formatted["key"]] = formatted

    def finish(self, keys: list[str]):
        """Rewrite the file: the rows of other grids in file order, then those of ``keys`` in that order."""
        self._file.close()
        ours = set(keys)
        self._rewrite([row for key, row in self.rows.items() if key not in ours] + [self.rows[k] for k in keys])

    def close(self):
        self._file.close()


# ---------------------------------------------------------------- executors


def _chunks(cells: list, workers: int) -> list[list]:
    """Consecutive runs of cells on one matrix, cut so every worker gets several pieces."""
    size = max(1, math.ceil(len(cells) / (4 * workers)))
    chunks, current = [], []
    for cell in cells:
        if current and (len(current) >= size or current[-1].matrix_id != cell.matrix_id):
            chunks.append(current)
            current = []
        current.append(cell)
    return chunks + ([current] if current else [])


def _serial(cells, extra):
    for cell in cells:
        yield [_guarded(cell, extra)]


def _process_pool(cells, extra, workers):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_chunk, chunk, extra) for chunk in _chunks(cells, workers)]
        try:
            for future in as_completed(futures):  # each chunk's rows as soon as it finishes
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _dask(cells, extra, scheduler, workers):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImportError('Dask execution needs the dask extra: pip install -e ".[dask]"') from None
    if isinstance(scheduler, Client):
        client, owned = scheduler, None
    elif scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client, owned = Client(cluster), cluster
    else:
        try:
            client, owned = Client(scheduler, timeout="10s"), None
        except OSError as exc:
            raise OSError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one with "
                          "`dask scheduler` and `dask worker ADDRESS`, or use --scheduler local") from None
    try:
        futures = [client.submit(run_chunk, chunk, extra, pure=False) for chunk in _chunks(cells, workers)]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
    finally:
        if owned is not None:
            client.close()
            owned.close()
        elif not isinstance(scheduler, Client):
            client.close()


def _typed(name: str, values: list[str]):
    """A CSV column as ints, floats (exact round trip of ``repr``; empty = NaN) or strings
    (empty = None)."""
    if name != "key":
        present = [v for v in values if v != ""]
        try:
            if len(present) == len(values):
                return [int(v) for v in values]
        except ValueError:
            pass
        try:
            return [float(v) if v != "" else math.nan for v in values]
        except ValueError:
            pass
    return [v if v != "" else None for v in values]


def _read_table(path: Path, keys: list[str], columns: list[str]):
    """The rows of ``keys`` (in that order) and ``columns`` of the results file as a DataFrame,
    numbers parsed exactly."""
    import pandas as pd

    with open(path, newline="", encoding="utf-8") as f:
        rows = {row["key"]: row for row in csv.DictReader(f)}
    return pd.DataFrame({name: _typed(name, [rows[k][name] for k in keys]) for name in columns})


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
        The CSV file rows are appended to (created with its folders). Rows already there are
        kept and their cells skipped, rows of other grids included (see the module docstring).
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
        If ``path`` holds a file that is not a results table of this sweep (nothing runs).

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
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if not cells:
        raise ValueError("the grid has no cells")
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError("Parquet output needs pyarrow: pip install 'matsign[parquet]'") from None
    check_backend(cells[0].backend, cells[0].device)
    path = Path(path)
    columns = _columns(cells, extra)
    results = _ResultsFile(path, columns, _fixed_columns(extra))
    pending = [c for c in cells if c.key not in results.rows]
    bar = progress_bar(len(cells), desc=desc, initial=len(cells) - len(pending), disable=not progress)
    try:
        with single_threaded():
            if scheduler is not None:
                batches = _dask(pending, extra, scheduler, workers)
            elif workers > 1:
                batches = _process_pool(pending, extra, workers)
            else:
                batches = _serial(pending, extra)
            for batch in batches:
                for row in batch:
                    results.append(row)
                bar.update(len(batch))
    except BaseException:
        results.close()
        raise
    finally:
        bar.close()
    keys = [c.key for c in cells]
    results.finish(keys)
    table = _read_table(path, keys, columns)
    if parquet:
        table.to_parquet(path.with_suffix(".parquet"), index=False)
    return table
