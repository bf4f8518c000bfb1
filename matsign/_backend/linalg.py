"""Linear algebra that the array API standard lacks: a matrix product with the linear combination
in its epilogue (also into existing buffers), Cholesky with a failure flag, a right triangular solve, thin
QR, the permuted lower factor of LU, the pivot order of QR with column pivoting, and a Euclidean
norm that neither over- nor underflows.

Each function dispatches on the array's library (NumPy, PyTorch, CuPy) and keeps the data on its
device, except :func:`column_pivots`, which runs on the host and must only see sketch-sized input,
and :func:`euclidean_norm`, of a host float64 vector (singular values, their images).
"""

from __future__ import annotations

import numpy as np

from matsign._backend.namespace import STRICT, device, from_numpy, library, namespace, to_numpy


def matmul_add(beta: float, C, alpha: float, A, B):
    r""":math:`\beta C + \alpha A B` for matrices or stacks of one library and dtype.

    One fused GEMM on PyTorch; ``beta * C + alpha * (A @ B)`` elsewhere.

    Parameters
    ----------
    beta, alpha : float
    C : array, shape (..., m, n)
    A : array, shape (..., m, k)
    B : array, shape (..., k, n)
        Leading dimensions broadcast as in ``A @ B``.

    Notes
    -----
    On PyTorch this is one ``addmm`` call (``baddbmm`` on stacks of equal leading dimensions)
    whose epilogue scales and adds ``C``: no extra passes over memory, and on 16-bit tensors one
    rounding of the sum instead of one per term. Elsewhere (NumPy, CuPy, or broadcast stacks)
    the multiplication by ``α = 1`` is skipped. As in BLAS, PyTorch ignores ``C`` when ``β = 0``
    (so NaNs in it do not propagate).

    Examples
    --------
    >>> import numpy as np
    >>> matmul_add(2.0, np.eye(2), 3.0, np.array([[1.0, 2.0]]).T, np.array([[1.0, 1.0]]))
    array([[5., 3.],
           [6., 8.]])
    """
    if library(C) == "torch":
        import torch

        beta, alpha = float(beta), float(alpha)
        batch = C.shape[:-2]
        if C.ndim == A.ndim == B.ndim == 2:
            return torch.addmm(C, A, B, beta=beta, alpha=alpha)
        if batch and A.shape[:-2] == batch and B.shape[:-2] == batch:
            flat = torch.baddbmm(
                C.reshape(-1, *C.shape[-2:]),
                A.reshape(-1, *A.shape[-2:]),
                B.reshape(-1, *B.shape[-2:]),
                beta=beta,
                alpha=alpha,
            )
            return flat.reshape(C.shape)
    product = A @ B
    return beta * C + (product if alpha == 1 else alpha * product)


def matmul_into(A, B, out):
    r"""``out[...] = A @ B`` without allocating the product: ``out`` is an existing buffer.

    Parameters
    ----------
    A : array, shape (..., m, k)
    B : array, shape (..., k, n)
    out : array, shape (..., m, n)
        C-contiguous, of ``A``'s library, device and dtype, sharing no memory with ``A`` or
        ``B``.

    Returns
    -------
    array
        ``out``, holding the product; bit for bit what ``A @ B`` returns.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.empty((2, 2))
    >>> matmul_into(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]), out) is out
    True
    >>> out
    array([[1., 2.],
           [3., 4.]])
    """
    if library(A) == "torch":
        import torch

        return torch.matmul(A, B, out=out)
    if library(A) == "cupy":
        import cupy

        return cupy.matmul(A, B, out=out)
    if library(A) == STRICT:  # the standard has no out=: assign into the buffer (tests only)
        out[...] = A @ B
        return out
    return np.matmul(A, B, out=out)


def matmul_add_into(beta: float, C, alpha: float, A, B, out):
    r"""Write :math:`\beta C + \alpha A B` into the existing buffer ``out``; ``C`` may be spent.

    The same numbers as :func:`matmul_add` (bit for bit), without allocating a result.

    Parameters
    ----------
    beta, alpha : float
    C : array, shape (..., m, n)
        Read, then possibly overwritten (NumPy and CuPy use it as workspace): its contents
        afterwards are unspecified. It may be ``A`` or ``B`` itself.
    A : array, shape (..., m, k)
    B : array, shape (..., k, n)
    out : array, shape (..., m, n)
        C-contiguous, same library, device and dtype, sharing no memory with ``A``, ``B`` or
        ``C``.

    Returns
    -------
    array
        ``out``.

    Notes
    -----
    On PyTorch this is the fused ``addmm``/``baddbmm`` of :func:`matmul_add` with ``out=``.
    Elsewhere ``out`` receives ``A @ B``, is scaled by ``α`` (skipped for ``α = 1``), and ``β C``,
    formed in place in ``C``, is added: the same rounded operations as ``β C + α (A B)``.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.empty((2, 2))
    >>> matmul_add_into(2.0, np.eye(2), 3.0, np.array([[1.0, 2.0]]).T, np.array([[1.0, 1.0]]), out)
    array([[5., 3.],
           [6., 8.]])
    """
    if library(C) == "torch":
        import torch

        beta, alpha = float(beta), float(alpha)
        batch = C.shape[:-2]
        if C.ndim == A.ndim == B.ndim == 2:
            return torch.addmm(C, A, B, beta=beta, alpha=alpha, out=out)
        if batch and A.shape[:-2] == batch and B.shape[:-2] == batch:
            torch.baddbmm(
                C.reshape(-1, *C.shape[-2:]),
                A.reshape(-1, *A.shape[-2:]),
                B.reshape(-1, *B.shape[-2:]),
                beta=beta,
                alpha=alpha,
                out=out.view(-1, *out.shape[-2:]),
            )
            return out
    matmul_into(A, B, out)
    if alpha != 1:
        out *= alpha
    C *= beta
    out += C
    return out


def cholesky_upper(W):
    r"""Upper-triangular ``R`` with :math:`W = R^T R`, or ``None`` if the factorization breaks down.

    Breakdown means ``W`` is not numerically positive definite (a pivot is not positive, or the
    factor is not finite); detecting it reads one flag back to the host.

    Parameters
    ----------
    W : array, shape (..., k, k)
        Symmetric matrix or stack (only the lower triangle is read on NumPy/CuPy, the upper on
        PyTorch).

    Notes
    -----
    A stack is factorized in one batched call and counts as broken down (``None``) when any
    member does; the check still reads back a single flag for the whole stack.

    Examples
    --------
    >>> import numpy as np
    >>> cholesky_upper(np.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 1.],
           [0., 1.]])
    >>> cholesky_upper(np.array([[1.0, 2.0], [2.0, 1.0]])) is None
    True
    >>> cholesky_upper(np.stack([np.eye(2), np.array([[1.0, 2.0], [2.0, 1.0]])])) is None
    True
    """
    lib = library(W)
    if lib == "torch":
        import torch

        R, info = torch.linalg.cholesky_ex(W, upper=True)
        return R if bool(torch.all(info == 0) & torch.all(torch.isfinite(R))) else None
    if lib == "cupy":
        import cupy
        import cupyx

        # CuPy ignores cuSOLVER's failure code unless asked to raise.
        with cupyx.errstate(linalg="raise"):
            try:
                L = cupy.linalg.cholesky(W)
            except np.linalg.LinAlgError:
                return None
        return cupy.swapaxes(L, -1, -2) if bool(cupy.all(cupy.isfinite(L))) else None
    if lib == STRICT:  # the standard's cholesky raises no agreed error: factorize a host copy
        R = cholesky_upper(to_numpy(W))
        return None if R is None else from_numpy(R, like=W)
    try:
        L = np.linalg.cholesky(W)
    except np.linalg.LinAlgError:
        return None
    return np.swapaxes(L, -1, -2) if np.all(np.isfinite(L)) else None


def solve_upper_right(Y, R):
    r""":math:`Y R^{-1}` for upper-triangular ``R`` (a triangular solve, no inverse formed).

    Stacks are solved member by member: ``Y[idx] R[idx]⁻¹``.

    Parameters
    ----------
    Y : array, shape (..., p, k)
    R : array, shape (..., k, k)
        Nonsingular upper triangular, same library, device and leading dimensions as ``Y``.

    Notes
    -----
    PyTorch and CuPy batch the solve on the device; NumPy input goes through SciPy's
    ``solve_triangular``, which accepts stacks (looping over them) from SciPy 1.16 on.

    Examples
    --------
    >>> import numpy as np
    >>> solve_upper_right(np.array([[2.0, 3.0]]), np.array([[2.0, 1.0], [0.0, 1.0]]))
    array([[1., 2.]])
    """
    lib = library(Y)
    if lib == "torch":
        import torch

        return torch.linalg.solve_triangular(R, Y, upper=True, left=False)
    if lib == STRICT:  # not in the standard: solve a host copy
        return from_numpy(solve_upper_right(to_numpy(Y), to_numpy(R)), like=Y)
    if lib == "cupy":
        from cupyx.scipy.linalg import solve_triangular
    else:
        from scipy.linalg import solve_triangular
    # Y R⁻¹ = (R⁻ᵀ Yᵀ)ᵀ: one solve with the transposed factor.
    return solve_triangular(R, Y.swapaxes(-1, -2), trans="T", lower=False).swapaxes(-1, -2)


def thin_qr(Y):
    r"""Thin Householder QR ``Y = Q R``: ``Q`` (..., p, k) with orthonormal columns, ``R`` (..., k, k).

    Parameters
    ----------
    Y : array, shape (..., p, k)
        Finite, ``p ≥ k``.

    Notes
    -----
    NumPy input goes through ``scipy.linalg.qr(mode="economic")``, the same LAPACK
    ``geqrf``/``orgqr`` as ``numpy.linalg.qr`` at about a third of its time on a
    ``2048 × 64`` block; other libraries use their own ``linalg.qr``.

    Examples
    --------
    >>> import numpy as np
    >>> Q, R = thin_qr(np.array([[3.0], [4.0]]))
    >>> Q.shape, R.shape, bool(np.allclose(Q @ R, [[3.0], [4.0]]))
    ((2, 1), (1, 1), True)
    """
    if library(Y) == "numpy":
        import scipy.linalg

        return scipy.linalg.qr(Y, mode="economic", check_finite=False)
    return namespace(Y).linalg.qr(Y)


def lu_basis(Y):
    r"""The permuted unit lower-trapezoidal factor ``PL`` of the LU factorization ``Y = P L U``.

    For a tall ``Y`` (``p ≥ k``) of full rank, ``PL = Y U^{-1}`` spans the columns of ``Y`` and,
    with partial pivoting (``|L_{ij}| ≤ 1``), is usually well conditioned: a cheap
    normalization between products of a power iteration (as scikit-learn's
    ``randomized_range_finder``), not an orthonormal basis.

    Parameters
    ----------
    Y : array, shape (..., p, k)
        Finite, ``p ≥ k``; stacks are factorized member by member.

    Returns
    -------
    array, shape (..., p, k)
        Same library, device and dtype.

    Notes
    -----
    NumPy input goes through ``scipy.linalg.lu(permute_l=True)``. On PyTorch and CuPy the
    factor is ``Y U^{-1}`` (``lu_factor``, then a triangular solve), which keeps the row
    permutation implicit; there pivots below ``eps·max|U|`` (a rank-deficient ``Y``) are raised
    to that value, so the result stays finite and still spans the columns of ``Y`` (any
    nonsingular triangular factor does), with no read back to the host.

    Examples
    --------
    >>> import numpy as np
    >>> lu_basis(np.array([[1.0, 2.0], [2.0, 2.0], [0.0, 1.0]]))
    array([[0.5, 1. ],
           [1. , 0. ],
           [0. , 1. ]])
    """
    lib = library(Y)
    if lib == "torch":
        import torch

        return solve_upper_right(Y, _safe_pivots(torch.triu(torch.linalg.lu_factor_ex(Y)[0][..., : Y.shape[-1], :])))
    if lib == "cupy":
        import cupy
        from cupyx.scipy.linalg import lu_factor

        return solve_upper_right(Y, _safe_pivots(cupy.triu(lu_factor(Y)[0][..., : Y.shape[-1], :])))
    if lib == STRICT:  # not in the standard: factorize a host copy
        return from_numpy(lu_basis(to_numpy(Y)), like=Y)
    import scipy.linalg

    return scipy.linalg.lu(Y, permute_l=True, check_finite=False)[0]


def _safe_pivots(U):
    """The triangular ``U`` with diagonal entries below ``eps·max|U|`` raised to that value
    (to 1 where ``U = 0``), per stack member."""
    xp = namespace(U)
    diagonal = xp.linalg.diagonal(U)
    scale = xp.max(xp.abs(U), axis=(-2, -1))[..., None]
    floor = xp.where(scale > 0, scale * xp.finfo(U.dtype).eps, xp.ones_like(scale))
    raise_by = xp.where(xp.abs(diagonal) > floor, xp.zeros_like(diagonal), floor - diagonal)
    return U + xp.eye(int(U.shape[-1]), dtype=U.dtype, device=device(U)) * raise_by[..., None, :]


def column_pivots(S, k: int):
    """Indices of the first ``k`` pivot columns of QR with column pivoting of ``S``.

    Runs on the host: pass only sketch-sized matrices (a few rows).

    Parameters
    ----------
    S : array, shape (p, N)
    k : int
        Number of pivots, ``1 ≤ k ≤ min(p, N)``.

    Returns
    -------
    array of int64, shape (k,)
        In ``S``'s library and on its device.

    Notes
    -----
    ``S`` is copied to NumPy (float64) and factorized by LAPACK's ``geqp3`` through
    ``scipy.linalg.qr(pivoting=True)``.

    Examples
    --------
    >>> import numpy as np
    >>> column_pivots(np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]]), 2)
    array([2, 1])
    """
    import scipy.linalg

    host = np.asarray(to_numpy(S), dtype=np.float64)
    _, perm = scipy.linalg.qr(host, mode="r", pivoting=True)
    return from_numpy(np.asarray(perm[:k], dtype=np.int64), like=S)


def euclidean_norm(x) -> float:
    r""":math:`\|x\|_2` of a float64 NumPy vector, as :math:`\max|x| \cdot \|x/\max|x|\|_2`: the
    squares of entries beyond 1e154 would overflow and those below 1e-154 underflow to zero.

    Examples
    --------
    >>> euclidean_norm(np.array([3e-300, 4e-300]))
    5e-300
    """
    peak = float(np.max(np.abs(x), initial=0.0))
    return peak * float(np.linalg.norm(x / peak)) if peak > 0 else 0.0
