"""matsign — the matrix sign (polar factor) of gradient matrices and its cheap approximations.

The top level holds what a researcher types: compute a sign, look at a spectrum, measure an
approximation, load gradients, run any registered method by name. Everything else lives in its
package, layers lowest first (a module imports only from layers below it):

- ``_backend``: arrays (NumPy, CuPy, PyTorch): namespace, dtypes and working precisions, rng,
  input checks (:func:`~matsign._backend.boundary`), BLAS kernels, thread limits;
- ``registry``, ``flops``, ``prediction``: where methods and matrix sources are declared, kernel
  flop counts, and :func:`predict` (a method's error from σ alone, as the method declares it);
- ``spectral``, ``metrics``, ``synthetic``, ``io``: singular-value diagnostics, error measures,
  test matrices, gradient dumps (read without pickle);
- ``exact``: ``msign``, ``newton_schulz`` and its schedules, Gram Newton–Schulz, Newton–Schulz to
  convergence, QDWH;
- ``lowrank``: range finders, the low-rank sign ``Q·msign(QᵀG)``, the oracle; ``bounds``: its
  error bounds;
- ``transforms``: what is done to ``G`` around the sign: MuonEq equilibration, Dion2 slices,
  GaLore/GUM projection;
- ``updates``: stateful per-step rules (Muon, MuonEq, low-rank Muon, Dion, Dion2, GaLore-Muon, GUM);
- ``experiments``, ``plots``, ``cli``, ``recorder``: sweeps, figures, the ``matsign`` command, the
  small model that records gradients.

Each algorithm family keeps a plain NumPy version of its update in ``reference.py`` beside it.

>>> import numpy as np, matsign
>>> G = np.array([[2.0, 0.0], [0.0, 0.5]])
>>> np.round(matsign.newton_schulz(G, "polar_express8"), 4)
array([[1., 0.],
       [0., 1.]])
"""

import importlib
import warnings

# Importing the declaring modules fills the registries (methods, sources, update rules), in this order.
from matsign import registry, spectral, metrics, synthetic, io, exact, lowrank, bounds, transforms, updates  # noqa: I001
from matsign.exact import SCHEDULES, get_schedule, msign, newton_schulz, polar_express_schedule, scalar_map
from matsign.io import load_gradients
from matsign.lowrank import column_range, gaussian_range, lowrank_msign, sketched_msign
from matsign.metrics import alignment, orthogonality_error, rank_floor, relative_error
from matsign.prediction import predict
from matsign.registry import get_method
from matsign.spectral import condition_number, effective_rank, numerical_rank, singular_values, stable_rank
from matsign.transforms import equilibrate, select_slices

__version__ = "0.1.0"

__all__ = [
    "SCHEDULES",
    "alignment",
    "column_range",
    "condition_number",
    "effective_rank",
    "equilibrate",
    "gaussian_range",
    "get_method",
    "get_schedule",
    "load_gradients",
    "lowrank_msign",
    "sketched_msign",
    "msign",
    "newton_schulz",
    "numerical_rank",
    "orthogonality_error",
    "polar_express_schedule",
    "predict",
    "rank_floor",
    "relative_error",
    "scalar_map",
    "select_slices",
    "singular_values",
    "stable_rank",
]

#: Names the top level exported before it was narrowed → the module that holds them now.
MOVED = {
    **dict.fromkeys(
        ["NORMALIZATIONS", "Schedule", "converged_newton_schulz", "gram_newton_schulz", "qdwh_sign",
         "polar_express_coefficients"], "matsign.exact"),
    **dict.fromkeys(["select_columns", "oracle_lowrank_sign"], "matsign.lowrank"),
    **dict.fromkeys(
        ["hmt_frobenius_bound", "hmt_spectral_bound", "lowrank_sign_bound", "optimal_residual", "oracle_alignment"],
        "matsign.bounds"),
    **dict.fromkeys(
        ["nuclear_norm", "power_law_exponent", "spectral_norm", "tail_energy", "spectral_summary",
         "singular_value_summary"], "matsign.spectral"),
    **dict.fromkeys(
        ["equilibration_factors", "slice_count", "Projector", "galore_projector",
         "gum_estimate", "gum_lift", "residual_ratio"], "matsign.transforms"),
    **dict.fromkeys(
        ["Dion", "Dion2", "GUM", "GaLoreMuon", "LowRankMuon", "Muon", "MuonEq", "StepResult", "UPDATE_RULES",
         "shape_factor"], "matsign.updates"),
    **dict.fromkeys(["DumpError", "GradientRecord", "RECORDED_DUMP", "write_manifest", "write_step"], "matsign.io"),
    **dict.fromkeys(["METHODS", "register"], "matsign.registry"),
}


#: Top-level names that were also renamed → their new home and name.
RENAMED = {
    "lowrank_sign": ("matsign", "sketched_msign"),
    "scatter_sign": ("matsign.transforms", "slices_msign"),
    "slice_sign": ("matsign.transforms", "dion2_msign"),
}


def __getattr__(name):
    """The names :data:`MOVED` or :data:`RENAMED` out of the top level, for one release, with a
    DeprecationWarning that says where they are now."""
    if name in RENAMED:
        module, new = RENAMED[name]
        warnings.warn(
            f"matsign.{name} was renamed {module}.{new}; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), new)
    if name in MOVED:
        warnings.warn(
            f"matsign.{name} moved to {MOVED[name]}.{name}; the top-level name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(MOVED[name]), name)
    raise AttributeError(f"module 'matsign' has no attribute {name!r}")
