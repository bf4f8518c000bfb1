r"""Synthetic test matrices with prescribed spectra: ``G = U diag(σ) Vᵀ`` with Haar factors.

Spectrum families (:func:`power_law`, :func:`exponential_decay`, :func:`log_uniform`,
:func:`low_rank_plus_noise`) return descending NumPy float64 vectors; :func:`with_spectrum`
places a spectrum between Haar-random orthonormal factors on any backend. Two matrix families
have no prescribed spectrum: :func:`student_t_matrix` (i.i.d. heavy-tailed entries) and
:func:`scale_mismatch` (a prescribed spectrum with rows and columns rescaled over decades, the
input MuonEq's equilibration targets). Every matrix function takes ``rng`` (same seed, same
backend ⇒ same matrix), ``like`` (library and device) and ``dtype``.

Each family is also declared here as a sweep source (:func:`matsign.registry.register_source`):
a float64 NumPy ``m × n`` matrix from a seed and the parameters below, checked before any matrix
is built by the same checks the generator runs, and titled in figures by its ``label``.

=================  ============================================  ===========================
source             matrix                                        parameters (defaults)
=================  ============================================  ===========================
``power_law``      σ_i = i^(−α) between Haar factors             ``alpha=1.0``, ``nonzero``
``exponential``    σ_i = exp(−rate·(i − 1))                      ``rate=0.05``, ``nonzero``
``log_uniform``    σ log-spaced from 1 to 1/κ                    ``kappa`` (required), ``nonzero``
``low_rank_noise`` ``signal_rank`` unit values, then ``noise``  ``signal_rank``, ``noise=0.01``
``student_t``      i.i.d. Student-t entries                      ``dof=3``
``scale_mismatch`` ``D_r · U diag(σ) Vᵀ · D_c``, σ to 1/κ        ``row_spread=100``, ``col_spread=1``, ``kappa=10``
=================  ============================================  ===========================

``nonzero`` is the number of nonzero singular values (default ``min(m, n)``): at a fixed κ it
sets the stable rank. The ``recorded`` source (matrices from a gradient dump) is declared in
:mod:`matsign.io.source`.
"""

from __future__ import annotations

import math

import numpy as np

from matsign._backend import (
    check_positive_int,
    check_precision,
    check_rank,
    check_real,
    dtype_name,
    from_numpy,
    generator,
    library,
    namespace,
    round_to,
    standard_normal,
    uniform,
)
from matsign.registry import register_source


def _like(like, dtype):
    """An empty array of ``like``'s library and device in the working precision ``dtype`` (checked)."""
    return from_numpy(np.empty((0,)), like=like, dtype=check_precision(dtype))


def _in_precision(x, dtype):
    """Float64 ``x`` in the working precision ``dtype``: NumPy keeps float16 as its own float16
    (which every function here accepts), and a 16-bit format stored in float32 (bfloat16 on
    NumPy and CuPy) is rounded to its grid, so the values are those of the 16-bit matrix."""
    name = check_precision(dtype)
    if library(x) == "numpy" and name == "float16":
        return x.astype(np.float16)
    y = namespace(x).astype(x, _like(x, name).dtype)
    emulated = name in ("bfloat16", "float16") and dtype_name(y.dtype) == "float32"
    return round_to(y, name) if emulated else y


def haar_orthogonal(m: int, k: int, *, rng=None, like="numpy", dtype: str = "float64"):
    """Haar-distributed ``m × k`` matrix with orthonormal columns (``k ≤ m``): ``Q·diag(sign(diag R))``.

    Parameters
    ----------
    m, k : int
        Shape; ``1 ≤ k ≤ m``.
    rng : None, int or generator
        Randomness (see :mod:`matsign._backend.random`).
    like : array or {"numpy", "torch", "cupy"}
        Library and device of the result.
    dtype : str or dtype
        Working precision of the result: ``"float64"``, ``"float32"``, ``"bfloat16"``,
        ``"float16"`` or ``"tfloat32"`` (stored in float32).

    Raises
    ------
    ValueError
        If ``dtype`` is not a working precision (integer and complex dtypes included).

    Notes
    -----
    ``Q R`` is the QR factorization of an ``m × k`` standard Gaussian matrix; fixing the signs of
    ``diag R`` makes the distribution of ``Q`` exactly Haar [1]_. The factorization runs in
    float64 and the result is rounded once to ``dtype``. A 16-bit format the library lacks is
    stored in float32 on its grid (bfloat16 on NumPy and CuPy); NumPy float16 is NumPy's own.

    References
    ----------
    .. [1] F. Mezzadri, *How to generate random matrices from the classical compact groups*,
       arXiv math-ph/0609050.
    """
    m, k = check_positive_int(m, "m"), check_positive_int(k, "k")
    if k > m:
        raise ValueError(f"k must be at most m = {m}, got {k}")
    check_precision(dtype)
    ref = _like(like, "float64")
    xp = namespace(ref)
    q, r = xp.linalg.qr(standard_normal(generator(rng, ref), (m, k), like=ref))
    signs = xp.sign(xp.linalg.diagonal(r))
    signs = xp.where(signs == 0, xp.ones_like(signs), signs)
    return _in_precision(q * signs[None, :], dtype)


def with_spectrum(sigma, m: int, n: int, *, rng=None, like="numpy", dtype: str = "float64"):
    """Matrix ``U diag(σ) Vᵀ`` of shape ``(m, n)`` with Haar-random ``U`` (m×k) and ``V`` (n×k).

    Parameters
    ----------
    sigma : array_like, shape (k,)
        Non-negative singular values, ``k ≤ min(m, n)`` (sorted or not).
    m, n : int
        Shape of the result.
    rng, like, dtype
        See :func:`haar_orthogonal`. The same integer seed gives the same matrix.

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
    check_precision(dtype)
    ref = _like(like, "float64")
    g = generator(rng, ref)
    u = haar_orthogonal(m, k, rng=g, like=ref)
    v = haar_orthogonal(n, k, rng=g, like=ref)
    s = from_numpy(sigma, like=ref)
    xp = namespace(ref)
    return _in_precision((u * s[None, :]) @ xp.matrix_transpose(v), dtype)


def power_law(k: int, alpha: float = 1.0):
    """Spectrum ``σ_i = i^(−α)``, ``i = 1..k``, for a finite ``α ≥ 0``.

    Examples
    --------
    >>> power_law(3, 2.0)
    array([1.        , 0.25      , 0.11111111])
    """
    k = check_positive_int(k, "k")
    alpha = check_real(alpha, "alpha", low=0.0)
    return _representable(np.arange(1, k + 1, dtype=np.float64) ** -alpha, "alpha", alpha)


def exponential_decay(k: int, rate: float = 0.1):
    """Spectrum ``σ_i = exp(−rate·(i − 1))``, ``i = 1..k``, for a finite ``rate ≥ 0``.

    Examples
    --------
    >>> exponential_decay(3, 1.0)
    array([1.        , 0.36787944, 0.13533528])
    """
    k = check_positive_int(k, "k")
    rate = check_real(rate, "rate", low=0.0)
    return _representable(np.exp(-rate * np.arange(k, dtype=np.float64)), "rate", rate)


def _representable(spectrum, name, value):
    """``spectrum`` if its last (smallest) value is nonzero, else a ``ValueError`` naming the
    parameter: a decay so steep that σ underflowed to 0 would silently make the matrix
    rank-deficient."""
    zero = np.flatnonzero(spectrum == 0)
    if zero.size:
        raise ValueError(
            f"{name} = {value:g} makes σ_{int(zero[0]) + 1} and beyond underflow float64 to 0 (of {spectrum.size} "
            f"values); use a smaller {name}, or fewer values"
        )
    return spectrum


def log_uniform(k: int, kappa: float):
    """Spectrum of ``k`` values log-spaced from 1 down to ``1/κ``, for a finite ``κ ≥ 1``.

    For ``k ≥ 2`` the condition number is κ; a single value (``k = 1``) is ``[1.]``, whatever κ.

    Examples
    --------
    >>> log_uniform(3, 100.0)
    array([1.  , 0.1 , 0.01])
    """
    k = check_positive_int(k, "k")
    kappa = check_real(kappa, "kappa", low=1.0)
    return np.logspace(0.0, -math.log10(kappa), k)


def low_rank_plus_noise(k: int, rank: int, noise: float = 1e-2):
    """Spectrum of ``rank`` unit singular values followed by ``k − rank`` values equal to ``noise``.

    ``0 ≤ noise ≤ 1``, so the vector is descending and the signal the largest part.

    Examples
    --------
    >>> low_rank_plus_noise(4, 1, 0.5)
    array([1. , 0.5, 0.5, 0.5])
    """
    k, rank = check_positive_int(k, "k"), check_positive_int(rank, "rank")
    if rank > k:
        raise ValueError(f"rank must be at most k = {k}, got {rank}")
    noise = check_real(noise, "noise", low=0.0, high=1.0)
    return np.concatenate([np.ones(rank), np.full(k - rank, noise)])


def student_t_matrix(m: int, n: int, dof: int = 3, *, rng=None, like="numpy", dtype: str = "float64"):
    r"""``m × n`` matrix of i.i.d. Student-t entries with ``dof`` degrees of freedom.

    Parameters
    ----------
    m, n : int
        Shape.
    dof : int, default 3
        Degrees of freedom ``ν ≥ 1``.
    rng, like, dtype
        See :func:`haar_orthogonal` (sampling runs in float64).

    Notes
    -----
    Each entry is :math:`Z_0 / \sqrt{(Z_1^2 + \dots + Z_\nu^2)/\nu}` with independent standard
    normal :math:`Z_j`, which is the Student-t law with :math:`\nu` degrees of freedom (drawn
    from normals only, so every backend samples it). Its tails decay like :math:`|x|^{-\nu-1}`:
    moments of order ``≥ ν`` are infinite (``ν = 1`` is Cauchy), so a few huge entries carry much
    of the Frobenius norm — a heavy-tailed random matrix, unlike the Gaussian bulk.

    Examples
    --------
    >>> import numpy as np
    >>> G = student_t_matrix(400, 500, dof=2, rng=0)
    >>> G.shape, bool(np.max(np.abs(G)) > 30)  # a Gaussian matrix this size stays below 6
    ((400, 500), True)
    """
    m, n = check_positive_int(m, "m"), check_positive_int(n, "n")
    dof = check_positive_int(dof, "dof")
    check_precision(dtype)
    ref = _like(like, "float64")
    xp = namespace(ref)
    g = generator(rng, ref)
    numerator = standard_normal(g, (m, n), like=ref)
    chi2 = xp.zeros_like(numerator)
    for _ in range(dof):
        z = standard_normal(g, (m, n), like=ref)
        chi2 = chi2 + z * z
    return _in_precision(numerator / xp.sqrt(chi2 / dof), dtype)


def _check_spreads(row_spread, col_spread) -> tuple[float, float]:
    """``(row_spread, col_spread)`` as floats if both are finite numbers ``≥ 1``, else ``ValueError``."""
    return check_real(row_spread, "row_spread", low=1.0), check_real(col_spread, "col_spread", low=1.0)


def scale_mismatch(
    sigma, m: int, n: int, *, row_spread: float = 100.0, col_spread: float = 1.0, rng=None,
    like="numpy", dtype: str = "float64",
):
    r"""``D_r · U diag(σ) Vᵀ · D_c``: a prescribed spectrum with rows and columns on different scales.

    Parameters
    ----------
    sigma : array_like, shape (k,)
        Spectrum of the unscaled matrix (see :func:`with_spectrum`).
    m, n : int
        Shape.
    row_spread, col_spread : float
        Ratio of the largest to the smallest row (column) scale, finite and at least 1.
    rng, like, dtype
        See :func:`haar_orthogonal`.

    Notes
    -----
    ``D_r`` has diagonal log-spaced from 1 to ``row_spread`` and ``D_c`` from 1 to
    ``col_spread``, each in a random order, so row norms span about ``row_spread`` and column
    norms about ``col_spread`` — exactly so for the row norms when ``U diag(σ) Vᵀ`` has
    orthonormal rows (``σ`` all ones, ``len(σ) = m ≤ n``) and ``col_spread = 1``. This is the
    input MuonEq's row/column equilibration is designed for [1]_: the sign of ``G`` depends on
    the scales, and a few large rows dominate a Frobenius-normalized Newton–Schulz iteration.

    References
    ----------
    .. [1] D. Chang et al., *MuonEq: balancing before orthogonalization with lightweight
       equilibration*, arXiv 2603.28254.

    Examples
    --------
    >>> import numpy as np
    >>> G = scale_mismatch(np.ones(4), 4, 6, row_spread=1e3, rng=0)
    >>> rows = np.linalg.norm(G, axis=1)
    >>> round(float(rows.max() / rows.min()), 6)
    1000.0
    """
    row_spread, col_spread = _check_spreads(row_spread, col_spread)
    check_precision(dtype)
    ref = _like(like, "float64")
    g = generator(rng, ref)
    base = with_spectrum(sigma, m, n, rng=g, like=ref)
    rows = _shuffled_log_scales(m, row_spread, g, ref)
    cols = _shuffled_log_scales(n, col_spread, g, ref)
    return _in_precision(rows[:, None] * base * cols[None, :], dtype)


def _shuffled_log_scales(k, spread, g, ref):
    """``k`` scales log-spaced from 1 to ``spread``, in the random order of ``g``."""
    xp = namespace(ref)
    scales = from_numpy(np.logspace(0.0, math.log10(spread), k), like=ref)
    order = xp.argsort(uniform(g, (k,), like=ref))
    return xp.take(scales, order)


# ---------------------------------------------------------------- the families as sweep sources
#
# Each source is a float64 NumPy matrix from (m, n, seed, parameters). Its check builds the
# spectrum (k numbers, no matrix), so it runs exactly the generator's own checks.


def _support(m, n, nonzero):
    """The number of nonzero singular values: ``nonzero`` (checked), default ``min(m, n)``."""
    return min(m, n) if nonzero is None else check_rank(nonzero, (m, n), "nonzero")


def _power_law_spectrum(m, n, *, alpha, nonzero):
    return power_law(_support(m, n, nonzero), alpha)


def _power_law_source(m, n, *, rng=None, alpha=1.0, nonzero=None):
    return with_spectrum(_power_law_spectrum(m, n, alpha=alpha, nonzero=nonzero), m, n, rng=rng)


register_source(
    "power_law", _power_law_source, description="σ_i = i^(−α) between Haar-random factors",
    check=_power_law_spectrum, label=lambda row: rf"power law $\sigma_i = i^{{-{row['alpha']:g}}}$",
)


def _exponential_spectrum(m, n, *, rate, nonzero):
    return exponential_decay(_support(m, n, nonzero), rate)


def _exponential_source(m, n, *, rng=None, rate=0.05, nonzero=None):
    return with_spectrum(_exponential_spectrum(m, n, rate=rate, nonzero=nonzero), m, n, rng=rng)


register_source(
    "exponential", _exponential_source, description="σ_i = exp(−rate·(i − 1)) between Haar-random factors",
    check=_exponential_spectrum, label=lambda row: rf"exponential $\sigma_i = e^{{-{row['rate']:g}(i-1)}}$",
)


def _log_uniform_spectrum(m, n, *, kappa, nonzero):
    return log_uniform(_support(m, n, nonzero), kappa)


def _log_uniform_source(m, n, *, rng=None, kappa, nonzero=None):
    return with_spectrum(_log_uniform_spectrum(m, n, kappa=kappa, nonzero=nonzero), m, n, rng=rng)


register_source(
    "log_uniform", _log_uniform_source, description="σ log-spaced from 1 to 1/κ between Haar-random factors",
    check=_log_uniform_spectrum, label=lambda row: rf"log-uniform, $\kappa$ = {row['kappa']:.0e}",
)


def _low_rank_noise_spectrum(m, n, *, signal_rank, noise):
    return low_rank_plus_noise(min(m, n), check_rank(signal_rank, (m, n), "signal_rank"), noise)


def _low_rank_noise_source(m, n, *, rng=None, signal_rank, noise=0.01):
    return with_spectrum(_low_rank_noise_spectrum(m, n, signal_rank=signal_rank, noise=noise), m, n, rng=rng)


register_source(
    "low_rank_noise", _low_rank_noise_source,
    description="signal_rank unit singular values plus a flat noise floor", check=_low_rank_noise_spectrum,
    label=lambda row: f"rank {int(row['signal_rank'])} + noise {row['noise']:g}",
)


def _student_t_source(m, n, *, rng=None, dof=3):
    return student_t_matrix(m, n, dof, rng=rng)


def _check_student_t(m, n, *, dof):
    check_positive_int(dof, "dof")


register_source(
    "student_t", _student_t_source, description="i.i.d. Student-t entries (heavy-tailed random matrix)",
    check=_check_student_t, label=lambda row: f"Student-t entries, ν = {int(row['dof'])}",
)


def _scale_mismatch_source(m, n, *, rng=None, row_spread=100.0, col_spread=1.0, kappa=10.0):
    sigma = log_uniform(min(m, n), kappa)
    return scale_mismatch(sigma, m, n, row_spread=row_spread, col_spread=col_spread, rng=rng)


def _check_scale_mismatch(m, n, *, row_spread, col_spread, kappa):
    _check_spreads(row_spread, col_spread)
    log_uniform(min(m, n), kappa)


def _scale_mismatch_label(row) -> str:
    spreads = [f"{side} scales ×{row[key]:.0e}" for side, key in (("row", "row_spread"), ("column", "col_spread"))
               if row[key] > 1]
    return ", ".join(spreads) or "no scale mismatch"


register_source(
    "scale_mismatch", _scale_mismatch_source,
    description="rows and columns of a log-uniform-κ matrix rescaled over row_spread / col_spread",
    check=_check_scale_mismatch, label=_scale_mismatch_label,
)
