r"""What every update rule shares: the :class:`StepResult`, the state bookkeeping and the
checks of :class:`UpdateRule`, and the pieces several rules repeat (the momentum check, the
inner sign, Muon's momentum).

A rule is a small state object. Its constructor takes hyper-parameters only; its buffers are
created from the first gradient passed to :meth:`UpdateRule.step` (shape, library, device and
dtype taken from it), and every later gradient must match them. ``step(G)`` consumes one
gradient and returns the **direction including the learning-rate shape factor**; the caller
multiplies it by the learning rate and applies weight decay (``W ← W − lr·(update + wd·W)``
or decoupled, as it likes). Everything stays on the gradient's library and device; the only
host transfers are those each rule names (one finiteness flag of the input and one of the
update per step, and the Python floats of the diagnostics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

from matsign._backend.checks import all_finite, boundary, check_matrix, check_real, trusted_values
from matsign._backend.namespace import device, library
from matsign._backend.precision import dtype_name
from matsign.exact.inner import check_inner, inner_from_pair, inner_sign
from matsign.exact.schedules import get_schedule
from matsign.updates.diagnostics import sign_diagnostics
from matsign.updates.shape import check_shape_name, shape_factor


@dataclass(frozen=True)
class StepResult:
    """The outcome of one step of an update rule.

    Attributes
    ----------
    update : array, shape (m, n)
        The direction times the learning-rate shape factor, on the gradient's library, device
        and dtype. The caller applies ``W ← W − lr · update`` (and weight decay).
    diagnostics : dict of str to float
        Empty when the rule was built with ``diagnostics=False``; otherwise ``alignment`` and
        ``relative_error`` (see :mod:`matsign.updates.diagnostics`) and the rule's own entries.
    """

    update: object
    diagnostics: Mapping[str, float]


def check_momentum(value, name: str = "momentum") -> float:
    """``value`` as a float in ``[0, 1)``, else a ``ValueError`` naming ``name``."""
    return check_real(value, name, low=0, high=1, open_high=True)


def muon_momentum(buffer, G, momentum: float, nesterov: bool):
    r"""``(M, T)``: Muon's momentum :math:`M = \mu M_{prev} + G` and the matrix it orthogonalizes,
    :math:`T = G + \mu M` (Nesterov) or :math:`T = M` (heavy ball) (Jordan et al., 2024)."""
    M = momentum * buffer + G
    return M, (G + momentum * M if nesterov else M)


class UpdateRule:
    """Base class: checks each gradient, keeps the step count, applies the shape factor.

    Subclasses implement ``_start(xp, G)`` (create buffers from the first gradient) and
    ``_advance(xp, G)`` returning ``(direction, target, extra)``: the direction before the
    shape factor, the matrix whose exact sign it approximates, and the rule's own diagnostics.
    ``target`` and ``extra`` serve only the diagnostics: a rule that must compute its target
    (a product, not a buffer it holds) returns ``None`` and ``{}`` when ``self.diagnostics`` is
    off. Rules with an inner sign keep it with :meth:`_set_inner` and apply it with
    :meth:`_sign`.

    :meth:`step` is the boundary (:func:`matsign._backend.boundary`): it checks ``G``, and the
    public functions ``_advance`` calls skip their NaN/Inf scans, since its arrays come from
    checked gradients. An ``_advance`` that brings in arrays from elsewhere must check them.

    Attributes
    ----------
    step_count : int
        Gradients consumed so far.
    factor : float or None
        The shape factor, known after the first step.
    """

    name: ClassVar[str] = ""

    def __init__(self, *, shape: str = "none", diagnostics: bool = True):
        self.shape = check_shape_name(shape)
        self.diagnostics = bool(diagnostics)
        self.step_count = 0
        self.factor = None
        self._signature = None

    @boundary
    def step(self, G) -> StepResult:
        """Consume one gradient ``G`` and return the update and its diagnostics.

        Parameters
        ----------
        G : array, shape (m, n)
            A finite real matrix of the first gradient's shape, dtype, library and device.

        Returns
        -------
        StepResult

        Raises
        ------
        ValueError
            If ``G`` is not a finite real matrix, or differs in shape, dtype, library or device
            from the first gradient; or if the update is not finite: the state, computed from
            finite gradients, overflowed its dtype.

        Notes
        -----
        A step reads the host twice without diagnostics: the scan of ``G`` and the sum of the
        update. float16 state (a momentum sum overflows 65504 at realistic sizes) is scanned
        wherever a public function receives it; the other dtypes overflow only for gradients
        near their largest value or extreme hyper-parameters, which the check of the update
        catches.
        """
        xp = check_matrix(G, "G", batched=False)
        self._start_or_match(xp, G)
        self.step_count += 1
        # The state is formed in G's dtype: float16 state is scanned even inside a caller's
        # trusted_values() block (boundary leaves an enclosing trust as it is).
        with trusted_values(computed_from=G):
            direction, target, extra = self._advance(xp, G)
        # One sum: a state that overflowed its dtype must not become a silent NaN update.
        if not all_finite(direction):
            raise ValueError(
                f"the update of {type(self).__name__} is not finite: its state, computed from finite "
                f"{dtype_name(G.dtype)} gradients, overflowed; scale the gradients down or use a wider dtype"
            )
        diagnostics = {}
        if self.diagnostics:
            diagnostics.update(sign_diagnostics(direction, target))
            diagnostics.update(extra)
        update = direction if self.factor == 1.0 else direction * self.factor
        return StepResult(update, diagnostics)

    def _start_or_match(self, xp, G):
        """At the first step, create the state from ``G``; later, check that ``G`` matches it."""
        signature = (tuple(int(s) for s in G.shape), str(G.dtype), library(G), str(device(G)))
        if self._signature is None:
            self._start(xp, G)
            self._signature = signature
            self.factor = shape_factor(signature[0], self.shape)
        elif signature != self._signature:
            raise ValueError(
                f"G must match the first gradient of this {type(self).__name__} "
                f"(shape, dtype, library, device) = {self._signature}; got {signature}"
            )

    def _set_inner(self, inner, schedule, steps):
        """Check and keep the ``inner`` / ``schedule`` / ``steps`` of a rule's inner sign.

        ``sign_spec`` is the one inner-sign specification, ``"exact"`` or ``schedule``
        (:func:`matsign.exact.inner.inner_from_pair`); ``schedule`` is checked even where
        ``inner="exact"`` leaves it unused.
        """
        self.sign_spec = inner_from_pair(inner, schedule)
        get_schedule(schedule)
        check_inner(self.sign_spec, steps)
        self.inner, self.schedule, self.steps = inner, schedule, steps

    def _sign(self, X):
        """The rule's inner sign of ``X``: :func:`msign` or Newton–Schulz (``self.sign_spec``)."""
        return inner_sign(X, self.sign_spec, self.steps)

    def _start(self, xp, G):
        raise NotImplementedError

    def _advance(self, xp, G):
        raise NotImplementedError
