r"""Newton–Schulz inside GaLore's projected subspace and in GUM's residual, against the exact sign there.

GaLore (and GUM's low-rank branch) take the sign of the projected matrix ``PᵀG`` (``r × n``,
``P`` the top ``r`` singular vectors of ``G``) and lift it back, ``P·sign(PᵀG)``; GUM's full-rank
branch takes the sign of the residual ``G − PPᵀG`` and projects it back onto the complement
(:mod:`matsign.transforms.projection`). Each cell runs ``galore`` with a Newton–Schulz inner
sign (``inner`` = a schedule, ``steps``); besides the engine's columns (against ``msign(G)``,
which a rank-r sign cannot reach: ``rank_floor``) each row holds, in float64:

- ``inner_error`` — :math:`\|X - P\,\mathrm{msign}(P^TG)\|_F / \|P\,\mathrm{msign}(P^TG)\|_F`: how
  far the iteration is from the exact sign *of the matrix it was given*;
- ``residual_error`` — the same for GUM's full-rank branch: Newton–Schulz against the exact
  sign of ``G − PPᵀG``, both projected onto the complement of ``span(P)``;
- ``full_error`` — the same schedule and steps on the whole ``G`` against ``msign(G)``: the
  baseline a subspace is compared with;
- ``projected_kappa`` — :math:`\sigma_1/\sigma_r`, the condition number of ``PᵀG``;
  ``residual_kappa`` — :math:`\sigma_{r+1}/\sigma_\rho`, that of the residual.

A finite Newton–Schulz iteration is a polynomial in the singular values of what it is given,
normalized by that matrix's Frobenius norm: its error depends on the κ and the spread of that
spectrum alone, whether it comes from a projection or not.

References
----------
J. Zhao et al., *GaLore*, arXiv 2403.03507; Pan et al., *GUM*, arXiv 2510.17802; SUMO
(NeurIPS 2025), which reports that Newton–Schulz "breaks down" inside a projected subspace.
"""

from __future__ import annotations

from matsign._backend import namespace, to_numpy
from matsign.exact.inner import inner_sign
from matsign.exact.newton_schulz import newton_schulz
from matsign.experiments.engine import Extra
from matsign.experiments.grid import GridError
from matsign.experiments.runner import Experiment, check_figure_separates
from matsign.metrics import relative_error
from matsign.transforms.projection import galore_projector

NAME = "projected-ns"


def _error(X, S) -> float:
    xp = namespace(S)
    return float(to_numpy(relative_error(xp.astype(X, xp.float64), S)))


def subspace_columns(X, context, cell) -> dict:
    """Errors of the cell's Newton–Schulz inner sign against the exact sign of what it was given."""
    params = dict(cell.method_params)
    rank, inner, steps = params["rank"], params["inner"], params["steps"]
    G64 = context.G64
    projector = galore_projector(G64, rank)
    target = projector.up(inner_sign(projector.down(G64), "exact"))
    residual = projector.residual(G64)
    residual_target = projector.residual(inner_sign(residual, "exact"))
    residual_ns = projector.residual(inner_sign(projector.residual(context.G), inner, steps))
    sigma, rho = context.sigma, context.rho
    return {
        "inner_error": _error(X, target),
        "residual_error": _error(residual_ns, residual_target),
        "full_error": _error(newton_schulz(context.G, inner, steps=steps), context.exact),
        "projected_kappa": float(sigma[0] / sigma[rank - 1]),
        "residual_kappa": float(sigma[rank] / sigma[rho - 1]) if rank < rho else float("nan"),
    }


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.projected_ns.projected_ns_figure`)."""
    from matsign.plots.projected_ns import projected_ns_figure

    return projected_ns_figure(table, stem)


def check_grid(cells):
    """A Newton–Schulz inner sign (the residual branch needs rank < min(m, n)); the figure draws a
    line per schedule and rank over the steps, a panel per matrix."""
    for cell in cells:
        params = dict(cell.method_params)
        if params["inner"] == "exact" or params["steps"] is None:
            raise GridError(f"{NAME} measures a Newton–Schulz inner sign: give galore an inner schedule and steps, "
                            f"not inner={params['inner']!r}, steps={params['steps']!r}")
        if params["rank"] >= min(cell.m, cell.n):
            raise GridError(f"{NAME} needs rank < min(m, n) for the residual; {cell.source} is {cell.m} × {cell.n}")
    check_figure_separates(cells, lambda cell: ("source", "m", "n", *(k for k, _ in cell.source_params),
                                                "inner", "rank", "steps"), NAME)


EXPERIMENT = Experiment(
    name=NAME,
    description="Newton–Schulz vs the exact sign inside GaLore's projected subspace and GUM's residual, "
    "against the steps, beside Newton–Schulz on the whole matrix",
    figure=figure,
    extra=Extra(("inner_error", "residual_error", "full_error", "projected_kappa", "residual_kappa"),
                subspace_columns),
    methods=("galore",),
    method_params=("rank", "inner", "steps"),
    check_grid=check_grid,
)
