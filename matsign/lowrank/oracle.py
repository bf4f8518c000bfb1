r"""The best rank-r sign ``U_r V_rᵀ``, the reference of every rank-r method, and its sweep method."""

from __future__ import annotations

import numpy as np

from matsign._backend.checks import boundary, check_matrix, check_positive_int, check_rank, check_rtol
from matsign._backend.precision import default_rtol, linalg_dtype
from matsign.exact.sign import truncated_svd_sign
from matsign.flops import gemm, svd
from matsign.prediction import diagonal_outcome, exact
from matsign.registry import register

__all__ = ["oracle_lowrank_sign"]


@boundary
def oracle_lowrank_sign(G, rank, *, rtol=None):
    r"""The best rank-r sign: :math:`U_r \operatorname{sign}(\Sigma_r) V_r^T` from the thin SVD.

    For :math:`G = U \Sigma V^T`, the top ``r`` singular pairs, with singular values at or below
    ``rtol·σ₁`` mapped to zero (as in :func:`msign`).

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack of matrices (NumPy, CuPy or PyTorch).
    rank : int
        ``1 ≤ rank ≤ min(m, n)``.
    rtol : float, optional
        Default :func:`matsign._backend.default_rtol` (``max(m, n)·eps`` of the SVD's dtype,
        at least the epsilon of ``G``'s own, so 16-bit storage noise is not rank).

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G`` (16-bit inputs factorized in float32).

    Notes
    -----
    It maximizes the alignment :math:`\langle G, X\rangle` over :math:`\|X\|_2 \le 1`, rank
    ``≤ r`` (Ky Fan), is the reference for rank-r methods, and equals
    ``lowrank_msign(G, U_r)``. Not unique when :math:`\sigma_r = \sigma_{r+1}`.

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
    return xp.astype(truncated_svd_sign(xp, A, tol, rank), G.dtype, copy=False)


def _oracle(G, *, rng=None, rank):
    return oracle_lowrank_sign(G, rank)


def _oracle_flops(m, n, *, rank):
    return svd(m, n) + gemm(m, rank, n)


def _check_oracle(*, rank):
    check_positive_int(rank, "rank")


def _predict_oracle(spectrum, *, rank):
    """Exact: ``X = U_r' V_r'ᵀ``, ``r'`` the top ``rank`` singular values above the method's
    threshold ``default_rtol(m, n, stored)·σ₁``; alignment the Ky Fan ratio, error
    ``√|ρ − r'| / √ρ``."""
    check_rank(rank, (spectrum.m, spectrum.n))
    s = spectrum.s
    values = (spectrum.kept(s, spectrum.m, spectrum.n) & (np.arange(s.size) < rank)).astype(np.float64)
    return exact(*diagonal_outcome(spectrum, values))


register(
    "oracle", _oracle,
    description="U_r V_rᵀ, the best rank-r sign, from the full SVD", flops=_oracle_flops,
    check=_check_oracle, label=r"oracle $U_rV_r^\top$", predict=_predict_oracle,
)
