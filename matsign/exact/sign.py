"""The exact matrix sign (polar factor) by SVD or by the eigendecomposition of the Gram matrix."""

from __future__ import annotations

import math

import numpy as np

from matsign._backend import (
    EPS,
    boundary,
    check_choice,
    check_matrix,
    check_rtol,
    default_rtol,
    eps_of,
    linalg_dtype,
)
from matsign.flops import eigh_sign as eigh_sign_flops
from matsign.flops import svd_sign as svd_sign_flops
from matsign.prediction import diagonal_outcome, exact
from matsign.registry import register
from matsign.spectral import binary_normalized

METHODS = ("svd", "eigh")


@boundary
def msign(G, *, rtol=None, method: str = "svd"):
    r"""Matrix sign (orthogonal polar factor) with zero singular values mapped to zero.

    For the thin SVD :math:`G = U \Sigma V^T`,

    .. math:: \operatorname{msign}(G) = U \operatorname{sign}(\Sigma) V^T
              = G (G^T G)^{-1/2} \text{ on the range of } G,

    where singular values :math:`\sigma_i \le \mathrm{rtol}\cdot\sigma_1` count as zero and map
    to zero [1]_.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack of matrices (NumPy, CuPy or PyTorch).
    rtol : float, optional
        Relative threshold; default :func:`matsign._backend.default_rtol`: ``max(m, n)·eps`` of
        the dtype the SVD runs in, at least the epsilon of ``G``'s own dtype.
    method : {"svd", "eigh"}
        ``"svd"``: ``U sign(Σ) Vᵀ`` from the thin SVD (backward stable); ``"eigh"``:
        ``V diag(λ^{-1/2}) Vᵀ G`` from ``G Gᵀ = V diag(λ) Vᵀ``, cheaper, well-conditioned G (Notes).

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``. 16-bit inputs are factorized in float32 and
        rounded back. The zero matrix gives the zero matrix.

    Notes
    -----
    Without the truncation a numerically rank-deficient input would gain arbitrary unit
    singular directions; the default ``rtol`` keeps the storage noise of a 16-bit input from
    counting as rank.

    ``"eigh"`` costs about ``4m²n + 2m³`` flops plus one symmetric eigensolve, but forming the
    Gram matrix squares the condition number: its error grows like ``κ² · eps`` and singular
    values below ``√(max(m, n) · eps) · σ₁`` cannot be resolved, so it counts them as zero
    (effective threshold ``max(rtol, √(max(m, n)·eps))``).

    References
    ----------
    .. [1] N. J. Higham, *Functions of Matrices*, SIAM 2008, ch. 8 (the polar decomposition).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[3.0, 0.0], [4.0, 5.0]])
    >>> X = msign(G)
    >>> np.round(X @ X.T, 12)
    array([[1., 0.],
           [0., 1.]])
    >>> np.round(msign(np.array([[1.0, 1.0], [1.0, 1.0]])), 12)  # rank 1: σ₂ = 0 stays 0
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    xp = check_matrix(G, "G")
    rtol = check_rtol(rtol)
    check_choice(method, METHODS, "method")
    work = xp.astype(G, linalg_dtype(G), copy=False)
    m, n = int(G.shape[-2]), int(G.shape[-1])
    tol = default_rtol(m, n, G.dtype) if rtol is None else rtol
    if method == "svd":
        X = truncated_svd_sign(xp, work, tol)
    else:
        X = _sign_eigh(xp, work, max(tol, math.sqrt(max(m, n) * eps_of(work))))
    return xp.astype(X, G.dtype)


def truncated_svd_sign(xp, G, tol, rank=None):
    """``U_r sign(Σ_r) V_rᵀ`` from the thin SVD of ``G`` (a LAPACK dtype): the top ``rank``
    pairs (all by default), with σ ≤ ``tol``·σ₁ mapped to zero. Shared with the rank-r oracle."""
    # The sign is scale-free: G divided by a power of two near max|G| (no digit changes) keeps
    # σ₁ ≤ √(mn)·max|G| from overflowing, which near max|G| = 1e308 made σ₁ inf and the sign 0.
    G = binary_normalized(xp, G)
    U, S, Vh = xp.linalg.svd(G, full_matrices=False)
    if rank is not None:
        U, S, Vh = U[..., :, :rank], S[..., :rank], Vh[..., :rank, :]
    keep = xp.astype(S > tol * S[..., :1], G.dtype)
    return (U * keep[..., None, :]) @ Vh


def _sign_eigh(xp, G, tol):
    """``(G Gᵀ)^{-1/2} G`` on the wide orientation, eigenvalues ``λ ≤ tol²·λ_max`` dropped."""
    tall = G.shape[-2] > G.shape[-1]
    X = xp.matrix_transpose(G) if tall else G
    # msign(cX) = msign(X): dividing by the largest entry keeps X Xᵀ from under- or overflowing.
    amax = xp.max(xp.abs(X), axis=(-2, -1), keepdims=True)
    X = X / xp.where(amax > 0, amax, xp.ones_like(amax))
    # Every backend's eigh reads the lower triangle only, so the Gram matrix needs no
    # symmetrization pass.
    lam, V = xp.linalg.eigh(X @ xp.matrix_transpose(X))
    keep = lam > (tol * tol) * lam[..., -1:]
    safe = xp.where(keep, lam, xp.ones_like(lam))
    # P = V diag(λ^{-1/2}) Vᵀ = W Wᵀ with W = V diag(λ^{-1/4}): a symmetric product (SYRK).
    W = V * xp.where(keep, safe ** -0.25, xp.zeros_like(lam))[..., None, :]
    Y = (W @ xp.matrix_transpose(W)) @ X
    return xp.matrix_transpose(Y) if tall else Y


def _exact_svd(G, *, rng=None):
    return msign(G, method="svd")


def _exact_eigh(G, *, rng=None):
    return msign(G, method="eigh")


def _predict_exact_svd(spectrum):
    """``msign(G)`` as stored keeps the σ above ``default_rtol(m, n, stored)·σ₁`` (exact: ``X = U_ρ' V_ρ'ᵀ``)."""
    kept = spectrum.kept(spectrum.s, spectrum.m, spectrum.n)
    return exact(*diagonal_outcome(spectrum, kept), note="the working precision's rounding is not modelled")


def _predict_exact_eigh(spectrum):
    """The Gram route keeps the σ above ``max(default_rtol, √(max(m, n)·eps_work))·σ₁`` (:func:`msign` Notes)."""
    s, m, n = spectrum.s, spectrum.m, spectrum.n
    tol = max(default_rtol(m, n, spectrum.stored), math.sqrt(max(m, n) * EPS[spectrum.work]))
    kept = (s > tol * s[0]).astype(np.float64)
    return exact(*diagonal_outcome(spectrum, kept), note="the working precision's rounding is not modelled")


register(
    "exact_svd", _exact_svd,
    description="msign(G) = U Vᵀ from the thin SVD (reference accuracy)", flops=svd_sign_flops,
    label="exact (SVD)", predict=_predict_exact_svd,
)
register(
    "exact_eigh", _exact_eigh,
    description="msign(G) = (GGᵀ)^(-1/2) G from the Gram eigendecomposition (wide orientation)",
    flops=eigh_sign_flops, label="exact (Gram eigh)", predict=_predict_exact_eigh,
)
