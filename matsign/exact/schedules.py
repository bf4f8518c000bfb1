"""Named Newton–Schulz coefficient schedules with provenance, and their scalar maps.

A step of an odd quintic schedule maps each singular value through ``p(s) = a s + b s³ + c s⁵``;
since the singular values evolve independently, ``scalar_map`` predicts the singular values of
``newton_schulz(G, schedule)`` from those of ``G`` without a single matrix product.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from matsign._backend import (
    check_choice,
    check_nonnegative_int,
    check_positive_int,
    check_real,
    library,
    namespace,
)
from matsign.exact.polar_express import polar_express_coefficients

Triple = tuple[float, float, float]

#: How a schedule continues past the end of its list (:attr:`Schedule.past_end`).
PAST_END = ("last", "cycle")


@dataclass(frozen=True)
class Schedule:
    """An odd-polynomial Newton–Schulz schedule.

    Attributes
    ----------
    name : str
        Short name (the key in :data:`SCHEDULES` for named ones).
    coefficients : tuple of (a, b, c)
        One triple per step; step k maps ``s ↦ a s + b s³ + c s⁵``.
    prescale : float
        The input is divided by ``prescale · ‖X‖`` (the normalization's norm) before the first
        step. :func:`polar_express_schedule` uses ``1 + safety``; the named lists use the
        pre-scale their source ships (1.02 for ``polar_express``, 1.01 for ``polar_express8``).
    default_steps : int
        Steps taken when ``steps=None`` (0, the default: the length of the list); longer than
        the list continues as ``past_end`` says.
    source : str
        Provenance: where the numbers come from.
    generator : mapping or None
        For lists derived from :func:`polar_express_coefficients`, its keyword arguments. The
        named lists relate to its output as ``source`` says (the tests check each):
        ``polar_express`` is that output; ``cans`` is it rounded to 4 decimals;
        ``polar_express8`` is it (safety 0) with steps 1–7 divided by ``1.01^(1, 3, 5)`` — the
        safety applied by hand, together with the pre-scale 1.01 — and the last step, the
        Taylor quintic, kept.
    label : str
        How the papers name the schedule (plot labels); default its ``name``.
    past_end : {"last", "cycle"}
        Steps beyond the list: ``"last"`` (default) repeats its last triple, ``"cycle"``
        starts the list again from its first triple (NVIDIA-NeMo Emerging-Optimizers'
        ``get_coefficient_iterator(mode="cycle")``, which NeMo uses for its ``simple``,
        ``quintic``, ``aol`` and ``cubic5`` lists; ``"repeat_last"`` there is ``"last"`` here).
    """

    name: str
    coefficients: tuple[Triple, ...]
    prescale: float = 1.0
    default_steps: int = 0
    source: str = ""
    generator: MappingProxyType | None = field(default=None, compare=False)
    label: str = ""
    past_end: str = "last"

    def __post_init__(self):
        triples = _triples(self.name, self.coefficients)
        if not all(math.isfinite(v) for t in triples for v in t):
            raise ValueError(f"schedule {self.name!r}: coefficients must be finite")
        prescale = check_real(self.prescale, f"schedule {self.name!r}: prescale", low=0, open_low=True)
        # 0 (the default) stands for the length of the list.
        default_steps = check_nonnegative_int(self.default_steps, "default_steps")
        object.__setattr__(self, "coefficients", triples)
        object.__setattr__(self, "prescale", prescale)
        object.__setattr__(self, "default_steps", default_steps or len(triples))
        object.__setattr__(self, "label", str(self.label) or self.name)
        check_choice(self.past_end, PAST_END, f"schedule {self.name!r}: past_end")
        if self.generator is not None:
            object.__setattr__(self, "generator", MappingProxyType(dict(self.generator)))

    def steps_coefficients(self, steps: int | None = None) -> tuple[Triple, ...]:
        """The triples of the first ``steps`` steps (default: ``default_steps``).

        Fewer steps than the list truncate it; more continue as ``past_end`` says: the last
        triple repeated, or the list started again.

        Examples
        --------
        >>> s = Schedule("two", ((3.0, -3.0, 1.0), (1.5, -0.5, 0.0)), past_end="cycle")
        >>> s.steps_coefficients(3)
        ((3.0, -3.0, 1.0), (1.5, -0.5, 0.0), (3.0, -3.0, 1.0))
        """
        steps = self.default_steps if steps is None else check_positive_int(steps, "steps")
        listed = self.coefficients[:steps]
        if self.past_end == "cycle":
            length = len(self.coefficients)
            return tuple(self.coefficients[k % length] for k in range(steps))
        return listed + (self.coefficients[-1],) * (steps - len(listed))


def _triples(name, coefficients) -> tuple[Triple, ...]:
    """``coefficients`` as a non-empty tuple of float triples, or a ValueError naming them."""
    try:
        triples = tuple(tuple(t) for t in coefficients)
    except TypeError:
        triples = ()
    if (
        not triples
        or any(len(t) != 3 for t in triples)
        or any(isinstance(v, bool) or not isinstance(v, numbers.Real) for t in triples for v in t)
    ):
        raise ValueError(
            f"schedule {name!r}: coefficients must be a non-empty list of (a, b, c) triples of real "
            f"numbers, got {coefficients!r}"
        )
    return tuple(tuple(float(v) for v in t) for t in triples)


def _repeat(triple, k):
    return (triple,) * k


_MUON = (3.4445, -4.7750, 2.0315)

SCHEDULES: MappingProxyType = MappingProxyType(
    {
        s.name: s
        for s in (
            Schedule(
                "cubic",
                ((1.5, -0.5, 0.0),),
                default_steps=5,
                source="classical Newton–Schulz cubic (Higham, Functions of Matrices, 2008, §8.3); "
                "any number of steps, 5 by default to match Muon's budget",
                label="cubic NS",
            ),
            Schedule(
                "muon",
                _repeat(_MUON, 5),
                source="Muon (K. Jordan, 2024): the same quintic 5 times; maximises the slope at 0 "
                "and does not converge to 1 (coefficients sum to 0.701)",
                label="Muon quintic",
            ),
            Schedule(
                "you5",
                (
                    (4.0848, -6.8946, 2.9270),
                    (3.9505, -6.3029, 2.6377),
                    (3.7418, -5.5913, 2.3037),
                    (2.8769, -3.1427, 1.2046),
                    (2.8366, -3.0525, 1.2012),
                ),
                source="Jiacheng You's coefficients (modded-nanogpt train_gpt_medium.py; NVIDIA-NeMo "
                "Emerging-Optimizers ships them as 'quintic'); microsoft/dion's "
                "zeropower_via_newtonschulz5 (dion/muon.py), which was Dion2's default from its first "
                "commit aa9ba2d (2025-11-17) until 199894b (2026-04-07) made Polar Express the "
                "default (use_polar_express=True)",
                label="You (5 steps)",
            ),
            Schedule(
                "polar_express",
                (
                    (8.156554524902461, -22.48329292557795, 15.878769915207462),
                    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
                    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
                    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
                    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
                ),
                prescale=1.02,
                source="Polar Express (arXiv 2505.16932) as shipped in microsoft/dion and "
                "modded-nanogpt; input pre-scaled by 1/(1.02·‖X‖_F)",
                generator={"steps": 5, "lower": 1e-3, "safety": 0.02, "cushion": 0.02},
                label="Polar Express",
            ),
            Schedule(
                "polar_express8",
                (
                    (8.205160414005574, -22.90193498705605, 16.460724910180314),
                    (4.066395159942775, -2.8611540867551426, 0.5183995226694741),
                    (3.9095949044379155, -2.823351735039516, 0.5250369769390025),
                    (3.2855640171986153, -2.415301959635945, 0.48529406552790866),
                    (2.277873287083977, -1.619821765265441, 0.39848078704168355),
                    (1.8725756512746514, -1.2307042574884297, 0.35851616209511666),
                    (1.856437109755889, -1.2132392819185351, 0.35679978941375945),
                    (1.875, -1.25, 0.375),
                ),
                prescale=1.01,
                source="Polar Express paper list (arXiv 2505.16932, NoahAmsel/PolarExpress): the "
                "generator with safety 0 and the official cushion constant, then steps 1–7 divided "
                "by 1.01^(1, 3, 5); the last step is the bare Taylor quintic and repeats; input "
                "pre-scaled by 1/(1.01·‖X‖_F)",
                generator={"steps": 8, "lower": 1e-3, "safety": 0.0, "cushion": 0.02407327424182761},
                label="Polar Express (8)",
            ),
            Schedule(
                "cans",
                (
                    (8.4703, -25.1081, 18.6293),
                    (4.1828, -3.1087, 0.5806),
                    (3.9619, -2.9541, 0.5630),
                    (3.2866, -2.4647, 0.5074),
                    (2.2737, -1.6447, 0.4162),
                ),
                source="CANS (arXiv 2506.10935) as shipped by NVIDIA-NeMo Emerging-Optimizers: "
                "the greedy minimax construction with no cushion and no safety, rounded to the 4 "
                "decimals NeMo ships (the rounding widens the output band from ±0.113 to "
                "[0.884, 1.120]); 5 steps, then the last repeats",
                generator={"steps": 5, "lower": 1e-3, "safety": 0.0, "cushion": 0.0},
                label="CANS",
            ),
            Schedule(
                "aol4",
                (
                    (4.6051, -9.6552, 5.6769),
                    (4.7505, -6.0861, 2.1790),
                    (2.7763, -2.3190, 0.5523),
                    (2.4231, -2.2861, 0.8193),
                ),
                source="thib-s/flash-newton-schulz (T. Boissin; Turbo-Muon, arXiv 2512.04632, is by "
                "T. Boissin et al.) newton_schulz_triton.py, newton_schulz_triton_aol, lines 555-558 at cdb03db "
                "(2025-09-22): the 4-decimal truncation of the genetic search's output there "
                "(4.6051846, -9.6552305, 5.676981, ...; in that file since b536fa8, 2025-09-05, and "
                "in hp-opt-genetic.py); meant to follow AOL row scaling (normalize='aol') rather than "
                "Frobenius normalization",
                label="Turbo-Muon AOL (4)",
            ),
            Schedule(
                "aol_nemo",
                (
                    (4.0098, -7.0585, 2.4635),
                    (3.4585, -5.5479, 2.5959),
                    (2.7573, -3.2939, 1.4254),
                    (2.7215, -3.0494, 1.3169),
                ),
                past_end="cycle",
                source="NVIDIA-NeMo Emerging-Optimizers, emerging_optimizers/orthogonalized_optimizers/"
                "muon_utils.py, _COEFFICIENT_SETS['aol'] (lines 68-74 at fd77292; unchanged since "
                "2e15dc5): thib-s/flash-newton-schulz's first AOL list (newton_schulz_triton.py at "
                "b73111d, 2025-08-29), which that repository replaced by aol4's; NeMo applies it after "
                "Frobenius normalization and cycles past its 4 steps",
                label="AOL (NeMo, 4)",
            ),
            Schedule(
                "deepseek_v4",
                _repeat(_MUON, 8) + _repeat((2.0, -1.5, 0.5), 2),
                source="DeepSeek-V4 report via NVIDIA-NeMo Emerging-Optimizers: Muon's quintic ×8, "
                "then (2, −1.5, 0.5) ×2",
                label="DeepSeek-V4",
            ),
        )
    }
)


def get_schedule(schedule) -> Schedule:
    """Resolve a schedule given by name, as a :class:`Schedule`, or as a list of (a, b, c) triples.

    Examples
    --------
    >>> get_schedule("muon").coefficients[0]
    (3.4445, -4.775, 2.0315)
    >>> get_schedule([(1.5, -0.5, 0.0)]).default_steps
    1
    """
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        try:
            return SCHEDULES[schedule]
        except KeyError:
            raise ValueError(
                f"unknown schedule {schedule!r}; named schedules: {', '.join(SCHEDULES)}"
            ) from None
    try:
        triples = tuple(tuple(t) for t in schedule)
    except TypeError:
        raise TypeError(
            f"schedule must be a name, a Schedule or a list of (a, b, c) triples; got {type(schedule).__name__}"
        ) from None
    return Schedule("custom", triples, source="user-supplied coefficients")


def polar_express_schedule(steps: int, *, lower: float = 1e-3, safety: float = 0.02, cushion: float = 0.02) -> Schedule:
    r"""Greedy minimax (Polar Express) schedule, pre-scale ``1 + safety`` included.

    Step k's odd quintic is the best sup-norm approximation of 1 on the interval the previous
    steps have mapped ``[lower, 1]`` into (see :func:`polar_express_coefficients` for the
    construction). ``safety = cushion = 0`` gives the CANS construction.

    Parameters
    ----------
    steps : int
        Number of quintics.
    lower, safety, cushion : float
        See :func:`polar_express_coefficients`.

    Returns
    -------
    Schedule
        Named after its parameters, with them as ``generator``.

    References
    ----------
    .. [1] N. Amsel, D. Persson, C. Musco, R. M. Gower, *The Polar Express*, arXiv 2505.16932.
    .. [2] E. Grishina, M. Smirnov, M. Rakhuba, *CANS*, arXiv 2506.10935.

    Examples
    --------
    >>> s = polar_express_schedule(5)
    >>> s.prescale, round(s.coefficients[0][0], 6)
    (1.02, 8.156555)
    """
    # The generator checks every argument before the name formats them.
    coefficients = polar_express_coefficients(steps, lower=lower, safety=safety, cushion=cushion)
    params = {"steps": steps, "lower": lower, "safety": safety, "cushion": cushion}
    return Schedule(
        f"polar_express(steps={steps}, lower={lower:g}, safety={safety:g}, cushion={cushion:g})",
        coefficients,
        prescale=1.0 + safety,
        source="generated by matsign.polar_express_schedule (greedy minimax, arXiv 2505.16932)",
        generator=params,
    )


def scalar_map(sigma, schedule="muon", *, steps: int | None = None):
    r"""The schedule's composed polynomial applied to scalars, pre-scale included.

    .. math:: \phi(\sigma) = p_K \circ \dots \circ p_1(\sigma / c), \qquad
              p_k(s) = a_k s + b_k s^3 + c_k s^5,

    with ``c`` the schedule's pre-scale. For ``σ`` the singular values of ``G`` divided by
    ``‖G‖_F``, ``φ(σ)`` are the singular values of ``newton_schulz(G, schedule, steps=steps)``
    in exact arithmetic (with ``normalize="frobenius"``).

    Parameters
    ----------
    sigma : float or array
        Values already divided by the normalization's norm. NumPy input and Python scalars are
        evaluated in float64; CuPy/PyTorch arrays in their own dtype and device.
    schedule : str, Schedule or list of triples
        See :func:`get_schedule`.
    steps : int, optional
        Number of steps (default: the schedule's own).

    Returns
    -------
    float array
        ``φ(σ)``, shaped like ``sigma``.

    Raises
    ------
    ValueError
        If ``sigma`` holds a NaN, an infinity or a negative value (normalized singular values
        are finite and nonnegative; one boolean is read back to check).

    Examples
    --------
    >>> round(float(scalar_map(0.5, "cubic", steps=1)), 6)
    0.6875
    """
    sched = get_schedule(schedule)
    triples = sched.steps_coefficients(steps)
    if isinstance(sigma, (numbers.Real, list, tuple)):
        sigma = np.asarray(sigma, dtype=np.float64)
    try:
        lib = library(sigma)
    except TypeError:
        raise TypeError(f"sigma must be a number or an array, got {type(sigma).__name__}") from None
    # NumPy is evaluated in float64; CuPy/PyTorch arrays stay in their dtype and on their device.
    s = np.asarray(sigma, dtype=np.float64) if lib == "numpy" else sigma
    xp = namespace(s)
    if not bool(xp.all(xp.isfinite(s) & (s >= 0))):
        raise ValueError("sigma must hold finite nonnegative values (singular values divided by a norm)")
    s = s / sched.prescale
    for a, b, c in triples:
        s2 = s * s
        s = s * (a + s2 * (b + c * s2))
    return s


def schedule_band(schedule="muon", *, steps: int | None = None) -> tuple[float, float]:
    r"""The exact range :math:`[\min, \max]` of :func:`scalar_map` over ``σ ∈ [0, 1]``.

    Normalized singular values lie in ``[0, 1]``, so every singular value the schedule returns
    lies in this band: its upper end bounds ``‖newton_schulz(G, schedule)‖₂`` whatever ``G``.

    Parameters
    ----------
    schedule : str, Schedule or list of triples
    steps : int, optional

    Notes
    -----
    The image of an interval under a continuous map is an interval, and the image under a
    composition is the composition of the images. Each step's image of ``[lo, hi]`` is exact:
    the quintic :math:`p(s) = as + bs^3 + cs^5` takes its extremes at ``lo``, ``hi`` or a
    critical point inside, :math:`\pm\sqrt u` for a root ``u > 0`` of
    :math:`p'(s) = a + 3bu + 5cu^2`, ``u = s²``.

    Examples
    --------
    >>> schedule_band("cubic", steps=1)  # 1.5 s − 0.5 s³ on [0, 1]
    (0.0, 1.0)
    >>> [round(v, 3) for v in schedule_band("muon")]
    [0.0, 1.202]
    """
    sched = get_schedule(schedule)
    return _image(sched.steps_coefficients(steps), 0.0, 1.0 / sched.prescale)


def _image(triples, lo, hi) -> tuple[float, float]:
    """The exact image ``[min, max]`` of ``[lo, hi]`` under the composed quintics ``triples``."""
    for a, b, c in triples:
        candidates = [lo, hi]
        roots = np.roots([5 * c, 3 * b, a]) if c != 0 else np.roots([3 * b, a]) if b != 0 else []
        for u in roots:
            if abs(u.imag) < 1e-14 and u.real > 0:  # p is odd: critical points at ±√u
                candidates += [x for x in (math.sqrt(u.real), -math.sqrt(u.real)) if lo < x < hi]
        values = [a * x + b * x**3 + c * x**5 for x in candidates]
        lo, hi = min(values), max(values)
    return float(lo), float(hi)


def uniform_sign_error(schedule="muon", steps: int | None = None, lower: float = 1e-3) -> float:
    r"""The worst-case error of a schedule as a scalar sign on ``[lower, 1]``:
    :math:`\varepsilon = \sup_{\sigma \in [\ell, 1]} |\phi(\sigma) - 1|`.

    ``φ`` is :func:`scalar_map` (pre-scale included), so for ``G`` whose singular values divided
    by ``‖G‖_F`` lie in ``[ℓ, 1]``, ``‖newton_schulz(G, schedule) − msign(G)‖₂ ≤ ε`` in exact
    arithmetic. This is the quantity that sets the constant by which Muon with ``q``
    Newton–Schulz steps trails the exact (SVD) polar step in the convergence analysis of [1]_;
    the paper proves it tends to 0 doubly exponentially in ``q`` for convergent polynomials.

    Parameters
    ----------
    schedule : str, Schedule or list of triples
        See :func:`get_schedule`.
    steps : int, optional
        Number of steps (default: the schedule's own).
    lower : float, default 1e-3
        ``ℓ``, the smallest normalized singular value covered, in ``(0, 1)``.

    Returns
    -------
    float
        ``max(1 − min φ, max φ − 1)`` over ``[ℓ, 1]``; a schedule that does not converge to 1
        (Muon's quintic) keeps an error of order 0.3 at every step count.

    Notes
    -----
    Exact, not sampled: the image of ``[ℓ/c, 1/c]`` (``c`` the pre-scale) is carried through
    each quintic as in :func:`schedule_band`, whose extremes lie at the interval's ends or at a
    critical point of the quintic inside it.

    References
    ----------
    .. [1] *Convergence of Muon with Newton–Schulz*, arXiv 2601.19156.

    Examples
    --------
    >>> round(uniform_sign_error("cubic", steps=1, lower=0.5), 6)  # 1.5σ − 0.5σ³ at σ = 1/2
    0.3125
    """
    sched = get_schedule(schedule)
    triples = sched.steps_coefficients(steps)
    lower = check_real(lower, "lower", low=0, high=1, open_low=True, open_high=True)
    lo, hi = _image(triples, lower / sched.prescale, 1.0 / sched.prescale)
    return max(1.0 - lo, hi - 1.0)
