"""Newton–Schulz iteration for the matrix sign with any odd-polynomial schedule."""

from __future__ import annotations

import math

import numpy as np

from matsign._backend import (
    arithmetic,
    boundary,
    check_choice,
    check_matrix,
    check_positive_int,
    check_precision,
    device,
)
from matsign.exact.normalization import NORMALIZATIONS, SPECTRAL_POWER_STEPS, normalized
from matsign.exact.schedules import SCHEDULES, get_schedule, scalar_map
from matsign.prediction import diagonal_outcome, exact
from matsign.registry import register

__all__ = [
    "DIVERGED",
    "NORMALIZATIONS",
    "SPECTRAL_POWER_STEPS",
    "check_newton_schulz_params",
    "newton_schulz",
    "newton_schulz_flops",
    "newton_schulz_step",
    "newton_schulz_values",
    "predict_newton_schulz",
]

#: With ``normalize="none"``, a result entry above this magnitude means the iteration diverged:
#: a convergent schedule maps every singular value into a neighbourhood of [0, 1] (Muon's into
#: [0.7, 1.2]), and an entry of ``X`` is at most ``σ₁(X)``.
DIVERGED = 1e3


@boundary
def newton_schulz(G, schedule="muon", *, steps: int | None = None, normalize: str = "frobenius", dtype=None):
    r"""Approximate ``msign(G)`` by an odd-polynomial Newton–Schulz iteration.

    On the wide orientation (``m ≤ n``), from ``X₀ = G / (c·ν(G))``,

    .. math:: A_k = X_k X_k^T, \qquad X_{k+1} = a_k X_k + (b_k A_k + c_k A_k^2)\, X_k,

    so each singular value follows ``s ↦ a_k s + b_k s³ + c_k s⁵`` (:func:`scalar_map`).

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    schedule : str, Schedule or list of (a, b, c)
        A name from :data:`SCHEDULES`, a :class:`Schedule`, or coefficient triples.
    steps : int, optional
        Number of steps; default the schedule's own. Fewer truncate the list, more repeat its
        last triple.
    normalize : {"frobenius", "spectral", "schatten4", "aol", "none"}
        The norm ``ν`` (:func:`matsign.exact.normalization.normalized`); ``c`` is the
        schedule's pre-scale.
    dtype : str or dtype, optional
        Working precision: ``"float64"``, ``"float32"``, ``"tfloat32"``, ``"bfloat16"``,
        ``"float16"`` (default: ``G``'s); see Notes.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``. The zero matrix gives the zero matrix.

    Raises
    ------
    ValueError
        For bad ``G`` or parameters; with ``normalize="none"``, when the iteration diverged to
        a non-finite result (Notes).

    Notes
    -----
    A quintic step costs ``4m²n + 2m³`` flops, a cubic one (``c_k = 0``) ``4m²n``
    (:func:`newton_schulz_flops`), all formed into buffers allocated once: beyond the
    normalization, a native precision holds ``X``, ``A`` and the next ``X``, ``(2 + m/n)`` times the input
    (2.25× at 1024 × 4096), with results bit for bit those of allocating products. 16-bit formats are native on PyTorch and emulated on
    NumPy/CuPy; ``"tfloat32"`` (float32 storage, products on TF32 operands) is native on PyTorch
    CUDA tensors of Ampere or newer GPUs and emulated elsewhere
    (:mod:`matsign._backend.precision`). The normalization runs in at least float32.

    ``"spectral"`` estimates ``σ₁`` from below, so singular values near a cluster at the top
    may start slightly above 1: Muon-type schedules tolerate it, the aggressive first steps of
    ``polar_express``/``cans`` amplify it (prefer ``frobenius`` or ``schatten4`` with those).
    ``"aol"`` changes the target to ``msign(DG)``.

    ``"none"`` leaves convergence to the caller: each step maps ``s ↦ p_k(s)``, which grows
    without bound above a schedule-dependent threshold (``√3`` for the cubic), so a ``G``
    with too large a spectral norm diverges, to huge entries or to NaN/Inf once they overflow.
    The result is then checked (one more read to the host): an entry that is not finite or
    exceeds :data:`DIVERGED` in magnitude raises a ``ValueError`` that says to normalize.

    References
    ----------
    .. [1] N. J. Higham, *Functions of Matrices*, SIAM 2008, §8.3 (Newton–Schulz).
    .. [2] K. Jordan et al., *Muon* (2024).
    .. [3] N. Amsel, D. Persson, C. Musco, R. M. Gower, *The Polar Express*, arXiv 2505.16932.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.diag([1.0, 0.1, 0.01])
    >>> np.round(np.diag(newton_schulz(G, "polar_express8")), 4)
    array([1., 1., 1.])
    """
    xp = check_matrix(G, "G")
    sched, triples = check_newton_schulz_params(schedule=schedule, steps=steps, dtype=dtype)
    check_choice(normalize, NORMALIZATIONS, "normalize")
    ar = arithmetic(G, dtype)
    tall = G.shape[-2] > G.shape[-1]
    X, A = normalized(xp.matrix_transpose(G) if tall else G, normalize, sched.prescale, ar)
    # Three buffers for the whole loop: X_k, A_k and W, into which X_{k+1} is written (then the
    # two swap); A_k² is formed in W's first m² entries (m ≤ n). Nothing is allocated per step
    # but W once more after the first: X₀ may have any layout, the product outputs are C-ordered.
    formed = A is not None  # the "schatten4" and "aol" norms formed A₀ already
    gram_shape = (*X.shape[:-2], int(X.shape[-2]), int(X.shape[-2]))
    if A is None:
        A = xp.empty(gram_shape, dtype=X.dtype, device=device(X))
    W = None
    for step, (a, b, c) in enumerate(triples):
        if W is None:
            W = xp.empty(X.shape, dtype=X.dtype, device=device(X))
        if not formed:
            ar.matmul_into(X, xp.matrix_transpose(X), A)  # A_k = X_k X_kᵀ
        formed = False
        if c != 0:  # B_k = b_k A_k + c_k A_k², formed in W, kept in A
            A[...] = ar.matmul_add_into(b, A, c, A, A, leading_block(xp, W, gram_shape))
        else:
            A *= b
            A = ar.round(A)
        X, W = ar.matmul_add_into(a, X, 1.0, A, X, W), (X if step > 0 else None)  # X_{k+1} = a_k X_k + B_k X_k
    if normalize == "none" and not bool(xp.all(xp.abs(X) <= DIVERGED)):  # False for NaN too
        raise ValueError(
            "newton_schulz with normalize='none' diverged (an entry of the result is non-finite or "
            f"above {DIVERGED:g} in magnitude): the singular "
            "values of G/c were beyond the schedule's convergence region (for the cubic σ₁ > √3); "
            "normalize G first, e.g. normalize='frobenius'"
        )
    X = xp.matrix_transpose(X) if tall else X
    return xp.astype(X, G.dtype, copy=False)


def check_newton_schulz_params(*, schedule, steps, dtype):
    """Check the parameters of :func:`newton_schulz` that need no matrix.

    Returns
    -------
    schedule : Schedule
    triples : tuple of (a, b, c)
        The coefficients of the ``steps`` steps.
    """
    sched = get_schedule(schedule)
    triples = sched.steps_coefficients(steps)
    if dtype is not None:
        check_precision(dtype)
    return sched, triples


def newton_schulz_step(ar, X, A, a, b, c):
    r"""One Newton–Schulz step :math:`a X + (b A + c A^2) X` for ``A = X Xᵀ``, in arithmetic ``ar``."""
    B = ar.matmul_add(b, A, c, A, A) if c != 0 else ar.round(b * A)
    return ar.matmul_add(a, X, 1.0, B, X)


def leading_block(xp, W, shape):
    """The first ``prod(shape)`` entries of the C-contiguous array ``W``, viewed with ``shape``
    (a view: reshaping contiguous memory copies nothing)."""
    return xp.reshape(xp.reshape(W, (-1,))[: math.prod(shape)], shape)


def newton_schulz_flops(m: int, n: int, schedule, steps: int | None = None) -> float:
    """Flops of :func:`newton_schulz` on one ``m × n`` matrix: ``4s²N + 2s³`` per quintic step,
    ``4s²N`` per cubic one (``s = min(m, n)``, ``N = max(m, n)``; general GEMMs).

    Examples
    --------
    >>> newton_schulz_flops(2, 3, "muon")  # 5 × (4·4·3 + 2·8)
    320.0
    """
    m, n = check_positive_int(m, "m"), check_positive_int(n, "n")
    s, N = min(m, n), max(m, n)
    triples = get_schedule(schedule).steps_coefficients(steps)
    return float(sum(4 * s * s * N + (2 * s**3 if c != 0 else 0) for _, _, c in triples))


def _method(G, *, rng=None, schedule="muon", steps=None, dtype=None):
    return newton_schulz(G, schedule, steps=steps, dtype=dtype)


def _method_flops(m, n, *, schedule, steps, dtype):
    return newton_schulz_flops(m, n, schedule, steps)


def _method_label(params) -> str:
    schedule = params.get("schedule", "muon")
    return SCHEDULES[schedule].label if isinstance(schedule, str) and schedule in SCHEDULES else str(schedule)


def newton_schulz_values(s, schedule, steps=None, *, normalize="frobenius"):
    r"""Singular values of ``newton_schulz(G, schedule, steps=steps, normalize=normalize)`` from
    those of ``G``, in exact arithmetic: :math:`\phi(\sigma_i/\nu)`, :math:`\phi` =
    :func:`scalar_map` (pre-scale included).

    Parameters
    ----------
    s : array_like
        All singular values of ``G`` (zeros may be left out).
    schedule, steps
        As in :func:`newton_schulz`.
    normalize : {"frobenius", "schatten4", "spectral", "none"}
        ``ν`` = :math:`\|\sigma\|_2`, :math:`\|\sigma\|_4`, :math:`\sigma_1`, 1. ``"spectral"``
        uses the exact ``σ₁``; the iteration's 16-step power estimate approaches it from below
        (equal to it to a few digits unless the top two singular values nearly tie). ``"aol"``
        is not a function of σ (its row scaling depends on the singular vectors) and raises.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(newton_schulz_values(np.array([1.0, 1.0]), "muon"), 4)
    array([1.1081, 1.1081])
    """
    check_choice(normalize, ("frobenius", "schatten4", "spectral", "none"), "normalize")
    s = np.asarray(s, dtype=np.float64)
    if normalize == "none":
        return scalar_map(s, schedule, steps=steps)
    # σ/ν is scale-free: dividing by σ₁ first keeps the squares and fourth powers of the norm
    # from over- or underflowing (σ beyond 1e154 or below 1e-154 in float64).
    peak = float(np.max(s, initial=0.0))
    if not peak > 0:
        return np.zeros_like(s)
    x = s / peak
    norm = {"frobenius": lambda: np.linalg.norm(x), "schatten4": lambda: np.sum(x**4) ** 0.25,
            "spectral": lambda: 1.0}[normalize]()
    return scalar_map(x / norm, schedule, steps=steps)


def predict_newton_schulz(spectrum, *, schedule, steps, dtype):
    r"""The exact prediction of the method ``newton_schulz`` (and of ``gram_newton_schulz``).

    Newton–Schulz keeps the singular vectors of ``G`` and maps each singular value through
    the schedule's composed polynomial, :math:`f_i = \phi(\sigma_i/\|G\|_F)`
    (:func:`newton_schulz_values`), so :func:`matsign.prediction.diagonal_outcome` gives
    alignment and error exactly — the singular values below the reference's threshold count
    in the error with their :math:`f_i^2`. ``dtype``'s rounding is not modelled: the
    prediction is the float64 (and, to about 1e-6, the float32) result.
    """
    values = newton_schulz_values(spectrum.s, schedule, steps)
    note = "exact arithmetic: the rounding of a 16-bit working precision is not modelled" if dtype else ""
    return exact(*diagonal_outcome(spectrum, values), note=note)


register(
    "newton_schulz", _method,
    description="odd-polynomial Newton–Schulz iteration with a named schedule (Frobenius normalization) "
    "in the working precision dtype (None: the input's; bfloat16/float16 emulated on NumPy and CuPy, "
    "tfloat32 everywhere but PyTorch CUDA)",
    flops=_method_flops, check=check_newton_schulz_params, label=_method_label, predict=predict_newton_schulz,
)
