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
"""

from __future__ import annotations

import math

import numpy as np

from matsign._backend.checks import check_nonnegative_int, check_positive_int, check_real
from matsign._backend.namespace import library, to_numpy
from matsign.metrics import rank_floor

__all__ = [
    "hmt_frobenius_bound",
    "hmt_spectral_bound",
    "lowrank_sign_bound",
    "optimal_residual",
    "oracle_alignment",
    "rank_floor",
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
    return float(np.sqrt(np.sum(tail * tail)))


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
    return math.sqrt(1.0 + k / (p - 1)) * float(np.sqrt(np.sum(s[k:] ** 2)))


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
