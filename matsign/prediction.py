r"""Predicting an approximation's error from the singular values alone: :func:`predict`.

A method may declare, beside its algorithm (``register(..., predict=...)``), how its
alignment :math:`\langle G, X\rangle/\|G\|_*` and relative error
:math:`\|X - \operatorname{msign}(G)\|_F / \|\operatorname{msign}(G)\|_F` follow from the
singular values :math:`\sigma` of ``G`` and its shape. :func:`predict` only looks that
declaration up. Every prediction is a mapping with the same keys (:data:`KEYS`):

- ``kind`` — ``"exact"`` (determined by σ in exact arithmetic: the value of a deterministic
  method, the exact mean of a random one with finitely many outcomes), ``"monte_carlo"``
  (the mean over seeded draws of a random method, evaluated on ``diag(σ)``), ``"bound"``
  (singular vectors matter: only certified σ-only bounds), ``"none"`` (nothing declared);
- ``alignment``, ``relative_error`` — the value or mean; NaN for ``"bound"`` and ``"none"``;
- ``*_low``, ``*_high`` — an interval: the value itself (``"exact"``, deterministic), the
  smallest and largest outcome (``"exact"``, random), mean ∓ 2 standard deviations of the
  draws (``"monte_carlo"``: where about 95% of single runs land; NaN from a single draw,
  :func:`predict`'s ``sketches``), certified bounds (``"bound"``);
- ``*_std`` — the standard deviation of a single run (0 for a deterministic method);
- ``draws`` — the seeded draws behind a ``"monte_carlo"`` value (0 otherwise);
- ``note`` — what the prediction leaves out, or, for ``"bound"``, which cheap statistic
  besides σ would determine the value; for ``"none"``, that the method declares no prediction.

The predictions here are for exact arithmetic: the rounding of a 16-bit working precision is
not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from matsign._backend import check_choice, check_positive_int, check_precision, default_rtol, euclidean_norm, library, to_numpy
from matsign.registry import Method, get_method

__all__ = [
    "KEYS",
    "KINDS",
    "REFERENCES",
    "SKETCHES",
    "Spectrum",
    "bounded",
    "diagonal_outcome",
    "distribution",
    "exact",
    "limited_step_bounds",
    "no_prediction",
    "predict",
    "sampled",
    "spectrum_of",
]

#: What a prediction can be (module docstring).
KINDS = ("exact", "monte_carlo", "bound", "none")

#: The exact signs a prediction can be measured against (:func:`predict`).
REFERENCES = ("full", "storage")

#: How many seeded draws a Monte-Carlo prediction takes at a time by default (:func:`predict`).
SKETCHES = 4

#: The keys of every prediction.
KEYS = (
    "kind", "alignment", "alignment_low", "alignment_high", "alignment_std",
    "relative_error", "relative_error_low", "relative_error_high", "relative_error_std", "draws", "note",
)


@dataclass(frozen=True)
class Spectrum:
    """The singular values of one ``m × n`` matrix, as a declared prediction receives them.

    Attributes
    ----------
    s : ndarray, shape (min(m, n),)
        Descending float64 singular values divided by the largest (``s[0] = 1``; all zero for
        the zero matrix), zeros included: the division keeps sums and squares of σ from over-
        or underflowing at any scale, and every prediction is scale-free but for an absolute
        parameter (``spectral_clip``'s ``tau``), which multiplies back by ``scale``.
    m, n : int
        The matrix's shape.
    stored : str
        The working-precision name of the matrix as stored (``"float64"``, ``"bfloat16"``, …):
        the methods run on it, so their own thresholds (``msign``'s ``default_rtol``) use it.
    rank : int
        ``ρ``, the number of singular values the reference sign keeps (:func:`predict`).
    sketches : int
        How many seeded draws a Monte-Carlo prediction takes at a time (:func:`predict`).
    scale : float
        σ₁, by which ``s`` was divided (0 for the zero matrix).
    """

    s: np.ndarray
    m: int
    n: int
    stored: str
    rank: int
    sketches: int = SKETCHES
    scale: float = 1.0

    @property
    def work(self) -> str:
        """The precision LAPACK-style routines run in for this matrix (float32 for 16-bit storage)."""
        return "float64" if self.stored == "float64" else "float32"

    def kept(self, values, rows: int, cols: int, precision: str | None = None) -> np.ndarray:
        """Mask of ``values`` (descending, the singular values of a ``rows × cols`` matrix)
        that :func:`matsign.msign` keeps: above ``default_rtol(rows, cols, precision)·values[0]``
        (``precision`` default :attr:`stored`)."""
        values = np.asarray(values, dtype=np.float64)
        tol = default_rtol(rows, cols, precision or self.stored)
        return values > tol * values[..., :1]


def spectrum_of(s, shape, *, reference="full", stored_dtype="float64", sketches=SKETCHES) -> Spectrum:
    """Check the arguments of :func:`predict` and gather them in a :class:`Spectrum`.

    Examples
    --------
    >>> spectrum = spectrum_of([2.0, 1.0], (3, 4))
    >>> spectrum.s, spectrum.scale
    (array([1. , 0.5, 0. ]), 2.0)
    """
    try:
        library(s)
        values = np.asarray(to_numpy(s), dtype=np.float64)
    except TypeError:
        values = np.asarray(s, dtype=np.float64)
    try:
        m, n = (check_positive_int(v, "shape") for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair of positive integers (m, n), got {shape!r}") from None
    k = min(m, n)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"s must be a non-empty 1-D vector of singular values, got shape {values.shape}")
    if values.size > k:
        raise ValueError(f"s holds {values.size} singular values; a matrix of shape {(m, n)} has at most {k}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("s must hold finite, non-negative singular values")
    check_choice(reference, REFERENCES, "reference")
    stored = check_precision(stored_dtype, "stored_dtype")
    sketches = check_positive_int(sketches, "sketches")
    padded = np.zeros(k)
    padded[: values.size] = np.sort(values)[::-1]
    scale = float(padded[0])
    if scale > 0:
        padded /= scale
    precision = stored if reference == "storage" else "float64"
    rank = int(np.count_nonzero(padded > default_rtol(m, n, precision) * padded[0]))
    return Spectrum(padded, m, n, stored, rank, sketches, scale)


def predict(s, method, *, shape, reference="full", stored_dtype="float64", sketches=SKETCHES, **params) -> dict:
    r"""Predict a registered method's alignment and relative error from singular values alone.

    Looks up the prediction the method declared (``register(..., predict=...)``) and
    evaluates it on the spectrum: ``alignment`` :math:`\langle G, X\rangle/\|G\|_*` and
    ``relative_error`` :math:`\|X - R\|_F/\|R\|_F` of the method's output ``X`` against the
    reference sign ``R``, with intervals where σ does not determine them (the keys and kinds
    are listed in the module docstring).

    Parameters
    ----------
    s : array_like, shape (k,)
        Singular values of ``G`` (any order; fewer than ``min(m, n)`` are padded with zeros).
    method : str or Method
        A registered method (:data:`matsign.registry.METHODS`).
    shape : tuple of int
        ``(m, n)`` of ``G``.
    reference : {"full", "storage"}
        Which exact sign ``R`` the error is measured against, by how many singular values it
        keeps (``ρ``, Notes): ``"full"`` those above ``max(m, n)·eps₆₄·σ₁``, the sign of ``G``
        upcast to float64; ``"storage"`` those above ``default_rtol(m, n, stored_dtype)·σ₁``,
        what ``msign(G)`` keeps for ``G`` as stored.
    stored_dtype : str
        The precision ``G`` is stored in (``"float64"``, ``"float32"``, ``"bfloat16"``, …):
        the methods run on ``G`` as stored, so their own thresholds depend on it.
    sketches : int
        Seeded draws of a Monte-Carlo prediction (the Gaussian range finder's) taken at a time:
        ``n ≥ 2`` until the standard error of the mean is at most 0.0025 (at most 16 or ``n``),
        with their spread; ``1``, the value of one sketch alone, at a quarter of the cost (Notes).
    **params
        The method's parameters (completed with its defaults and checked as the method does).

    Returns
    -------
    dict
        The keys of :data:`KEYS`. A method without a declared prediction gives
        ``kind="none"``, NaN values and ``note`` ``"no prediction for method …"``.

    Raises
    ------
    ValueError
        For an unknown method, bad ``s``, ``shape``, ``reference``, ``stored_dtype``, or
        parameters the method would reject.

    Notes
    -----
    **Which reference.** A 16-bit matrix carries rounding noise of about
    ``eps_storage·σ₁`` (0.8% of σ₁ for bfloat16) spread over every direction; the singular
    values below it are noise, not gradient. ``"storage"`` asks *how close does the method get
    to the sign of the gradient the storage can resolve* — the question for a bfloat16 dump,
    and what :func:`matsign.msign` answers by default; ``"full"`` asks how close it gets to the
    sign of the stored matrix taken at face value, noise directions included, which only makes
    sense when the matrix is exact (float64, or float32 data whose small singular values are
    signal). For a float64 matrix the two coincide. The alignment does not depend on the
    reference.

    **How many sketches.** A Monte-Carlo prediction evaluates the method on ``diag(σ)``, one
    seeded sketch at a time, and one sketch costs a few percent of running the method: for the
    Gaussian range finder 4–7% at 1024 × 4096 (3–5% back to back), 2–4% at 2048 × 8192
    (``benchmarks/predict.py``).
    The default, 4 at a time until the mean is known to 0.0025, gives the spread of a single
    run as well, which ``matsign advise`` needs for its margin, at 4–16 times that cost. ``sketches=1`` gives the
    value alone (``*_std`` and the interval NaN): one sketch's distance from the mean is one
    run's standard deviation, in alignment 0.0001–0.006 on every spectrum measured
    (:func:`matsign.lowrank.ranges.predict_gaussian`), but in error up to 0.02 where a 16-bit
    storage threshold decides how many Ritz values a run keeps.

    Examples
    --------
    >>> import numpy as np
    >>> s = 1.0 / np.arange(1, 65)  # a gapless power law
    >>> p = predict(s, "newton_schulz", shape=(64, 128))  # Muon's quintic, 5 steps
    >>> p["kind"], round(p["alignment"], 3), round(p["relative_error"], 3)
    ('exact', 0.932, 0.175)
    >>> p = predict(s, "gaussian", shape=(64, 128), rank=16, power_iters=1)
    >>> p["kind"], round(p["alignment"], 2), p["draws"], p["alignment_std"] < 0.01
    ('monte_carlo', 0.7, 4, True)
    >>> p = predict(s, "gaussian", shape=(64, 128), rank=16, power_iters=1, sketches=1)
    >>> round(p["alignment"], 2), p["draws"], p["alignment_std"]  # the value alone
    (0.7, 1, nan)
    >>> p = predict(s, "column", shape=(64, 128), rank=16)  # the columns depend on the vectors
    >>> p["kind"], p["alignment_low"], round(p["alignment_high"], 3)  # ≤ the rank-16 Ky Fan ratio
    ('bound', 0.0, 0.713)
    >>> predict(s, "oracle", shape=(64, 128), rank=16)["relative_error"]  # √(48/64)
    0.8660254037844386
    """
    spectrum = spectrum_of(s, shape, reference=reference, stored_dtype=stored_dtype, sketches=sketches)
    if not isinstance(method, Method):
        method = get_method(method)
    full = method.check_params(params)
    if method.predict_function is None:
        return no_prediction(f"no prediction for method {method.name!r}: it declares none (register(..., predict=))")
    return method.predict_function(spectrum, **full)


# ---------------------------------------------------------------- building predictions


def _prediction(kind, alignment, error, *, std=(0.0, 0.0), draws=0, note=""):
    (a, a_low, a_high), (e, e_low, e_high) = alignment, error
    return {
        "kind": kind, "alignment": float(a), "alignment_low": float(a_low), "alignment_high": float(a_high),
        "alignment_std": float(std[0]), "relative_error": float(e), "relative_error_low": float(e_low),
        "relative_error_high": float(e_high), "relative_error_std": float(std[1]), "draws": int(draws),
        "note": note,
    }


def exact(alignment: float, relative_error: float, *, note: str = "") -> dict:
    """The prediction of a deterministic method whose values σ determine.

    Examples
    --------
    >>> exact(1.0, 0.0)["relative_error_high"]
    0.0
    """
    return _prediction("exact", (alignment,) * 3, (relative_error,) * 3, note=note)


def distribution(alignments, relative_errors, probabilities, *, note: str = "") -> dict:
    """The exact prediction of a random method with finitely many outcomes (mean, std, range).

    Examples
    --------
    >>> p = distribution([1.0, 0.5], [0.0, 1.0], [0.5, 0.5])
    >>> p["kind"], p["alignment"], p["alignment_std"], p["relative_error_low"]
    ('exact', 0.75, 0.25, 0.0)
    """
    w = np.asarray(probabilities, dtype=np.float64)

    def moments(values):
        v = np.asarray(values, dtype=np.float64)
        support = v[w > 0]
        mean = float(w @ v)
        return (mean, support.min(), support.max()), math.sqrt(max(0.0, float(w @ (v - mean) ** 2)))

    a, a_std = moments(alignments)
    e, e_std = moments(relative_errors)
    return _prediction("exact", a, e, std=(a_std, e_std), note=note)


def sampled(alignments, relative_errors, *, note: str = "") -> dict:
    """The Monte-Carlo prediction from per-draw values: mean, std of a single run, mean ∓ 2 std
    (NaN from a single draw, whose spread is not estimated).

    Examples
    --------
    >>> p = sampled([0.5, 0.7], [0.3, 0.1])
    >>> p["kind"], round(p["alignment"], 6), p["draws"]
    ('monte_carlo', 0.6, 2)
    >>> sampled([0.5], [0.3])["alignment_high"]
    nan
    """

    def moments(values):
        v = np.asarray(values, dtype=np.float64)
        mean, std = float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan
        return (mean, mean - 2 * std, mean + 2 * std), std

    a, a_std = moments(alignments)
    e, e_std = moments(relative_errors)
    return _prediction("monte_carlo", a, e, std=(a_std, e_std), draws=len(alignments), note=note)


def bounded(alignment, relative_error, *, note: str) -> dict:
    """Certified σ-only bounds, each a ``(low, high)`` pair; the values are NaN.

    Examples
    --------
    >>> p = bounded((0.0, 0.5), (0.8, 1.2), note="needs the column norms")
    >>> p["kind"], p["alignment"], p["alignment_high"]
    ('bound', nan, 0.5)
    """
    (a_low, a_high), (e_low, e_high) = alignment, relative_error
    return _prediction("bound", (math.nan, a_low, a_high), (math.nan, e_low, e_high),
                       std=(math.nan, math.nan), note=note)


def no_prediction(note: str) -> dict:
    """The prediction of a method that declares none: every value NaN, ``note`` says why."""
    nan = (math.nan,) * 3
    return _prediction("none", nan, nan, std=(math.nan, math.nan), note=note)


# ---------------------------------------------------------------- outcomes and bounds from σ


def diagonal_outcome(spectrum: Spectrum, values) -> tuple[float, float]:
    r"""Alignment and relative error of ``X = U diag(f) Vᵀ``, ``G = U diag(σ) Vᵀ``.

    A method that keeps ``G``'s singular vectors and maps each singular value
    :math:`\sigma_i \mapsto f_i` (Newton–Schulz, the exact routes, the oracle) has
    :math:`\langle G, X\rangle/\|G\|_* = \sum_i \sigma_i f_i / \sum_i \sigma_i` and
    :math:`\|X - R\|_F^2 = \sum_{i \le \rho} (f_i - 1)^2 + \sum_{i > \rho} f_i^2`, divided by
    :math:`\|R\|_F^2 = \rho`. The zero matrix has NaN alignment and error 0 if ``f = 0``
    (``inf`` otherwise), as :func:`matsign.metrics.relative_error` defines them.

    Examples
    --------
    >>> spectrum = spectrum_of([3.0, 1.0], (2, 2))
    >>> diagonal_outcome(spectrum, [1.0, 0.0])  # the rank-1 oracle: 3/4 and √(1/2)
    (0.75, 0.7071067811865475)
    """
    s, f = spectrum.s, np.asarray(values, dtype=np.float64)
    total = float(s.sum())
    alignment = float(s @ f) / total if total > 0 else math.nan
    target = (np.arange(s.size) < spectrum.rank).astype(np.float64)
    distance = euclidean_norm(f - target)  # f may be huge (spectral_clip's absolute τ)
    if spectrum.rank == 0:
        return alignment, 0.0 if distance == 0 else math.inf
    return alignment, distance / math.sqrt(spectrum.rank)


def limited_step_bounds(spectrum: Spectrum, rank: int, band, *, alignment_low=None, sign_like=False) -> tuple:
    r"""Certified σ-only bounds on a step ``X`` of rank ≤ ``rank`` with nonzero singular values in ``band``.

    - alignment: von Neumann's trace inequality,
      :math:`|\langle G, X\rangle| \le \sum_i \sigma_i(X)\sigma_i(G) \le h \sum_{i \le r}\sigma_i`
      (``band = (l, h)``), so the alignment lies in ``[−h·K_r, h·K_r]``, :math:`K_r` the Ky Fan
      ratio of :func:`matsign.bounds.oracle_alignment`; ``alignment_low`` replaces the lower
      end where the method certifies more (``⟨G, X⟩ ≥ 0`` for a low-rank sign).
    - error below: Mirsky's inequality
      :math:`\|X - R\|_F^2 \ge \sum_i (\sigma_i(R) - \sigma_i(X))^2 \ge (\rho - r)_+ + \min(r, \rho)\, d^2`,
      ``d`` the distance from 1 to ``band ∪ {0}`` (the rank floor when ``1 ∈ band``).
    - error above: :math:`\|X - R\|_F \le \|X\|_F + \|R\|_F \le h\sqrt r + \sqrt\rho`; for a
      low-rank sign ``X = msign(PG)`` (``sign_like``, ``P`` an orthogonal projector, exact
      inner sign) :math:`\langle X, R\rangle = \operatorname{tr}(|PG|\,|G|^+) \ge 0`, so
      :math:`\|X - R\|_F^2 \le r + \rho` (the derivation is in
      :func:`matsign.bounds.lowrank_error_bound`).

    Returns
    -------
    tuple
        ``((alignment_low, alignment_high), (error_low, error_high))``, errors relative to
        :math:`\sqrt\rho`.

    Examples
    --------
    >>> limited_step_bounds(spectrum_of([3.0, 1.0], (2, 2)), 1, (1.0, 1.0), sign_like=True)
    ((-0.75, 0.75), (0.7071067811865476, 1.224744871391589))
    """
    s, rho = spectrum.s, spectrum.rank
    low, high = float(band[0]), float(band[1])
    total = float(s.sum())
    ky_fan = float(s[:rank].sum()) / total if total > 0 else math.nan
    a_low = -high * ky_fan if alignment_low is None else alignment_low
    if rho == 0:
        return (a_low, high * ky_fan), (0.0, math.inf)
    d = 0.0 if low <= 1.0 <= high else min(abs(1.0 - low), abs(1.0 - high), 1.0)
    floor = math.sqrt((max(0, rho - rank) + min(rank, rho) * d * d) / rho)
    top = math.sqrt((rank + rho) / rho) if sign_like else (high * math.sqrt(rank) + math.sqrt(rho)) / math.sqrt(rho)
    return (a_low, high * ky_fan), (floor, top)
