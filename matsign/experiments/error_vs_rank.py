r"""Low-rank signs against rank: every range finder between the oracle and the rank floor.

Each low-rank method ``X = Q·msign(QᵀG)`` (Gaussian sketch with 0–2 power iterations, column
selection by every strategy) and the oracle ``U_r V_rᵀ`` run at ranks ``r`` on power-law,
exponential and low-rank-plus-noise spectra. Besides the engine's metrics each row has

- ``oracle_distance`` — :math:`\|X - U_rV_r^T\|_F / \sqrt r`, the distance to the best rank-r
  sign (``r`` capped at ρ); NaN where :math:`\sigma_r = \sigma_{r+1}` (to ``1e-12·σ₁``), since
  the oracle is then not unique (flat parts of a spectrum, e.g. the noise floor of
  ``low_rank_noise``);
- ``residual`` — :math:`\varepsilon_F = \|(I - P)G\|_F` for ``P`` the projector on the range
  of ``X`` (on its row space for column selection on a tall ``G``, where the methods project on
  the right); ``X`` is the rank-r sign of ``PG``, so the deterministic bound applies:
- ``bound`` — :func:`matsign.bounds.lowrank_sign_bound` on the oracle distance,
  :math:`\sqrt2\,\varepsilon_F / (\sigma_r - \sigma_{r+1} - \varepsilon_F) / \sqrt r` (``inf``
  when the residual exceeds the gap), and ``error_bound`` — the bound it implies on ``error``,
  :math:`(\sqrt{\rho - r} + \sqrt r\cdot\text{bound}) / \sqrt\rho`;
- ``oracle_alignment`` — the Ky Fan ratio :math:`\sum_{i\le r}\sigma_i / \sum_i\sigma_i`, the
  best alignment of any rank-r step.

The oracle's ``error`` equals the rank floor :math:`\sqrt{(\rho - r)/\rho}` on any spectrum, and
no rank-r method goes below it; the alignment of every method stays below the Ky Fan ratio.
Another grid (``--config``) may hold any method with a ``rank`` parameter.

References
----------
C. He, Z. Deng, Z. Lu, arXiv 2509.11983 (low-rank orthogonalization); N. Halko,
P.-G. Martinsson, J. A. Tropp, arXiv 0909.4061 (range finders).
"""

from __future__ import annotations

import math

import numpy as np

from matsign._backend import namespace, to_numpy
from matsign.bounds import lowrank_sign_bound, oracle_alignment
from matsign.experiments.engine import Extra
from matsign.experiments.runner import Experiment

NAME = "error-vs-rank"

#: Relative gap σ_r − σ_{r+1} below which the rank-r oracle counts as not unique.
GAP = 1e-12


def lowrank_columns(X, context, cell) -> dict:
    """The oracle distance, range residual, deterministic bound and Ky Fan ratio of one cell."""
    rank = int(dict(cell.method_params)["rank"])
    xp = namespace(context.G64)
    X64 = xp.astype(X, xp.float64)
    effective = min(rank, context.rho)
    sigma = context.sigma
    following = sigma[rank] if rank < sigma.size else 0.0
    if sigma[rank - 1] - following > GAP * sigma[0]:
        distance = float(to_numpy(xp.linalg.vector_norm(X64 - context.oracle(rank)))) / math.sqrt(effective)
    else:
        distance = math.nan
    right = cell.method == "column" and cell.m > cell.n
    A = xp.matrix_transpose(X64) if right else X64
    G = xp.matrix_transpose(context.G64) if right else context.G64
    U, s, _ = xp.linalg.svd(A, full_matrices=False)
    s = to_numpy(s)
    kept = int(np.count_nonzero(s > max(cell.m, cell.n) * np.finfo(np.float64).eps * s[0])) if s[0] > 0 else 0
    Uk = U[:, :kept]
    residual = float(to_numpy(xp.linalg.vector_norm(G - Uk @ (xp.matrix_transpose(Uk) @ G))))
    if kept == effective and effective == rank:
        bound = lowrank_sign_bound(context.sigma, rank, residual) / math.sqrt(rank)
        floor = math.sqrt(context.rho - rank)
        error_bound = (floor + math.sqrt(rank) * bound) / math.sqrt(context.rho)
    else:  # X does not have rank r: the bound's hypothesis fails
        bound = error_bound = math.nan
    return {
        "oracle_distance": distance, "residual": residual, "bound": bound, "error_bound": error_bound,
        "oracle_alignment": oracle_alignment(context.sigma, rank),
    }


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.lowrank.error_vs_rank_figure`)."""
    from matsign.plots.lowrank import error_vs_rank_figure

    return error_vs_rank_figure(table, stem)


EXPERIMENT = Experiment(
    name=NAME,
    description="low-rank signs (Gaussian sketch ± power iterations, column selection) vs rank, "
    "with the oracle U_r V_rᵀ, the rank floor and the deterministic bound",
    figure=figure,
    extra=Extra(("oracle_distance", "residual", "bound", "error_bound", "oracle_alignment"), lowrank_columns),
    method_params=("rank",),
)
