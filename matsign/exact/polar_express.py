"""Greedy minimax (Remez) construction of Polar Express coefficient lists.

Pure Python / NumPy, float64 throughout: the lists are tiny and are computed
once, on the host, before any matrix is touched.
"""

from __future__ import annotations

import math

import numpy as np

from matsign._backend import check_positive_int, check_real

__all__ = ["minimax_quintic", "polar_express_coefficients"]

# Taylor quintic of the Newton-Schulz family: the limit of the minimax quintic
# on [l, u] as l/u -> 1 (for u = 1).
_TAYLOR_QUINTIC = (15.0 / 8.0, -10.0 / 8.0, 3.0 / 8.0)

# Above this ratio l/u the equioscillation system is numerically singular (its
# four nodes nearly coincide) while the minimax quintic is, to float64
# precision, the Taylor quintic.  The value is the official one; keeping it
# makes the converged lists (which end on the Taylor step) reproducible.
_DEGENERATE_RATIO = 1.0 - 5e-6

# The exchange converges quadratically; a few iterations suffice in practice.
_REMEZ_MAX_ITER = 100
_REMEZ_TOL = 4.0 * np.finfo(np.float64).eps


def _odd_quintic(coeffs: tuple[float, float, float], s: float) -> float:
    """Evaluate ``a s + b s^3 + c s^5`` for ``coeffs = (a, b, c)``."""
    a, b, c = coeffs
    s2 = s * s
    return s * (a + s2 * (b + s2 * c))


def minimax_quintic(lo: float, hi: float) -> tuple[float, float, float]:
    """Odd quintic that best approximates 1 in the sup norm on ``[lo, hi]``.

    Parameters
    ----------
    lo, hi : float
        Interval ends, ``0 < lo <= hi``.

    Returns
    -------
    tuple of float
        ``(a, b, c)`` of ``p(s) = a s + b s^3 + c s^5``; when ``lo/hi`` is
        within ``5e-6`` of 1, the Taylor quintic ``(15/8, -10/8, 3/8)``
        rescaled to ``[0, hi]``; the same where the exchange breaks down just
        below that cut-off (:func:`_remez_unit`).
    """
    ratio = lo / hi
    if ratio >= _DEGENERATE_RATIO:
        a, b, c = _TAYLOR_QUINTIC
    else:
        a, b, c = _remez_unit(ratio)
    # The fit was done in t = s / hi, so p(s) = a (s/hi) + b (s/hi)^3 + ...
    return (a / hi, b / hi**3, c / hi**5)


def _remez_unit(t0: float) -> tuple[float, float, float]:
    """Remez exchange for the minimax odd quintic approximating 1 on ``[t0, 1]``.

    The error ``p - 1`` of the optimum equioscillates on four nodes
    ``t0 < q < r < 1`` with signs ``-, +, -, +``; ``q`` and ``r`` are the
    interior critical points of ``p``.

    The 4 × 4 system ``[t, t³, t⁵, ±1]·(a, b, c, E) = 1`` on the nodes loses
    conditioning as they close in: κ ≈ 60 for ``t0 = 0.02``, 211 at 0.78,
    2.0e6 at ``1 − 2.4e-3``. LU then gives ``(a, b, c)`` to about κ·u, so
    near-degenerate steps differ between LAPACK builds at the 1e-10 level
    (``tests/test_polar_express.py``). Just below the ``1 − 5e-6`` cut-off the rounded
    solution may leave ``p'`` without two real roots in (0, 1); the exchange then returns the
    Taylor quintic, the step the official generator takes from the cut-off on.
    """
    # Chebyshev extrema of a cubic mapped to [t0, 1]: exact in the limit t0 -> 1.
    q = (3.0 * t0 + 1.0) / 4.0
    r = (t0 + 3.0) / 4.0
    signs = np.array([1.0, -1.0, 1.0, -1.0])
    err_prev = math.inf
    for _ in range(_REMEZ_MAX_ITER):
        nodes = np.array([t0, q, r, 1.0])
        # Unknowns (a, b, c, E) of p(t_k) + sign_k E = 1, i.e. p = 1 -+ E.
        system = np.column_stack([nodes, nodes**3, nodes**5, signs])
        a, b, c, err = np.linalg.solve(system, np.ones(4))
        # New interior nodes: the roots of p'(t) = a + 3 b t^2 + 5 c t^4.
        disc = 9.0 * b * b - 20.0 * a * c
        q2 = (-3.0 * b - math.sqrt(max(disc, 0.0))) / (10.0 * c)
        if not (disc >= 0.0 and q2 >= 0.0):
            # Breakdown just below the cut-off: rounding left p' without two real critical points
            # in (0, 1). The nodes have merged numerically, so the optimum is the Taylor quintic
            # to float64 precision (its error 1 − p(t0) is O((1 − t0)³)).
            return _TAYLOR_QUINTIC
        q = math.sqrt(q2)
        r = math.sqrt((-3.0 * b + math.sqrt(disc)) / (10.0 * c))
        if abs(err - err_prev) <= _REMEZ_TOL:
            return (float(a), float(b), float(c))
        err_prev = err
    raise RuntimeError(
        f"Remez exchange did not converge on [{t0!r}, 1] "
        f"in {_REMEZ_MAX_ITER} iterations"
    )


def polar_express_coefficients(
    steps: int,
    *,
    lower: float = 1e-3,
    safety: float = 0.02,
    cushion: float = 0.02,
) -> tuple[tuple[float, float, float], ...]:
    r"""Polar Express coefficient list by greedy minimax (Remez) composition.

    Builds ``steps`` odd quintics :math:`p_k(s) = a_k s + b_k s^3 + c_k s^5`
    for the Newton-Schulz-type iteration
    :math:`X \leftarrow a_k X + b_k (XX^\top) X + c_k (XX^\top)^2 X`, which maps
    every singular value :math:`\sigma \mapsto p_k(\sigma)`.  An interval
    :math:`[\ell, u]` holding the normalized singular values starts at
    :math:`\ell = \mathrm{lower}`, :math:`u = 1`; each step

    1. fits the minimax odd quintic on the cushioned interval,

       .. math:: p = \operatorname*{arg\,min}_{p \text{ odd quintic}}
                 \max_{s \in [\max(\ell, \gamma u),\, u]} |1 - p(s)|,

       with :math:`\gamma` = ``cushion`` (Remez exchange on four
       equioscillation points; for :math:`\ell/u \ge 1 - 5\cdot10^{-6}` the
       Taylor quintic :math:`(15/8, -10/8, 3/8)` rescaled to :math:`[0, u]`);
    2. if the cushion was active (:math:`\gamma u > \ell`), rescales
       :math:`p \leftarrow 2p / (p(\ell) + p(u))`, so that
       :math:`p(\ell)` and :math:`p(u)` straddle 1 symmetrically;
    3. on every step but the last, replaces :math:`p(s)` by
       :math:`p(s / (1 + \varepsilon))` with :math:`\varepsilon` = ``safety``,
       i.e. divides coefficient :math:`k` (:math:`a, b, c` for
       :math:`k = 0, 1, 2`) by :math:`(1 + \varepsilon)^{2k + 1}`;
    4. updates :math:`\ell \leftarrow p(\ell)` with the returned (safety-divided)
       polynomial, and :math:`u \leftarrow 2 - \ell`.

    Parameters
    ----------
    steps : int
        Number of quintics, a positive integer.
    lower : float, default 1e-3
        Assumed lower bound on the normalized singular values, ``0 < lower < 1``.
    safety : float, default 0.02
        Safety margin :math:`\varepsilon \ge 0` against singular values slightly
        above 1 (e.g. from low-precision arithmetic); not applied to the last step.
    cushion : float, default 0.02
        Relative floor :math:`\gamma \in [0, 1)` of the interval each quintic is fitted on
        (keeps the first steps from over-fitting tiny singular values).

    Returns
    -------
    tuple of tuple of float
        ``steps`` triples ``(a, b, c)``, in order of application.  ``steps=5``
        with the defaults gives the list shipped by microsoft/dion and
        modded-nanogpt; ``steps=5, safety=0, cushion=0`` gives the CANS list.

    Raises
    ------
    ValueError
        If ``steps`` is not a positive integer, or ``lower``, ``safety`` or
        ``cushion`` is not a finite number in its range.

    References
    ----------
    .. [1] N. Amsel, D. Persson, C. Musco, R. M. Gower, "The Polar Express:
       Optimal Matrix Sign Methods and Their Application to the Muon
       Algorithm", arXiv:2505.16932, 2025.
    .. [2] CANS (Chebyshev-optimized Newton-Schulz), arXiv:2506.10935, 2025:
       the same greedy construction without cushion or safety factor.

    Examples
    --------
    >>> coeffs = polar_express_coefficients(5)
    >>> len(coeffs)
    5
    >>> [round(x, 4) for x in coeffs[0]]
    [8.1566, -22.4833, 15.8788]
    """
    steps = check_positive_int(steps, "steps")
    lower = check_real(lower, "lower", low=0, high=1, open_low=True, open_high=True)
    safety = check_real(safety, "safety", low=0)
    cushion = check_real(cushion, "cushion", low=0, high=1, open_high=True)

    scale = 1.0 + safety
    lo, hi = lower, 1.0
    coefficients = []
    for step in range(int(steps)):
        floor = cushion * hi
        poly = minimax_quintic(max(lo, floor), hi)
        if floor > lo:
            rescale = 2.0 / (_odd_quintic(poly, lo) + _odd_quintic(poly, hi))
            poly = tuple(rescale * x for x in poly)
        if step < steps - 1:
            poly = (poly[0] / scale, poly[1] / scale**3, poly[2] / scale**5)
        coefficients.append(poly)
        lo = _odd_quintic(poly, lo)
        hi = 2.0 - lo
    return tuple(coefficients)
