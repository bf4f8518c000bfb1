r"""Error bounds for randomized range finders and the low-rank sign, from a spectrum.

Every function takes the singular values ``sigma`` of ``G`` — all ``min(m, n)`` of them, zeros
included, in any order (a NumPy/CuPy/PyTorch vector or a list; device vectors are copied to the
host, which is fine for a vector) — and returns a Python float. The notation:
:math:`\sigma_1 \ge \sigma_2 \ge \dots`, ``k = rank``, ``p = oversample``, ``q = power_iters``,
``Q`` an orthonormal basis, and the range residual :math:`\|(I - QQ^T)G\|`.

- :func:`optimal_residual` — the smallest residual any rank-k basis can reach (Eckart–Young);
- :func:`hmt_frobenius_bound`, :func:`hmt_spectral_bound` — Halko–Martinsson–Tropp expectation
  bounds for :func:`matsign.lowrank.gaussian_range`;
- :func:`lowrank_sign_bound` — the low-rank sign against the oracle :math:`U_r V_r^T`;
- :func:`oracle_alignment` — the best alignment any rank-r step can reach (Ky Fan);
- :func:`rank_floor` — re-exported from :mod:`matsign.metrics` (it takes the matrix).

Bounds that need no spectral gap (real gradient spectra have none, so
:func:`lowrank_sign_bound` is infinite on them), for the rank-r sign ``X`` of ``QQᵀG`` —
``lowrank_msign(G, Q, rank=r)``, ``sketched_msign`` — measured against the full sign:

- :func:`residual_alignment_bound` — its alignment from below, given the range residual
  (a posteriori: one extra product for the residual);
- :func:`lowrank_alignment_bound` — the expected alignment of the Gaussian sketch from below,
  a priori from σ (through the HMT bounds);
- :func:`lowrank_error_bound` — its relative error from above, given the singular values of
  ``QᵀG`` or the residual (a posteriori, or a priori in expectation), and
  :func:`relative_rank_floor` from below;
- :func:`lowrank_error_bounds` — every upper bound on that error, gap bound included, and
  which is tightest.
"""

from __future__ import annotations

import math

import numpy as np

from matsign._backend.checks import check_nonnegative_int, check_positive_int, check_real
from matsign._backend.linalg import euclidean_norm
from matsign._backend.namespace import library, to_numpy
from matsign.metrics import rank_floor

__all__ = [
    "hmt_frobenius_bound",
    "hmt_spectral_bound",
    "lowrank_alignment_bound",
    "lowrank_error_bound",
    "lowrank_error_bounds",
    "lowrank_sign_bound",
    "optimal_residual",
    "oracle_alignment",
    "rank_floor",
    "relative_rank_floor",
    "residual_alignment_bound",
]

ORDS = ("fro", 2)


def check_spectrum(sigma) -> np.ndarray:
    """``sigma`` as a descending float64 NumPy vector, else a ``ValueError`` naming ``sigma``."""
    try:
        library(sigma)
        s = np.asarray(to_numpy(sigma), dtype=np.float64)
    except TypeError:
        s = np.asarray(sigma, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"sigma must be a non-empty 1-D vector of singular values, got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("sigma must be finite and non-negative")
    return np.sort(s)[::-1]


def check_ord(ord):
    """``ord`` is ``"fro"`` or ``2``, else a ``ValueError``."""
    if isinstance(ord, bool) or ord not in ORDS:
        raise ValueError(f"ord must be 'fro' or 2, got {ord!r}")


def check_hmt(s, rank, oversample):
    """``(k, p)`` that meet the hypotheses of HMT Thm 10.5/10.6 for the spectrum ``s``, else a ``ValueError``."""
    k = check_positive_int(rank, "rank")
    p = check_nonnegative_int(oversample, "oversample")
    hypotheses = "for the HMT bounds (hypotheses of Thm 10.5/10.6)"
    if k < 2:
        raise ValueError(f"rank must be at least 2 {hypotheses}, got {k}")
    if p < 2:
        raise ValueError(f"oversample must be at least 2 {hypotheses}, got {p}")
    if k + p > s.size:
        raise ValueError(f"rank + oversample = {k + p} exceeds min(m, n) = {s.size} (the length of sigma)")
    return k, p


def optimal_residual(sigma, rank, *, ord="fro") -> float:
    r"""Smallest range residual of any rank-k basis: :math:`\min_Q \|(I - QQ^T)G\|`.

    By Eckart–Young–Mirsky, attained by :math:`Q = U_k`:
    :math:`\big(\sum_{j>k} \sigma_j^2\big)^{1/2}` (``ord="fro"``) or :math:`\sigma_{k+1}`
    (``ord=2``; 0 when ``k ≥ min(m, n)``).

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``, in any order.
    rank : int
        ``k ≥ 1``.
    ord : {"fro", 2}

    Examples
    --------
    >>> optimal_residual([3.0, 2.0, 1.0, 0.0], 1)
    2.23606797749979
    >>> optimal_residual([3.0, 2.0, 1.0, 0.0], 1, ord=2)
    2.0
    """
    s = check_spectrum(sigma)
    k = check_positive_int(rank, "rank")
    check_ord(ord)
    tail = s[k:]
    if ord == 2:
        return float(tail[0]) if tail.size else 0.0
    return euclidean_norm(tail)


def hmt_frobenius_bound(sigma, rank, oversample) -> float:
    r"""HMT Theorem 10.5: :math:`\mathbb{E}\,\|(I - QQ^T)G\|_F \le (1 + \frac{k}{p-1})^{1/2} (\sum_{j>k} \sigma_j^2)^{1/2}`.

    The expectation is over the Gaussian sketch of ``Q = gaussian_range(G, k, oversample=p)``
    (no power iterations).

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``.
    rank, oversample : int
        ``k ≥ 2`` and ``p ≥ 2`` (the theorem's hypotheses), ``k + p ≤ len(sigma)``.

    Notes
    -----
    It follows from the deterministic bound (HMT Thm 9.1)
    :math:`\|(I-QQ^T)G\|_F^2 \le \|\Sigma_2\|_F^2 + \|\Sigma_2\Omega_2\Omega_1^\dagger\|_F^2`
    and :math:`\mathbb{E}\|\Omega_1^\dagger\|_F^2 = k/(p-1)` (HMT Prop. 10.2), then Jensen.
    HMT state no Frobenius version for power iterations; use :func:`hmt_spectral_bound`.

    References
    ----------
    .. [1] N. Halko, P.-G. Martinsson, J. A. Tropp, *Finding structure with randomness*, SIAM
       Review 53 (2011), arXiv 0909.4061, Theorem 10.5.

    Examples
    --------
    >>> hmt_frobenius_bound([1.0, 1.0, 0.5, 0.5, 0.5], 2, 2)  # √(1 + 2/1) · √0.75
    1.5
    """
    s = check_spectrum(sigma)
    k, p = check_hmt(s, rank, oversample)
    return math.sqrt(1.0 + k / (p - 1)) * euclidean_norm(s[k:])


def hmt_spectral_bound(sigma, rank, oversample, *, power_iters=0) -> float:
    r"""HMT Theorem 10.6 / Corollary 10.10: the expected spectral residual, with power iterations.

    For ``Q = gaussian_range(G, k, oversample=p, power_iters=q)``,

    .. math:: \mathbb{E}\,\|(I - QQ^T)G\|_2 \le \Big[\Big(1 + \sqrt{\tfrac{k}{p-1}}\Big)
              \sigma_{k+1}^{2q+1} + \frac{e\sqrt{k+p}}{p}
              \Big(\sum_{j>k} \sigma_j^{2(2q+1)}\Big)^{1/2}\Big]^{1/(2q+1)}.

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``.
    rank, oversample : int
        ``k ≥ 2``, ``p ≥ 2``, ``k + p ≤ len(sigma)``.
    power_iters : int, default 0
        ``q ≥ 0``.

    Notes
    -----
    ``q = 0`` is Theorem 10.6. For ``q ≥ 1`` (Corollary 10.10) the sketch is
    :math:`B\Omega`, :math:`B = (GG^T)^q G` with singular values :math:`\sigma_j^{2q+1}`;
    :math:`\|(I-P)G\|_2 \le \|(I-P)B\|_2^{1/(2q+1)}` (HMT Prop. 8.6) and Hölder's inequality
    carry Theorem 10.6 for ``B`` over to ``G``. The constants rest on
    :math:`\mathbb{E}\|S\Omega T\|_2 \le \|S\|_2\|T\|_F + \|S\|_F\|T\|_2` (Gordon) and
    :math:`\mathbb{E}\|\Omega_1^\dagger\|_2 \le e\sqrt{k+p}/p` (HMT Prop. 10.2). The bound holds
    in exact arithmetic whatever the normalizer, since all normalizers span the same range.

    References
    ----------
    .. [1] N. Halko, P.-G. Martinsson, J. A. Tropp, arXiv 0909.4061, Theorem 10.6 and
       Corollary 10.10.

    Examples
    --------
    >>> round(hmt_spectral_bound([1.0, 1.0, 0.0, 0.0, 0.0], 2, 2), 12)  # σ₃ = 0: exact range
    0.0
    >>> b0 = hmt_spectral_bound([1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125], 2, 2)
    >>> b2 = hmt_spectral_bound([1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125], 2, 2, power_iters=2)
    >>> round(b0, 4), round(b2, 4)
    (1.3867, 0.3468)
    """
    s = check_spectrum(sigma)
    k, p = check_hmt(s, rank, oversample)
    q = check_nonnegative_int(power_iters, "power_iters")
    e = 2 * q + 1
    scale = s[k]
    if scale == 0:
        return 0.0
    # Only σ_j, j > k, enter: dividing by σ_{k+1} puts them in [0, 1], so σ^(2q+1) cannot
    # overflow, and the leading term stays 1 however large q is.
    t = (s[k:] / scale) ** e
    inner = (1.0 + math.sqrt(k / (p - 1))) + math.e * math.sqrt(k + p) / p * float(np.sqrt(np.sum(t * t)))
    return float(scale * inner ** (1.0 / e))


def lowrank_sign_bound(sigma, rank, residual, *, ord="fro") -> float:
    r"""Deterministic bound on the low-rank sign's distance to the oracle: :math:`\|\hat X - U_r V_r^T\|_\nu \le \sqrt 2\, \varepsilon_\nu / (\sigma_r - \sigma_{r+1} - \varepsilon_2)`.

    :math:`\hat X = \hat U_r \hat V_r^T` is the rank-r sign of :math:`QQ^TG` —
    ``lowrank_msign(G, Q, rank=r)`` for an ``m × ℓ`` orthonormal basis ``Q``, ``ℓ ≥ r`` — and
    :math:`\varepsilon_\nu = \|(I - QQ^T)G\|_\nu` its range residual. It holds for every basis,
    random or not, when :math:`\varepsilon_2 < \delta_r = \sigma_r - \sigma_{r+1}`
    (:math:`\sigma_{r+1} = 0` if ``r = min(m, n)``).

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``.
    rank : int
        ``r``, ``1 ≤ r ≤ len(sigma)``.
    residual : float
        :math:`\|(I - QQ^T)G\|` in the norm ``ord``, finite and ``≥ 0``.
    ord : {"fro", 2}

    Returns
    -------
    float
        The bound, or ``inf`` when ``residual ≥ σ_r − σ_{r+1}`` (the assumption fails).

    Notes
    -----
    Since :math:`\varepsilon_2 \ge \sigma_{\ell+1}` (Eckart–Young), an informative bound needs a
    clear gap at ``r`` and a basis that captures it; oversampling (``ℓ > r``) and power
    iterations both help. For a right projection (tall ``G``, ``Q`` in the row space) read
    :math:`\varepsilon = \|G(I - QQ^T)\|`. With ``ord="fro"`` the denominator uses the given
    Frobenius residual in place of :math:`\varepsilon_2 \le \varepsilon_F`, which keeps the
    bound valid.

    **Derivation.** (1) Hermitian dilation :math:`\mathcal H(A) = [0, A; A^T, 0]` has
    eigenpairs :math:`\pm\sigma_i, [u_i; \pm v_i]/\sqrt 2`, so
    :math:`\mathcal H(U_r V_r^T) = \Pi_+ - \Pi_-` with :math:`\Pi_+` the spectral projector of
    the top-r eigenvalues of :math:`\mathcal H(G)` and :math:`\Pi_- = J\Pi_+J`,
    :math:`J = \mathrm{diag}(I, -I)`; likewise :math:`\mathcal H(\hat X) = \hat\Pi_+ - \hat\Pi_-`
    for :math:`\mathcal H(PG)`, :math:`P = QQ^T`. (2) Davis–Kahan :math:`\sin\Theta` [1]_
    (Wedin's theorem [2]_ in dilated form): the top-r eigenvalues of :math:`\mathcal H(PG)` are
    :math:`\ge \hat\sigma_r \ge \sigma_r - \varepsilon_2` (Weyl), the other eigenvalues of
    :math:`\mathcal H(G)` are :math:`\le \sigma_{r+1}`, and the residual
    :math:`(\mathcal H(G) - \mathcal H(PG))[\hat U_r; \hat V_r]/\sqrt 2 =
    [(I-P)G\hat V_r;\ G^T(I-P)\hat U_r]/\sqrt 2 = [(I-P)G\hat V_r;\ 0]/\sqrt 2` because
    :math:`\hat U_r \subset \mathrm{range}(Q)`; so
    :math:`\|\sin\Theta\|_\nu \le \varepsilon_\nu / (\sqrt 2\,(\sigma_r - \sigma_{r+1} - \varepsilon_2))`.
    (3) :math:`\|\mathcal H(Y)\|_2 = \|Y\|_2`, :math:`\|\mathcal H(Y)\|_F = \sqrt 2\|Y\|_F`,
    :math:`\|\hat\Pi_+ - \Pi_+\|_2 = \|\sin\Theta\|_2`,
    :math:`\|\hat\Pi_+ - \Pi_+\|_F = \sqrt 2\|\sin\Theta\|_F`, and
    :math:`\mathcal H(\hat X - U_rV_r^T) = (\hat\Pi_+ - \Pi_+) - J(\hat\Pi_+ - \Pi_+)J` give
    :math:`\|\hat X - U_r V_r^T\|_\nu \le 2\|\sin\Theta\|_\nu`. The proof bounds the sharper,
    a-posteriori :math:`\|(I-P)G\hat V_r\|_\nu \le \varepsilon_\nu`, which vanishes when
    ``range(Q)`` contains :math:`U_r`. For the polar factor of full-rank and same-rank matrices
    see [3]_ and [4]_.

    References
    ----------
    .. [1] C. Davis, W. M. Kahan, *The rotation of eigenvectors by a perturbation III*, SIAM J.
       Numer. Anal. 7 (1970) 1–46.
    .. [2] P.-Å. Wedin, *Perturbation bounds in connection with singular value decomposition*,
       BIT 12 (1972) 99–111.
    .. [3] R.-C. Li, *New perturbation bounds for the unitary polar factor*, SIAM J. Matrix
       Anal. Appl. 16 (1995) 327–332.
    .. [4] W. Li, W. Sun, SIAM J. Matrix Anal. Appl. 25 (2003) 362–372.

    Examples
    --------
    >>> lowrank_sign_bound([1.0, 1.0, 0.01, 0.01], 2, 0.1, ord=2)  # √2·0.1 / (0.99 − 0.1)
    0.1589004
    >>> lowrank_sign_bound([1.0, 0.9, 0.8], 2, 0.2)  # residual ≥ gap: no bound
    inf
    """
    s = check_spectrum(sigma)
    r = check_positive_int(rank, "rank")
    if r > s.size:
        raise ValueError(f"rank must be at most min(m, n) = {s.size} (the length of sigma), got {r}")
    check_ord(ord)
    residual = check_real(residual, "residual", low=0)
    following = s[r] if r < s.size else 0.0
    slack = s[r - 1] - following - residual
    if slack <= 0:
        return math.inf
    return math.sqrt(2.0) * residual / float(slack)


def oracle_alignment(sigma, rank) -> float:
    r"""Best alignment of any step of rank ≤ r and spectral norm ≤ 1: the Ky Fan ratio.

    .. math:: \max_{\|X\|_2 \le 1,\ \mathrm{rank} X \le r}
              \frac{\langle G, X\rangle}{\|G\|_*} = \frac{\sum_{i \le r}\sigma_i}{\sum_i \sigma_i},

    attained by :math:`U_r V_r^T`; NaN for the zero spectrum.

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``.
    rank : int
        ``r ≥ 1``.

    Notes
    -----
    Any low-rank sign ``Q·msign(QᵀG)`` with ``r`` columns has alignment
    :math:`\|Q^T G\|_* / \|G\|_*`, at most this.

    Examples
    --------
    >>> oracle_alignment([3.0, 1.0], 1)
    0.75
    """
    s = check_spectrum(sigma)
    r = check_positive_int(rank, "rank")
    total = float(np.sum(s))
    return float(np.sum(s[:r])) / total if total > 0 else math.nan


# ---------------------------------------------------------------- bounds without a gap


def _check_rank_of(s, rank):
    r = check_positive_int(rank, "rank")
    if r > s.size:
        raise ValueError(f"rank must be at most min(m, n) = {s.size} (the length of sigma), got {r}")
    return r


def residual_alignment_bound(sigma, rank, residual) -> float:
    r"""Lower bound on the alignment of the rank-r sign of ``QQᵀG`` from its range residual, no gap needed.

    .. math:: \frac{\langle G, X\rangle}{\|G\|_*} \ge
              \frac{\sum_{i \le r} (\sigma_i - \varepsilon)_+}{\sum_i \sigma_i},
              \qquad \varepsilon \ge \|(I - QQ^T)G\|_2,

    for ``X = lowrank_msign(G, Q, rank=r)`` and every orthonormal ``Q`` with ``ℓ ≥ r`` columns.

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``.
    rank : int
        ``r``, ``1 ≤ r ≤ len(sigma)``.
    residual : float
        :math:`\varepsilon`: the spectral residual, or anything above it — the Frobenius
        residual :math:`\|(I-QQ^T)G\|_F^2 = \|G\|_F^2 - \|Q^TG\|_F^2` costs nothing once
        ``QᵀG`` is formed (the a-posteriori use), an expectation bound gives
        :func:`lowrank_alignment_bound` (the a-priori use).

    Notes
    -----
    **Derivation.** ``X`` lies in ``range(Q)``, so :math:`\langle (I-P)G, X\rangle = 0`
    (``P = QQᵀ``) and :math:`\langle G, X\rangle = \langle PG, X\rangle = \sum_{i \le r}
    \sigma_i(PG)`` (``X`` is the sign of the top-r part of ``PG``). Weyl's inequality gives
    :math:`\sigma_i(PG) \ge \sigma_i(G) - \|G - PG\|_2`. Only tail *sizes* enter, never a
    difference of consecutive singular values, so the bound is finite on every spectrum. The
    inner ``msign`` drops singular values of ``QᵀG`` at or below ``max(r, n)·eps·σ̂₁``; that can
    lower the alignment by at most ``r·max(r, n)·eps·σ₁/‖G‖_*`` below the bound.

    References
    ----------
    .. [1] H. Weyl, *Das asymptotische Verteilungsgesetz der Eigenwerte linearer partieller
       Differentialgleichungen*, Math. Ann. 71 (1912) 441–479.
    .. [2] N. Halko, P.-G. Martinsson, J. A. Tropp, arXiv 0909.4061 (the residual of a range
       finder, §9–10).

    Examples
    --------
    >>> residual_alignment_bound([3.0, 2.0, 1.0], 2, 0.5)  # (2.5 + 1.5) / 6
    0.6666666666666666
    """
    s = check_spectrum(sigma)
    r = _check_rank_of(s, rank)
    eps = check_real(residual, "residual", low=0)
    total = float(np.sum(s))
    if total == 0:
        return math.nan
    return float(np.sum(np.maximum(s[:r] - eps, 0.0))) / total


def lowrank_alignment_bound(sigma, rank, oversample, *, power_iters=0) -> float:
    r"""Lower bound on the *expected* alignment of the Gaussian low-rank sign, from σ alone.

    For ``X = sketched_msign(G, k, oversample=p, power_iters=q)`` (the rank-k sign of
    ``QQᵀG``, ``Q`` from :func:`matsign.lowrank.gaussian_range` with ``ℓ = k + p`` columns),
    :math:`\mathbb E\,\langle G, X\rangle/\|G\|_* \ge \max(A, B)/\sum_i\sigma_i` with

    .. math:: A = \sum_{i \le k} (\sigma_i - \beta)_+, \qquad
              B = \Big(\|\sigma\|_2^2 - F - \sum_{k < i \le \ell}\sigma_i^2\Big)\big/\sigma_1,

    :math:`\beta` = :func:`hmt_spectral_bound` (:math:`\ge \mathbb E\|(I-P)G\|_2`) and
    :math:`F = \min\big((1 + \tfrac{k}{p-1})\sum_{j>k}\sigma_j^2\ [q = 0],\
    \sum_j \sigma_j \min(\sigma_j, \beta)\big) \ge \mathbb E\|(I-P)G\|_F^2`.

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``.
    rank, oversample : int
        ``k ≥ 2``, ``p ≥ 2`` (the HMT hypotheses), ``k + p ≤ len(sigma)``.
    power_iters : int, default 0
        ``q ≥ 0``.

    Notes
    -----
    **Derivation.** *A*: the map :math:`\varepsilon \mapsto \sum_{i\le k}(\sigma_i -
    \varepsilon)_+` is convex and decreasing, so Jensen's inequality carries
    :func:`residual_alignment_bound` over to :math:`\mathbb E\varepsilon_2 \le \beta`.
    *B*: :math:`\langle G, X\rangle = \|B_k\|_*` for the top-k part :math:`B_k` of
    ``B = PG``, and :math:`\|B_k\|_* \ge \|B_k\|_F^2/\|B_k\|_2 \ge \|B_k\|_F^2/\sigma_1`;
    :math:`\|B_k\|_F^2 = \|G\|_F^2 - \|(I-P)G\|_F^2 - \sum_{k<i\le\ell}\sigma_i(B)^2` with
    :math:`\sigma_i(B) \le \sigma_i` — linear in :math:`\varepsilon_F^2`, whose expectation
    HMT bound by :math:`(1 + k/(p-1))\sum_{j>k}\sigma_j^2` without power iterations (the
    squared form behind Thm 10.5: Thm 9.1 and Prop. 10.1), and, for any ``q``, by
    :math:`\sum_j \sigma_j\min(\sigma_j, \beta)`: :math:`\sigma_j((I-P)G) \le
    \min(\sigma_j, \varepsilon_2)`, :math:`\min(\sigma_j, \varepsilon)^2 \le
    \sigma_j\min(\sigma_j, \varepsilon)`, concave in ε (Jensen again). Neither needs a gap;
    *A* is the sharper one once power iterations make β small, *B* on flat spectra. The bound
    holds for the mean over sketches, not for each one.

    References
    ----------
    .. [1] N. Halko, P.-G. Martinsson, J. A. Tropp, arXiv 0909.4061, Thm 9.1, Prop. 10.1,
       Thm 10.5, Thm 10.6, Cor. 10.10.
    .. [2] C. He, Z. Deng, Z. Lu, arXiv 2509.11983 (the low-rank orthogonalization whose
       expected quality this bounds).
    .. [3] M. Gu, *Subspace iteration randomization and singular value problems*, SIAM J. Sci.
       Comput. 37 (2015), arXiv 1408.2208 (gap-free bounds for subspace iteration; the
       Rayleigh–Ritz step).

    Examples
    --------
    >>> s = 1.0 / np.arange(1, 201)  # a gapless power law
    >>> round(lowrank_alignment_bound(s, 16, 4, power_iters=2), 3), round(oracle_alignment(s, 16), 3)
    (0.347, 0.575)
    """
    s = check_spectrum(sigma)
    k, p = check_hmt(s, rank, oversample)
    q = check_nonnegative_int(power_iters, "power_iters")
    if s[0] == 0:
        return math.nan
    s = s / s[0]  # the bound is scale-free: no sum or square of σ over- or underflows
    total = float(np.sum(s))
    beta = hmt_spectral_bound(s, k, p, power_iters=q)
    by_spectral = float(np.sum(np.maximum(s[:k] - beta, 0.0)))
    energy = float(np.sum(s * np.minimum(s, beta)))
    if q == 0:
        energy = min(energy, (1.0 + k / (p - 1)) * float(np.sum(s[k:] ** 2)))
    by_frobenius = (float(np.sum(s * s)) - energy - float(np.sum(s[k : k + p] ** 2))) / float(s[0])
    return max(by_spectral, by_frobenius, 0.0) / total


def relative_rank_floor(sigma, rank) -> float:
    r"""Smallest relative error of any rank-r step: :math:`\sqrt{(\rho - r)_+/\rho}`, ``ρ`` the nonzero σ.

    Mirsky's inequality: a rank-r ``X`` has :math:`\|X - \operatorname{msign}(G)\|_F^2 \ge
    \rho - r` (the floor of :func:`rank_floor`, divided by :math:`\|\operatorname{msign}(G)\|_F
    = \sqrt\rho`); NaN for the zero spectrum.

    Examples
    --------
    >>> relative_rank_floor([3.0, 2.0, 1.0, 0.0], 1)  # √(2/3)
    0.816496580927726
    """
    s = check_spectrum(sigma)
    r = _check_rank_of(s, rank)
    rho = int(np.count_nonzero(s))
    return math.sqrt(max(0, rho - r) / rho) if rho else math.nan


def lowrank_error_bound(sigma, rank, *, projected=None, residual=None) -> float:
    r"""Upper bound on the relative error of the rank-r sign of ``QQᵀG``, no gap needed.

    For ``X = lowrank_msign(G, Q, rank=r)`` (any orthonormal ``Q``, exact inner sign) and
    ``R = msign(G)`` keeping all ``ρ`` nonzero singular values,

    .. math:: \frac{\|X - R\|_F^2}{\|R\|_F^2} \le
              \frac{1}{\rho}\Big(r + \rho - 2\sum_{i \le r} \frac{\hat\sigma_i}{\sigma_i}\Big),
              \qquad \hat\sigma_i = \sigma_i(Q^TG) \ge (\sigma_i - \varepsilon)_+ .

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``.
    rank : int
        ``r``.
    projected : array_like, optional
        :math:`\hat\sigma`, the singular values of ``QᵀG`` (a posteriori: the method computes
        them), or lower bounds on them.
    residual : float, optional
        Instead of ``projected``: :math:`\varepsilon \ge \|(I - QQ^T)G\|_2` (the Frobenius
        residual will do), and :math:`\hat\sigma_i \ge (\sigma_i - \varepsilon)_+` (Weyl).
        With :math:`\varepsilon` = :func:`hmt_spectral_bound` (an expectation bound) the result
        bounds :math:`\sqrt{\mathbb E(\cdot)^2} \ge \mathbb E\|X - R\|_F/\|R\|_F` for the
        Gaussian sketch: the right side is convex and increasing in ε (Jensen).

    Returns
    -------
    float
        The bound (the square root of the right side, at least 0); NaN for the zero spectrum.

    Notes
    -----
    **Derivation.** :math:`\|X - R\|_F^2 = \|X\|_F^2 + \rho - 2\langle X, R\rangle` with
    :math:`\|X\|_F^2 \le r`. Write ``B = PG`` (``P = QQᵀ``) and :math:`B_r = \hat U_r \hat
    \Sigma_r \hat V_r^T` its top-r part, so :math:`X = \hat U_r\hat V_r^T`, and
    :math:`H = (G^TG)^{1/2}`, so :math:`R = GH^+`. As :math:`X^T(I-P) = 0`,
    :math:`X^TG = X^TB = |B_r| := \hat V_r\hat\Sigma_r\hat V_r^T`, hence
    :math:`\langle X, R\rangle = \operatorname{tr}(|B_r|H^+)`: a trace of two positive
    semidefinite matrices, ``range |B_r| ⊆ range H``. Ruhe's trace inequality
    (:math:`\operatorname{tr}(AB) \ge \sum_i \lambda_i^\downarrow(A)\lambda_i^\uparrow(B)`)
    on ``range H``, where :math:`H^+` has eigenvalues :math:`1/\sigma_1 \le 1/\sigma_2 \le
    \dots`, gives :math:`\langle X, R\rangle \ge \sum_{i\le r}\hat\sigma_i/\sigma_i`. It is
    exact for the oracle (``Q = U_r``: :math:`\hat\sigma_i = \sigma_i`, error
    :math:`\sqrt{(\rho - r)/\rho}`), and only tail sizes enter through ε — no gap. In
    particular :math:`\langle X, R\rangle \ge 0`. For the reference of a 16-bit matrix (σ
    below its storage noise dropped), apply it to the kept singular values.

    References
    ----------
    .. [1] A. Ruhe, *Perturbation bounds for means of eigenvalues and invariant subspaces*, BIT
       10 (1970) 343–354 (the lower trace inequality).
    .. [2] N. J. Higham, *Functions of Matrices*, SIAM 2008, ch. 8 (``R = G(GᵀG)^{-1/2}``).
    .. [3] N. Halko, P.-G. Martinsson, J. A. Tropp, arXiv 0909.4061 (the residual ε).

    Examples
    --------
    >>> s = [1.0, 1.0, 0.5, 0.5]
    >>> lowrank_error_bound(s, 2, projected=[1.0, 1.0])  # the oracle: exactly √(2/4)
    0.7071067811865476
    >>> round(lowrank_error_bound(s, 2, residual=0.25), 4)  # σ̂ ≥ (0.75, 0.75)
    0.866
    """
    s = check_spectrum(sigma)
    r = _check_rank_of(s, rank)
    if (projected is None) == (residual is None):
        raise ValueError("give exactly one of projected (the singular values of QᵀG) and residual")
    if projected is None:
        eps = check_real(residual, "residual", low=0)
        hat = np.maximum(s[:r] - eps, 0.0)
    else:
        hat = np.sort(check_spectrum(projected))[::-1][:r]
        hat = np.pad(hat, (0, r - hat.size))
    rho = int(np.count_nonzero(s))
    if rho == 0:
        return math.nan
    top = s[:r]
    ratios = np.divide(hat, top, out=np.zeros(r), where=top > 0)
    squared = (r + rho - 2.0 * float(np.sum(ratios))) / rho
    return math.sqrt(max(squared, 0.0))


def lowrank_error_bounds(sigma, rank, *, residual) -> dict:
    r"""The upper bounds on the relative error of the rank-r sign of ``QQᵀG`` from its residual, and the tightest.

    Parameters
    ----------
    sigma : array_like
        All ``min(m, n)`` singular values of ``G``.
    rank : int
        ``r``.
    residual : float
        The Frobenius range residual :math:`\|(I - QQ^T)G\|_F` (or an upper bound on it;
        an expectation bound gives bounds on the expected error, see
        :func:`lowrank_error_bound`).

    Returns
    -------
    dict
        ``"gap"``: :func:`lowrank_sign_bound` (to the oracle) plus the oracle's own distance
        :math:`\sqrt{\rho - r}`, divided by :math:`\sqrt\rho` — ``inf`` without a gap;
        ``"residual"``: :func:`lowrank_error_bound` with this residual; ``"floor"``:
        :func:`relative_rank_floor` (a lower bound); ``"tightest"``: the name of the smaller
        upper bound.

    Examples
    --------
    >>> s = 1.0 / np.arange(1, 65)  # no gap: the gap bound says nothing
    >>> b = lowrank_error_bounds(s, 8, residual=0.05)
    >>> b["gap"], round(b["residual"], 3), round(b["floor"], 3), b["tightest"]
    (inf, 0.965, 0.935, 'residual')
    """
    s = check_spectrum(sigma)
    r = _check_rank_of(s, rank)
    rho = int(np.count_nonzero(s))
    floor = relative_rank_floor(s, r)
    to_oracle = lowrank_sign_bound(s, r, residual, ord="fro")
    gap = (to_oracle + math.sqrt(max(0, rho - r))) / math.sqrt(rho) if rho else math.nan
    by_residual = lowrank_error_bound(s, r, residual=residual)
    tightest = "gap" if gap < by_residual else "residual"
    return {"gap": gap, "residual": by_residual, "floor": floor, "tightest": tightest}
