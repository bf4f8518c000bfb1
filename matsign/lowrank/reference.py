r"""Plain NumPy versions of the low-rank family: the papers' steps written out, for the tests.

Float64, single matrices, no checks, no backends, no scaling against overflow. Random draws are
made from a ``numpy.random.Generator`` in the order the hardened functions make them, so on
NumPy both see the same test matrices and keys.

References
----------
.. [1] N. Halko, P.-G. Martinsson, J. A. Tropp, *Finding structure with randomness*, SIAM
   Review 53 (2011), arXiv 0909.4061 (Alg. 4.4; the SVD of QᵀG truncated to rank, Alg. 5.1).
.. [2] C. He, Z. Deng, Z. Lu, *Low-rank orthogonalization for large-scale matrix
   optimization*, arXiv 2509.11983.
"""

import numpy as np
import scipy.linalg


def msign(B):
    """``U Vᵀ`` from the thin SVD of ``B``, singular values ≤ ``max(m, n)·eps·σ₁`` dropped."""
    U, s, Vt = np.linalg.svd(B, full_matrices=False)
    keep = s > max(B.shape) * np.finfo(B.dtype).eps * s[0]
    return U[:, keep] @ Vt[keep]


def range_finder(G, Omega, power_iters):
    """HMT Alg. 4.4: ``Q = orth((GGᵀ)^q GΩ)``, re-orthonormalized after every product."""
    Q = np.linalg.qr(G @ Omega)[0]
    for _ in range(power_iters):
        Q = np.linalg.qr(G.T @ Q)[0]
        Q = np.linalg.qr(G @ Q)[0]
    return Q


def sketched_msign(G, Q, rank):
    """He–Deng–Lu: ``Q_r · msign(Q_rᵀ G)``, ``Q_r = Q U_r`` the Rayleigh–Ritz reduction of ``Q``
    to the top-``rank`` left singular vectors of ``QᵀG``."""
    U = np.linalg.svd(Q.T @ G)[0][:, :rank]
    Q_r = Q @ U
    return Q_r @ msign(Q_r.T @ G)


def oracle(G, rank):
    """The best rank-r sign ``U_r V_rᵀ``."""
    U, _, Vt = np.linalg.svd(G)
    return U[:, :rank] @ Vt[:rank]


def select_columns(X, k, strategy, rng):
    """``k`` column indices of a wide ``X`` (``s × N``) by ``strategy``, drawing from ``rng``."""
    s, N = X.shape
    if strategy == "uniform":  # Low-rank Muon's randperm(N)[:k]
        return np.argsort(rng.random(N))[:k]
    if strategy == "l1_topk":  # the k largest L1 norms, ties to the lower index
        return np.argsort(-np.abs(X).sum(axis=0), kind="stable")[:k]
    if strategy == "pivoted_qr":  # QRCP of a (k + 10) × N Gaussian sketch, or of X if no smaller
        S = X if k + 10 >= s else rng.standard_normal((k + 10, s)) @ X
        return scipy.linalg.qr(S, mode="r", pivoting=True)[1][:k]
    if strategy == "norm":  # weights ‖x_j‖²
        w = np.sum(X * X, axis=0)
    else:  # "leverage": ‖V_kᵀe_j‖², V_k ≈ Z W_k from a sketch Z of the row space
        Z = range_finder(X.T, rng.standard_normal((s, min(k + 10, s))), 1)
        Wt = np.linalg.svd(X @ Z)[2]
        V = Z @ Wt[:k].T
        w = np.sum(V * V, axis=1)
    # Successive draws ∝ w without replacement: the k smallest keys E_j / w_j, E_j ~ Exp(1).
    E = -np.log1p(-rng.random(N))
    return np.argsort(np.where(w > 0, E / np.where(w > 0, w, 1.0), np.inf), kind="stable")[:k]


def column_basis(X, J):
    """An orthonormal basis of the selected columns ``X[:, J]`` (assumed independent)."""
    return np.linalg.qr(X[:, J])[0]
