"""How many threads the array libraries use: one per sweep cell, so timings and results do not
depend on how many cells share the machine.

BLAS/OpenMP pools are limited through ``threadpoolctl`` (the ``experiments`` extra); PyTorch's
intra-op pool is set directly, since it is not always a BLAS pool that ``threadpoolctl`` sees.
``threadpoolctl`` reaches only the libraries loaded when the limit is applied, and SciPy ships its
own OpenBLAS that ``scipy.linalg`` loads on first import: so ``scipy.linalg`` (a dependency) is
imported before limiting, and the ``*_NUM_THREADS`` variables are set to 1 as well, which any BLAS
or OpenMP runtime loaded later (inside the limited block) reads when it starts.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

_pinned = set()

#: Variables BLAS and OpenMP runtimes read at load time for their pool size.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _threadpool_limits():
    """``threadpoolctl.threadpool_limits``, or an ``ImportError`` that says how to install it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError('limiting threads needs threadpoolctl: pip install -e ".[experiments]"') from None
    import scipy.linalg  # noqa: F401  -- loads SciPy's own BLAS now, so that the limit reaches it
    return threadpool_limits


@contextmanager
def _one_thread_variables():
    """:data:`THREAD_VARIABLES` set to 1 inside the block, restored after."""
    before = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def single_threaded():
    """BLAS/OpenMP (and PyTorch intra-op) threads limited to one inside the block, restored after.

    NumPy's and SciPy's BLAS are limited whenever they are first used; a BLAS or OpenMP runtime
    loaded inside the block starts with one thread through :data:`THREAD_VARIABLES`. PyTorch's
    intra-op pool is set here only if PyTorch is loaded when the block is entered (the sweep
    engine imports it first, when it checks the backend).
    """
    threadpool_limits = _threadpool_limits()
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with _one_thread_variables(), threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def pin_single_thread(library: str):
    """Limit this process to one thread for good (idempotent per process and library), also
    for BLAS and OpenMP runtimes loaded later (:data:`THREAD_VARIABLES`)."""
    if (os.getpid(), library) in _pinned:
        return
    threadpool_limits = _threadpool_limits()
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    if library == "torch":
        import torch

        torch.set_num_threads(1)
    threadpool_limits(limits=1)
    _pinned.add((os.getpid(), library))
