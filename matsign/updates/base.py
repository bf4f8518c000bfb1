r"""What every update rule shares: the :class:`StepResult`, the state bookkeeping of
:class:`UpdateRule`, and the inner sign (exact or Newton–Schulz) of the dense rules.

A rule is a small state object. Its constructor takes hyper-parameters only; its buffers are
created from the first gradient passed to :meth:`UpdateRule.step` (shape, library, device and
dtype taken from it), and every later gradient must match them. ``step(G)`` consumes one
gradient and returns the **direction including the learning-rate shape factor**; the caller
multiplies it by the learning rate and applies weight decay (``W ← W − lr·(update + wd·W)``
or decoupled, as it likes). Everything stays on the gradient's library and device; the only
host transfers are those each rule names (one finiteness flag of the input per step, and the
Python floats of the diagnostics).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import ClassVar, Mapping

from matsign._backend import check_choice
from matsign._backend.checks import all_finite, check_matrix, check_positive_int, trusted_values
from matsign._backend.precision import dtype_name
from matsign._backend.namespace import device, library
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.schedules import get_schedule
from matsign.exact.sign import msign
from matsign.updates.diagnostics import sign_diagnostics
from matsign.updates.shape import check_shape_name, shape_factor

#: How a dense rule orthogonalizes: the exact sign by SVD, or a Newton–Schulz schedule.
INNER = ("newton_schulz", "exact")


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
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_inner(inner, schedule, steps):
    """Validate the ``inner`` / ``schedule`` / ``steps`` triple of a dense rule."""
    check_choice(inner, INNER, "inner")
    get_schedule(schedule)
    if steps is not None:
        check_positive_int(steps, "steps")
        if inner == "exact":
            raise ValueError("steps applies only to inner='newton_schulz', not inner='exact'")
    return inner, schedule, steps


def orthogonalize(X, inner, schedule, steps):
    """``msign(X)`` for ``inner="exact"``, else ``newton_schulz(X, schedule, steps=steps)``."""
    if inner == "exact":
        return msign(X)
    return newton_schulz(X, schedule, steps=steps)


class UpdateRule:
    """Base class: validates each gradient, keeps the step count, applies the shape factor.

    Subclasses implement ``_start(xp, G)`` (create buffers from the first gradient) and
    ``_advance(xp, G)`` returning ``(direction, target, extra)``: the direction before the
    shape factor, the matrix whose exact sign it approximates, and the rule's own diagnostics.
    ``target`` and ``extra`` serve only the diagnostics: a rule that must compute its target
    (a product, not a buffer it holds) returns ``None`` and ``{}`` when ``self.diagnostics`` is
    off. ``_advance`` runs inside :func:`matsign._backend.trusted_values` (``computed_from=G``):
    the matsign functions it calls skip their NaN/Inf scans, since its arrays come from checked
    gradients (float16 state is still scanned, as it can overflow); an ``_advance`` that
    brings in arrays from elsewhere must check them itself.

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

    def step(self, G) -> StepResult:
        """Consume one gradient ``G`` (m × n) and return the update and its diagnostics.

        Raises
        ------
        ValueError
            If ``G`` is not a finite real matrix, or differs in shape, dtype, library or device
            from the first gradient; or if the update is not finite: the state, computed from
            finite gradients, overflowed its dtype (float16 is scanned inside the step; the other
            dtypes only at gradients near their largest value or extreme hyper-parameters).
        """
        xp = check_matrix(G, "G", batched=False)
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
        self.step_count += 1
        with trusted_values(computed_from=G):  # the state is built from checked gradients
            direction, target, extra = self._advance(xp, G)
        # One more read (the queue is drained by the next step's check anyway): a state that
        # overflowed its dtype must not turn into a silent NaN update.
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

    def _start(self, xp, G):
        raise NotImplementedError

    def _advance(self, xp, G):
        raise NotImplementedError
