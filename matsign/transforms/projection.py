r"""GaLore's low-rank projector and GUM's unbiased two-branch estimate of the gradient.

GaLore (Zhao et al., arXiv 2403.03507; official code jiaweizzhao/GaLore) keeps optimizer state
in a rank-r subspace: ``P`` holds the top ``r`` singular vectors of a gradient on its shorter
side, gradients are projected down (``PᵀG`` or ``GP``), the update is computed there and
projected back up. Projecting discards the residual ``G − PPᵀG``, so the step is biased.

GUM (Pan et al., arXiv 2510.17802) removes that bias by layerwise sampling: with probability
``q`` a layer takes the full-rank branch on the residual, scaled by ``1/q``, otherwise the
low-rank branch on the projection, scaled by ``1/(1 − q)``; the lifted estimate has expectation
``G``. The sign Muon applies afterwards is nonlinear, so the *update* is not unbiased:
``E[msign(ĝ)] = q·msign(G − PPᵀG) + (1 − q)·P·msign(PᵀG) ≠ msign(G)`` in general (for the SVD
projector, ``q·U_⊥V_⊥ᵀ + (1 − q)·U_rV_rᵀ`` against ``UVᵀ``). The stateful rules (periodic
refresh of ``P``, momentum in the projected space) belong to :mod:`matsign.updates`; this module
declares the one-shot methods ``galore`` (``P·msign(PᵀG)``) and ``gum`` (the sign of one draw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matsign._backend import (
    all_finite,
    as_linalg_dtype,
    boundary,
    check_choice,
    check_matrix,
    check_positive_int,
    check_rank,
    check_same_library,
    check_unit_interval,
    dtype_name,
    generator,
    linalg_dtype,
    namespace,
    to_numpy,
    trusted_values,
    uniform,
    values_trusted,
)
from matsign.exact.inner import check_inner, inner_sign, inner_values
from matsign.flops import gemm, svd, svd_sign
from matsign.lowrank import lowrank_msign
from matsign.prediction import diagonal_outcome, distribution, exact
from matsign.registry import register
from matsign.spectral import binary_normalized, binary_scale
from matsign.lowrank.sign import lowrank_sign_flops
from matsign.exact.newton_schulz import newton_schulz_flops

__all__ = [
    "BRANCHES",
    "SIDES",
    "Projector",
    "check_galore_params",
    "check_gum_params",
    "galore_projector",
    "gum_estimate",
    "gum_lift",
    "residual_ratio",
]

#: Which side of ``G`` a projector acts on: "left" (``PᵀG``, ``m ≤ n``) or "right" (``GP``).
SIDES = ("left", "right")

#: GUM's branches: the residual at full rank (probability ``q``) or the projection.
BRANCHES = ("full_rank", "low_rank")


@dataclass(frozen=True, eq=False)
class Projector:
    r"""A rank-r projection onto ``P``'s columns, acting on the left or the right of ``G``.

    - ``side="left"`` (for ``m ≤ n``): ``P`` is ``m × r``; ``down(G) = PᵀG`` (``r × n``),
      ``up(X) = PX``;
    - ``side="right"`` (for ``m > n``): ``P`` is ``n × r``; ``down(G) = GP`` (``m × r``),
      ``up(X) = XPᵀ``;

    and ``residual(G) = G − up(down(G))``, i.e. ``G − PPᵀG`` or ``G − GPPᵀ``. ``P`` should have
    orthonormal columns (not checked). The maps take a matrix or a stack ``(..., m, n)`` of
    ``P``'s library, compute in that array's dtype (``P`` is cast to it) and do not check
    finiteness (linear maps: non-finite input gives non-finite output). Projectors compare by
    identity.

    Attributes
    ----------
    P : array, shape (m, r) or (n, r)
    side : {"left", "right"}

    Examples
    --------
    >>> import numpy as np
    >>> proj = Projector(np.array([[1.0], [0.0]]), "left")
    >>> G = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> proj.down(G), proj.up(proj.down(G)), proj.rank
    (array([[1., 2., 3.]]), array([[1., 2., 3.],
           [0., 0., 0.]]), 1)
    >>> proj.residual(G)
    array([[0., 0., 0.],
           [4., 5., 6.]])
    """

    P: object
    side: str

    def __post_init__(self):
        check_choice(self.side, SIDES, "side")
        check_matrix(self.P, "P", batched=False)
        rows, cols = int(self.P.shape[0]), int(self.P.shape[1])
        if cols > rows:
            raise ValueError(f"P must have orthonormal columns, so at most {rows} of them; got shape {(rows, cols)}")

    @property
    def rank(self) -> int:
        """Number of columns ``r`` of ``P``."""
        return int(self.P.shape[1])

    @property
    def dim(self) -> int:
        """Length of the side of ``G`` that ``P`` acts on (``m`` for "left", ``n`` for "right")."""
        return int(self.P.shape[0])

    def down(self, G):
        """``PᵀG`` (left) or ``GP`` (right): shape ``(..., r, n)`` or ``(..., m, r)``."""
        xp, P = self._operands(G, "G", self.dim)
        return xp.matrix_transpose(P) @ G if self.side == "left" else G @ P

    def up(self, X):
        """``PX`` (left) or ``XPᵀ`` (right): back to the shape of ``G``."""
        xp, P = self._operands(X, "X", self.rank)
        return P @ X if self.side == "left" else X @ xp.matrix_transpose(P)

    def residual(self, G):
        """``G − PPᵀG`` (left) or ``G − GPPᵀ`` (right)."""
        return G - self.up(self.down(G))

    def _operands(self, A, name, size):
        """Namespace and ``P`` in ``A``'s dtype, after checking that ``A`` has ``size`` on our side."""
        xp = check_matrix(A, name, finite=False)
        check_same_library((name, A), ("P", self.P))
        axis = -2 if self.side == "left" else -1
        if int(A.shape[axis]) != size:
            what = "rows" if axis == -2 else "columns"
            raise ValueError(
                f"{name} must have {size} {what} for this {self.side} projector with P of shape "
                f"{tuple(self.P.shape)}; got {name} of shape {tuple(A.shape)}"
            )
        return xp, xp.astype(self.P, A.dtype, copy=False)


@boundary
def galore_projector(G, rank):
    r"""GaLore's projector: the top ``rank`` singular vectors of ``G`` on its shorter side.

    For the thin SVD :math:`G = U \Sigma V^T`: ``P = U[:, :r]`` on the left when ``m ≤ n``,
    ``P = V[:, :r]`` on the right when ``m > n``. Then ``up(down(G))`` is the best rank-r
    approximation :math:`U_r \Sigma_r V_r^T` of ``G`` (Eckart–Young), and ``up(msign(down(G)))``
    the rank-r oracle sign :math:`U_r V_r^T`. Not unique when :math:`\sigma_r = \sigma_{r+1}`.

    Parameters
    ----------
    G : array, shape (m, n)
        Real floating matrix (NumPy, CuPy or PyTorch).
    rank : int
        ``1 ≤ rank ≤ min(m, n)``.

    Returns
    -------
    Projector
        ``P`` of shape ``(m, rank)`` ("left") or ``(n, rank)`` ("right"), in ``G``'s library,
        device and dtype (the SVD runs in float32 for 16-bit inputs, as in the official code).

    Notes
    -----
    Departures from the official code (``GaLoreProjector``, ``proj_type="std"``): square
    matrices are projected on the left here (the shorter-side rule, ties to rows, as elsewhere
    in matsign), on the right there; its ``scale`` factor of the projected-back update is an
    optimizer matter, not part of the projector.

    References
    ----------
    .. [1] J. Zhao et al., *GaLore: memory-efficient LLM training by gradient low-rank
       projection*, arXiv 2403.03507 (official code: jiaweizzhao/GaLore).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[0.0, 3.0, 0.0], [1.0, 0.0, 0.0]])
    >>> proj = galore_projector(G, 1)
    >>> proj.side, np.abs(proj.P)
    ('left', array([[1.],
           [0.]]))
    >>> galore_projector(G.T, 1).side
    'right'
    """
    xp = check_matrix(G, "G", batched=False)
    rank = check_rank(rank, G.shape)
    A = xp.astype(G, linalg_dtype(G), copy=False)
    # The singular vectors are scale-free: a power of two near max|G| (no digit changes) keeps σ₁
    # from overflowing near the dtype's largest value.
    U, _, Vh = xp.linalg.svd(binary_normalized(xp, A), full_matrices=False)
    if G.shape[0] <= G.shape[1]:
        P, side = U[:, :rank], "left"
    else:
        P, side = xp.matrix_transpose(Vh[:rank, :]), "right"
    with trusted_values():  # P comes from the SVD of the checked G; Projector would scan it
        return Projector(xp.astype(P, G.dtype, copy=False), side)


@boundary
def gum_estimate(G, projector, q, *, rng=None):
    r"""One draw of GUM's unbiased two-branch estimate of ``G``.

    With probability ``q`` the branch is ``"full_rank"`` and the estimate is the scaled
    residual; otherwise it is ``"low_rank"`` and the estimate is the scaled projection:

    .. math::
        \hat g = \frac{G - \mathrm{up}(\mathrm{down}(G))}{q} \ \text{(shape of } G\text{)}
        \quad\text{or}\quad
        \hat g = \frac{\mathrm{down}(G)}{1 - q} \ \text{(projected shape)},

    so that :func:`gum_lift` has expectation ``G``. In GUM the full-rank branch feeds Muon's
    momentum directly and the low-rank branch the projected momentum (step ``P·msign(R)``).
    Only the estimate is unbiased: the sign applied afterwards is not linear (see
    :mod:`matsign.transforms.projection`).

    Parameters
    ----------
    G : array, shape (m, n)
        Real floating matrix (NumPy, CuPy or PyTorch).
    projector : Projector
        E.g. from :func:`galore_projector` (in GUM, of the first gradient of the period).
    q : float
        Probability of the full-rank branch, ``0 < q < 1`` (0.5 optimizes GUM's Theorem 1).
    rng : None, int or generator
        Draws one uniform number on ``G``'s device and reads it back to the host: the branch
        decides the shape of the result.

    Returns
    -------
    estimate : array
        Shape ``(m, n)`` ("full_rank") or the projected shape ("low_rank"); ``G``'s library,
        device and dtype.
    branch : {"full_rank", "low_rank"}

    References
    ----------
    .. [1] R. Pan et al., *Unbiased gradient low-rank projection*, arXiv 2510.17802.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> proj = Projector(np.array([[1.0], [0.0]]), "left")
    >>> estimate, branch = gum_estimate(G, proj, 0.5, rng=0)
    >>> branch, estimate
    ('low_rank', array([[4., 0.]]))
    >>> gum_lift(estimate, branch, proj)
    array([[4., 0.],
           [0., 0.]])
    """
    xp = check_matrix(G, "G", batched=False)
    _check_projector(projector)
    q = check_unit_interval(q, "q")
    A = xp.astype(G, linalg_dtype(G), copy=False)
    u = float(to_numpy(uniform(generator(rng, A), (1,), like=A))[0])
    if u < q:
        branch, divisor, part = "full_rank", q, projector.residual(G)
    else:
        branch, divisor, part = "low_rank", 1 - q, projector.down(G)
    estimate = part / divisor
    # G within a factor 1/q or 1/(1 − q) of the dtype's largest value: checked once, at the top
    # (a nested call's float16 result is scanned by its consumer; wider dtypes are trusted there).
    if not values_trusted() and not all_finite(estimate):
        raise ValueError(f"GUM's estimate of G ({branch} branch, divided by {divisor:g}) overflows "
                         f"{dtype_name(G.dtype)}; scale G down")
    return estimate, branch


@boundary
def gum_lift(estimate, branch, projector):
    r"""GUM's estimate in ``G``'s space: ``up(estimate)`` for "low_rank", itself for "full_rank".

    Over the branch draw,
    :math:`E[\hat g_{\uparrow}] = q \cdot \frac{G - PP^TG}{q} + (1-q) \cdot \frac{PP^TG}{1-q} = G`.

    Parameters
    ----------
    estimate : array
        As returned by :func:`gum_estimate`.
    branch : {"full_rank", "low_rank"}
    projector : Projector

    Returns
    -------
    array, shape (m, n)
        ``estimate``'s library, device and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> proj = Projector(np.array([[0.0], [1.0]]), "right")
    >>> gum_lift(np.array([[2.0], [3.0], [4.0]]), "low_rank", proj)
    array([[0., 2.],
           [0., 3.],
           [0., 4.]])
    """
    check_choice(branch, BRANCHES, "branch")
    _check_projector(projector)
    if branch == "low_rank":
        return projector.up(estimate)
    projector._operands(estimate, "estimate", projector.dim)
    return estimate


@boundary
def residual_ratio(G, projector):
    r"""GUM's residual diagnostic :math:`\chi = \|G - \mathrm{up}(\mathrm{down}(G))\|_F / \|G\|_F`.

    The fraction of ``G``'s Frobenius norm that the projection misses: 0 when ``G`` lies in
    ``P``'s span, 1 when it is orthogonal to it; 0 for the zero matrix. Within a GaLore period
    it grows as ``P`` goes stale.

    Parameters
    ----------
    G : array, shape (..., m, n)
    projector : Projector

    Returns
    -------
    array, shape (...)
        In ``G``'s dtype (float32 for 16-bit inputs), on its library and device.

    References
    ----------
    .. [1] R. Pan et al., *Unbiased gradient low-rank projection*, arXiv 2510.17802.

    Examples
    --------
    >>> import numpy as np
    >>> proj = Projector(np.array([[1.0], [0.0]]), "left")
    >>> residual_ratio(np.array([[3.0, 0.0], [0.0, 4.0]]), proj)
    array(0.8)
    """
    xp = check_matrix(G, "G")
    _check_projector(projector)
    A = xp.astype(G, linalg_dtype(G), copy=False)
    # The ratio is scale-free and the residual linear in G: divided by a power of two near its
    # peak, no norm over- or underflows (at 1e300 both norms were inf and the ratio NaN).
    A = binary_normalized(xp, A)
    total = xp.linalg.vector_norm(A, axis=(-2, -1))
    missed = xp.linalg.vector_norm(projector.residual(A), axis=(-2, -1))
    nonzero = total > 0
    return xp.asarray(xp.where(nonzero, missed / xp.where(nonzero, total, 1.0), 0.0))


def _check_projector(projector):
    if not isinstance(projector, Projector):
        raise TypeError(f"projector must be a Projector, got {type(projector).__name__}")


# ---------------------------------------------------------------- the methods "galore" and "gum"


def check_galore_params(*, rank, inner, steps) -> None:
    """Check the method ``galore``'s parameters before any matrix (``rank ≤ min(m, n)`` later)."""
    check_positive_int(rank, "rank")
    check_inner(inner, steps)


def _galore(G, *, rng=None, rank, inner="exact", steps=None):
    """``P·sign(PᵀG)`` (or ``sign(GP)·Pᵀ``) with GaLore's projector of ``G`` (``rng`` unused)."""
    check_galore_params(rank=rank, inner=inner, steps=steps)
    return lowrank_msign(G, galore_projector(G, rank).P, inner=inner, steps=steps)


def _galore_flops(m, n, *, rank, inner, steps):
    return svd(m, n) + lowrank_sign_flops(min(m, n), max(m, n), rank, rank, inner, steps)


def check_gum_params(*, rank, q, inner, steps) -> None:
    """Check the method ``gum``'s parameters before any matrix (``rank ≤ min(m, n)`` later)."""
    check_galore_params(rank=rank, inner=inner, steps=steps)
    check_unit_interval(q, "q")


def _gum(G, *, rng=None, rank, q=0.5, inner="exact", steps=None):
    """The sign of one draw of GUM's estimate, lifted back to ``G``'s space."""
    check_gum_params(rank=rank, q=q, inner=inner, steps=steps)
    # Only the estimate's sign is returned, and it is scale-free: G divided by a power of two near
    # its largest entry keeps G/q and G/(1 − q) finite near the dtype's largest value.
    xp = namespace(G)
    G = G / xp.astype(binary_scale(xp, xp.max(xp.abs(as_linalg_dtype(G)))), G.dtype)  # 16-bit: its max in float32
    projector = galore_projector(G, rank)
    estimate, branch = gum_estimate(G, projector, q, rng=rng)
    sign = inner_sign(estimate, inner, steps)
    if branch == "low_rank":
        # msign(P·B) = P·msign(B) for orthonormal P: only the projected matrix is signed.
        return projector.up(sign)
    # The residual lies in the complement of span(P), and so does its sign in exact arithmetic;
    # projecting the sign back removes the directions inside span(P) that its rounding noise
    # (about eps·σ₁(G), above msign's threshold relative to σ_{rank+1} when σ₁/σ_{rank+1} is
    # large) would otherwise turn into unit singular values.
    return projector.residual(sign)


def _gum_flops(m, n, *, rank, q, inner, steps):
    """Expected over the branch draw: SVD, PᵀG and one product back, then a full sign with
    probability q or a rank × N sign with probability 1 − q."""
    s, N = min(m, n), max(m, n)

    def sign(rows):
        return svd_sign(rows, N) if inner == "exact" else newton_schulz_flops(rows, N, inner, steps)

    return svd(m, n) + gemm(rank, s, N) + gemm(s, rank, N) + q * sign(s) + (1 - q) * sign(rank)


def _projected_values(spectrum, rank, inner, steps, precision):
    r"""Singular values (on ``G``'s singular vectors) of the low-rank branch ``P·sign(PᵀG)``,
    ``P = U_r``: the inner sign of the ``r × max(m, n)`` matrix with singular values σ₁…σ_r,
    whose threshold is that of ``precision`` (GaLore signs ``PᵀG`` as stored, GUM its estimate
    in the working precision)."""
    s = spectrum.s
    top = s[:rank]
    kept = spectrum.kept(top, rank, max(spectrum.m, spectrum.n), precision)
    values = np.zeros_like(s)
    values[:rank] = inner_values(top, inner, steps, kept)
    return values


def _residual_values(spectrum, rank, inner, steps):
    r"""Singular values of the full-rank branch ``sign(G − PPᵀG)``: the inner sign of σ_{r+1}, …"""
    s = spectrum.s
    values = np.zeros_like(s)
    tail = s[rank:]
    if tail.size and tail[0] > 0:
        values[rank:] = inner_values(tail, inner, steps, spectrum.kept(tail, spectrum.m, spectrum.n, spectrum.work))
    return values


def _predict_galore(spectrum, *, rank, inner, steps):
    r"""Exact: GaLore's projector is ``U_r`` from the SVD, so ``P·sign(PᵀG) = U_r f(Σ_r) V_rᵀ``
    with ``f`` the inner sign's map (1 above its threshold for ``"exact"``,
    :func:`matsign.exact.scalar_map` of :math:`\sigma_i/\|\sigma_{\le r}\|_2` for a schedule)."""
    rank = check_rank(rank, (spectrum.m, spectrum.n))
    values = _projected_values(spectrum, rank, inner, steps, spectrum.stored)
    return exact(*diagonal_outcome(spectrum, values))


def _predict_gum(spectrum, *, rank, q, inner, steps):
    r"""Exact distribution: with probability ``q`` the sign of the residual ``U_⊥ Σ_⊥ V_⊥ᵀ/q``
    (``f`` on σ_{r+1}, …, scale-free), else GaLore's ``U_r f(Σ_r) V_rᵀ``; the mean, the std of
    one draw, and the two outcomes as the range."""
    rank = check_rank(rank, (spectrum.m, spectrum.n))
    outcomes = [diagonal_outcome(spectrum, _residual_values(spectrum, rank, inner, steps)),
                diagonal_outcome(spectrum, _projected_values(spectrum, rank, inner, steps,
                                                             spectrum.work))]
    (a_full, e_full), (a_low, e_low) = outcomes
    return distribution([a_full, a_low], [e_full, e_low], [q, 1.0 - q])


register(
    "galore", _galore,
    description="P·msign(PᵀG) with GaLore's SVD projector P = top-r singular vectors of the shorter side; "
    "inner='exact' equals 'oracle' (U_r V_rᵀ) computed by two SVDs, a schedule gives GaLore-Muon's "
    "projected Newton–Schulz step",
    flops=_galore_flops, check=check_galore_params, label="GaLore projector", predict=_predict_galore,
)
register(
    "gum", _gum,
    description="msign of one draw of GUM's unbiased estimate (residual/q with probability q, else "
    "PPᵀG/(1−q)); a single-draw update, biased after the sign (flops: expected over the draw)",
    flops=_gum_flops, check=check_gum_params, label="GUM", predict=_predict_gum,
)
