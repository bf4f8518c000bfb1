r"""Orthonormal bases of tall blocks ``Y`` (p × k, p ≥ k, or stacks of them): Householder QR or
Cholesky-QR2."""

from __future__ import annotations

from matsign._backend.checks import boundary, check_matrix
from matsign._backend.linalg import cholesky_upper, solve_upper_right, thin_qr
from matsign._backend.namespace import namespace
from matsign._backend.precision import linalg_dtype

METHODS = ("qr", "cholesky_qr")


@boundary
def orthonormalize(Y, method: str = "qr"):
    r"""Matrix ``Q`` (p × k) with orthonormal columns spanning the columns of ``Y`` (p × k).

    ``"qr"`` is the thin ``Q`` of Householder QR (backward stable for any ``Y``); ``"cholesky_qr"``
    is Cholesky-QR2 [1]_, two passes of

    .. math:: Y^T Y = R^T R, \qquad Y \leftarrow Y R^{-1},

    on ``Y`` with each column divided by its largest entry (so the Gram matrix cannot over- or
    underflow at any scale).

    Parameters
    ----------
    Y : array, shape (..., p, k)
        Real floating matrix or stack with ``p ≥ k`` and finite entries (NumPy, CuPy or
        PyTorch); stacks are orthonormalized member by member, in batched calls.
    method : {"qr", "cholesky_qr"}

    Returns
    -------
    array, shape (..., p, k)
        Same library, device and dtype as ``Y``; 16-bit inputs are computed in float32 (QR has
        no 16-bit kernels) and rounded back.

    Raises
    ------
    TypeError
        If ``Y`` is not a real floating array.
    ValueError
        For an unknown ``method``, and if ``Y`` is not a matrix (or stack), is empty, has NaN or
        Inf entries, or is wide (``p < k``).

    Notes
    -----
    Cholesky-QR2 costs two ``k × k`` Gram products and triangular solves, all matrix products
    (fast on GPUs), and is orthonormal to working precision when :math:`\kappa(Y) \lesssim
    u^{-1/2}`. When a Gram matrix is not numerically positive definite (``Y`` rank deficient or
    :math:`\kappa(Y) \gtrsim u^{-1/2}`), that pass **falls back to Householder QR** rather than
    shifting the Gram matrix; detecting the breakdown reads one scalar back to the host per
    pass. On a stack the fallback is decided for the whole stack, so a member may get another
    basis of the same column space than its 2-D call returns.

    For rank-deficient ``Y`` the columns of ``Q`` beyond the rank are arbitrary orthonormal
    directions. For a sketch ``Y = GΩ`` (or a power iterate of it) that is harmless: ``Y`` is
    then rank deficient only because ``G`` is (with probability one), the extra directions are
    orthogonal to the column space of ``G``, and :func:`matsign.lowrank.lowrank_msign` sees
    (numerically) zero rows of ``QᵀG`` there, which ``msign`` maps to zero. For other ``Y``
    (e.g. selected columns of ``G``) they can carry weight; :func:`matsign.lowrank.column_range`
    therefore zeroes them instead.

    References
    ----------
    .. [1] Y. Yamamoto, Y. Nakatsukasa, Y. Yanagisawa, T. Fukaya, *Roundoff error analysis of
       the CholeskyQR2 algorithm*, ETNA 44 (2015) 306–326.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[3.0, 1.0], [4.0, 1.0], [0.0, 1.0]])
    >>> Q = orthonormalize(Y, "cholesky_qr")
    >>> np.round(Q.T @ Q, 12)
    array([[1., 0.],
           [0., 1.]])
    >>> np.round(Q[:, 0], 12)
    array([0.6, 0.8, 0. ])
    >>> np.round(orthonormalize(np.stack([Y, 2.0 * Y]), "cholesky_qr")[1, :, 0], 12)
    array([0.6, 0.8, 0. ])
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    xp = check_matrix(Y, "Y")
    if int(Y.shape[-2]) < int(Y.shape[-1]):
        raise ValueError(
            f"Y must be tall (p ≥ k): k orthonormal columns need at least k rows; got shape {tuple(Y.shape)}"
        )
    Q = orthonormal_basis(xp.astype(Y, linalg_dtype(Y), copy=False), method)
    return xp.astype(Q, Y.dtype, copy=False)


def orthonormal_basis(Y, method: str):
    """The kernel of :func:`orthonormalize`: ``Y`` (``(..., p, k)``, ``p ≥ k``, finite) in a
    LAPACK dtype, ``method`` one of :data:`METHODS`."""
    xp = namespace(Y)
    if method == "qr":
        return thin_qr(Y)[0]
    # Columns scaled to max |entry| 1 first: the Gram entries then lie in [-p, p], with
    # diagonal ≥ 1, at any scale of Y (unscaled, they over- or underflow beyond about 1e±154
    # in float64 and 1e±19 in float32). A column scaling does not change the span.
    peak = xp.max(xp.abs(Y), axis=-2, keepdims=True)
    X = Y / xp.where(peak > 0, peak, xp.ones_like(peak))
    for first in (True, False):  # Cholesky-QR2: XᵀX = RᵀR, X ← XR⁻¹, twice
        R = cholesky_upper(xp.matrix_transpose(X) @ X)
        if R is None:  # not numerically positive definite: Householder QR of that pass's input
            return thin_qr(Y if first else X)[0]
        X = solve_upper_right(X, R)
    return X
