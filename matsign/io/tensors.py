"""Tensors that are not matrices, read as matrices: convolution kernels and stacks of matrices.

A gradient tensor of ``d`` dimensions becomes one or more matrices ("members"):

- ``d == 2``: the matrix itself.
- ``d == 3``, shape ``(E, m, n)``: a stack (the experts of a mixture-of-experts layer, heads
  stored apart); member ``(e,)`` is ``T[e]``, ``E`` matrices of shape ``(m, n)``.
- ``d >= 4``, a convolution kernel ``(out, in, k1, k2, ...)``, by the ``conv`` convention:

  - ``"out"`` (default): one ``(out, in·k1·k2…)`` matrix, ``T.reshape(out, -1)`` — each output
    channel's filter as a row, the flattening Muon implementations apply to convolution weights
    (K. Jordan et al., *Muon*, 2024; ``torch.optim.Muon`` refuses non-2-D parameters and leaves
    the choice to the user).
  - ``"in"``: one ``(in, out·k1·k2…)`` matrix, the kernel with its first two axes swapped, then
    flattened the same way — each input channel's fan-out as a row.
  - ``"spatial"``: one ``(out, in)`` matrix per kernel position, member ``(i, j, ...)`` being
    ``T[:, :, i, j, ...]`` — the channel-mixing matrix a 1×1 convolution at that tap would have.

- ``d <= 1`` (biases, norm scales, scalars): no matrix.

A 3-D convolution kernel ``(out, in, k)`` (``Conv1d``) is read as a stack of ``out`` matrices;
write it as ``(out, in, k, 1)`` to have it read as a kernel.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["CONV_LAYOUTS", "as_matrix", "matrix_members"]

#: The ways a convolution kernel can be read as matrices (module docstring).
CONV_LAYOUTS = ("out", "in", "spatial")


def matrix_members(shape: tuple[int, ...], conv: str = "out") -> list[tuple[tuple[int, ...] | None, tuple[int, int]]]:
    """The matrices a tensor of ``shape`` is read as: ``(member, matrix shape)`` pairs.

    Parameters
    ----------
    shape : tuple of int
        The stored shape.
    conv : {"out", "in", "spatial"}
        How a tensor of 4 or more dimensions (a convolution kernel) is read (module docstring).

    Returns
    -------
    list of (tuple of int or None, (int, int))
        ``member`` is None when the whole tensor is one matrix, else the index of the slice
        (``(e,)`` for a stack, the kernel position for ``conv="spatial"``). Empty for
        tensors of fewer than two dimensions.

    Examples
    --------
    >>> matrix_members((8, 3, 5, 5))
    [(None, (8, 75))]
    >>> matrix_members((8, 3, 5, 5), conv="in")
    [(None, (3, 200))]
    >>> matrix_members((8, 3, 1, 2), conv="spatial")
    [((0, 0), (8, 3)), ((0, 1), (8, 3))]
    >>> matrix_members((2, 16, 32))
    [((0,), (16, 32)), ((1,), (16, 32))]
    >>> matrix_members((7,))
    []
    """
    if conv not in CONV_LAYOUTS:
        raise ValueError(f"conv must be one of {CONV_LAYOUTS}, got {conv!r}")
    d = len(shape)
    if d < 2:
        return []
    if d == 2:
        return [(None, tuple(shape))]
    if d == 3:
        return [((e,), tuple(shape[1:])) for e in range(shape[0])]
    out, inp, taps = shape[0], shape[1], shape[2:]
    if conv == "out":
        return [(None, (out, inp * math.prod(taps)))]
    if conv == "in":
        return [(None, (inp, out * math.prod(taps)))]
    return [(position, (out, inp)) for position in itertools.product(*(range(k) for k in taps))]


def as_matrix(tensor: np.ndarray, member: tuple[int, ...] | None, conv: str = "out") -> np.ndarray:
    """The matrix ``member`` of ``tensor`` as :func:`matrix_members` describes it.

    Parameters
    ----------
    tensor : ndarray
        The stored tensor, at least 2-D.
    member : tuple of int or None
        From :func:`matrix_members` of ``tensor.shape`` with the same ``conv``.
    conv : {"out", "in", "spatial"}
        As in :func:`matrix_members`.

    Returns
    -------
    ndarray
        A 2-D array (a view where NumPy can give one).

    Examples
    --------
    >>> kernel = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    >>> as_matrix(kernel, None).shape, bool((as_matrix(kernel, None)[1] == kernel[1].ravel()).all())
    ((2, 12), True)
    >>> bool((as_matrix(kernel, (1, 0), conv="spatial") == kernel[:, :, 1, 0]).all())
    True
    """
    if tensor.ndim == 2:
        return tensor
    if tensor.ndim == 3:
        return tensor[member[0]]
    if conv == "out":
        return tensor.reshape(tensor.shape[0], -1)
    if conv == "in":
        return np.swapaxes(tensor, 0, 1).reshape(tensor.shape[1], -1)
    return tensor[(slice(None), slice(None), *member)]
