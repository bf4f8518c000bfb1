r"""Spectra of dumped gradients, and the Newton–Schulz error each schedule would make on them.

For every matrix ``G`` of a dump (see :mod:`matsign.io`) this computes, from one float64 SVD,
the diagnostics of :func:`matsign.spectral.spectral_summary` and, for each named schedule, the
relative error Newton–Schulz (``normalize="frobenius"``, the schedule's own number of steps)
makes, predicted from the singular values alone:

.. math:: e = \sqrt{\textstyle\sum_{i \le \rho} (\phi(\sigma_i/\|G\|_F) - 1)^2} \,/\, \sqrt{\rho},

with :math:`\phi` = :func:`matsign.exact.scalar_map` and :math:`\rho` the numerical rank (the
nonzero :math:`\sigma_i`). In exact arithmetic this is
:math:`\|\mathrm{NS}(G) - \operatorname{msign}(G)\|_F / \|\operatorname{msign}(G)\|_F` up to the
:math:`\phi(\sigma_i)` of the singular values counted as zero (the experiment
``ns-vs-spectrum`` checks the agreement).

Singular values are computed in float64 from the stored matrix (upcast exactly). Which of them
count as nonzero follows :mod:`matsign.spectral`'s default for the stored dtype
(:func:`matsign._backend.default_rtol`): :math:`\sigma_i > \max(\max(m, n)\,\epsilon_w,\
\epsilon_s)\,\sigma_1`, with :math:`\epsilon_w` the float64 epsilon for float64 dumps and the
float32 one otherwise and :math:`\epsilon_s` the stored dtype's own, so the rounding noise of a
float32 or bfloat16 gradient does not count as rank.

Memory stays bounded by one matrix: records are listed from file headers, then loaded, upcast,
reduced to a row and dropped one at a time; only the singular values of each layer's last
recorded step are kept, for the decay figure.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from matsign._backend import check_choice, check_nonnegative_int, check_positive_int
from matsign.exact.schedules import SCHEDULES, get_schedule, scalar_map
from matsign.io import KINDS, DumpError, load_gradients
from matsign.io.formats import FLOAT_DTYPE_NAMES
from matsign.prediction import spectrum_of
from matsign.spectral import singular_value_summary, singular_values

__all__ = ["RANKS", "REFERENCES", "Spectra", "analyse_dump", "analyse_zoo", "loading_summary",
           "predicted_ns_error", "write_spectra", "write_zoo_spectra"]

NAME = "spectra"

#: Which exact sign the predicted errors are against (:func:`analyse_dump`).
REFERENCES = ("truncated", "full")

#: Ranks of the default ``tail_energy_r{r}`` columns.
RANKS = (1, 4, 16, 64)


class Spectra(NamedTuple):
    """The two tables of :func:`analyse_dump`."""

    #: One row per matrix: identification, spectral summary, ``ns_error_<schedule>`` columns.
    table: object
    #: Long table ``kind, name, step, index, singular_value`` of each layer's last step.
    singular_values: object


def _summary(G: np.ndarray, stored: str, ranks) -> tuple[dict, np.ndarray]:
    """Spectral summary and singular values of float64 ``G``, stored as ``stored``, from one SVD."""
    s = np.asarray(singular_values(G))
    m, n = G.shape
    # The threshold for nonzero σ is the one spectral_summary gives the stored matrix.
    return singular_value_summary(s, m, n, ranks=ranks, dtype=stored), s


def predicted_ns_error(s: np.ndarray, rank: int, schedule) -> float:
    r"""Predicted relative Newton–Schulz error from singular values (module docstring).

    Parameters
    ----------
    s : ndarray, shape (k,)
        Descending singular values of ``G`` (all of them: they fix ``‖G‖_F``).
    rank : int
        Numerical rank ρ: the first ``rank`` values count as nonzero.
    schedule : str or Schedule

    Returns
    -------
    float
        NaN for ρ = 0 (the zero matrix, whose sign is zero: the relative error is undefined).

    References
    ----------
    N. Amsel, D. Persson, C. Musco, R. M. Gower, *The Polar Express*, arXiv 2505.16932 (Newton–Schulz
    acts on each singular value through the scalar polynomial).

    Examples
    --------
    >>> import numpy as np
    >>> s = np.array([1.0, 1.0])  # σ/‖G‖_F = 1/√2; Muon's quintic ends at φ = 1.108, not 1
    >>> round(predicted_ns_error(s, 2, "muon"), 4), np.round(scalar_map(s / np.sqrt(2), "muon"), 4)
    (0.1081, array([1.1081, 1.1081]))
    """
    if rank == 0:
        return float("nan")
    scaled = s[:rank] / np.linalg.norm(s)
    return float(np.sqrt(np.mean((scalar_map(scaled, schedule) - 1.0) ** 2)))


def _keep_last(last: dict, record, s: np.ndarray) -> None:
    """Remember ``s`` for ``record``'s layer if its step is the latest seen for that layer."""
    layer = (record.kind, record.name)
    step = -1 if record.step is None else record.step
    if layer not in last or step > last[layer][0]:
        last[layer] = (step, record.step, s)


def _reference_rank(s, shape, summary, reference: str) -> int:
    """ρ of the exact sign the errors are against: the stored matrix's numerical rank
    (``"truncated"``) or every singular value above float64 rounding (``"full"``)."""
    if reference == "truncated":
        return summary["numerical_rank"]
    return spectrum_of(s, shape, reference="full").rank


def _analyse(record, ranks, schedules, skip_bad: bool, skipped, reference: str = "truncated"):
    """The table row and singular values of one record, or None when it is skipped (and counted)."""
    if record.dtype not in FLOAT_DTYPE_NAMES:
        # Step counters and masks sit beside gradients in real checkpoints: skipped, always.
        warnings.warn(f"skipped: {record.path}: tensor {record.key!r} is {record.dtype}, not floating point",
                      stacklevel=4)
        skipped["bool tensors" if record.dtype == "bool" else "integer tensors"] += 1
        return None
    try:
        G = np.asarray(record.load(), dtype=np.float64)
    except DumpError as exc:
        if not skip_bad:
            raise
        warnings.warn(f"skipped: {exc}", stacklevel=4)
        skipped["unreadable tensors"] += 1
        return None
    if not np.all(np.isfinite(G)):
        error = DumpError(f"{record.path}: tensor {record.key!r} has non-finite entries")
        if not skip_bad:
            raise error
        warnings.warn(f"skipped: {error}", stacklevel=4)
        skipped["non-finite matrices"] += 1
        return None
    summary, s = _summary(G, record.dtype, ranks)
    row = {
        "kind": record.kind, "name": record.name, "step": record.step, "dtype": record.dtype,
        "file": str(record.path), "key": record.key,
        "stored_shape": "x".join(map(str, record.stored_shape)), "step_from": record.step_from,
        "kind_from": record.kind_from, **summary, "reference": reference,
    }
    rho = _reference_rank(s, G.shape, summary, reference)
    for schedule in schedules:
        row[f"ns_error_{schedule}"] = predicted_ns_error(s, rho, schedule)
    return row, s


def _check_ranks(ranks) -> tuple[int, ...]:
    if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
        raise ValueError(f"ranks must be a sequence of positive integers, got {ranks!r}")
    return tuple(check_positive_int(r, "ranks") for r in ranks)


def analyse_dump(
    path,
    *,
    ranks=RANKS,
    schedules=tuple(SCHEDULES),
    kind: str = "all",
    steps=None,
    skip_bad: bool = False,
    progress: bool = True,
    layout=None,
    names=None,
    conv: str = "out",
    reference: str = "truncated",
) -> Spectra:
    """Spectral summary and predicted Newton–Schulz error of every matrix of a dump.

    Parameters
    ----------
    path : str or path-like
        Dump file or directory (:func:`matsign.io.load_gradients`).
    ranks : sequence of int
        Ranks of the ``tail_energy_r{r}`` columns (NaN where ``r > min(m, n)``).
    schedules : sequence of str
        Schedules whose predicted error gets an ``ns_error_<schedule>`` column (default: all
        named ones, each with its own number of steps).
    kind : {"all", "grad", "momentum", "second_moment", "unknown"}
        Which tensors to analyse.
    steps : sequence of int, optional
        Only these steps (default: all).
    skip_bad : bool
        Skip bad files, and matrices with non-finite entries, with a warning naming them.
    progress : bool
        Show a progress bar over the matrices.
    layout, names, conv
        How foreign files are read: a layout's rules for kind, step and name, the parameter
        names of an optimizer state dict, and how a convolution kernel becomes a matrix
        (:func:`matsign.io.load_gradients`).
    reference : {"truncated", "full"}
        Which exact sign ``ns_error_<schedule>`` is against: ρ the numerical rank of the stored
        matrix (``"truncated"``: the singular values above its precision's noise, what
        :func:`matsign.msign` keeps; right for 16-bit dumps), or every singular value above
        ``max(m, n)·eps₆₄·σ₁`` (``"full"``: the matrix at face value in float64). The table's
        ``reference`` column says which.

    Returns
    -------
    Spectra
        ``table``: one row per matrix with ``kind``, ``name``, ``step``, ``m``, ``n``,
        ``dtype``, ``file``, ``key``, ``stored_shape`` (``"8x3x5x5"``: the tensor's shape
        before it was read as the ``m × n`` matrix), ``step_from`` and ``kind_from`` (where step
        and kind came from: :data:`matsign.io.PROVENANCES`), the
        :func:`~matsign.spectral.spectral_summary` entries
        computed in float64 (``frobenius_norm``, ``spectral_norm``, ``nuclear_norm``,
        ``stable_rank``, ``nuclear_rank``, ``numerical_rank``, ``condition_number``,
        ``effective_rank``, ``power_law_exponent``, ``tail_energy_r{r}``), ``reference`` and
        ``ns_error_<schedule>``.
        ``singular_values``: the singular values of each (kind, name) at its last step, long
        format (``kind``, ``name``, ``step``, ``index`` from 1, ``singular_value``).
        ``table.attrs["skipped"]`` counts the tensors passed over by reason (``"vectors"``,
        ``"scalars"``, ``"integer tensors"``, ``"bad files"``, …); :func:`loading_summary`
        puts it all in one line.

    Raises
    ------
    DumpError
        For a bad file, or a matrix with NaN or infinite entries, naming the file and the
        tensor (unless ``skip_bad``).
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from matsign.io import write_step
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_step(d, 3, {"grad/w": np.diag([3.0, 4.0, 0.0])})
    ...     table, sigma = analyse_dump(d, ranks=(1,), schedules=("muon",), progress=False)
    >>> table[["name", "step", "stable_rank", "condition_number", "tail_energy_r1"]]
      name  step  stable_rank  condition_number  tail_energy_r1
    0    w     3       1.5625          1.333333            0.36
    >>> sigma["singular_value"].tolist()
    [4.0, 3.0, 0.0]
    """
    ranks = _check_ranks(ranks)
    check_choice(reference, REFERENCES, "reference")
    schedules = [get_schedule(s).name for s in schedules]
    if kind != "all" and kind not in (*KINDS, "unknown"):
        raise ValueError(f"kind must be 'all', 'unknown' or one of {KINDS}, got {kind!r}")
    wanted_steps = None if steps is None else {check_nonnegative_int(s, "steps") for s in steps}
    listing = load_gradients(path, skip_bad=skip_bad, layout=layout, names=names, conv=conv)
    records = [
        r for r in listing if (kind == "all" or r.kind == kind) and (wanted_steps is None or r.step in wanted_steps)
    ]
    skipped = Counter(listing.skipped)
    rows, last = _analyse_all(records, ranks, schedules, skip_bad, progress, skipped, reference)
    table = _summary_table(rows)
    table.attrs["skipped"] = dict(skipped)
    return Spectra(table, _singular_value_table(last))


_STEP_SOURCES = {"manifest": "from the manifest", "layout": "from the layout", "state": "from optimizer states",
                 "inferred": "from names", "none": "unknown"}
_KIND_SOURCES = {"manifest": "from the manifest", "layout": "from the layout", "inferred": "inferred",
                 "none": "unknown"}


def loading_summary(table) -> str:
    """One line saying how many matrices were analysed, where their steps and kinds came from, and
    what was skipped.

    Parameters
    ----------
    table : pandas.DataFrame
        The ``table`` of :func:`analyse_dump`.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"step_from": ["inferred"] * 2, "kind_from": ["inferred", "none"]})
    >>> table.attrs["skipped"] = {"vectors": 1, "integer tensors": 1}
    >>> loading_summary(table)
    '2 matrices: step from names (2); kind inferred (1) / unknown (1); skipped: 1 vector, 1 integer tensor'
    """

    def sources(column, labels):
        counts = table[column].value_counts() if len(table) else {}
        return " / ".join(f"{labels[source]} ({counts[source]})" for source in labels if source in counts)

    line = f"{len(table)} matrices"
    if len(table):
        line += f": step {sources('step_from', _STEP_SOURCES)}; kind {sources('kind_from', _KIND_SOURCES)}"
    skipped = table.attrs.get("skipped", {})
    line += "; skipped: " + (", ".join(_count(n, reason) for reason, n in skipped.items()) if skipped else "nothing")
    return line


def _count(n: int, plural: str) -> str:
    """``"2 vectors"``, ``"1 vector"``, ``"1 non-finite matrix"``."""
    if n != 1:
        return f"{n} {plural}"
    return "1 " + (plural.removesuffix("matrices") + "matrix" if plural.endswith("matrices") else plural[:-1])


def _analyse_all(records, ranks, schedules, skip_bad: bool, progress: bool, skipped,
                 reference: str) -> tuple[list, dict]:
    """The table rows of ``records``, one matrix in memory at a time, and the singular values of
    each layer's last step."""
    from matsign.plots import progress_bar

    rows, last = [], {}
    bar = progress_bar(len(records), desc=NAME, disable=not progress)
    try:
        for record in records:
            analysed = _analyse(record, ranks, schedules, skip_bad, skipped, reference)
            bar.update()
            if analysed is not None:
                rows.append(analysed[0])
                _keep_last(last, record, analysed[1])
    finally:
        bar.close()
    return rows, last


def _summary_table(rows: list):
    """The rows as a DataFrame, identification columns first."""
    import pandas as pd

    columns = ["kind", "name", "step", "m", "n", "dtype", "file", "key", "stored_shape", "step_from", "kind_from"]
    table = pd.DataFrame(rows)
    table = table[columns + [c for c in table.columns if c not in columns]] if rows else pd.DataFrame(columns=columns)
    table["step"] = table["step"].astype("Int64")
    return table


def _singular_value_table(last: dict):
    """The long table ``kind, name, step, index, singular_value`` of each layer's last step."""
    import pandas as pd

    sigma = pd.DataFrame(
        [
            {"kind": k, "name": name, "step": step, "index": i + 1, "singular_value": float(v)}
            for (k, name), (_, step, s) in last.items()
            for i, v in enumerate(s)
        ],
        columns=["kind", "name", "step", "index", "singular_value"],
    )
    sigma["step"] = sigma["step"].astype("Int64")
    return sigma


def write_spectra(table, singular_values, *, out_dir="results", figure_dir="figures") -> tuple:
    """Write the tables of :func:`analyse_dump` and draw their figures.

    Parameters
    ----------
    table, singular_values : pandas.DataFrame
        The two tables of :func:`analyse_dump`.
    out_dir : str or path-like
        Directory (created if missing) of ``spectra.csv`` and ``spectra-singular-values.csv``.
    figure_dir : str or path-like
        Directory of the figures (:func:`matsign.plots.spectra.spectra_figures`).

    Returns
    -------
    tuple
        The paths of the two CSV files and the list of PNG figures (each with a ``.pdf`` beside it).
    """
    from matsign.plots.spectra import spectra_figures

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table_csv, values_csv = out / f"{NAME}.csv", out / f"{NAME}-singular-values.csv"
    table.to_csv(table_csv, index=False)
    singular_values.to_csv(values_csv, index=False)
    return table_csv, values_csv, spectra_figures(table, singular_values, figure_dir)


def analyse_zoo(*, kind: str = "grad", progress: bool = True) -> Spectra:
    """:func:`analyse_dump` of every member of the gradient zoo (:data:`matsign.recorder.zoo.ZOO`).

    Parameters
    ----------
    kind : {"grad", "momentum", "second_moment", "unknown", "all"}
        Which tensors (default the gradients, which every member holds).
    progress : bool
        Show a progress bar over each member's matrices.

    Returns
    -------
    Spectra
        Both tables of :func:`analyse_dump` over all members, each with a first column
        ``member`` (``"gpt"``, ``"cnn"``, ``"moe"``); ``table.attrs["skipped"]`` maps each member
        to its count of skipped tensors.
    """
    import pandas as pd

    from matsign.recorder.zoo import ZOO

    tables, values, skipped = [], [], {}
    for member, path in ZOO.items():
        table, sigma = analyse_dump(path, kind=kind, progress=progress)
        skipped[member] = table.attrs["skipped"]
        tables.append(table.assign(member=member))
        values.append(sigma.assign(member=member))
    table, sigma = (pd.concat(t, ignore_index=True) for t in (tables, values))
    table, sigma = (t[["member", *(c for c in t.columns if c != "member")]] for t in (table, sigma))
    table.attrs["skipped"] = skipped
    return Spectra(table, sigma)


def write_zoo_spectra(table, singular_values, *, out_dir="results", figure_dir="figures") -> tuple:
    """Write the tables of :func:`analyse_zoo` (``zoo-spectra.csv``,
    ``zoo-spectra-singular-values.csv``) and draw ``zoo-spectra.png`` and ``.pdf``
    (:func:`matsign.plots.zoo.zoo_spectra_figure`); return the three paths (CSV, CSV, PNG)."""
    from matsign.plots.zoo import zoo_spectra_figure

    out, figures = Path(out_dir), Path(figure_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    table_csv, values_csv = out / "zoo-spectra.csv", out / "zoo-spectra-singular-values.csv"
    table.to_csv(table_csv, index=False)
    singular_values.to_csv(values_csv, index=False)
    figure = zoo_spectra_figure(table, singular_values, figures / "zoo-spectra")
    return table_csv, values_csv, figure
