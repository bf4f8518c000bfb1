r"""GaLore-Muon and GUM: Muon in a periodically refreshed rank-r subspace, and its unbiased
layerwise-sampled version."""

from __future__ import annotations

from matsign._backend.checks import check_positive_int, check_rank, check_unit_interval
from matsign._backend.random import generator
from matsign.transforms.projection import galore_projector, gum_estimate, gum_lift, residual_ratio
from matsign.updates.base import UpdateRule, check_momentum


class GaLoreMuon(UpdateRule):
    r"""GaLore with Muon as the inner optimizer: momentum and sign in a rank-r subspace.

    Every ``period`` steps (steps 1, K+1, 2K+1, …) the projector is refreshed from the current
    gradient, ``P ← galore_projector(G, rank)`` (top ``rank`` singular vectors on the shorter
    side); then, with momentum coefficient :math:`\beta` [1]_,

    .. math:: R \leftarrow \beta R + \operatorname{down}(G), \qquad
              \text{update} = s \cdot \operatorname{up}(\operatorname{orth}(R)),

    i.e. ``P·orth(R)`` with ``R`` the momentum of ``PᵀG`` on the left (``m ≤ n``), or
    ``orth(R)·Pᵀ`` on the right.

    Parameters
    ----------
    rank : int
        ``1 ≤ rank ≤ min(m, n)`` (checked at the first step).
    period : int, default 200
        ``K``, GaLore's ``update_proj_gap``.
    momentum : float, default 0.95
        :math:`\beta`.
    inner, schedule, steps
        The sign of the small matrix ``R``; see :class:`~matsign.updates.Muon`.
    shape, diagnostics
        See :class:`~matsign.updates.Muon`; GaLore adds ``residual_ratio`` (see Notes).

    Attributes
    ----------
    projector : Projector or None
        The current ``P`` (a new object at every refresh).
    buffer : array or None
        ``R``, of shape ``(rank, n)`` (left) or ``(m, rank)`` (right).

    Notes
    -----
    As in the official GaLore code, the projected momentum is **kept across a refresh**
    without being rotated into the new subspace: right after a refresh ``R`` mixes
    coordinates of the old and the new ``P`` (the known mismatch that GUM [2]_ discusses).

    **Target** of the diagnostics: the lifted momentum ``up(R)``, whose exact sign is
    ``up(msign(R))``; so they measure only the inner Newton–Schulz error. The bias of the
    projection shows in ``residual_ratio`` :math:`\chi_t = \|G_t - PP^TG_t\|_F / \|G_t\|_F`
    (:func:`matsign.transforms.projection.residual_ratio`), which grows within a period as ``P`` goes stale.

    References
    ----------
    .. [1] J. Zhao et al., *GaLore: memory-efficient LLM training by gradient low-rank
       projection*, arXiv 2403.03507.
    .. [2] R. Pan et al., *Unbiased gradient low-rank projection*, arXiv 2510.17802.

    Examples
    --------
    >>> import numpy as np
    >>> rule = GaLoreMuon(1, period=2, inner="exact")
    >>> out = rule.step(np.diag([3.0, 1.0]))
    >>> np.abs(out.update), out.diagnostics["residual_ratio"]  # √(1/10)
    (array([[1., 0.],
           [0., 0.]]), 0.31622776601683794)
    """

    name = "galore_muon"

    def __init__(
        self,
        rank: int,
        *,
        period: int = 200,
        momentum: float = 0.95,
        inner: str = "newton_schulz",
        schedule="muon",
        steps: int | None = None,
        shape: str = "none",
        diagnostics: bool = True,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        self.rank = check_positive_int(rank, "rank")
        self.period = check_positive_int(period, "period")
        self.momentum = check_momentum(momentum)
        self._set_inner(inner, schedule, steps)
        self.projector = None
        self.buffer = None

    def _start(self, xp, G):
        check_rank(self.rank, G.shape)

    def _advance(self, xp, G):
        # GaLore (Zhao et al., arXiv 2403.03507, Alg. 2, Muon for Adam): every K steps, P from SVD(G_t).
        if (self.step_count - 1) % self.period == 0:
            self.projector = galore_projector(G, self.rank)
        # R_t = PᵀG_t (or G_t P), the inner optimizer's momentum kept across refreshes.
        low = self.projector.down(G)
        self.buffer = low if self.buffer is None else self.momentum * self.buffer + low
        # Muon as the inner optimizer: the step orth(R), lifted back by P.
        direction = self.projector.up(self._sign(self.buffer))
        if not self.diagnostics:
            return direction, None, {}
        extra = {"residual_ratio": float(residual_ratio(G, self.projector))}
        return direction, self.projector.up(self.buffer), extra


class GUM(UpdateRule):
    r"""GUM (GaLore Unbiased with Muon): per period, a low-rank or a full-rank branch.

    At the first step of every period of ``K`` steps the projector is refreshed from that
    gradient, ``P ← galore_projector(G, rank)``, and the period's branch is drawn: full rank
    with probability ``q``, low rank otherwise (:func:`matsign.transforms.projection.gum_estimate`). Within
    the period, with momentum coefficient :math:`\beta` [1]_,

    .. math::

        \text{low rank:}\quad R \leftarrow \beta R + \frac{\operatorname{down}(G)}{1-q},
        \qquad \text{update} = s \cdot \operatorname{up}(\operatorname{orth}(R)); \\
        \text{full rank:}\quad R \leftarrow \beta R + \frac{G - \operatorname{up}(\operatorname{down}(G))}{q},
        \qquad \text{update} = s \cdot \big(\operatorname{orth}(R) - \operatorname{up}(\operatorname{down}(\operatorname{orth}(R)))\big).

    Parameters
    ----------
    rank : int
        ``1 ≤ rank ≤ min(m, n)`` (checked at the first step).
    q : float, default 0.5
        Probability of the full-rank branch, ``0 < q < 1`` (0.5 optimizes the paper's
        Theorem 1 per secondary sources).
    period : int, default 200
        ``K``.
    momentum : float, default 0.95
        :math:`\beta`.
    inner, schedule, steps
        See :class:`GaLoreMuon`.
    rng : None, int or generator
        Randomness of the branch draws; the generator is created at the first step.
    shape, diagnostics
        See :class:`~matsign.updates.Muon`; GUM adds ``residual_ratio`` and ``full_rank``
        (see Notes).

    Attributes
    ----------
    projector : Projector or None
        The current period's ``P``.
    branch : {"low_rank", "full_rank"} or None
        The current period's branch.
    buffer : array or None
        The current period's momentum ``R``.

    Notes
    -----
    In the full-rank branch ``R`` lies in the complement of ``span(P)``, so the projection
    leaves ``orth(R)`` unchanged in exact arithmetic; it keeps out of ``span(P)`` the rounding
    noise of ``R`` there, which an exact sign would otherwise raise to unit singular values
    when :math:`\sigma_1(G)/\sigma_{r+1}(G)` is large. The lifted momentum input is unbiased
    over the draw (:func:`matsign.transforms.projection.gum_lift`: :math:`E[\hat g] = G`); the update,
    after the sign, is not. The branch draw reads one uniform number to the host.

    **Choices where the paper's recursion leaves room** (its :math:`R_{t,k}` is indexed by
    the period ``t`` and the step ``k`` inside it; there is no official code):

    - *The branch is drawn once per period, per layer,* not per step: the paper's layerwise
      sampling (``q = γ/N_L``: ``γ`` of the ``N_L`` layers are full-rank in a period), which
      keeps memory low: only the layers drawn full-rank hold an ``m × n`` buffer, for one
      period.
    - *The momentum restarts at zero with every period.* The buffer of a period has the shape
      of its branch, and the low-rank coordinates refer to that period's ``P``; carrying a
      buffer into a period of the other branch would need both buffers at once.

    Within a period the weight ``1/(1−q)`` or ``1/q`` scales every term of ``R`` alike, and
    the sign is scale invariant, so the update does not depend on the weights; they make the
    *estimate* unbiased, and matter to the update only through the branch probabilities.

    **Target** of the diagnostics: the lifted momentum ``up(R)`` (low rank) or ``R`` (full
    rank). ``residual_ratio`` is :math:`\chi_t` of the current gradient against the period's
    ``P``, and ``full_rank`` (1.0 or 0.0) the branch of this step.

    References
    ----------
    .. [1] R. Pan, Y. Luo, Y. Liu, Y. You, T. Zhang, *Unbiased gradient low-rank projection*,
       arXiv 2510.17802.

    Examples
    --------
    >>> import numpy as np
    >>> rule = GUM(1, q=0.5, period=3, inner="exact", rng=0)
    >>> out = rule.step(np.diag([3.0, 1.0]))
    >>> rule.branch, np.abs(out.update)
    ('low_rank', array([[1., 0.],
           [0., 0.]]))
    """

    name = "gum"

    def __init__(
        self,
        rank: int,
        q: float = 0.5,
        *,
        period: int = 200,
        momentum: float = 0.95,
        inner: str = "newton_schulz",
        schedule="muon",
        steps: int | None = None,
        rng=None,
        shape: str = "none",
        diagnostics: bool = True,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        self.rank = check_positive_int(rank, "rank")
        self.q = check_unit_interval(q, "q")
        self.period = check_positive_int(period, "period")
        self.momentum = check_momentum(momentum)
        self._set_inner(inner, schedule, steps)
        self.rng = rng
        self.projector = None
        self.branch = None
        self.buffer = None
        self._generator = None

    def _start(self, xp, G):
        check_rank(self.rank, G.shape)
        self._generator = generator(self.rng, G)

    def _advance(self, xp, G):
        # GUM (Pan et al., arXiv 2510.17802): at a period's first step, P from G_t and the
        # branch drawn (full rank with probability q); the momentum restarts from the estimate.
        if (self.step_count - 1) % self.period == 0:
            self.projector = galore_projector(G, self.rank)
            self.buffer, self.branch = gum_estimate(G, self.projector, self.q, rng=self._generator)
        # Within the period: R ← βR + (G − PPᵀG)/q (full rank) or βR + PᵀG/(1 − q) (low rank).
        elif self.branch == "full_rank":
            self.buffer = self.momentum * self.buffer + self.projector.residual(G) / self.q
        else:
            self.buffer = self.momentum * self.buffer + self.projector.down(G) / (1.0 - self.q)
        sign = self._sign(self.buffer)
        # Full rank: orth(R) − PPᵀorth(R); R lies off span(P), and the projection keeps its
        # rounding noise there out of the step. Low rank: P·orth(R).
        direction = self.projector.residual(sign) if self.branch == "full_rank" else self.projector.up(sign)
        if not self.diagnostics:
            return direction, None, {}
        extra = {
            "residual_ratio": float(residual_ratio(G, self.projector)),
            "full_rank": float(self.branch == "full_rank"),
        }
        return direction, gum_lift(self.buffer, self.branch, self.projector), extra
