r"""NorMuon: Muon's orthogonalized momentum with each neuron (row) normalized by a running
second moment."""

from __future__ import annotations

from matsign._backend import check_real
from matsign.updates.base import UpdateRule, check_momentum, muon_momentum


class NorMuon(UpdateRule):
    r"""NorMuon [1]_: Newton–Schulz of the momentum, then neuron-wise second-moment normalization.

    Per step, with ``M₀ = 0``, ``v₀ = 0`` (one entry per row of ``G``: a neuron of an
    ``out × in`` weight),

    .. math::

        M_t = \mu M_{t-1} + G_t, \quad O_t = \operatorname{orth}(M_t), \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\,\operatorname{mean}_j (O_t \odot O_t)_{:, j},

    .. math::

        \hat O_t = O_t \oslash (\sqrt{v_t} + \varepsilon), \qquad
        \text{update} = s \cdot \hat O_t \, \|O_t\|_F / \|\hat O_t\|_F,

    with ``orth`` the exact sign or a Newton–Schulz schedule and ``s`` the shape factor.

    Parameters
    ----------
    momentum : float, default 0.95
        :math:`\mu = \beta_1 \in [0, 1)`.
    beta2 : float, default 0.95
        Decay of the per-row second moment, in ``[0, 1)``.
    eps : float, default 1e-8
        ``ε ≥ 0`` added to ``√v``.
    nesterov : bool, default False
        Orthogonalize ``G + μM`` instead of ``M`` (the paper uses ``M``).
    inner : {"newton_schulz", "exact"}
    schedule : str, Schedule or triples, default "muon"
    steps : int, optional
        As in :class:`matsign.updates.Muon`.
    shape : {"none", "spectral", "match_rms"}
    diagnostics : bool, default True
        Report ``alignment`` and ``relative_error`` against ``msign(M_t)`` (the Nesterov input
        with ``nesterov``).

    Attributes
    ----------
    buffer : array or None
        The momentum ``M_t``.
    second_moment : array or None
        ``v_t``, shape ``(m, 1)``.

    Notes
    -----
    Departures from the paper: its momentum is an exponential average (``(1 − β₁)G``), which
    the sign's normalization cancels; its step scale ``0.2·√(mn)/‖Ô_t‖_F`` (an Adam-matched
    RMS) is replaced by ``‖O_t‖_F/‖Ô_t‖_F``, so the update has Muon's Frobenius norm and the
    distances to ``msign`` measure the direction alone (``shape`` sets the scale).

    References
    ----------
    .. [1] Z. Li, L. Liu, C. Liang, W. Chen, T. Zhao, *NorMuon: making Muon more efficient and
       scalable*, arXiv:2510.05491.

    Examples
    --------
    >>> import numpy as np
    >>> rule = NorMuon(inner="exact", diagnostics=False)
    >>> np.round(rule.step(np.array([[3.0, 0.0], [0.0, 1.0]])).update, 12)
    array([[1., 0.],
           [0., 1.]])
    """

    name = "normuon"

    def __init__(
        self,
        momentum: float = 0.95,
        *,
        beta2: float = 0.95,
        eps: float = 1e-8,
        nesterov: bool = False,
        inner: str = "newton_schulz",
        schedule="muon",
        steps: int | None = None,
        shape: str = "none",
        diagnostics: bool = True,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        self.momentum = check_momentum(momentum)
        self.beta2 = check_momentum(beta2, "beta2")
        self.eps = check_real(eps, "eps", low=0)
        self.nesterov = bool(nesterov)
        self._set_inner(inner, schedule, steps)
        self.buffer = None
        self.second_moment = None

    def _start(self, xp, G):
        self.buffer = xp.zeros_like(G)
        self.second_moment = xp.zeros_like(G[:, :1])

    def _advance(self, xp, G):
        self.buffer, target = muon_momentum(self.buffer, G, self.momentum, self.nesterov)
        O = self._sign(target)
        # Li et al. (arXiv 2510.05491): v_t = β₂v_{t−1} + (1 − β₂)·mean over columns of O⊙O.
        self.second_moment = self.beta2 * self.second_moment + (1 - self.beta2) * xp.mean(
            O * O, axis=1, keepdims=True
        )
        normalized = O / (xp.sqrt(self.second_moment) + self.eps)
        norm = xp.linalg.vector_norm(normalized)
        scale = xp.where(norm > 0, xp.linalg.vector_norm(O) / xp.where(norm > 0, norm, 1.0), 0.0)
        return normalized * scale, target, {}
