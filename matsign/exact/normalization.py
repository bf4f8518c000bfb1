r"""The scalings that start the Newton–Schulz family, and the residual that ends it.

Every iteration of :mod:`matsign.exact` maps the singular values of its start ``X₀ = G/ν(G)``
toward 1, which converges only from ``σ₁(X₀) ≲ 1``: :func:`normalized` computes ``X₀`` for
each norm ``ν`` of :data:`NORMALIZATIONS`. :func:`identity_residual` measures how far an
iterate is from orthonormal rows.
"""

from __future__ import annotations

import math

from matsign._backend import device, generator, linalg_dtype, namespace, standard_normal, to_numpy

__all__ = ["NORMALIZATIONS", "SPECTRAL_POWER_STEPS", "identity_residual", "normalized", "power_sigma1",
           "safe_divide"]

NORMALIZATIONS = ("frobenius", "spectral", "schatten4", "aol", "none")

#: Power-iteration steps of the "spectral" normalization's σ₁ estimate.
SPECTRAL_POWER_STEPS = 16


def normalized(Y, normalize, prescale, ar):
    r"""``X₀ = Y / (c·ν(Y))`` in the working precision, and ``A₀ = X₀X₀ᵀ`` when ``ν`` formed it.

    Parameters
    ----------
    Y : array, shape (..., m, n)
        Checked input in the wide orientation (``m ≤ n``).
    normalize : {"frobenius", "spectral", "schatten4", "aol", "none"}
        The norm ``ν``; see Notes.
    prescale : float
        The schedule's pre-scale ``c``.
    ar : Arithmetic
        The working precision (:func:`matsign._backend.arithmetic`).

    Returns
    -------
    X0 : array, shape (..., m, n)
        Rounded to the working precision. The zero matrix stays zero.
    A0 : array, shape (..., m, m), or None
        ``X₀X₀ᵀ`` for ``"schatten4"`` and ``"aol"``, which form it; else None.

    Notes
    -----
    ``"frobenius"``: ``‖Y‖_F``. ``"spectral"``: a :data:`SPECTRAL_POWER_STEPS`-step power
    estimate of ``σ₁`` (:func:`power_sigma1`), a lower bound. ``"schatten4"``:
    ``‖YYᵀ‖_F^{1/2} ≥ σ₁``. ``"aol"``: the row scaling ``D_ii = (Σ_j |(YYᵀ)_ij|)^{-1/2}`` of
    Turbo-Muon [1]_, with ``‖DY‖₂ ≤ 1`` but target ``msign(DY) ≠ msign(Y)``. ``"none"``: ``ν = 1``.

    The norms run in the wider of ``Y``'s LAPACK dtype and the working precision, on ``Y``
    divided by ``max|Y_ij|`` first, so that no scale under- or overflows. The Gram product of
    ``"schatten4"``/``"aol"`` runs in the working precision on ``Y`` divided by its largest row
    norm: its entries are then at most 1 (Cauchy–Schwarz), so it cannot overflow (float16 would
    once a row holds more than 65504 unit entries) and, unlike ``Y/‖Y‖_F``, its entries stay
    out of float16's subnormal range on tall stacks of rows.

    References
    ----------
    .. [1] T. Boissin et al., *Turbo-Muon*, arXiv 2512.04632.
    """
    xp = namespace(Y)
    work = ar.storage if ar.name == "float64" else linalg_dtype(Y)
    Y = xp.astype(Y, work, copy=False)
    if normalize == "none":
        return ar.enter(Y / prescale), None
    amax = xp.max(xp.abs(Y), axis=(-2, -1), keepdims=True)
    Y = safe_divide(xp, Y, amax)
    if normalize == "frobenius":
        fro = xp.sqrt(xp.sum(Y * Y, axis=(-2, -1), keepdims=True))
        return ar.enter(safe_divide(xp, Y, fro * prescale)), None
    if normalize == "spectral":
        return ar.enter(safe_divide(xp, Y, power_sigma1(xp, Y) * prescale)), None
    rows = xp.max(xp.sum(Y * Y, axis=-1, keepdims=True), axis=-2, keepdims=True)
    Y = safe_divide(xp, Y, xp.sqrt(rows))
    gram = xp.astype(ar.matmul(ar.enter(Y), ar.enter(xp.matrix_transpose(Y))), Y.dtype)
    if normalize == "schatten4":
        s4 = xp.sqrt(xp.sqrt(xp.sum(gram * gram, axis=(-2, -1), keepdims=True))) * prescale
        return ar.enter(safe_divide(xp, Y, s4)), ar.enter(safe_divide(xp, gram, s4 * s4))
    d = xp.sqrt(xp.sum(xp.abs(gram), axis=-1, keepdims=True)) * prescale
    A0 = safe_divide(xp, safe_divide(xp, gram, d), xp.matrix_transpose(d))
    return ar.enter(safe_divide(xp, Y, d)), ar.enter(A0)


def power_sigma1(xp, Y):
    """Rayleigh-quotient estimate of ``σ₁(Y)`` per matrix, shape (..., 1, 1), after
    :data:`SPECTRAL_POWER_STEPS` power steps on ``YYᵀ`` from one fixed-seed start shared by every
    member of a stack (identical members get identical estimates)."""
    v = standard_normal(generator(0, Y), (Y.shape[-2], 1), like=Y)
    for _ in range(SPECTRAL_POWER_STEPS):
        w = Y @ (xp.matrix_transpose(Y) @ v)
        v = safe_divide(xp, w, xp.sqrt(xp.sum(w * w, axis=-2, keepdims=True)))
    Ytv = xp.matrix_transpose(Y) @ v
    return xp.sqrt(xp.sum(Ytv * Ytv, axis=-2, keepdims=True))


def safe_divide(xp, x, d):
    """``x / d`` with ``d = 0`` read as 1 (the zero matrix stays zero)."""
    return x / xp.where(d > 0, d, xp.ones_like(d))


def identity_residual(xp, gram, X) -> float:
    """``max ‖gram − I‖_F`` over the members of the stack ``X`` that are not zero, read to the host.

    Zero matrices stay zero under every iteration here and do not count.
    """
    D = gram - xp.eye(gram.shape[-1], dtype=gram.dtype, device=device(gram))
    per_matrix = xp.where(xp.any(X != 0, axis=(-2, -1)), xp.sum(D * D, axis=(-2, -1)), 0.0)
    return math.sqrt(float(to_numpy(xp.max(per_matrix))))
