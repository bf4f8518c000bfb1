"""Newton–Schulz iteration for the matrix sign with any odd-polynomial schedule."""

from __future__ import annotations

import math

from matsign._backend import (
    boundary,
    arithmetic,
    check_choice,
    check_matrix,
    device,
    generator,
    linalg_dtype,
    standard_normal,
    to_numpy,
)
from matsign.exact.schedules import get_schedule

NORMALIZATIONS = ("frobenius", "spectral", "schatten4", "aol", "none")

#: Power-iteration steps of the "spectral" normalization's σ₁ estimate.
SPECTRAL_POWER_STEPS = 16


@boundary
def newton_schulz(G, schedule="muon", *, steps: int | None = None, normalize: str = "frobenius", dtype=None):
    r"""Approximate ``msign(G)`` by an odd-polynomial Newton–Schulz iteration.

    On the wide orientation (``m ≤ n``; tall inputs are transposed and transposed back), with
    ``X₀ = G / (c·ν(G))`` for the normalization ``ν`` and the schedule's pre-scale ``c``,

    .. math:: A_k = X_k X_k^T, \qquad X_{k+1} = a_k X_k + (b_k A_k + c_k A_k^2)\, X_k,

    so each singular value follows ``s ↦ a_k s + b_k s³ + c_k s⁵`` (see :func:`scalar_map`).
    A quintic step costs ``4m²n + 2m³`` flops, a cubic one (``c_k = 0``) ``4m²n``.

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
        ``ν(G)``: ``‖G‖_F`` (scale invariant for any representable scale: ``G`` is first divided
        by ``max|G_ij|``, so neither ``1e-30`` nor ``1e30`` inputs under/overflow);
        ``"spectral"``: a 16-step power-iteration estimate of ``σ₁`` from a fixed-seed start
        shared by every member of a stack (a Rayleigh quotient, hence a lower bound: singular
        values near a cluster at the top may start slightly above 1, which Muon-type schedules
        tolerate but the aggressive first steps of ``polar_express``/``cans`` amplify — prefer
        ``frobenius`` or ``schatten4`` with those); ``"schatten4"``: ``‖GGᵀ‖_F^{1/2} ≥ σ₁``,
        reusing the first Gram product; ``"aol"``: the diagonal row scaling
        ``D_ii = (Σ_j |(GGᵀ)_ij|)^{-1/2}`` of Turbo-Muon (arXiv 2512.04632), which guarantees
        ``‖DG‖₂ ≤ 1`` but changes the target to ``msign(DG) ≠ msign(G)``; ``"none"``: ``ν = 1``
        (the caller has normalized).
    dtype : str or dtype, optional
        Working precision: ``"float64"``, ``"float32"``, ``"tfloat32"``, ``"bfloat16"``,
        ``"float16"`` (default: ``G``'s). 16-bit formats are native on PyTorch and emulated on
        NumPy/CuPy; ``"tfloat32"`` (float32 storage, products on TF32 operands) is native on
        PyTorch CUDA tensors of Ampere or newer GPUs and emulated elsewhere (see
        :mod:`matsign._backend.precision`). The normalization is computed in at least float32,
        and in float64 when either ``G`` or the working precision is float64; only the Gram
        product that ``"schatten4"`` and ``"aol"`` reuse as the first step's ``A₀`` runs in the
        working precision (on ``G`` divided by its largest row norm, whose Gram entries are at
        most 1: no overflow).

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``. The zero matrix gives the zero matrix.

    References
    ----------
    N. J. Higham, *Functions of Matrices*, SIAM 2008, §8.3 (Newton–Schulz);
    K. Jordan et al., *Muon* (2024); N. Amsel et al., *The Polar Express*, arXiv 2505.16932.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.diag([1.0, 0.1, 0.01])
    >>> np.round(np.diag(newton_schulz(G, "polar_express8")), 4)
    array([1., 1., 1.])
    """
    xp, triples, ar, tall, X, A = _start(G, schedule, steps, normalize, dtype)
    return _finish(xp, _iterate(xp, ar, X, A, triples), G, tall)


def _iterate(xp, ar, X, A, triples):
    """``X`` after one :func:`_step` per triple; ``A`` is ``X Xᵀ`` when the caller formed it."""
    for triple in triples:
        X = _step(xp, ar, X, A, triple)
        A = None
    return X


def _step(xp, ar, X, A, triple):
    """One step ``a X + (b A + c A²) X`` with ``A = X Xᵀ`` (formed here when ``A`` is None)."""
    a, b, c = triple
    if A is None:
        A = ar.matmul(X, xp.matrix_transpose(X))
    B = ar.matmul_add(b, A, c, A, A) if c != 0 else ar.round(b * A)
    return ar.matmul_add(a, X, 1.0, B, X)


def _start(G, schedule, steps, normalize, dtype):
    """Checks and set-up shared by the Newton–Schulz variants.

    Returns ``(xp, triples, ar, tall, X₀, A₀)``: the namespace, the coefficient triples, the
    working-precision :class:`Arithmetic`, whether ``G`` was transposed to the wide orientation,
    the normalized input (rounded to the working precision) and its Gram matrix when the
    normalization already formed it (else None).
    """
    xp = check_matrix(G, "G")
    sched = get_schedule(schedule)
    triples = sched.steps_coefficients(steps)
    check_choice(normalize, NORMALIZATIONS, "normalize")
    ar = arithmetic(G, dtype)
    tall = G.shape[-2] > G.shape[-1]
    # The normalization runs in the wider of the input's LAPACK dtype and the working precision.
    work = ar.storage if ar.name == "float64" else linalg_dtype(G)
    Y = xp.astype(xp.matrix_transpose(G) if tall else G, work, copy=False)
    X, A = _normalized(xp, Y, normalize, sched.prescale, ar)
    return xp, triples, ar, tall, ar.enter(X), A


def _identity_residual(xp, gram, X):
    """``max ‖gram − I‖_F`` over the members of the stack ``X`` that are not zero (zero matrices
    stay zero under every iteration here and do not count), read back to the host."""
    D = gram - xp.eye(gram.shape[-1], dtype=gram.dtype, device=device(gram))
    per_matrix = xp.where(xp.any(X != 0, axis=(-2, -1)), xp.sum(D * D, axis=(-2, -1)), 0.0)
    return math.sqrt(float(to_numpy(xp.max(per_matrix))))


def _finish(xp, X, G, tall):
    """``X`` back in ``G``'s orientation and dtype."""
    X = xp.matrix_transpose(X) if tall else X
    return xp.astype(X, G.dtype, copy=False)


def _safe_divide(xp, x, d):
    return x / xp.where(d > 0, d, xp.ones_like(d))


def _normalized(xp, Y, normalize, prescale, ar):
    """Return ``(X₀, A₀)``: the scaled input and, when the norm needed it, its Gram matrix."""
    if normalize == "none":
        return Y / prescale, None
    # Scaling by the largest entry first keeps every norm below from under- or overflowing.
    amax = xp.max(xp.abs(Y), axis=(-2, -1), keepdims=True)
    Y = _safe_divide(xp, Y, amax)
    if normalize == "frobenius":
        fro = xp.sqrt(xp.sum(Y * Y, axis=(-2, -1), keepdims=True))
        return _safe_divide(xp, Y, fro * prescale), None
    if normalize == "spectral":
        return _safe_divide(xp, Y, _power_sigma1(xp, Y) * prescale), None
    # The Gram product runs in the working precision on Y divided by its largest row norm: its
    # Gram entries are then at most 1 (Cauchy–Schwarz) with the largest diagonal entry 1, so it
    # cannot overflow (in float16, that of Y itself would once a row holds more than 65504 unit
    # entries), and, unlike Y/‖Y‖_F, its entries stay out of float16's subnormal range on tall
    # stacks of rows. Both norms below are scale invariant.
    rows = xp.max(xp.sum(Y * Y, axis=-1, keepdims=True), axis=-2, keepdims=True)
    Y = _safe_divide(xp, Y, xp.sqrt(rows))
    gram = ar.matmul(ar.enter(Y), ar.enter(xp.matrix_transpose(Y)))
    gram = xp.astype(gram, Y.dtype)
    if normalize == "schatten4":
        s4 = xp.sqrt(xp.sqrt(xp.sum(gram * gram, axis=(-2, -1), keepdims=True))) * prescale
        return _safe_divide(xp, Y, s4), ar.enter(_safe_divide(xp, gram, s4 * s4))
    d = xp.sqrt(xp.sum(xp.abs(gram), axis=-1, keepdims=True)) * prescale
    X = _safe_divide(xp, Y, d)
    return X, ar.enter(_safe_divide(xp, _safe_divide(xp, gram, d), xp.matrix_transpose(d)))


def _power_sigma1(xp, Y):
    """Rayleigh-quotient estimate of σ₁(Y) per matrix, shape (..., 1, 1), after power steps on YYᵀ."""
    # One start shared by every member of a stack: identical members get identical estimates.
    v = standard_normal(generator(0, Y), (Y.shape[-2], 1), like=Y)
    for _ in range(SPECTRAL_POWER_STEPS):
        w = Y @ (xp.matrix_transpose(Y) @ v)
        v = _safe_divide(xp, w, xp.sqrt(xp.sum(w * w, axis=-2, keepdims=True)))
    Ytv = xp.matrix_transpose(Y) @ v
    return xp.sqrt(xp.sum(Ytv * Ytv, axis=-2, keepdims=True))
