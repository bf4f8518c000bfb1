r"""The randomized range finder with power iterations (Halko, Martinsson, Tropp 2011, Alg. 4.4)."""

from __future__ import annotations

from matsign._backend.checks import boundary
from matsign._backend.checks import all_finite, check_matrix, check_nonnegative_int, check_rank
from matsign._backend.namespace import namespace
from matsign._backend.precision import linalg_dtype
from matsign._backend.random import generator, standard_normal
from matsign.lowrank.orth import orthonormal_basis

#: Orthonormalization between the products of the power iteration.
NORMALIZERS = ("qr", "cholesky_qr", "none")


@boundary
def gaussian_range(G, rank, *, oversample=0, power_iters=0, normalizer="qr", rng=None):
    r"""Orthonormal basis of the range of a Gaussian sketch of ``G``, with power iterations.

    With :math:`\Omega` an ``n × ℓ`` standard Gaussian matrix, ``ℓ = rank + oversample`` and
    ``q = power_iters``, returns ``Q`` (``m × ℓ``, orthonormal columns) with

    .. math:: \operatorname{range}(Q) = \operatorname{range}\big((G G^T)^q\, G\, \Omega\big),

    computed as HMT Algorithm 4.4: ``Y = GΩ``, then ``q`` times ``Y ← G·orth(Gᵀ·orth(Y))``, and
    ``Q = orth(Y)``. The power iteration replaces the singular values :math:`\sigma_j` by
    :math:`\sigma_j^{2q+1}`, which sharpens the decay the sketch sees (see
    :func:`matsign.bounds.hmt_spectral_bound`).

    **Stacks.** For ``G`` of shape ``(..., m, n)`` every member gets its own, independent test
    matrix: ``Ω`` is one standard Gaussian draw of shape ``(..., n, ℓ)`` from ``rng`` and member
    ``G[idx]`` is sketched with ``Ω[idx]``; all products and factorizations are batched. NumPy
    generators fill an array in C order from one stream, so on NumPy the ``i``-th member in C
    order gets the basis (to roundoff) that 2-D calls on the members in turn, sharing one
    ``numpy.random.Generator``, return for it. PyTorch and CuPy fill arrays in blocks, so there
    only the slice correspondence ``G[idx] ↔ Ω[idx]`` holds. With
    ``normalizer="cholesky_qr"`` a breakdown in any member sends the whole stack to
    Householder QR for that pass (see :func:`matsign.lowrank.orthonormalize`): the same range,
    possibly a different basis of it from the one a 2-D call returns.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack of matrices (NumPy, CuPy or PyTorch); any orientation (the
        basis is always of the column space, ``m`` rows). It never leaves its device.
    rank : int
        Target rank ``k``, ``1 ≤ k ≤ min(m, n)``.
    oversample : int, default 0
        Extra sketch columns ``p ≥ 0``. ``ℓ = k + p`` must not exceed ``min(m, n)`` — a larger
        sketch has no more than ``min(m, n)`` independent directions, so it is an error rather
        than silently clipped. HMT's expectation bounds need ``p ≥ 2``.
    power_iters : int, default 0
        Number ``q ≥ 0`` of power iterations (each costs two more products with ``G``).
    normalizer : {"qr", "cholesky_qr", "none"}
        Orthonormalization between products: Householder QR; Cholesky-QR2, falling back to
        Householder QR when a Gram matrix is not numerically positive definite (see
        :func:`matsign.lowrank.orthonormalize`); or ``"none"``, which orthonormalizes only the
        final block (by Householder QR). Without it the columns of ``(GGᵀ)^q GΩ`` collapse
        onto the top singular direction: directions with :math:`\sigma_j/\sigma_1` below about
        :math:`u^{1/(2q+1)}` (``u`` the unit roundoff) are lost — it is there to study that
        effect. ``G`` is divided by its largest entry first (the range is scale-free), so neither
        a large nor a small scale of ``G`` overflows or underflows; only
        :math:`(\sigma_1/\max|G|)^{2q+1} \le (mn)^{q+1/2}` grows, and a ``ValueError`` says so
        if it overflows.
    rng : None, int or generator
        Randomness for ``Ω`` (see :mod:`matsign._backend.random`); the same seed gives the same
        basis on the same backend.

    Returns
    -------
    array, shape (..., m, ℓ)
        Same library, device and dtype as ``G``; 16-bit inputs are computed in float32 (QR has
        no 16-bit kernels) and rounded back.

    Raises
    ------
    ValueError
        For ``rank`` outside ``[1, min(m, n)]``, negative ``oversample`` or ``power_iters``,
        ``rank + oversample > min(m, n)``, an unknown ``normalizer``, or, with
        ``normalizer="none"``, powers of ``G`` that overflow.

    References
    ----------
    N. Halko, P.-G. Martinsson, J. A. Tropp, *Finding structure with randomness: probabilistic
    algorithms for constructing approximate matrix decompositions*, SIAM Review 53 (2011)
    217–288, arXiv 0909.4061 — Alg. 4.3 (power scheme), Alg. 4.4 (randomized subspace iteration).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.outer([1.0, 2.0, 2.0], [1.0, 0.0, 1.0, 0.0])  # rank 1
    >>> Q = gaussian_range(G, 1, rng=0)
    >>> Q.shape, round(float(abs(Q[0, 0])), 6)
    ((3, 1), 0.333333)
    >>> bool(np.allclose(Q @ (Q.T @ G), G))
    True
    >>> gaussian_range(np.stack([G, G[::-1]]), 1, rng=0).shape  # a stack: one Ω per member
    (2, 3, 1)
    """
    xp = check_matrix(G, "G")
    rank = check_rank(rank, G.shape)
    oversample = check_nonnegative_int(oversample, "oversample")
    power_iters = check_nonnegative_int(power_iters, "power_iters")
    if normalizer not in NORMALIZERS:
        raise ValueError(f"normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
    width = rank + oversample
    limit = min(int(G.shape[-2]), int(G.shape[-1]))
    if width > limit:
        raise ValueError(
            f"rank + oversample = {rank} + {oversample} = {width} exceeds min(m, n) = {limit} "
            f"for G of shape {tuple(G.shape)}; lower oversample"
        )
    A = xp.astype(G, linalg_dtype(G), copy=False)
    Q = sketch_basis(A, width, power_iters, normalizer, generator(rng, A))
    return xp.astype(Q, G.dtype, copy=False)


def sketch_basis(A, width, power_iters, normalizer, g):
    """The work of :func:`gaussian_range` on validated input: ``A`` (``(..., m, n)``) in a LAPACK
    dtype, ``g`` a library generator; draws ``Ω`` of shape ``(..., n, width)``. Also used by the
    leverage-score sketch of :mod:`matsign.lowrank.columns`."""
    shape = (*A.shape[:-2], int(A.shape[-1]), width)
    return subspace_iteration(A, standard_normal(g, shape, like=A), power_iters, normalizer)


def subspace_iteration(A, Omega, power_iters, normalizer):
    """HMT Alg. 4.4 from a given test matrix: ``orth((AAᵀ)^q AΩ)`` for ``A`` of shape
    ``(..., m, n)`` and ``Ω`` of shape ``(..., n, ℓ)``, both in a LAPACK dtype.

    With ``normalizer="none"`` each member of ``A`` is first divided by its largest entry (the
    range is scale-free), so the unnormalized powers grow like ``(σ₁/max|A|)^{2q+1}``, at most
    ``(mn)^{q+1/2}``, whatever the scale of ``A``; a power that still overflows is an error."""
    xp = namespace(A)
    if normalizer == "none":
        peak = xp.max(xp.abs(A), axis=(-2, -1), keepdims=True)
        A = A / xp.where(peak > 0, peak, xp.ones_like(peak))
    At = xp.matrix_transpose(A)
    Y = A @ Omega
    orth = (lambda X: X) if normalizer == "none" else (lambda X: orthonormal_basis(X, normalizer))
    for _ in range(power_iters):
        Y = A @ orth(At @ orth(Y))
    if normalizer == "none" and not all_finite(Y):
        raise ValueError(
            f"normalizer='none' overflowed: (GGᵀ)^q GΩ with q = power_iters = {power_iters} exceeds the "
            f"range of {A.dtype} even for G scaled to max|G| = 1; use normalizer='qr' or fewer power_iters"
        )
    return orthonormal_basis(Y, "qr" if normalizer == "none" else normalizer)
