r"""MuonEq equilibration: diagonal row / column / two-sided rescaling before the sign.

MuonEq (Chang et al., arXiv 2603.28254) rescales the momentum ``G`` by the inverse square roots
of its row and column squared norms, then runs Muon's Newton–Schulz iteration on the result.
The scaling is one pass over ``G`` (``O(m + n)`` extra numbers), not an iterated (Sinkhorn)
balancing, and it changes the matrix being orthogonalized: the method ``muoneq`` (declared at
the end) returns an approximation of ``msign(D_r G D_c)``, not of ``msign(G)``.
"""

from __future__ import annotations

import math

from matsign._backend import boundary, check_choice, check_matrix, check_real, linalg_dtype
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.schedules import get_schedule, schedule_band
from matsign.prediction import bounded, limited_step_bounds
from matsign.registry import register
from matsign.exact.newton_schulz import newton_schulz_flops

__all__ = [
    "MODES",
    "check_clip",
    "check_equilibration_params",
    "check_exponent",
    "check_muoneq_params",
    "equilibrate",
    "equilibration_factors",
    "spectral_proxy_scale",
]

#: Equilibration modes: rows ("R"), columns ("C"), both from the same matrix ("RC").
MODES = ("R", "C", "RC")


def check_exponent(exponent) -> float:
    """The equilibration ``exponent`` as a float, else a ``ValueError`` naming it.

    Finite and negative: a positive exponent would amplify the heavy rows instead of balancing
    them.
    """
    return check_real(exponent, "exponent", high=0, open_high=True)


def check_clip(clip) -> float | None:
    """The scale ``clip`` as a float ≥ 1, or None; else a ``ValueError`` naming it.

    The official clamp ``[1/clip, clip]`` is an interval only for ``clip ≥ 1`` (below 1,
    ``torch.clamp`` would set every scale to ``clip``).
    """
    return None if clip is None else check_real(clip, "clip", low=1)


def check_equilibration_params(mode, exponent, eps=1e-8, clip=None) -> None:
    """Check the options of :func:`equilibrate` before any matrix is seen."""
    check_choice(mode, MODES, "mode")
    check_exponent(exponent)
    check_real(eps, "eps", low=0, open_low=True)
    check_clip(clip)


@boundary
def equilibration_factors(G, mode="R", *, exponent=-0.5, eps=1e-8, clip=None):
    r"""The diagonal scalings of :func:`equilibrate`: ``(row_scale, col_scale)``.

    ``row_scale = s(r)`` (modes "R" and "RC") and ``col_scale = s(c)`` (modes "C" and "RC"),
    with :math:`r_i = \sum_j G_{ij}^2`, :math:`c_j = \sum_i G_{ij}^2` and
    :math:`s(x) = (x + \varepsilon)^{e}`, clamped to ``[1/clip, clip]`` when ``clip`` is
    given; both come from the same ``G``.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    mode : {"R", "C", "RC"}
    exponent, eps, clip : float
        See :func:`equilibrate`.

    Returns
    -------
    row_scale : array, shape (..., m), or None
        ``None`` when ``mode`` does not scale the rows.
    col_scale : array, shape (..., n), or None
        ``None`` when ``mode`` does not scale the columns. Both in ``G``'s dtype, or float32
        for 16-bit inputs (the squared norms are summed there).

    Notes
    -----
    A row or column whose squared norm would overflow is summed divided by its largest entry
    and combined with ``ε`` in the log domain, so the factors are right (to about ``1e-13``
    relative in float64) wherever they are representable: no scale of ``G`` turns them into
    zeros. The others are computed as written.

    Examples
    --------
    >>> import numpy as np
    >>> rows, cols = equilibration_factors(np.array([[3.0, 4.0], [0.0, 2.0]]), "RC", eps=1e-300)
    >>> rows, cols
    (array([0.2, 0.5]), array([0.33333333, 0.2236068 ]))
    """
    xp = check_matrix(G, "G")
    check_equilibration_params(mode, exponent, eps, clip)
    A = xp.astype(G, linalg_dtype(G), copy=False)
    row_scale = _scale(xp, A, -1, exponent, eps) if mode in ("R", "RC") else None
    col_scale = _scale(xp, A, -2, exponent, eps) if mode in ("C", "RC") else None
    if clip is not None:
        # MaeChd/muon-eq's rowcol_clip: clamp each scale (after the power) to [1/clip, clip].
        row_scale = None if row_scale is None else xp.clip(row_scale, 1.0 / clip, float(clip))
        col_scale = None if col_scale is None else xp.clip(col_scale, 1.0 / clip, float(clip))
    return row_scale, col_scale


def _scale(xp, A, axis, exponent, eps):
    """``(Σ A² + ε)^e`` along ``axis``, for every row or column whatever its scale.

    A row whose squared norm cannot overflow (largest entry at most ``√(max / length)``) is
    computed as written; any other in the log domain on the row divided by its largest entry
    ``q``: ``log(Σ A² + ε) = logaddexp(2 log q + log Σ (A/q)², log ε)``, with ``Σ (A/q)²`` in
    ``[1, length]``. So a huge row gets its true, representable scale instead of ``inf^e = 0``.
    """
    peak = xp.max(xp.abs(A), axis=axis, keepdims=True)
    plain = peak <= math.sqrt(xp.finfo(A.dtype).max / A.shape[axis])
    B = xp.where(plain, A, 0.0)
    scale = (xp.sum(B * B, axis=axis) + eps) ** exponent
    C = xp.where(plain, 1.0, A / xp.where(plain, 1.0, peak))
    log_r = 2.0 * xp.log(xp.where(plain, 1.0, peak)) + xp.log(xp.sum(C * C, axis=axis, keepdims=True))
    log_r = xp.squeeze(log_r, axis=axis)
    robust = xp.exp(exponent * xp.logaddexp(log_r, xp.full_like(log_r, math.log(eps))))
    return xp.where(xp.squeeze(plain, axis=axis), scale, robust)


@boundary
def equilibrate(G, mode="R", *, exponent=-0.5, eps=1e-8, clip=None):
    r"""MuonEq's row ("R"), column ("C") or two-sided ("RC") equilibration of ``G``.

    With :math:`r_i = \sum_j G_{ij}^2`, :math:`c_j = \sum_i G_{ij}^2` and
    :math:`s(x) = (x + \varepsilon)^{e}` (default :math:`e = -1/2`),

    .. math::
        \text{R: } \operatorname{diag}(s(r))\, G, \qquad
        \text{C: } G \operatorname{diag}(s(c)), \qquad
        \text{RC: } \operatorname{diag}(s(r))\, G \operatorname{diag}(s(c)),

    where for "RC" both ``r`` and ``c`` are the squared norms of the same ``G`` (one pass, not
    Sinkhorn balancing). With :math:`e = -1/2` and small ``ε``, "R" gives unit rows and "C"
    unit columns.

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    mode : {"R", "C", "RC"}
        Rows, columns, or both. MuonEq's default for hidden weights is "R".
    exponent : float
        Negative power ``e`` of the squared norms: −1/2 normalizes, −1/4 (also in the official
        code) scales half-way in the log domain.
    eps : float
        Positive shift ``ε`` added to the squared norms (official default 1e-8). Zero rows and
        columns stay zero, never NaN.
    clip : float, optional
        The official ``rowcol_clip``: each scale ``s(x)`` is clamped to ``[1/clip, clip]``
        (``clip ≥ 1``), which bounds how much a row or column can be amplified or damped.
        None (the official default) does not clamp.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``.

    Raises
    ------
    ValueError
        Unknown ``mode``, an ``exponent`` that is not a finite negative number, an ``eps`` that
        is not a finite positive number, a ``clip`` below 1, or bad ``G`` (see :func:`matsign._backend.check_matrix`).

    Notes
    -----
    **It changes the target.** MuonEq feeds :math:`DG` to Newton–Schulz, which approximates
    :math:`\operatorname{msign}(DG)`; in general :math:`\operatorname{msign}(DG) \ne
    \operatorname{msign}(G)`. The gain is conditioning: a matrix whose rows differ widely in
    scale becomes one that finite-step Newton–Schulz orthogonalizes accurately. The rows of the
    "RC" result do not have unit norm in general.

    **Zeroth-order whitening.** :math:`\operatorname{msign}(G) = (GG^T)^{-1/2} G` on the range of
    ``G``; keeping only the diagonal of :math:`GG^T = \operatorname{diag}(r) + \text{off-diagonal}`
    gives :math:`\operatorname{diag}(r)^{-1/2} G`, the "R" mode. So "R" is exact when the rows
    of ``G`` are mutually orthogonal, and "C" when its columns are.

    Departures from the official code (MaeChd/muon-eq, ``llm-baselines/src/optim/muoneq.py``):
    the step-dependent switch from "RC" to "R" (``phase``) belongs to the update rule
    (:class:`matsign.updates.MuonEq`), not to this one-shot function; the official ``inf`` row
    norms of the CIFAR variant are not offered; for 16-bit inputs the squared norms and scales
    are computed in float32 (the official code works in the tensor's own dtype) and the product
    is rounded back once.

    References
    ----------
    .. [1] Chang et al., *MuonEq* (pre-orthogonalization equilibration for Muon),
       arXiv 2603.28254 (official code: MaeChd/muon-eq).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[3.0, 4.0], [0.0, 2.0]])
    >>> equilibrate(G, "R", eps=1e-300)
    array([[0.6, 0.8],
           [0. , 1. ]])
    >>> np.round(equilibrate(G, "C", eps=1e-300), 6)
    array([[1.      , 0.894427],
           [0.      , 0.447214]])
    """
    xp = check_matrix(G, "G")
    row_scale, col_scale = equilibration_factors(G, mode, exponent=exponent, eps=eps, clip=clip)  # checks the options
    A = xp.astype(G, linalg_dtype(G), copy=False)
    if row_scale is not None:
        A = row_scale[..., :, None] * A
    if col_scale is not None:
        A = A * col_scale[..., None, :]
    return xp.astype(A, G.dtype, copy=False)


@boundary
def spectral_proxy_scale(X, *, eps=1e-7):
    r"""MuonEq's spectral-proxy pre-scaling ("spc"): ``X`` divided by ``(‖(XXᵀ)²‖_F + ε)^{1/4}``.

    .. math:: \operatorname{spc}(X) = X \,(\lVert (X X^T)^2 \rVert_F + \varepsilon)^{-1/4},
              \qquad \lVert (X X^T)^2 \rVert_F^{1/4} = \Big(\sum_i \sigma_i^8\Big)^{1/8}
              = \lVert X \rVert_{S_8} \ge \sigma_1,

    with the Gram matrix on the shorter side (``XᵀX`` for tall ``X``; same norm). It replaces
    Newton–Schulz's Frobenius normalization in the official ``zeropower_mode="spc"``: the
    Schatten-8 norm is closer to ``σ₁`` than ``‖X‖_F``, so the small singular values start
    larger, and ``σ₁ ≤ 1`` still holds; feed the result to ``newton_schulz(...,
    normalize="none")``.

    Parameters
    ----------
    X : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    eps : float
        Nonnegative shift ``ε`` added to ``‖(XXᵀ)²‖_F`` (official 1e-7, in ``X``'s own units,
        so it matters only for tiny ``X``); 0 gives the pure Schatten-8 normalization.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``X``; the zero matrix stays zero.

    Raises
    ------
    ValueError
        For a negative or non-finite ``eps``, or bad ``X``.

    Notes
    -----
    The norm is computed on ``X`` divided by its largest entry ``q`` and recombined with ``ε``
    in the log domain, ``(q⁴ N + ε)^{-1/4} = exp(−¼ logaddexp(4 log q + log N, log ε))``
    (``N = ‖(BBᵀ)²‖_F`` for ``B = X/q``), so no scale of ``X`` under- or overflows the fourth
    power of the Gram matrix. The official code forms the Gram
    matrix and its square in bfloat16 (the norm reduced in float32); here they run in ``X``'s
    LAPACK dtype (float32 for 16-bit input).

    References
    ----------
    .. [1] D. Chang et al., *MuonEq*, arXiv 2603.28254 (official code: MaeChd/muon-eq,
       ``zeropower_via_newtonschulz5_spc``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.diag([2.0, 1.0])  # divided by (2⁸ + 1⁸)^{1/8} = 2.00097...
    >>> np.round(spectral_proxy_scale(X, eps=0.0), 6)
    array([[0.999513, 0.      ],
           [0.      , 0.499756]])
    """
    xp = check_matrix(X, "X")
    eps = check_real(eps, "eps", low=0)
    A = xp.astype(X, linalg_dtype(X), copy=False)
    q = xp.max(xp.abs(A), axis=(-2, -1), keepdims=True)
    zero = q == 0
    B = A / xp.where(zero, 1.0, q)
    Bt = xp.matrix_transpose(B)
    gram = B @ Bt if B.shape[-2] <= B.shape[-1] else Bt @ B
    square = gram @ gram
    N = xp.sqrt(xp.sum(square * square, axis=(-2, -1), keepdims=True))
    log_norm = 4.0 * xp.log(xp.where(zero, 1.0, q)) + xp.log(xp.where(zero, 1.0, N))
    log_eps = math.log(eps) if eps > 0 else -math.inf
    factor = xp.exp(-0.25 * xp.logaddexp(log_norm, xp.full_like(log_norm, log_eps)))
    return xp.astype(xp.where(zero, 0.0, A * factor), X.dtype, copy=False)


# ---------------------------------------------------------------- the method "muoneq"


def check_muoneq_params(*, mode, exponent, schedule, steps) -> None:
    """The checks of :func:`equilibrate` and :func:`newton_schulz` on the method's parameters."""
    check_equilibration_params(mode, exponent)
    get_schedule(schedule).steps_coefficients(steps)


def _muoneq(G, *, rng=None, mode="R", exponent=-0.5, schedule="muon", steps=None):
    """Newton–Schulz on MuonEq's equilibrated ``G`` (``rng`` unused)."""
    return newton_schulz(equilibrate(G, mode, exponent=exponent), schedule, steps=steps)


def _muoneq_flops(m, n, *, mode, exponent, schedule, steps):
    return newton_schulz_flops(m, n, schedule, steps)  # the scaling is elementwise work


def _predict_muoneq(spectrum, *, mode, exponent, schedule, steps):
    r"""Certified σ-only bounds for the method ``muoneq``: its target is ``msign(D_r G D_c)``.

    ``X = NS(H)``, ``H = D_r G D_c`` with positive diagonal scalings; its singular values lie
    in the schedule's band ``[l, h]`` (:func:`matsign.exact.schedules.schedule_band`), so the
    alignment is at most ``h`` (von Neumann). For one-sided scaling it is also at least 0 when
    ``l ≥ 0``: with ``H = U'Σ'V'ᵀ`` and mode R, :math:`\langle G, U'\phi V'^T\rangle =
    \sum_i \phi_i \sigma'_i (U'^T D_r^{-1} U')_{ii} \ge 0` since :math:`D_r^{-1} \succ 0` (C
    likewise); two-sided scaling certifies only ``−h``. The errors are those of any matrix
    with singular values in the band (:func:`matsign.prediction.limited_step_bounds`).

    The statistic that would determine it: the singular values of ``H`` (which its row and
    column norms, giving ``D_r`` and ``D_c``, do not fix: one more SVD) for the Newton–Schulz
    error, and the distance between ``msign(H)`` and ``msign(G)`` for the change of target.
    """
    k = spectrum.s.size
    band = schedule_band(schedule, steps=steps)
    low = 0.0 if mode in ("R", "C") and band[0] >= 0 else None
    alignment, error = limited_step_bounds(spectrum, k, band, alignment_low=low)
    return bounded(alignment, error, note="the target moves to msign(D_r G D_c): the spectrum of the "
                   "equilibrated matrix and its sign's distance to msign(G) would determine it")


register(
    "muoneq", _muoneq,
    description="Newton–Schulz on MuonEq's equilibrated D_r·G·D_c (mode R, C or RC): approximates "
    "msign(D_r G D_c), a different target from msign(G)",
    flops=_muoneq_flops, check=check_muoneq_params, label=lambda params: f"MuonEq-{params.get('mode')}",
    predict=_predict_muoneq,
)
