r"""The built-in methods, declared here until each moves beside its algorithm (see :mod:`matsign.registry`)."""

from __future__ import annotations

from matsign._backend import (
    check_choice,
    check_matrix,
    check_positive_int,
    check_unit_interval,
    trusted_values,
)
from matsign.equilibration import MODES, check_exponent, equilibrate
from matsign.exact.newton_schulz import newton_schulz, newton_schulz_flops
from matsign.exact.schedules import get_schedule
from matsign.exact.sign import msign
from matsign.lowrank.columns import LEVERAGE_POWER_ITERS, SKETCH_OVERSAMPLE
from matsign.lowrank.sign import check_inner, check_range_options, lowrank_msign, lowrank_sign, oracle_lowrank_sign
from matsign.project import galore_projector, gum_estimate
from matsign.select import INNER, SCORES, slice_count, slice_sign

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
    return newton_schulz_flops(p, q, schedule, steps)


def _lowrank(rows, cols, width, rank, inner, steps):
    """``Q_r · sign(Q_rᵀ A)`` for a ``rows × width`` basis ``Q`` of a ``rows × cols`` matrix ``A``."""
    total = _gemm(width, rows, cols)
    if rank < width:
        total += _svd(width, cols) + _gemm(rows, width, rank) + _gemm(rank, width, cols)
    total += _svd_sign(rank, cols) if inner == "exact" else _ns(rank, cols, inner, steps)
    return total + _gemm(rows, rank, cols)


# ---------------------------------------------------------------- parameter checks (no matrix needed)


def _check_schedule(schedule, steps):
    get_schedule(schedule).steps_coefficients(steps)


def _check_lowrank(rank, inner, steps):
    check_positive_int(rank, "rank")
    check_inner(inner, steps)


# ---------------------------------------------------------------- the built-in methods


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
    flops=_muoneq_flops, check=_check_muoneq,
)
register(
    "dion2", _dion2,
    description="Dion2: sign of the ⌈fraction·min(m, n)⌉ top-scoring rows (columns if tall) scattered "
    "into place, zero elsewhere; fraction 1 is the exact sign",
    flops=_dion2_flops, check=_check_dion2,
)
register(
    "galore", _galore,
    description="P·msign(PᵀG) with GaLore's SVD projector P = top-r singular vectors of the shorter side; "
    "inner='exact' equals 'oracle' (U_r V_rᵀ) computed by two SVDs, a schedule gives GaLore-Muon's "
    "projected Newton–Schulz step",
    flops=_galore_flops, check=_check_galore,
)
register(
    "gum", _gum,
    description="msign of one draw of GUM's unbiased estimate (residual/q with probability q, else "
    "PPᵀG/(1−q)); a single-draw update, biased after the sign (flops: expected over the draw)",
    flops=_gum_flops, check=_check_gum,
)
