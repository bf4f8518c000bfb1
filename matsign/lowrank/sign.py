r"""The low-rank sign ``Q · msign(Qᵀ G)``, its one-call form, and the declaration of range finders.

A range finder is declared once, with :func:`register_range`, in its own module: that makes it
a ``range=`` of :func:`sketched_msign` (its options checked by :func:`check_range_options`) and
the sweep method of the same name (``matsign.get_method(name)``), whose flops add the basis's
to :func:`lowrank_sign_flops`. The built-in ones are ``"gaussian"`` (:mod:`.ranges`) and
``"column"`` (:mod:`.columns`).

References
----------
.. [1] C. He, Z. Deng, Z. Lu, *Low-rank orthogonalization for large-scale matrix optimization
   with applications to foundation model training*, arXiv 2509.11983.
.. [2] N. Halko, P.-G. Martinsson, J. A. Tropp, *Finding structure with randomness:
   probabilistic algorithms for constructing approximate matrix decompositions*, SIAM Review
   53 (2011) 217–288, arXiv 0909.4061.
"""

from __future__ import annotations

import math
import warnings

import inspect
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple

from matsign._backend.checks import (
    boundary,
    check_choice,
    check_matrix,
    check_positive_int,
    check_same_library,
)
from matsign._backend.linalg import thin_qr
from matsign._backend.precision import default_rtol, linalg_dtype
from matsign.exact.inner import check_inner, check_inner_dtype, inner_sign
from matsign.exact.newton_schulz import newton_schulz_flops
from matsign.flops import gemm, svd, svd_sign
from matsign.registry import REQUIRED, register
from matsign.spectral import binary_normalized

__all__ = [
    "RANGES",
    "BasisCost",
    "RangeFinder",
    "check_basis",
    "check_range_options",
    "lowrank_msign",
    "sketched_msign",
    "lowrank_sign_flops",
    "one_of",
    "register_range",
]


# ---------------------------------------------------------------- the low-rank sign


@boundary
def lowrank_msign(G, Q, *, rank=None, inner="exact", steps=None, dtype=None):
    r"""Exact sign of ``G`` projected onto the span of ``Q``: ``Q · msign(Qᵀ G) = msign(Q Qᵀ G)``.

    Only the small ``ℓ × n`` matrix ``QᵀG`` is orthogonalized [1]_; the result has rank at most
    ``ℓ`` (the columns of ``Q``) and spectral norm at most 1. For tall ``G`` (``m > n``), ``Q``
    may instead have ``n`` rows, a basis inside the row space (as :func:`column_range` returns
    for tall inputs), and the projection is on the right: ``msign(G Q) Qᵀ = msign(G Q Qᵀ)``.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack of matrices (NumPy, CuPy or PyTorch).
    Q : array, shape (..., m, ℓ), or (..., n, ℓ) when m > n
        Orthonormal columns (not checked), same library, device and leading dimensions as ``G``.
    rank : int, optional
        Keep the top ``rank ≤ min(ℓ, n)`` directions of ``QᵀG`` (default: all ``ℓ``).
    inner : "exact", or a Newton–Schulz schedule (name, :class:`Schedule` or triples)
        The small sign: ``"exact"`` is :func:`msign`, otherwise :func:`newton_schulz` with this
        schedule (as the official Low-rank-Muon code does with Muon's quintic).
    steps : int, optional
        Newton–Schulz steps (default: the schedule's own); only with a schedule.
    dtype : str or dtype, optional
        Working precision of a Newton–Schulz inner sign (:func:`newton_schulz`; default
        ``G``'s own), e.g. ``"bfloat16"`` as the official Low-rank-Muon code; only with a
        schedule. The products with ``Q`` stay in ``G``'s dtype.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``; products and factorizations run in ``G``'s
        dtype (float32 for 16-bit inputs), a Newton–Schulz inner sign in ``G``'s own precision
        unless ``dtype`` says otherwise.

    Raises
    ------
    ValueError
        If ``Q`` has other leading dimensions than ``G``, the wrong number of rows, more columns
        than rows, ``rank`` is out of range, ``inner`` is unknown, or ``steps`` or ``dtype`` is
        given with ``inner="exact"``.

    Notes
    -----
    With ``rank = r < ℓ`` (e.g. after oversampling), ``Q`` is first reduced to the top-r left
    singular subspace of ``B = QᵀG`` (Rayleigh–Ritz: ``Q ← Q U_r`` from the thin SVD of ``B``,
    the direct SVD of [2]_ Alg. 5.1), so the result is the rank-r truncation
    :math:`\hat U_r \hat V_r^T` of ``msign(QQᵀG)``. A stack ``G`` takes a stack of bases, member ``Q[idx]`` for ``G[idx]``.
    With ``inner="exact"``, singular values of ``B`` at or below ``max(ℓ, n)·eps·σ₁`` map to zero.
    For a wide ``B`` (``ℓ < n``) the exact sign comes from the thin QR ``Bᵀ = Q₂R`` and the SVD
    of the ``ℓ × ℓ`` factor ``Rᵀ`` (:func:`wide_lowrank_sign`): the same SVD, cheaper than one of
    ``B`` itself.

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
    check_matrix(G, "G")
    check_matrix(Q, "Q")
    xp = check_same_library(("G", G), ("Q", Q))
    right, rank = check_basis(G, Q, rank)
    check_inner(inner, steps)
    check_inner_dtype(inner, dtype)
    A = xp.astype(G, linalg_dtype(G), copy=False)
    # A right projection is the left one of Gᵀ: msign(G Q Qᵀ) = msign(Q Qᵀ Gᵀ)ᵀ.
    A = xp.matrix_transpose(A) if right else A
    Q = xp.astype(Q, A.dtype, copy=False)
    # The sign is scale-free: Q's entries (at most 1) divided by a power of two above m bound
    # those of B by max|A|, and B by a power of two near its largest entry keeps the SVD's σ₁
    # finite, so entries near the dtype's largest value overflow nothing; a power of two
    # changes no digit.
    shrink = 2.0 ** -(math.ceil(math.log2(int(A.shape[-2]))) + 1)
    B = xp.matrix_transpose(Q * shrink) @ A  # the small ℓ × n matrix of [1]
    B = binary_normalized(xp, B)
    if isinstance(inner, str) and inner == "exact" and int(B.shape[-2]) < int(B.shape[-1]):
        X = wide_lowrank_sign(xp, Q, B, rank, G.dtype)
        X = xp.matrix_transpose(X) if right else X
        return xp.astype(X, G.dtype, copy=False)
    if rank < int(Q.shape[-1]):
        # Rayleigh–Ritz ([2] Alg. 5.1, truncated): the top-r left singular vectors of B, Q ← Q U_r.
        U = xp.linalg.svd(B, full_matrices=False)[0][..., :rank]
        Q, B = Q @ U, xp.matrix_transpose(U) @ B
    X = Q @ inner_sign(B, inner, steps, dtype=G.dtype if dtype is None else dtype)
    X = xp.matrix_transpose(X) if right else X
    return xp.astype(X, G.dtype, copy=False)


def wide_lowrank_sign(xp, Q, B, rank, dtype):
    r"""``Q · msign(B)`` truncated to ``rank``, for a wide ``B = QᵀA`` (``ℓ < n``), through the
    thin QR :math:`B^T = Q_2 R`.

    :math:`B = R^T Q_2^T`, so with the SVD :math:`R^T = U \Sigma V^T` (``ℓ × ℓ``),
    :math:`B = U \Sigma (Q_2 V)^T` and the result is :math:`Q U_r \operatorname{sign}(\Sigma_r)
    (Q_2 V_r)^T`: the SVD of ``B`` (LAPACK's own route for a matrix this wide), with singular
    values at or below ``default_rtol(rank, n, dtype)·σ₁`` mapped to zero as :func:`msign`
    maps those of the truncated ``U_rᵀB``. The SVD runs on ``ℓ × ℓ`` instead of ``ℓ × n``.
    """
    Q2, R = thin_qr(xp.matrix_transpose(B))
    U, S, Vt = xp.linalg.svd(xp.matrix_transpose(R), full_matrices=False)
    U, S, Vt = U[..., :, :rank], S[..., :rank], Vt[..., :rank, :]
    keep = xp.astype(S > default_rtol(rank, int(B.shape[-1]), dtype) * S[..., :1], B.dtype)
    return (Q @ (U * keep[..., None, :])) @ (Vt @ xp.matrix_transpose(Q2))


def check_basis(G, Q, rank):
    """Check ``Q``'s shape against ``G`` and ``rank`` for :func:`lowrank_msign`.

    Returns
    -------
    right : bool
        Whether ``Q`` is a row-space basis of a tall ``G`` (``n`` rows), projected on the right.
    rank : int
        ``rank``, or ``ℓ`` (the columns of ``Q``) when ``rank`` is None.
    """
    if tuple(Q.shape[:-2]) != tuple(G.shape[:-2]):
        raise ValueError(
            f"Q must have the leading (stack) dimensions of G, {tuple(G.shape[:-2])}; got Q of shape "
            f"{tuple(Q.shape)} for G of shape {tuple(G.shape)}"
        )
    m, n = int(G.shape[-2]), int(G.shape[-1])
    rows, width = int(Q.shape[-2]), int(Q.shape[-1])
    right = rows != m and m > n and rows == n
    if rows != m and not right:
        allowed = f"m = {m} rows (a basis in the column space of G)"
        if m > n:
            allowed += f" or, since G is tall, n = {n} rows (a basis in its row space)"
        raise ValueError(f"Q must have {allowed}; got Q of shape {tuple(Q.shape)} for G of shape {tuple(G.shape)}")
    if width > rows:
        raise ValueError(f"Q must have orthonormal columns, so at most {rows} of them; got shape {tuple(Q.shape)}")
    if rank is None:
        return right, width
    limit = min(width, m if right else n)
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 1 <= rank <= limit:
        side = "m" if right else "n"
        raise ValueError(f"rank must be an integer in [1, min(ℓ, {side})] = [1, {limit}], got {rank!r}")
    return right, int(rank)


def lowrank_sign_flops(rows, cols, width, rank, inner, steps):
    """Flops of :func:`lowrank_msign` for a ``rows × width`` basis of a ``rows × cols`` matrix.

    ``QᵀA``, the Rayleigh–Ritz truncation to ``rank`` when ``rank < width``, the small
    ``rank × cols`` sign (``inner`` and ``steps`` as in :func:`lowrank_msign`) and the product
    back; kernel counts from :mod:`matsign.flops`. For a right projection (tall ``G``, row-space
    basis) ``rows`` is ``n`` and ``cols`` is ``m``.

    Examples
    --------
    >>> lowrank_sign_flops(4, 6, 2, 2, "exact", None)  # QᵀA 96, SVD sign of 2 × 6 352, Q·S 96
    544
    """
    total = gemm(width, rows, cols)
    if rank < width:
        total += svd(width, cols) + gemm(rows, width, rank) + gemm(rank, width, cols)
    total += svd_sign(rank, cols) if inner == "exact" else newton_schulz_flops(rank, cols, inner, steps)
    return total + gemm(rows, rank, cols)


# ---------------------------------------------------------------- range finders, declared once


class BasisCost(NamedTuple):
    """What a range finder's flop count returns: its flops and the shape of its basis ``Q``.

    ``rows`` is ``m`` for a column-space basis, ``n`` for a row-space basis of a tall ``G``.
    """

    flops: float
    rows: int
    width: int


@dataclass(frozen=True)
class RangeFinder:
    """One range finder of :func:`sketched_msign` (declared by :func:`register_range`).

    Attributes
    ----------
    name : str
    function : callable
        ``function(G, rank, *, rng=None, **options)`` → basis ``Q``.
    options : mapping
        Option name → ``check(value, name)``, which returns the checked value.
    defaults : mapping
        Option name → default, from ``function``'s signature.
    flops : callable
        ``flops(m, n, *, rank, **options)`` → :class:`BasisCost`.
    """

    name: str
    function: Callable
    options: Mapping[str, Callable]
    defaults: Mapping[str, object]
    flops: Callable

    def __call__(self, G, rank, *, rng=None, **options):
        return self.function(G, rank, rng=rng, **options)


_RANGES: dict[str, RangeFinder] = {}

#: Read-only view of the range finders of :func:`sketched_msign`, by name.
RANGES = MappingProxyType(_RANGES)


def register_range(name, function, *, options, flops, description, label=None, predict=None):
    r"""Declare a range finder: ``sketched_msign(G, rank, range=name)`` and the sweep method ``name``.

    The method computes ``sketched_msign(G, rank, range=name, inner=inner, steps=steps, rng=rng,
    **options)``; its parameters are ``rank``, the options (defaults from ``function``), then
    ``inner="exact"`` and ``steps=None``; its flops are ``flops``'s plus
    :func:`lowrank_sign_flops`; its check is ``rank``'s, :func:`check_inner`'s and the options'.

    Parameters
    ----------
    name : str
        New name, neither a range finder nor a method yet.
    function : callable
        ``function(G, rank, *, rng=None, **options)`` → ``Q``, orthonormal (or zero) columns on
        either side of ``G`` (see :func:`lowrank_msign`); options keyword-only with defaults.
    options : mapping
        Option name → ``check(value, name)`` returning the checked value (e.g.
        :func:`matsign._backend.check_nonnegative_int`), in the method's parameter order.
    flops : callable
        ``flops(m, n, *, rank, **options)`` → :class:`BasisCost` of the basis.
    description : str
        One line: what the method computes.
    label : str or callable, optional
        The plot label, or ``label(params)`` → label (see :func:`matsign.registry.register`).
    predict : callable, optional
        ``predict(spectrum, *, rank, **options, inner, steps)``: the method's σ-only prediction
        (see :func:`matsign.registry.register`).

    Returns
    -------
    matsign.registry.Method
        The registered sweep method.
    """
    signature = inspect.signature(function)
    defaults = {}
    for option in options:
        parameter = signature.parameters.get(option)
        if parameter is None or parameter.kind is not parameter.KEYWORD_ONLY or parameter.default is parameter.empty:
            raise ValueError(
                f"range finder {name!r}: option {option!r} must be a keyword-only parameter of its "
                "function with a default"
            )
        defaults[option] = parameter.default
    finder = RangeFinder(name, function, MappingProxyType(dict(options)), MappingProxyType(defaults), flops)
    if name in _RANGES:
        raise ValueError(f"a range finder named {name!r} is already registered")
    method = register(
        name, _sweep_method(finder), description=description, flops=_sweep_flops(finder),
        check=_sweep_check(finder), label=label, predict=predict,
    )
    _RANGES[name] = finder
    return method


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
    checks = _RANGES[check_choice(range, tuple(_RANGES), "range")].options
    unknown = sorted(set(options) - set(checks))
    if unknown:
        raise ValueError(f"range={range!r} takes the options {tuple(checks)}; got {', '.join(unknown)}")
    return {name: checks[name](value, name) for name, value in options.items()}


def one_of(choices):
    """The option check ``check(value, name)`` that accepts only the names in ``choices``.

    Examples
    --------
    >>> one_of(("qr", "none"))("qr", "normalizer")
    'qr'
    """
    return lambda value, name: check_choice(value, choices, name)


def _keyword_only(params, *, first=()):
    """A signature ``(*first, *, params…)``; a :data:`REQUIRED` default means none."""
    positional = [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in first]
    keyword = [
        inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY,
                          default=inspect.Parameter.empty if default is REQUIRED else default)
        for p, default in params.items()
    ]
    return inspect.Signature(positional + keyword)


def _method_params(finder):
    return {"rank": REQUIRED, **finder.defaults, "inner": "exact", "steps": None}


def _sweep_method(finder):
    def method(G, *, rng=None, rank, inner="exact", steps=None, **options):
        return sketched_msign(G, rank, range=finder.name, inner=inner, steps=steps, rng=rng, **options)

    method.__signature__ = _keyword_only({"rng": None, **_method_params(finder)}, first=("G",))
    return method


def _sweep_flops(finder):
    def flops(m, n, *, rank, inner, steps, **options):
        basis = finder.flops(m, n, rank=rank, **options)
        cols = n if basis.rows == m else m
        return basis.flops + lowrank_sign_flops(basis.rows, cols, basis.width, rank, inner, steps)

    flops.__signature__ = _keyword_only(dict.fromkeys(_method_params(finder), REQUIRED), first=("m", "n"))
    return flops


def _sweep_check(finder):
    def check(*, rank, inner, steps, **options):
        check_positive_int(rank, "rank")
        check_inner(inner, steps)
        check_range_options(finder.name, options)

    check.__signature__ = _keyword_only(dict.fromkeys(_method_params(finder), REQUIRED))
    return check


@boundary
def sketched_msign(G, rank, *, range="gaussian", inner="exact", steps=None, dtype=None, sketch_dtype=None, rng=None,
                   **options):
    r"""Rank-r approximation of ``msign(G)`` in one call: ``Q = range finder(G)``, then ``Q · msign(QᵀG)``.

    The basis comes from the range finder ``range`` (``Q = wide_gaussian_range(G, rank, rng=rng,
    **options)``, :func:`gaussian_range` on the wide orientation, or ``column_range(...)``), then ``lowrank_msign(G, Q, rank=rank, inner=inner,
    steps=steps)``, the operator of [1]_; with oversampling the result is truncated back to
    ``rank``, so it has rank at most ``rank`` whatever the options.

    Parameters
    ----------
    G : array, shape (..., m, n)
        A stack only with ``range="gaussian"`` (one Gaussian test matrix per member, see
        :func:`gaussian_range`).
    rank : int
        ``1 ≤ rank ≤ min(m, n)``.
    range : str
        A name in :data:`RANGES`: ``"gaussian"`` (:func:`wide_gaussian_range`), ``"column"``
        (:func:`column_range`), or one declared by :func:`register_range`.
    inner, steps, dtype
        See :func:`lowrank_msign`.
    sketch_dtype : {None, "float32", "float64"}
        Precision of the range finder's products with ``G`` (default ``G``'s); ``QᵀG`` and the
        sign stay in ``G``'s. Only for range finders that take it (``"gaussian"``:
        :func:`gaussian_range`, *Mixed precision*).
    rng : None, int or generator
    **options
        Passed to the range finder: ``oversample``, ``power_iters``, ``normalizer`` for
        "gaussian"; ``strategy`` for "column".

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``. For 16-bit ``G`` the basis comes back from the
        range finder in ``G``'s dtype, so its rounding enters too.

    Raises
    ------
    ValueError
        For an unknown ``range`` or option, ``range="column"`` with a stack, a ``sketch_dtype``
        the range finder does not take, and the errors of the range finder and of
        :func:`lowrank_msign`.

    Notes
    -----
    ``sketch_dtype`` is not a parameter of the sweep methods: a cell's key, and so its seed, is
    made of every method parameter, and a new one would re-seed every recorded sweep.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.diag([3.0, 2.0, 1.0])
    >>> X = sketched_msign(G, 2, oversample=1, power_iters=2, rng=0)
    >>> np.round(X, 6) + 0.0
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    >>> sketched_msign(np.stack([G, 2.0 * G]), 2, power_iters=2, rng=0).shape  # a stack
    (2, 3, 3)
    """
    check_matrix(G, "G")
    options = check_range_options(range, options)
    check_inner(inner, steps)
    check_inner_dtype(inner, dtype)
    if range == "column" and getattr(G, "ndim", 2) > 2:
        raise ValueError(
            f"range='column' selects columns of a single matrix (m, n); G of shape {tuple(G.shape)} "
            "is a stack: use range='gaussian', or call sketched_msign on each member"
        )
    if sketch_dtype is not None:
        if "sketch_dtype" not in inspect.signature(RANGES[range].function).parameters:
            raise ValueError(f"range={range!r} takes no sketch_dtype (range='gaussian' does)")
        options["sketch_dtype"] = sketch_dtype
    Q = RANGES[range](G, rank, rng=rng, **options)
    return lowrank_msign(G, Q, rank=rank, inner=inner, steps=steps, dtype=dtype)


def lowrank_sign(*args, **kwargs):
    """Deprecated name of :func:`sketched_msign` (renamed: the old name goes in the next release)."""
    warnings.warn("lowrank_sign was renamed sketched_msign; the old name goes in the next release", DeprecationWarning, stacklevel=2)
    return sketched_msign(*args, **kwargs)
