r"""Range bases from selected columns of the wide orientation of ``G``.

**What "columns" means.** Like the official Low-rank-Muon code, selection works on the wide
orientation ``X`` (``s × N``, ``s = min(m, n) ≤ N``): ``X = G`` when ``m ≤ n``, ``X = Gᵀ`` when
``m > n``. Its ``N`` columns are the candidates and the basis lives on the short side:

- ``m ≤ n``: columns of ``G``; ``Q`` (``m × k``) spans part of the column space of ``G``, and
  the low-rank sign projects on the left, ``Q·msign(QᵀG) = msign(QQᵀG)``;
- ``m > n``: rows of ``G``; ``Q`` (``n × k``) spans part of the row space of ``G`` (the column
  space of ``Gᵀ``), and the low-rank sign projects on the right, ``msign(GQ)·Qᵀ = msign(GQQᵀ)``.

:func:`matsign.lowrank.lowrank_msign` tells the two apart by the number of rows of ``Q``.
"""

from __future__ import annotations

from matsign._backend.checks import boundary
from matsign._backend.checks import check_matrix, check_rank
from matsign._backend.linalg import column_pivots
from matsign._backend.precision import eps_of, linalg_dtype
from matsign._backend.random import generator, standard_normal, uniform
from matsign.lowrank.ranges import sketch_basis

STRATEGIES = ("uniform", "norm", "l1_topk", "leverage", "pivoted_qr")

#: Oversampling of the sketches behind "leverage" and "pivoted_qr" (HMT's usual 10).
SKETCH_OVERSAMPLE = 10

#: Power iterations of the "leverage" sketch: one sharpens the top-k subspace whose leverage
#: scores are wanted at the cost of two more products with ``G``.
LEVERAGE_POWER_ITERS = 1


@boundary
def select_columns(G, rank, *, strategy="uniform", rng=None):
    r"""Indices of ``rank`` distinct columns of the wide orientation ``X`` of ``G``.

    Column indices of ``G`` when ``m ≤ n``, row indices when ``m > n`` (see the module
    docstring). With ``x_j`` the ``j``-th column of ``X`` (``s × N``) and ``k = rank``:

    - ``"uniform"``: uniformly without replacement (the official Low-rank-Muon code's
      ``randperm(N)[:k]``), via the ``k`` smallest of ``N`` uniform keys;
    - ``"norm"``: length-squared sampling without replacement — successive draws, each with
      probability :math:`\|x_j\|^2 / \sum_{i \text{ left}} \|x_i\|^2` among the columns not yet
      drawn, via exponential keys :math:`E_j / \|x_j\|^2` (Efraimidis–Spirakis), all on device;
    - ``"l1_topk"``: the ``k`` largest :math:`\|x_j\|_1` (Dion2's score), deterministic, ties
      to the lower index;
    - ``"leverage"``: the same successive sampling with weights the rank-k leverage scores
      :math:`\ell_j = \|V_k^T e_j\|^2` (:math:`V_k` the top-k right singular vectors of ``X``,
      those of numerically zero singular values left out),
      estimated from a sketch: ``Z = orth((XᵀX)^q XᵀΩ)`` with ``k + 10`` columns (capped at
      ``s``) and ``q = 1``, then :math:`V_k \approx Z W_k` from the SVD of ``XZ`` (``s × (k+10)``);
    - ``"pivoted_qr"``: the first ``k`` pivots of QR with column pivoting (Businger–Golub) of
      the sketch ``ΩX`` (``(k + 10) × N``, ``Ω`` Gaussian) — randomized QRCP. The pivoting runs
      **on the host** (``scipy.linalg.qr(pivoting=True)``): the sketch, not ``G``, is copied.
      When ``k + 10 ≥ s`` the sketch would be no smaller than ``X``, so ``X`` itself is pivoted
      and the selection is deterministic.

    Columns with zero weight are drawn by "norm" and "leverage" only after every column of
    positive weight. Scores are formed on ``X / max|X|``, so they do not depend on the scale of
    ``G`` (no overflow or underflow of squares at extreme magnitudes).

    Parameters
    ----------
    G : array, shape (m, n)
        Real floating matrix (NumPy, CuPy or PyTorch).
    rank : int
        Number of columns ``k``, ``1 ≤ k ≤ min(m, n)``.
    strategy : {"uniform", "norm", "l1_topk", "leverage", "pivoted_qr"}
    rng : None, int or generator
        Randomness (unused by "l1_topk"); the same seed gives the same indices on one backend.

    Returns
    -------
    array of int64, shape (rank,)
        On ``G``'s library and device.

    References
    ----------
    P. Drineas, R. Kannan, M. W. Mahoney, *Fast Monte Carlo algorithms for matrices II*, SIAM J.
    Comput. 36 (2006) (length-squared sampling); P. Drineas, M. W. Mahoney, S. Muthukrishnan,
    *Relative-error CUR matrix decompositions*, arXiv 0708.3696 (leverage scores);
    P. S. Efraimidis, P. G. Spirakis, *Weighted random sampling with a reservoir*, Inf. Process.
    Lett. 97 (2006); J. A. Duersch, M. Gu, *Randomized QR with column pivoting*, arXiv
    1509.06820; K. Ahn et al., *Dion2*, arXiv 2512.16928 (L1 selection).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[1.0, -5.0, 0.0, 2.0], [1.0, 0.0, 3.0, 0.0]])
    >>> select_columns(G, 2, strategy="l1_topk")
    array([1, 2])
    >>> select_columns(G.T, 2, strategy="l1_topk")  # tall: rows of G.T
    array([1, 2])
    """
    xp, X, rank = _wide_input(G, rank, strategy)
    return _select(xp, X, rank, strategy, generator(rng, X))


@boundary
def column_range(G, rank, *, strategy="uniform", rng=None):
    r"""Orthonormal basis of ``rank`` selected columns of the wide orientation of ``G``.

    ``Q`` spans the selected columns ``X[:, J]``, with ``J = select_columns(G, rank,
    strategy=...)`` and ``X`` the wide orientation (``X = G`` for ``m ≤ n``, ``Gᵀ`` for ``m > n``). So ``Q`` spans
    ``rank`` columns of ``G`` (a subspace of its column space) when ``m ≤ n``, and ``rank`` rows
    of ``G`` (a subspace of its row space) when ``m > n``; ``lowrank_msign(G, Q)`` then projects
    on the left or on the right respectively (see :mod:`matsign.lowrank.columns`).

    From the thin SVD :math:`X_{:,J} = U \Sigma W^T` (``s × k``, ``s = min(m, n)``),

    .. math:: Q = U \operatorname{diag}\big(\mathbb 1[\sigma_j > \max(s, k)\,\varepsilon\,\sigma_1]\big),

    an orthonormal basis of the span of the selected columns followed by zero columns for the
    directions beyond their numerical rank. Selected columns can be dependent (duplicated or
    zero columns, e.g. of unused inputs); an orthonormal completion there (as Householder QR
    returns) would add directions of ``G`` that no selected column has, whereas zero columns
    keep ``lowrank_msign(G, Q) = msign(QQᵀX)``, the sign of ``X`` projected onto the selected
    columns.

    Parameters
    ----------
    G : array, shape (m, n)
    rank : int
        ``1 ≤ rank ≤ min(m, n)``.
    strategy : {"uniform", "norm", "l1_topk", "leverage", "pivoted_qr"}
        See :func:`select_columns` (which also says what runs on the host).
    rng : None, int or generator

    Returns
    -------
    array, shape (min(m, n), rank)
        Orthonormal columns, then zero columns if the selected columns are numerically
        dependent; same library, device and dtype as ``G`` (16-bit inputs are factorized in
        float32).

    References
    ----------
    C. He, Z. Deng, Z. Lu, *Low-rank orthogonalization for large-scale matrix optimization*,
    arXiv 2509.11983 (official code: dengzhanwang/Low-rank-Muon); see :func:`select_columns`.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[1.0, -5.0, 0.0, 2.0], [1.0, 0.0, 3.0, 0.0]])
    >>> np.abs(column_range(G, 1, strategy="l1_topk"))
    array([[1.],
           [0.]])
    """
    xp, X, rank = _wide_input(G, rank, strategy)
    J = _select(xp, X, rank, strategy, generator(rng, X))
    Y = xp.take(X, J, axis=1)
    U, sigma, _ = xp.linalg.svd(Y, full_matrices=False)
    tol = max(int(Y.shape[0]), int(Y.shape[1])) * eps_of(Y) * sigma[0]
    Q = U * xp.astype(sigma > tol, U.dtype)
    return xp.astype(Q, G.dtype, copy=False)


def _wide_input(G, rank, strategy):
    xp = check_matrix(G, "G", batched=False)
    rank = check_rank(rank, G.shape)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    X = xp.astype(G, linalg_dtype(G), copy=False)
    if X.shape[0] > X.shape[1]:
        X = xp.matrix_transpose(X)
    return xp, X, rank


def _select(xp, X, k, strategy, g):
    N = int(X.shape[1])
    if strategy == "uniform":
        return xp.argsort(uniform(g, (N,), like=X))[:k]
    # Every score is scale-free: forming it on X / max|X| keeps squares, sums and the powers of
    # the leverage sketch from overflowing or underflowing at extreme scales of G.
    peak = xp.max(xp.abs(X))
    X = X / xp.where(peak > 0, peak, xp.ones_like(peak))
    if strategy == "norm":
        return _successive_sample(xp, xp.sum(X * X, axis=0), k, g)
    if strategy == "l1_topk":
        return xp.argsort(xp.sum(xp.abs(X), axis=0), descending=True, stable=True)[:k]
    if strategy == "leverage":
        return _successive_sample(xp, _leverage_scores(xp, X, k, g), k, g)
    return _pivoted_qr(xp, X, k, g)


def _successive_sample(xp, w, k, g):
    """``k`` indices drawn without replacement, each draw ∝ ``w`` among those left.

    The ``k`` smallest keys ``E_j / w_j`` with ``E_j ~ Exp(1)`` have exactly that law
    (Efraimidis–Spirakis); zero weights get key +inf.
    """
    u = uniform(g, (int(w.shape[0]),), like=w)
    e = -xp.log1p(-u)  # u ∈ [0, 1), so 1 − u ∈ (0, 1] and e is finite
    positive = w > 0
    keys = xp.where(positive, e / xp.where(positive, w, 1.0), xp.inf)
    return xp.argsort(keys, stable=True)[:k]


def _leverage_scores(xp, X, k, g):
    """Rank-k column leverage scores of ``X`` (s × N), estimated from a sketch (see docstring)."""
    s = int(X.shape[0])
    width = min(k + SKETCH_OVERSAMPLE, s)
    Z = sketch_basis(xp.matrix_transpose(X), width, LEVERAGE_POWER_ITERS, "qr", g)
    _, S, Wt = xp.linalg.svd(X @ Z, full_matrices=False)
    # Directions with (numerically) zero singular values are arbitrary: they get no leverage,
    # so for rank(X) < k the scores are those of the rank-rank(X) approximation.
    keep = xp.astype(S[:k] > max(X.shape) * eps_of(X) * S[0], X.dtype)
    V = (Z @ xp.matrix_transpose(Wt[:k, :])) * keep[None, :]
    return xp.sum(V * V, axis=1)


def _pivoted_qr(xp, X, k, g):
    s = int(X.shape[0])
    width = k + SKETCH_OVERSAMPLE
    S = X if width >= s else standard_normal(g, (width, s), like=X) @ X
    return column_pivots(S, k)
