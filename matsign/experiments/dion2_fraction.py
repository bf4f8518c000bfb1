r"""Dion2's slice sign against the selected fraction and the selection rule.

``dion2`` keeps ``k = ⌈fraction · min(m, n)⌉`` rows (columns of a tall matrix) — the top-k by
L1 norm (Dion2's rule), by L2 norm, or uniformly at random — and returns the exact sign of those
slices scattered into place, zero elsewhere; fraction 1 is the exact sign. Its rank is at most
``k``, so besides the engine's metrics each row has

- ``selected`` — ``k``;
- ``slice_floor`` — :math:`\sqrt{\max(0, \rho - k)/\rho}`, the least relative error of any
  rank-k matrix (the rank floor at ``r = k``);
- ``oracle_alignment`` — the Ky Fan ratio at ``k``, the best alignment of any rank-k step.

Selection by norm pays off when the slices differ in scale (the scale-mismatch and recorded
matrices); on an isotropic matrix every rule is about as good as random. Another grid
(``--config``) may hold any method with ``fraction`` and ``score`` parameters.

References
----------
K. Ahn, N. Amsel, J. Langford, *Dion2*, arXiv 2512.16928.
"""

from __future__ import annotations

import math

from matsign.bounds import oracle_alignment
from matsign.experiments.engine import Extra
from matsign.experiments.runner import Experiment
from matsign.transforms.slices import slice_count

NAME = "dion2-fraction"


def slice_columns(X, context, cell) -> dict:
    """The number of selected slices, the rank floor at that number and the Ky Fan ratio."""
    k = slice_count(dict(cell.method_params)["fraction"], min(cell.m, cell.n))
    rho = context.rho
    return {
        "selected": k,
        "slice_floor": math.sqrt(max(0, rho - k) / rho) if rho else math.nan,
        "oracle_alignment": oracle_alignment(context.sigma, k),
    }


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.dion2.dion2_fraction_figure`)."""
    from matsign.plots.dion2 import dion2_fraction_figure

    return dion2_fraction_figure(table, stem)


EXPERIMENT = Experiment(
    name=NAME,
    description="Dion2 slice sign: error and alignment vs selected fraction and selection rule "
    "(L1, L2, random), with the rank floor and the Ky Fan bound",
    figure=figure,
    extra=Extra(("selected", "slice_floor", "oracle_alignment"), slice_columns),
    method_params=("fraction", "score"),
)
