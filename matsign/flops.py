r"""Flop counts of the dense kernels every method is built from (the cost axis of the sweeps).

Leading-order counts, a multiply and an add each counting one flop, for the algorithms as
implemented. A method's own count (declared beside it, see :mod:`matsign.registry`) adds these
up; elementwise work (norms, scores, sampling) and host transfers are not counted.

References
----------
.. [1] G. H. Golub and C. F. Van Loan, *Matrix Computations*, 4th ed., Johns Hopkins 2013:
   §5.2 and §5.1.6 (Householder QR), §8.6.3 (R-SVD), §8.3 (symmetric eigendecomposition).
"""

from __future__ import annotations


def gemm(a, b, c):
    """Product of ``a×b`` and ``b×c``: ``2abc``."""
    return 2 * a * b * c


def qr(p, k):
    """Thin Householder QR of ``p×k`` with ``Q`` formed: ``4pk² − 4k³/3`` [1]_."""
    return 4 * p * k * k - 4 * k**3 / 3


def cholesky_qr2(p, k):
    """Cholesky-QR2 of ``p×k``: two passes of Gram ``2pk²``, Cholesky ``k³/3``, solve ``pk²``."""
    return 2 * (2 * p * k * k + k**3 / 3 + p * k * k)


def orthonormalize(p, k, normalizer="qr"):
    """An orthonormal basis of ``p×k`` by ``"cholesky_qr"`` (Cholesky-QR2) or Householder QR."""
    return cholesky_qr2(p, k) if normalizer == "cholesky_qr" else qr(p, k)


def svd(p, q):
    """Thin SVD of ``p×q`` with factors formed (R-SVD): ``6·max·min² + 20·min³`` [1]_."""
    s, N = min(p, q), max(p, q)
    return 6 * N * s * s + 20 * s**3


def svd_sign(p, q):
    """``U Vᵀ`` of ``p×q`` by the SVD: the SVD plus ``2·min²·max`` for the product."""
    s, N = min(p, q), max(p, q)
    return svd(p, q) + gemm(s, s, N)


def eigh_sign(p, q):
    """``(GGᵀ)^{-1/2} G`` on the wide orientation: Gram, ``9s³`` eigendecomposition [1]_, two products."""
    s, N = min(p, q), max(p, q)
    return gemm(s, N, s) + 9 * s**3 + gemm(s, s, s) + gemm(s, s, N)


def pivoted_qr(p, N):
    """QR with column pivoting of a wide ``p×N``, ``R`` only: ``2p²N − 2p³/3``."""
    return 2 * p * p * N - 2 * p**3 / 3
