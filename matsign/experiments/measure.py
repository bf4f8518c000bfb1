r"""One cell of a sweep: run its method on its matrix and measure the row.

All metrics are in float64 against ``S = msign(G)`` of the float64 matrix, ``S`` from one thin
SVD per matrix, the singular values at or below ``max(m, n)·eps·σ₁`` counting as zero
(:func:`matsign.spectral.singular_value_summary`'s default threshold for float64, as in
:func:`matsign.msign`):

- ``error`` — :math:`\|X - S\|_F / \|S\|_F` (``inf`` if ``X`` has NaN/Inf entries);
- ``spectral_error`` — :math:`\|X - S\|_2` (:math:`\|S\|_2 = 1`);
- ``alignment`` — :math:`\langle G, X\rangle / \|G\|_*`;
- ``orthogonality_error`` — :func:`matsign.orthogonality_error` of ``X``;
- ``rank_floor`` — for methods with a ``rank``: :math:`\sqrt{\max(0, \rho - r)/\rho}`, the least
  relative error of any rank-r ``X``, ρ the numerical rank of ``G`` (empty otherwise);
- matrix descriptors ``rho``, ``stable_rank`` (:math:`\sum_i \sigma_i^2 / \sigma_1^2`),
  ``condition_number`` (σ₁/σ_ρ).

Every cell runs with single-threaded BLAS (the executors pin it), since a multi-threaded product
rounds differently: a row does not depend on where or in which order its cell ran.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from matsign._backend import from_numpy, namespace, placeholder, to_numpy
from matsign.experiments.grid import Cell, GridError
from matsign.registry import get_method
from matsign.metrics import orthogonality_error, relative_error
from matsign.spectral import singular_value_summary

__all__ = ["METRICS", "TIMING", "Context", "Extra", "check_backend", "run_cell"]

#: Columns every row gets after the coordinates, in order.
METRICS = (
    "matrix_seed", "method_seed", "rho", "stable_rank", "condition_number", "error", "spectral_error",
    "alignment", "orthogonality_error", "rank_floor", "flops", "seconds",
)

#: Columns that depend on the machine and the load, not on the computation.
TIMING = ("seconds",)


@dataclass(frozen=True)
class Extra:
    """Experiment-specific columns: ``function(X, context, cell) → {column: value}``.

    Attributes
    ----------
    columns : tuple of str
        The column names ``function`` returns, in table order.
    function : callable
        A module-level function (workers import it by name).
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
    condition_number : float
        σ₁/σ_ρ (NaN for the zero matrix).
    exact : array
        ``msign(G64)``.
    """

    G: object
    G64: object
    sigma: np.ndarray
    rho: int
    condition_number: float
    exact: object
    _U: object = field(repr=False)
    _Vt: object = field(repr=False)
    _oracles: dict = field(default_factory=dict, repr=False)

    def oracle(self, rank: int):
        """``U_r V_rᵀ``, the best rank-r sign (``r`` capped at ρ), in float64 on the backend.

        Formed once per ``r`` and kept (so read only): the cells of one matrix share their
        ranks, and the same product of the same factors is the same array."""
        r = min(int(rank), self.rho)
        if r not in self._oracles:
            self._oracles[r] = self._U[:, :r] @ self._Vt[:r, :]
        return self._oracles[r]


_INSTALL = {"torch": "a PyTorch build (pip install torch)", "cupy": 'the gpu extra (pip install -e ".[gpu]")'}


def check_backend(backend: str, device=None) -> None:
    """Raise a :class:`~matsign.experiments.grid.GridError` saying what to install or change if
    ``backend`` on ``device`` cannot run."""
    if backend == "numpy" and device not in (None, "cpu"):
        raise GridError(f"backend numpy runs on the CPU only; drop --device {device!r} or use torch/cupy")
    try:
        placeholder(backend, device)
    except ImportError:
        raise GridError(f"backend {backend!r} needs {_INSTALL[backend]}") from None
    except Exception as exc:  # torch and cupy raise several kinds of error for a bad device
        raise GridError(f"device {device!r} is not usable with backend {backend!r}: {exc}") from None


def _build_context(cell: Cell) -> Context:
    """The matrix of ``cell`` on its backend and its float64 reference, from one thin SVD."""
    from matsign.experiments.sources import get_source

    like = placeholder(cell.backend, cell.device)
    A = get_source(cell.source)(cell.m, cell.n, rng=cell.matrix_seed, **dict(cell.source_params))
    G64 = from_numpy(A, like=like, dtype="float64")
    U, s, Vt = namespace(G64).linalg.svd(G64, full_matrices=False)
    sigma = np.asarray(to_numpy(s), dtype=np.float64)
    summary = singular_value_summary(sigma, cell.m, cell.n, ranks=())
    rho = summary["numerical_rank"]
    return Context(
        G=from_numpy(A, like=like, dtype=cell.input_dtype), G64=G64, sigma=sigma, rho=rho,
        condition_number=summary["condition_number"], exact=U[:, :rho] @ Vt[:rho, :], _U=U, _Vt=Vt,
    )


_cache = threading.local()


def _context(cell: Cell) -> Context:
    """:func:`_build_context`, cached per thread for consecutive cells on one matrix."""
    cached = getattr(_cache, "context", None)
    if cached is None or cached[0] != cell.matrix_id:
        cached = _cache.context = (cell.matrix_id, _build_context(cell))
    return cached[1]


def _number(x) -> float:
    return float(to_numpy(x))


def _timed_call(method, context: Context, cell: Cell, params: dict):
    """``X`` of the method on the cell's matrix and the wall time of the call."""
    start = time.perf_counter()
    X = method(context.G, rng=cell.method_seed, **params)
    float(X[0, 0])  # waits for a GPU to finish
    return X, time.perf_counter() - start


def _matrix_columns(context: Context) -> dict:
    """The descriptors of the cell's matrix."""
    sigma = context.sigma
    # Σσ²/σ₁² as written (not matsign.spectral's Σ(σ/σ₁)², which rounds differently).
    stable_rank = float(np.sum(sigma**2) / sigma[0] ** 2) if sigma[0] > 0 else 0.0
    return {"rho": context.rho, "stable_rank": stable_rank, "condition_number": context.condition_number}


def _error_columns(X, context: Context, rank) -> dict:
    """``error``, ``spectral_error``, ``alignment``, ``orthogonality_error`` and ``rank_floor`` of ``X``."""
    xp = namespace(context.G64)
    X64 = xp.astype(X, xp.float64)
    error = _number(relative_error(X64, context.exact))
    finite = math.isfinite(error)
    rho = context.rho
    nuclear = float(np.sum(context.sigma))
    # Alignment against a zero matrix is undefined: NaN, as matsign.metrics.alignment documents.
    aligned = finite and nuclear > 0
    return {
        "error": error,
        "spectral_error": _number(xp.linalg.svdvals(X64 - context.exact)[0]) if finite else math.inf,
        "alignment": _number(xp.sum(context.G64 * X64)) / nuclear if aligned else math.nan,
        "orthogonality_error": _number(orthogonality_error(X64)) if finite else math.inf,
        "rank_floor": math.sqrt(max(0, rho - rank) / rho) if rank and rho else None,
    }


def _extra_columns(extra: Extra, X, context: Context, cell: Cell) -> dict:
    values = extra.function(X, context, cell)
    if set(values) != set(extra.columns):
        raise ValueError(f"extra columns {sorted(values)} differ from the declared {sorted(extra.columns)}")
    return values


def run_cell(cell: Cell, extra: Extra | None = None) -> dict:
    """Run one cell and measure its row.

    Parameters
    ----------
    cell : Cell
        A cell of a checked grid.
    extra : Extra, optional
        Experiment-specific columns.

    Returns
    -------
    dict
        ``key``, the coordinates, :data:`METRICS` and the extra columns.
    """
    context = _context(cell)
    method = get_method(cell.method)
    params = dict(cell.method_params)
    X, seconds = _timed_call(method, context, cell, params)
    row = {
        "key": cell.key, **cell.coordinates(), "matrix_seed": cell.matrix_seed, "method_seed": cell.method_seed,
        **_matrix_columns(context), **_error_columns(X, context, params.get("rank")),
        "flops": method.flops(cell.m, cell.n, **params), "seconds": seconds,
    }
    if extra is not None:
        row.update(_extra_columns(extra, X, context, cell))
    return row
