"""Figures of low-rank signs against rank: error, distance to the oracle with its bound, alignment."""

from __future__ import annotations

import math

from matsign.plots import STYLE, method_label, save, source_label

#: Colours: Gaussian variants in blues, column strategies in warm colours, the oracle in black.
_COLOURS = {
    "gaussian": ("#9ecae1", "#4292c6", "#08519c", "#08306b"),
    "column": ("#e6550d", "#31a354", "#756bb1", "#d6616b", "#8c6d31", "#636363"),
}


def _variants(table):
    """``(label, rows)`` per method variant (all parameters but the rank), in table order."""
    params = [c for c in ("power_iters", "oversample", "strategy") if c in table.columns]
    out = []
    for (method, *values), rows in table.groupby(["method", *params], sort=False, dropna=False):
        out.append((method, method_label(method, dict(zip(params, values))), rows))
    return out


def _colour(method, index):
    if method == "oracle":
        return "black"
    palette = _COLOURS.get(method, _COLOURS["column"])
    return palette[index % len(palette)]


def error_vs_rank_figure(table, stem):
    """Three rows per spectrum column: relative error with the rank floor, distance to the oracle
    with the deterministic bound (dotted, same colour), and alignment with the Ky Fan ratio.

    Points are means over seeds; rank on a log₂ axis; distances on a log axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    source_cols = [c for c in ("source", "m", "n", "alpha", "rate", "signal_rank", "noise", "kappa", "dof",
                               "row_spread", "col_spread", "tensor", "step", "kind") if c in table.columns]
    spectra = list(table.groupby(source_cols, sort=False, dropna=False))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, len(spectra), figsize=(3.3 * len(spectra), 8.2), sharex=True, squeeze=False)
        for col, (_, data) in enumerate(spectra):
            first = data.iloc[0]
            top, middle, bottom = axes[:, col]
            floor = data.groupby("rank")[["rank_floor", "oracle_alignment"]].mean()
            top.plot(floor.index, floor["rank_floor"], "-", color="0.6", lw=4, alpha=0.5, label="rank floor √((ρ−r)/ρ)")
            bottom.plot(floor.index, floor["oracle_alignment"], "--", color="black", lw=1.2,
                        label="Ky Fan ratio (best rank r)")
            counters = {}
            for method, label, rows in _variants(data):
                index = counters.get(method, 0)
                counters[method] = index + 1
                colour = _colour(method, index)
                mean = rows.groupby("rank")[["error", "oracle_distance", "bound", "alignment"]].mean()
                marker = "x" if method == "oracle" else "o"
                top.plot(mean.index, mean["error"], marker + "-", color=colour, ms=3.5, lw=1, label=label)
                if method != "oracle":
                    middle.plot(mean.index, mean["oracle_distance"], marker + "-", color=colour, ms=3.5, lw=1)
                    finite = mean["bound"].map(math.isfinite)
                    if finite.any() and method == "gaussian":
                        middle.plot(mean.index[finite], mean["bound"][finite], "v:", color=colour, lw=1.4, ms=4)
                    bottom.plot(mean.index, mean["alignment"], marker + "-", color=colour, ms=3.5, lw=1)
            bottom.plot(floor.index, floor["oracle_alignment"], "x", color="black", ms=4)
            top.set_title(f"{source_label(first)}\n{int(first['m'])}×{int(first['n'])}")
            for ax in axes[:, col]:
                ax.set_xscale("log", base=2)
            middle.set_yscale("log")
            bottom.set_xlabel("rank r")
        axes[0, 0].set_ylabel(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")
        axes[1, 0].set_ylabel(r"$\|X - U_rV_r^\top\|_F / \sqrt{r}$" + "\n(▽ dotted: deterministic bound)")
        axes[2, 0].set_ylabel(r"alignment $\langle G, X\rangle / \|G\|_*$")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        extra_h, extra_l = axes[2, 0].get_legend_handles_labels()
        fig.legend(handles + extra_h[:1], labels + extra_l[:1], loc="upper center", ncol=4,
                   bbox_to_anchor=(0.5, 0.0))
        fig.suptitle("Low-rank signs Q·msign(QᵀG) vs rank (means over seeds)", y=1.0)
        fig.tight_layout()
        path = save(fig, stem)
        plt.close(fig)
    return path
