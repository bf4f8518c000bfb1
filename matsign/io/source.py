"""The ``recorded`` sweep source: one gradient or momentum matrix of a dump, in float64.

Declared here, beside the dump reader, with :func:`matsign.registry.register_source`. Its
parameters name one matrix: ``tensor`` (the parameter's name; ``name[e]`` for member e of a
stack), ``step``, ``kind="grad"`` and ``path=""`` (the small dump shipped with the package,
:data:`~matsign.io.RECORDED_DUMP`; else any file or directory :func:`~matsign.io.load_gradients`
reads: foreign names, sharded checkpoints, optimizer state dicts), and how that dump is read:
``names=""`` (an optimizer state's parameter names, e.g. the model's ``state_dict()`` file) and
``conv="out"`` (how a convolution kernel becomes a matrix). The shape comes from the dump (a grid
gives no ``m``, ``n``), and the matrix is the same for every seed.
"""

from __future__ import annotations

import numpy as np

from matsign.io.dump import RECORDED_DUMP, GradientRecord, load_gradients
from matsign.registry import register_source


def find_record(
    tensor: str, step: int, kind: str = "grad", path="", names="", conv: str = "out"
) -> GradientRecord:
    """The record ``kind/tensor`` of ``step`` in the dump at ``path``.

    Parameters
    ----------
    tensor : str
        Parameter name, e.g. ``"blocks.0.attn.qkv.weight"``.
    step : int
        Training step.
    kind : {"grad", "momentum", "second_moment", "unknown"}
        What the tensor holds.
    path : str or path-like
        The dump; ``""`` is :data:`~matsign.io.RECORDED_DUMP`.
    names : str or path-like
        Parameter names of an optimizer state dict in the dump (``names`` of
        :func:`~matsign.io.load_gradients`); ``""``: none, its rows are named by index.
    conv : {"out", "in", "spatial"}
        How a convolution kernel is read as matrices (``conv`` of
        :func:`~matsign.io.load_gradients`).

    Raises
    ------
    ValueError
        If the dump holds no such matrix; the message lists (up to 8 of) those it holds.

    Examples
    --------
    >>> find_record("blocks.0.attn.qkv.weight", 1).shape
    (384, 128)
    """
    root = path or RECORDED_DUMP
    records = list(load_gradients(root, names=names or None, conv=conv))
    for record in records:
        if (record.name, record.step, record.kind) == (tensor, step, kind):
            return record
    available = sorted({(r.name, r.step, r.kind) for r in records}, key=repr)
    raise ValueError(
        f"no tensor {tensor!r} of kind {kind!r} at step {step!r} in {root}; it holds "
        + ", ".join(f"{n} ({k}, step {s})" for n, s, k in available[:8])
        + (" …" if len(available) > 8 else "")
    )


def _recorded_source(m, n, *, rng=None, tensor, step, kind="grad", path="", names="", conv="out"):
    return np.asarray(find_record(tensor, step, kind, path, names, conv).load(), dtype=np.float64)


def _recorded_shape(*, tensor, step, kind, path, names="", conv="out"):
    return tuple(find_record(tensor, step, kind, path, names, conv).shape)


def _check_recorded(m, n, *, tensor, step, kind, path, names="", conv="out"):
    find_record(tensor, step, kind, path, names, conv)


register_source(
    "recorded", _recorded_source, description="a gradient or momentum matrix read from a dump (matsign.io)",
    check=_check_recorded, shape=_recorded_shape,
    label=lambda row: f"{row['tensor']}\n{row['kind']}, step {int(row['step'])}",
)
