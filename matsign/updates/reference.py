r"""Plain NumPy reference versions of Muon, Dion, Dion2, GaLore-Muon and GUM: each paper's
step written out.

No checks, no backends, no degenerate cases (a zero column, a rank-deficient block): the
state goes in and comes out, with the update before any shape factor. The hardened rules of
:mod:`matsign.updates` are tested against these in float64 (``tests/test_updates_reference.py``).

References
----------
.. [1] K. Jordan et al., *Muon: an optimizer for hidden layers in neural networks* (2024).
.. [2] K. Ahn, B. Xu, N. Abreu, J. Langford, *Dion: distributed orthonormalized updates*,
   arXiv 2504.05295.
.. [3] K. Ahn, N. Amsel, J. Langford, *Dion2: a simple method to shrink matrix in Muon*,
   arXiv 2512.16928.
.. [4] J. Zhao et al., *GaLore: memory-efficient LLM training by gradient low-rank
   projection*, arXiv 2403.03507.
.. [5] R. Pan, Y. Luo, Y. Liu, Y. You, T. Zhang, *Unbiased gradient low-rank projection*,
   arXiv 2510.17802.
"""

from __future__ import annotations

import math

import numpy as np

from matsign.exact.reference import newton_schulz, svd_polar


def muon_step(M, G, momentum, triples, *, nesterov=True):
    r"""One Muon step [1]_: ``(M_t, update)``.

    :math:`M_t = \mu M_{t-1} + G_t`; the update is Newton–Schulz of the Nesterov input
    :math:`G_t + \mu M_t`, or of :math:`M_t` (heavy ball).
    """
    M = momentum * M + G
    T = G + momentum * M if nesterov else M
    return M, newton_schulz(T, triples)


def dion_step(M, Q, G, momentum):
    r"""One step of Dion's Algorithm 1 [2]_: ``(M_t, Q_t, update)``.

    One power-iteration round from the warm start ``Q_{t−1}`` (n × r), Householder QR for
    the left factor and column normalization for the right one.
    """
    B = M + G  # B_t = M_{t−1} + G_t
    P = np.linalg.qr(B @ Q)[0]  # P_t = Orthogonalize(B_t Q_{t−1})
    R = B.T @ P  # R_t = B_tᵀ P_t, so that B_t ≈ P_t R_tᵀ
    M = B - (1 - momentum) * P @ R.T  # error feedback: M_t = B_t − (1 − μ) P_t R_tᵀ
    Q = R / np.linalg.norm(R, axis=0)  # Q_t = ColumnNormalize(R_t)
    return M, Q, P @ Q.T  # the update P_t Q_tᵀ


def dion2_step(M, G, fraction, momentum, triples=None):
    r"""One Dion2 step [3]_: ``(M, update)``, L1 selection along the shorter side.

    :math:`M \leftarrow M + G`; the ``k = ⌈fraction·size⌉`` rows (or columns, for a tall
    ``M``) of largest L1 norm form ``S``; the update is the sign of ``S`` on those slices
    (exact with ``triples=None``, else Newton–Schulz) and zero elsewhere; only the selected
    slices decay, :math:`M_K \leftarrow \mu M_K`.
    """
    rows = M.shape[0] <= M.shape[1]
    X = (M + G) if rows else (M + G).T  # the slices as rows
    k = math.ceil(fraction * X.shape[0])
    K = np.argsort(-np.abs(X).sum(axis=1))[:k]
    S = X[K]  # taken before the decay
    D = np.zeros_like(X)
    D[K] = svd_polar(S, 0.0) if triples is None else newton_schulz(S, triples)
    X[K] *= momentum  # selective decay
    return (X, D) if rows else (X.T, D.T)


def galore_muon_step(R, P, G, rank, momentum, triples=None, *, refresh):
    r"""One GaLore step with Muon as the inner optimizer [4]_: ``(R, P, update)``.

    With ``refresh`` (every ``K`` steps, the first included), ``P`` becomes the top ``rank``
    singular vectors of ``G`` on its shorter side (left when ``m ≤ n``). The projected
    momentum :math:`R \leftarrow \beta R + P^T G` (or :math:`G P`; ``R = None`` before the
    first step) is kept across refreshes; the update is :math:`P\,\operatorname{orth}(R)`
    (or :math:`\operatorname{orth}(R) P^T`), exact with ``triples=None``.
    """
    left = G.shape[0] <= G.shape[1]
    if refresh:
        U, _, Vt = np.linalg.svd(G, full_matrices=False)
        P = U[:, :rank] if left else Vt[:rank].T
    low = P.T @ G if left else G @ P
    R = low if R is None else momentum * R + low
    O = svd_polar(R, 0.0) if triples is None else newton_schulz(R, triples)
    return R, P, (P @ O if left else O @ P.T)


def gum_step(R, P, G, rank, q, momentum, branch, triples=None, *, refresh):
    r"""One GUM step [5]_ in the period's ``branch`` (drawn by the caller): ``(R, P, update)``.

    With ``refresh`` (a period's first step) ``P`` is GaLore's projector of ``G`` and the
    momentum restarts. Low rank: :math:`R \leftarrow \beta R + P^T G/(1-q)`, update
    :math:`P\,\operatorname{orth}(R)`; full rank: :math:`R \leftarrow \beta R + (G - PP^TG)/q`,
    update :math:`(I - PP^T)\operatorname{orth}(R)` (right-side projectors act on columns).
    """
    left = G.shape[0] <= G.shape[1]
    if refresh:
        U, _, Vt = np.linalg.svd(G, full_matrices=False)
        P = U[:, :rank] if left else Vt[:rank].T

    def down(X):
        return P.T @ X if left else X @ P

    def up(X):
        return P @ X if left else X @ P.T

    estimate = down(G) / (1 - q) if branch == "low_rank" else (G - up(down(G))) / q
    R = estimate if refresh else momentum * R + estimate
    O = svd_polar(R, 0.0) if triples is None else newton_schulz(R, triples)
    return R, P, (up(O) if branch == "low_rank" else O - up(down(O)))


def mucon_step(M, G, momentum, tau):
    r"""One MuCon step (A. Yi, arXiv 2605.26459): ``(M_t, update)``.

    :math:`M_t = \mu M_{t-1} + G_t`; the update is the Nesterov input
    :math:`T = G_t + \mu M_t = U\Sigma V^T` with its singular values clipped,
    :math:`U\min(\Sigma, \tau)V^T`.
    """
    M = momentum * M + G
    U, s, Vt = np.linalg.svd(G + momentum * M, full_matrices=False)
    return M, (U * np.minimum(s, tau)) @ Vt


def normuon_step(M, v, G, momentum, beta2, eps, triples):
    r"""One NorMuon step (Z. Li et al., arXiv 2510.05491): ``(M_t, v_t, update)``.

    :math:`M_t = \mu M_{t-1} + G_t`, :math:`O = \mathrm{NS}(M_t)`, per row
    :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2)\,\mathrm{mean}(O_{i,:}^2)`,
    :math:`\hat O = O / (\sqrt{v_t} + \varepsilon)`, rescaled to :math:`\|O\|_F`.
    """
    M = momentum * M + G
    O = newton_schulz(M, triples)
    v = beta2 * v + (1 - beta2) * np.mean(O**2, axis=1, keepdims=True)
    normalized = O / (np.sqrt(v) + eps)
    return M, v, normalized * np.linalg.norm(O) / np.linalg.norm(normalized)


def mud_step(M, G, momentum, passes, eps):
    r"""One MUD step (B. S. Southworth, S. Thomas, arXiv 2603.17970): ``(M_t, update)``.

    :math:`M_t = \mu M_{t-1} + G_t`, ``Q`` the Nesterov input :math:`G_t + \mu M_t` with the
    shorter side as rows; per pass the rows are normalized (norm plus ``eps`` times the largest),
    :math:`Q \leftarrow \mathrm{tril}(QQ^T)^{-1} Q` by forward substitution, rows normalized.
    """
    M = momentum * M + G
    T = G + momentum * M
    tall = T.shape[0] > T.shape[1]
    Q = T.T if tall else T

    def rows(Q):
        r = np.linalg.norm(Q, axis=1, keepdims=True)
        return Q / (r + eps * r.max())

    for _ in range(passes):
        Q = rows(Q)
        L = np.tril(Q @ Q.T)
        X = np.zeros_like(Q)
        for i in range(Q.shape[0]):  # forward substitution, row by row
            X[i] = (Q[i] - L[i, :i] @ X[:i]) / L[i, i]
        Q = rows(X)
    return M, (Q.T if tall else Q)
