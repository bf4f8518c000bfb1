r"""Dion2's slice selection: orthogonalize only a fraction of the rows (or columns) of ``M``.

Dion2 (Ahn, Amsel, Langford, arXiv 2512.16928; official code ``dion/dion2.py`` in
microsoft/dion) selects ``k = ⌈α·size⌉`` slices along the shorter side of the momentum ``M``
— the ``k`` rows with the largest L1 norms when ``m ≤ n``, columns when ``m > n`` — and
replaces only those slices by the sign of the selected submatrix; the other slices get no
update this step. The sign of a ``k × n`` submatrix costs about ``α²`` of the Gram work of
Muon's. The stateful parts of Dion2 (momentum accumulation, the selective decay of the
selected slices) belong to :mod:`matsign.updates`; this module holds the one-shot primitives
and declares the method ``dion2`` (:func:`dion2_msign` of ``G``).
"""

from __future__ import annotations

import warnings

import math
import sys

import numpy as np

from matsign._backend import (
    boundary,
    check_choice,
    check_matrix,
    check_real,
    check_same_library,
    device,
    generator,
    linalg_dtype,
    namespace,
    to_numpy,
    uniform,
    values_trusted,
)
from matsign.exact.inner import PAIR_INNER, check_inner, check_inner_dtype, inner_band, inner_sign, inner_values
from matsign.exact.schedules import get_schedule
from matsign.flops import svd_sign
from matsign.prediction import bounded, diagonal_outcome, exact, limited_step_bounds
from matsign.registry import register
from matsign.exact.newton_schulz import newton_schulz_flops

__all__ = [
    "SCORES",
    "check_fraction",
    "check_dion2_msign_params",
    "slices_msign",
    "select_slices",
    "selection_slots",
    "slice_count",
    "slice_inner",
    "dion2_msign",
]

#: How slices are ranked: largest L1 norm (Dion2's choice), largest L2 norm, uniformly at random.
SCORES = ("l1", "l2", "random")


def slice_count(fraction, size: int) -> int:
    r"""Number of selected slices, :math:`k = \lceil \text{fraction} \cdot \text{size} \rceil`.

    A product within a few units in the last place of an integer counts as that integer, so
    ``fraction = 0.1`` of 30 slices gives 3 although ``0.1 * 30 == 3.0000000000000004`` in
    floating point (the official code's ``math.ceil`` would take 4).

    Parameters
    ----------
    fraction : float
        In ``(0, 1]``.
    size : int
        Number of slices to choose from.

    Returns
    -------
    int
        ``1 ≤ k ≤ size``.

    Examples
    --------
    >>> slice_count(0.25, 10), slice_count(0.1, 30), slice_count(1e-9, 10), slice_count(1.0, 7)
    (3, 3, 1, 7)
    """
    fraction = check_fraction(fraction)
    x = fraction * int(size)
    nearest = round(x)
    if abs(x - nearest) <= 4 * sys.float_info.epsilon * x:
        return int(nearest)
    return math.ceil(x)


@boundary
def select_slices(M, fraction, *, score="l1", rng=None):
    r"""Dion2's selection: ``k = ⌈fraction·size⌉`` slices along the shorter side of ``M``.

    The slices are the rows of ``M`` (``axis = 0``) when ``m ≤ n`` — square matrices included,
    as in the official code — and its columns (``axis = 1``) when ``m > n``. With ``x_i`` the
    ``i``-th slice:

    - ``"l1"``: the ``k`` largest :math:`\|x_i\|_1` (Dion2's score);
    - ``"l2"``: the ``k`` largest :math:`\|x_i\|_2`;
    - ``"random"``: ``k`` slices uniformly without replacement (the ``k`` smallest of i.i.d.
      uniform keys), drawn from ``rng``.

    Ties in a score go to the lower index.

    Parameters
    ----------
    M : array, shape (m, n)
        Real floating matrix (NumPy, CuPy or PyTorch). Scores of 16-bit inputs are summed in
        float32.
    fraction : float
        In ``(0, 1]``; ``k`` as in :func:`slice_count`.
    score : {"l1", "l2", "random"}
        How slices are ranked (:data:`SCORES`).
    rng : None, int or generator
        Randomness of ``"random"`` (unused otherwise); the same seed gives the same indices on
        one backend.

    Returns
    -------
    axis : int
        0 (rows) or 1 (columns).
    indices : array of int64, shape (k,)
        Distinct, sorted ascending, on ``M``'s library and device.

    Notes
    -----
    Scores are summed on ``M / max|M|``, so the selection does not depend on the scale of ``M``
    (no overflow or underflow of squares).

    References
    ----------
    .. [1] K. Ahn, N. Amsel, J. Langford, *Dion2: a simple method to shrink matrix in Muon*,
       arXiv 2512.16928 (official code: microsoft/dion, ``dion/dion2.py``).

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[3.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.5, 0.0, 0.0, 0.5]])
    >>> select_slices(M, 0.34)  # k = 2 of 3 rows: L1 norms 3, 4, 1
    (0, array([0, 1]))
    >>> select_slices(M, 0.3, score="l2")  # k = 1: L2 norms 3, 2, 0.71
    (0, array([0]))
    >>> select_slices(M.T, 0.3)  # tall: columns
    (1, array([1]))
    """
    xp = check_matrix(M, "M", batched=False)
    check_choice(score, SCORES, "score")
    axis = 0 if M.shape[0] <= M.shape[1] else 1
    size = int(M.shape[axis])
    k = slice_count(fraction, size)
    A = xp.astype(M, linalg_dtype(M), copy=False)
    if score == "random":
        order = xp.argsort(uniform(generator(rng, A), (size,), like=A))
    else:
        peak = xp.max(xp.abs(A))  # scores of A / max|A|: no overflow or underflow of squares
        A = A / xp.where(peak > 0, peak, xp.ones_like(peak))
        values = xp.abs(A) if score == "l1" else A * A
        order = xp.argsort(xp.sum(values, axis=1 - axis), descending=True, stable=True)
    return axis, xp.sort(order[:k])


@boundary
def slices_msign(M, axis, indices, *, inner="exact", schedule="muon", steps=None, dtype=None):
    r"""The sign of the selected slices of ``M``, in place of those slices; zeros elsewhere.

    For rows (``axis = 0``) and the selected index set ``K``,

    .. math:: X[K, :] = \operatorname{msign}(M[K, :]), \qquad X[i, :] = 0 \ (i \notin K),

    and for columns ``X[:, K] = msign(M[:, K])``. With every slice selected, ``X = msign(M)``.

    Parameters
    ----------
    M : array, shape (m, n)
        Real floating matrix (NumPy, CuPy or PyTorch).
    axis : {0, 1}
        Rows or columns.
    indices : integer array, shape (k,)
        Distinct indices along ``axis``, any order, on ``M``'s library and device (as
        :func:`select_slices` returns them).
    inner : {"exact", "newton_schulz"}
        The sign of the submatrix: :func:`msign` (SVD) or :func:`newton_schulz`.
    schedule : str, Schedule or list of (a, b, c)
        Newton–Schulz schedule (only with ``inner="newton_schulz"``).
    steps : int, optional
        Newton–Schulz steps (default: the schedule's own); only with ``inner="newton_schulz"``.
    dtype : str or dtype, optional
        Newton–Schulz working precision (:func:`newton_schulz`; default ``M``'s), e.g.
        ``"bfloat16"`` as the official Dion2 code; only with ``inner="newton_schulz"``.

    Returns
    -------
    array, shape (m, n)
        Same library, device and dtype as ``M``.

    Raises
    ------
    ValueError
        Bad ``axis``, ``inner``; indices that are not a non-empty 1-D integer array of distinct
        values in range; ``steps`` or ``dtype`` with ``inner="exact"``.

    Notes
    -----
    The scatter is a gather through ``searchsorted`` on the sorted indices
    (:func:`selection_slots`): no product, and no host work beyond reading back the index
    checks (one transfer, skipped inside another public call).

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, -1.0, 0.0]])
    >>> slices_msign(M, 0, np.array([2, 0]))
    array([[ 1.,  0.,  0.],
           [ 0.,  0.,  0.],
           [ 0., -1.,  0.]])
    """
    xp = check_matrix(M, "M", batched=False)
    if isinstance(axis, bool) or axis not in (0, 1):
        raise ValueError(f"axis must be 0 (rows) or 1 (columns), got {axis!r}")
    spec = slice_inner(inner, schedule, steps)
    check_inner_dtype(spec, dtype)
    X = M if axis == 0 else xp.matrix_transpose(M)
    idx = _checked_indices(xp, M, indices, int(X.shape[0]), axis)
    sign = inner_sign(xp.take(X, idx, axis=0), spec, steps, dtype=dtype)
    selected, slot = selection_slots(idx, int(X.shape[0]))
    out = xp.where(selected[:, None], xp.take(sign, slot, axis=0), xp.zeros_like(X))
    return out if axis == 0 else xp.matrix_transpose(out)


def selection_slots(indices, size: int):
    """``(selected, slot)`` for sorted distinct ``indices`` among ``0 … size−1``.

    ``selected[p]`` is true where ``p`` is one of the indices, and then ``indices[slot[p]] = p``;
    a gather through ``searchsorted``, so a scatter back to ``size`` slices needs no indexed
    assignment (which the array API does not offer).
    """
    xp = namespace(indices)
    positions = xp.arange(size, dtype=indices.dtype, device=device(indices))
    slot = xp.searchsorted(indices, positions)
    slot = xp.where(slot < int(indices.shape[0]), slot, int(indices.shape[0]) - 1)
    return xp.take(indices, slot) == positions, slot


@boundary
def dion2_msign(M, fraction, *, score="l1", rng=None, inner="exact", schedule="muon", steps=None):
    r"""Dion2's one-shot sign: :func:`select_slices`, then :func:`slices_msign`.

    ``X`` is zero outside the ``k = ⌈fraction·size⌉`` selected slices ``K`` of the shorter side
    and holds the sign of the selected submatrix on them: ``X[K, :] = msign(M[K, :])`` for rows.
    ``fraction = 1`` gives ``msign(M)`` (exactly so with ``inner="exact"``); Dion2's default is
    0.25.

    Parameters
    ----------
    M : array, shape (m, n)
        Real floating matrix (NumPy, CuPy or PyTorch).
    fraction : float
        In ``(0, 1]``.
    score : {"l1", "l2", "random"}
        See :func:`select_slices`.
    rng : None, int or generator
        Randomness of ``score="random"``.
    inner, schedule, steps
        See :func:`slices_msign`.

    Returns
    -------
    array, shape (m, n)
        Same library, device and dtype as ``M``.

    References
    ----------
    .. [1] K. Ahn, N. Amsel, J. Langford, *Dion2: a simple method to shrink matrix in Muon*,
       arXiv 2512.16928.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, -1.0, 0.0]])
    >>> dion2_msign(M, 0.5)  # k = 2 rows of largest L1 norm: 0 and 1
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 0., 0.]])
    """
    check_matrix(M, "M", batched=False)
    check_dion2_msign_params(fraction=fraction, score=score, inner=inner, schedule=schedule, steps=steps)
    axis, indices = select_slices(M, fraction, score=score, rng=rng)
    return slices_msign(M, axis, indices, inner=inner, schedule=schedule, steps=steps)


def check_fraction(fraction) -> float:
    """The Dion2 ``fraction`` as a float in ``(0, 1]``, else a ``ValueError`` naming it."""
    return check_real(fraction, "fraction", low=0, high=1, open_low=True)


def slice_inner(inner, schedule, steps):
    """The inner sign that ``(inner, schedule, steps)`` name, checked: ``"exact"`` or the
    :class:`Schedule` (an unknown ``schedule`` is named as such, and only with
    ``inner="newton_schulz"``)."""
    check_choice(inner, PAIR_INNER, "inner")
    spec = "exact" if inner == "exact" else get_schedule(schedule)
    check_inner(spec, steps)
    return spec


def check_dion2_msign_params(*, fraction, score, inner, schedule, steps) -> None:
    """Check the options of :func:`dion2_msign` (and of the method ``dion2``) before any matrix."""
    check_fraction(fraction)
    check_choice(score, SCORES, "score")
    slice_inner(inner, schedule, steps)


def _checked_indices(xp, M, indices, size, axis):
    """``indices`` sorted ascending, after checking shape, dtype, range and distinctness.

    The range and distinctness checks read two booleans back to the host in one transfer;
    they are skipped where values are trusted (:func:`matsign._backend.values_trusted`: inside
    another public call, whose indices are valid by construction).
    """
    check_same_library(("M", M), ("indices", indices))
    name = "rows" if axis == 0 else "columns"
    if indices.ndim != 1 or int(indices.shape[0]) == 0:
        raise ValueError(f"indices must be a non-empty 1-D array, got shape {tuple(indices.shape)}")
    if not xp.isdtype(indices.dtype, "integral"):
        raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
    idx = xp.sort(indices)
    if values_trusted():
        return idx
    out_of_range = (idx[0] < 0) | (idx[-1] >= size)
    repeated = xp.any(idx[1:] == idx[:-1])  # False for a single index
    out_of_range, repeated = (bool(flag) for flag in to_numpy(xp.stack([out_of_range, repeated])))
    if out_of_range:
        raise ValueError(f"indices must lie in [0, {size}) for the {size} {name} of M")
    if repeated:
        raise ValueError("indices must be distinct")
    return idx


# ---------------------------------------------------------------- the method "dion2"


def _dion2(G, *, rng=None, fraction=0.25, score="l1", inner="exact", schedule="muon", steps=None):
    """:func:`dion2_msign` of ``G``."""
    check_matrix(G, "G", batched=False, finite=False)  # dion2_msign would name its argument M
    return dion2_msign(G, fraction, score=score, rng=rng, inner=inner, schedule=schedule, steps=steps)


def _dion2_flops(m, n, *, fraction, score, inner, schedule, steps):
    # k slices of the shorter side, each of length N: the sign of a k × N matrix.
    k, N = slice_count(fraction, min(m, n)), max(m, n)
    return svd_sign(k, N) if inner == "exact" else newton_schulz_flops(k, N, schedule, steps)


def _predict_dion2(spectrum, *, fraction, score, inner, schedule, steps):
    r"""Certified σ-only bounds for the method ``dion2`` (exact when ``fraction`` selects every slice).

    ``X`` scatters the sign of the ``k × N`` submatrix :math:`G_K` of the selected slices
    (``N = max(m, n)``), so :math:`\langle G, X\rangle = \sum_i f_i \sigma_i(G_K)`
    (:math:`\|G_K\|_*` for the exact inner sign) and, with ``P_K`` the selector,
    ``X = msign(P_K G)``: a low-rank sign (:func:`matsign.prediction.limited_step_bounds`).
    Which slices are picked depends on the singular vectors. Certified besides: the ``"l1"``
    score keeps :math:`\|G_K\|_F \ge \sqrt k\,\|G\|_F/(s\sqrt N)` (``s = min(m, n)``; the
    top-k L1 norms hold at least ``k/s`` of :math:`\sum|G_{ij}| \ge \|G\|_F`, and
    :math:`\|g\|_2 \ge \|g\|_1/\sqrt N`), the ``"l2"`` score
    :math:`\|G_K\|_F^2 \ge (k/s)\|G\|_F^2`, and :math:`\|G_K\|_* \ge \|G_K\|_F`.

    The statistic that would determine it: :math:`\|G_K\|_*` (the singular values of the
    selected slices, a ``k × N`` SVD), or, as a cheaper lower bound, their Frobenius norm
    from the slice norms the selection computes anyway.
    """
    s, (m, n) = spectrum.s, (spectrum.m, spectrum.n)
    short, long = min(m, n), max(m, n)
    k = slice_count(fraction, short)
    spec = slice_inner(inner, schedule, steps)
    if k == short:  # every slice: the inner sign of G itself
        values = inner_values(s, spec, steps, spectrum.kept(s, short, long))
        return exact(*diagonal_outcome(spectrum, values))
    band = inner_band(spec, steps)
    total, frobenius = float(s.sum()), float(np.linalg.norm(s))
    low = 0.0 if band[0] >= 0 else None
    if spec == "exact" and total > 0:
        low = {"l1": math.sqrt(k) * frobenius / (short * math.sqrt(long) * total),
               "l2": math.sqrt(k / short) * frobenius / total}.get(score, 0.0)
    alignment, error = limited_step_bounds(spectrum, k, band, alignment_low=low, sign_like=spec == "exact")
    return bounded(alignment, error, note="the singular vectors decide which slices are kept: the nuclear "
                   "norm of the selected slices (or, for a lower bound, their Frobenius norm) would determine it")


register(
    "dion2", _dion2,
    description="Dion2: sign of the ⌈fraction·min(m, n)⌉ top-scoring rows (columns if tall) scattered "
    "into place, zero elsewhere; fraction 1 is the exact sign",
    flops=_dion2_flops, check=check_dion2_msign_params, label=lambda params: f"Dion2 ({params.get('score')} score)",
    predict=_predict_dion2,
)


def scatter_sign(*args, **kwargs):
    """Deprecated name of :func:`slices_msign` (renamed: the old name goes in the next release)."""
    warnings.warn("scatter_sign was renamed slices_msign; the old name goes in the next release", DeprecationWarning, stacklevel=2)
    return slices_msign(*args, **kwargs)


def slice_sign(*args, **kwargs):
    """Deprecated name of :func:`dion2_msign` (renamed: the old name goes in the next release)."""
    warnings.warn("slice_sign was renamed dion2_msign; the old name goes in the next release", DeprecationWarning, stacklevel=2)
    return dion2_msign(*args, **kwargs)
