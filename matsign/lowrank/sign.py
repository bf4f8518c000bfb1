r"""The low-rank sign ``Q · msign(Qᵀ G)``, its one-call form, and the rank-r oracle ``U_r V_rᵀ``."""

from __future__ import annotations

import numbers

from matsign._backend.checks import (
    boundary,
    check_choice,
    check_matrix,
    check_nonnegative_int,
    check_rank,
    check_rtol,
    check_same_library,
    trusted_values,
)
from matsign._backend.precision import default_rtol, linalg_dtype
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.schedules import SCHEDULES, Schedule, get_schedule
from matsign.exact.sign import msign, svd_sign
from matsign.lowrank.columns import STRATEGIES, column_range
from matsign.lowrank.ranges import NORMALIZERS, gaussian_range

#: Range finders of :func:`lowrank_sign`.
RANGES = {"gaussian": gaussian_range, "column": column_range}

#: The keyword options each range finder takes, with the check of each value.
RANGE_OPTIONS = {
    "gaussian": {
        "oversample": check_nonnegative_int,
        "power_iters": check_nonnegative_int,
        "normalizer": lambda value, name: check_choice(value, NORMALIZERS, name),
    },
    "column": {"strategy": lambda value, name: check_choice(value, STRATEGIES, name)},
}


def check_range_options(range, options) -> dict:
    """Check a range finder's name and keyword ``options`` before any matrix is seen.

    Returns the checked options. Bounds that depend on the matrix (``rank + oversample ≤
    min(m, n)``) are checked by the range finder itself.

    Raises
    ------
    ValueError
        For an unknown ``range``, an option the range finder does not take, or a bad value
        (each error names the option).

    Examples
    --------
    >>> check_range_options("gaussian", {"oversample": 5})
    {'oversample': 5}
    >>> check_range_options("column", {"oversample": 5})
    Traceback (most recent call last):
    ...
    ValueError: range='column' takes the options ('strategy',); got oversample
    """
    check_choice(range, tuple(RANGES), "range")
    checks = RANGE_OPTIONS[range]
    unknown = sorted(set(options) - set(checks))
    if unknown:
        raise ValueError(f"range={range!r} takes the options {tuple(checks)}; got {', '.join(unknown)}")
    return {name: checks[name](value, name) for name, value in options.items()}


@boundary
def lowrank_msign(G, Q, *, rank=None, inner="exact", steps=None):
    r"""Exact sign of ``G`` projected onto the span of ``Q``: ``Q · msign(Qᵀ G)``.

    For ``Q`` with ``m`` rows and orthonormal columns (a basis inside the column space),

    .. math:: X = Q\, \operatorname{msign}(Q^T G) = \operatorname{msign}(Q Q^T G),

    of rank at most ``ℓ`` (the columns of ``Q``) and spectral norm at most 1; only the small
    ``ℓ × n`` matrix ``QᵀG`` is orthogonalized. For tall ``G`` (``m > n``), ``Q`` may instead
    have ``n`` rows — a basis inside the row space, as :func:`column_range` returns for tall
    inputs — and the projection is on the right:
    :math:`X = \operatorname{msign}(G Q)\, Q^T = \operatorname{msign}(G Q Q^T)`.

    With ``rank = r < ℓ`` (e.g. after oversampling), ``Q`` is first reduced to the top-r left
    singular subspace of ``QᵀG`` (Rayleigh–Ritz: ``Q ← Q U_r`` from the thin SVD of the
    ``ℓ × n`` matrix ``QᵀG``), so ``X`` is the rank-r truncation
    :math:`\hat U_r \hat V_r^T` of ``msign(QQᵀG)``.

    A stack ``G`` of shape ``(..., m, n)`` takes a stack of bases with the same leading
    dimensions, member ``Q[idx]`` for ``G[idx]``; every step is a batched call.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack of matrices (NumPy, CuPy or PyTorch).
    Q : array, shape (..., m, ℓ), or (..., n, ℓ) when m > n
        Orthonormal columns (not checked), same library, device and leading dimensions as
        ``G``.
    rank : int, optional
        Keep the top ``rank ≤ min(ℓ, n)`` directions of ``QᵀG`` (default: all ``ℓ``).
    inner : "exact", or a Newton–Schulz schedule (name, :class:`Schedule` or triples)
        How the small matrix is orthogonalized: ``"exact"`` is :func:`msign` (SVD, singular
        values at or below ``max(ℓ, n)·eps·σ₁`` map to zero); otherwise
        :func:`newton_schulz` with this schedule (Frobenius normalization), as the official
        Low-rank-Muon code does with Muon's quintic.
    steps : int, optional
        Newton–Schulz steps (default: the schedule's own); only with a schedule.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``. Products and factorizations run in ``G``'s
        dtype (float32 for 16-bit inputs); a Newton–Schulz inner sign runs in ``G``'s own
        precision (see :func:`newton_schulz`).

    Raises
    ------
    ValueError
        If ``Q`` has other leading dimensions than ``G``, the wrong number of rows, more columns
        than rows, ``rank`` is out of range, ``inner`` is unknown, or ``steps`` is given with
        ``inner="exact"``.

    References
    ----------
    C. He, Z. Deng, Z. Lu, *Low-rank orthogonalization for large-scale matrix optimization*,
    arXiv 2509.11983; N. Halko, P.-G. Martinsson, J. A. Tropp, arXiv 0909.4061, §5.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    >>> Q = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])  # spans e₁, e₃
    >>> lowrank_msign(G, Q)
    array([[1., 0., 0.],
           [0., 0., 0.],
           [0., 0., 1.]])
    >>> lowrank_msign(G, Q, rank=1)
    array([[1., 0., 0.],
           [0., 0., 0.],
           [0., 0., 0.]])
    """
    xp = check_matrix(G, "G")
    check_matrix(Q, "Q")
    check_same_library(("G", G), ("Q", Q))
    check_inner(inner, steps)
    if tuple(Q.shape[:-2]) != tuple(G.shape[:-2]):
        raise ValueError(
            f"Q must have the leading (stack) dimensions of G, {tuple(G.shape[:-2])}; got Q of shape "
            f"{tuple(Q.shape)} for G of shape {tuple(G.shape)}"
        )
    m, n = int(G.shape[-2]), int(G.shape[-1])
    rows, width = int(Q.shape[-2]), int(Q.shape[-1])
    if rows == m:
        right = False
    elif m > n and rows == n:
        right = True
    else:
        allowed = f"m = {m} rows (a basis in the column space of G)"
        if m > n:
            allowed += f" or, since G is tall, n = {n} rows (a basis in its row space)"
        raise ValueError(
            f"Q must have {allowed}; got Q of shape {tuple(Q.shape)} for G of shape {tuple(G.shape)}"
        )
    if width > rows:
        raise ValueError(
            f"Q must have orthonormal columns, so at most {rows} of them; got shape {tuple(Q.shape)}"
        )
    if rank is None:
        rank = width
    else:
        side = "m" if right else "n"
        limit = min(width, m if right else n)
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 1 <= rank <= limit:
            raise ValueError(f"rank must be an integer in [1, min(ℓ, {side})] = [1, {limit}], got {rank!r}")
        rank = int(rank)
    A = xp.astype(G, linalg_dtype(G), copy=False)
    A = xp.matrix_transpose(A) if right else A
    with trusted_values():  # the small matrix comes from the checked G and Q
        X = _project_sign(xp, A, xp.astype(Q, A.dtype, copy=False), rank, inner, steps, G.dtype)
    X = xp.matrix_transpose(X) if right else X
    return xp.astype(X, G.dtype, copy=False)


def check_inner(inner, steps) -> None:
    """Check the small sign of the low-rank methods before any matrix is seen: ``"exact"``
    (without ``steps``) or a Newton–Schulz schedule (name, :class:`Schedule` or triples) whose
    coefficient list takes ``steps``.

    Examples
    --------
    >>> check_inner("muon", 3)
    >>> check_inner("exact", 3)
    Traceback (most recent call last):
    ...
    ValueError: steps applies only to a Newton–Schulz inner sign, not inner='exact'
    """
    if isinstance(inner, str) and inner != "exact" and inner not in SCHEDULES:
        raise ValueError(
            f"inner must be 'exact' or a Newton–Schulz schedule ({', '.join(SCHEDULES)}), got {inner!r}"
        )
    if not isinstance(inner, (str, Schedule, list, tuple)):
        raise TypeError(
            "inner must be 'exact', a schedule name, a Schedule or (a, b, c) triples; "
            f"got {type(inner).__name__}"
        )
    if isinstance(inner, str) and inner == "exact":
        if steps is not None:
            raise ValueError("steps applies only to a Newton–Schulz inner sign, not inner='exact'")
        return
    get_schedule(inner).steps_coefficients(steps)


def _project_sign(xp, A, Q, rank, inner, steps, precision):
    """``Q_r · sign(Q_rᵀ A)`` on the left, after the Rayleigh–Ritz reduction to ``rank``."""
    B = xp.matrix_transpose(Q) @ A
    if rank < int(Q.shape[-1]):
        U = xp.linalg.svd(B, full_matrices=False)[0][..., :rank]
        Q, B = Q @ U, xp.matrix_transpose(U) @ B
    if isinstance(inner, str) and inner == "exact":
        S = msign(B)
    else:
        S = newton_schulz(B, inner, steps=steps, dtype=precision)
    return Q @ S


@boundary
def lowrank_sign(G, rank, *, range="gaussian", inner="exact", steps=None, rng=None, **options):
    r"""Rank-r approximation of ``msign(G)`` in one call: a range basis, then the low-rank sign.

    ``Q = gaussian_range(G, rank, rng=rng, **options)`` or
    ``column_range(G, rank, rng=rng, **options)``, then
    ``lowrank_msign(G, Q, rank=rank, inner=inner, steps=steps)``; with oversampling the result
    is truncated back to ``rank``. The result has rank at most ``rank`` whatever the options.

    With ``range="gaussian"``, ``G`` may be a stack ``(..., m, n)``: each member gets its own
    Gaussian test matrix (see :func:`gaussian_range` for how the draws map to members) and the
    whole computation is batched. Column selection works on single matrices only.

    Parameters
    ----------
    G : array, shape (..., m, n)
        A stack only with ``range="gaussian"``.
    rank : int
        ``1 ≤ rank ≤ min(m, n)``.
    range : {"gaussian", "column"}
        The range finder (:func:`gaussian_range` or :func:`column_range`).
    inner, steps
        The small sign, as in :func:`lowrank_msign`.
    rng : None, int or generator
    **options
        Passed to the range finder: ``oversample``, ``power_iters``, ``normalizer`` for
        "gaussian"; ``strategy`` for "column".

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``. For 16-bit ``G`` the basis comes back from the
        range finder in ``G``'s dtype (as those functions promise), so its rounding enters too.

    Raises
    ------
    ValueError
        For an unknown ``range``, ``range="column"`` with a stack, and the errors of the range
        finder and of :func:`lowrank_msign`.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.diag([3.0, 2.0, 1.0])
    >>> X = lowrank_sign(G, 2, oversample=1, power_iters=2, rng=0)
    >>> np.round(X, 6) + 0.0
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    >>> lowrank_sign(np.stack([G, 2.0 * G]), 2, power_iters=2, rng=0).shape  # a stack
    (2, 3, 3)
    """
    check_matrix(G, "G")
    options = check_range_options(range, options)
    check_inner(inner, steps)
    if range == "column" and getattr(G, "ndim", 2) > 2:
        raise ValueError(
            f"range='column' selects columns of a single matrix (m, n); G of shape {tuple(G.shape)} "
            "is a stack: use range='gaussian', or call lowrank_sign on each member"
        )
    Q = RANGES[range](G, rank, rng=rng, **options)
    with trusted_values():  # G is checked and Q computed from it
        return lowrank_msign(G, Q, rank=rank, inner=inner, steps=steps)


@boundary
def oracle_lowrank_sign(G, rank, *, rtol=None):
    r"""The best rank-r sign: :math:`U_r \operatorname{sign}(\Sigma_r) V_r^T` from the thin SVD.

    For :math:`G = U \Sigma V^T`, the top ``r`` singular pairs, with singular values at or below
    ``rtol·σ₁`` mapped to zero (as in :func:`msign`). It maximizes the alignment
    :math:`\langle G, X\rangle` over :math:`\|X\|_2 \le 1`, rank ``≤ r`` (Ky Fan), is the
    reference for rank-r methods, and equals ``lowrank_msign(G, U_r)``. Not unique when
    :math:`\sigma_r = \sigma_{r+1}`.

    Parameters
    ----------
    G : array, shape (..., m, n)
    rank : int
        ``1 ≤ rank ≤ min(m, n)``.
    rtol : float, optional
        Default :func:`matsign._backend.default_rtol` (``max(m, n)·eps`` of the SVD's dtype,
        at least the epsilon of ``G``'s own, so 16-bit storage noise is not rank).

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G`` (16-bit inputs factorized in float32).

    Examples
    --------
    >>> import numpy as np
    >>> oracle_lowrank_sign(np.diag([1.0, 3.0, 2.0]), 2)
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    xp = check_matrix(G, "G")
    rank = check_rank(rank, G.shape)
    rtol = check_rtol(rtol)
    A = xp.astype(G, linalg_dtype(G), copy=False)
    tol = default_rtol(G.shape[-2], G.shape[-1], G.dtype) if rtol is None else rtol
    return xp.astype(svd_sign(xp, A, tol, rank), G.dtype, copy=False)
