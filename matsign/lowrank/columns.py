r"""Range bases from selected columns of the wide orientation of ``G``, declared as the range
``"column"`` of :func:`matsign.lowrank.sketched_msign` and its sweep method.

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

import math

import numpy as np

from matsign._backend.checks import boundary, check_choice, check_matrix, check_rank
from matsign._backend.linalg import column_pivots
from matsign._backend.namespace import namespace
from matsign._backend.precision import eps_of, linalg_dtype
from matsign._backend.random import generator, standard_normal, uniform
from matsign.exact.inner import inner_band
from matsign.flops import gemm, pivoted_qr, qr, svd
from matsign.prediction import bounded, limited_step_bounds
from matsign.lowrank.ranges import subspace_iteration
from matsign.lowrank.sign import BasisCost, one_of, register_range
from matsign.spectral import binary_normalized

__all__ = ["STRATEGIES", "STRATEGY_LABELS", "column_range", "select_columns"]

#: The selection strategies of :func:`select_columns`, with their plot labels.
STRATEGY_LABELS = {
    "uniform": "uniform columns (Low-rank Muon)",
    "norm": "norm² sampling",
    "l1_topk": "L1 top-k (Dion2 score)",
    "leverage": "leverage scores",
    "pivoted_qr": "pivoted QR",
}

STRATEGIES = tuple(STRATEGY_LABELS)

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
      ``randperm(N)[:k]``);
    - ``"norm"``: length-squared sampling without replacement, each draw with probability
      :math:`\|x_j\|^2 / \sum_{i \text{ left}} \|x_i\|^2` among the columns not yet drawn;
    - ``"l1_topk"``: the ``k`` largest :math:`\|x_j\|_1` (Dion2's score), ties to the lower index;
    - ``"leverage"``: the same successive sampling with weights the rank-k leverage scores
      :math:`\ell_j = \|V_k^T e_j\|^2` (:math:`V_k` the top-k right singular vectors of ``X``),
      estimated from a sketch;
    - ``"pivoted_qr"``: the first ``k`` pivots of QR with column pivoting (Businger–Golub) of
      the sketch ``ΩX`` (``(k + 10) × N``, ``Ω`` Gaussian), or of ``X`` when ``k + 10 ≥ s``.

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

    Notes
    -----
    Sampling without replacement uses exponential keys :math:`E_j / w_j` (Efraimidis–Spirakis):
    the ``k`` smallest have exactly the law of successive draws ∝ ``w``, all on device; columns
    of zero weight come after every column of positive weight. The leverage sketch is
    ``Z = orth((XᵀX)^q XᵀΩ)`` with ``min(k + 10, s)`` columns and ``q = 1``, then
    :math:`V_k \approx Z W_k` from the SVD of ``XZ``; directions of numerically zero singular
    values get no leverage. The pivoting of "pivoted_qr" runs **on the host**
    (``scipy.linalg.qr(pivoting=True)``): the sketch, not ``G``, is copied. Scores are formed
    on ``X / max|X|``, so they do not depend on the scale of ``G``.

    References
    ----------
    .. [1] P. Drineas, R. Kannan, M. W. Mahoney, *Fast Monte Carlo algorithms for matrices II*,
       SIAM J. Comput. 36 (2006) (length-squared sampling).
    .. [2] P. Drineas, M. W. Mahoney, S. Muthukrishnan, *Relative-error CUR matrix
       decompositions*, arXiv 0708.3696 (leverage scores).
    .. [3] P. S. Efraimidis, P. G. Spirakis, *Weighted random sampling with a reservoir*,
       Inf. Process. Lett. 97 (2006).
    .. [4] J. A. Duersch, M. Gu, *Randomized QR with column pivoting*, arXiv 1509.06820.
    .. [5] K. Ahn et al., *Dion2*, arXiv 2512.16928 (L1 selection).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[1.0, -5.0, 0.0, 2.0], [1.0, 0.0, 3.0, 0.0]])
    >>> select_columns(G, 2, strategy="l1_topk")
    array([1, 2])
    >>> select_columns(G.T, 2, strategy="l1_topk")  # tall: rows of G.T
    array([1, 2])
    """
    xp = check_matrix(G, "G", batched=False)
    k = check_rank(rank, G.shape)
    check_choice(strategy, STRATEGIES, "strategy")
    X = wide_orientation(G)
    g = generator(rng, X)
    if strategy == "uniform":
        # The official code's randperm(N)[:k]: the k smallest of N uniform keys.
        return xp.argsort(uniform(g, (int(X.shape[1]),), like=X))[:k]
    # Every score is scale-free: forming it on X / max|X| keeps squares, sums and the powers of
    # the leverage sketch from overflowing or underflowing at extreme scales of G.
    peak = xp.max(xp.abs(X))
    X = X / xp.where(peak > 0, peak, xp.ones_like(peak))
    if strategy == "norm":
        return successive_sample(xp.sum(X * X, axis=0), k, g)  # [1]
    if strategy == "l1_topk":
        return xp.argsort(xp.sum(xp.abs(X), axis=0), descending=True, stable=True)[:k]  # [5]
    if strategy == "leverage":
        return successive_sample(leverage_scores(X, k, g), k, g)  # [2]
    # Randomized QRCP [4]: pivot a (k + 10) × N sketch, or X itself when that is no smaller.
    width = k + SKETCH_OVERSAMPLE
    S = X if width >= int(X.shape[0]) else standard_normal(g, (width, int(X.shape[0])), like=X) @ X
    return column_pivots(S, k)


@boundary
def column_range(G, rank, *, strategy="uniform", rng=None):
    r"""Orthonormal basis ``Q`` of ``rank`` selected columns ``X[:, J]`` of the wide orientation of ``G``.

    ``J = select_columns(G, rank, strategy=strategy, rng=rng)`` and ``X = G`` for ``m ≤ n``,
    ``Gᵀ`` for ``m > n``; from the thin SVD :math:`X_{:,J} = U \Sigma W^T` (``s × k``,
    ``s = min(m, n)``),

    .. math:: Q = U \operatorname{diag}\big(\mathbb 1[\sigma_j > \max(s, k)\,\varepsilon\,\sigma_1]\big).

    Parameters
    ----------
    G, rank, strategy, rng
        See :func:`select_columns` (which also says what runs on the host).

    Returns
    -------
    array, shape (min(m, n), rank)
        Orthonormal columns, then zero columns if the selected columns are numerically
        dependent; same library, device and dtype as ``G`` (16-bit inputs factorized in float32).

    Notes
    -----
    ``Q`` spans ``rank`` columns of ``G`` (part of its column space) when ``m ≤ n`` and ``rank``
    rows of ``G`` (part of its row space) when ``m > n``; ``lowrank_msign(G, Q)`` then projects
    on the left or on the right respectively (see :mod:`matsign.lowrank.columns`). Selected
    columns can be dependent (duplicated or zero columns, e.g. of unused inputs); an orthonormal
    completion there (as Householder QR returns) would add directions of ``G`` that no selected
    column has, whereas zero columns keep ``lowrank_msign(G, Q) = msign(QQᵀX)``.

    References
    ----------
    .. [1] C. He, Z. Deng, Z. Lu, *Low-rank orthogonalization for large-scale matrix
       optimization*, arXiv 2509.11983 (official code: dengzhanwang/Low-rank-Muon).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[1.0, -5.0, 0.0, 2.0], [1.0, 0.0, 3.0, 0.0]])
    >>> np.abs(column_range(G, 1, strategy="l1_topk"))
    array([[1.],
           [0.]])
    """
    xp = check_matrix(G, "G", batched=False)
    rank = check_rank(rank, G.shape)
    check_choice(strategy, STRATEGIES, "strategy")
    J = select_columns(G, rank, strategy=strategy, rng=rng)
    Y = xp.take(wide_orientation(G), J, axis=1)
    # The basis is scale-free: a power of two near max|Y| keeps the SVD's σ₁ from overflowing
    # (near float32's largest value it did, and the basis came out zero).
    Y = binary_normalized(xp, Y)
    U, sigma, _ = xp.linalg.svd(Y, full_matrices=False)
    # Directions beyond the numerical rank of the selected columns become zero columns.
    tol = max(int(Y.shape[0]), int(Y.shape[1])) * eps_of(Y) * sigma[0]
    Q = U * xp.astype(sigma > tol, U.dtype)
    return xp.astype(Q, G.dtype, copy=False)


def wide_orientation(G):
    """``G`` (``m ≤ n``) or ``Gᵀ`` (``m > n``) in its LAPACK dtype: the ``s × N`` matrix ``X``."""
    xp = namespace(G)
    X = xp.astype(G, linalg_dtype(G), copy=False)
    return xp.matrix_transpose(X) if X.shape[0] > X.shape[1] else X


def successive_sample(w, k, g):
    """``k`` indices drawn without replacement, each draw ∝ ``w`` among those left.

    The ``k`` smallest keys ``E_j / w_j`` with ``E_j ~ Exp(1)`` have exactly that law
    (Efraimidis–Spirakis); zero weights get key +inf.
    """
    xp = namespace(w)
    u = uniform(g, (int(w.shape[0]),), like=w)
    e = -xp.log1p(-u)  # u ∈ [0, 1), so 1 − u ∈ (0, 1] and e is finite
    positive = w > 0
    keys = xp.where(positive, e / xp.where(positive, w, 1.0), xp.inf)
    return xp.argsort(keys, stable=True)[:k]


def leverage_scores(X, k, g):
    """Rank-k column leverage scores of ``X`` (``s × N``), from a sketch of its row space."""
    xp = namespace(X)
    s = int(X.shape[0])
    width = min(k + SKETCH_OVERSAMPLE, s)
    Omega = standard_normal(g, (s, width), like=X)
    Z = subspace_iteration(xp.matrix_transpose(X), Omega, LEVERAGE_POWER_ITERS, "qr")
    _, S, Wt = xp.linalg.svd(X @ Z, full_matrices=False)
    # Directions with (numerically) zero singular values are arbitrary: they get no leverage,
    # so for rank(X) < k the scores are those of the rank-rank(X) approximation.
    keep = xp.astype(S[:k] > max(X.shape) * eps_of(X) * S[0], X.dtype)
    V = (Z @ xp.matrix_transpose(Wt[:k, :])) * keep[None, :]
    return xp.sum(V * V, axis=1)


def column_range_flops(m, n, *, rank, strategy):
    """Flops of :func:`column_range`: the scores or sketch of ``strategy``, then a basis of the
    ``s × rank`` selected columns (counted as a QR); the basis has ``s = min(m, n)`` rows."""
    s, N = min(m, n), max(m, n)
    if strategy in ("norm", "l1_topk"):
        select = 2 * s * N
    elif strategy == "leverage":
        w = min(rank + SKETCH_OVERSAMPLE, s)
        q = LEVERAGE_POWER_ITERS
        sketch = (1 + 2 * q) * gemm(N, s, w) + q * (qr(N, w) + qr(s, w)) + qr(N, w)
        select = sketch + gemm(s, N, w) + svd(s, w) + gemm(N, w, rank) + 2 * N * rank
    elif strategy == "pivoted_qr":
        w = rank + SKETCH_OVERSAMPLE
        select = pivoted_qr(s, N) if w >= s else gemm(w, s, N) + pivoted_qr(w, N)
    else:
        select = 0
    return BasisCost(select + qr(s, rank), s, rank)


def column_label(params) -> str:
    """The plot label of a strategy (:data:`STRATEGY_LABELS`)."""
    strategy = params.get("strategy")
    return STRATEGY_LABELS.get(strategy, f"columns: {strategy}")


def _predict_column(spectrum, *, rank, strategy, inner, steps):
    r"""Certified σ-only bounds for the method ``"column"``: which columns are picked, and what
    they span, depends on the singular vectors.

    ``X = Q·sign(QᵀG)`` has rank ≤ ``rank`` and :math:`\langle G, X\rangle = \sum_j f_j
    \sigma_j(Q^TG) \ge 0` when the inner map ``f ≥ 0`` (:func:`matsign.prediction.limited_step_bounds`).
    With the exact inner sign and ``"l1_topk"``, the selected columns :math:`G_S` lie in
    ``range(Q)``, so :math:`\|Q^TG\|_* \ge \|Q^TG\|_F \ge \|G_S\|_F \ge \sqrt r\,\|G\|_F/(N\sqrt s)`
    (wide orientation ``s × N``; the top-r L1 norms hold at least ``r/N`` of
    :math:`\sum|G_{ij}| \ge \|G\|_F`).

    The statistic that would determine it: :math:`\|Q^TG\|_*` (an ``r × N`` SVD after the
    selection, most of the method's cost); the selected columns' norms give the certified
    lower bound :math:`\|G_S\|_F/\|G\|_*` on the alignment.
    """
    s, (m, n) = spectrum.s, (spectrum.m, spectrum.n)
    rank = check_rank(rank, (m, n))
    band = inner_band(inner, steps)
    exact_inner = inner == "exact"
    total = float(s.sum())
    low = 0.0 if band[0] >= 0 else None
    if exact_inner and strategy == "l1_topk" and total > 0:
        low = math.sqrt(rank) * float(np.linalg.norm(s)) / (max(m, n) * math.sqrt(min(m, n)) * total)
    alignment, error = limited_step_bounds(spectrum, rank, band, alignment_low=low, sign_like=exact_inner)
    return bounded(alignment, error, note="the singular vectors decide what the columns span: the nuclear "
                   "norm of QᵀG (or, for a lower bound, the selected columns' Frobenius norm) would determine it")


register_range(
    "column", column_range,
    options={"strategy": one_of(STRATEGIES)},
    flops=column_range_flops,
    description="low-rank sign on the span of selected columns of the wide orientation of G",
    label=column_label,
    predict=_predict_column,
)
