r"""Plain NumPy versions of the transforms: the papers' formulas written out, nothing else.

No checks, no backends, no batching, float64 only. The tests compare the multi-backend
functions of :mod:`matsign.transforms` against these.

References
----------
.. [1] Chang et al., *MuonEq*, arXiv 2603.28254 (code: MaeChd/muon-eq ``muoneq.py``).
.. [2] K. Ahn, N. Amsel, J. Langford, *Dion2*, arXiv 2512.16928 (code: microsoft/dion).
.. [3] J. Zhao et al., *GaLore*, arXiv 2403.03507 (code: jiaweizzhao/GaLore).
.. [4] R. Pan et al., *Unbiased gradient low-rank projection* (GUM), arXiv 2510.17802.
"""

from __future__ import annotations

import numpy as np

#: Muon's quintic Newton–Schulz step, taken five times (Keller Jordan's coefficients).
MUON_STEPS = ((3.4445, -4.7750, 2.0315),) * 5


def msign(A):
    """``U Vᵀ`` over the singular values above ``max(m, n)·eps·σ₁`` (zero matrix ↦ zero)."""
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    keep = s > max(A.shape) * np.finfo(np.float64).eps * s[0]
    return U[:, keep] @ Vt[keep]


def newton_schulz(A, coefficients=MUON_STEPS, prescale=1.0):
    """``X ← aX + (bXXᵀ + c(XXᵀ)²)X`` from ``X₀ = A / (prescale·‖A‖_F)``, on the wide side."""
    tall = A.shape[0] > A.shape[1]
    X = (A.T if tall else A) / (prescale * np.linalg.norm(A))
    for a, b, c in coefficients:
        S = X @ X.T
        X = a * X + (b * S + c * S @ S) @ X
    return X.T if tall else X


def equilibrate(G, mode="R", exponent=-0.5, eps=1e-8):
    """MuonEq's scaling [1]_ ``D_r G D_c``: both diagonals ``(squared norm + eps)^exponent`` of
    the same ``G`` (one pass, not Sinkhorn); "R" scales rows only, "C" columns only."""
    r = (np.sum(G * G, axis=1) + eps) ** exponent
    c = (np.sum(G * G, axis=0) + eps) ** exponent
    D_r = np.diag(r) if "R" in mode else np.eye(G.shape[0])
    D_c = np.diag(c) if "C" in mode else np.eye(G.shape[1])
    return D_r @ G @ D_c


def muoneq(G, mode="R", exponent=-0.5, eps=1e-8, coefficients=MUON_STEPS, prescale=1.0):
    """MuonEq [1]_: Newton–Schulz on the equilibrated ``G``; the target is ``msign(D_r G D_c)``."""
    return newton_schulz(equilibrate(G, mode, exponent, eps), coefficients, prescale)


def dion2(M, fraction):
    """Dion2 [2]_: ``msign`` of the ``k = ⌈fraction·size⌉`` rows (columns if tall) of largest
    L1 norm, scattered into place; the other slices stay zero."""
    rows = M.shape[0] <= M.shape[1]
    A = M if rows else M.T
    k = int(np.ceil(fraction * A.shape[0]))
    selected = np.argsort(-np.abs(A).sum(axis=1), kind="stable")[:k]
    X = np.zeros_like(A)
    X[selected] = msign(A[selected])
    return X if rows else X.T


def galore_projector(G, rank):
    """GaLore [3]_: the top ``rank`` left singular vectors of the shorter side (``Gᵀ`` if tall)."""
    A = G if G.shape[0] <= G.shape[1] else G.T
    return np.linalg.svd(A, full_matrices=False)[0][:, :rank]


def gum_estimate(G, P, q, branch):
    """GUM's estimate for a given ``branch`` [4]_, on the shorter side ``A`` of ``G``: the
    residual ``(A − PPᵀA)/q`` ("full_rank") or the projection ``PᵀA/(1 − q)`` ("low_rank"),
    transposed back when ``G`` is tall."""
    tall = G.shape[0] > G.shape[1]
    A = G.T if tall else G
    estimate = (A - P @ P.T @ A) / q if branch == "full_rank" else P.T @ A / (1 - q)
    return estimate.T if tall else estimate


def gum_sign(G, P, q, branch):
    """GUM's step for a given ``branch`` [4]_: ``P·msign(estimate)`` ("low_rank"), or ``msign``
    of the residual estimate with its rounding-level part inside ``span(P)`` projected out."""
    tall = G.shape[0] > G.shape[1]
    A = G.T if tall else G
    S = msign(gum_estimate(A, P, q, branch))
    X = P @ S if branch == "low_rank" else S - P @ (P.T @ S)
    return X.T if tall else X
