r"""The largest entries Newton–Schulz stores in bfloat16, float16 and float32, and the final error.

Each schedule (Polar Express, Muon's quintic, CANS), in the standard iteration
(``newton_schulz``) and in the Gram iteration (``gram_newton_schulz``), runs with its state in
bfloat16, float16 and float32 on synthetic spectra, on row-scale-mismatched matrices (rows
spanning up to ``row_spread`` in scale) and on the recorded gradients and momenta. Besides the
engine's error against ``msign(G)`` in float64, each row holds the largest magnitude of every
intermediate the iteration stores, replayed step by step in the same working precision
(:func:`traced_newton_schulz`, :func:`traced_gram_newton_schulz`, bit for bit the kernels'
results):

- ``max_x`` — of the ``m × n`` iterates ``X_k`` (``X₀``, every restart and the result);
- ``max_gram`` — of the ``m × m`` matrices built from them: ``A_k = X_k X_kᵀ`` (standard);
  ``R_k``, ``S_k = R_k P_k`` and ``Q_k`` (Gram iteration);
- ``max_b`` — of the polynomial part ``B_k = b_k A_k + c_k A_k²``;
- ``rounding_error`` — :math:`\|X - X^{(64)}\|_F / \|X^{(64)}\|_F` against the same
  iteration in float64: the working precision's share of the error, apart from the schedule's
  own polynomial error (which ``error`` also holds);
- ``x0_subnormal`` — the fraction of the nonzero entries of ``X₀ = G/(c‖G‖_F)`` (exact) below
  the working format's smallest normal number (float16: 2⁻¹⁴ ≈ 6.1e-5): entries that lose
  relative precision, or vanish, when ``X₀`` is rounded.

``inf`` or NaN in a peak column is an overflow (float16's largest value is 65504). The
normalization runs in at least float32 on ``G/max|G_ij|`` (:func:`matsign.exact.normalization.normalized`),
so the overall scale of ``G`` cannot overflow the iteration; what a 16-bit state meets is the
polynomial's own growth (``max_b``) and, for float16, the small entries of ``X₀``.

References
----------
N. Amsel et al., *The Polar Express*, arXiv 2505.16932; the production report of rare extreme
bfloat16 intermediates, arXiv 2602.10604; Dao AI Lab, *Gram Newton–Schulz* (2026).
"""

from __future__ import annotations

import math

import numpy as np

from matsign._backend import arithmetic, device, namespace, to_numpy
from matsign.exact.gram_newton_schulz import check_gram_newton_schulz_params
from matsign.exact.newton_schulz import check_newton_schulz_params
from matsign.exact.normalization import normalized
from matsign.exact.schedules import get_schedule
from matsign.experiments.engine import Extra
from matsign.experiments.runner import Experiment, check_figure_separates
from matsign.metrics import relative_error
from matsign.registry import get_method

NAME = "intermediates"

#: The smallest positive normal number of each working format's stored values.
SMALLEST_NORMAL = {"float64": 2.0**-1022, "float32": 2.0**-126, "tfloat32": 2.0**-126, "bfloat16": 2.0**-126,
                   "float16": 2.0**-14}


def _peak(x) -> float:
    """``max|x_ij|`` as a float; NaN anywhere counts as an overflow (``inf``)."""
    xp = namespace(x)
    value = float(to_numpy(xp.max(xp.abs(x))))
    return math.inf if math.isnan(value) else value


def _wide(G):
    xp = namespace(G)
    return xp.matrix_transpose(G) if G.shape[-2] > G.shape[-1] else G


def traced_newton_schulz(G, schedule, *, steps=None, dtype=None):
    """:func:`matsign.exact.newton_schulz.newton_schulz` (Frobenius normalization), replayed
    with the peak of every stored intermediate.

    Returns
    -------
    X : array
        The iterate in the working precision's storage, wide orientation (``m ≤ n``).
    peaks : dict
        ``max_x``, ``max_gram`` (``A_k``), ``max_b`` (``B_k``).
    """
    xp = namespace(G)
    sched, triples = check_newton_schulz_params(schedule=schedule, steps=steps, dtype=dtype)
    ar = arithmetic(G, dtype)
    X, _ = normalized(_wide(G), "frobenius", sched.prescale, ar)
    peaks = {"max_x": _peak(X), "max_gram": 0.0, "max_b": 0.0}
    for a, b, c in triples:
        A = ar.matmul(X, xp.matrix_transpose(X))
        B = ar.matmul_add(b, A, c, A, A) if c != 0 else ar.round(b * A)
        X = ar.matmul_add(a, X, 1.0, B, X)
        peaks["max_gram"] = max(peaks["max_gram"], _peak(A))
        peaks["max_b"] = max(peaks["max_b"], _peak(B))
        peaks["max_x"] = max(peaks["max_x"], _peak(X))
    return X, peaks


def traced_gram_newton_schulz(G, schedule, *, steps=None, restarts=(2,), dtype=None):
    """:func:`matsign.exact.gram_newton_schulz.gram_newton_schulz` (Frobenius normalization),
    replayed with the peak of every stored intermediate.

    Returns
    -------
    X : array
        The result in the working precision's storage, wide orientation.
    peaks : dict
        ``max_x`` (``X₀``, restarts, result), ``max_gram`` (``R_k``, ``S_k``, ``Q_k``),
        ``max_b`` (``B_k``).
    """
    xp = namespace(G)
    sched, triples, restart_steps = check_gram_newton_schulz_params(
        schedule=schedule, steps=steps, restarts=restarts, dtype=dtype)
    ar = arithmetic(G, dtype)
    X, R = normalized(_wide(G), "frobenius", sched.prescale, ar)
    peaks = {"max_x": _peak(X), "max_gram": 0.0, "max_b": 0.0}
    Q = None
    for k, (a, b, c) in enumerate(triples):
        if k in restart_steps:
            X, Q, R = ar.matmul(Q, X), None, None
            peaks["max_x"] = max(peaks["max_x"], _peak(X))
        if R is None:
            R = ar.matmul(X, xp.matrix_transpose(X))
        B = ar.matmul_add(b, R, c, R, R) if c != 0 else ar.round(b * R)
        if Q is None:
            Q = ar.round(B + a * xp.eye(R.shape[-1], dtype=R.dtype, device=device(R)))
        else:
            Q = ar.matmul_add(a, Q, 1.0, B, Q)
        peaks["max_gram"] = max(peaks["max_gram"], _peak(R), _peak(Q))
        peaks["max_b"] = max(peaks["max_b"], _peak(B))
        if k + 1 < len(triples) and k + 1 not in restart_steps:
            S = ar.matmul_add(a, R, 1.0, B, R)
            R = ar.matmul_add(a, S, 1.0, B, S)
            peaks["max_gram"] = max(peaks["max_gram"], _peak(S))
    X = ar.matmul(Q, X)
    peaks["max_x"] = max(peaks["max_x"], _peak(X))
    return X, peaks


TRACED = {"newton_schulz": traced_newton_schulz, "gram_newton_schulz": traced_gram_newton_schulz}


def peak_columns(X, context, cell) -> dict:
    """The peaks of the cell's iteration replayed in its working precision, ``rounding_error``
    and ``x0_subnormal``."""
    params = dict(cell.method_params)
    dtype = params.get("dtype") or cell.input_dtype
    kwargs = {k: v for k, v in params.items() if k != "schedule"}
    _, peaks = TRACED[cell.method](context.G, params["schedule"], **kwargs)
    xp = namespace(context.G64)
    X64 = get_method(cell.method)(context.G64, rng=cell.method_seed, **{**params, "dtype": "float64"})
    rounding = float(to_numpy(relative_error(xp.astype(X, xp.float64), X64)))
    # X₀ exactly, in float64: which of its nonzero entries the format stores below its normal range.
    s = context.sigma
    norm = float(np.sqrt(np.sum(s**2))) * get_schedule(params["schedule"]).prescale
    x0 = np.abs(np.asarray(to_numpy(context.G64), dtype=np.float64)) / norm if norm > 0 else np.zeros(1)
    nonzero = x0[x0 > 0]
    subnormal = float(np.mean(nonzero < SMALLEST_NORMAL[dtype])) if nonzero.size else 0.0
    return {**peaks, "rounding_error": rounding, "x0_subnormal": subnormal}


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.intermediates.intermediates_figure`)."""
    from matsign.plots.intermediates import intermediates_figure

    return intermediates_figure(table, stem)


def check_grid(cells):
    """The figure draws a line per method, schedule and working precision over the matrices."""
    check_figure_separates(
        cells, lambda cell: ("method", "schedule", "dtype", "source", "m", "n",
                             *(k for k, _ in cell.source_params)), NAME)


EXPERIMENT = Experiment(
    name=NAME,
    description="largest intermediate entries (max |X|, |A|, |B|) and final error of Newton–Schulz and Gram "
    "Newton–Schulz with the state in bfloat16 / float16 / float32, per schedule",
    figure=figure,
    extra=Extra(("max_x", "max_gram", "max_b", "rounding_error", "x0_subnormal"), peak_columns),
    methods=tuple(TRACED),
    method_params=("schedule", "dtype"),
    check_grid=check_grid,
)
