r"""MuonEq's equilibration (none / R / C / RC) before Newton–Schulz, on scale-mismatched and recorded matrices.

``newton_schulz`` (no equilibration) and ``muoneq`` in modes R, C, RC run the same schedule on
matrices whose rows (or columns) span decades of scale, and on the gradients and momenta of the
dump shipped in ``matsign/data/recorded``. Equilibration changes the target: ``muoneq`` converges
to ``msign(D_r G D_c)``, not ``msign(G)``. So each row has, besides the engine's ``error``
(against ``msign(G)``) and ``alignment`` (with ``G``, what a descent step gains):

- ``target_error`` — the error against the method's own target ``msign(D_r G D_c)`` (equal to
  ``error`` without equilibration): how well the finite iteration orthogonalizes what it is given;
- ``target_condition_number``, ``target_stable_rank`` — of the matrix the iteration runs on.

Scale mismatch makes a Frobenius-normalized iteration slow (a few large rows take the norm, the
rest start near zero); equilibration removes it, at the price of a different step direction.
Another grid (``--config``) may hold any method with a ``schedule`` parameter (the figure's
markers).

References
----------
D. Chang et al., *MuonEq*, arXiv 2603.28254.
"""

from __future__ import annotations

import numpy as np

from matsign._backend import namespace, to_numpy
from matsign.transforms.equilibration import equilibrate
from matsign.exact.sign import msign
from matsign.experiments.engine import Extra
from matsign.experiments.runner import Experiment
from matsign.metrics import relative_error

NAME = "equilibration"


def target_columns(X, context, cell) -> dict:
    """Error against ``msign`` of the matrix actually orthogonalized, and that matrix's κ and sr."""
    params = dict(cell.method_params)
    xp = namespace(context.G64)
    if cell.method == "muoneq":
        target = equilibrate(context.G64, params["mode"], exponent=params["exponent"])
        sign = msign(target)
    else:
        target, sign = context.G64, context.exact
    s = np.asarray(to_numpy(xp.linalg.svdvals(target)), dtype=np.float64)
    kept = s[s > max(cell.m, cell.n) * np.finfo(np.float64).eps * s[0]]
    return {
        "target_error": float(to_numpy(relative_error(xp.astype(X, xp.float64), sign))),
        "target_condition_number": float(kept[0] / kept[-1]),
        "target_stable_rank": float(np.sum(s**2) / s[0] ** 2),
    }


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.equilibration.equilibration_figure`)."""
    from matsign.plots.equilibration import equilibration_figure

    return equilibration_figure(table, stem)


EXPERIMENT = Experiment(
    name=NAME,
    description="MuonEq equilibration none/R/C/RC before Newton–Schulz on scale-mismatched and "
    "recorded matrices: error to msign(G), to its own target, alignment",
    figure=figure,
    extra=Extra(("target_error", "target_condition_number", "target_stable_rank"), target_columns),
    method_params=("schedule",),
)
