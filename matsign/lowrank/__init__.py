"""Low-rank orthogonalization: a range basis ``Q`` (Gaussian sketch or selected columns), then
``Q · msign(Qᵀ G)``, the exact sign of the projected matrix ``Q Qᵀ G``.

- :mod:`.orth` — orthonormal bases of tall blocks (Householder QR, Cholesky-QR2);
- :mod:`.sign` — the low-rank sign, its one-call form, its flops, and :func:`register_range`,
  which declares a range finder (for :func:`sketched_msign` and the sweeps) in one call;
- :mod:`.ranges` — the randomized range finder with power iterations (HMT Alg. 4.4), ``"gaussian"``;
- :mod:`.columns` — column selection (uniform, length-squared, L1 top-k, leverage, pivoted QR),
  ``"column"``;
- :mod:`.oracle` — the rank-r oracle ``U_r V_rᵀ``;
- :mod:`.reference` — plain NumPy versions of all of them, for the tests.

The Gaussian range, the orthonormalizations, the low-rank sign and the oracle take stacks
``(..., m, n)`` (one independent Gaussian test matrix per member); column selection takes single
matrices.
"""

from matsign.lowrank.orth import orthonormalize
from matsign.lowrank.sign import (
    RANGES,
    BasisCost,
    check_range_options,
    lowrank_msign,
    lowrank_sign,
    lowrank_sign_flops,
    one_of,
    register_range,
    sketched_msign,
)
from matsign.lowrank.ranges import NORMALIZERS, gaussian_range, wide_gaussian_range
from matsign.lowrank.columns import STRATEGIES, column_range, select_columns
from matsign.lowrank.oracle import oracle_lowrank_sign

__all__ = [
    "NORMALIZERS",
    "RANGES",
    "STRATEGIES",
    "BasisCost",
    "check_range_options",
    "column_range",
    "gaussian_range",
    "wide_gaussian_range",
    "lowrank_msign",
    "lowrank_sign",
    "sketched_msign",
    "lowrank_sign_flops",
    "one_of",
    "oracle_lowrank_sign",
    "orthonormalize",
    "register_range",
    "select_columns",
]
