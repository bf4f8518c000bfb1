"""The only layer that knows which array library it runs on.

Its modules, each importing only those listed before it:

- :mod:`.dtypes` — names of the working precisions, their epsilon, their dtype in each library;
- :mod:`.namespace` — the array-API namespace, library names, host transfers of tiny data;
- :mod:`.linalg` — fused ``βC + αAB``, Cholesky with failure detection, triangular solves,
  host-side column pivoting;
- :mod:`.precision` — working precisions on arrays: rounding, and the (possibly emulated)
  :class:`Arithmetic` built on the fused product of :mod:`.linalg`;
- :mod:`.checks` — input validation with errors that name the argument, and the
  :func:`boundary` that scans values once per public call;
- :mod:`.random` — ``rng=`` handling and samplers;
- :mod:`.threads` — one BLAS/PyTorch thread per sweep cell (imports nothing of matsign).
"""

from matsign._backend.dtypes import ARRAY_DTYPES, EPS, PRECISIONS, check_precision, dtype_name, library_dtype
from matsign._backend.namespace import (
    LIBRARIES,
    device,
    from_numpy,
    library,
    namespace,
    placeholder,
    to_numpy,
)
from matsign._backend.linalg import cholesky_upper, column_pivots, euclidean_norm, lu_basis, matmul_add, matmul_add_into, matmul_into, solve_upper_right, thin_qr
from matsign._backend.precision import (
    Arithmetic,
    arithmetic,
    as_linalg_dtype,
    default_rtol,
    eps_of,
    linalg_dtype,
    round_to,
    tf32_products,
    unit_peak_copy,
)
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
    resolve_rtol,
    trusted_values,
    values_trusted,
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
    "arithmetic",
    "as_linalg_dtype",
    "boundary",
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
    "cholesky_upper",
    "column_pivots",
    "default_rtol",
    "device",
    "dtype_name",
    "eps_of",
    "euclidean_norm",
    "from_numpy",
    "generator",
    "integer_argument",
    "library",
    "library_dtype",
    "linalg_dtype",
    "lu_basis",
    "matmul_add",
    "matmul_add_into",
    "matmul_into",
    "namespace",
    "pin_single_thread",
    "placeholder",
    "resolve_rtol",
    "round_to",
    "single_threaded",
    "solve_upper_right",
    "standard_normal",
    "thin_qr",
    "tf32_products",
    "to_numpy",
    "trusted_values",
    "unit_peak_copy",
    "uniform",
    "values_trusted",
]
