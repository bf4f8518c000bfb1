"""Figures in one consistent style (PNG and PDF), and the progress bar long work shows.

The shared style, labels and helpers live here; each figure family has its own module
(:mod:`matsign.plots.newton_schulz`, ...).
"""

from __future__ import annotations

import math
from pathlib import Path

from matsign.registry import METHODS, SOURCES

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
}


class _Silent:
    """Stands in for a progress bar when tqdm is missing."""

    def update(self, n=1):
        pass

    def close(self):
        pass


#: Errors at or below this are float64 rounding (or exactly 0); log axes stop there.
ERROR_FLOOR = 1e-16


def _given(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def method_label(method: str, params) -> str:
    """How the papers name a method with these parameters: its registered label.

    Parameters
    ----------
    method : str
        A registered method's name; another name is its own label.
    params : mapping
        The method's parameters, as far as known (a table row's values; the rank, swept on an
        axis, is left out of the label).

    Examples
    --------
    >>> method_label("gaussian", {"rank": 8, "power_iters": 2, "oversample": 0})
    'Gaussian sketch + 2 power its (HMT)'
    >>> method_label("newton_schulz", {"schedule": "polar_express"})
    'Polar Express'
    """
    return METHODS[method].label(params) if method in METHODS else method


def schedule_label(schedule: str) -> str:
    """How the papers name a Newton–Schulz schedule (the label of ``newton_schulz`` with it).

    Examples
    --------
    >>> schedule_label("muon")
    'Muon quintic'
    """
    return method_label("newton_schulz", {"schedule": schedule})


def source_label(row) -> str:
    r"""Short title of a matrix from a table row (a mapping): its source's registered label.

    Examples
    --------
    >>> print(source_label({"source": "power_law", "alpha": 0.5}))
    power law $\sigma_i = i^{-0.5}$
    """
    name = row["source"]
    return SOURCES[name].label(row) if name in SOURCES else name


def configuration_columns(table) -> tuple[list[str], list[str]]:
    """The columns of a sweep's table that set its cells: ``(matrix side, method side)``.

    The sweep engine writes ``source, m, n``, the source parameters and ``input_dtype`` (what
    sets the matrix), then ``method`` and its parameters, then ``seed, backend, device``; the
    backend and the device go with the matrix side, and the columns after them are measured. A
    figure groups rows by these columns (less its x axis), so a plotted value averages seeds
    only, never distinct configurations.

    Examples
    --------
    >>> import pandas as pd
    >>> columns = ["key", "source", "m", "n", "alpha", "input_dtype", "method", "rank", "inner",
    ...            "seed", "backend", "device", "error"]
    >>> configuration_columns(pd.DataFrame(columns=columns))
    (['source', 'm', 'n', 'alpha', 'input_dtype', 'backend', 'device'], ['method', 'rank', 'inner'])
    """
    columns = list(table.columns)
    method, seed = columns.index("method"), columns.index("seed")
    matrix = columns[columns.index("source"):method] + [c for c in ("backend", "device") if c in columns]
    return matrix, columns[method:seed]


def _setting(value) -> str:
    if not _given(value):
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def distinct_labels(labels: list[str], settings: list[dict], *, sep: str = ", ") -> list[str]:
    """``labels`` with ``name = value`` added where one label stands for several settings.

    Entries with equal labels get the settings in which they differ (missing values, NaN or
    None, count as equal), after ``sep``.

    Examples
    --------
    >>> distinct_labels(["GUM", "GUM", "oracle"], [{"q": 0.5, "rank": 4}, {"q": 0.25, "rank": 4}, {"q": None}])
    ['GUM, q = 0.5', 'GUM, q = 0.25', 'oracle']
    """
    out = list(labels)
    for label in set(labels):
        same = [i for i, other in enumerate(labels) if other == label]
        names = list(dict.fromkeys(name for i in same for name in settings[i]))
        differ = [name for name in names
                  if len({v if _given(v := settings[i].get(name)) else None for i in same}) > 1]
        if differ:
            for i in same:
                out[i] = label + sep + ", ".join(f"{name} = {_setting(settings[i].get(name))}" for name in differ)
    return out


def labelled_groups(table, columns: list[str], label, *, sep: str = ", ") -> list[tuple[dict, str, object]]:
    """``(setting, label, rows)`` per distinct value of ``columns``, in table order.

    ``setting`` maps ``columns`` to the group's values (missing values kept as a group) and
    ``label(setting)`` names it, with the settings that tell equal labels apart added
    (:func:`distinct_labels`).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"method": ["gum", "gum", "gum"], "q": [0.5, 0.5, 0.25], "error": [1.0, 3.0, 5.0]})
    >>> groups = labelled_groups(t, ["method", "q"], lambda setting: setting["method"])
    >>> [(label, float(rows["error"].mean())) for _, label, rows in groups]
    [('gum, q = 0.5', 2.0), ('gum, q = 0.25', 5.0)]
    """
    groups = list(table.groupby(columns, sort=False, dropna=False))
    settings = [dict(zip(columns, values)) for values, _ in groups]
    labels = distinct_labels([label(setting) for setting in settings], settings, sep=sep)
    return [(setting, name, rows) for setting, name, (_, rows) in zip(settings, labels, groups)]


def matrix_title(setting) -> str:
    """Title of a matrix: :func:`source_label` and the shape ``m×n``."""
    return f"{source_label(setting)}\n{int(setting['m'])}×{int(setting['n'])}"


def progress_bar(total: int, *, desc: str, initial: int = 0, disable: bool = False):
    """A ``tqdm`` counter of ``total`` items starting at ``initial`` (silent if tqdm is missing).

    Call ``update(k)`` as items finish and ``close()`` at the end.
    """
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Silent()
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, unit="cell")


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (figures are only written to files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_axes(ax, *, x: bool = False, y: bool = True):
    """Log scale on the chosen axes of ``ax``; a log x axis is labelled on its decades only."""
    from matplotlib.ticker import NullFormatter

    if x:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    if y:
        ax.set_yscale("log")


#: Metadata written into every figure file in place of matplotlib's defaults: no creation date
#: and no library version, so a figure drawn twice from the same data is the same bytes.
METADATA = {
    ".png": {"Software": "matsign"},
    ".pdf": {"Creator": "matsign", "Producer": "matsign", "CreationDate": None},
}


def save(fig, stem: Path):
    """Write ``stem.png`` and ``stem.pdf`` with fixed metadata; return the PNG path.

    The files carry no creation date and no matplotlib version (:data:`METADATA`), so redrawing
    a committed figure from the same data leaves it byte-identical.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    stem : str or Path
        The path without suffix; missing folders are created.

    Returns
    -------
    Path
        ``stem.png``.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    for suffix, metadata in METADATA.items():
        fig.savefig(stem.with_suffix(suffix), bbox_inches="tight", metadata=metadata)
    return stem.with_suffix(".png")
