r"""The built-in methods, declared here until each moves beside its algorithm (see :mod:`matsign.registry`)."""

from __future__ import annotations

from matsign._backend import check_choice, check_positive_int, check_precision, check_unit_interval
from matsign.exact.converged import PRECISIONS as CONVERGED_PRECISIONS
from matsign.exact.converged import converged_newton_schulz, converged_newton_schulz_flops
from matsign.exact.gram_newton_schulz import gram_newton_schulz, gram_newton_schulz_flops
from matsign.exact.newton_schulz import newton_schulz
from matsign.exact.qdwh import PRECISIONS as QDWH_PRECISIONS
from matsign.exact.qdwh import qdwh_flops, qdwh_sign
from matsign.exact.schedules import get_schedule
from matsign.exact.sign import msign
from matsign.lowrank.columns import LEVERAGE_POWER_ITERS, SKETCH_OVERSAMPLE
from matsign.lowrank.sign import check_inner, check_range_options, lowrank_sign, oracle_lowrank_sign

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
)
register(
    "exact_eigh", _exact_eigh,
    description="msign(G) = (GGᵀ)^(-1/2) G from the Gram eigendecomposition (wide orientation)",
    flops=_exact_eigh_flops,
)
register(
    "exact_ns", _exact_ns,
    description="msign(G) to working accuracy by Newton–Schulz alone: a greedy minimax schedule for "
    "σ_min/σ₁ ≥ lower, then Taylor steps to convergence (dtype float64 or float32)",
    flops=_exact_ns_flops, check=_check_exact_ns,
)
register(
    "qdwh", _qdwh,
    description="msign(G) by the QR-based dynamically weighted Halley iteration (backward stable; "
    "2 QR-form then Cholesky-form steps; dtype float64 or float32)",
    flops=_qdwh_flops, check=_check_qdwh,
)
register(
    "newton_schulz", _newton_schulz,
    description="odd-polynomial Newton–Schulz iteration with a named schedule (Frobenius normalization) "
    "in the working precision dtype (None: the input's; bfloat16/float16 emulated on NumPy and CuPy, "
    "tfloat32 everywhere but PyTorch CUDA)",
    flops=_newton_schulz_flops, check=_check_newton_schulz,
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
    flops=_gaussian_flops, check=_check_gaussian,
)
register(
    "column", _column,
    description="low-rank sign on the span of selected columns of the wide orientation of G",
    flops=_column_flops, check=_check_column,
)
register(
    "oracle", _oracle,
    description="U_r V_rᵀ, the best rank-r sign, from the full SVD", flops=_oracle_flops,
    check=_check_oracle,
)
