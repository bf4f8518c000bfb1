r"""MUD: Muon's Nesterov momentum whitened by triangular solves instead of the polar factor."""

from __future__ import annotations

from matsign.transforms.whitening import check_mud_params, mud_whiten
from matsign.updates.base import UpdateRule, check_momentum, muon_momentum


class MUD(UpdateRule):
    r"""MUD (momentum decorrelation) [1]_: :func:`matsign.transforms.mud_whiten` of the
    Nesterov momentum.

    Per step, with ``M₀ = 0``: :math:`M_t = \mu M_{t-1} + G_t`, :math:`T_t = G_t + \mu M_t`
    (or :math:`M_t`), and the update is ``s · mud_whiten(T_t, passes, eps)``: ``passes``
    rounds of row normalization, ``T = tril(QQᵀ)``, ``Q ← T⁻¹Q`` and row normalization.

    Parameters
    ----------
    momentum : float, default 0.95
        :math:`\mu \in [0, 1)`.
    passes : int, default 1
        Whitening passes.
    eps : float, default 1e-8
        Added to the row norms, relative to the largest (:func:`matsign.transforms.mud_whiten`).
    nesterov : bool, default True
        Whiten ``G + μM`` instead of ``M``.
    shape : {"none", "spectral", "match_rms"}
    diagnostics : bool, default True
        Report ``alignment`` and ``relative_error`` against ``msign(T_t)``.

    Attributes
    ----------
    buffer : array or None
        The momentum ``M_t``.

    Notes
    -----
    The paper's step scale ``0.2·√max(m, n)`` is left to ``shape`` (the update has unit rows on
    the shorter side, the Frobenius norm of a full-rank sign).

    References
    ----------
    .. [1] B. S. Southworth, S. Thomas, *Beyond Muon: MUD (MomentUm Decorrelation) for faster
       transformer training*, arXiv:2603.17970.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(MUD(diagnostics=False).step(np.diag([3.0, 0.5])).update, 6)
    array([[1., 0.],
           [0., 1.]])
    """

    name = "mud"

    def __init__(
        self,
        momentum: float = 0.95,
        *,
        passes: int = 1,
        eps: float = 1e-8,
        nesterov: bool = True,
        shape: str = "none",
        diagnostics: bool = True,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        self.momentum = check_momentum(momentum)
        self.passes, self.eps = check_mud_params(passes=passes, eps=eps)
        self.nesterov = bool(nesterov)
        self.buffer = None

    def _start(self, xp, G):
        self.buffer = xp.zeros_like(G)

    def _advance(self, xp, G):
        self.buffer, target = muon_momentum(self.buffer, G, self.momentum, self.nesterov)
        return mud_whiten(target, passes=self.passes, eps=self.eps), target, {}
