r"""The sign of row or column shards taken separately, against the sign of the whole matrix.

A data- or tensor-parallel optimizer that orthogonalizes each shard of a weight's update where it
lives computes, for ``k`` row shards :math:`G = [G_1; \dots; G_k]`,

.. math:: X^{\mathrm{rows}}_k = [\,\mathrm{msign}(G_1);\ \dots;\ \mathrm{msign}(G_k)\,]

(and for column shards the blocks side by side): a sign per block, which is not
``msign(G)`` unless the blocks' row spaces are orthogonal. Each cell runs its method on the whole
matrix (the engine's columns) and on each shard (``k`` = 1, 2, 4, 8 contiguous row, then column,
blocks of sizes differing by at most one), the blocks stitched back. Columns:

- ``error_rows_k``, ``error_cols_k`` — :math:`\|X_k - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F`,
  in float64;
- ``alignment_rows_k``, ``alignment_cols_k`` — :math:`\langle G, X_k\rangle / (\|G\|_*\,\|X_k\|_2)`,
  what a step of unit spectral norm along ``X_k`` gains against the whole sign's 1 (stacked
  shard signs are not contractions: ``‖X_k‖₂`` reaches up to ``√k``);
- ``norm_rows_k``, ``norm_cols_k`` — :math:`\|X_k\|_2`.

``k = 1`` runs the method on the whole matrix again (equal to the engine's ``error``).

With ``exact_svd`` the error is the sharding's alone; with ``newton_schulz`` it adds the
iteration's own (each shard normalized by its own Frobenius norm).
"""

from __future__ import annotations

import numpy as np

from matsign._backend import namespace, to_numpy
from matsign.experiments.engine import Extra
from matsign.experiments.grid import GridError
from matsign.experiments.runner import Experiment, check_figure_separates
from matsign.metrics import relative_error
from matsign.registry import get_method

NAME = "shards"

#: The shard counts measured (1: the whole matrix).
SHARD_COUNTS = (1, 2, 4, 8)
AXES = ("rows", "cols")
COLUMNS = tuple(f"{what}_{axis}_{k}" for what in ("error", "alignment", "norm") for axis in AXES for k in SHARD_COUNTS)


def shard_bounds(size: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous ``[start, stop)`` ranges covering ``range(size)``, sizes within one.

    Examples
    --------
    >>> shard_bounds(10, 4)
    [(0, 2), (2, 5), (5, 7), (7, 10)]
    """
    edges = [i * size // count for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def sharded(sign, G, axis: str, count: int):
    """``sign`` applied to each of ``count`` row (``axis="rows"``) or column shards of ``G``,
    the results stitched in place."""
    xp = namespace(G)
    if axis == "rows":
        return xp.concat([sign(G[a:b, :]) for a, b in shard_bounds(G.shape[0], count)], axis=0)
    return xp.concat([sign(G[:, a:b]) for a, b in shard_bounds(G.shape[1], count)], axis=1)


def shard_columns(X, context, cell) -> dict:
    """Error and alignment of the cell's method applied per shard, for every axis and count."""
    method = get_method(cell.method)
    params = dict(cell.method_params)
    xp = namespace(context.G64)
    nuclear = float(np.sum(context.sigma))
    row = {}
    for axis in AXES:
        for count in SHARD_COUNTS:
            X_k = xp.astype(sharded(lambda block: method(block, rng=cell.method_seed, **params), context.G,
                                    axis, count), xp.float64)
            norm = float(to_numpy(xp.linalg.svdvals(X_k)[0]))
            row[f"error_{axis}_{count}"] = float(to_numpy(relative_error(X_k, context.exact)))
            row[f"alignment_{axis}_{count}"] = float(to_numpy(xp.sum(context.G64 * X_k))) / (nuclear * norm)
            row[f"norm_{axis}_{count}"] = norm
    return row


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.shards.shards_figure`)."""
    from matsign.plots.shards import shards_figure

    return shards_figure(table, stem)


def check_grid(cells):
    """Every shard must hold a row and a column; the figure draws a line per matrix and method."""
    for cell in cells:
        if min(cell.m, cell.n) < max(SHARD_COUNTS):
            raise GridError(f"{NAME} splits each side into up to {max(SHARD_COUNTS)} shards; "
                            f"{cell.source} is {cell.m} × {cell.n}")
    check_figure_separates(cells, lambda cell: ("method", "source", "m", "n", *(k for k, _ in cell.source_params),
                                                *(k for k, _ in cell.method_params)), NAME)


EXPERIMENT = Experiment(
    name=NAME,
    description="sign of 1 / 2 / 4 / 8 row or column shards taken separately vs the whole-matrix sign: "
    "error and alignment",
    figure=figure,
    extra=Extra(COLUMNS, shard_columns),
    check_grid=check_grid,
)
