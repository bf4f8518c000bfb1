"""Figure of the predict-vs-measure experiment: σ-only predictions against measured values."""

from __future__ import annotations

import numpy as np

from matsign.plots import STYLE, pyplot, save

#: Marker per prediction kind.
KIND_MARKERS = {"exact": "o", "monte_carlo": "s", "bound": "^"}


def predict_vs_measure_figure(table, stem):
    """Predicted against measured alignment (left) and relative error (right), one colour per
    method, with the predicted band as a vertical bar.

    Parameters
    ----------
    table : pandas.DataFrame
        The predict-vs-measure table (:mod:`matsign.experiments.predict_vs_measure`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    An exact or Monte-Carlo prediction is drawn at its value (mean) with its band (mean ∓ 2
    std of one sketch); a bound at the middle of its band, the bar spanning it: a point is
    contained when its bar crosses the diagonal. Measured values are per seed.
    """
    plt = pyplot()
    rows = table[table["prediction_kind"].isin(tuple(KIND_MARKERS))]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10.4, 4.8), layout="constrained")
        for ax, measured, value in ((axes[0], "alignment", "predicted_alignment"),
                                    (axes[1], "error", "predicted_error")):
            low, high = rows[f"{value}_low"], rows[f"{value}_high"].clip(upper=2.0)
            centre = rows[value].fillna((low + high) / 2)
            colours = {method: f"C{i}" for i, method in enumerate(sorted(rows["method"].unique()))}
            for (method, kind), d in rows.groupby(["method", "prediction_kind"]):
                index = d.index
                ax.errorbar(d[measured], centre[index],
                            yerr=[np.maximum(centre[index] - low[index], 0),
                                  np.maximum(high[index] - centre[index], 0)],
                            fmt=KIND_MARKERS[kind], ms=3.5, lw=0.8, capsize=1.5,
                            color=colours[method], alpha=0.8, label=f"{method} ({kind})")
            span = [0, max(1.0, float(np.nanmax(rows[measured])))]
            ax.plot(span, span, "-", color="0.5", lw=1)
            ax.set_xlabel(f"measured {measured}")
            ax.set_ylabel(f"predicted from σ ({measured})")
        axes[0].set_title(r"alignment $\langle G, X\rangle / \|G\|_*$")
        axes[1].set_title(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$"
                          " (bounds capped at 2)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=7)
        fig.suptitle("Predicted from singular values alone vs measured (bars: the predicted band)")
        path = save(fig, stem)
        plt.close(fig)
    return path
