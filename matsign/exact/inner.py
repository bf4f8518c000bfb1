r"""The inner sign of composite methods: one specification, one check, one dispatcher.

Low-rank signs, Dion2's slices, GaLore/GUM and the dense update rules all take the sign of a
smaller or derived matrix ``B``. That sign is given by ``inner``: ``"exact"`` (:func:`msign`,
the SVD) or a Newton–Schulz schedule (a name from :data:`SCHEDULES`, a :class:`Schedule` or
``(a, b, c)`` triples), with ``steps`` allowed only for a schedule. Rules that name the
schedule separately (``inner="newton_schulz", schedule=...``) convert with
:func:`inner_from_pair`.
"""

from __future__ import annotations

import numpy as np

from matsign._backend import check_choice, check_precision
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.schedules import SCHEDULES, Schedule, get_schedule, scalar_map, schedule_band
from matsign.exact.sign import msign

__all__ = ["PAIR_INNER", "check_inner", "check_inner_dtype", "inner_band", "inner_from_pair", "inner_sign",
           "inner_values", "is_exact"]

#: The ``inner`` values of the rules that name their schedule separately.
PAIR_INNER = ("newton_schulz", "exact")


def check_inner(inner, steps) -> None:
    """Check an inner sign before any matrix is seen.

    Parameters
    ----------
    inner : str, Schedule or list of (a, b, c)
        ``"exact"`` or a Newton–Schulz schedule (see :func:`get_schedule`).
    steps : int or None
        Newton–Schulz steps; only with a schedule.

    Raises
    ------
    ValueError
        For an unknown name, bad triples or steps, or ``steps`` with ``"exact"``.
    TypeError
        For an ``inner`` of another type.

    Examples
    --------
    >>> check_inner("muon", 3)
    >>> check_inner("exact", 3)
    Traceback (most recent call last):
    ...
    ValueError: steps applies only to a Newton–Schulz inner sign, not inner='exact'
    """
    if isinstance(inner, str) and inner != "exact" and inner not in SCHEDULES:
        raise ValueError(
            f"inner must be 'exact' or a Newton–Schulz schedule ({', '.join(SCHEDULES)}), got {inner!r}"
        )
    if not isinstance(inner, (str, Schedule, list, tuple)):
        raise TypeError(
            "inner must be 'exact', a schedule name, a Schedule or (a, b, c) triples; "
            f"got {type(inner).__name__}"
        )
    if isinstance(inner, str) and inner == "exact":
        if steps is not None:
            raise ValueError("steps applies only to a Newton–Schulz inner sign, not inner='exact'")
        return
    get_schedule(inner).steps_coefficients(steps)


def check_inner_dtype(inner, dtype) -> None:
    """Check a Newton–Schulz working precision ``dtype`` for the inner sign ``inner``.

    ``None`` (the input's own precision) always passes; any other value needs a schedule and
    must be a precision :func:`matsign.newton_schulz` accepts.

    Examples
    --------
    >>> check_inner_dtype("muon", "bfloat16")
    >>> check_inner_dtype("exact", "bfloat16")
    Traceback (most recent call last):
    ...
    ValueError: a working precision (dtype='bfloat16') applies only to a Newton–Schulz inner sign, not inner='exact'
    """
    if dtype is None:
        return
    if isinstance(inner, str) and inner == "exact":
        raise ValueError(
            f"a working precision (dtype={dtype!r}) applies only to a Newton–Schulz inner sign, not inner='exact'"
        )
    check_precision(dtype)


def inner_from_pair(inner, schedule):
    """The inner sign named by an ``(inner, schedule)`` pair: ``"exact"``, or ``schedule``.

    Examples
    --------
    >>> inner_from_pair("newton_schulz", "polar_express"), inner_from_pair("exact", "muon")
    ('polar_express', 'exact')
    """
    check_choice(inner, PAIR_INNER, "inner")
    return "exact" if inner == "exact" else schedule


def inner_sign(B, inner, steps=None, *, dtype=None):
    """``msign(B)`` for ``inner="exact"``, else ``newton_schulz(B, inner, steps=steps, dtype=dtype)``.

    Parameters
    ----------
    B : array, shape (..., r, n)
        The matrix whose sign is taken.
    inner, steps
        Assumed checked (:func:`check_inner`).
    dtype : str or dtype, optional
        Newton–Schulz working precision (ignored by ``"exact"``).

    Returns
    -------
    array, shape (..., r, n)
        Same library, device and dtype as ``B``.
    """
    if isinstance(inner, str) and inner == "exact":
        return msign(B)
    return newton_schulz(B, inner, steps=steps, dtype=dtype)


def is_exact(inner) -> bool:
    """Whether ``inner`` names the exact (SVD) sign."""
    return isinstance(inner, str) and inner == "exact"


def inner_values(t, inner, steps, kept):
    r"""Singular values of :func:`inner_sign` of a matrix with singular values ``t`` (exact arithmetic).

    ``"exact"``: 1 where ``kept`` (the mask :func:`msign`'s threshold keeps), else 0; a
    schedule: :func:`scalar_map` of :math:`t/\|t\|_F` (Frobenius normalization), which keeps
    the singular vectors. ``t`` may be a stack ``(..., r)``, normalized along the last axis.

    Examples
    --------
    >>> inner_values(np.array([2.0, 1.0, 0.0]), "exact", None, np.array([True, True, False]))
    array([1., 1., 0.])
    """
    if is_exact(inner):
        return np.asarray(kept, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    norm = np.linalg.norm(t, axis=-1, keepdims=True)
    return scalar_map(t / np.where(norm > 0, norm, 1.0), inner, steps=steps)


def inner_band(inner, steps) -> tuple[float, float]:
    """The range of the singular values :func:`inner_sign` returns: ``(1, 1)`` for ``"exact"``
    (nonzero ones), :func:`schedule_band` for a schedule.

    Examples
    --------
    >>> inner_band("exact", None)
    (1.0, 1.0)
    """
    return (1.0, 1.0) if is_exact(inner) else schedule_band(inner, steps=steps)
