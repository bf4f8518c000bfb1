r"""Muon and MuonEq: momentum, optional Nesterov look-ahead and pre-equilibration, then an
orthogonalization of the whole matrix."""

from __future__ import annotations

from matsign._backend import check_choice, check_positive_int
from matsign.exact.newton_schulz import newton_schulz
from matsign.transforms.equilibration import check_clip, check_exponent, equilibrate, spectral_proxy_scale
from matsign.updates.base import UpdateRule, check_momentum, muon_momentum

#: Pre-orthogonalization scalings of MuonEq (see :func:`matsign.transforms.equilibration.equilibrate`).
EQUILIBRATIONS = ("R", "C", "RC")


class Muon(UpdateRule):
    r"""Muon: orthogonalized momentum, with optional MuonEq equilibration.

    Per step, with momentum coefficient :math:`\mu` and ``M₀ = 0``,

    .. math::

        M_t = \mu M_{t-1} + G_t, \qquad
        T_t = \begin{cases} G_t + \mu M_t & \text{nesterov} \\ M_t & \text{heavy ball}\end{cases},
        \qquad \text{update} = s \cdot \operatorname{orth}(E(T_t)),

    with ``s`` the shape factor, ``orth`` the exact sign or a Newton–Schulz schedule, and
    ``E`` the identity or MuonEq's row / column / two-sided scaling.

    Parameters
    ----------
    momentum : float, default 0.95
        :math:`\mu \in [0, 1)`.
    nesterov : bool, default True
        Orthogonalize ``G + μM`` instead of ``M``; ``False`` is heavy-ball Muon.
    inner : {"newton_schulz", "exact"}
        Newton–Schulz with ``schedule`` and ``steps``, or the exact sign by SVD.
    schedule : str, Schedule or triples, default "muon"
        Any schedule :func:`matsign.newton_schulz` accepts.
    steps : int, optional
        Newton–Schulz steps (default: the schedule's own); only with ``inner="newton_schulz"``.
    equilibration : {None, "R", "C", "RC"}
        MuonEq's scaling of ``T_t`` (:func:`matsign.transforms.equilibration.equilibrate`); ``None`` is
        plain Muon.
    exponent : float, default -0.5
        Exponent of the row / column squared norms (MuonEq also uses −0.25); only with
        ``equilibration``.
    clip : float, optional
        MuonEq's ``rowcol_clip``: the row / column scales clamped to ``[1/clip, clip]``
        (:func:`matsign.transforms.equilibration.equilibrate`); only with ``equilibration``.
    phase : int, optional
        MuonEq's ``phase``, only with ``equilibration="RC"``: steps ``t < phase`` (counted from
        1) scale rows and columns, steps ``t ≥ phase`` rows only ("R").
    spc : bool, default False
        MuonEq's ``zeropower_mode="spc"``: start Newton–Schulz from
        :func:`matsign.transforms.equilibration.spectral_proxy_scale` of the (equilibrated)
        input, ``X₀ = X (‖(XXᵀ)²‖_F + 10⁻⁷)^{-1/4}``, instead of ``X/‖X‖_F``; only with
        ``inner="newton_schulz"``.
    shape : {"none", "spectral", "match_rms"}
        Learning-rate shape factor (:func:`matsign.updates.shape_factor`).
    diagnostics : bool, default True
        Report ``alignment`` and ``relative_error`` against ``msign(T_t)`` (an SVD per step).

    Attributes
    ----------
    buffer : array or None
        The momentum ``M_t`` (created at the first step).

    Notes
    -----
    **Target** of the diagnostics: ``T_t`` (the Nesterov input or the momentum), *not* the
    equilibrated matrix, so with ``equilibration`` they measure how far the scaling moves the
    step from ``msign(T_t)``. ``nesterov=False`` is the rule Dion2 reduces to with fraction 1.

    Departures from the official code [1]_: it writes the momentum as an exponential average
    (``M ← μM + (1−μ)G``, Nesterov input ``(1−μ)G + μM``), which differs from the sum form
    here only by the factor ``1 − μ`` that every normalization of the sign removes; its shape
    factor ``max(1, m/n)^{1/2}`` is not one of the named factors (choose ``"spectral"`` or
    ``"match_rms"`` [2]_); it orthogonalizes in bfloat16, while this rule works in the
    gradient's dtype.

    References
    ----------
    .. [1] K. Jordan et al., *Muon: an optimizer for hidden layers in neural networks* (2024).
    .. [2] J. Liu et al., *Muon is scalable for LLM training*, arXiv 2502.16982.
    .. [3] D. Chang et al., *MuonEq: balancing before orthogonalization with lightweight
       equilibration*, arXiv 2603.28254.

    Examples
    --------
    >>> import numpy as np
    >>> rule = Muon(momentum=0.5, inner="exact")
    >>> out = rule.step(np.diag([3.0, 1.0]))
    >>> out.update
    array([[1., 0.],
           [0., 1.]])
    >>> out.diagnostics
    {'alignment': 1.0, 'relative_error': 0.0}
    >>> rule.buffer
    array([[3., 0.],
           [0., 1.]])
    """

    name = "muon"

    def __init__(
        self,
        momentum: float = 0.95,
        *,
        nesterov: bool = True,
        inner: str = "newton_schulz",
        schedule="muon",
        steps: int | None = None,
        equilibration: str | None = None,
        exponent: float = -0.5,
        clip: float | None = None,
        phase: int | None = None,
        spc: bool = False,
        shape: str = "none",
        diagnostics: bool = True,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        self.momentum = check_momentum(momentum)
        self.nesterov = bool(nesterov)
        self._set_inner(inner, schedule, steps)
        if equilibration is not None and equilibration not in EQUILIBRATIONS:
            raise ValueError(f"equilibration must be None or one of {EQUILIBRATIONS}, got {equilibration!r}")
        if equilibration is None and (exponent != -0.5 or clip is not None):
            raise ValueError("exponent and clip apply only with an equilibration ('R', 'C' or 'RC')")
        if phase is not None and equilibration != "RC":
            raise ValueError(
                f"phase switches 'RC' to 'R' and applies only with equilibration='RC', got {equilibration!r}"
            )
        if spc and inner != "newton_schulz":
            raise ValueError(
                "spc replaces the Newton–Schulz normalization and applies only with inner='newton_schulz'"
            )
        self.equilibration = equilibration
        self.exponent = check_exponent(exponent)
        self.clip = check_clip(clip)
        self.phase = None if phase is None else check_positive_int(phase, "phase")
        self.spc = bool(spc)
        self.buffer = None

    def _start(self, xp, G):
        self.buffer = xp.zeros_like(G)  # M₀ = 0

    def _advance(self, xp, G):
        # Jordan et al. (2024): M_t = μM_{t−1} + G_t; the Nesterov input G_t + μM_t, or M_t.
        self.buffer, target = muon_momentum(self.buffer, G, self.momentum, self.nesterov)
        # MuonEq (Chang et al., arXiv 2603.28254): scale the rows / columns of T_t, then NS5;
        # with a phase, "RC" before step `phase` and "R" from it on (official muon_step ≥ phase).
        scaled = target
        if self.equilibration is not None:
            mode = "R" if self.phase is not None and self.step_count >= self.phase else self.equilibration
            scaled = equilibrate(target, mode, exponent=self.exponent, clip=self.clip)
        # O_t = NS5(scaled) or the exact sign; the diagnostics compare with msign(T_t).
        if self.spc:  # MuonEq's spectral proxy replaces the Frobenius normalization
            direction = newton_schulz(spectral_proxy_scale(scaled), self.schedule, steps=self.steps, normalize="none")
            return direction, target, {}
        return self._sign(scaled), target, {}


class MuonEq(Muon):
    r"""MuonEq: Muon with the (Nesterov) momentum equilibrated before Newton–Schulz.

    ``MuonEq(mode)`` is ``Muon(equilibration=mode)``: with ``T_t`` the Nesterov input
    ``G_t + μM_t``, row squared norms :math:`r_i = \sum_j T_{ij}^2` and column squared norms
    :math:`c_j = \sum_i T_{ij}^2`, the update is ``NS5`` (Muon's quintic) of

    - ``"R"``: :math:`\operatorname{diag}((r + \varepsilon)^{e})\, T` (the paper's default
      for hidden weights),
    - ``"C"``: :math:`T\, \operatorname{diag}((c + \varepsilon)^{e})`,
    - ``"RC"``: both, from the same ``T`` in one pass,

    with ``e = −1/2``, as the official MaeChd/muon-eq code does. The diagnostics compare with
    ``msign(T_t)``, the sign plain Muon targets. The official options ``rowcol_clip``,
    ``phase`` and ``zeropower_mode="spc"`` are ``clip``, ``phase`` and ``spc`` (see
    :class:`Muon`).

    Departures from the official code (MaeChd/muon-eq, ``llm-baselines/src/optim/muoneq.py``):
    its Newton–Schulz runs in bfloat16 and divides by ``‖X‖_F + 10⁻⁷`` (this rule: the
    gradient's dtype, scale-free normalization, :func:`matsign.newton_schulz`); its docstring
    ties ``phase`` to ``normalize_mode="row"`` but its code applies it to ``"rowcol"``, which
    is what this rule follows.

    Parameters
    ----------
    mode : {"R", "C", "RC"}, default "R"
        The equilibration.
    **options
        Any other parameter of :class:`Muon` (``equilibration`` excepted).

    References
    ----------
    .. [1] D. Chang et al., *MuonEq: balancing before orthogonalization with lightweight
       equilibration*, arXiv 2603.28254.

    Examples
    --------
    >>> import numpy as np
    >>> rule = MuonEq("R", inner="exact", diagnostics=False)
    >>> rule.step(np.array([[4.0, 0.0], [0.0, 0.1]])).update
    array([[1., 0.],
           [0., 1.]])
    """

    name = "muoneq"

    def __init__(self, mode: str = "R", **options):
        check_choice(mode, EQUILIBRATIONS, "mode")
        if "equilibration" in options:
            raise TypeError("MuonEq takes the equilibration as mode; use Muon(equilibration=...) instead")
        super().__init__(equilibration=mode, **options)
