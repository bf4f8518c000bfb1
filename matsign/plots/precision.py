"""Figures of the sign's error in each working precision against the condition number."""

from __future__ import annotations

from matsign._backend import EPS, PRECISIONS
from matsign.plots import ERROR_FLOOR, STYLE, log_axes, method_label, pyplot, save, schedule_label

#: One colour per working precision, shared by every panel.
#: One marker and line style per exact route.
EXACT_STYLES = {"exact_svd": "s-", "exact_eigh": "^--", "exact_ns": "o-.", "qdwh": "D:"}

PRECISION_COLOURS = {"float64": "C0", "float32": "C1", "tfloat32": "C4", "bfloat16": "C2", "float16": "C3"}


def precision_figure(table, stem):
    """The sign's error against κ in each working precision, one panel per schedule.

    Parameters
    ----------
    table : pandas.DataFrame
        The precision sweep's table (:mod:`matsign.experiments.precision`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    One panel per Newton–Schulz schedule (a line per working precision, dotted: its machine
    epsilon) and one for the exact sign (a line per method and input precision).
    """
    plt = pyplot()

    ns = table[table["method"] == "newton_schulz"]
    exact = table[table["method"] != "newton_schulz"]
    schedules = list(ns["schedule"].unique()) if len(ns) else []
    panels = len(schedules) + (1 if len(exact) else 0)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, panels, figsize=(2.9 * panels, 3.2), sharey=True, squeeze=False,
                                 layout="constrained")
        axes = axes[0]
        for ax, schedule in zip(axes, schedules):
            rows = ns[ns["schedule"] == schedule]
            for dtype in PRECISIONS:
                d = rows[rows["dtype"] == dtype].groupby("kappa", as_index=False)["error"].mean()
                if len(d):
                    colour = PRECISION_COLOURS[dtype]
                    ax.plot(d["kappa"], d["error"].clip(lower=ERROR_FLOOR), "o-", color=colour, ms=3, lw=1.2, label=dtype)
                    ax.axhline(EPS[dtype], color=colour, ls=":", lw=0.8)
            ax.set_title(schedule_label(schedule))
        if len(exact):
            ax = axes[-1]
            for (method, input_dtype), rows in exact.groupby(["method", "input_dtype"], sort=False):
                d = rows.groupby("kappa", as_index=False)["error"].mean()
                ax.plot(d["kappa"], d["error"].clip(lower=ERROR_FLOOR), EXACT_STYLES.get(method, "x-"),
                        color=PRECISION_COLOURS[input_dtype], ms=3, lw=1.2,
                        label=f"{method_label(method, {})}, {input_dtype} input")
            ax.set_title("exact sign (errors ≤ 1e-16 drawn at 1e-16)")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        for ax in axes:
            log_axes(ax, x=True)
            ax.set_xlabel("condition number κ")
        axes[0].set_ylabel(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")
        if schedules:
            axes[0].legend(title="working precision\n(dotted: its ε)", loc="center left")
        fig.suptitle("Error of the sign by working precision (errors in float64 against the float64 sign)")
        path = save(fig, stem)
        plt.close(fig)
    return path
