r"""Two-sided ¼-power scaling before Newton–Schulz against plain Newton–Schulz and MuonEq's defaults.

The scaling of modded-nanogpt PR #295 divides each row and each column of ``G`` by the fourth
root of its squared norm, both from ``G`` itself:
``equilibrate(G, "RC", exponent=-0.25)`` (:func:`matsign.transforms.equilibration.equilibrate`),
i.e. ``muoneq`` with ``mode="RC", exponent=-0.25``. It runs beside ``newton_schulz`` (no scaling)
and ``muoneq`` with its default exponent ``-0.5`` in modes R, C and RC, on the same matrices
and with the same columns as :mod:`matsign.experiments.equilibration` (``target_error`` against
the method's own target ``msign(D_r G D_c)``, the target's κ and stable rank).

The ¼ power is the geometric mean of no scaling and full two-sided scaling: it shrinks the scale
spread the iteration sees to its square root, and moves the target less far from ``msign(G)``.

References
----------
modded-nanogpt PR #295 (two-sided ¼-power scaling); D. Chang et al., *MuonEq*, arXiv 2603.28254.
"""

from __future__ import annotations

from matsign.experiments.equilibration import target_columns
from matsign.experiments.engine import Extra
from matsign.experiments.runner import Experiment

NAME = "quarter-power"


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.quarter_power.quarter_power_figure`)."""
    from matsign.plots.quarter_power import quarter_power_figure

    return quarter_power_figure(table, stem)


EXPERIMENT = Experiment(
    name=NAME,
    description="two-sided ¼-power scaling (RC, exponent -0.25) before Newton–Schulz vs plain Newton–Schulz "
    "and MuonEq R/C/RC (exponent -0.5): error to msign(G), to its own target, alignment",
    figure=figure,
    extra=Extra(("target_error", "target_condition_number", "target_stable_rank"), target_columns),
    methods=("newton_schulz", "muoneq"),
    method_params=("schedule",),
)
