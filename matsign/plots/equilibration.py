"""Figure of MuonEq's equilibration: error to msign(G), to the method's own target, alignment."""

from __future__ import annotations

from matsign.plots import ERROR_FLOOR, SCHEDULE_LABELS, STYLE, log_axes, save, source_label

#: Colour per equilibration mode ("none" = plain Newton–Schulz).
MODE_COLOURS = {"none": "black", "R": "C0", "C": "C1", "RC": "C2"}
_MARKERS = ("o", "s", "^", "D")


def equilibration_figure(table, stem):
    """Three rows over the matrices (x axis): error against msign(G), error against the target
    msign(D_r G D_c) the iteration converges to, and alignment ⟨G, X⟩/‖G‖_*; colour = mode,
    marker = schedule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = table.assign(mode=table["mode"].fillna("none") if "mode" in table.columns else "none")
    keys = [c for c in ("source", "m", "n", "row_spread", "col_spread", "kappa", "tensor", "step", "kind")
            if c in table.columns]
    matrices = list(table.groupby(keys, sort=False, dropna=False))
    labels = [f"{source_label(rows.iloc[0])}\n{int(rows.iloc[0]['m'])}×{int(rows.iloc[0]['n'])}"
              for _, rows in matrices]
    schedules = list(table["schedule"].unique())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, 1, figsize=(max(6.0, 0.9 * len(matrices) + 2), 8.0), sharex=True,
                                 layout="constrained")
        for x, (_, rows) in enumerate(matrices):
            for (mode, schedule), cell in rows.groupby(["mode", "schedule"], sort=False):
                offset = (list(MODE_COLOURS).index(mode) - 1.5) * 0.12
                marker = _MARKERS[schedules.index(schedule) % len(_MARKERS)]
                mean = cell[["error", "target_error", "alignment"]].mean()
                for ax, column in zip(axes, ("error", "target_error", "alignment")):
                    value = max(mean[column], ERROR_FLOOR) if column != "alignment" else mean[column]
                    ax.plot(x + offset, value, marker, color=MODE_COLOURS[mode], ms=5, mfc="none" if
                            schedule != schedules[0] else MODE_COLOURS[mode])
        for ax in axes[:2]:
            log_axes(ax)
        axes[0].set_ylabel("error vs msign(G)")
        axes[1].set_ylabel("error vs own target\nmsign(D_r G D_c)")
        axes[2].set_ylabel(r"alignment $\langle G, X\rangle / \|G\|_*$")
        axes[2].set_xticks(range(len(matrices)), labels, rotation=60, ha="right", fontsize=7)
        handles = [plt.Line2D([], [], ls="", marker="o", color=c, label="no equilibration" if m == "none" else f"MuonEq-{m}")
                   for m, c in MODE_COLOURS.items()]
        handles += [plt.Line2D([], [], ls="", marker=_MARKERS[i % len(_MARKERS)], color="0.3",
                               mfc="0.3" if i == 0 else "none", label=SCHEDULE_LABELS.get(s, s))
                    for i, s in enumerate(schedules)]
        axes[0].legend(handles=handles, ncol=len(handles), loc="lower left", bbox_to_anchor=(0.0, 1.02))
        fig.suptitle("Equilibration before Newton–Schulz: what it fixes and what it changes")
        path = save(fig, stem)
        plt.close(fig)
    return path
