r"""Spectral clipping: ``U·min(Σ, τ)·Vᵀ``, the Frobenius projection onto ``{X : ‖X‖₂ ≤ τ}``.

Two routes: exactly through the SVD, and through two polar factors (Newton–Schulz) by an
identity that needs matrix products only. The second is σ-determined, so its error is
predicted exactly (:func:`clip_values`); it degrades for singular values near ``τ``.
"""

from __future__ import annotations

import numpy as np

from matsign._backend import (
    as_linalg_dtype,
    boundary,
    check_choice,
    check_matrix,
    check_real,
)
from matsign.exact.newton_schulz import newton_schulz, newton_schulz_flops, newton_schulz_values
from matsign.exact.schedules import get_schedule
from matsign.flops import gemm, svd_sign
from matsign.prediction import diagonal_outcome, exact
from matsign.registry import register

__all__ = [
    "CLIP_ROUTES", "check_clip_params", "clip_values", "spectral_clip", "spectral_clip_flops",
]

#: How :func:`spectral_clip` computes the clipped matrix.
CLIP_ROUTES = ("svd", "newton_schulz")


@boundary
def spectral_clip(G, tau: float = 1.0, *, route: str = "svd", schedule="polar_express", steps=None):
    r"""Clip the singular values of ``G`` at ``τ``: :math:`U \min(\Sigma, \tau) V^T` [1]_.

    For the thin SVD :math:`G = U\Sigma V^T`, the result is the Frobenius-nearest matrix of
    spectral norm at most ``τ``: singular values at or below ``τ`` are kept, larger ones
    lowered to ``τ``. With ``route="newton_schulz"`` it is computed from polar factors alone,

    .. math:: P = \operatorname{msign}(G), \quad S = \operatorname{msign}(G - \tau P), \quad
              \operatorname{clip}_\tau(G) = \tfrac12\bigl(G + \tau P - S P^T (G - \tau P)\bigr),

    each ``msign`` by :func:`matsign.newton_schulz` (Notes: the derivation).

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack (NumPy, CuPy or PyTorch).
    tau : float, default 1.0
        The threshold ``τ > 0``, absolute (in ``G``'s units), as in [1]_; ``τ ≥ σ₁`` returns
        ``G``, ``τ → 0`` approaches ``τ·msign(G)``.
    route : {"svd", "newton_schulz"}
        The exact SVD, or the polar identity with Newton–Schulz signs.
    schedule : str, Schedule or triples, default "polar_express"
        The Newton–Schulz schedule of both signs (``route="newton_schulz"`` only).
    steps : int, optional
        Newton–Schulz steps (default the schedule's own); only with ``route="newton_schulz"``.

    Returns
    -------
    array, shape (..., m, n)
        Same library, device and dtype as ``G`` (the SVD of a 16-bit input runs in float32).

    Notes
    -----
    **Derivation.** :math:`\min(\sigma, \tau) = (\sigma + \tau - |\sigma - \tau|)/2`. With
    :math:`P = UV^T`, :math:`G - \tau P = U(\Sigma - \tau)V^T` has the singular vectors of
    ``G`` and the signed values :math:`d_i = \sigma_i - \tau`, so
    :math:`S = \operatorname{msign}(G - \tau P) = U\operatorname{sign}(D)V^T` and
    :math:`S P^T (G - \tau P) = U \operatorname{sign}(D) D V^T = U|D|V^T`. On the null space
    of ``G`` every term is zero. The products are taken in the cheaper order (``SPᵀ`` is
    ``m × m`` on a wide ``G``, ``PᵀD`` is ``n × n`` on a tall one): two Newton–Schulz runs and
    ``4 min(m,n)² max(m,n)`` flops more.

    **Accuracy near τ.** With Newton–Schulz signs, ``P`` and ``S`` map each value through the
    schedule's polynomial ``φ`` (:func:`clip_values`). ``S`` sees ``|σ_i − τ|/‖G − τP‖_F``, so
    its sign is far from ±1 for values near ``τ``, but it multiplies ``|σ_i − τ|``: the error
    there is at most ``|σ_i − τ|/2``, small in absolute terms. The sign error of a large
    ``σ_i`` is multiplied by ``σ_i`` instead, and dominates:
    ``scripts/spectral_clip_near_tau.py`` measures both on 128 × 256 float64 matrices.

    References
    ----------
    .. [1] A. Yi, *MuCon: clipped Muon updates for LLM training*, arXiv:2605.26459.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.diag([4.0, 2.0, 0.5])
    >>> np.diag(spectral_clip(G, 1.0))
    array([1. , 1. , 0.5])
    >>> X = spectral_clip(G, 1.0, route="newton_schulz", schedule="polar_express8")
    >>> np.round(np.diag(X), 4)
    array([1. , 1. , 0.5])
    """
    xp = check_matrix(G, "G")
    tau = check_clip_params(tau=tau, route=route, schedule=schedule, steps=steps)
    if route == "svd":
        U, S, Vh = xp.linalg.svd(as_linalg_dtype(G), full_matrices=False)
        X = (U * xp.clip(S, max=tau)[..., None, :]) @ Vh
        return xp.astype(X, G.dtype)
    P = newton_schulz(G, schedule, steps=steps)
    D = G - tau * P
    S = newton_schulz(D, schedule, steps=steps)
    Pt = xp.matrix_transpose(P)
    absolute = (S @ Pt) @ D if G.shape[-2] <= G.shape[-1] else S @ (Pt @ D)
    return 0.5 * (G + tau * P - absolute)


def check_clip_params(*, tau, route, schedule, steps) -> float:
    """Check the parameters of :func:`spectral_clip` that need no matrix; return ``tau``."""
    tau = check_real(tau, "tau", low=0, open_low=True)
    check_choice(route, CLIP_ROUTES, "route")
    get_schedule(schedule).steps_coefficients(steps)
    if route == "svd" and steps is not None:
        raise ValueError("steps applies only to route='newton_schulz'")
    return tau


def clip_values(s, tau, *, route="svd", schedule="polar_express", steps=None):
    r"""Singular values of ``spectral_clip(G, tau, ...)`` from those of ``G`` (exact arithmetic).

    ``"svd"``: :math:`\min(\sigma_i, \tau)`. ``"newton_schulz"``: with
    :math:`p_i = \phi(\sigma_i/\|\sigma\|_2)`, :math:`d_i = \sigma_i - \tau p_i` and
    :math:`q_i = \operatorname{sign}(d_i)\,\phi(|d_i|/\|d\|_2)` (``φ``: the schedule's composed
    polynomial, :func:`matsign.exact.newton_schulz_values`), the value
    :math:`(\sigma_i + \tau p_i - q_i p_i d_i)/2`.

    Examples
    --------
    >>> clip_values([3.0, 0.5], 1.0)
    array([1. , 0.5])
    """
    s = np.asarray(s, dtype=np.float64)
    if route == "svd":
        return np.minimum(s, tau)
    p = newton_schulz_values(s, schedule, steps)
    d = s - tau * p
    q = np.sign(d) * newton_schulz_values(np.abs(d), schedule, steps)
    return 0.5 * (s + tau * p - q * p * d)


def spectral_clip_flops(m: int, n: int, route: str = "svd", schedule="polar_express",
                        steps=None) -> float:
    """Flops of :func:`spectral_clip` on one ``m × n`` matrix: the SVD route as
    :func:`matsign.flops.svd_sign`; the Newton–Schulz route two runs plus ``4s²N`` for the
    two products (``s = min(m, n)``, ``N = max(m, n)``)."""
    if route == "svd":
        return float(svd_sign(m, n))
    s, N = min(m, n), max(m, n)
    return float(2 * newton_schulz_flops(m, n, schedule, steps) + gemm(s, s, N) + gemm(s, N, s))


def _method(G, *, rng=None, tau=1.0, route="svd", schedule="polar_express", steps=None):
    return spectral_clip(G, tau, route=route, schedule=schedule, steps=steps)


def _method_flops(m, n, *, tau, route, schedule, steps):
    return spectral_clip_flops(m, n, route, schedule, steps)


def _method_check(*, tau, route, schedule, steps):
    check_clip_params(tau=tau, route=route, schedule=schedule, steps=steps)


def _method_label(params) -> str:
    tau = params.get("tau", 1.0)
    route = params.get("route", "svd")
    how = "SVD" if route == "svd" else params.get("schedule", "polar_express")
    return f"clip τ={tau:g} ({how})"


def _method_predict(spectrum, *, tau, route, schedule, steps):
    """Both routes keep the singular vectors: the values of :func:`clip_values` decide (exact).
    ``tau`` is absolute, so the σ as given (``spectrum.s·spectrum.scale``) enter."""
    values = clip_values(spectrum.s * spectrum.scale, tau, route=route, schedule=schedule, steps=steps)
    note = "exact arithmetic: rounding is not modelled"
    return exact(*diagonal_outcome(spectrum, values), note=note)


register(
    "spectral_clip", _method,
    description="U·min(Σ, τ)·Vᵀ (MuCon clipping, τ absolute) by the SVD or by two Newton–Schulz "
    "polar factors",
    flops=_method_flops, check=_method_check, label=_method_label, predict=_method_predict,
)
