r"""Diagnostics every update rule reports: how close its direction is to an exact sign.

For a rule whose step ``D`` approximates the sign of a *target* matrix ``T`` (the momentum,
Nesterov input, Dion's ``B``, …; each rule's docstring names its target):

- ``alignment`` :math:`= \langle T, D\rangle / \|T\|_*` (:func:`matsign.metrics.alignment`):
  1 for ``D = msign(T)``, at most :math:`\|D\|_2` in general;
- ``relative_error`` :math:`= \|D - \operatorname{msign}(T)\|_F / \|\operatorname{msign}(T)\|_F`
  (:func:`matsign.metrics.relative_error`).

Both are measured on the direction before the learning-rate shape factor. Computing them costs
an SVD of ``T`` and an SVD for its nuclear norm, which is why every rule computes diagnostics
only when ``diagnostics=True``; each value comes back to the host as a Python float.
"""

from __future__ import annotations

from matsign._backend.checks import boundary, check_matrix

from matsign.exact.sign import msign
from matsign.metrics import alignment, relative_error


@boundary
def sign_diagnostics(direction, target) -> dict[str, float]:
    r"""``{"alignment": ⟨T, D⟩/‖T‖_*, "relative_error": ‖D − msign(T)‖_F/‖msign(T)‖_F}``.

    Parameters
    ----------
    direction : array, shape (m, n)
        The step ``D`` before the shape factor.
    target : array, shape (m, n)
        The matrix ``T`` whose exact sign ``D`` approximates (same library and device).

    Returns
    -------
    dict of str to float
        ``alignment`` is NaN for a zero target; ``relative_error`` is 0 when both are zero.

    Examples
    --------
    >>> import numpy as np
    >>> T = np.diag([3.0, 1.0])
    >>> d = sign_diagnostics(np.diag([1.0, 0.0]), T)  # the rank-1 oracle: 3/4 and 1/√2
    >>> {key: round(value, 6) for key, value in d.items()}
    {'alignment': 0.75, 'relative_error': 0.707107}
    """
    # The target's SVD must not see NaN/Inf (LAPACK can hang on Inf); a non-finite direction is a
    # diverged step, which the metrics report (relative_error inf) rather than refuse.
    check_matrix(target, "target")
    check_matrix(direction, "direction", finite=False)
    exact = msign(target)
    return {
        "alignment": float(alignment(direction, target)),
        "relative_error": float(relative_error(direction, exact)),
    }
