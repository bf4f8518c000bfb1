r"""Spectral diagnostics of gradient matrices: singular values and the numbers derived from them.

Everything here is computed from the singular values :math:`\sigma_1 \ge \dots \ge \sigma_k \ge 0`
(:math:`k = \min(m, n)`) of ``G``, on ``G``'s own library and device. Functions accept a matrix
``(m, n)`` or a stack ``(..., m, n)`` and return arrays of the batch shape (a 0-D array for a
matrix), except where a docstring says otherwise.

**Working precision.** SVDs run in ``G``'s dtype; 16-bit inputs (bfloat16, float16) are computed
and returned in float32, since no backend has a 16-bit SVD.

**Which singular values count as nonzero** (:func:`nonzero_mask`): those with
:math:`\sigma_i > \mathrm{rtol}\cdot\sigma_1`, default
:func:`matsign._backend.default_rtol` ``= max(max(m, n)·ε_w, ε_s)``, the threshold ``msign``
uses (``ε_w``: epsilon of the dtype the SVD runs in; ``ε_s``: of ``G``'s own dtype).

**Undefined quantities are NaN.** A quantity that is undefined for a valid input is returned
as NaN, without an exception or a warning, so that a sweep over a grid that contains such a
matrix records the row and goes on; each function's Returns section names its cases. Here: the
condition number of the zero matrix, and the power-law exponent of a matrix with fewer than two
nonzero singular values (the zero matrix, any rank-1 matrix, a 1×1 or 1×n matrix). Invalid
input (non-finite entries, bad shapes, out-of-range options) raises instead. Where a limit is
natural the value is defined: the zero matrix has numerical rank 0, stable rank 0, effective
rank 0 and tail energy 0.

**Any scale.** Results do not under- or overflow for finite inputs of any magnitude whose
result is representable: squares are formed on values divided by a power of two near their
largest one (:func:`binary_scale`), which changes no digit of an ordinary result.
"""

from __future__ import annotations

import math

from matsign._backend import (
    as_linalg_dtype,
    boundary,
    check_choice,
    check_matrix,
    check_positive_int,
    check_rank,
    check_unit_interval,
    device,
    generator,
    namespace,
    resolve_rtol,
    standard_normal,
)

__all__ = [
    "condition_number",
    "effective_rank",
    "nuclear_norm",
    "nuclear_rank",
    "numerical_rank",
    "power_law_exponent",
    "singular_values",
    "spectral_norm",
    "singular_value_summary",
    "spectral_summary",
    "stable_rank",
    "tail_energy",
]

NORM_METHODS = ("auto", "svd", "subspace")

# "auto" switches from a full SVD to subspace iteration above this min(m, n): a thin SVD costs
# O(m n min(m, n)), a subspace step O(m n · block), so the iteration wins well before 1024.
_AUTO_SVD_LIMIT = 1024

# Subspace block: the Ritz estimate of σ₁ converges like (σ_{b+1}/σ₁)^(2t) after t steps, so a
# few extra columns buy a large gap at a cost linear in the block size.
_BLOCK = 8

# Subspace-iteration defaults of spectral_norm, also used by stable_rank.
_DEFAULT_TOL = 1e-7
_DEFAULT_MAX_ITERS = 100


def nonzero_mask(s, rtol):
    """Mask of the singular values that count as nonzero: ``σ_i > rtol·σ₁``.

    Parameters
    ----------
    s : array, shape (..., k)
        Singular values in descending order.
    rtol : float
        The threshold relative to σ₁, e.g. from :func:`matsign._backend.resolve_rtol`.

    Examples
    --------
    >>> import numpy as np
    >>> nonzero_mask(np.array([2.0, 1.0, 1e-20]), 1e-12)
    array([ True,  True, False])
    """
    return s > rtol * s[..., :1]


def binary_scale(xp, peak):
    """``2^⌊log₂ p⌋`` for each ``p > 0`` of ``peak``, 1 elsewhere: a scale within a factor 2 of ``p``.

    Dividing by it brings values of magnitude up to ``p`` into ``[0, 2)`` exactly (a power of
    two changes no digit), so norms and Gram sums of the result neither over- nor underflow and
    their ratios are bit for bit those of the unscaled values wherever those are representable.

    Examples
    --------
    >>> import numpy as np
    >>> binary_scale(np, np.array([3.0, 0.75, 0.0]))
    array([2. , 0.5, 1. ])
    """
    ok = peak > 0
    exponent = xp.floor(xp.log2(_safe(xp, peak, ok)))
    return _safe(xp, xp.pow(xp.full_like(exponent, 2.0), exponent), ok)


def binary_normalized(xp, x):
    """``x`` divided, member by member (shape ``(..., m, n)``), by :func:`binary_scale` of its
    largest absolute entry: entries in ``(−2, 2)``, no digit changed, the zero matrix unchanged.
    For scale-free computations (a sign, a range, singular vectors) on entries of any magnitude.

    Examples
    --------
    >>> import numpy as np
    >>> binary_normalized(np, np.array([[6.0, -3.0], [0.5, 0.0]]))  # divided by 4
    array([[ 1.5  , -0.75 ],
           [ 0.125,  0.   ]])
    """
    return x / binary_scale(xp, xp.max(xp.abs(x), axis=(-2, -1), keepdims=True))


def _rtol(G, rtol):
    """``rtol`` checked, or the default for ``G``'s shape and dtype (module docstring)."""
    return resolve_rtol(rtol, G.shape[-2], G.shape[-1], G.dtype)


def _safe(xp, x, ok):
    """``x`` where ``ok``, 1 elsewhere: a denominator that never divides by zero."""
    return xp.where(ok, x, 1.0)


def _ratios(xp, s):
    """``σ_i/σ₁`` (zeros for the zero matrix): scale-free, so its squares cannot overflow."""
    s1 = s[..., :1]
    return s / _safe(xp, s1, s1 > 0)


def _binary_ratios(xp, s):
    """σ/2^k with 2^k ≤ σ₁ < 2^(k+1): values in [0, 2) whose sums and squares neither overflow
    nor underflow, with the digits of every ratio unchanged (a power of two)."""
    return s / binary_scale(xp, s[..., :1])


def _stable_rank(xp, s):
    """:func:`stable_rank` from the singular values ``s``."""
    t = _ratios(xp, s)
    return xp.sum(t * t, axis=-1)


def _nuclear_rank(xp, s):
    """:func:`nuclear_rank` from the singular values ``s``."""
    t = _binary_ratios(xp, s)
    total = xp.sum(t, axis=-1)
    energy = xp.sum(t * t, axis=-1)
    nonzero = energy > 0
    return xp.where(nonzero, total * total / _safe(xp, energy, nonzero), 0.0)


def _numerical_rank(xp, s, rtol):
    """:func:`numerical_rank` from the singular values ``s``."""
    return xp.sum(xp.astype(nonzero_mask(s, rtol), xp.int64), axis=-1)


def _condition_number(xp, s, rtol):
    """:func:`condition_number` from the singular values ``s``."""
    kept = nonzero_mask(s, rtol)
    # The kept values are a prefix of the descending σ; the others must not win the minimum.
    smallest = xp.min(xp.where(kept, s, xp.inf), axis=-1)
    return xp.where(xp.any(kept, axis=-1), s[..., 0] / smallest, xp.nan)


def _effective_rank(xp, s, rtol):
    """:func:`effective_rank` from the singular values ``s``."""
    kept = nonzero_mask(s, rtol)
    t = _binary_ratios(xp, s)  # Σσ itself overflows near σ₁ = 1e308
    total = xp.sum(xp.where(kept, t, 0.0), axis=-1)
    nonzero = total > 0
    p = xp.where(kept, t / _safe(xp, total, nonzero)[..., None], 1.0)
    entropy = -xp.sum(xp.where(kept, p * xp.log(p), 0.0), axis=-1)
    return xp.where(nonzero, xp.exp(entropy), 0.0)


def _tail_energy(xp, s, rank):
    """:func:`tail_energy` from the singular values ``s``."""
    t = _ratios(xp, s)
    total = xp.sum(t * t, axis=-1)
    # Summing the tail directly (rather than total − head) keeps small tails accurate.
    tail = xp.sum(t[..., rank:] * t[..., rank:], axis=-1)
    nonzero = total > 0
    return xp.where(nonzero, tail / _safe(xp, total, nonzero), 0.0)


def _power_law_exponent(xp, s, rtol):
    """:func:`power_law_exponent` from the singular values ``s``: a weighted least-squares slope."""
    kept = nonzero_mask(s, rtol)
    w = xp.astype(kept, s.dtype)
    count = xp.sum(w, axis=-1)
    enough = count >= 2
    x = xp.log(xp.arange(1, s.shape[-1] + 1, dtype=s.dtype, device=device(s)))
    y = xp.log(xp.where(kept, s, 1.0))
    safe_count = _safe(xp, count, enough)
    x_mean = xp.sum(w * x, axis=-1) / safe_count
    y_mean = xp.sum(w * y, axis=-1) / safe_count
    dx = x - x_mean[..., None]
    dy = y - y_mean[..., None]
    sxx = xp.sum(w * dx * dx, axis=-1)
    sxy = xp.sum(w * dx * dy, axis=-1)
    return xp.where(enough, -sxy / _safe(xp, sxx, enough), xp.nan)


@boundary
def singular_values(G):
    r"""Singular values of ``G`` (or of each matrix of a stack), in descending order.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack of matrices.

    Returns
    -------
    array, shape (..., min(m, n))
        :math:`\sigma_1 \ge \dots \ge \sigma_{\min(m, n)} \ge 0`, in ``G``'s dtype and on its
        device; 16-bit inputs are computed and returned in float32.

    Raises
    ------
    TypeError, ValueError
        For non-floating, 0-D/1-D, empty or non-finite ``G`` (one boolean is read back to check).

    Examples
    --------
    >>> import numpy as np
    >>> singular_values(np.array([[3.0, 0.0], [0.0, -4.0], [0.0, 0.0]]))
    array([4., 3.])
    """
    xp = check_matrix(G, "G")
    return xp.linalg.svdvals(as_linalg_dtype(G))


def _check_method(method):
    """``method`` is one of :data:`NORM_METHODS`, else a ``ValueError``."""
    check_choice(method, NORM_METHODS, "method")


def _check_iteration(tol, max_iters):
    """``tol`` and ``max_iters`` of the subspace iteration, checked (see :func:`spectral_norm`)."""
    return check_unit_interval(tol, "tol"), check_positive_int(max_iters, "max_iters")


def _resolve_method(A, method):
    """``"svd"`` or ``"subspace"`` for ``A``: ``"auto"`` picks by size (see :func:`spectral_norm`)."""
    if method != "auto":
        return method
    if A.ndim > 2 or min(int(A.shape[-2]), int(A.shape[-1])) <= _AUTO_SVD_LIMIT:
        return "svd"
    return "subspace"


def _spectral_norm(xp, A, method, rng, tol, max_iters):
    """σ₁ of the validated working array ``A`` (see :func:`spectral_norm`)."""
    method = _resolve_method(A, method)
    if method == "svd":
        return xp.asarray(xp.linalg.svdvals(A)[..., 0])
    if A.ndim != 2:
        raise ValueError(
            f"G must be a single matrix (m, n) for method='subspace'; got shape {tuple(A.shape)}"
        )
    if A.shape[0] > A.shape[1]:
        A = xp.matrix_transpose(A)  # wide orientation: the basis Q lives on the short side
    # σ₁(A) = c·σ₁(A/c): with c a power of two near max|A|, the products A Aᵀ Q cannot over- or
    # underflow at any scale of A.
    scale = binary_scale(xp, xp.max(xp.abs(A)))
    A = A / scale
    m, n = int(A.shape[0]), int(A.shape[1])
    omega = standard_normal(generator(rng, A), (n, min(_BLOCK, m)), like=A)
    q = xp.linalg.qr(A @ omega).Q
    z = xp.matrix_transpose(A) @ q  # = (Qᵀ A)ᵀ
    estimate = xp.linalg.svdvals(z)[0]
    previous = float(estimate)
    for _ in range(max_iters):
        q = xp.linalg.qr(A @ z).Q  # orth(A Aᵀ Q)
        z = xp.matrix_transpose(A) @ q
        estimate = xp.linalg.svdvals(z)[0]
        current = float(estimate)
        if abs(current - previous) <= tol * current:
            break
        previous = current
    return xp.asarray(estimate * scale)


@boundary
def spectral_norm(
    G,
    *,
    method: str = "auto",
    rng=None,
    tol: float = _DEFAULT_TOL,
    max_iters: int = _DEFAULT_MAX_ITERS,
):
    r"""Spectral norm :math:`\|G\|_2 = \sigma_1(G)`.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Matrix or stack of matrices (``method="subspace"``: a single matrix).
    method : {"auto", "svd", "subspace"}
        ``"svd"``: the largest singular value, exact. ``"subspace"``: randomized block subspace
        iteration [1]_ (Notes). ``"auto"``: ``"svd"`` if ``min(m, n) ≤ 1024`` or for a stack.
    rng : None, int or generator
        Randomness of :math:`\Omega` (``"subspace"`` only); see :mod:`matsign._backend.random`.
    tol : float
        Relative change of the estimate between steps that stops the iteration, in (0, 1).
    max_iters : int
        Largest number of steps :math:`Q \leftarrow \mathrm{orth}(G G^\top Q)`.

    Returns
    -------
    array, shape (...)
        σ₁ in ``G``'s dtype (float32 for 16-bit inputs); a 0-D array for a matrix.

    Notes
    -----
    Subspace iteration starts from :math:`Q = \mathrm{orth}(G\Omega)`, with a Gaussian
    :math:`\Omega` of ``min(8, m, n)`` columns, and repeats
    :math:`Q \leftarrow \mathrm{orth}(G G^\top Q)` until the Rayleigh–Ritz estimate
    :math:`\hat\sigma_1 = \sigma_1(Q^\top G)` changes by at most ``tol`` relative, or for
    ``max_iters`` steps. A ``tol`` below the working precision may never be met; the iteration
    then runs ``max_iters`` steps.

    The subspace estimate is a lower bound: for orthonormal :math:`Q`,
    :math:`\sigma_1(Q^\top G) \le \sigma_1(G)`, so it never exceeds σ₁ beyond rounding. The error
    after :math:`t` steps decays like :math:`(\sigma_{b+1}/\sigma_1)^{2t}` (block size ``b``), so
    it is accurate to about ``tol`` on spectra with a gap. Each step costs two products with
    ``G`` (:math:`4mnb` flops) and reads one scalar back to the host for the convergence test.

    References
    ----------
    .. [1] N. Halko, P.-G. Martinsson, J. A. Tropp, *Finding structure with randomness:
       probabilistic algorithms for constructing approximate matrix decompositions*, SIAM
       Review 53 (2011), Algorithm 4.4; arXiv:0909.4061.

    Examples
    --------
    >>> import numpy as np
    >>> from matsign.synthetic import with_spectrum
    >>> G = with_spectrum([5.0, 1.0, 0.5], 40, 30, rng=0)
    >>> spectral_norm(G, method="svd")
    array(5.)
    >>> round(float(spectral_norm(G, method="subspace", rng=0)), 10)
    5.0
    """
    xp = check_matrix(G, "G")
    _check_method(method)
    tol, max_iters = _check_iteration(tol, max_iters)
    return _spectral_norm(xp, as_linalg_dtype(G), method, rng, tol, max_iters)


@boundary
def nuclear_norm(G):
    r"""Nuclear norm :math:`\|G\|_* = \sum_i \sigma_i`.

    Parameters
    ----------
    G : array, shape (..., m, n)

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs).

    Examples
    --------
    >>> import numpy as np
    >>> nuclear_norm(np.array([[3.0, 0.0], [0.0, -4.0]]))
    array(7.)
    """
    xp = check_matrix(G, "G")
    return xp.asarray(xp.sum(xp.linalg.svdvals(as_linalg_dtype(G)), axis=-1))


@boundary
def stable_rank(G, *, method: str = "auto", rng=None):
    r"""Stable rank :math:`\|G\|_F^2 / \|G\|_2^2 = \sum_i \sigma_i^2 / \sigma_1^2` [1]_.

    Between 1 and ``rank(G)``; 0 for the zero matrix.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Matrix or stack (``method="subspace"``: a single matrix).
    method : {"auto", "svd", "subspace"}
        How σ₁ is computed; see :func:`spectral_norm` (default tolerances). The subspace
        estimate of σ₁ is a lower bound, so its stable rank errs high.
    rng : None, int or generator
        Randomness of the subspace iteration.

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs).

    References
    ----------
    .. [1] M. Rudelson, R. Vershynin, *Sampling from large matrices: an approach through
       geometric functional analysis*, J. ACM 54 (2007); arXiv:math/0503442.

    Examples
    --------
    >>> import numpy as np
    >>> stable_rank(np.diag([2.0, 1.0, 1.0]))
    array(1.5)
    """
    xp = check_matrix(G, "G")
    _check_method(method)
    A = as_linalg_dtype(G)
    s1 = _spectral_norm(xp, A, method, rng, _DEFAULT_TOL, _DEFAULT_MAX_ITERS)
    nonzero = s1 > 0
    # ‖G‖_F of G/2^k with 2^k ≤ σ₁ < 2^(k+1): the entries are below 2, so the squares neither
    # overflow nor underflow at any scale, and the power of two makes the ratio exactly the
    # unscaled one wherever that one is representable.
    scale = binary_scale(xp, s1)
    fro = xp.linalg.vector_norm(A / scale[..., None, None], axis=(-2, -1))
    ratio = fro / (_safe(xp, s1, nonzero) / scale)
    return xp.asarray(xp.where(nonzero, ratio * ratio, 0.0))


@boundary
def nuclear_rank(G):
    r"""Nuclear rank :math:`\|G\|_*^2 / \|G\|_F^2 = (\sum_i \sigma_i)^2 / \sum_i \sigma_i^2`.

    The gradient's side of the layerwise criterion of [1]_: a spectral (sign) step is predicted
    to decrease the loss more than a Euclidean step when the nuclear rank of the gradient
    exceeds the stable rank of the layer's incoming activations. Between 1 (rank one) and
    ``rank(G)`` (equal nonzero σ), and at least the stable rank; 0 for the zero matrix.

    Parameters
    ----------
    G : array, shape (..., m, n)

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs). Scale-free: the singular values are
        divided by a power of two near σ₁ (:func:`binary_scale`) before they are summed and
        squared, so no finite ``G`` over- or underflows.

    References
    ----------
    .. [1] D. Davis, D. Drusvyatskiy, *When do spectral gradient updates help in deep
       learning?*, arXiv:2512.04299.

    Examples
    --------
    >>> import numpy as np
    >>> nuclear_rank(np.diag([2.0, 1.0, 1.0]))
    array(2.66666667)
    """
    xp = check_matrix(G, "G")
    return xp.asarray(_nuclear_rank(xp, xp.linalg.svdvals(as_linalg_dtype(G))))


@boundary
def numerical_rank(G, *, rtol=None):
    r"""Numerical rank :math:`\#\{i : \sigma_i > \mathrm{rtol}\cdot\sigma_1\}`.

    Parameters
    ----------
    G : array, shape (..., m, n)
    rtol : float, optional
        In [0, 1); default :func:`matsign._backend.default_rtol` (module docstring).

    Returns
    -------
    array of int64, shape (...)
        0 for the zero matrix.

    Examples
    --------
    >>> import numpy as np
    >>> numerical_rank(np.array([[1.0, 1.0], [1.0, 1.0]]))
    array(1)
    """
    xp = check_matrix(G, "G")
    rtol = _rtol(G, rtol)
    return xp.asarray(_numerical_rank(xp, xp.linalg.svdvals(as_linalg_dtype(G)), rtol))


@boundary
def condition_number(G, *, rtol=None):
    r"""Condition number over the nonzero singular values: :math:`\sigma_1 / \sigma_\rho`.

    :math:`\rho` is the numerical rank (:func:`numerical_rank` with the same ``rtol``), so the
    result is finite and at most ``1/rtol``; NaN for the zero matrix, whose condition number is
    undefined.

    Parameters
    ----------
    G : array, shape (..., m, n)
    rtol : float, optional
        In [0, 1); default :func:`matsign._backend.default_rtol` (module docstring).

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs); NaN for a zero matrix (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> condition_number(np.diag([4.0, 2.0, 0.0]))
    array(2.)
    """
    xp = check_matrix(G, "G")
    rtol = _rtol(G, rtol)
    return xp.asarray(_condition_number(xp, xp.linalg.svdvals(as_linalg_dtype(G)), rtol))


@boundary
def effective_rank(G, *, rtol=None):
    r"""Effective rank :math:`\exp(-\sum_i p_i \log p_i)`, :math:`p_i = \sigma_i / \sum_j \sigma_j`.

    Following [1]_; the sums run over the nonzero singular values (:math:`\sigma_i > \mathrm{rtol}\cdot\sigma_1`).
    Between 1 and the numerical rank; equal to it when the nonzero σ are equal; 0 for the zero
    matrix.

    Parameters
    ----------
    G : array, shape (..., m, n)
    rtol : float, optional
        In [0, 1); default :func:`matsign._backend.default_rtol` (module docstring).

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs).

    References
    ----------
    .. [1] O. Roy, M. Vetterli, *The effective rank: a measure of effective dimensionality*,
       EUSIPCO 2007 (no arXiv version).

    Examples
    --------
    >>> import numpy as np
    >>> effective_rank(np.diag([2.0, 2.0, 2.0, 0.0]))
    array(3.)
    """
    xp = check_matrix(G, "G")
    rtol = _rtol(G, rtol)
    return xp.asarray(_effective_rank(xp, xp.linalg.svdvals(as_linalg_dtype(G)), rtol))


@boundary
def tail_energy(G, rank):
    r"""Fraction of the energy beyond the leading ``rank`` directions.

    .. math:: \sum_{j > r} \sigma_j^2 \Big/ \sum_j \sigma_j^2
              = \|G - G_r\|_F^2 / \|G\|_F^2,

    with :math:`G_r` the best rank-``r`` approximation; 0 for the zero matrix.

    Parameters
    ----------
    G : array, shape (..., m, n)
    rank : int
        ``r`` in ``[1, min(m, n)]``.

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs).

    Examples
    --------
    >>> import numpy as np
    >>> tail_energy(np.diag([2.0, 1.0, 1.0]), 1)
    array(0.33333333)
    """
    xp = check_matrix(G, "G")
    rank = check_rank(rank, G.shape)
    return xp.asarray(_tail_energy(xp, xp.linalg.svdvals(as_linalg_dtype(G)), rank))


@boundary
def power_law_exponent(G, *, rtol=None):
    r"""Decay exponent α of a power-law fit :math:`\sigma_i \approx c\, i^{-\alpha}`.

    Least-squares slope of :math:`\log \sigma_i = \log c - \alpha \log i` over the nonzero
    singular values (:math:`\sigma_i > \mathrm{rtol}\cdot\sigma_1`, :math:`i = 1, \dots, \rho`):

    .. math:: \alpha = -\frac{\sum_i (x_i - \bar x)(y_i - \bar y)}{\sum_i (x_i - \bar x)^2},
              \quad x_i = \log i,\ y_i = \log \sigma_i.

    Exact for :math:`\sigma_i = c\, i^{-\alpha}`; NaN when fewer than two singular values are
    nonzero (the slope is undefined).

    Parameters
    ----------
    G : array, shape (..., m, n)
    rtol : float, optional
        In [0, 1); default :func:`matsign._backend.default_rtol` (module docstring).

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs); NaN where fewer than two singular values
        are nonzero, e.g. for a zero, rank-1 or 1×1 matrix (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> power_law_exponent(np.diag([1.0, 1 / 4, 1 / 9, 1 / 16]))
    array(2.)
    """
    xp = check_matrix(G, "G")
    rtol = _rtol(G, rtol)
    return xp.asarray(_power_law_exponent(xp, xp.linalg.svdvals(as_linalg_dtype(G)), rtol))


@boundary
def spectral_summary(G, *, ranks=(1, 8, 32), rtol=None) -> dict[str, float]:
    r"""All spectral diagnostics of one matrix from a single SVD, as Python numbers.

    Parameters
    ----------
    G : array, shape (m, n)
        A single matrix.
    ranks : sequence of int
        Positive ranks ``r`` for the ``tail_energy_r{r}`` entries; those above ``min(m, n)``
        are left out.
    rtol : float, optional
        Threshold for the nonzero singular values, in [0, 1); default
        :func:`matsign._backend.default_rtol` (module docstring).

    Returns
    -------
    dict
        ``m``, ``n`` and ``numerical_rank`` (int); ``frobenius_norm``, ``spectral_norm``
        (exact), ``nuclear_norm``, ``stable_rank``, ``nuclear_rank``,
        ``condition_number``, ``effective_rank``,
        ``power_law_exponent`` and ``tail_energy_r{r}`` (float), as defined by the functions of
        the same names (``condition_number`` and ``power_law_exponent`` NaN where those return
        NaN). The singular values stay on the device; only these scalars are read back.

    Examples
    --------
    >>> import numpy as np
    >>> s = spectral_summary(np.diag([2.0, 1.0, 1.0]), ranks=(1, 2, 8))
    >>> {k: round(v, 6) for k, v in s.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'m': 3, 'n': 3, 'frobenius_norm': 2.44949, 'spectral_norm': 2.0, 'nuclear_norm': 4.0,
     'stable_rank': 1.5, 'nuclear_rank': 2.666667, 'numerical_rank': 3, 'condition_number': 2.0,
     'effective_rank': 2.828427, 'power_law_exponent': 0.670672, 'tail_energy_r1': 0.333333,
     'tail_energy_r2': 0.166667}
    """
    xp = check_matrix(G, "G", batched=False)
    rtol = _rtol(G, rtol)
    m, n = int(G.shape[0]), int(G.shape[1])
    return singular_value_summary(xp.linalg.svdvals(as_linalg_dtype(G)), m, n, ranks=ranks, rtol=rtol)


@boundary
def singular_value_summary(s, m: int, n: int, *, ranks=(1, 8, 32), rtol=None, dtype=None) -> dict[str, float]:
    r""":func:`spectral_summary` of an ``m × n`` matrix from its singular values ``s`` alone.

    For callers that already hold the spectrum (a second SVD would cost ``O(mn·min(m, n))``).

    Parameters
    ----------
    s : array, shape (min(m, n),)
        All singular values, in descending order (any backend; the sums run there).
    m, n : int
        The matrix's shape.
    ranks : sequence of int
        As in :func:`spectral_summary`.
    rtol : float, optional
        Threshold for the nonzero singular values; default
        :func:`matsign._backend.default_rtol` for an ``m × n`` matrix stored in ``dtype``.
    dtype : str or dtype, optional
        The dtype the matrix was stored in (default: ``s``'s), so that a 16-bit matrix's
        summary matches :func:`spectral_summary` of the matrix itself.

    Examples
    --------
    >>> import numpy as np
    >>> singular_value_summary(np.array([2.0, 1.0, 1.0]), 3, 5, ranks=(1,))["tail_energy_r1"]
    0.3333333333333333
    >>> s = np.array([1.0, 1e-3], dtype=np.float32)
    >>> singular_value_summary(s, 2, 2)["numerical_rank"], singular_value_summary(s, 2, 2, dtype="bfloat16")["numerical_rank"]
    (2, 1)
    """
    xp = namespace(s)
    m, n = check_positive_int(m, "m"), check_positive_int(n, "n")
    if len(s.shape) != 1 or int(s.shape[0]) != min(m, n):
        raise ValueError(f"s must hold the min(m, n) = {min(m, n)} singular values, got shape {tuple(s.shape)}")
    if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
        raise ValueError(f"ranks must be a sequence of positive integers, got {ranks!r}")
    ranks = [check_positive_int(r, "ranks") for r in ranks]
    rtol = resolve_rtol(rtol, m, n, s.dtype if dtype is None else dtype)
    s1 = float(s[0])
    sr = float(_stable_rank(xp, s))
    summary = {
        "m": m,
        "n": n,
        "frobenius_norm": s1 * math.sqrt(sr),
        "spectral_norm": s1,
        "nuclear_norm": float(xp.sum(s)),
        "stable_rank": sr,
        "nuclear_rank": float(_nuclear_rank(xp, s)),
        "numerical_rank": int(_numerical_rank(xp, s, rtol)),
        "condition_number": float(_condition_number(xp, s, rtol)),
        "effective_rank": float(_effective_rank(xp, s, rtol)),
        "power_law_exponent": float(_power_law_exponent(xp, s, rtol)),
    }
    for r in ranks:
        if r <= min(m, n):
            summary[f"tail_energy_r{r}"] = float(_tail_energy(xp, s, r))
    return summary
