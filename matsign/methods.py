r"""The built-in methods, declared here until each moves beside its algorithm (see :mod:`matsign.registry`)."""

from __future__ import annotations

import math

from matsign._backend import (
    check_choice,
    check_matrix,
    check_positive_int,
    check_precision,
    check_unit_interval,
    trusted_values,
)
from matsign.equilibration import MODES, check_exponent, equilibrate
from matsign.exact.converged import PRECISIONS as CONVERGED_PRECISIONS
from matsign.exact.converged import converged_newton_schulz, converged_newton_schulz_flops
from matsign.exact.gram_newton_schulz import gram_newton_schulz, gram_newton_schulz_flops
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.qdwh import PRECISIONS as QDWH_PRECISIONS
from matsign.exact.qdwh import qdwh_flops, qdwh_sign
from matsign.exact.schedules import get_schedule
from matsign.exact.sign import msign
from matsign.lowrank.columns import LEVERAGE_POWER_ITERS, SKETCH_OVERSAMPLE
from matsign.lowrank.sign import check_inner, check_range_options, lowrank_msign, lowrank_sign, oracle_lowrank_sign
from matsign.project import galore_projector, gum_estimate
from matsign.select import INNER, SCORES, slice_count, slice_sign

from matsign.flops import eigh_sign as _eigh_sign
from matsign.flops import gemm as _gemm
from matsign.flops import orthonormalize as _orth
from matsign.flops import pivoted_qr as _qrcp
from matsign.flops import qr as _qr
from matsign.flops import svd as _svd
from matsign.flops import svd_sign as _svd_sign
from matsign.registry import METHODS, REQUIRED, Method, complete_params, get_method, register

__all__ = ["METHODS", "REQUIRED", "Method", "complete_params", "get_method", "register"]


# ---------------------------------------------------------------- flop model


def _ns(p, q, schedule, steps):
    s, N = min(p, q), max(p, q)
    triples = get_schedule(schedule).steps_coefficients(steps)
    return sum(4 * s * s * N + (2 * s**3 if c != 0 else 0) for _, _, c in triples)


def _lowrank(rows, cols, width, rank, inner, steps):
    """``Q_r · sign(Q_rᵀ A)`` for a ``rows × width`` basis ``Q`` of a ``rows × cols`` matrix ``A``."""
    total = _gemm(width, rows, cols)
    if rank < width:
        total += _svd(width, cols) + _gemm(rows, width, rank) + _gemm(rank, width, cols)
    total += _svd_sign(rank, cols) if inner == "exact" else _ns(rank, cols, inner, steps)
    return total + _gemm(rows, rank, cols)


# ---------------------------------------------------------------- parameter checks (no matrix needed)


def _check_dtype(dtype, precisions=None):
    """``None`` (the input's precision) or a working precision, among ``precisions`` if given."""
    if dtype is not None:
        name = check_precision(dtype)
        if precisions is not None:
            check_choice(name, precisions, "dtype")


def _check_schedule(schedule, steps):
    get_schedule(schedule).steps_coefficients(steps)


def _check_lowrank(rank, inner, steps):
    check_positive_int(rank, "rank")
    check_inner(inner, steps)


# ---------------------------------------------------------------- plot labels (how the papers name each method)

# TEMPORARY until the merge: the schedule labels become Schedule.label (matsign/exact/schedules.py)
# and the column-strategy labels move to matsign/lowrank/columns.py.
SCHEDULE_LABELS = {
    "cubic": "cubic NS",
    "muon": "Muon quintic",
    "you5": "You (5 steps)",
    "polar_express": "Polar Express",
    "polar_express8": "Polar Express (8)",
    "cans": "CANS",
    "aol4": "Turbo-Muon AOL (4)",
    "deepseek_v4": "DeepSeek-V4",
}

# TEMPORARY until the merge (see SCHEDULE_LABELS).
COLUMN_LABELS = {
    "uniform": "uniform columns (Low-rank Muon)",
    "norm": "norm² sampling",
    "l1_topk": "L1 top-k (Dion2 score)",
    "leverage": "leverage scores",
    "pivoted_qr": "pivoted QR",
}


def _gaussian_label(params):
    """He et al.'s sketch, or HMT's with ``q`` power iterations; the oversampling when given."""
    q = int(params.get("power_iters", 0) or 0)
    label = "Gaussian sketch (He et al.)" if q == 0 else f"Gaussian sketch + {q} power it{'s' if q > 1 else ''} (HMT)"
    p = params.get("oversample")
    given = p is not None and not (isinstance(p, float) and math.isnan(p))  # a table's missing value
    return label + (f", p = {int(p)}" if given and p else "")


def _column_label(params):
    return COLUMN_LABELS.get(params.get("strategy"), f"columns: {params.get('strategy')}")


def _schedule_label(params):
    return SCHEDULE_LABELS.get(params.get("schedule"), str(params.get("schedule")))


# ---------------------------------------------------------------- the built-in methods


def _exact_svd(G, *, rng=None):
    return msign(G, method="svd")


def _exact_svd_flops(m, n):
    return _svd_sign(m, n)


def _exact_eigh(G, *, rng=None):
    return msign(G, method="eigh")


def _exact_eigh_flops(m, n):
    return _eigh_sign(m, n)


def _exact_ns(G, *, rng=None, lower=1e-4, dtype=None):
    return converged_newton_schulz(G, lower=lower, dtype=dtype)


def _exact_ns_flops(m, n, *, lower, dtype):
    return converged_newton_schulz_flops(m, n, lower=lower)


def _check_exact_ns(*, lower, dtype):
    check_unit_interval(lower, "lower")
    _check_dtype(dtype, CONVERGED_PRECISIONS)


def _qdwh(G, *, rng=None, dtype=None):
    return qdwh_sign(G, dtype=dtype)


def _qdwh_flops(m, n, *, dtype):
    # The default lower bound ℓ₀ = eps takes 2 QR-form steps, then 4 Cholesky-form steps in
    # float64 and 2 in float32; dtype=None counts as float64, the sweeps' default input.
    return qdwh_flops(m, n, 2, 4 if dtype in (None, "float64") else 2)


def _check_qdwh(*, dtype):
    _check_dtype(dtype, QDWH_PRECISIONS)


def _newton_schulz(G, *, rng=None, schedule="muon", steps=None, dtype=None):
    return newton_schulz(G, schedule, steps=steps, dtype=dtype)


def _newton_schulz_flops(m, n, *, schedule, steps, dtype):
    return _ns(m, n, schedule, steps)


def _check_newton_schulz(*, schedule, steps, dtype):
    _check_schedule(schedule, steps)
    _check_dtype(dtype)


def _gram_newton_schulz(G, *, rng=None, schedule="muon", steps=None, restarts=(2,), dtype=None):
    return gram_newton_schulz(G, schedule, steps=steps, restarts=restarts, dtype=dtype)


def _gram_newton_schulz_flops(m, n, *, schedule, steps, restarts, dtype):
    return gram_newton_schulz_flops(m, n, schedule, steps=steps, restarts=restarts)


def _check_gram_newton_schulz(*, schedule, steps, restarts, dtype):
    gram_newton_schulz_flops(1, 1, schedule, steps=steps, restarts=restarts)  # checks all three
    _check_dtype(dtype)


def _gaussian(G, *, rng=None, rank, oversample=0, power_iters=0, normalizer="qr", inner="exact", steps=None):
    return lowrank_sign(
        G, rank, range="gaussian", oversample=oversample, power_iters=power_iters,
        normalizer=normalizer, inner=inner, steps=steps, rng=rng,
    )


def _gaussian_flops(m, n, *, rank, oversample, power_iters, normalizer, inner, steps):
    width = rank + oversample
    step_orth = 0 if normalizer == "none" else _orth(m, width, normalizer) + _orth(n, width, normalizer)
    total = _gemm(m, n, width) + power_iters * (2 * _gemm(m, n, width) + step_orth)
    total += _orth(m, width, "qr" if normalizer == "none" else normalizer)
    return total + _lowrank(m, n, width, rank, inner, steps)


def _check_gaussian(*, rank, oversample, power_iters, normalizer, inner, steps):
    _check_lowrank(rank, inner, steps)
    check_range_options("gaussian", {"oversample": oversample, "power_iters": power_iters, "normalizer": normalizer})


def _column(G, *, rng=None, rank, strategy="uniform", inner="exact", steps=None):
    return lowrank_sign(G, rank, range="column", strategy=strategy, inner=inner, steps=steps, rng=rng)


def _column_flops(m, n, *, rank, strategy, inner, steps):
    s, N = min(m, n), max(m, n)
    if strategy in ("norm", "l1_topk"):
        select = 2 * s * N
    elif strategy == "leverage":
        w = min(rank + SKETCH_OVERSAMPLE, s)
        q = LEVERAGE_POWER_ITERS
        sketch = (1 + 2 * q) * _gemm(N, s, w) + q * (_qr(N, w) + _qr(s, w)) + _qr(N, w)
        select = sketch + _gemm(s, N, w) + _svd(s, w) + _gemm(N, w, rank) + 2 * N * rank
    elif strategy == "pivoted_qr":
        w = rank + SKETCH_OVERSAMPLE
        select = _qrcp(s, N) if w >= s else _gemm(w, s, N) + _qrcp(w, N)
    else:
        select = 0
    return select + _qr(s, rank) + _lowrank(s, N, rank, rank, inner, steps)


def _check_column(*, rank, strategy, inner, steps):
    _check_lowrank(rank, inner, steps)
    check_range_options("column", {"strategy": strategy})


def _oracle(G, *, rng=None, rank):
    return oracle_lowrank_sign(G, rank)


def _oracle_flops(m, n, *, rank):
    return _svd(m, n) + _gemm(m, rank, n)


def _check_oracle(*, rank):
    check_positive_int(rank, "rank")


register(
    "exact_svd", _exact_svd,
    description="msign(G) = U Vᵀ from the thin SVD (reference accuracy)", flops=_exact_svd_flops,
    label="exact (SVD)",
)
register(
    "exact_eigh", _exact_eigh,
    description="msign(G) = (GGᵀ)^(-1/2) G from the Gram eigendecomposition (wide orientation)",
    flops=_exact_eigh_flops, label="exact (Gram eigh)",
)
register(
    "exact_ns", _exact_ns,
    description="msign(G) to working accuracy by Newton–Schulz alone: a greedy minimax schedule for "
    "σ_min/σ₁ ≥ lower, then Taylor steps to convergence (dtype float64 or float32)",
    flops=_exact_ns_flops, check=_check_exact_ns, label="exact (NS to convergence)",
)
register(
    "qdwh", _qdwh,
    description="msign(G) by the QR-based dynamically weighted Halley iteration (backward stable; "
    "2 QR-form then Cholesky-form steps; dtype float64 or float32)",
    flops=_qdwh_flops, check=_check_qdwh, label="exact (QDWH)",
)
register(
    "newton_schulz", _newton_schulz,
    description="odd-polynomial Newton–Schulz iteration with a named schedule (Frobenius normalization) "
    "in the working precision dtype (None: the input's; bfloat16/float16 emulated on NumPy and CuPy, "
    "tfloat32 everywhere but PyTorch CUDA)",
    flops=_newton_schulz_flops, check=_check_newton_schulz, label=_schedule_label,
)
register(
    "gram_newton_schulz", _gram_newton_schulz,
    description="Newton–Schulz carried on the m×m Gram matrix (fewer flops when n ≳ 1.5·m; "
    "restarts re-form the iterate for low-precision stability)",
    flops=_gram_newton_schulz_flops, check=_check_gram_newton_schulz,
)
register(
    "gaussian", _gaussian,
    description="Q·msign(QᵀG), Q from a Gaussian sketch with oversampling and power iterations, "
    "truncated to rank",
    flops=_gaussian_flops, check=_check_gaussian, label=_gaussian_label,
)
register(
    "column", _column,
    description="low-rank sign on the span of selected columns of the wide orientation of G",
    flops=_column_flops, check=_check_column, label=_column_label,
)
register(
    "oracle", _oracle,
    description="U_r V_rᵀ, the best rank-r sign, from the full SVD", flops=_oracle_flops,
    check=_check_oracle, label=r"oracle $U_rV_r^\top$",
)


# ---------------------------------------------------------------- one-shot forms of MuonEq, Dion2, GaLore, GUM


def _muoneq(G, *, rng=None, mode="R", exponent=-0.5, schedule="muon", steps=None):
    A = equilibrate(G, mode, exponent=exponent)  # checks G
    with trusted_values(computed_from=G):
        return newton_schulz(A, schedule, steps=steps)


def _muoneq_flops(m, n, *, mode, exponent, schedule, steps):
    return _ns(m, n, schedule, steps)  # the scaling is elementwise work


def _check_muoneq(*, mode, exponent, schedule, steps):
    check_choice(mode, MODES, "mode")
    check_exponent(exponent)
    _check_schedule(schedule, steps)


def _dion2(G, *, rng=None, fraction=0.25, score="l1", inner="exact", schedule="muon", steps=None):
    check_matrix(G, "G", batched=False, finite=False)  # slice_sign would name its own argument, M
    with trusted_values():
        return slice_sign(G, fraction, score=score, rng=rng, inner=inner, schedule=schedule, steps=steps)


def _dion2_flops(m, n, *, fraction, score, inner, schedule, steps):
    # k slices of the shorter side, each of length N: the sign of a k × N matrix.
    k, N = slice_count(fraction, min(m, n)), max(m, n)
    return _svd_sign(k, N) if inner == "exact" else _ns(k, N, schedule, steps)


def _check_dion2(*, fraction, score, inner, schedule, steps):
    slice_count(fraction, 1)  # checks fraction ∈ (0, 1]
    check_choice(score, SCORES, "score")
    check_choice(inner, INNER, "inner")
    if inner == "newton_schulz":
        _check_schedule(schedule, steps)
    else:
        check_inner("exact", steps)  # steps only with a Newton–Schulz inner sign


def _galore(G, *, rng=None, rank, inner="exact", steps=None):
    P = galore_projector(G, rank).P  # checks G
    with trusted_values():
        return lowrank_msign(G, P, inner=inner, steps=steps)


def _galore_flops(m, n, *, rank, inner, steps):
    return _svd(m, n) + _lowrank(min(m, n), max(m, n), rank, rank, inner, steps)


def _check_galore(*, rank, inner, steps):
    _check_lowrank(rank, inner, steps)


def _small_sign(B, inner, steps):
    check_inner(inner, steps)
    return msign(B) if inner == "exact" else newton_schulz(B, inner, steps=steps)


def _gum(G, *, rng=None, rank, q=0.5, inner="exact", steps=None):
    projector = galore_projector(G, rank)  # checks G
    with trusted_values(computed_from=G):
        estimate, branch = gum_estimate(G, projector, q, rng=rng)
        sign = _small_sign(estimate, inner, steps)
    if branch == "low_rank":
        # msign(P·B) = P·msign(B) for orthonormal P: only the projected matrix is signed.
        return projector.up(sign)
    # The residual lies in the complement of span(P), and so does its sign in exact arithmetic;
    # projecting the sign back removes the directions inside span(P) that its rounding noise
    # (about eps·σ₁(G), above msign's threshold relative to σ_{rank+1} when σ₁/σ_{rank+1} is
    # large) would otherwise turn into unit singular values.
    return projector.residual(sign)


def _gum_flops(m, n, *, rank, q, inner, steps):
    """Expected over the branch draw: SVD, PᵀG and one product back, then a full sign with
    probability q or a rank × N sign with probability 1 − q."""
    s, N = min(m, n), max(m, n)

    def sign(rows):
        return _svd_sign(rows, N) if inner == "exact" else _ns(rows, N, inner, steps)

    return _svd(m, n) + _gemm(rank, s, N) + _gemm(s, rank, N) + q * sign(s) + (1 - q) * sign(rank)


def _check_gum(*, rank, q, inner, steps):
    _check_lowrank(rank, inner, steps)
    check_unit_interval(q, "q")


register(
    "muoneq", _muoneq,
    description="Newton–Schulz on MuonEq's equilibrated D_r·G·D_c (mode R, C or RC): approximates "
    "msign(D_r G D_c), a different target from msign(G)",
    flops=_muoneq_flops, check=_check_muoneq, label=lambda params: f"MuonEq-{params.get('mode')}",
)
register(
    "dion2", _dion2,
    description="Dion2: sign of the ⌈fraction·min(m, n)⌉ top-scoring rows (columns if tall) scattered "
    "into place, zero elsewhere; fraction 1 is the exact sign",
    flops=_dion2_flops, check=_check_dion2, label=lambda params: f"Dion2 ({params.get('score')} score)",
)
register(
    "galore", _galore,
    description="P·msign(PᵀG) with GaLore's SVD projector P = top-r singular vectors of the shorter side; "
    "inner='exact' equals 'oracle' (U_r V_rᵀ) computed by two SVDs, a schedule gives GaLore-Muon's "
    "projected Newton–Schulz step",
    flops=_galore_flops, check=_check_galore, label="GaLore projector",
)
register(
    "gum", _gum,
    description="msign of one draw of GUM's unbiased estimate (residual/q with probability q, else "
    "PPᵀG/(1−q)); a single-draw update, biased after the sign (flops: expected over the draw)",
    flops=_gum_flops, check=_check_gum, label="GUM",
)
