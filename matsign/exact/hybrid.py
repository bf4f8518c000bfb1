r"""A composed sign: one or two dynamically weighted Halley (QDWH) steps, then a polynomial
Newton–Schulz schedule.

The rational steps lift the small singular values (``ℓ₀ = 10⁻³/√n`` goes to 0.11 in one step),
which a polynomial of low degree cannot do; the polynomial then finishes on a well-conditioned
interval with matrix products alone.
"""

from __future__ import annotations

import math

import numpy as np

from matsign._backend import (
    arithmetic,
    as_linalg_dtype,
    boundary,
    check_matrix,
    check_positive_int,
    check_unit_interval,
    device,
)
from matsign.exact.newton_schulz import newton_schulz, newton_schulz_flops
from matsign.exact.normalization import normalized
from matsign.exact.qdwh import QR_FORM_ABOVE, dwh_step, dwh_weights, qdwh_flops
from matsign.exact.schedules import get_schedule, scalar_map
from matsign.prediction import diagonal_outcome, exact
from matsign.registry import register

__all__ = ["MAX_QDWH_STEPS", "check_hybrid_params", "hybrid_flops", "hybrid_sign", "hybrid_values"]

#: Most rational steps: from ``ℓ₀ = eps`` two steps reach 0.057, inside any schedule's range;
#: a third would be most of QDWH itself.
MAX_QDWH_STEPS = 2


@boundary
def hybrid_sign(G, *, qdwh_steps: int = 1, lower: float = 1e-3, schedule="polar_express",
                steps=None):
    r"""``msign(G)`` approximated by ``qdwh_steps`` DWH steps, then a Newton–Schulz schedule.

    On the tall orientation, from :math:`X_0 = G/\|G\|_F` and
    :math:`\ell_0 = \mathrm{lower}/\sqrt n`, each rational step is the QDWH step [1]_
    (:func:`matsign.exact.qdwh.dwh_step`)

    .. math:: X_{k+1} = \tfrac{b_k}{c_k} X_k
              + \bigl(a_k - \tfrac{b_k}{c_k}\bigr) X_k (I + c_k X_k^T X_k)^{-1},

    mapping each singular value by :math:`s \mapsto s(a_k + b_k s^2)/(1 + c_k s^2)`, which keeps
    ``[0, 1]`` and lifts ``[ℓ_k, 1]`` to ``[ℓ_{k+1}, 1]``; then
    :func:`matsign.newton_schulz` runs ``schedule`` on :math:`X_K` unnormalized (its
    singular values are already at most 1; the schedule's own pre-scale applies).

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    qdwh_steps : int, default 1
        Rational steps, 1 or 2.
    lower : float, default 1e-3
        The assumed lower bound on ``σ_min/σ₁``, in (0, 1): it sets the weights. Smaller
        singular values still grow at every step, only more slowly than the weights assume.
    schedule : str, Schedule or triples, default "polar_express"
        Any schedule :func:`matsign.newton_schulz` accepts.
    steps : int, optional
        Newton–Schulz steps; default the schedule's own.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G``; the rational steps run in float64 or float32
        (16-bit inputs in float32), as :func:`matsign.exact.qdwh_sign` does.

    Notes
    -----
    Cost (:func:`hybrid_flops`): a QR-form step (``c_k > 100``, which the first step always is
    for ``lower ≤ 0.05``) ``6mn² + 8n³/3``, a Cholesky-form step ``4mn² + n³/3`` (``m ≥ n``),
    plus the schedule's. Reads: one flag per Cholesky-form step and the divergence check of the
    unnormalized Newton–Schulz run. σ determines the result in exact arithmetic
    (:func:`hybrid_values`).

    **Which schedule.** A named schedule is built for ``[10⁻³, 1]`` and keeps its own error
    band (``polar_express``: about 0.1 relative Frobenius error). The rational steps leave
    ``[ℓ_K, 1]`` (``ℓ₁ ≈ 0.11``, ``ℓ₂ ≈ 0.88`` for ``lower = 10⁻³``, ``n = 128``), for which
    ``polar_express_schedule(k, lower=ℓ_K)`` converges in a few steps: measured on 256 × 128
    float64 matrices (``scripts/hybrid_error_vs_flops.py``), two rational steps and three
    such polynomial steps reach QDWH's error (6e-15 at κ = 10, 2e-14 at κ = 10³) with 26.5
    ``mn²`` flops against QDWH's 31.3; at κ = 10⁵, ``lower = 10⁻³`` leaves 0.14 error and
    ``lower = 10⁻⁵`` (29.7 ``mn²``) 1.2e-12.

    References
    ----------
    .. [1] Y. Nakatsukasa, Z. Bai, F. Gygi, *Optimizing Halley's iteration for computing the
       matrix polar decomposition*, SIAM J. Matrix Anal. Appl. 31 (2010).
    .. [2] N. Amsel, D. Persson, C. Musco, R. M. Gower, *The Polar Express*, arXiv 2505.16932.

    Examples
    --------
    >>> import numpy as np
    >>> X = hybrid_sign(np.diag([1.0, 1e-3]), schedule="polar_express8")
    >>> np.round(np.diag(X), 6)
    array([1., 1.])
    """
    xp = check_matrix(G, "G")
    check_hybrid_params(qdwh_steps=qdwh_steps, lower=lower, schedule=schedule, steps=steps)
    wide = G.shape[-2] < G.shape[-1]
    Y = as_linalg_dtype(xp.matrix_transpose(G) if wide else G)
    n = int(Y.shape[-1])
    X, _ = normalized(Y, "frobenius", 1.0, arithmetic(Y))
    identity = xp.eye(n, dtype=X.dtype, device=device(X))
    ell = lower / math.sqrt(n)
    for _ in range(qdwh_steps):
        X, ell, _ = dwh_step(xp, X, ell, identity)
    X = newton_schulz(X, schedule, steps=steps, normalize="none")
    return xp.astype(xp.matrix_transpose(X) if wide else X, G.dtype)


def check_hybrid_params(*, qdwh_steps, lower, schedule, steps) -> None:
    """Check the parameters of :func:`hybrid_sign` that need no matrix."""
    qdwh_steps = check_positive_int(qdwh_steps, "qdwh_steps")
    if qdwh_steps > MAX_QDWH_STEPS:
        raise ValueError(f"qdwh_steps must be 1 or 2, got {qdwh_steps}")
    check_unit_interval(lower, "lower")
    get_schedule(schedule).steps_coefficients(steps)


def _weights(qdwh_steps, lower, n):
    """The ``(a, b, c)`` of each rational step from ``ℓ₀ = lower/√n``."""
    ell, weights = lower / math.sqrt(n), []
    for _ in range(qdwh_steps):
        a, b, c = dwh_weights(ell)
        weights.append((a, b, c))
        ell = min(1.0, ell * (a + b * ell * ell) / (1 + c * ell * ell))
    return weights


def hybrid_values(s, n, *, qdwh_steps=1, lower=1e-3, schedule="polar_express", steps=None):
    r"""Singular values of ``hybrid_sign(G, ...)`` from those of ``G`` (exact arithmetic).

    :math:`x = \sigma/\|\sigma\|_2`, each rational step :math:`x \mapsto x(a + bx^2)/(1 + cx^2)`,
    then :func:`matsign.scalar_map`. ``n`` is ``min(m, n)`` (it sets ``ℓ₀``).

    Examples
    --------
    >>> np.round(hybrid_values([1.0, 1e-3], 2, schedule="polar_express8"), 6)
    array([1., 1.])
    """
    s = np.asarray(s, dtype=np.float64)
    peak = float(np.max(s, initial=0.0))  # σ/‖σ‖ is scale-free: no square over- or underflows
    x = s / peak if peak > 0 else np.zeros_like(s)
    norm = float(np.linalg.norm(x))
    x = x / norm if norm > 0 else x
    for a, b, c in _weights(qdwh_steps, lower, n):
        x = x * (a + b * x * x) / (1 + c * x * x)
    return scalar_map(x, schedule, steps=steps)


def hybrid_flops(m: int, n: int, qdwh_steps: int = 1, lower: float = 1e-3, schedule="polar_express",
                 steps=None) -> float:
    """Flops of :func:`hybrid_sign` on one ``m × n`` matrix: each rational step in the form it
    takes (:func:`matsign.exact.qdwh_flops`), plus :func:`matsign.exact.newton_schulz_flops`."""
    forms = [c > QR_FORM_ABOVE for _, _, c in _weights(qdwh_steps, lower, min(m, n))]
    rational = qdwh_flops(m, n, sum(forms), len(forms) - sum(forms))
    return float(rational + newton_schulz_flops(m, n, schedule, steps))


def _method(G, *, rng=None, qdwh_steps=1, lower=1e-3, schedule="polar_express", steps=None):
    return hybrid_sign(G, qdwh_steps=qdwh_steps, lower=lower, schedule=schedule, steps=steps)


def _method_flops(m, n, *, qdwh_steps, lower, schedule, steps):
    return hybrid_flops(m, n, qdwh_steps, lower, schedule, steps)


def _method_label(params) -> str:
    return f"{params.get('qdwh_steps', 1)}×QDWH + {params.get('schedule', 'polar_express')}"


def _method_predict(spectrum, *, qdwh_steps, lower, schedule, steps):
    """σ determines the result in exact arithmetic (:func:`hybrid_values`)."""
    values = hybrid_values(spectrum.s, spectrum.s.size, qdwh_steps=qdwh_steps, lower=lower,
                           schedule=schedule, steps=steps)
    note = "exact arithmetic: rounding is not modelled"
    return exact(*diagonal_outcome(spectrum, values), note=note)


register(
    "hybrid", _method,
    description="1–2 dynamically weighted Halley (QDWH) steps, then a Newton–Schulz schedule",
    flops=_method_flops, check=check_hybrid_params, label=_method_label, predict=_method_predict,
)
