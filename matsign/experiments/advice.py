r"""Which method for each matrix of a dump: the cheapest one predicted to reach a target.

For every matrix ``G`` of a dump (:func:`matsign.io.load_gradients`) the singular values
:math:`\sigma` are computed once, in float64; then every registered method over a grid of its
parameters (:data:`GRID`: Newton–Schulz schedules × steps, Gaussian sketches ranks × power
iterations, column rules, Dion2 fractions, …) is predicted from σ alone
(:func:`matsign.predict`), and the cheapest by its flop estimate (``Method.flops``) whose
*conservative* prediction reaches the target is chosen:

- a target alignment ``A`` needs ``alignment_low ≥ A``, a target error ``E`` needs
  ``relative_error_high ≤ E``; an alignment target also needs ``alignment_high ≤ 1`` (an
  alignment above 1 comes from singular values mapped past 1, not from a better step).
  ``*_low``/``*_high`` are the value itself for a deterministic
  method, the worst outcome of a random one with finitely many outcomes (GUM) and the
  certified bound for a ``"bound"`` prediction (column selection, Dion2, MuonEq). For a
  Monte-Carlo prediction (the Gaussian sketch) the end is the mean ∓ 2 standard deviations of
  one run, the standard deviation taken at its 95% upper confidence limit from the sketches
  drawn (:func:`spread_factor`: 2.9× the estimate from 4 sketches), so that about 95% of
  single runs land inside even when the few sketches happened to agree;
- the runner-up is the cheapest candidate of another method that reaches the target; the
  reference is Muon's quintic Newton–Schulz with 5 steps, against which ``flop_saving``
  :math:`= 1 - \text{flops}/\text{flops}_{\text{NS}_5}` is given;
- a method that declares no prediction is listed with its ``note``, never chosen;
- a Newton–Schulz candidate whose largest singular value, exact from σ
  (:func:`matsign.exact.newton_schulz_values`), exceeds :data:`MAX_STEP_NORM` never reaches
  the target: the first steps of a schedule overshoot (one Polar Express step maps σ up to
  about 2), which buys alignment with length.

**Which exact sign** the error is measured against (``reference``): ``"truncated"`` keeps the
singular values above the storage precision's noise level
(``default_rtol(m, n, stored dtype)·σ₁``, what :func:`matsign.msign` keeps) — right for 16-bit
dumps, whose smaller singular values are rounding noise; ``"full"`` keeps every one above
``max(m, n)·eps₆₄·σ₁``, the matrix taken at face value in float64. The alignment does not
depend on it.

With ``verify`` the chosen, runner-up and reference methods run on ``G`` as stored and their
measured alignment and relative error are added.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

from matsign._backend import check_choice
from matsign.exact.schedules import SCHEDULES
from matsign.exact.newton_schulz import newton_schulz_values
from matsign.io import load_gradients
from matsign.prediction import spectrum_of
from matsign.prediction import predict as predict_from_sigma
from matsign.registry import METHODS, REQUIRED, get_method
from matsign.spectral import singular_values

__all__ = [
    "GRID",
    "MAX_STEP_NORM",
    "RANKS",
    "REFERENCE",
    "REFERENCES",
    "advise_dump",
    "spread_factor",
    "advise_matrix",
    "candidates",
    "check_target",
    "write_advice",
]

NAME = "advice"

#: The largest ``‖X‖₂`` a Newton–Schulz candidate may have to be chosen: Muon's quintic, whose
#: band is about [0.7, 1.2], passes; a first step that overshoots to 1.5 does not.
MAX_STEP_NORM = 1.25

#: Methods whose ``X`` keeps ``G``'s singular vectors and maps σ by the Newton–Schulz polynomial.
DIAGONAL_METHODS = ("newton_schulz", "gram_newton_schulz")

#: Ranks tried for every method with a ``rank`` parameter (those up to ``min(m, n)``).
RANKS = (8, 16, 32, 64, 128, 256, 512)

#: Parameters tried per method (a product of the listed values); ``rank`` comes from :data:`RANKS`.
GRID = {
    "newton_schulz": {"schedule": tuple(SCHEDULES), "steps": (1, 2, 3, 4, 5, 6, 8)},
    "gram_newton_schulz": {"schedule": ("muon", "polar_express"), "steps": (2, 3, 4, 5)},
    "gaussian": {"power_iters": (0, 1, 2)},
    "column": {"strategy": ("uniform", "norm", "leverage", "pivoted_qr", "l1_topk")},
    "dion2": {"fraction": (0.0625, 0.125, 0.25, 0.5, 1.0)},
    "muoneq": {"mode": ("R", "C", "RC")},
}

#: The comparison every row's ``flop_saving`` is against: Muon's quintic, 5 steps.
REFERENCE = ("newton_schulz", {"schedule": "muon", "steps": 5})

#: How far above 1 a predicted alignment may go (rounding of an exact sign) and still count.
ALIGNMENT_SLACK = 1e-9

#: ``reference`` values → :func:`matsign.predict`'s names for them.
REFERENCES = {"truncated": "storage", "full": "full"}


def check_target(target_alignment=None, target_error=None) -> tuple[str, float]:
    """The target as ``("alignment", A)`` or ``("relative_error", E)``; exactly one is given.

    Raises
    ------
    ValueError
        Unless exactly one is given, ``A`` in (0, 1] and ``E`` positive and finite.

    Examples
    --------
    >>> check_target(target_alignment=0.85)
    ('alignment', 0.85)
    """
    if (target_alignment is None) == (target_error is None):
        raise ValueError("give exactly one of target_alignment and target_error")
    if target_alignment is not None:
        value = float(target_alignment)
        if not 0.0 < value <= 1.0:
            raise ValueError(f"target alignment must lie in (0, 1], got {target_alignment!r}")
        return "alignment", value
    value = float(target_error)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"target error must be positive and finite, got {target_error!r}")
    return "relative_error", value


def candidates(m: int, n: int) -> list[tuple[str, dict]]:
    """Every registered method with every parameter setting of :data:`GRID` that fits ``m × n``.

    A method not in :data:`GRID` is tried with its defaults (and each rank of :data:`RANKS`
    if it takes a ``rank``); ranks above ``min(m, n)`` are left out. A method whose other
    parameters have no default appears once, with no parameters (its prediction then says why).

    Examples
    --------
    >>> [p["rank"] for name, p in candidates(20, 40) if name == "oracle"]
    [8, 16]
    """
    k = min(m, n)
    found = []
    for name, method in METHODS.items():
        grid = dict(GRID.get(name, {}))
        if "rank" in method.params:
            grid["rank"] = tuple(r for r in RANKS if r <= k)
            if not grid["rank"]:
                continue
        keys = list(grid)
        for values in itertools.product(*(grid[key] for key in keys)):
            found.append((name, dict(zip(keys, values))))
    return found


def _prediction(s, shape, stored, reference, name, params) -> dict | None:
    """The prediction of one candidate, or None if the method rejects these parameters here."""
    method = get_method(name)
    if any(v is REQUIRED for k, v in method.params.items() if k not in params):
        return None
    try:
        return predict_from_sigma(s, method, shape=shape, reference=REFERENCES[reference],
                                  stored_dtype=stored, **params)
    except ValueError:
        return None


def spread_factor(draws: int) -> float:
    r"""How much larger than the standard deviation of ``draws`` sketches the true one may be:
    :math:`\sqrt{(n - 1)/\chi^2_{n-1}(0.05)}`, the one-sided 95% upper confidence factor.

    A spread estimated from 4 sketches is a third of the true one 5% of the time (measured on a
    recorded 64 × 256 gradient: 0.0004 from the prediction's 4 sketches, 0.0015 over 30 runs).

    Examples
    --------
    >>> round(spread_factor(4), 2), round(spread_factor(16), 2)
    (2.92, 1.5)
    """
    from scipy.stats import chi2

    return math.sqrt((draws - 1) / chi2.ppf(0.05, draws - 1))


def _conservative(prediction: dict, target: str) -> float:
    if prediction["kind"] == "monte_carlo" and prediction["draws"] > 1:
        spread = 2.0 * spread_factor(prediction["draws"]) * prediction[f"{target}_std"]
        return prediction[target] - spread if target == "alignment" else prediction[target] + spread
    return prediction["alignment_low" if target == "alignment" else "relative_error_high"]


def _meets(prediction: dict, target: str, value: float) -> bool:
    bound = _conservative(prediction, target)
    if target == "relative_error":
        return bool(bound <= value)
    # Above 1 a step maps singular values past 1: it buys alignment with scale (1 is the
    # maximum over ‖X‖₂ ≤ 1), so it does not count as reaching the target.
    return bool(bound >= value and prediction["alignment_high"] <= 1.0 + ALIGNMENT_SLACK)


def _sign_like(s, name: str, params: dict) -> bool:
    """False for a Newton–Schulz candidate whose largest singular value, exact from σ, exceeds
    :data:`MAX_STEP_NORM`: the first step of Polar Express maps σ up to almost 2, which keeps its
    alignment below 1 while the step is twice a sign's length."""
    if name not in DIAGONAL_METHODS:
        return True
    full = get_method(name).resolve(params)
    return bool(np.max(newton_schulz_values(s, full["schedule"], full["steps"])) <= MAX_STEP_NORM)


def advise_matrix(s, shape, *, target, reference="truncated", stored_dtype="float64") -> list[dict]:
    """The chosen, runner-up and reference rows for one matrix, plus one row per method that
    declares no prediction.

    Parameters
    ----------
    s : array_like
        Singular values of the matrix (float64).
    shape : tuple of int
        ``(m, n)``.
    target : tuple
        ``("alignment", A)`` or ``("relative_error", E)`` (:func:`check_target`).
    reference : {"truncated", "full"}
        Which exact sign the error is measured against (module docstring).
    stored_dtype : str
        The precision the matrix is stored in.

    Returns
    -------
    list of dict
        Rows with ``role`` (``"chosen"``, ``"runner-up"``, ``"reference"``, ``"no prediction"``),
        ``method``, ``params``, ``flops``, ``prediction`` (:func:`matsign.predict`'s dict) and
        ``meets_target`` (of the conservative prediction). When no candidate is predicted to
        reach the target, the chosen row is the one whose conservative prediction comes closest.
    """
    check_choice(reference, tuple(REFERENCES), "reference")
    kind, value = target
    m, n = shape
    scored, unpredicted = [], []
    for name, params in candidates(m, n):
        prediction = _prediction(s, shape, stored_dtype, reference, name, params)
        if prediction is None:
            continue
        meets = _meets(prediction, kind, value) and _sign_like(s, name, params)
        row = {"method": name, "params": params, "flops": get_method(name).flops(m, n, **params),
               "prediction": prediction, "meets_target": meets}
        if prediction["kind"] == "none":
            if all(r["method"] != name for r in unpredicted):
                unpredicted.append({**row, "role": "no prediction"})
        else:
            scored.append(row)
    meeting = sorted((r for r in scored if r["meets_target"]), key=lambda r: r["flops"])
    if meeting:
        chosen = meeting[0]
        runner = next((r for r in meeting if r["method"] != chosen["method"]), None)
    else:
        sign = 1.0 if kind == "alignment" else -1.0
        finite = [r for r in scored if math.isfinite(_conservative(r["prediction"], kind))]
        chosen = max(finite,
                     key=lambda r: (sign * _conservative(r["prediction"], kind), -r["flops"]))
        runner = None
    name, params = REFERENCE
    reference_prediction = _prediction(s, shape, stored_dtype, reference, name, params)
    rows = [{**chosen, "role": "chosen"}]
    if runner is not None:
        rows.append({**runner, "role": "runner-up"})
    rows.append({"method": name, "params": dict(params),
                 "flops": get_method(name).flops(m, n, **params),
                 "prediction": reference_prediction, "role": "reference",
                 "meets_target": _meets(reference_prediction, kind, value)
                 and _sign_like(s, name, params)})
    return rows + unpredicted


def _measure(G, U, s, Vt, rho, name, params, seed) -> tuple[float, float]:
    """Measured alignment and relative error of one method on ``G`` as stored (float64 metrics)."""
    X = np.asarray(get_method(name)(G, rng=seed, **params), dtype=np.float64)
    total = float(s.sum())
    alignment = float(np.sum((U * s) @ Vt * X)) / total if total > 0 else math.nan
    R = U[:, :rho] @ Vt[:rho]
    return alignment, float(np.linalg.norm(X - R)) / math.sqrt(rho) if rho else math.nan


def advise_dump(path, *, target_alignment=None, target_error=None, reference="truncated",
                verify=False, kind="all", steps=None, seed=0, progress=True, layout=None,
                names=None, conv="out"):
    """:func:`advise_matrix` for every matrix of a dump, as one tidy table.

    Parameters
    ----------
    path : str or path-like
        Dump file or directory (:func:`matsign.io.load_gradients`; ``layout``, ``names`` and
        ``conv`` as there).
    target_alignment, target_error : float
        Exactly one: the alignment to reach (in (0, 1]) or the relative error not to exceed.
    reference : {"truncated", "full"}
        Which exact sign (module docstring).
    verify : bool
        Run the chosen, runner-up and reference methods and add ``measured_alignment`` and
        ``measured_relative_error``.
    kind : str
        ``"all"`` or one kind of tensor (``"grad"``, ``"momentum"``, …).
    steps : sequence of int, optional
        Only these steps.
    seed : int
        Seed of the random methods when verifying.
    progress : bool
        Show a progress bar over the matrices.

    Returns
    -------
    pandas.DataFrame
        One row per (matrix, role), ``role`` one of ``"chosen"``, ``"runner-up"``,
        ``"reference"``, ``"no prediction"`` and, alone for an all-zero matrix, ``"zero matrix"``:
        ``name``, ``kind``, ``step``, ``shape`` (``"768x3072"``), ``m``, ``n``, ``dtype``,
        ``role``, ``method``, ``label``, ``setting`` (``"rank=32, power_iters=1"``), one column
        per parameter (empty where a method lacks it), ``prediction_kind``,
        ``predicted_alignment`` (the value or mean; NaN for a bound) and its ``_low``/``_high``,
        ``predicted_relative_error`` and its ``_low``/``_high``, ``meets_target``, ``flops``,
        ``flop_saving`` (:math:`1 - \text{flops}/\text{flops}_{\text{NS}_5}`), ``target``,
        ``target_value``, ``reference``, ``note``, and with ``verify`` ``measured_alignment``,
        ``measured_relative_error``.

    Raises
    ------
    ValueError
        For a bad target or reference.
    FileNotFoundError
        If ``path`` does not exist.
    """
    import pandas as pd

    from matsign.plots import progress_bar

    target = check_target(target_alignment, target_error)
    check_choice(reference, tuple(REFERENCES), "reference")
    if not Path(path).exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    records = [r for r in load_gradients(path, layout=layout, names=names, conv=conv)
               if (kind == "all" or r.kind == kind) and (steps is None or r.step in steps)]
    rows = []
    bar = progress_bar(len(records), desc=NAME, disable=not progress)
    try:
        for record in records:
            rows.extend(_advise_record(record, target, reference, verify, seed))
            bar.update()
    finally:
        bar.close()
    return pd.DataFrame(rows)


def _advise_record(record, target, reference, verify, seed) -> list[dict]:
    G = record.load()
    G64 = np.asarray(G, dtype=np.float64)
    m, n = G64.shape
    if verify:
        U, s, Vt = np.linalg.svd(G64, full_matrices=False)
    else:
        s = np.asarray(singular_values(G64))
    if not np.any(s > 0):  # every method gives 0 = msign(0): nothing to choose
        return [{"name": record.name, "kind": record.kind, "step": record.step, "shape": f"{m}x{n}",
                 "m": m, "n": n, "dtype": record.dtype, "role": "zero matrix", "method": "",
                 "target": target[0], "target_value": target[1], "reference": reference,
                 "note": "zero matrix: its sign is zero and its alignment undefined"}]
    advice = advise_matrix(s, (m, n), target=target, reference=reference, stored_dtype=record.dtype)
    rho = spectrum_of(s, (m, n), reference=REFERENCES[reference], stored_dtype=record.dtype).rank
    reference_flops = next(r["flops"] for r in advice if r["role"] == "reference")
    rows = []
    for row in advice:
        p = row["prediction"]
        out = {
            "name": record.name, "kind": record.kind, "step": record.step, "shape": f"{m}x{n}",
            "m": m, "n": n,
            "dtype": record.dtype, "role": row["role"], "method": row["method"],
            "label": get_method(row["method"]).label(row["params"]),
            "setting": ", ".join(f"{k}={v}" for k, v in row["params"].items()), **row["params"],
            "prediction_kind": p["kind"], "predicted_alignment": p["alignment"],
            "predicted_alignment_low": p["alignment_low"],
            "predicted_alignment_high": p["alignment_high"],
            "predicted_relative_error": p["relative_error"],
            "predicted_relative_error_low": p["relative_error_low"],
            "predicted_relative_error_high": p["relative_error_high"],
            "meets_target": row["meets_target"], "flops": row["flops"],
            "flop_saving": 1.0 - row["flops"] / reference_flops, "target": target[0],
            "target_value": target[1], "reference": reference, "note": p["note"],
        }
        if verify:
            measured = (math.nan, math.nan)
            if row["role"] != "no prediction":
                measured = _measure(G, U, s, Vt, rho, row["method"], row["params"], seed)
            out["measured_alignment"], out["measured_relative_error"] = measured
        rows.append(out)
    return rows


def write_advice(table, out_dir="results/advice") -> tuple[Path, list[Path]]:
    """Write ``advice.csv`` and the figure (:func:`matsign.plots.advice.advice_figure`) into
    ``out_dir`` (created if missing); returns the CSV path and the PNG paths."""
    from matsign.plots.advice import advice_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"{NAME}.csv"
    table.to_csv(csv, index=False)
    return csv, advice_figure(table, out / NAME)
