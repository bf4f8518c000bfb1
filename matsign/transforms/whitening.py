r"""MUD's triangular whitening: a unit lower-triangular solve with the Gram matrix in place of
the polar factor.

Each pass normalizes the rows of ``Q`` (the shorter side), forms ``T = tril(QQᵀ)`` and replaces
``Q`` by ``T⁻¹Q`` (one forward Gauss–Seidel sweep on ``QQᵀ X = Q``), then normalizes the rows
again. Row-orthonormal matrices are its fixed points; it reaches one only in the limit, and
not ``msign(G)`` in general: it orthogonalizes the rows in order, as Gram–Schmidt does.
"""

from __future__ import annotations

from matsign._backend import (
    as_linalg_dtype,
    boundary,
    check_matrix,
    check_positive_int,
    check_real,
    device,
)
from matsign._backend.linalg import solve_upper_right
from matsign.flops import gemm
from matsign.prediction import no_prediction
from matsign.registry import register
from matsign.spectral import binary_normalized

__all__ = ["check_mud_params", "mud_flops", "mud_whiten"]


@boundary
def mud_whiten(G, *, passes: int = 1, eps: float = 1e-8):
    r"""MUD's triangular whitening of ``G`` [1]_, an approximation of ``msign(G)``.

    On the wide orientation (rows the shorter side), from ``Q = G``, each pass computes

    .. math:: Q \leftarrow D^{-1} Q, \quad T = \operatorname{tril}(Q Q^T), \quad
              Q \leftarrow T^{-1} Q, \quad Q \leftarrow D'^{-1} Q,

    with ``D = diag(‖Q_i‖ + ε)`` the row norms of the ``Q`` it scales.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack.
    passes : int, default 1
        Passes ``p`` (the paper uses one).
    eps : float, default 1e-8
        The ``ε ≥ 0`` added to the row norms, relative to the largest of them (so the result
        does not depend on ``G``'s scale).

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G`` (16-bit inputs are whitened in float32); rows
        of unit norm up to ``ε`` (zero rows stay zero).

    Notes
    -----
    ``T`` has the squared row norms of the normalized ``Q`` on its diagonal, about 1, so it
    is never singular for nonzero rows; a zero row gets a 1 there and stays zero. The result
    depends on the order of the rows (row ``i`` is decorrelated from rows ``j < i`` only), so
    no function of σ alone predicts it. Cost (:func:`mud_flops`): per pass the Gram matrix
    ``2m²n`` and the triangular solve ``m²n`` (``m ≤ n``).

    In the paper the row norms are those of the momentum as stored (``out × in``); here the
    shorter side is used, as Muon's Newton–Schulz does, so a tall matrix is whitened by
    columns.

    References
    ----------
    .. [1] B. S. Southworth, S. Thomas, *Beyond Muon: MUD (MomentUm Decorrelation) for faster
       transformer training*, arXiv:2603.17970.

    Examples
    --------
    >>> import numpy as np
    >>> X = mud_whiten(np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0]]), eps=0.0)
    >>> np.round(X @ X.T, 12)  # the second row loses its component along the first
    array([[1., 0.],
           [0., 1.]])
    """
    xp = check_matrix(G, "G")
    passes, eps = check_mud_params(passes=passes, eps=eps)
    tall = G.shape[-2] > G.shape[-1]
    Q = as_linalg_dtype(xp.matrix_transpose(G) if tall else G)
    # The result does not depend on G's scale; dividing by a power of two near its largest entry
    # changes no digit and keeps the row norms finite and nonzero from 1e-308 to 1e308.
    Q = binary_normalized(xp, Q)
    k = int(Q.shape[-2])
    index = xp.arange(k, device=device(Q))
    lower = index[:, None] >= index[None, :]
    identity = xp.eye(k, dtype=Q.dtype, device=device(Q))
    for _ in range(passes):
        Q = _normalize_rows(xp, Q, eps)
        gram = Q @ xp.matrix_transpose(Q)
        empty = xp.astype(xp.sum(Q * Q, axis=-1) == 0, Q.dtype)
        T = xp.where(lower, gram, 0.0) + identity * empty[..., None, :]
        Q = _normalize_rows(xp, xp.matrix_transpose(solve_upper_right(xp.matrix_transpose(Q),
                                                                      xp.matrix_transpose(T))), eps)
    return xp.astype(xp.matrix_transpose(Q) if tall else Q, G.dtype)


def _normalize_rows(xp, Q, eps):
    """``Q`` with each row divided by its norm plus ``eps`` times the largest row norm."""
    norms = xp.linalg.vector_norm(Q, axis=-1, keepdims=True)
    floor = eps * xp.max(norms, axis=-2, keepdims=True)
    return Q / xp.where(norms > 0, norms + floor, 1.0)


def check_mud_params(*, passes, eps) -> tuple[int, float]:
    """Check the parameters of :func:`mud_whiten` that need no matrix; return them."""
    return check_positive_int(passes, "passes"), check_real(eps, "eps", low=0)


def mud_flops(m: int, n: int, passes: int = 1) -> float:
    """Flops of :func:`mud_whiten`: per pass the Gram matrix ``2s²N`` and the triangular solve
    ``s²N`` (``s = min(m, n)``, ``N = max(m, n)``)."""
    s, N = min(m, n), max(m, n)
    return float(passes * (gemm(s, N, s) + s * s * N))


def _method(G, *, rng=None, passes=1, eps=1e-8):
    return mud_whiten(G, passes=passes, eps=eps)


def _method_flops(m, n, *, passes, eps):
    return mud_flops(m, n, passes)


def _method_check(*, passes, eps):
    check_mud_params(passes=passes, eps=eps)


def _method_predict(spectrum, *, passes, eps):
    return no_prediction("MUD whitens the rows in order (Gram–Schmidt-like): the result depends on "
                         "the singular vectors and the row order, not on σ alone")


register(
    "mud", _method,
    description="MUD's triangular whitening: rows normalized, T = tril(QQᵀ), Q ← T⁻¹Q, per pass",
    flops=_method_flops, check=_method_check,
    label=lambda params: f"MUD ×{params.get('passes', 1)}",
    predict=_method_predict,
)
