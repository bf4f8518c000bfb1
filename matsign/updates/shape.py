r"""Learning-rate shape factors: the scalar a rule multiplies its orthogonalized direction by.

Convention: a weight ``W`` of shape ``(m, n) = (fan_out, fan_in)`` acts as ``y = W x``, and its
gradient has the same shape. The factors by name:

- ``"none"``: 1 (the raw direction; the caller's learning rate carries every scale);
- ``"spectral"``: :math:`\sqrt{\text{fan\_out}/\text{fan\_in}} = \sqrt{m/n}`, the factor the
  official Dion and Dion2 code multiply the learning rate by, so that a direction of unit
  spectral norm changes ``W`` by a fixed amount in the ``RMS → RMS`` operator norm
  (Bernstein & Newhouse, arXiv 2409.20325);
- ``"match_rms"``: :math:`0.2\sqrt{\max(m, n)}`, which gives a full-rank orthogonal direction
  (entries of RMS :math:`1/\sqrt{\max(m, n)}`) the update RMS 0.2 of AdamW, so AdamW's learning
  rate and weight decay carry over (Moonlight, arXiv 2502.16982).
"""

from __future__ import annotations

import math

#: Names accepted by :func:`shape_factor` (and by every update rule's ``shape=``).
SHAPE_FACTORS = ("none", "spectral", "match_rms")


def check_shape_name(name) -> str:
    """``name`` if it is one of :data:`SHAPE_FACTORS`, else a ``ValueError`` naming ``shape``."""
    if not isinstance(name, str) or name not in SHAPE_FACTORS:
        raise ValueError(f"shape must be one of {SHAPE_FACTORS}, got {name!r}")
    return name


def shape_factor(shape, name: str = "none") -> float:
    r"""The learning-rate shape factor ``name`` for a weight of ``shape = (fan_out, fan_in)``.

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``: rows = fan-out, columns = fan-in (see the module docstring).
    name : {"none", "spectral", "match_rms"}
        1, :math:`\sqrt{m/n}`, or :math:`0.2\sqrt{\max(m, n)}`.

    Returns
    -------
    float

    References
    ----------
    .. [1] J. Bernstein, L. Newhouse, *Old optimizer, new norm: an anthology*, arXiv 2409.20325.
    .. [2] J. Liu et al., *Muon is scalable for LLM training* (Moonlight), arXiv 2502.16982.
    .. [3] K. Ahn, B. Xu, N. Abreu, J. Langford, *Dion: distributed orthonormalized updates*,
       arXiv 2504.05295.

    Examples
    --------
    >>> shape_factor((64, 16), "spectral")
    2.0
    >>> shape_factor((64, 16), "match_rms")
    1.6
    >>> shape_factor((64, 16))
    1.0
    """
    name = check_shape_name(name)
    dims = tuple(shape)
    if len(dims) != 2 or any(isinstance(d, bool) or int(d) != d or d < 1 for d in dims):
        raise ValueError(f"shape must be a pair of positive integers (fan_out, fan_in), got {shape!r}")
    m, n = int(dims[0]), int(dims[1])
    if name == "spectral":
        return math.sqrt(m / n)
    if name == "match_rms":
        return 0.2 * math.sqrt(max(m, n))
    return 1.0
