r"""Matrix sources of a sweep: named families of test matrices with parameters.

A :class:`Source` builds one float64 NumPy matrix from a shape, a seed and its parameters; the
sweep engine moves it to the backend and casts it to the cell's ``input_dtype``. Generating on
the host in float64 makes the matrix of a (source, parameters, seed) the same on every backend
and for every method, so methods and backends are compared on identical inputs.

Every source takes ``m`` and ``n`` (required). The built-in families (see
:mod:`matsign.synthetic`):

=================  ==============================================================  ===========================
name               matrix                                                          parameters (defaults)
=================  ==============================================================  ===========================
``power_law``      σ_i = i^(−α) between Haar factors                               ``alpha=1.0``, ``nonzero``
``exponential``    σ_i = exp(−rate·(i − 1))                                        ``rate=0.05``, ``nonzero``
``log_uniform``    σ log-spaced from 1 to 1/κ                                      ``kappa`` (required), ``nonzero``
``low_rank_noise`` ``signal_rank`` unit values, then ``noise``                    ``signal_rank``, ``noise=0.01``
``student_t``      i.i.d. Student-t entries                                        ``dof=3``
``scale_mismatch`` ``D_r · U diag(σ) Vᵀ · D_c``, σ log-spaced to κ                ``row_spread=100``, ``col_spread=1``, ``kappa=10``
``recorded``       a gradient or momentum matrix from a dump (:mod:`matsign.io`)   ``tensor``, ``step``, ``kind="grad"``, ``path=""``
=================  ==============================================================  ===========================

``nonzero`` is the number of nonzero singular values (default ``min(m, n)``): at a fixed κ it
sets the stable rank. ``recorded`` takes its shape from the dump (give no ``m``, ``n``);
``path=""`` is the small dump shipped with the package (:data:`matsign.io.RECORDED_DUMP`), and
its matrix is the same for every seed. Add a family with :func:`matsign.registry.register_source`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from matsign._backend import check_positive_int
from matsign.registry import SOURCES, Source, get_source, register_source
from matsign.synthetic import (
    exponential_decay,
    log_uniform,
    low_rank_plus_noise,
    power_law,
    scale_mismatch,
    student_t_matrix,
    with_spectrum,
)

__all__ = ["SOURCES", "Source", "get_source", "register_source"]


# ---------------------------------------------------------------- the built-in families


def _support(m, n, nonzero):
    """The number of nonzero singular values: ``nonzero``, default ``min(m, n)``, checked."""
    if nonzero is None:
        return min(m, n)
    nonzero = check_positive_int(nonzero, "nonzero")
    if nonzero > min(m, n):
        raise ValueError(f"nonzero must be at most min(m, n) = {min(m, n)}, got {nonzero}")
    return nonzero


def _finite(value, name) -> float:
    """``value`` as a float if it is a finite real number, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _power_law(m, n, *, rng=None, alpha=1.0, nonzero=None):
    return with_spectrum(power_law(_support(m, n, nonzero), alpha), m, n, rng=rng)


def _check_power_law(m, n, alpha, nonzero):
    power_law(_support(m, n, nonzero), _finite(alpha, "alpha"))


def _exponential(m, n, *, rng=None, rate=0.05, nonzero=None):
    return with_spectrum(exponential_decay(_support(m, n, nonzero), rate), m, n, rng=rng)


def _check_exponential(m, n, rate, nonzero):
    if _finite(rate, "rate") < 0:
        raise ValueError(f"rate must be non-negative, got {rate!r}")
    _support(m, n, nonzero)


def _log_uniform(m, n, *, rng=None, kappa, nonzero=None):
    return with_spectrum(log_uniform(_support(m, n, nonzero), kappa), m, n, rng=rng)


def _check_log_uniform(m, n, kappa, nonzero):
    log_uniform(_support(m, n, nonzero), _finite(kappa, "kappa"))


def _low_rank_noise(m, n, *, rng=None, signal_rank, noise=0.01):
    return with_spectrum(low_rank_plus_noise(min(m, n), signal_rank, noise), m, n, rng=rng)


def _check_low_rank_noise(m, n, signal_rank, noise):
    _finite(noise, "noise")
    try:
        low_rank_plus_noise(min(m, n), signal_rank, noise)
    except ValueError as exc:
        # The generator's own checks, with its "rank" called signal_rank here.
        message = str(exc)
        raise ValueError(f"signal_{message}" if message.startswith("rank") else message) from None


def _student_t(m, n, *, rng=None, dof=3):
    return student_t_matrix(m, n, dof, rng=rng)


def _check_student_t(m, n, dof):
    check_positive_int(dof, "dof")


def _scale_mismatch(m, n, *, rng=None, row_spread=100.0, col_spread=1.0, kappa=10.0):
    sigma = log_uniform(min(m, n), kappa)
    return scale_mismatch(sigma, m, n, row_spread=row_spread, col_spread=col_spread, rng=rng)


def _check_scale_mismatch(m, n, row_spread, col_spread, kappa):
    scale_mismatch(np.ones(1), 1, 1, row_spread=row_spread, col_spread=col_spread, rng=0)
    log_uniform(1, _finite(kappa, "kappa"))


register_source(
    "power_law", _power_law, description="σ_i = i^(−α) between Haar-random factors",
    check=_check_power_law,
)
register_source(
    "exponential", _exponential, description="σ_i = exp(−rate·(i − 1)) between Haar-random factors",
    check=_check_exponential,
)
register_source(
    "log_uniform", _log_uniform, description="σ log-spaced from 1 to 1/κ between Haar-random factors",
    check=_check_log_uniform,
)
register_source(
    "low_rank_noise", _low_rank_noise,
    description="signal_rank unit singular values plus a flat noise floor", check=_check_low_rank_noise,
)
register_source(
    "student_t", _student_t, description="i.i.d. Student-t entries (heavy-tailed random matrix)",
    check=_check_student_t,
)
register_source(
    "scale_mismatch", _scale_mismatch,
    description="rows and columns of a log-uniform-κ matrix rescaled over row_spread / col_spread",
    check=_check_scale_mismatch,
)


def _record(tensor, step, kind, path):
    """The record ``kind/tensor`` of ``step`` in the dump at ``path`` ("" = the shipped dump)."""
    from matsign.io import RECORDED_DUMP, load_gradients

    root = path or RECORDED_DUMP
    records = list(load_gradients(root))
    for record in records:
        if (record.name, record.step, record.kind) == (tensor, step, kind):
            return record
    available = sorted({(r.name, r.step, r.kind) for r in records}, key=repr)
    raise ValueError(
        f"no tensor {tensor!r} of kind {kind!r} at step {step!r} in {root}; it holds "
        + ", ".join(f"{n} ({k}, step {s})" for n, s, k in available[:8])
        + (" …" if len(available) > 8 else "")
    )


def _recorded(m, n, *, rng=None, tensor, step, kind="grad", path=""):
    return np.asarray(_record(tensor, step, kind, path).load(), dtype=np.float64)


def _recorded_shape(*, tensor, step, kind, path):
    return tuple(_record(tensor, step, kind, path).shape)


def _check_recorded(m, n, tensor, step, kind, path):
    _record(tensor, step, kind, path)


register_source(
    "recorded", _recorded, description="a gradient or momentum matrix read from a dump (matsign.io)",
    check=_check_recorded, shape=_recorded_shape,
)
