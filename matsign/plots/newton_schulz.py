"""Figures of Newton–Schulz error against steps and conditioning."""

from __future__ import annotations

from matsign.plots import SCHEDULE_LABELS, STYLE, save


def ns_vs_spectrum_figure(table, stem):
    """Error vs steps per κ (measured markers, predicted lines), one colour per schedule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kappas = sorted(table["kappa"].unique())
    mean = table.groupby(["kappa", "schedule", "steps"], as_index=False)[["measured_error", "predicted_error"]].mean()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(kappas), figsize=(2.6 * len(kappas), 2.9), sharey=True)
        for ax, kappa in zip(axes, kappas):
            for i, name in enumerate(table["schedule"].unique()):
                d = mean[(mean["kappa"] == kappa) & (mean["schedule"] == name)]
                colour = f"C{i}"
                ax.plot(d["steps"], d["predicted_error"], "-", color=colour, lw=1.2, label=SCHEDULE_LABELS.get(name, name))
                ax.plot(d["steps"], d["measured_error"], "o", color=colour, ms=3, mfc="none")
            ax.set_yscale("log")
            ax.set_title(f"κ = {kappa:.0e}")
            ax.set_xlabel("Newton–Schulz steps")
            ax.set_xticks(sorted(d["steps"].unique())[1::2])
        axes[0].set_ylabel(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=len(labels), bbox_to_anchor=(0.5, 0.0))
        fig.suptitle("Newton–Schulz error: measured (circles) vs predicted by scalar_map (lines)", y=1.02)
        path = save(fig, stem)
        plt.close(fig)
    return path
