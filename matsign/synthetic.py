"""Synthetic test matrices with prescribed spectra: ``G = U diag(σ) Vᵀ`` with Haar factors.

Spectrum families return descending NumPy float64 vectors; :func:`with_spectrum` places a
spectrum between Haar-random orthonormal factors on any backend.
"""

from __future__ import annotations

import numpy as np

from matsign._backend import check_positive_int, from_numpy, generator, namespace, standard_normal


def _like(like, dtype):
    return from_numpy(np.empty((0,)), like=like, dtype=dtype)


def haar_orthogonal(m: int, k: int, *, rng=None, like="numpy", dtype: str = "float64"):
    """Haar-distributed ``m × k`` matrix with orthonormal columns (``k ≤ m``).

    Computed as ``Q·diag(sign(diag R))`` from the QR factorization of an ``m × k`` standard
    Gaussian matrix, which makes the distribution exactly Haar (Mezzadri, arXiv math-ph/0609050).

    Parameters
    ----------
    m, k : int
        Shape; ``1 ≤ k ≤ m``.
    rng : None, int or generator
        Randomness (see :mod:`matsign._backend.random`).
    like : array or {"numpy", "torch", "cupy"}
        Library and device of the result.
    dtype : str
        Precision of the result (the factorization runs in float64).
    """
    m, k = check_positive_int(m, "m"), check_positive_int(k, "k")
    if k > m:
        raise ValueError(f"k must be at most m = {m}, got {k}")
    ref = _like(like, "float64")
    xp = namespace(ref)
    q, r = xp.linalg.qr(standard_normal(generator(rng, ref), (m, k), like=ref))
    signs = xp.sign(xp.linalg.diagonal(r))
    signs = xp.where(signs == 0, xp.ones_like(signs), signs)
    return xp.astype(q * signs[None, :], _like(like, dtype).dtype)


def with_spectrum(sigma, m: int, n: int, *, rng=None, like="numpy", dtype: str = "float64"):
    """Matrix ``U diag(σ) Vᵀ`` of shape ``(m, n)`` with Haar-random ``U`` (m×k) and ``V`` (n×k).

    Parameters
    ----------
    sigma : array_like, shape (k,)
        Non-negative singular values, ``k ≤ min(m, n)`` (sorted or not).
    m, n : int
        Shape of the result.
    rng, like, dtype
        As in :func:`haar_orthogonal`. The same integer seed gives the same matrix.

    Examples
    --------
    >>> import numpy as np
    >>> G = with_spectrum([3.0, 2.0, 1.0], 4, 5, rng=0)
    >>> np.round(np.linalg.svd(G, compute_uv=False), 12)
    array([3., 2., 1., 0.])
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim != 1 or sigma.size == 0:
        raise ValueError(f"sigma must be a non-empty 1-D vector, got shape {sigma.shape}")
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
        raise ValueError("sigma must be finite and non-negative")
    m, n = check_positive_int(m, "m"), check_positive_int(n, "n")
    k = sigma.size
    if k > min(m, n):
        raise ValueError(f"sigma has {k} values but min(m, n) = {min(m, n)}")
    ref = _like(like, "float64")
    g = generator(rng, ref)
    u = haar_orthogonal(m, k, rng=g, like=ref)
    v = haar_orthogonal(n, k, rng=g, like=ref)
    s = from_numpy(sigma, like=ref)
    xp = namespace(ref)
    return xp.astype((u * s[None, :]) @ xp.matrix_transpose(v), _like(like, dtype).dtype)


def power_law(k: int, alpha: float = 1.0):
    """Spectrum ``σ_i = i^(−α)``, ``i = 1..k``."""
    i = np.arange(1, check_positive_int(k, "k") + 1, dtype=np.float64)
    return i ** (-float(alpha))


def exponential_decay(k: int, rate: float = 0.1):
    """Spectrum ``σ_i = exp(−rate·(i − 1))``, ``i = 1..k``."""
    i = np.arange(check_positive_int(k, "k"), dtype=np.float64)
    return np.exp(-float(rate) * i)


def log_uniform(k: int, kappa: float):
    """Spectrum log-spaced from 1 down to ``1/κ`` (condition number κ ≥ 1)."""
    if not kappa >= 1:
        raise ValueError(f"kappa must be at least 1, got {kappa!r}")
    return np.logspace(0.0, -np.log10(float(kappa)), check_positive_int(k, "k"))


def low_rank_plus_noise(k: int, rank: int, noise: float = 1e-2):
    """Spectrum of ``rank`` unit singular values followed by ``k − rank`` values equal to ``noise``."""
    k, rank = check_positive_int(k, "k"), check_positive_int(rank, "rank")
    if rank > k:
        raise ValueError(f"rank must be at most k = {k}, got {rank}")
    return np.concatenate([np.ones(rank), np.full(k - rank, float(noise))])
