"""Low-rank orthogonalization: a range basis ``Q`` (Gaussian sketch or selected columns), then
``Q · msign(Qᵀ G)``, the exact sign of the projected matrix ``Q Qᵀ G``.

- :mod:`.orth` — orthonormal bases of tall blocks (Householder QR, Cholesky-QR2);
- :mod:`.ranges` — the randomized range finder with power iterations (HMT Alg. 4.4);
- :mod:`.columns` — column selection (uniform, length-squared, L1 top-k, leverage, pivoted QR);
- :mod:`.sign` — the low-rank sign, its one-call form, and the rank-r oracle ``U_r V_rᵀ``.

The Gaussian range, the orthonormalizations, the low-rank sign and the oracle take stacks
``(..., m, n)`` (one independent Gaussian test matrix per member); column selection takes single
matrices.
"""

from matsign.lowrank.columns import STRATEGIES, column_range, select_columns
from matsign.lowrank.orth import orthonormalize
from matsign.lowrank.ranges import NORMALIZERS, gaussian_range
from matsign.lowrank.sign import RANGES, lowrank_msign, lowrank_sign, oracle_lowrank_sign

__all__ = [
    "NORMALIZERS",
    "RANGES",
    "STRATEGIES",
    "column_range",
    "gaussian_range",
    "lowrank_msign",
    "lowrank_sign",
    "oracle_lowrank_sign",
    "orthonormalize",
    "select_columns",
]
