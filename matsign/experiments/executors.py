"""Where a sweep's cells run: in this process, in a process pool, or on Dask.

Each executor yields the rows of the cells as lists (batches) as they finish. The process pool
and Dask run chunks of about ``len(cells)/(4·workers)`` consecutive cells on one matrix (each
worker builds a matrix's reference once per chunk); a chunk's rows arrive when it finishes.
Every worker pins single-threaded BLAS, so the rows do not depend on the executor.
"""

from __future__ import annotations

import math
import re

from matsign._backend import pin_single_thread
from matsign.experiments.measure import Extra, run_cell

__all__ = ["batches", "check_scheduler", "chunks", "run_chunk"]

#: Address schemes a Dask scheduler listens on.
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")

_ADDRESS = re.compile(r"(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(?P<port>[0-9]{1,5})")


def check_scheduler(scheduler):
    """``scheduler`` if it is None, ``"local"``, a client or an address ``[SCHEME://]HOST:PORT``.

    Raises
    ------
    ValueError
        For any other string (before Dask is imported or any work starts).

    Examples
    --------
    >>> check_scheduler("tcp://10.0.0.1:8786"), check_scheduler("[::1]:8786")
    ('tcp://10.0.0.1:8786', '[::1]:8786')
    >>> check_scheduler("tcp://host")
    Traceback (most recent call last):
    ...
    ValueError: scheduler must be 'local' or an address [SCHEME://]HOST:PORT such as tcp://127.0.0.1:8786 (SCHEME one of tcp, tls, ws, wss, ucx), got 'tcp://host'
    """
    if not isinstance(scheduler, str) or scheduler == "local":
        return scheduler
    match = _ADDRESS.fullmatch(scheduler)
    if match is None or match["scheme"] not in (None, *SCHEMES) or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"scheduler must be 'local' or an address [SCHEME://]HOST:PORT such as "
                         f"tcp://127.0.0.1:8786 (SCHEME one of {', '.join(SCHEMES)}), got {scheduler!r}")
    return scheduler


def _guarded(cell, extra):
    """:func:`run_cell`, with a failure naming the cell."""
    try:
        return run_cell(cell, extra)
    except Exception as exc:
        raise RuntimeError(
            f"cell {cell.key} failed: method {cell.method} {dict(cell.method_params)} on source "
            f"{cell.source} {cell.m}×{cell.n} {dict(cell.source_params)} seed {cell.seed}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def run_chunk(cells: list, extra: Extra | None = None) -> list[dict]:
    """Worker entry point: run ``cells`` (consecutive cells, mostly of one matrix) in order."""
    if cells:
        pin_single_thread(cells[0].backend)
    return [_guarded(cell, extra) for cell in cells]


def chunks(cells: list, workers: int) -> list[list]:
    """Consecutive runs of cells on one matrix, cut so every worker gets several pieces."""
    size = max(1, math.ceil(len(cells) / (4 * workers)))
    pieces, current = [], []
    for cell in cells:
        if current and (len(current) >= size or current[-1].matrix_id != cell.matrix_id):
            pieces.append(current)
            current = []
        current.append(cell)
    return pieces + ([current] if current else [])


def _serial(cells, extra):
    for cell in cells:
        yield [_guarded(cell, extra)]


def _process_pool(cells, extra, workers):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_chunk, chunk, extra) for chunk in chunks(cells, workers)]
        try:
            for future in as_completed(futures):  # each chunk's rows as soon as it finishes
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _dask_client(scheduler, workers):
    """``(client, cluster)``: the client to submit to and the local cluster this call started
    (None when the scheduler was given)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError('Dask execution needs the dask extra: pip install -e ".[dask]"') from None
    if isinstance(scheduler, Client):
        return scheduler, None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="10s"), None
    except OSError as exc:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one with "
                      "`dask scheduler` and `dask worker ADDRESS`, or use --scheduler local") from None


def _dask(cells, extra, scheduler, workers):
    client, cluster = _dask_client(scheduler, workers)
    from distributed import as_completed

    try:
        futures = [client.submit(run_chunk, chunk, extra, pure=False) for chunk in chunks(cells, workers)]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
    finally:
        if client is not scheduler:  # a client this call opened
            client.close()
        if cluster is not None:
            cluster.close()


def batches(cells: list, extra: Extra | None = None, *, workers: int = 1, scheduler=None):
    """The rows of ``cells`` in batches as they finish.

    Parameters
    ----------
    cells : list of Cell
        The cells to run.
    extra : Extra, optional
        Experiment-specific columns.
    workers : int
        1 runs in this process; more run a process pool of that size (or, with ``scheduler``,
        the size of a local Dask cluster).
    scheduler : None, "local", address or distributed.Client
        See :func:`~matsign.experiments.engine.sweep`.
    """
    if not cells:  # no pool or cluster started for nothing
        return iter(())
    if scheduler is not None:
        return _dask(cells, extra, scheduler, workers)
    if workers > 1:
        return _process_pool(cells, extra, workers)
    return _serial(cells, extra)
