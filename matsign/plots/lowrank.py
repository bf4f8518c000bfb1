"""Figures of low-rank signs against rank: error, distance to the oracle with its bound, alignment."""

from __future__ import annotations

import math

from matsign.plots import STYLE, configuration_columns, labelled_groups, matrix_title, method_label, pyplot, save

#: Colours: Gaussian variants in blues, column strategies in warm colours, the oracle in black.
_COLOURS = {
    "gaussian": ("#9ecae1", "#4292c6", "#08519c", "#08306b"),
    "column": ("#e6550d", "#31a354", "#756bb1", "#d6616b", "#8c6d31", "#636363"),
}


def _style(method, index):
    """Colour and line style of a method's ``index``-th variant (the line style changes once
    the palette is used up)."""
    if method == "oracle":
        return "black", "-"
    palette = _COLOURS.get(method, _COLOURS["column"])
    return palette[index % len(palette)], ("-", "--", "-.", ":")[index // len(palette) % 4]


def error_vs_rank_figure(table, stem):
    """Three rows per spectrum column: relative error with the rank floor, distance to the oracle
    with the deterministic bound (dotted, same colour), and alignment with the Ky Fan ratio.

    Parameters
    ----------
    table : pandas.DataFrame
        The error-vs-rank sweep's table (:mod:`matsign.experiments.error_vs_rank`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    One column per matrix (every source parameter, the shape and the input precision) and one
    line per method variant (every method parameter but the rank): points are means over seeds
    only. Rank on a log₂ axis; distances on a log axis.
    """
    plt = pyplot()

    matrix_columns, method_columns = configuration_columns(table)
    variant_columns = [c for c in method_columns if c != "rank"]
    matrices = labelled_groups(table, matrix_columns, matrix_title, sep="\n")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, len(matrices), figsize=(3.3 * len(matrices), 8.2), sharex=True, squeeze=False)
        for column, (_, title, data) in zip(axes.T, matrices):
            _draw_matrix(column, title, data, variant_columns)
        _label_rows(axes[:, 0])
        _legend_below(fig, axes)
        fig.suptitle("Low-rank signs Q·msign(QᵀG) vs rank (means over seeds)", y=1.0)
        fig.tight_layout()
        path = save(fig, stem)
        plt.close(fig)
    return path


def _draw_matrix(axes, title, data, variant_columns):
    """One matrix's column of three panels: the references, one line per method variant."""
    top, middle, bottom = axes
    best = data.groupby("rank")[["rank_floor", "oracle_alignment"]].mean()
    top.plot(best.index, best["rank_floor"], "-", color="0.6", lw=4, alpha=0.5, label="rank floor √((ρ−r)/ρ)")
    bottom.plot(best.index, best["oracle_alignment"], "--", color="black", lw=1.2, label="Ky Fan ratio (best rank r)")
    distances = []
    for method, index, label, means in _variants(data, variant_columns):
        distances.extend(_draw_variant(axes, method, _style(method, index), label, means))
    bottom.plot(best.index, best["oracle_alignment"], "x", color="black", ms=4)
    top.set_title(title)
    for ax in axes:
        ax.set_xscale("log", base=2)
    if any(d > 0 for d in distances):
        middle.set_yscale("log")
    else:
        # The oracle U_rV_rᵀ is not unique (distance NaN) without a gap σ_r > σ_{r+1}, e.g. at r > ρ.
        middle.text(0.5, 0.5, "no oracle distance:\nno gap σ_r > σ_{r+1} at these ranks",
                    transform=middle.transAxes, ha="center", va="center", color="0.4")
    bottom.set_xlabel("rank r")


def _variants(data, variant_columns):
    """``(method, index, label, means)`` per method variant, in table order: ``index`` numbers
    the method's variants, ``means`` holds the per-rank means over seeds."""
    seen = {}
    for variant, label, rows in labelled_groups(data, variant_columns, lambda s: method_label(s["method"], s)):
        method = variant["method"]
        index = seen[method] = seen.get(method, -1) + 1
        yield method, index, label, rows.groupby("rank")[["error", "oracle_distance", "bound", "alignment"]].mean()


def _draw_variant(axes, method, style, label, means) -> list:
    """One variant's error, oracle distance (with the bound for a Gaussian sketch) and alignment;
    returns the distances drawn (none for the oracle itself)."""
    top, middle, bottom = axes
    colour, line = style
    marker = "x" if method == "oracle" else "o"
    top.plot(means.index, means["error"], marker + line, color=colour, ms=3.5, lw=1, label=label)
    if method == "oracle":
        return []
    middle.plot(means.index, means["oracle_distance"], marker + line, color=colour, ms=3.5, lw=1)
    finite = means["bound"].map(math.isfinite)
    if finite.any() and method == "gaussian":
        middle.plot(means.index[finite], means["bound"][finite], "v:", color=colour, lw=1.4, ms=4)
    bottom.plot(means.index, means["alignment"], marker + line, color=colour, ms=3.5, lw=1)
    return list(means["oracle_distance"])


def _label_rows(first_column):
    top, middle, bottom = first_column
    top.set_ylabel(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")
    middle.set_ylabel(r"$\|X - U_rV_r^\top\|_F / \sqrt{r}$" + "\n(▽ dotted: deterministic bound)")
    bottom.set_ylabel(r"alignment $\langle G, X\rangle / \|G\|_*$")


def _legend_below(fig, axes):
    """One legend under the figure: the variants and the rank floor, then the Ky Fan ratio."""
    handles, labels = axes[0, 0].get_legend_handles_labels()
    extra_handles, extra_labels = axes[2, 0].get_legend_handles_labels()
    fig.legend(handles + extra_handles[:1], labels + extra_labels[:1], loc="upper center", ncol=4,
               bbox_to_anchor=(0.5, 0.0))
