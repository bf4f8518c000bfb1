"""Figure of Dion2's slice sign against the selected fraction, per selection rule."""

from __future__ import annotations

from matsign.plots import STYLE, log_axes, save, source_label

#: How the rules are named: Dion2 selects by L1 norm.
SCORE_LABELS = {"l1": "L1 norm (Dion2)", "l2": "L2 norm", "random": "uniformly random"}


def dion2_fraction_figure(table, stem):
    """Per matrix (columns): error vs fraction with the rank floor at k slices (grey band), and
    alignment vs fraction with the Ky Fan ratio at k (dashed); one line per selection rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [c for c in ("source", "m", "n", "alpha", "dof", "row_spread", "col_spread", "kappa", "tensor", "step",
                        "kind") if c in table.columns]
    matrices = list(table.groupby(keys, sort=False, dropna=False))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(matrices), figsize=(3.1 * len(matrices), 5.4), sharex=True, squeeze=False,
                                 layout="constrained")
        for col, (_, rows) in enumerate(matrices):
            top, bottom = axes[:, col]
            floor = rows.groupby("fraction")[["slice_floor", "oracle_alignment"]].mean()
            top.plot(floor.index, floor["slice_floor"], "-", color="0.6", lw=4, alpha=0.5, label="rank floor at k")
            bottom.plot(floor.index, floor["oracle_alignment"], "--", color="black", lw=1.2, label="Ky Fan ratio at k")
            for i, (score, d) in enumerate(rows.groupby("score", sort=False)):
                mean = d.groupby("fraction")[["error", "alignment"]].mean()
                label = SCORE_LABELS.get(score, score)
                top.plot(mean.index, mean["error"], "o-", color=f"C{i}", ms=3.5, lw=1.2, label=label)
                bottom.plot(mean.index, mean["alignment"], "o-", color=f"C{i}", ms=3.5, lw=1.2, label=label)
            first = rows.iloc[0]
            top.set_title(f"{source_label(first)}\n{int(first['m'])}×{int(first['n'])}")
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
