"""Figure of Dion2's slice sign against the selected fraction, per selection rule."""

from __future__ import annotations

from matsign.plots import STYLE, configuration_columns, labelled_groups, log_axes, matrix_title, method_label, pyplot, save

#: How the rules are named: Dion2 selects by L1 norm.
SCORE_LABELS = {"l1": "L1 norm (Dion2)", "l2": "L2 norm", "random": "uniformly random"}


def _rule_label(setting) -> str:
    if setting["method"] == "dion2":
        return SCORE_LABELS.get(setting["score"], setting["score"])
    return method_label(setting["method"], setting)


def dion2_fraction_figure(table, stem):
    """Error and alignment of Dion2's slice sign against the selected fraction, per matrix.

    Parameters
    ----------
    table : pandas.DataFrame
        The dion2-fraction sweep's table (:mod:`matsign.experiments.dion2_fraction`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    One column per matrix: error vs fraction with the rank floor at k slices (grey band), and
    alignment vs fraction with the Ky Fan ratio at k (dashed). One line per selection rule (per
    method variant: every method parameter but the fraction); points are means over seeds only.
    """
    plt = pyplot()

    matrix_columns, method_columns = configuration_columns(table)
    matrices = labelled_groups(table, matrix_columns, matrix_title, sep="\n")
    variant_columns = [c for c in method_columns if c != "fraction"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(matrices), figsize=(3.1 * len(matrices), 5.4), sharex=True, squeeze=False,
                                 layout="constrained")
        for col, (_, title, rows) in enumerate(matrices):
            top, bottom = axes[:, col]
            floor = rows.groupby("fraction")[["slice_floor", "oracle_alignment"]].mean()
            top.plot(floor.index, floor["slice_floor"], "-", color="0.6", lw=4, alpha=0.5, label="rank floor at k")
            bottom.plot(floor.index, floor["oracle_alignment"], "--", color="black", lw=1.2, label="Ky Fan ratio at k")
            for i, (_, label, d) in enumerate(labelled_groups(rows, variant_columns, _rule_label)):
                mean = d.groupby("fraction")[["error", "alignment"]].mean()
                top.plot(mean.index, mean["error"], "o-", color=f"C{i}", ms=3.5, lw=1.2, label=label)
                bottom.plot(mean.index, mean["alignment"], "o-", color=f"C{i}", ms=3.5, lw=1.2, label=label)
            top.set_title(title)
            for ax in (top, bottom):
                log_axes(ax, x=True, y=False)
            bottom.set_xlabel("selected fraction of the shorter side")
        axes[0, 0].set_ylabel(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")
        axes[1, 0].set_ylabel(r"alignment $\langle G, X\rangle / \|G\|_*$")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        more_h, more_l = axes[1, 0].get_legend_handles_labels()
        fig.legend(handles + more_h[:1], labels + more_l[:1], loc="outside lower center", ncol=len(labels) + 1)
        fig.suptitle("Dion2 slice sign vs selected fraction (means over seeds)")
        path = save(fig, stem)
        plt.close(fig)
    return path
