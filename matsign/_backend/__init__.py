"""The only layer that knows which array library it runs on.

- :mod:`.namespace` — the array-API namespace, library names, host transfers of tiny data;
- :mod:`.precision` — working precisions and their (possibly emulated) arithmetic;
- :mod:`.random` — ``rng=`` handling and samplers;
- :mod:`.checks` — input validation with errors that name the argument, value scans skipped
  for arrays a public function computed from inputs it has checked;
- :mod:`.linalg` — fused ``βC + αAB``, Cholesky with failure detection, triangular solves,
  host-side column pivoting;
- :mod:`.threads` — one BLAS/PyTorch thread per sweep cell.
"""

from matsign._backend.checks import (
    all_finite,
    boundary,
    check_choice,
    check_matrix,
    check_nonnegative_int,
    check_positive_int,
    check_rank,
    check_real,
    check_rtol,
    check_same_library,
    check_unit_interval,
    integer_argument,
    trusted_values,
    values_trusted,
)
from matsign._backend.namespace import (
    LIBRARIES,
    device,
    from_numpy,
    library,
    namespace,
    placeholder,
    to_numpy,
)
from matsign._backend.precision import (
    ARRAY_DTYPES,
    EPS,
    PRECISIONS,
    Arithmetic,
    arithmetic,
    check_precision,
    default_rtol,
    dtype_name,
    eps_of,
    linalg_dtype,
    round_to,
)
from matsign._backend.random import generator, standard_normal, uniform
from matsign._backend.threads import pin_single_thread, single_threaded

__all__ = [
    "ARRAY_DTYPES",
    "EPS",
    "LIBRARIES",
    "PRECISIONS",
    "Arithmetic",
    "all_finite",
    "boundary",
    "arithmetic",
    "check_choice",
    "check_matrix",
    "check_nonnegative_int",
    "check_positive_int",
    "check_precision",
    "check_rank",
    "check_real",
    "check_rtol",
    "check_same_library",
    "check_unit_interval",
    "default_rtol",
    "device",
    "dtype_name",
    "eps_of",
    "from_numpy",
    "generator",
    "integer_argument",
    "library",
    "linalg_dtype",
    "namespace",
    "pin_single_thread",
    "placeholder",
    "round_to",
    "single_threaded",
    "standard_normal",
    "to_numpy",
    "trusted_values",
    "uniform",
    "values_trusted",
]
