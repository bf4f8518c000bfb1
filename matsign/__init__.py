"""matsign — the matrix sign (polar factor) of gradient matrices and its cheap approximations.

Layers, lowest first (lower layers never import higher ones):

- ``_backend``: array namespace (NumPy, CuPy, PyTorch), rng, precision, validation;
- ``spectral``, ``metrics``, ``synthetic``, ``io``: diagnostics, error measures, test matrices,
  gradient dumps (written and read without pickle);
- ``exact``: ``msign``, ``newton_schulz`` and its schedules, ``converged_newton_schulz``, ``qdwh_sign``;
- ``lowrank``: range finders, column selection, ``Q · msign(QᵀG)``; ``bounds``: the error bounds;
- ``equilibration``, ``select``, ``project``: MuonEq scaling, Dion2 slice selection, GaLore/GUM
  projection;
- ``methods``: the registry sweeps draw from (name → callable with a FLOP estimate);
- ``updates``: stateful per-step rules (Muon, MuonEq, low-rank Muon, Dion, Dion2, GaLore-Muon, GUM).

>>> import numpy as np, matsign
>>> G = np.array([[2.0, 0.0], [0.0, 0.5]])
>>> np.round(matsign.newton_schulz(G, "polar_express8"), 4)
array([[1., 0.],
       [0., 1.]])
"""

from matsign.exact import (
    NORMALIZATIONS,
    SCHEDULES,
    Schedule,
    converged_newton_schulz,
    get_schedule,
    gram_newton_schulz,
    msign,
    newton_schulz,
    polar_express_coefficients,
    polar_express_schedule,
    qdwh_sign,
    scalar_map,
)
from matsign.bounds import (
    hmt_frobenius_bound,
    hmt_spectral_bound,
    lowrank_sign_bound,
    optimal_residual,
    oracle_alignment,
)
from matsign.lowrank import (
    column_range,
    gaussian_range,
    lowrank_msign,
    lowrank_sign,
    oracle_lowrank_sign,
    select_columns,
)
from matsign.equilibration import equilibrate, equilibration_factors
from matsign.io import RECORDED_DUMP, DumpError, GradientRecord, load_gradients, write_manifest, write_step
from matsign.methods import METHODS, get_method, register
from matsign.project import Projector, galore_projector, gum_estimate, gum_lift, residual_ratio
from matsign.select import scatter_sign, select_slices, slice_count, slice_sign
from matsign.updates import (
    GUM,
    UPDATE_RULES,
    Dion,
    Dion2,
    GaLoreMuon,
    LowRankMuon,
    Muon,
    MuonEq,
    StepResult,
    shape_factor,
)
from matsign.metrics import alignment, orthogonality_error, rank_floor, relative_error
from matsign.spectral import (
    condition_number,
    effective_rank,
    nuclear_norm,
    numerical_rank,
    power_law_exponent,
    singular_value_summary,
    singular_values,
    spectral_norm,
    spectral_summary,
    stable_rank,
    tail_energy,
)

__version__ = "0.1.0"

__all__ = [
    "Dion",
    "Dion2",
    "DumpError",
    "GUM",
    "GaLoreMuon",
    "GradientRecord",
    "LowRankMuon",
    "METHODS",
    "Muon",
    "MuonEq",
    "NORMALIZATIONS",
    "Projector",
    "RECORDED_DUMP",
    "SCHEDULES",
    "Schedule",
    "StepResult",
    "UPDATE_RULES",
    "alignment",
    "column_range",
    "condition_number",
    "effective_rank",
    "equilibrate",
    "equilibration_factors",
    "galore_projector",
    "gaussian_range",
    "get_method",
    "get_schedule",
    "converged_newton_schulz",
    "gram_newton_schulz",
    "gum_estimate",
    "gum_lift",
    "hmt_frobenius_bound",
    "hmt_spectral_bound",
    "load_gradients",
    "lowrank_msign",
    "lowrank_sign",
    "lowrank_sign_bound",
    "msign",
    "newton_schulz",
    "nuclear_norm",
    "numerical_rank",
    "optimal_residual",
    "oracle_alignment",
    "oracle_lowrank_sign",
    "orthogonality_error",
    "polar_express_coefficients",
    "polar_express_schedule",
    "qdwh_sign",
    "power_law_exponent",
    "rank_floor",
    "register",
    "relative_error",
    "residual_ratio",
    "scalar_map",
    "scatter_sign",
    "select_columns",
    "select_slices",
    "shape_factor",
    "singular_value_summary",
    "singular_values",
    "slice_count",
    "slice_sign",
    "spectral_norm",
    "spectral_summary",
    "stable_rank",
    "tail_energy",
    "write_manifest",
    "write_step",
]
