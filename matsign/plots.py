"""Figures in one consistent style (PNG and PDF), and the progress bar long work shows."""

from __future__ import annotations

from pathlib import Path

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

#: How the papers name each schedule.
SCHEDULE_LABELS = {
    "cubic": "cubic NS",
    "muon": "Muon quintic",
    "you5": "You (5 steps)",
    "polar_express": "Polar Express",
    "polar_express8": "Polar Express (8)",
    "cans": "CANS",
    "aol4": "Turbo-Muon AOL (4)",
    "deepseek_v4": "DeepSeek-V4",
}


def progress_bar(items, *, desc: str, disable: bool = False):
    """``tqdm`` over ``items`` (a plain iterator when tqdm is missing or ``disable``)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iter(items)
    return tqdm(items, desc=desc, disable=disable)


def save(fig, stem: Path):
    """Write ``stem.png`` and ``stem.pdf``; return the PNG path."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(stem.with_suffix(".png"), bbox_inches="tight")
    fig.savefig(stem.with_suffix(".pdf"), bbox_inches="tight")
    return stem.with_suffix(".png")


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
