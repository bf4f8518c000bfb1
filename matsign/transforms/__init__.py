r"""Transforms of ``G`` around the sign: what is signed, and how the sign is mapped back.

- :mod:`.equilibration` — MuonEq: ``G`` is scaled by diagonal row and/or column factors
  ``D_r G D_c`` (inverse square roots of the squared norms) before Newton–Schulz; the sign is
  used as it is, so the target becomes ``msign(D_r G D_c)``, not ``msign(G)``.
- :mod:`.slices` — Dion2: ``k = ⌈fraction·size⌉`` rows (or columns) of the shorter side are
  selected by score; only that submatrix is signed, and its sign is scattered back into place,
  zero elsewhere.
- :mod:`.projection` — GaLore and GUM: ``G`` is projected onto the top-r singular subspace of
  its shorter side (``PᵀG``), the small matrix is signed and lifted back (``P·msign(PᵀG)``);
  GUM instead draws, per call, either that branch or the residual ``G − PPᵀG`` at full rank,
  scaled so the estimate is unbiased, and signs the drawn one.

- :mod:`.whitening` — MUD: the rows of ``G`` whitened by a unit lower-triangular solve with
  their Gram matrix instead of the polar factor.

Each module declares its method (``muoneq``, ``dion2``, ``galore``, ``gum``, ``mud``) in
:mod:`matsign.registry`. Plain NumPy versions of the four are in :mod:`.reference`.
"""

from matsign.transforms.equilibration import (
    MODES,
    check_equilibration_params,
    check_exponent,
    check_muoneq_params,
    equilibrate,
    equilibration_factors,
)
from matsign.transforms.slices import (
    SCORES,
    check_dion2_msign_params,
    check_fraction,
    dion2_msign,
    scatter_sign,
    select_slices,
    selection_slots,
    slice_count,
    slice_inner,
    slice_sign,
    slices_msign,
)
from matsign.transforms.projection import (
    BRANCHES,
    SIDES,
    Projector,
    check_galore_params,
    check_gum_params,
    galore_projector,
    gum_estimate,
    gum_lift,
    residual_ratio,
)
from matsign.transforms.whitening import check_mud_params, mud_flops, mud_whiten

__all__ = [
    "BRANCHES",
    "MODES",
    "SCORES",
    "SIDES",
    "Projector",
    "check_equilibration_params",
    "check_exponent",
    "check_fraction",
    "check_galore_params",
    "check_gum_params",
    "check_mud_params",
    "check_muoneq_params",
    "check_dion2_msign_params",
    "equilibrate",
    "equilibration_factors",
    "galore_projector",
    "mud_flops",
    "mud_whiten",
    "gum_estimate",
    "gum_lift",
    "residual_ratio",
    "scatter_sign",
    "slices_msign",
    "select_slices",
    "selection_slots",
    "slice_count",
    "slice_inner",
    "dion2_msign",
    "slice_sign",
]
