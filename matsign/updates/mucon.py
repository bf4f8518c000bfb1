r"""MuCon: Muon's momentum, then spectral clipping of the singular values instead of the sign."""

from __future__ import annotations

from matsign.exact.clip import check_clip_params, spectral_clip
from matsign.updates.base import UpdateRule, check_momentum, muon_momentum


class MuCon(UpdateRule):
    r"""MuCon [1]_: the Muon momentum with its singular values clipped at ``τ``.

    Per step, with momentum coefficient :math:`\mu` and ``M₀ = 0``,

    .. math::

        M_t = \mu M_{t-1} + G_t, \qquad T_t = G_t + \mu M_t \ (\text{or } M_t), \qquad
        \text{update} = s \cdot U \min(\Sigma, \tau) V^T \quad (T_t = U \Sigma V^T),

    :func:`matsign.exact.spectral_clip` of ``T_t``, exactly by the SVD or by two Newton–Schulz
    polar factors; ``s`` is the shape factor.

    Parameters
    ----------
    momentum : float, default 0.95
        :math:`\mu \in [0, 1)`.
    tau : float, default 1.0
        The clipping threshold ``τ > 0``, absolute (in the units of ``T_t``).
    nesterov : bool, default True
        Clip ``G + μM`` instead of ``M``.
    route : {"svd", "newton_schulz"}
        How the clipping is computed (:func:`matsign.exact.spectral_clip`).
    schedule : str, Schedule or triples, default "polar_express"
        The Newton–Schulz schedule (``route="newton_schulz"``).
    steps : int, optional
        Newton–Schulz steps; only with ``route="newton_schulz"``.
    shape : {"none", "spectral", "match_rms"}
        Learning-rate shape factor (:func:`matsign.updates.shape_factor`).
    diagnostics : bool, default True
        Report ``alignment`` and ``relative_error`` against ``msign(T_t)``: how far clipping
        stays from Muon's direction (0 error once every σ exceeds ``τ = 1``).

    Attributes
    ----------
    buffer : array or None
        The momentum ``M_t``.

    References
    ----------
    .. [1] A. Yi, *MuCon: clipped Muon updates for LLM training*, arXiv:2605.26459.

    Examples
    --------
    >>> import numpy as np
    >>> MuCon(momentum=0.5, tau=1.0, diagnostics=False).step(np.diag([3.0, 0.25])).update
    array([[1.   , 0.   ],
           [0.   , 0.375]])
    """

    name = "mucon"

    def __init__(
        self,
        momentum: float = 0.95,
        *,
        tau: float = 1.0,
        nesterov: bool = True,
        route: str = "svd",
        schedule="polar_express",
        steps: int | None = None,
        shape: str = "none",
        diagnostics: bool = True,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        self.momentum = check_momentum(momentum)
        self.tau = check_clip_params(tau=tau, route=route, schedule=schedule, steps=steps)
        self.nesterov = bool(nesterov)
        self.route, self.schedule, self.steps = route, schedule, steps
        self.buffer = None

    def _start(self, xp, G):
        self.buffer = xp.zeros_like(G)  # M₀ = 0

    def _advance(self, xp, G):
        self.buffer, target = muon_momentum(self.buffer, G, self.momentum, self.nesterov)
        clipped = spectral_clip(target, self.tau, route=self.route, schedule=self.schedule,
                                steps=self.steps)
        return clipped, target, {}
