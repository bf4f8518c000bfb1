r"""Flattening a convolution kernel or an expert stack into matrices: error, alignment, cost, parity.

A tensor of more than two dimensions has no single sign; each way of reading it as matrices
(:mod:`matsign.io.tensors`) gives another update. For a kernel ``T`` of shape
``(out, in, kh, kw)`` and a stack ``T`` of shape ``(E, m, n)`` the three views are

==========  =======================================  ============================================
view        kernel ``(out, in, kh, kw)``             stack ``(E, m, n)``
==========  =======================================  ============================================
``out``     one ``out × in·kh·kw`` matrix (Muon's)   one ``E·m × n`` matrix (experts' rows stacked)
``in``      one ``in × out·kh·kw`` matrix            one ``m × E·n`` matrix (experts side by side)
``spatial`` ``kh·kw`` matrices ``out × in``, a tap    ``E`` matrices ``m × n``, an expert each (the
            each                                     default reading of a stack)
==========  =======================================  ============================================

Each cell names the tensor through the ``recorded`` source (its matrix, the ``out`` view of a
kernel or member 0 of a stack, gives the engine's columns) and runs its method on every matrix
of every view, the results put back in the tensor's shape. Columns, per view ``V``, in float64:

- ``error_V`` — :math:`\|X_V - S_V\|_F / \|S_V\|_F`, against the exact signs of the same matrices
  (0 for ``exact_svd``);
- ``cosine_V`` — :math:`\langle T, X_V\rangle / (\|T\|_F \|X_V\|_F)`, the update's alignment with
  the gradient in the tensor's own inner product, comparable across views;
- ``flops_V`` — the method's flop count summed over the view's matrices;
- ``batched_parity`` — :math:`\max|X - X'|` between the method applied to the ``spatial`` view
  as one stack ``(k, p, q)`` and applied to its matrices one by one (0: bit for bit equal).

References
----------
K. Jordan et al., *Muon* (2024) (the ``out`` flattening of convolution kernels); the
``torch.optim.Muon`` and microsoft/dion reports of ndim > 2 weights (reference.md §11).
"""

from __future__ import annotations

import re

import numpy as np

from matsign.experiments.engine import Extra
from matsign.experiments.grid import GridError
from matsign.experiments.runner import Experiment
from matsign.io.dump import load_gradients
from matsign.io.tensors import CONV_LAYOUTS, as_matrix
from matsign.registry import get_method

NAME = "flattening"

VIEWS = CONV_LAYOUTS
COLUMNS = (*(f"{what}_{view}" for what in ("error", "cosine", "flops") for view in VIEWS), "batched_parity")


def stored_tensor(tensor: str, step: int, kind: str, path) -> np.ndarray:
    """The stored tensor (float64) that the ``recorded`` matrix ``tensor`` is read from: the
    kernel itself, or the whole stack for a member ``name[e]``."""
    name = re.sub(r"\[\d+(,\d+)*\]$", "", tensor)
    for record in load_gradients(path, matrices_only=False):
        if (record.name, record.step, record.kind) == (name, step, kind):
            return np.asarray(record.load(), dtype=np.float64)
    raise ValueError(f"no stored tensor {name!r} ({kind}, step {step}) in {path}")


def views(T: np.ndarray) -> dict:
    """``{view: (stack, back)}``: the view's matrices as a ``(k, p, q)`` stack, and ``back``, which
    puts a stack of that shape back into ``T``'s shape (module docstring)."""
    if T.ndim == 3:
        E, m, n = T.shape
        return {
            "out": (T.reshape(1, E * m, n), lambda X: X.reshape(E, m, n)),
            "in": (T.transpose(1, 0, 2).reshape(1, m, E * n), lambda X: X.reshape(m, E, n).transpose(1, 0, 2)),
            "spatial": (T, lambda X: X),
        }
    if T.ndim == 4:
        o, i, kh, kw = T.shape
        return {
            "out": (as_matrix(T, None, "out")[None], lambda X: X.reshape(T.shape)),
            "in": (as_matrix(T, None, "in")[None], lambda X: X.reshape(i, o, kh, kw).swapaxes(0, 1)),
            "spatial": (T.transpose(2, 3, 0, 1).reshape(kh * kw, o, i),
                        lambda X: X.reshape(kh, kw, o, i).transpose(2, 3, 0, 1)),
        }
    raise ValueError(f"{NAME} reads kernels (4-D) and stacks (3-D); got a tensor of shape {T.shape}")


def view_columns(X, context, cell) -> dict:
    """Error, cosine and flops of the cell's method in every view of its stored tensor, and the
    batched-versus-looped parity on the ``spatial`` view."""
    source = dict(cell.source_params)
    T = stored_tensor(source["tensor"], source["step"], source["kind"], source["path"])
    method, exact = get_method(cell.method), get_method("exact_svd")
    params = dict(cell.method_params)

    def sign(M):
        return method(M, rng=cell.method_seed, **params)

    row = {}
    for view, (stack, back) in views(T).items():
        looped = np.stack([np.asarray(sign(M), dtype=np.float64) for M in stack])
        reference = np.stack([exact(M) for M in stack])
        update = back(looped)
        row[f"error_{view}"] = float(np.linalg.norm(looped - reference) / np.linalg.norm(reference))
        row[f"cosine_{view}"] = float(np.sum(T * update) / (np.linalg.norm(T) * np.linalg.norm(update)))
        row[f"flops_{view}"] = float(sum(method.flops(*M.shape, **params) for M in stack))
        if view == "spatial":
            row["batched_parity"] = float(np.max(np.abs(np.asarray(sign(stack), dtype=np.float64) - looped)))
    return row


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.flattening.flattening_figure`)."""
    from matsign.plots.flattening import flattening_figure

    return flattening_figure(table, stem)


def check_grid(cells):
    """Every source must be a ``recorded`` tensor (a kernel or a stack member)."""
    for cell in cells:
        if cell.source != "recorded":
            raise GridError(f"{NAME} reads stored kernels and stacks: its sources must be 'recorded', "
                            f"got {cell.source!r}")


EXPERIMENT = Experiment(
    name=NAME,
    description="convolution kernels and expert stacks read as matrices three ways (out / in / spatial): "
    "error, cosine with the gradient, flops, batched-vs-looped parity",
    figure=figure,
    extra=Extra(COLUMNS, view_columns),
    check_grid=check_grid,
)
