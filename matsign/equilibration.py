r"""MuonEq equilibration: diagonal row / column / two-sided rescaling before the sign.

MuonEq (Chang et al., arXiv 2603.28254) rescales the momentum ``G`` by the inverse square roots
of its row and column squared norms, then runs Muon's Newton–Schulz iteration on the result.
The scaling is one pass over ``G`` (``O(m + n)`` extra numbers), not an iterated (Sinkhorn)
balancing, and it changes the matrix being orthogonalized: the method returns an approximation
of ``msign(D_r G D_c)``, not of ``msign(G)``.
"""

from __future__ import annotations

import math
import numbers

from matsign._backend.checks import boundary
from matsign._backend import check_choice, check_matrix, linalg_dtype, trusted_values

__all__ = ["MODES", "equilibrate", "equilibration_factors"]

#: Equilibration modes: rows ("R"), columns ("C"), both from the same matrix ("RC").
MODES = ("R", "C", "RC")


@boundary
def equilibration_factors(G, mode="R", *, exponent=-0.5, eps=1e-8):
    r"""The diagonal scalings of :func:`equilibrate`: ``(row_scale, col_scale)``.

    With row and column squared norms :math:`r_i = \sum_j G_{ij}^2`,
    :math:`c_j = \sum_i G_{ij}^2` and :math:`s(x) = (x + \varepsilon)^{e}`,
    ``row_scale = s(r)`` (modes "R" and "RC") and ``col_scale = s(c)`` (modes "C" and "RC");
    the side a mode does not scale is ``None``. Both come from the same ``G``.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    mode : {"R", "C", "RC"}
    exponent : float
        The negative power ``e``; MuonEq's default −1/2 (its code also offers −1/4).
    eps : float
        Positive shift ``ε`` that keeps zero rows and columns finite (they stay zero after
        scaling).

    Returns
    -------
    row_scale : array, shape (..., m), or None
    col_scale : array, shape (..., n), or None
        In ``G``'s dtype, or float32 for 16-bit inputs (the squared norms are summed there).

    Examples
    --------
    >>> import numpy as np
    >>> rows, cols = equilibration_factors(np.array([[3.0, 4.0], [0.0, 2.0]]), "RC", eps=1e-300)
    >>> rows, cols
    (array([0.2, 0.5]), array([0.33333333, 0.2236068 ]))
    """
    xp = check_matrix(G, "G")
    _check_options(mode, exponent, eps)
    A = xp.astype(G, linalg_dtype(G), copy=False)
    squares = A * A
    row_scale = (xp.sum(squares, axis=-1) + eps) ** exponent if mode in ("R", "RC") else None
    col_scale = (xp.sum(squares, axis=-2) + eps) ** exponent if mode in ("C", "RC") else None
    return row_scale, col_scale


@boundary
def equilibrate(G, mode="R", *, exponent=-0.5, eps=1e-8):
    r"""MuonEq's row ("R"), column ("C") or two-sided ("RC") equilibration of ``G``.

    With :math:`r_i = \sum_j G_{ij}^2`, :math:`c_j = \sum_i G_{ij}^2` and
    :math:`s(x) = (x + \varepsilon)^{e}` (default :math:`e = -1/2`),

    .. math::
        \text{R: } \operatorname{diag}(s(r))\, G, \qquad
        \text{C: } G \operatorname{diag}(s(c)), \qquad
        \text{RC: } \operatorname{diag}(s(r))\, G \operatorname{diag}(s(c)),

    where for "RC" both ``r`` and ``c`` are the squared norms of the same input ``G`` (one pass;
    not Sinkhorn balancing, so the rows of the "RC" result do not have unit norm in general).
    With :math:`e = -1/2` and ``ε`` small, "R" gives unit rows and "C" unit columns.

    **It changes the target.** MuonEq feeds :math:`DG` to Newton–Schulz, which approximates
    :math:`\operatorname{msign}(DG)`; in general :math:`\operatorname{msign}(DG) \ne
    \operatorname{msign}(G)`. The gain is conditioning: a matrix whose rows differ widely in
    scale becomes one that finite-step Newton–Schulz orthogonalizes accurately.

    **Zeroth-order whitening.** :math:`\operatorname{msign}(G) = (GG^T)^{-1/2} G` on the range of
    ``G``; keeping only the diagonal of :math:`GG^T = \operatorname{diag}(r) + \text{off-diagonal}`
    gives :math:`\operatorname{diag}(r)^{-1/2} G`, the "R" mode. So "R" is exact when the rows
    of ``G`` are mutually orthogonal, and "C" when its columns are.

    Departures from the official code (MaeChd/muon-eq, ``muoneq.py``): the optional clamp of
    the scales (``rowcol_clip``, off by default there) and the step-dependent switch from "RC"
    to "R" (``phase``, a training-schedule matter) are not part of this one-shot function; for
    16-bit inputs the squared norms and scales are computed in float32 (the official code works
    in the tensor's own dtype) and the product is rounded back once.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    mode : {"R", "C", "RC"}
        Rows, columns, or both. MuonEq's default for hidden weights is "R".
    exponent : float
        Negative power ``e`` of the squared norms; −1/2 normalizes, −1/4 (also in the official
        code) scales half-way in the log domain.
    eps : float
        Positive shift ``ε`` (official default 1e-8, added to the squared norm). Zero rows and
        columns stay zero, never NaN.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``.

    Raises
    ------
    ValueError
        Unknown ``mode``, an ``exponent`` that is not a finite negative number, an ``eps`` that
        is not a finite positive number, or bad ``G`` (see :func:`matsign._backend.check_matrix`).

    References
    ----------
    Chang et al., *MuonEq* (pre-orthogonalization equilibration for Muon), arXiv 2603.28254
    (official code: MaeChd/muon-eq).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[3.0, 4.0], [0.0, 2.0]])
    >>> equilibrate(G, "R", eps=1e-300)
    array([[0.6, 0.8],
           [0. , 1. ]])
    >>> np.round(equilibrate(G, "C", eps=1e-300), 6)
    array([[1.      , 0.894427],
           [0.      , 0.447214]])
    """
    xp = check_matrix(G, "G")
    with trusted_values():
        row_scale, col_scale = equilibration_factors(G, mode, exponent=exponent, eps=eps)
    A = xp.astype(G, linalg_dtype(G), copy=False)
    if row_scale is not None:
        A = row_scale[..., :, None] * A
    if col_scale is not None:
        A = A * col_scale[..., None, :]
    return xp.astype(A, G.dtype, copy=False)


def _check_options(mode, exponent, eps):
    check_choice(mode, MODES, "mode")
    check_exponent(exponent)
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite positive number, got {eps!r}")


def check_exponent(exponent) -> float:
    """The equilibration ``exponent`` as a float, else a ``ValueError`` naming it: finite and
    negative (a positive one would amplify the heavy rows instead of balancing them)."""
    if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real) or not (
        math.isfinite(exponent) and exponent < 0
    ):
        raise ValueError(f"exponent must be a finite negative number (e.g. -0.5 or -0.25), got {exponent!r}")
    return float(exponent)
