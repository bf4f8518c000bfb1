r"""Low-rank Muon (He, Deng, Lu): Muon's momentum, orthogonalized by the rank-r operator
``Q·msign(QᵀT)``."""

from __future__ import annotations

from matsign._backend.checks import check_positive_int, check_rank
from matsign._backend.random import generator
from matsign.lowrank.sign import check_range_options, sketched_msign
from matsign.exact.inner import check_inner_dtype
from matsign.updates.base import UpdateRule, check_momentum, muon_momentum


class LowRankMuon(UpdateRule):
    r"""Low-rank Muon: momentum as in :class:`Muon`, then a rank-r sign of it.

    Per step, with :math:`T_t` the Nesterov input ``G_t + μM_t`` (or ``M_t``) of :class:`Muon`,

    .. math:: \text{update} = s \cdot Q_t \operatorname{orth}(Q_t^T T_t), \qquad
              Q_t = \operatorname{range}(T_t),

    computed by :func:`matsign.lowrank.sketched_msign`: ``Q_t`` is a fresh basis each step,
    from a Gaussian sketch or from ``rank`` selected columns, drawn from the rule's generator.

    Parameters
    ----------
    rank : int
        ``1 ≤ rank ≤ min(m, n)``, and ``rank + oversample ≤ min(m, n)`` (checked at the first
        step, before the momentum is updated).
    momentum : float, default 0.95
        See :class:`Muon`.
    nesterov : bool, default True
        See :class:`Muon`; the official code uses Nesterov momentum with β = 0.95.
    range : {"gaussian", "column"}
        How ``Q_t`` is found (:func:`matsign.lowrank.sketched_msign`).
    inner, schedule, steps
        The sign of the small ``rank × n`` matrix; see :class:`Muon`.
    inner_dtype : str, optional
        Working precision of the inner Newton–Schulz (:func:`matsign.newton_schulz`'s
        ``dtype``; default the gradient's): ``"bfloat16"`` is the official code's choice.
        Only with ``inner="newton_schulz"``.
    rng : None, int or generator
        Randomness of the range finder; created at the first step and drawn from at every
        step, so one seed fixes the whole sequence.
    full_rank_side : int, optional
        Matrices with a side ≤ ``full_rank_side`` get the full inner sign of ``T_t`` instead
        (the official code's size fallback, 500); default: the rank-r operator at every size.
    shape, diagnostics
        See :class:`Muon`.
    **options
        Range-finder options, checked at construction: ``oversample``, ``power_iters``,
        ``normalizer`` (Gaussian), ``strategy`` (column).

    Attributes
    ----------
    buffer : array or None
        The momentum ``M_t``.

    Notes
    -----
    **Target** of the diagnostics: ``T_t``; the relative error therefore includes the rank
    floor :math:`\sqrt{\rho - r}/\sqrt{\rho}` (:func:`matsign.metrics.rank_floor`).

    Departures from the official code (dengzhanwang/Low-rank-Muon): it always selects columns
    uniformly (``range="column"``, ``strategy="uniform"`` here) and falls back to full
    Newton–Schulz for matrices with a side ≤ 500 (``full_rank_side=500`` here); by default this
    rule applies the low-rank operator to every shape, so small matrices can be studied, and it
    offers the Gaussian range as well.

    References
    ----------
    .. [1] C. He, Z. Deng, Z. Lu, *Low-rank orthogonalization for large-scale matrix
       optimization with applications to foundation model training*, arXiv 2509.11983.

    Examples
    --------
    >>> import numpy as np
    >>> rule = LowRankMuon(1, momentum=0.0, inner="exact", oversample=1, rng=0)
    >>> out = rule.step(np.diag([3.0, 1.0, 0.0]))  # rank 2: the sketch of width 2 is exact
    >>> np.round(out.update, 6) + 0.0
    array([[1., 0., 0.],
           [0., 0., 0.],
           [0., 0., 0.]])
    >>> round(out.diagnostics["alignment"], 6)  # 3 / (3 + 1)
    0.75
    """

    name = "lowrank_muon"

    def __init__(
        self,
        rank: int,
        momentum: float = 0.95,
        *,
        nesterov: bool = True,
        range: str = "gaussian",
        inner: str = "newton_schulz",
        schedule="muon",
        steps: int | None = None,
        inner_dtype: str | None = None,
        rng=None,
        full_rank_side: int | None = None,
        shape: str = "none",
        diagnostics: bool = True,
        **options,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        self.rank = check_positive_int(rank, "rank")
        self.momentum = check_momentum(momentum)
        self.nesterov = bool(nesterov)
        self.options = check_range_options(range, options)
        self.range = range
        self._set_inner(inner, schedule, steps)
        check_inner_dtype(self.sign_spec, inner_dtype)
        self.inner_dtype = inner_dtype
        self.rng = rng
        if full_rank_side is not None:
            check_positive_int(full_rank_side, "full_rank_side")
        self.full_rank_side = full_rank_side
        self.buffer = None
        self._generator = None

    def _full_rank(self, G) -> bool:
        """Whether ``G``'s size falls back to the full sign (``full_rank_side``)."""
        return self.full_rank_side is not None and min(G.shape) <= self.full_rank_side

    def _start(self, xp, G):
        # The sketch width is checked here, before the first step touches the momentum.
        if not self._full_rank(G):
            check_rank(self.rank + self.options.get("oversample", 0), G.shape, "rank + oversample")
        self._generator = generator(self.rng, G)
        self.buffer = xp.zeros_like(G)  # M₀ = 0

    def _advance(self, xp, G):
        # Muon's momentum and its Nesterov input T_t, as the low-rank Muon code (arXiv 2509.11983).
        self.buffer, target = muon_momentum(self.buffer, G, self.momentum, self.nesterov)
        if self._full_rank(G):
            return self._sign(target), target, {}
        # The rank-r sign Q·orth(QᵀT_t), Q a fresh range of T_t (Gaussian sketch or columns).
        direction = sketched_msign(
            target, self.rank, range=self.range, inner=self.sign_spec, steps=self.steps,
            dtype=self.inner_dtype, rng=self._generator, **self.options,
        )
        return direction, target, {}
