r"""The randomized range finder with power iterations (Halko, Martinsson, Tropp, Alg. 4.3/4.4),
declared as the range ``"gaussian"`` of :func:`matsign.lowrank.sketched_msign` and its sweep method."""

from __future__ import annotations

import functools
import math

import numpy as np

from matsign._backend import EPS
from matsign._backend.checks import all_finite, boundary, check_choice, check_matrix, check_nonnegative_int, check_rank
from matsign._backend.dtypes import dtype_name, library_dtype
from matsign._backend.linalg import lu_basis
from matsign._backend.namespace import library, namespace
from matsign._backend.precision import linalg_dtype, unit_peak_copy
from matsign._backend.random import generator, standard_normal
from matsign.flops import gemm, orthonormalize
from matsign.io.formats import available_memory
from matsign.exact.inner import inner_values
from matsign.lowrank.orth import orthonormal_basis
from matsign.prediction import sampled
from matsign.lowrank.sign import BasisCost, one_of, register_range

__all__ = ["AUTO_NORMALIZER", "NORMALIZERS", "PREDICTION_SEED", "PREDICTION_STOP", "SKETCH_DTYPES", "check_sketch_dtype",
           "gaussian_range", "predict_gaussian", "subspace_iteration"]

#: Normalization between the products of the power iteration.
NORMALIZERS = ("auto", "lu", "qr", "cholesky_qr", "none")

#: What ``normalizer="auto"`` runs between products (see :func:`gaussian_range`, Notes).
AUTO_NORMALIZER = "lu"

#: Precisions the products of the sketch may run in (``sketch_dtype``): those LAPACK normalizes in.
SKETCH_DTYPES = ("float64", "float32")


def check_sketch_dtype(sketch_dtype, name: str = "sketch_dtype"):
    """``None``, or the canonical name of a precision in :data:`SKETCH_DTYPES`; else a ``ValueError``.

    Examples
    --------
    >>> check_sketch_dtype(None), check_sketch_dtype("float")
    (None, 'float32')
    """
    if sketch_dtype is None:
        return None
    precision = dtype_name(sketch_dtype)
    if precision not in SKETCH_DTYPES:
        raise ValueError(
            f"{name} must be None or one of {SKETCH_DTYPES} (the sketch is normalized by LAPACK between its "
            f"products); got {sketch_dtype!r}"
        )
    return precision


@boundary
def gaussian_range(G, rank, *, oversample=0, power_iters=0, normalizer="auto", rng=None, sketch_dtype=None):
    r"""Orthonormal basis ``Q`` (``m × ℓ``) of the range of :math:`(G G^T)^q G \Omega`, Ω Gaussian.

    ``Ω`` is an ``n × ℓ`` standard Gaussian test matrix, ``ℓ = rank + oversample`` and
    ``q = power_iters``; the result is HMT Algorithm 4.4 [1]_ (:func:`subspace_iteration`).

    Parameters
    ----------
    G : array, shape (..., m, n)
        Real floating matrix or stack of matrices (NumPy, CuPy or PyTorch), any orientation;
        it never leaves its device.
    rank : int
        Target rank ``k``, ``1 ≤ k ≤ min(m, n)``.
    oversample : int, default 0
        Extra sketch columns ``p ≥ 0``, with ``k + p ≤ min(m, n)`` (an error, not clipped).
        HMT's expectation bounds need ``p ≥ 2``.
    power_iters : int, default 0
        Number ``q ≥ 0`` of power iterations (each costs two more products with ``G``).
    normalizer : {"auto", "lu", "qr", "cholesky_qr", "none"}
        Normalization between products: ``"auto"`` (the default, currently ``"lu"``; see
        Notes), the permuted lower factor of LU (:func:`matsign._backend.lu_basis`), Householder
        QR, Cholesky-QR2 (see :func:`matsign.lowrank.orthonormalize`), or none (HMT Alg. 4.3).
        The last basis is always orthonormal to working accuracy: Householder QR, except
        Cholesky-QR2 with ``"cholesky_qr"``.
    rng : None, int or generator
        Randomness for ``Ω`` (see :mod:`matsign._backend.random`); the same seed gives the same
        basis on the same backend.
    sketch_dtype : {None, "float32", "float64"}
        Precision of the products with ``G`` and the normalizations between them (default:
        ``G``'s); the last orthonormalization runs in ``G``'s. See Notes, *Mixed precision*.

    Returns
    -------
    array, shape (..., m, ℓ)
        Orthonormal columns, as :func:`matsign.lowrank.orthonormalize` returns them, in ``G``'s
        dtype whatever ``sketch_dtype``.

    Raises
    ------
    ValueError
        For ``rank`` outside ``[1, min(m, n)]``, negative ``oversample`` or ``power_iters``,
        ``rank + oversample > min(m, n)``, an unknown ``normalizer`` or ``sketch_dtype``, or,
        with ``normalizer="none"``, powers of ``G`` that overflow.

    Notes
    -----
    The power iteration replaces the singular values :math:`\sigma_j` by
    :math:`\sigma_j^{2q+1}`, which sharpens the decay the sketch sees (see
    :func:`matsign.bounds.hmt_spectral_bound`).

    **Choosing the normalizer.** Between products only the span matters: any well-conditioned
    basis of it keeps the directions that a QR would keep. LU with partial pivoting (as
    scikit-learn's ``randomized_range_finder`` and Facebook's ``fbpca`` use) gives one for about
    a quarter of the flops of Householder QR with Q formed, and like QR it never breaks down, so
    ``"auto"`` takes it for every ``q`` and every library, with no read back to the host
    (:func:`matsign._backend.lu_basis` keeps an exactly rank-deficient block finite).
    Cholesky-QR2 costs two Gram products and solves (fast on GPUs) but squares the condition
    number of the block and falls back to QR when that exceeds about ``u⁻¹``; ``"none"`` is
    cheapest and loses the directions below ``u^{1/(2q+1)}σ₁`` (below). Neither is chosen
    automatically, since whether they are safe depends on the spectrum; ``benchmarks/lowrank.py``
    measures all of them on sketches with κ up to 1e12. The results of ``"auto"``, ``"lu"``
    and ``"qr"`` differ at rounding level.

    **normalizer="none".** Without re-orthonormalization the columns of :math:`(GG^T)^q G\Omega`
    collapse onto the top singular direction: directions with :math:`\sigma_j/\sigma_1` below
    about :math:`u^{1/(2q+1)}` (``u`` the unit roundoff) are lost; the option is there to study
    that effect. ``G`` is divided by its largest entry first (the range is scale-free), so only
    :math:`(\sigma_1/\max|G|)^{2q+1} \le (mn)^{q+1/2}` grows, and a ``ValueError`` says so if it
    overflows.

    **Mixed precision.** With ``sketch_dtype="float32"`` a float64 ``G`` is copied to float32
    once (half its size in memory), divided by its largest entry (the range is scale-free; a
    plain copy would overflow to inf beyond 3.4e38 and lose its digits below 1.2e-38), and the
    ``2q + 1`` products and the normalizations between them run on the copy at twice the speed; the last block is converted back and orthonormalized
    by Householder QR in float64, so ``Q`` is orthonormal to float64 accuracy and
    :func:`lowrank_msign` projects the float64 ``G`` on it (as the mixed-precision sketches of
    [2]_ keep the expensive products in the lower precision only). Only the span of ``Q`` carries
    the lower precision: each product is exact to about :math:`\varepsilon_{32}\|G\|`, so a
    direction with :math:`\sigma_j/\sigma_1` within a small multiple of
    :math:`\varepsilon_{32} \approx 1.2\cdot 10^{-7}` is found no better than noise, where
    float64 resolves it; the rest of the range moves by about :math:`\varepsilon_{32}\sigma_1 /
    \sigma_\ell` — far below the sketch's own randomness on gradient spectra.
    ``benchmarks/lowrank.py`` measures both at 2048² (σ_i = i⁻¹, rank 64, q = 2): the float64
    alignment of the same seed to 6 digits in 0.71–0.75× the time of scikit-learn's
    ``randomized_svd`` + ``U Vᵀ`` (0.72–0.77× of the float64 sketch), and captured energy within
    1.4e-9 of the float64 sketch on spectra with κ up to 1e12. The Gaussian ``Ω`` is drawn in ``G``'s dtype
    and rounded, so a seed picks the same test matrix in either precision.

    **Stacks.** Every member of ``G`` (shape ``(..., m, n)``) gets its own test matrix: ``Ω`` is
    one standard Gaussian draw of shape ``(..., n, ℓ)`` and member ``G[idx]`` is sketched with
    ``Ω[idx]``, all products and factorizations batched. NumPy fills an array in C order from
    one stream, so there the ``i``-th member gets the basis (to roundoff) that successive 2-D
    calls sharing one ``numpy.random.Generator`` return for it; PyTorch and CuPy fill arrays in
    blocks, so only ``G[idx] ↔ Ω[idx]`` holds. With ``normalizer="cholesky_qr"`` a breakdown in
    any member sends the whole stack to Householder QR for that pass: the same range, possibly
    another basis of it than a 2-D call returns.

    References
    ----------
    .. [1] N. Halko, P.-G. Martinsson, J. A. Tropp, *Finding structure with randomness:
       probabilistic algorithms for constructing approximate matrix decompositions*, SIAM
       Review 53 (2011) 217–288, arXiv 0909.4061 — Alg. 4.3 (power scheme), Alg. 4.4
       (randomized subspace iteration).
    .. [2] E. Carson, I. Daužickaitė, *Single-pass Nyström approximation in mixed precision*,
       arXiv 2205.13355 (the products with the matrix in the lower of two precisions).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.outer([1.0, 2.0, 2.0], [1.0, 0.0, 1.0, 0.0])  # rank 1
    >>> Q = gaussian_range(G, 1, rng=0)
    >>> Q.shape, round(float(abs(Q[0, 0])), 6)
    ((3, 1), 0.333333)
    >>> bool(np.allclose(Q @ (Q.T @ G), G))
    True
    >>> gaussian_range(np.stack([G, G[::-1]]), 1, rng=0).shape  # a stack: one Ω per member
    (2, 3, 1)
    >>> gaussian_range(G, 1, rng=0, sketch_dtype="float32").dtype  # float32 products, float64 basis
    dtype('float64')
    """
    xp = check_matrix(G, "G")
    rank = check_rank(rank, G.shape)
    oversample = check_nonnegative_int(oversample, "oversample")
    power_iters = check_nonnegative_int(power_iters, "power_iters")
    check_choice(normalizer, NORMALIZERS, "normalizer")
    sketch_dtype = check_sketch_dtype(sketch_dtype)
    width = rank + oversample
    limit = min(int(G.shape[-2]), int(G.shape[-1]))
    if width > limit:
        raise ValueError(
            f"rank + oversample = {rank} + {oversample} = {width} exceeds min(m, n) = {limit} "
            f"for G of shape {tuple(G.shape)}; lower oversample"
        )
    A = xp.astype(G, linalg_dtype(G), copy=False)
    # Alg. 4.4, step 1: an n × ℓ standard Gaussian test matrix, one per stack member.
    Omega = standard_normal(generator(rng, A), (*A.shape[:-2], int(A.shape[-1]), width), like=A)
    low = A.dtype if sketch_dtype is None else library_dtype(sketch_dtype, library(A))
    # The range is scale-free: a narrowing copy is taken of A / max|A|, so that float32 neither
    # overflows (max|G| beyond 3.4e38) nor flushes a small G to subnormals or zero.
    narrowing = sketch_dtype == "float32" and dtype_name(A.dtype) == "float64"
    sketched = unit_peak_copy(A, low) if narrowing else xp.astype(A, low, copy=False)
    Q = subspace_iteration(sketched, xp.astype(Omega, low, copy=False), power_iters, normalizer, basis_dtype=A.dtype)
    return xp.astype(Q, G.dtype, copy=False)


def subspace_iteration(A, Omega, power_iters, normalizer, basis_dtype=None):
    """``orth((AAᵀ)^q AΩ)``, steps 2–7 of HMT Alg. 4.4 (Alg. 4.3 with ``normalizer="none"``).

    A kernel for validated input: ``A`` of shape ``(..., m, n)`` and ``Ω`` of shape
    ``(..., n, ℓ)``, both in a LAPACK dtype; ``normalizer`` one of :data:`NORMALIZERS`. The
    last block is orthonormalized in ``basis_dtype`` (default ``A``'s).
    """
    xp = namespace(A)
    if normalizer == "none":
        # Alg. 4.3 forms the powers unnormalized. The range is scale-free: dividing each member
        # by its largest entry bounds their growth by (σ₁/max|A|)^{2q+1} ≤ (mn)^{q+1/2}.
        peak = xp.max(xp.abs(A), axis=(-2, -1), keepdims=True)
        A = A / xp.where(peak > 0, peak, xp.ones_like(peak))
    step = AUTO_NORMALIZER if normalizer == "auto" else normalizer
    # Each block entering a product has entries below 8 (Ω: Gaussian; a normalized block: at
    # most 1), so dividing it by 2^⌈log₂ max(m, n)⌉⁺³ bounds every product's entries by max|A|:
    # none overflows even for entries near the dtype's largest value. The range is scale-free
    # and a power of two changes no digit. Without normalization A is already divided by its
    # largest entry, and the powers are not bounded: no shrinking there.
    length = max(int(A.shape[-2]), int(A.shape[-1]))
    shrink = 1.0 if normalizer == "none" else 2.0 ** -(math.ceil(math.log2(length)) + 3)
    At = xp.matrix_transpose(A)
    Y = A @ (Omega * shrink)  # step 2: Y₀ = AΩ (its orthonormal factor Q₀ is orth(Y₀))
    for _ in range(power_iters):
        # steps 4–5: Ỹⱼ = AᵀQⱼ₋₁, Yⱼ = AQ̃ⱼ
        Y = A @ (normalize_block(At @ (normalize_block(Y, step) * shrink), step) * shrink)
    if normalizer == "none" and not all_finite(Y):
        raise ValueError(
            f"normalizer='none' overflowed: (GGᵀ)^q GΩ with q = power_iters = {power_iters} exceeds the "
            f"range of {A.dtype} even for G scaled to max|G| = 1; use normalizer='qr' or fewer power_iters"
        )
    if basis_dtype is not None:
        Y = xp.astype(Y, basis_dtype, copy=False)
    return orthonormal_basis(Y, final_orthonormalization(normalizer))  # step 7: Q = Q_q


def normalize_block(Y, step):
    """A basis of the columns of ``Y`` between products: ``step`` one of ``"lu"``, ``"qr"``,
    ``"cholesky_qr"``, ``"none"`` (``Y`` itself)."""
    if step == "none":
        return Y
    return lu_basis(Y) if step == "lu" else orthonormal_basis(Y, step)


def final_orthonormalization(normalizer):
    """The orthonormalization of the last block: Cholesky-QR2 with ``"cholesky_qr"``, else QR."""
    return "cholesky_qr" if normalizer == "cholesky_qr" else "qr"


def gaussian_range_flops(m, n, *, rank, oversample, power_iters, normalizer):
    """Flops of :func:`gaussian_range`: ``GΩ``, two products and two normalizations per power
    iteration, the final orthonormalization; the basis is ``m × (rank + oversample)``."""
    width = rank + oversample
    step = AUTO_NORMALIZER if normalizer == "auto" else normalizer
    total = gemm(m, n, width) + power_iters * (2 * gemm(m, n, width) + _step_flops(m, width, step)
                                                + _step_flops(n, width, step))
    total += orthonormalize(m, width, final_orthonormalization(normalizer))
    return BasisCost(total, m, width)


def _step_flops(p, k, step):
    """Flops of :func:`normalize_block` on ``p × k``: LU is ``pk² − k³/3`` (``getrf``)."""
    if step == "none":
        return 0
    return p * k * k - k**3 / 3 if step == "lu" else orthonormalize(p, k, step)


def gaussian_label(params) -> str:
    """The plot label: the paper that uses the variant, with ``q`` and ``p`` when given.

    Examples
    --------
    >>> gaussian_label({"rank": 8, "power_iters": 2, "oversample": 0})
    'Gaussian sketch + 2 power its (HMT)'
    """
    q = int(params.get("power_iters", 0) or 0)
    label = "Gaussian sketch (He et al.)" if q == 0 else f"Gaussian sketch + {q} power it{'s' if q > 1 else ''} (HMT)"
    p = params.get("oversample")
    given = p is not None and not (isinstance(p, float) and math.isnan(p))  # a table's missing value is NaN
    return label + (f", p = {int(p)}" if given and p else "")


#: When the sketches of a ``"gaussian"`` prediction stop, if more than one is drawn at a time
#: (``predict``'s ``sketches``): the standard error of the mean alignment and error at most the
#: first number, or the second number of sketches drawn.
PREDICTION_STOP = (0.0025, 16)

#: Seed of those sketches: a prediction is a deterministic function of σ and the parameters.
PREDICTION_SEED = 0

#: Columns per seeded block of the sketches (:func:`_gaussian_columns`).
PREDICTION_COLUMNS = 16

#: A batch of sketches smaller than this is not checked against the memory available (reading
#: ``/proc/meminfo`` would cost more than a small prediction).
UNCHECKED_SKETCH_BYTES = 1 << 26


@functools.lru_cache(maxsize=128)
def _gaussian_columns(k: int, batch: int, block: int, count: int) -> np.ndarray:
    """Columns ``block·c … (block + 1)·c − 1`` (``c`` = :data:`PREDICTION_COLUMNS`) of the
    ``batch``-th batch of ``count`` sketches of a ``k``-row ``diag(σ)``: a read-only float32
    array ``(count, k, c)`` drawn from its own seed ``(PREDICTION_SEED, k, batch, block)``, so a
    sketch of width ``ℓ`` is the first ``ℓ`` columns of the blocks whatever was asked before, the
    first sketches of a batch are the same whatever its size, and predictions for many ranks of
    one matrix reuse them (at most 128 blocks are kept)."""
    rng = np.random.default_rng((PREDICTION_SEED, k, batch, block))
    columns = rng.standard_normal((count, k, PREDICTION_COLUMNS), dtype=np.float32)
    columns.flags.writeable = False
    return columns


def _sketches(k: int, batch: int, count: int, width: int) -> np.ndarray:
    """The ``batch``-th batch of ``count`` standard Gaussian ``k × width`` sketches, float32 (the
    first row scaling by ``D^{2q+1}`` makes them float64)."""
    blocks = [_gaussian_columns(k, batch, b, count) for b in range(-(-width // PREDICTION_COLUMNS))]
    return np.concatenate(blocks, axis=-1)[..., :width]


def predict_gaussian(spectrum, *, rank, oversample, power_iters, normalizer, inner, steps):
    r"""Monte-Carlo prediction of the method ``"gaussian"``, evaluated on ``diag(σ)``.

    **Why σ suffices.** For ``G = U Σ Vᵀ`` (full orthogonal ``U``, ``V``) the sketch is
    :math:`(GG^T)^q G\Omega = U (\Sigma\Sigma^T)^q \Sigma\, (V^T\Omega)` and :math:`V^T\Omega`
    is again standard Gaussian, so ``range(Q_G) = U·range(Q_Σ)`` in distribution; the low-rank
    sign depends on ``Q`` only through its range (Rayleigh–Ritz included), so
    :math:`X_G = U X_\Sigma V^T` and alignment and error against :math:`U R V^T` are those of
    the diagonal problem. Every normalizer spans the same range in exact arithmetic.

    **Reduced exactly.** ``Σ`` is ``m × n`` with ``k = min(m, n)`` nonzero rows and columns:
    for ``m ≤ n`` only the first ``k`` rows of ``Ω`` reach ``ΣΩ``, for ``m > n`` the last
    ``m − k`` rows of every iterate are zero. So each draw works on ``D = diag(σ)`` (``k × k``)
    and a ``k × ℓ`` Gaussian ``Ω``, ``ℓ = rank + oversample``. The normalizations between
    the method's products multiply on the right, so its range is that of ``Y = D^{2q+1}Ω``, a
    row scaling of ``Ω``; ``Q = Y·T`` with ``T = R⁻¹`` from ``YᵀY = RᵀR``, Householder QR where
    ``Y`` is too ill-conditioned for the Gram matrix (:data:`GRAM_CONDITION`), and the power
    iterations with a Cholesky-QR pass after each product only where it is too ill-conditioned
    even for that (:data:`DIRECT_CONDITION`, :func:`_range_basis`). The singular values
    :math:`s_j` and left vectors :math:`u_j` of ``B = QᵀD`` come from the ``ℓ × ℓ`` matrix
    ``BBᵀ = QᵀD²Q = Tᵀ(DY)ᵀ(DY)T``; its right vectors are :math:`v_j = DQu_j/s_j`. With ``f``
    the inner sign's map of the top ``rank`` of them: alignment
    :math:`= \sum_j f_j s_j / \sum_i \sigma_i`, :math:`\|X\|_F^2 = \sum_j f_j^2`,
    :math:`\langle X, R\rangle = \sum_{i \le \rho} X_{ii}`,
    :math:`X_{ii} = \sigma_i \sum_j (YTu_j)_i^2 f_j / s_j`, so
    :math:`\langle X, R\rangle = \sum_j (f_j/s_j)\, (Tu_j)^T (Z^T Z)(Tu_j)` with ``Z`` the first
    ``ρ`` rows of ``D^{1/2}Y``. ``D`` is diagonal, so its products are row scalings: the dense
    work of a draw is, in the common case, three ``k × ℓ`` Gram matrices (``YᵀY``, ``(DY)ᵀDY``,
    ``ZᵀZ``) and ``ℓ × ℓ`` work (Cholesky, an eigendecomposition), whatever ``q``.

    **Sketches.** Seeded (:data:`PREDICTION_SEED`), ``n = spectrum.sketches`` at a time
    (``predict``'s ``sketches``, default 4) until the standard error of the mean alignment and
    of the mean error is at most 0.0025 — an eighth of the 0.02 the tests ask — or 16 sketches
    (:data:`PREDICTION_STOP`); ``n = 1`` takes one sketch and reports no spread. One sketch
    costs the floor above: at ``1024 × 4096`` 4–7% of running the method (3–5% back to
    back, within 1.7× of its three Gram matrices and eigendecomposition alone), at
    ``2048 × 8192`` 2–4% (``benchmarks/predict.py``). Large matrices concentrate: one sketch's alignment varies by
    ≈ 0.0001–0.006 (measured on the recorded dump and on power laws 128–1024 wide, ranks
    16–128), so 4 or 8 sketches usually do; its error by as little, except where a 16-bit
    storage threshold decides how many Ritz values a run keeps (0.01–0.023 measured for
    bfloat16 power laws 512–768 wide). The sketches of width ``ℓ`` are the first ``ℓ`` columns
    of fixed seeded blocks (:func:`_gaussian_columns`, kept between calls): the draws within a
    prediction are independent, so its mean and spread are those of independent sketches;
    predictions for other ranks or power iterations of the same ``k`` reuse the same columns,
    which makes them correlated with each other (common random numbers: their differences are
    less noisy) but leaves each one unbiased, and saves drawing the Gaussians again (a third of
    the time at ``1024 × 32``).

    ``BBᵀ`` formed in float64 resolves the singular values of ``B`` down to ``√(k·eps₆₄)·s₁``;
    where σ has more values above ``k·eps₆₄·σ₁`` than that resolves (a steep spectrum, κ of
    the top ``rank`` beyond ~1e7), they come from the SVD of ``DQ`` instead, which resolves
    down to about ``k·eps₆₄·s₁``; smaller ones count as zero (the method's own threshold,
    ``default_rtol(rank, n, stored dtype)``, applies above: its inner sign runs on ``QᵀG`` with
    ``G``'s dtype, so a bfloat16 ``G`` keeps only Ritz values above ~0.8% of s₁). Rounding is
    not modelled: ``normalizer="none"`` loses in floating point the directions with
    :math:`\sigma_j/\sigma_1` below about :math:`u^{1/(2q+1)}`, which exact arithmetic keeps;
    a float32 sketch of a float64 ``G`` (``sketched_msign``'s ``sketch_dtype``) those below
    about :math:`\varepsilon_{32}\sigma_1`, and otherwise moves the alignment by ~1e-9.
    """
    k = spectrum.s.size
    rank = check_rank(rank, (spectrum.m, spectrum.n))
    width = rank + oversample
    if width > k:
        raise ValueError(f"rank + oversample = {rank} + {oversample} = {width} exceeds min(m, n) = {k}")
    count = spectrum.sketches
    held = count * k * -(-width // PREDICTION_COLUMNS) * PREDICTION_COLUMNS * 4  # a batch's float32 columns
    if held > UNCHECKED_SKETCH_BYTES and held > (available_memory() or math.inf) / 2:
        raise ValueError(f"sketches = {count} draws {held / 2**30:.1f} GiB of Gaussian columns at once ({k} × {width} "
                         "each), more than half the memory available; take fewer at a time")
    if spectrum.scale == 0:  # the zero matrix
        return sampled([math.nan] * count, [0.0] * count)
    tolerance, most = PREDICTION_STOP
    alignments, errors = [], []
    while True:
        for omega in _sketches(k, len(alignments) // count, count, width):
            a, e = _gaussian_draw(spectrum, omega, rank, power_iters, inner, steps)
            alignments.append(a)
            errors.append(e)
        if count == 1 or len(alignments) >= max(most, count):
            break
        spread = max(np.std(alignments, ddof=1), np.std(errors, ddof=1)) / math.sqrt(len(alignments))
        if spread <= tolerance:
            break
    what = "one seeded sketch" if len(alignments) == 1 else f"mean of {len(alignments)} seeded sketches"
    return sampled(alignments, errors, note=f"{what} of diag(σ)")


#: Smallest ratio of the Cholesky factor's diagonal entries (≈ 1/κ of the block) at which the
#: Gram-matrix route is taken. At κ ≲ 1e4 the Gram matrices lose at most κ²·eps₆₄ ≈ 1e-8
#: relative to σ₁², far below what a prediction resolves.
GRAM_CONDITION = 1e-4

#: The same ratio down to which one Cholesky-QR pass ``Y R⁻¹`` is taken first: it leaves a block
#: orthonormal to about κ²·eps₆₄ ≤ 1e-2 (Cholesky-QR2, arXiv 1809.11085, needs κ ≲ eps^{-1/2}).
CHOLESKY_QR_CONDITION = 1e-7

#: The same ratio, of Householder R, down to which ``D^{2q+1}Ω`` is orthonormalized directly:
#: its range is then resolved to about ``eps₆₄/ratio ≈ 1e-6``.
DIRECT_CONDITION = 1e-10


def _cholesky_factor(Y, condition=GRAM_CONDITION):
    """Upper Cholesky factor ``R`` of ``YᵀY`` (a stack), or None when κ(Y) exceeds about
    ``1/condition`` (or the factorization breaks down)."""
    try:
        R = np.linalg.cholesky(np.swapaxes(Y, -1, -2) @ Y, upper=True)
    except np.linalg.LinAlgError:
        return None
    return R if np.all(_ratio(R) > condition) else None


def _well_conditioned(Y):
    """A basis of the columns of each block of ``Y`` with κ ≈ 1, between power iterations: one
    Cholesky-QR pass (``Y R⁻¹``, orthonormal to about κ(Y)²·eps₆₄, enough to keep the next
    product's range exact), Householder QR where the block is worse conditioned."""
    R = _cholesky_factor(Y, CHOLESKY_QR_CONDITION)
    return np.linalg.qr(Y)[0] if R is None else Y @ _upper_inverse(R)


def _range_basis(d, omega, power_iters):
    """``(Y, T)`` with ``Q = Y·T`` an orthonormal basis of ``range((D²)^q DΩ)``, each block.

    The power iterations' normalizations multiply on the right, so they do not change the
    range: ``range(D·B(D·B(Y))) = range(D³Y)``. The block ``D^{2q+1}Ω`` is formed directly (a
    row scaling) and orthonormalized from its Gram matrix (``T = R⁻¹``, when κ ≲ 1e4), after
    one Cholesky-QR pass (κ ≲ 1e7) or by Householder QR (κ ≲ 1e10); only beyond that the
    iterations run, with one Cholesky-QR pass (Householder QR where it breaks down) after
    every product.
    """
    block = d ** (2 * power_iters + 1) * omega
    Y, R = block, _cholesky_factor(block, CHOLESKY_QR_CONDITION)
    if R is not None and not np.all(_ratio(R) > GRAM_CONDITION):
        Y = block @ _upper_inverse(R)  # one Cholesky-QR pass: κ(Y) ≈ 1 after it
        R = _cholesky_factor(Y)
    if R is not None:
        return Y, _upper_inverse(R)
    Q, R = np.linalg.qr(block)
    if np.all(_ratio(R) > DIRECT_CONDITION):
        return Q, np.eye(Q.shape[-1])
    Y = d * omega
    for _ in range(power_iters):
        Y = d * _well_conditioned(d * _well_conditioned(Y))
    R = _cholesky_factor(Y)
    return (Y, _upper_inverse(R)) if R is not None else (np.linalg.qr(Y)[0], np.eye(Y.shape[-1]))


def _upper_inverse(R):
    """``R⁻¹`` of a nonsingular upper triangular ``R`` (a Cholesky factor): LAPACK ``trtri``, a
    fifth of the time of a general inverse at ``ℓ = 64 … 136``."""
    from scipy.linalg import lapack  # on first use: importing matsign does not load scipy.linalg

    inverse, info = lapack.dtrtri(R, lower=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"dtrtri: singular triangular factor (info = {info})")
    return inverse


def _ratio(R):
    """Smallest over largest absolute diagonal entry of each triangular factor (≈ 1/κ)."""
    diagonal = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
    return diagonal.min(axis=-1) / diagonal.max(axis=-1)


def _gaussian_draw(spectrum, omega, rank, power_iters, inner, steps):
    """Alignment and relative error of the low-rank sign of ``diag(σ)`` for the sketch ``omega`` (``k × ℓ``)."""
    s, rho = spectrum.s, spectrum.rank
    d = s[:, None]  # σ/σ₁ (spectrum_of): the range is scale-free
    Y, T = _range_basis(d, omega, power_iters)  # Q = Y·T
    DY = d * Y
    lam, U = np.linalg.eigh(T.T @ (DY.T @ DY) @ T)  # BBᵀ = QᵀD²Q, ascending
    lam, U = lam[::-1][:rank], U[:, ::-1][:, :rank]
    S = np.sqrt(np.maximum(lam, 0.0))
    resolved = S > math.sqrt(s.size * EPS["float64"]) * S[:1]  # the Gram matrix is float64
    floor = s.size * EPS["float64"]
    if min(rank, np.count_nonzero(d[:, 0] > floor)) > resolved.sum():
        # A steep spectrum: Ritz values below √(k·eps)·s₁ that the method keeps. The SVD of DQ
        # (Q from Householder QR) resolves them down to about k·eps·s₁.
        Y, T = np.linalg.qr(Y @ T)[0], np.eye(Y.shape[-1])
        _, S, Vt = np.linalg.svd(d * Y, full_matrices=False)
        S, U = S[:rank], Vt.T[:, :rank]
        resolved = S > floor * S[:1]
    kept = spectrum.kept(S, rank, spectrum.n) & resolved
    f = inner_values(S, inner, steps, kept) * resolved
    alignment = float(np.sum(f * S)) / float(s.sum())
    if rho == 0:
        return alignment, math.inf if np.sum(f * f) > 0 else 0.0
    # ⟨X, R⟩ = Σ_{i ≤ ρ} X_ii = Σ_j (f_j/s_j) Σ_{i ≤ ρ} σ_i (Q u_j)_i², with Q u_j = Y V_j: one
    # Gram matrix of the first ρ rows weighted by σ_i instead of the k × rank product Q U.
    V = T @ U
    Z = np.sqrt(d[:rho]) * Y[:rho]
    weights = np.divide(f, S, out=np.zeros_like(S), where=resolved)
    inner_product = float(weights @ np.einsum("ij,ij->j", V, (Z.T @ Z) @ V))
    squared = float(np.sum(f * f)) + rho - 2.0 * inner_product
    return alignment, math.sqrt(max(squared, 0.0) / rho)


def wide_gaussian_range(G, rank, *, oversample=0, power_iters=0, normalizer="auto", rng=None, sketch_dtype=None):
    r"""The basis of ``sketched_msign(G, rank, range="gaussian")``: :func:`gaussian_range` on the
    wide orientation of ``G``.

    For ``m ≤ n`` it is ``gaussian_range(G, ...)``, an ``m × ℓ`` basis ``Q`` of the column space,
    and the sign is :math:`Q\,\mathrm{msign}(Q^T G)`. For tall ``G`` (``m > n``) it is
    ``gaussian_range(Gᵀ, ...)``, an ``n × ℓ`` basis ``P`` inside the row space, and
    :func:`lowrank_msign` takes the sign on the right, :math:`\mathrm{msign}(GP)\,P^T` — as
    :func:`column_range` and the official low-rank Muon code do.

    **Same law, less work.** With ``G = UΣVᵀ``, the sketch of ``G`` is
    :math:`U\Sigma (V^T\Omega)` and that of ``Gᵀ`` is :math:`V\Sigma^T (U^T\Omega')`: both are
    ``Σ`` times a standard Gaussian block, so :math:`\mathrm{msign}(QQ^TG)` and
    :math:`\mathrm{msign}(GPP^T)` have the same distribution (and :func:`predict_gaussian`, which
    depends on σ alone, holds for both). The products with ``G`` cost the same; every
    normalization and the final QR work on ``n`` rows instead of ``m`` (a quarter at 3072 × 768).

    Parameters and errors as :func:`gaussian_range`.

    Returns
    -------
    array, shape (..., min(m, n), ℓ)
        Orthonormal columns: in the column space for ``m ≤ n``, in the row space for ``m > n``.

    Examples
    --------
    >>> import numpy as np
    >>> wide_gaussian_range(np.ones((6, 3)), 2, rng=0).shape  # tall: a row-space basis
    (3, 2)
    """
    if G.shape[-2] > G.shape[-1]:
        G = namespace(G).matrix_transpose(G)
    return gaussian_range(G, rank, oversample=oversample, power_iters=power_iters, normalizer=normalizer, rng=rng,
                          sketch_dtype=sketch_dtype)


def wide_gaussian_range_flops(m, n, *, rank, oversample, power_iters, normalizer):
    """Flops of :func:`wide_gaussian_range`: :func:`gaussian_range_flops` of the wide orientation
    (the basis has ``min(m, n)`` rows)."""
    return gaussian_range_flops(min(m, n), max(m, n), rank=rank, oversample=oversample, power_iters=power_iters,
                                normalizer=normalizer)


register_range(
    "gaussian", wide_gaussian_range,
    options={"oversample": check_nonnegative_int, "power_iters": check_nonnegative_int,
             "normalizer": one_of(NORMALIZERS)},
    flops=wide_gaussian_range_flops,
    description="Q·msign(QᵀG), Q from a Gaussian sketch with oversampling and power iterations, "
    "truncated to rank",
    label=gaussian_label,
    predict=predict_gaussian,
)
