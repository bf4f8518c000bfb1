r"""Newton–Schulz error against steps, κ and stable rank: measured, and predicted by ``scalar_map``.

For Haar-random ``G = U diag(σ) Vᵀ`` with σ log-spaced to condition number κ, every named
schedule runs ``k = 1 … K`` steps. The measured error (the engine's ``error``) is

.. math:: e = \|\,\mathrm{NS}_k(G) - \operatorname{msign}(G)\|_F / \|\operatorname{msign}(G)\|_F,

and ``predicted_error``, from the singular values alone, is
``√(Σ_i (φ_k(σ_i/‖G‖_F) − 1)²) / √ρ`` over the ρ nonzero σ, ``φ_k = scalar_map(·, schedule,
steps=k)``. They agree to rounding error in float64: the error of any schedule on any spectrum
can be read off without a matrix product.

A second sweep fixes κ and varies the number of nonzero singular values, hence the stable rank
``sr``. After Frobenius normalization the spectrum lies in ``[1/(κ√sr), 1/√sr]``, so the smallest
normalized singular value — the one a fixed number of steps fails to lift to 1 — falls with both
κ and ``sr``: this is why "stable rank and condition number govern finite-step
orthogonalization" (MuonEq, arXiv 2603.28254). ``smallest_normalized`` records ``σ_ρ / ‖G‖_F``.

Another grid (``--config``) may hold ``newton_schulz`` or ``gram_newton_schulz`` (the same
polynomial of ``G``; both only with different schedules, since the figure draws one line per
schedule) on sources with a ``kappa`` or on ``recorded`` matrices (a panel each, placed by their
measured ``condition_number`` and ``stable_rank``), with at least one full-rank source and
``steps = 5`` on its steps axis (the figure's panels), and one value of every coordinate the
figure does not draw apart (see :func:`check_grid`).

References
----------
N. Amsel et al., *The Polar Express*, arXiv 2505.16932; D. Chang et al., *MuonEq*,
arXiv 2603.28254.
"""

from __future__ import annotations

import math

import numpy as np

from matsign.exact.schedules import scalar_map
from matsign.experiments.engine import Extra
from matsign.experiments.grid import GridError
from matsign.experiments.runner import Experiment, check_figure_separates
from matsign.plots.newton_schulz import BUDGET, MATRIX_PARAMS

NAME = "ns-vs-spectrum"


def predicted_columns(X, context, cell) -> dict:
    """``predicted_error`` from ``scalar_map`` and ``smallest_normalized`` = σ_ρ/‖G‖_F."""
    params = dict(cell.method_params)
    sigma = context.sigma[: context.rho]
    scaled = sigma / np.linalg.norm(sigma)
    phi = scalar_map(scaled, params["schedule"], steps=params["steps"])
    return {
        "predicted_error": float(np.linalg.norm(phi - 1.0) / math.sqrt(context.rho)),
        "smallest_normalized": float(scaled[-1]),
    }


def check_grid(cells):
    """The figure's panels need sources with a ``kappa`` or recorded matrices, full-rank matrices
    (no ``nonzero``) and runs of ``BUDGET`` steps, and draw one line per schedule and point per
    matrix and step count."""
    for cell in cells:
        if not {"kappa", "tensor"} & set(dict(cell.source_params)):
            raise GridError(f"{NAME} needs sources with a kappa or recorded matrices; "
                            f"source {cell.source!r} has neither")
    check_figure_separates(cells, lambda cell: ("schedule", "steps", *MATRIX_PARAMS), NAME)
    if all(dict(cell.source_params).get("nonzero") is not None for cell in cells):
        raise GridError(f"{NAME} needs a full-rank source (one without nonzero): its upper panels show the "
                        "error against steps per κ at full rank")
    if not any(dict(cell.method_params).get("steps") == BUDGET for cell in cells):
        raise GridError(f"{NAME} needs steps = {BUDGET} on its steps axis: its lower panels show the error "
                        f"after {BUDGET} steps")


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.newton_schulz.ns_vs_spectrum_figure`)."""
    from matsign.plots.newton_schulz import ns_vs_spectrum_figure

    return ns_vs_spectrum_figure(table, stem)


EXPERIMENT = Experiment(
    name=NAME,
    description="error of every Newton–Schulz schedule vs steps, κ and stable rank: measured and "
    "predicted by scalar_map",
    figure=figure,
    extra=Extra(("predicted_error", "smallest_normalized"), predicted_columns),
    methods=("newton_schulz", "gram_newton_schulz"),  # the same polynomial of G: scalar_map predicts both
    check_grid=check_grid,
)
