"""Figure of Newton–Schulz inside a projected subspace against the steps."""

from __future__ import annotations

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

#: Line style per measured error: in the subspace, in the residual, on the whole matrix.
ERRORS = {"inner_error": ("o-", "in span(P): P·NS(PᵀG)"), "residual_error": ("s--", "in the residual (GUM)"),
          "full_error": ("^:", "whole matrix")}


def projected_ns_figure(table, stem):
    """Error against the exact sign of the matrix the iteration is given, against the steps.

    Parameters
    ----------
    table : pandas.DataFrame
        The projected-ns sweep's table (:mod:`matsign.experiments.projected_ns`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    A panel per matrix; a colour per schedule and rank; line style: the subspace ``P·NS(PᵀG)``
    (solid), GUM's residual (dashed), the whole matrix (dotted, the same for every rank).
    """
    plt = pyplot()
    matrix_columns, _ = configuration_columns(table)
    matrices = labelled_groups(table, matrix_columns, matrix_title)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(matrices), figsize=(3.2 * len(matrices) + 2.5, 3.6), sharey=True,
                                 squeeze=False, layout="constrained")
        for ax, (_, title, rows) in zip(axes[0], matrices):
            for colour, ((inner, rank), cells) in enumerate(rows.groupby(["inner", "rank"], sort=False)):
                means = cells.groupby("steps")[list(ERRORS)].mean()
                for column, (style, what) in ERRORS.items():
                    if column == "full_error" and rank != rows["rank"].min():
                        continue  # the whole matrix has no rank: one line per schedule
                    ax.plot(means.index, means[column].clip(lower=ERROR_FLOOR), style, color=f"C{colour}", ms=3,
                            lw=1, label=f"{schedule_label(inner)}, r = {rank}: {what}")
            ax.set_title(title, fontsize=8)
            log_axes(ax)
            ax.set_xlabel("Newton–Schulz steps")
        axes[0, 0].set_ylabel("error vs exact sign of the same matrix")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=6)
        fig.suptitle("Newton–Schulz inside GaLore's subspace and GUM's residual vs on the whole matrix")
        path = save(fig, stem)
        plt.close(fig)
    return path
