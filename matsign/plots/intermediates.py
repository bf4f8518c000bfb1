"""Figure of the largest intermediate entries and the final error of Newton–Schulz per working precision."""

from __future__ import annotations

import math

from matsign.plots import (
    ERROR_FLOOR,
    STYLE,
    configuration_columns,
    labelled_groups,
    log_axes,
    matrix_title,
    pyplot,
    save,
    schedule_label,
)
from matsign.plots.precision import PRECISION_COLOURS

#: float16's largest finite value: a peak above it overflowed.
FLOAT16_MAX = 65504.0


def _panel_label(setting) -> str:
    iteration = "Gram NS" if setting["method"] == "gram_newton_schulz" else "NS"
    return f"{iteration}, {schedule_label(setting['schedule'])}"


def intermediates_figure(table, stem):
    """Final error, rounding error and largest stored entry, over the matrices, one column per method and schedule.

    Parameters
    ----------
    table : pandas.DataFrame
        The intermediates sweep's table (:mod:`matsign.experiments.intermediates`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    Rows: error against ``msign(G)`` (float64); ``rounding_error``, against the same iteration
    in float64 (the format's share; float32's is the floor); the largest of ``max_x``,
    ``max_gram`` and ``max_b``, the biggest magnitude any stored intermediate reached (an
    overflow is drawn above the axis's float16 line with an ×; dashed: float16's largest value).
    A line per working precision; each point one matrix, the mean over seeds.
    """
    plt = pyplot()
    matrix_columns, method_columns = configuration_columns(table)
    table = table.assign(peak=table[["max_x", "max_gram", "max_b"]].max(axis=1))
    matrices = labelled_groups(table, matrix_columns, matrix_title, sep="\n")
    table = table.assign(matrix_index=0)
    for x, (_, _, rows) in enumerate(matrices):
        table.loc[rows.index, "matrix_index"] = x
    panel_columns = [c for c in method_columns if c != "dtype"]
    panels = labelled_groups(table, panel_columns, _panel_label)
    shown = ("error", "rounding_error", "peak")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, len(panels), figsize=(max(6.0, 0.3 * len(matrices) * len(panels) + 2), 7.5),
                                 sharex=True, sharey="row", squeeze=False, layout="constrained")
        for column, (_, label, rows) in enumerate(panels):
            for dtype, series in rows.groupby("dtype", sort=False):
                means = series.groupby("matrix_index")[list(shown)].mean()
                colour = PRECISION_COLOURS.get(dtype, "C5")
                for ax, name in zip(axes[:, column], shown):
                    finite = means[name].map(math.isfinite)
                    values = means[name][finite].clip(lower=ERROR_FLOOR)
                    ax.plot(means.index[finite], values, "o-", color=colour, ms=3, lw=1, label=dtype)
                    if (~finite).any():
                        ax.plot(means.index[~finite], [FLOAT16_MAX * 4] * int((~finite).sum()), "x", color=colour,
                                ms=7)
            axes[2, column].axhline(FLOAT16_MAX, color="C3", ls="--", lw=0.8)
            axes[0, column].set_title(label, fontsize=8)
            for ax in axes[:, column]:
                log_axes(ax)
            axes[2, column].set_xticks(range(len(matrices)), [title for _, title, _ in matrices], rotation=70,
                                       ha="right", fontsize=6)
        axes[0, 0].set_ylabel("error vs msign(G)")
        axes[1, 0].set_ylabel("rounding error\n(vs the float64 iteration)")
        axes[2, 0].set_ylabel("largest stored |entry|\n(dashed: float16 max)")
        axes[0, 0].legend(title="iteration state", loc="best")
        fig.suptitle("Newton–Schulz state in 16-bit formats: final error, rounding error, largest intermediate")
        path = save(fig, stem)
        plt.close(fig)
    return path
