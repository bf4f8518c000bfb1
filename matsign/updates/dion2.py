r"""Dion2: accumulate, select a fraction of the slices, decay only those, orthogonalize only
those."""

from __future__ import annotations

from matsign._backend import check_choice
from matsign._backend.namespace import device
from matsign._backend.random import generator
from matsign.spectral import binary_scale
from matsign.transforms.slices import (
    SCORES,
    slices_msign,
    select_slices,
    selection_slots,
    slice_count,
)
from matsign.exact.inner import check_inner_dtype
from matsign.updates.base import UpdateRule, check_momentum


class Dion2(UpdateRule):
    r"""Dion2: a sparse Muon step on the selected rows or columns, with selective decay.

    Per step, with ``M₀ = 0`` and momentum coefficient :math:`\mu` [1]_,

    .. math::

        M \leftarrow M + G, \qquad (a, K) = \operatorname{select}(M, \alpha), \qquad
        S = M_K, \qquad M_K \leftarrow \mu\, M_K, \qquad
        \text{update}_K = s \cdot \operatorname{orth}(S), \quad \text{update}_{\bar K} = 0,

    where :func:`matsign.transforms.slices.select_slices` picks ``k = ⌈α·size⌉`` slices ``K`` along the
    shorter side (axis ``a``), ``M_K`` is the selected submatrix taken **before** the decay,
    and :func:`matsign.transforms.slices.slices_msign` orthogonalizes it. There is no global decay: a
    slice that is not selected keeps accumulating until it is (Dion2's error feedback).

    Parameters
    ----------
    fraction : float, default 0.25
        :math:`\alpha \in (0, 1]` (the official default).
    momentum : float, default 0.95
        :math:`\mu`, the selective decay.
    score : {"l1", "l2", "random"}
        How slices are ranked: L1 norm (the paper's), L2 norm, or at random.
    inner, schedule, steps
        The sign of the selected submatrix; see :class:`~matsign.updates.Muon`.
    inner_dtype : str, optional
        Working precision of the inner Newton–Schulz (:func:`matsign.newton_schulz`'s
        ``dtype``; default the gradient's): ``"bfloat16"`` is the official code's choice.
        Only with ``inner="newton_schulz"``.
    rng : None, int or generator
        Randomness of ``score="random"``; the generator is created at the first step.
    shape : {"none", "spectral", "match_rms"}
        See :class:`~matsign.updates.Muon`; the official code uses ``"spectral"``.
    diagnostics : bool, default True
        See :class:`~matsign.updates.Muon`; Dion2 adds ``coverage`` and ``unselected_norm``
        (see Notes).

    Attributes
    ----------
    buffer : array or None
        ``M`` after the selective decay.
    covered : array of bool or None
        Which slices have been selected at least once.

    Notes
    -----
    **Fraction 1 is heavy-ball Muon.** With every slice selected, the stored buffer after a
    step is :math:`\tilde M_t = \mu S_t` and :math:`S_t = \tilde M_{t-1} + G_t`, so
    :math:`S_t = \mu S_{t-1} + G_t` with :math:`S_0 = 0` — Muon's momentum without Nesterov —
    and the update is ``orth(S_t)``. In floating point the two compute the same operations in
    the same order (``fl(fl(μ·S) + G)``), so ``Dion2`` with ``fraction=1`` and :class:`~matsign.updates.Muon`
    with ``nesterov=False`` and the same schedule return bitwise the same buffers, and the same
    updates for wide and square matrices. For tall matrices the updates agree to a few units
    in the last place only: the sign of the selected columns runs on a contiguous copy and
    Muon's on a transposed view, and BLAS rounds products of the two layouts differently.

    **Target** of the diagnostics: ``M`` after the addition and before the decay (so with
    ``α < 1`` the relative error includes the unselected slices). ``coverage`` is the fraction
    of the slices selected at least once so far; ``unselected_norm`` the Frobenius norm of the
    slices of ``M`` not selected this step (what keeps accumulating without decay).

    Departures from the official code (microsoft/dion ``dion/dion2.py``): weight decay and the
    learning rate are the caller's; the official default schedule is Polar Express (the
    paper's was You's five-step list) while this rule defaults to Muon's quintic, like
    :class:`~matsign.updates.Muon`, so the two are comparable; ``k`` is computed by
    :func:`matsign.transforms.slices.slice_count`, which does not round ``0.1·30`` up to 4.

    References
    ----------
    .. [1] K. Ahn, N. Amsel, J. Langford, *Dion2: a simple method to shrink matrix in Muon*,
       arXiv 2512.16928.

    Examples
    --------
    >>> import numpy as np
    >>> rule = Dion2(0.5, momentum=0.5, inner="exact")
    >>> G = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> rule.step(G).update  # row 0 has the larger L1 norm
    array([[1., 0., 0.],
           [0., 0., 0.]])
    >>> rule.buffer  # row 0 decayed, row 1 kept whole
    array([[1.5, 0. , 0. ],
           [0. , 1. , 0. ]])
    >>> rule.step(G).diagnostics["coverage"]  # rows: 1.5+3 = 4.5 vs 2, row 0 again
    0.5
    """

    name = "dion2"

    def __init__(
        self,
        fraction: float = 0.25,
        momentum: float = 0.95,
        *,
        score: str = "l1",
        inner: str = "newton_schulz",
        schedule="muon",
        steps: int | None = None,
        inner_dtype: str | None = None,
        rng=None,
        shape: str = "none",
        diagnostics: bool = True,
    ):
        super().__init__(shape=shape, diagnostics=diagnostics)
        slice_count(fraction, 1)  # validates the fraction
        self.fraction = float(fraction)
        self.momentum = check_momentum(momentum)
        check_choice(score, SCORES, "score")
        self.score = score
        self._set_inner(inner, schedule, steps)
        check_inner_dtype(self.sign_spec, inner_dtype)
        self.inner_dtype = inner_dtype
        self.rng = rng
        self.buffer = None
        self.covered = None
        self._generator = None

    def _start(self, xp, G):
        self._generator = generator(self.rng, G)
        self.buffer = xp.zeros_like(G)  # M₀ = 0
        size = min(int(G.shape[0]), int(G.shape[1]))
        self.covered = xp.zeros((size,), dtype=xp.bool, device=device(G))

    def _advance(self, xp, G):
        # Ahn, Amsel, Langford (arXiv 2512.16928): accumulate without decay, M ← M + G.
        M = self.buffer + G
        # Select k = ⌈α·size⌉ slices K of the shorter side (largest L1 norm by default).
        axis, indices = select_slices(M, self.fraction, score=self.score, rng=self._generator)
        # orth(M_K) on the selected slices, zero elsewhere (M_K taken before the decay).
        direction = slices_msign(
            M, axis, indices, inner=self.inner, schedule=self.schedule, steps=self.steps, dtype=self.inner_dtype
        )
        # Selective decay, Dion2's error feedback: M_K ← μ M_K; the other slices keep all of M.
        selected, _ = selection_slots(indices, int(self.covered.shape[0]))
        along = selected[:, None] if axis == 0 else selected[None, :]
        one = xp.ones((), dtype=M.dtype, device=device(M))
        self.buffer = M * xp.where(along, self.momentum * one, one)
        self.covered = self.covered | selected
        extra = {}
        if self.diagnostics:
            rest = xp.where(along, xp.zeros_like(M), M)
            # Summed on rest/2^k (k near log₂ max|rest|), so the squares cannot overflow at 1e300.
            scale = binary_scale(xp, xp.max(xp.abs(rest)))
            rest = rest / scale
            extra = {
                "coverage": float(xp.sum(xp.astype(self.covered, M.dtype))) / int(self.covered.shape[0]),
                "unselected_norm": float(scale * xp.sqrt(xp.sum(rest * rest))),
            }
        return direction, M, extra
