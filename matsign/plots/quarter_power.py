"""Figure of two-sided ¼-power scaling against plain Newton–Schulz and MuonEq's scalings."""

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

_MARKERS = ("o", "s", "^", "D")


def scaling_label(setting) -> str:
    """The scaling a row's method applies: ``none``, or MuonEq's mode with its exponent.

    Examples
    --------
    >>> scaling_label({"method": "muoneq", "mode": "RC", "exponent": -0.25})
    'RC, exponent -0.25'
    >>> scaling_label({"method": "newton_schulz", "mode": float("nan"), "exponent": float("nan")})
    'no scaling'
    """
    mode = setting.get("mode")
    if setting["method"] != "muoneq" or mode is None or (isinstance(mode, float) and math.isnan(mode)):
        return "no scaling"
    return f"{mode}, exponent {setting['exponent']:g}"


def quarter_power_figure(table, stem):
    """Error against msign(G), error against the method's own target, and alignment, over the matrices.

    Parameters
    ----------
    table : pandas.DataFrame
        The quarter-power sweep's table (:mod:`matsign.experiments.quarter_power`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    Colour: the scaling (none, MuonEq's mode and exponent); marker: the schedule. Each point is
    one matrix and method setting, the mean over seeds.
    """
    plt = pyplot()
    matrix_columns, _ = configuration_columns(table)
    for column in ("mode", "exponent"):
        if column not in table.columns:
            table = table.assign(**{column: math.nan})
    table = table.assign(scaling=[scaling_label(row) for row in table.to_dict("records")])
    scalings = list(dict.fromkeys(table["scaling"]))
    schedules = list(dict.fromkeys(table["schedule"]))
    matrices = labelled_groups(table, matrix_columns, matrix_title, sep="\n")
    shown = ("error", "target_error", "alignment")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, 1, figsize=(max(6.0, 0.6 * len(matrices) + 3), 8.0), sharex=True,
                                 layout="constrained")
        for x, (_, _, rows) in enumerate(matrices):
            for (scaling, schedule), cells in rows.groupby(["scaling", "schedule"], sort=False):
                i, j = scalings.index(scaling), schedules.index(schedule)
                offset = (i - (len(scalings) - 1) / 2) * 0.12
                mean = cells[list(shown)].mean()
                for ax, column in zip(axes, shown):
                    value = max(mean[column], ERROR_FLOOR) if column != "alignment" else mean[column]
                    ax.plot(x + offset, value, _MARKERS[j % len(_MARKERS)], color=f"C{i}" if i else "black", ms=5,
                            mfc="none" if j else None)
        for ax in axes[:2]:
            log_axes(ax)
        axes[0].set_ylabel("error vs msign(G)")
        axes[1].set_ylabel("error vs own target\nmsign(D_r G D_c)")
        axes[2].set_ylabel(r"alignment $\langle G, X\rangle / \|G\|_*$")
        axes[2].set_xticks(range(len(matrices)), [title for _, title, _ in matrices], rotation=60, ha="right",
                           fontsize=7)
        handles = [plt.Line2D([], [], ls="", marker="o", color=f"C{i}" if i else "black", label=label)
                   for i, label in enumerate(scalings)]
        handles += [plt.Line2D([], [], ls="", marker=_MARKERS[j % len(_MARKERS)], color="0.3",
                               mfc="none" if j else "0.3", label=schedule_label(schedule))
                    for j, schedule in enumerate(schedules)]
        axes[0].legend(handles=handles, ncol=4, loc="lower left", bbox_to_anchor=(0.0, 1.02))
        fig.suptitle("Two-sided ¼-power scaling before Newton–Schulz")
        path = save(fig, stem)
        plt.close(fig)
    return path
