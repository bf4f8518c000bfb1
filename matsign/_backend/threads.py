"""How many threads the array libraries use: one per sweep cell, so timings and results do not
depend on how many cells share the machine.

BLAS/OpenMP pools are limited through ``threadpoolctl`` (the ``experiments`` extra); PyTorch's
intra-op pool is set directly, since it is not always a BLAS pool that ``threadpoolctl`` sees.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

_pinned = set()


def _threadpool_limits():
    """``threadpoolctl.threadpool_limits``, or an ``ImportError`` that says how to install it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError('limiting threads needs threadpoolctl: pip install -e ".[experiments]"') from None
    return threadpool_limits


@contextmanager
def single_threaded():
    """BLAS/OpenMP (and PyTorch intra-op) threads limited to one inside the block, restored after.

    Only libraries loaded when the block is entered are limited: PyTorch (and its OpenMP pool)
    imported inside the block keeps its own thread count, so import it first (the sweep engine
    does, when it checks the backend).
    """
    threadpool_limits = _threadpool_limits()
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def pin_single_thread(library: str):
    """Limit this process to one thread for good (idempotent per process and library)."""
    if (os.getpid(), library) in _pinned:
        return
    threadpool_limits = _threadpool_limits()
    if library == "torch":
        import torch

        torch.set_num_threads(1)
    threadpool_limits(limits=1)
    _pinned.add((os.getpid(), library))
