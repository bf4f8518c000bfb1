"""Figure of MuonEq's equilibration: error to msign(G), to the method's own target, alignment."""

from __future__ import annotations

from matsign.plots import (
    pyplot,
    ERROR_FLOOR,
    STYLE,
    configuration_columns,
    labelled_groups,
    log_axes,
    matrix_title,
    method_label,
    save,
    schedule_label,
)

#: Colour per equilibration mode ("none" = plain Newton–Schulz); other methods get C3, C4, ...
MODE_COLOURS = {"none": "black", "R": "C0", "C": "C1", "RC": "C2"}
_MARKERS = ("o", "s", "^", "D")


def _series(setting) -> str:
    """The colour key of a method setting: its mode for MuonEq and Newton–Schulz ("none"), else its name."""
    return setting["mode"] if setting["method"] in ("newton_schulz", "muoneq") else setting["method"]


def _series_label(key) -> str:
    if key == "none":
        return "no equilibration"
    return f"MuonEq-{key}" if key in MODE_COLOURS else method_label(key, {})


def equilibration_figure(table, stem):
    """Error against msign(G), error against msign(D_r G D_c), and alignment, over the matrices.

    Parameters
    ----------
    table : pandas.DataFrame
        The equilibration sweep's table (:mod:`matsign.experiments.equilibration`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    Three rows over the matrices (x axis): error against msign(G), error against the target
    msign(D_r G D_c) the iteration converges to, and alignment ⟨G, X⟩/‖G‖_*. Colour is the
    mode, marker the schedule (and every other method parameter that takes several values).
    Each point is one matrix and method setting, the mean over seeds.
    """
    plt = pyplot()

    matrix_columns, method_columns = configuration_columns(table)
    table = table.assign(mode=table["mode"].fillna("none") if "mode" in table.columns else "none")
    method_columns = list(dict.fromkeys([*method_columns, "mode"]))
    marker_columns = _marker_columns(table, method_columns)
    table = table.assign(marker_index=table.groupby(marker_columns, sort=False, dropna=False).ngroup())
    matrices = labelled_groups(table, matrix_columns, matrix_title, sep="\n")
    variants = [label for _, label, _ in labelled_groups(
        table, marker_columns, lambda s: schedule_label(s["schedule"]))]
    series, colours = _series_colours(table)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, 1, figsize=(max(6.0, 0.9 * len(matrices) + 2), 8.0), sharex=True,
                                 layout="constrained")
        for x, (_, _, rows) in enumerate(matrices):
            _draw_matrix(axes, x, rows, method_columns, series, colours)
        for ax in axes[:2]:
            log_axes(ax)
        axes[0].set_ylabel("error vs msign(G)")
        axes[1].set_ylabel("error vs own target\nmsign(D_r G D_c)")
        axes[2].set_ylabel(r"alignment $\langle G, X\rangle / \|G\|_*$")
        axes[2].set_xticks(range(len(matrices)), [title for _, title, _ in matrices], rotation=60, ha="right",
                           fontsize=7)
        handles = _legend_handles(plt, series, colours, variants)
        axes[0].legend(handles=handles, ncol=len(handles), loc="lower left", bbox_to_anchor=(0.0, 1.02))
        fig.suptitle("Equilibration before Newton–Schulz: what it fixes and what it changes")
        path = save(fig, stem)
        plt.close(fig)
    return path


def _marker_columns(table, method_columns) -> list:
    """The schedule and every other method parameter that varies within a method: a marker each."""
    varying = [c for c in method_columns if c not in ("method", "mode", "schedule")
               and any(rows[c].nunique(dropna=False) > 1 for _, rows in table.groupby("method"))]
    return ["schedule", *varying]


def _series_colours(table) -> tuple[list, dict]:
    """The colour keys (every mode, then the other methods present) and their colours."""
    present = [_series(setting) for setting, _, _ in labelled_groups(table, ["method", "mode"], str)]
    series = list(dict.fromkeys([*MODE_COLOURS, *present]))
    others = (key for key in series if key not in MODE_COLOURS)
    return series, {**MODE_COLOURS, **{key: f"C{3 + i}" for i, key in enumerate(others)}}


def _draw_matrix(axes, x, rows, method_columns, series, colours):
    """One matrix at ``x``: a point per method setting in each row, side by side per colour key."""
    for setting, _, cell in labelled_groups(rows, method_columns, str):
        key = _series(setting)
        offset = (series.index(key) - (len(series) - 1) / 2) * 0.12
        variant = int(cell["marker_index"].iloc[0])
        marker = _MARKERS[variant % len(_MARKERS)]
        mean = cell[["error", "target_error", "alignment"]].mean()
        for ax, column in zip(axes, ("error", "target_error", "alignment")):
            value = max(mean[column], ERROR_FLOOR) if column != "alignment" else mean[column]
            ax.plot(x + offset, value, marker, color=colours[key], ms=5, mfc="none" if variant else colours[key])


def _legend_handles(plt, series, colours, variants) -> list:
    """A filled circle per colour key, then a grey marker per variant (the first one filled)."""
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[key], label=_series_label(key))
               for key in series]
    return handles + [plt.Line2D([], [], ls="", marker=_MARKERS[i % len(_MARKERS)], color="0.3",
                                 mfc="0.3" if i == 0 else "none", label=label)
                      for i, label in enumerate(variants)]
