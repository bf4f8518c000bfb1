r"""How good is an approximation ``X ≈ msign(G)``: error, alignment, orthogonality, rank floor.

All functions take matrices ``(m, n)`` or stacks ``(..., m, n)`` and return arrays of the batch
shape (a 0-D array for a matrix) on the inputs' library and device. Computations run in the
inputs' dtypes (16-bit inputs in float32; mixed inputs in the promoted dtype). Singular values
count as nonzero above ``rtol·σ₁``, default :func:`matsign._backend.default_rtol` as in
:mod:`matsign.spectral`.

Undefined values follow the policy of :mod:`matsign.spectral`: they are returned, not raised,
so that sweeps keep going, and each Returns section names them. The alignment against a zero
``G`` is NaN; the relative error against a zero reference is 0 if ``X`` is zero too and
``inf`` otherwise, and ``inf`` for an ``X`` with NaN/Inf entries (a diverged approximation is a
measurement). Invalid input (a non-finite ``G`` or ``Y``, mismatched shapes) raises.
"""

from __future__ import annotations

from matsign._backend import (
    as_linalg_dtype,
    boundary,
    check_matrix,
    check_positive_int,
    check_same_library,
    linalg_dtype,
    namespace,
    resolve_rtol,
)
from matsign.spectral import nonzero_mask, numerical_rank

__all__ = ["alignment", "orthogonality_error", "rank_floor", "relative_error"]

ORDS = ("fro", 2)


def _check_pair(X, x_name, Y, y_name, *, finite_x=True):
    """Validate two matrices of one shape and library; return the namespace and working arrays."""
    check_matrix(X, x_name, finite=finite_x)
    check_matrix(Y, y_name)
    if tuple(X.shape) != tuple(Y.shape):
        raise ValueError(
            f"{x_name} and {y_name} must have the same shape; got {tuple(X.shape)} and "
            f"{tuple(Y.shape)}"
        )
    xp = check_same_library((x_name, X), (y_name, Y))
    return xp, as_linalg_dtype(X), as_linalg_dtype(Y)


def _check_ord(ord):
    """``ord`` is ``"fro"`` or ``2`` (not ``True``, which equals 1), else a ``ValueError``."""
    if isinstance(ord, bool) or ord not in ORDS:
        raise ValueError(f"ord must be 'fro' or 2, got {ord!r}")


def _peak(xp, A, axes):
    """``max |A|`` over ``axes``, 1 where that is 0: a scale that keeps ``A / peak`` in [−1, 1]."""
    peak = xp.max(xp.abs(A), axis=axes)
    return xp.where(peak > 0, peak, 1.0)


def _norm(xp, A, ord):
    """``‖A‖`` (Frobenius or spectral) of each matrix, formed on ``A / max|A|`` and scaled back, so
    squares of large entries cannot overflow nor squares of small ones underflow."""
    peak = _peak(xp, A, (-2, -1))
    A = A / peak[..., None, None]
    norm = xp.linalg.svdvals(A)[..., 0] if ord == 2 else xp.linalg.vector_norm(A, axis=(-2, -1))
    return peak * norm


@boundary
def relative_error(X, Y, *, ord="fro"):
    r"""Relative error :math:`\|X - Y\| / \|Y\|` of ``X`` against the reference ``Y``.

    An approximation with NaN or Inf entries (a diverged iteration) has error ``inf``: it is a
    measurement, not bad input, so sweeps record it instead of stopping.

    Parameters
    ----------
    X : array, shape (..., m, n)
        The approximation.
    Y : array, shape (..., m, n)
        The reference (e.g. ``msign(G)``), same shape and library as ``X``.
    ord : {"fro", 2}
        Frobenius or spectral norm.

    Returns
    -------
    array, shape (...)
        In the promoted dtype of ``X`` and ``Y`` (float32 for 16-bit inputs); ``inf`` where
        ``X`` has NaN/Inf entries or ``Y`` is zero and ``X`` is not (Notes).

    Notes
    -----
    When :math:`\|Y\| = 0` the ratio is defined as 0 if ``X == Y`` and ``inf`` otherwise.
    Finite inputs of any magnitude give a finite ratio unless the ratio itself overflows: both
    matrices are divided by their largest entry before the difference, and each norm by its own
    before squaring.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.eye(2)
    >>> relative_error(np.diag([1.0, 0.5]), Y)  # ‖diag(0, 0.5)‖_F / √2
    array(0.35355339)
    >>> relative_error(np.diag([1.0, 0.5]), Y, ord=2)
    array(0.5)
    """
    xp, X, Y = _check_pair(X, "X", Y, "Y", finite_x=False)
    _check_ord(ord)
    finite = xp.all(xp.isfinite(X), axis=(-2, -1))
    X = xp.where(finite[..., None, None], X, xp.zeros_like(X))
    # One common scale: the ratio is unchanged and X/c − Y/c, entries in [−2, 2], cannot overflow.
    c = xp.maximum(_peak(xp, X, (-2, -1)), _peak(xp, Y, (-2, -1)))[..., None, None]
    Y = Y / c
    num, den = _norm(xp, X / c - Y, ord), _norm(xp, Y, ord)
    nonzero = den > 0
    ratio = num / xp.where(nonzero, den, 1.0)  # = num where den = 0
    return xp.asarray(xp.where(finite & (nonzero | (num == 0)), ratio, xp.inf))


@boundary
def alignment(X, G):
    r"""Alignment :math:`\langle G, X\rangle / \|G\|_*` of a step ``X`` with the gradient ``G``.

    :math:`\langle G, X\rangle = \operatorname{tr}(G^\top X)`. Equal to 1 for
    :math:`X = \mathrm{msign}(G)`, the maximum over :math:`\|X\|_2 \le 1`; for the rank-r oracle
    :math:`U_r V_r^\top` it is :math:`\sum_{i \le r} \sigma_i / \sum_i \sigma_i`. NaN when
    ``G`` is zero (every direction is equally aligned).

    Parameters
    ----------
    X : array, shape (..., m, n)
        The step.
    G : array, shape (..., m, n)
        The gradient, same shape and library as ``X``.

    Returns
    -------
    array, shape (...)
        In the promoted dtype of ``X`` and ``G`` (float32 for 16-bit inputs); NaN where ``G``
        is zero (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.diag([3.0, 1.0])
    >>> alignment(np.eye(2), G)
    array(1.)
    >>> alignment(np.diag([1.0, 0.0]), G)  # the rank-1 oracle: 3 / (3 + 1)
    array(0.75)
    """
    xp, X, G = _check_pair(X, "X", G, "G")
    G = G / _peak(xp, G, (-2, -1))[..., None, None]  # the ratio is scale-free; no overflow
    inner = xp.sum(G * X, axis=(-2, -1))
    nuclear = xp.sum(xp.linalg.svdvals(G), axis=-1)
    nonzero = nuclear > 0
    return xp.asarray(xp.where(nonzero, inner / xp.where(nonzero, nuclear, 1.0), xp.nan))


@boundary
def orthogonality_error(X, *, ord=2, rtol=None):
    r"""Distance of ``X`` from the partial isometry with its range and row space, ``msign(X)``.

    Measured over the nonzero singular values :math:`\sigma_i > \mathrm{rtol}\cdot\sigma_1`:

    .. math:: \max_i |\sigma_i - 1| \quad (\mathrm{ord} = 2), \qquad
              \Big(\sum_i (\sigma_i - 1)^2\Big)^{1/2} \quad (\mathrm{ord} = \text{"fro"}).

    This is :math:`\|X - \mathrm{msign}(X)\|` up to the discarded
    :math:`\sigma_i \le \mathrm{rtol}\cdot\sigma_1`: zero for any exact sign, whatever its rank,
    and for the zero matrix.

    Parameters
    ----------
    X : array, shape (..., m, n)
    ord : {2, "fro"}
        Spectral or Frobenius norm.
    rtol : float, optional
        In [0, 1); default :func:`matsign._backend.default_rtol` (:mod:`matsign.spectral`).

    Returns
    -------
    array, shape (...)
        In ``X``'s dtype (float32 for 16-bit inputs).

    Examples
    --------
    >>> import numpy as np
    >>> orthogonality_error(np.diag([1.0, 0.0]))  # rank-1 partial isometry
    array(0.)
    >>> orthogonality_error(np.diag([1.2, 0.9, 1.0]), ord="fro")  # √(0.2² + 0.1²)
    array(0.2236068)
    """
    xp = check_matrix(X, "X")
    _check_ord(ord)
    rtol = resolve_rtol(rtol, X.shape[-2], X.shape[-1], X.dtype)
    s = xp.linalg.svdvals(as_linalg_dtype(X))
    gap = xp.where(nonzero_mask(s, rtol), xp.abs(s - 1.0), 0.0)
    if ord == 2:
        return xp.asarray(xp.max(gap, axis=-1))
    peak = _peak(xp, gap, -1)  # the 2-norm of gap / max(gap), scaled back: no overflow
    return xp.asarray(peak * xp.linalg.vector_norm(gap / peak[..., None], axis=-1))


@boundary
def rank_floor(G, rank, *, rtol=None):
    r"""Lower bound :math:`\sqrt{\max(0, \rho - r)}` on the error of any rank-r approximation.

    Every ``X`` of rank at most ``r`` has
    :math:`\|\mathrm{msign}(G) - X\|_F \ge \sqrt{\max(0, \rho - r)}`, with :math:`\rho` the
    numerical rank of ``G`` (:func:`matsign.spectral.numerical_rank`).

    Parameters
    ----------
    G : array, shape (..., m, n)
    rank : int
        ``r``, any positive integer (ranks at or above ρ give 0).
    rtol : float, optional
        Threshold of the numerical rank, in [0, 1); default :func:`matsign._backend.default_rtol`.

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs).

    Raises
    ------
    ValueError
        For NaN/Inf entries, a ``G`` that is not a non-empty matrix, or a ``rank`` below 1.

    Notes
    -----
    ``msign(G)`` has :math:`\rho` unit singular values, so by Eckart–Young–Mirsky
    :math:`\|\mathrm{msign}(G) - X\|_F^2 \ge \sum_{i > r} \sigma_i(\mathrm{msign}(G))^2 = \rho - r`.

    Examples
    --------
    >>> import numpy as np
    >>> rank_floor(np.diag([3.0, 2.0, 1.0, 0.0]), 1)
    array(1.41421356)
    """
    # Checked here: the nested numerical_rank trusts its input, so NaN/Inf would pass unseen
    # (NaN made the SVD fail with LinAlgError, Inf gave a floor of 0).
    check_matrix(G, "G")
    rank = check_positive_int(rank, "rank")
    rho = numerical_rank(G, rtol=rtol)
    xp = namespace(rho)
    excess = xp.astype(xp.where(rho > rank, rho - rank, 0), linalg_dtype(G))
    return xp.asarray(xp.sqrt(excess))
