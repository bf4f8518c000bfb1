r"""Plain NumPy versions of the exact family: the papers' updates written out, nothing else.

No checks, no backends, no working precisions, no guards against under- or overflow: float64
NumPy matrices in, float64 out. They are the oracles of ``tests/test_exact_reference.py``, which
compares the hardened multi-backend functions of :mod:`matsign.exact` against them, and the
first thing to read to learn an algorithm.

References
----------
.. [1] N. J. Higham, *Functions of Matrices*, SIAM 2008, ch. 8 (polar decomposition, Newton–Schulz).
.. [2] N. Amsel, D. Persson, C. Musco, R. M. Gower, *The Polar Express*, arXiv 2505.16932.
.. [3] Dao AI Lab, *Gram Newton–Schulz* (2026), https://tridao.me/blog/2026/gram-newton-schulz/.
.. [4] Y. Nakatsukasa, Z. Bai, F. Gygi, *Optimizing Halley's iteration for computing the matrix
   polar decomposition*, SIAM J. Matrix Anal. Appl. 31 (2010).
.. [5] Y. Nakatsukasa, N. J. Higham, *Stable and efficient spectral divide and conquer
   algorithms for the symmetric eigenvalue decomposition and the SVD*, SIAM J. Sci. Comput. 35
   (2013).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

__all__ = ["gram_newton_schulz", "newton_schulz", "polar_express_coefficients", "qdwh", "svd_polar"]


def svd_polar(G, rtol):
    """``U sign(Σ) Vᵀ``: singular values at or below ``rtol·σ₁`` map to zero [1]_."""
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    return (U * (s > rtol * s[0])) @ Vt


def newton_schulz(G, coefficients, prescale=1.0):
    """``X₀ = G/(c‖G‖_F)``, then ``A = XXᵀ``, ``X ← aX + (bA + cA²)X`` per triple [1]_, [2]_."""
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / (prescale * np.linalg.norm(X))
    for a, b, c in coefficients:
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tall else X


def gram_newton_schulz(G, coefficients, prescale=1.0):
    """:func:`newton_schulz` carried on ``m × m`` matrices: ``X_k = Q_k X₀``, ``R_k = X_k X_kᵀ`` [3]_.

    ``P = aI + bR + cR²``, ``Q ← PQ``, ``R ← PRP``; the iterate is formed once, at the end.
    """
    tall = G.shape[0] > G.shape[1]
    X0 = G.T if tall else G
    X0 = X0 / (prescale * np.linalg.norm(X0))
    R = X0 @ X0.T
    Q = np.eye(R.shape[0])
    for a, b, c in coefficients:
        P = a * np.eye(R.shape[0]) + b * R + c * R @ R
        Q = P @ Q
        R = P @ R @ P
    X = Q @ X0
    return X.T if tall else X


def qdwh(G):
    r"""The QDWH iteration from ``ℓ₀ = eps`` [4]_: QR form while ``c > 100``, then Cholesky form [5]_.

    Weights for ``ℓ``: ``d = (4(1−ℓ²)/ℓ⁴)^{1/3}``,
    ``a = √(1+d) + ½√(8 − 4d + 8(2−ℓ²)/(ℓ²√(1+d)))``, ``b = (a−1)²/4``, ``c = a + b − 1``;
    step ``X ← (b/c)X + (a − b/c) X (I + cXᵀX)⁻¹``; bound ``ℓ ← ℓ(a + bℓ²)/(1 + cℓ²)``.
    """
    wide = G.shape[0] < G.shape[1]
    X = G.T if wide else G
    X = X / np.linalg.norm(X)
    m, n = X.shape
    eps = np.finfo(np.float64).eps
    ell = eps
    while 1 - ell > 5 * eps:
        d = (4 * (1 - ell**2) / ell**4) ** (1 / 3)
        a = np.sqrt(1 + d) + 0.5 * np.sqrt(8 - 4 * d + 8 * (2 - ell**2) / (ell**2 * np.sqrt(1 + d)))
        b = (a - 1) ** 2 / 4
        c = a + b - 1
        if c > 100:  # [√c X; I] = [Q₁; Q₂] R  ⇒  X ← (b/c) X + (a − b/c)/√c · Q₁Q₂ᵀ
            Q, _ = np.linalg.qr(np.vstack([np.sqrt(c) * X, np.eye(n)]))
            X = (b / c) * X + (a - b / c) / np.sqrt(c) * Q[:m] @ Q[m:].T
        else:  # I + c XᵀX = RᵀR  ⇒  X ← (b/c) X + (a − b/c) X R⁻¹R⁻ᵀ
            R = np.linalg.cholesky(np.eye(n) + c * X.T @ X).T
            Y = scipy.linalg.solve_triangular(R, X.T, trans="T").T  # X R⁻¹
            X = (b / c) * X + (a - b / c) * scipy.linalg.solve_triangular(R, Y.T).T
        ell = min(1.0, ell * (a + b * ell**2) / (1 + c * ell**2))
    return X.T if wide else X


def polar_express_coefficients(steps, lower=1e-3, safety=0.02, cushion=0.02):
    """The greedy minimax (Polar Express) list [2]_: per step, the odd quintic closest to 1 on
    ``[max(ℓ, γu), u]`` by Remez exchange, rescaled to straddle 1 if the cushion ``γ`` was
    active, divided by ``(1 + safety)^{1,3,5}`` but on the last step; then ``ℓ ← p(ℓ)``,
    ``u ← 2 − ℓ``. Near-degenerate intervals take the Taylor quintic ``(15, −10, 3)/8``."""
    lo, hi, out = lower, 1.0, []
    for step in range(steps):
        t0 = max(lo, cushion * hi) / hi  # the fit runs on [t0, 1], then s = t·hi
        if t0 >= 1 - 5e-6:
            a, b, c = 15 / 8, -10 / 8, 3 / 8
        else:
            q, r, E_prev = (3 * t0 + 1) / 4, (t0 + 3) / 4, np.inf
            while True:  # p(t) + (−1)^k E = 1 on the nodes t0 < q < r < 1; nodes ← extrema of p
                t = np.array([t0, q, r, 1.0])
                a, b, c, E = np.linalg.solve(np.column_stack([t, t**3, t**5, [1, -1, 1, -1]]), np.ones(4))
                root = np.sqrt(9 * b * b - 20 * a * c)
                q, r = np.sqrt((-3 * b - root) / (10 * c)), np.sqrt((-3 * b + root) / (10 * c))
                if abs(E - E_prev) <= 4 * np.finfo(np.float64).eps:
                    break
                E_prev = E
        p = np.array([a / hi, b / hi**3, c / hi**5])
        if cushion * hi > lo:
            p = p * 2 / (_quintic(p, lo) + _quintic(p, hi))
        if step < steps - 1:
            p = p / (1 + safety) ** np.array([1, 3, 5])
        out.append(tuple(float(x) for x in p))
        lo = _quintic(p, lo)
        hi = 2 - lo
    return out


def _quintic(p, s):
    return p[0] * s + p[1] * s**3 + p[2] * s**5
