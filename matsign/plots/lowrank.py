"""Figures of low-rank signs against rank: error, distance to the oracle with its bound, alignment."""

from __future__ import annotations

import math

from matsign.plots import STYLE, configuration_columns, labelled_groups, matrix_title, method_label, pyplot, save

#: Colours: Gaussian variants in blues, column strategies in warm colours, the oracle in black.
_COLOURS = {
    "gaussian": ("#9ecae1", "#4292c6", "#08519c", "#08306b"),
    "column": ("#e6550d", "#31a354", "#756bb1", "#d6616b", "#8c6d31", "#636363"),
}

#: Markers: one per variant, so that variants at equal values stay told apart by shape as well
#: as colour; ``v`` is kept for the bound and ``x`` for the oracle.
_MARKERS = {
    "gaussian": ("o", "s", "D", "h"),
    "column": ("^", "<", ">", "p", "P", "*"),
}

#: Horizontal distance between neighbouring variants at one rank, in points: the variants are
#: drawn side by side around the rank (a shift of the drawing only; the data are at the rank).
_DODGE_POINTS = 2.2


def _style(method, index):
    """Colour, line style and marker of a method's ``index``-th variant (the line style
    changes once the palette is used up)."""
    if method == "oracle":
        return "black", "-", "x"
    palette = _COLOURS.get(method, _COLOURS["column"])
    markers = _MARKERS.get(method, _MARKERS["column"])
    return (palette[index % len(palette)], ("-", "--", "-.", ":")[index // len(palette) % 4],
            markers[index % len(markers)])


def error_vs_rank_figure(table, stem):
    """Three rows per spectrum column: relative error with the rank floor, distance to the oracle
    with the deterministic bound (hollow ▽ on a dotted line, same colour), and alignment with
    the Ky Fan ratio.

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
    only. Each variant has its own colour and marker, and the variants at one rank are drawn a
    few points apart (the data stay at the rank), so that no curve hides another where methods
    agree. Rank on a log₂ axis; distances on a log axis. The oracle distance is defined only at
    ranks with a gap :math:`\\sigma_r > \\sigma_{r+1}`; its panel shows those ranks only, and where
    that is a single rank (a flat spectrum on both sides, e.g. signal plus a flat noise floor) one
    point per variant side by side at that rank.
    """
    plt = pyplot()

    matrix_columns, method_columns = configuration_columns(table)
    variant_columns = [c for c in method_columns if c != "rank"]
    matrices = labelled_groups(table, matrix_columns, matrix_title, sep="\n")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, len(matrices), figsize=(3.5 * len(matrices), 8.6), squeeze=False)
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
    variants = list(_variants(data, variant_columns))
    defined = sorted({rank for *_, means in variants for rank, d in means["oracle_distance"].items()
                      if math.isfinite(d)})
    # A single defined rank leaves the distance panel room to spread the variants further apart.
    spread = (_DODGE_POINTS, _DODGE_POINTS * (6 if len(defined) == 1 else 1))
    for position, (method, index, label, means) in enumerate(variants):
        offset = position - (len(variants) - 1) / 2
        _draw_variant(axes, method, _style(method, index), label, means, [offset * d for d in spread], defined)
    bottom.plot(best.index, best["oracle_alignment"], "x", color="black", ms=4)
    top.set_title(title)
    bottom.set_xlabel("rank r")
    for ax in (top, bottom):
        _rank_axis(ax, best.index)
    if not defined:
        # The oracle U_rV_rᵀ is not unique (distance NaN) without a gap σ_r > σ_{r+1}, e.g. at r > ρ.
        _rank_axis(middle, best.index)
        middle.text(0.5, 0.5, "no oracle distance:\nno gap σ_r > σ_{r+1} at these ranks",
                    transform=middle.transAxes, ha="center", va="center", color="0.4")
        return
    middle.set_yscale("log")
    _rank_axis(middle, defined)
    if len(defined) < len(best.index):
        others = ", ".join(str(int(r)) for r in best.index if r not in defined)
        middle.set_title(f"not drawn at r = {others}:\nσ_r = σ_(r+1), oracle not unique", fontsize=7, color="0.4")


def _rank_axis(ax, ranks):
    """A log₂ rank axis ticked at ``ranks`` exactly, wide enough for the side-by-side variants."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ranks = [float(r) for r in ranks]
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(ranks) / 2**0.35, max(ranks) * 2**0.35)
    ax.xaxis.set_major_locator(FixedLocator(ranks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(int(r)) for r in ranks])


def _variants(data, variant_columns):
    """``(method, index, label, means)`` per method variant, in table order: ``index`` numbers
    the method's variants, ``means`` holds the per-rank means over seeds."""
    seen = {}
    for variant, label, rows in labelled_groups(data, variant_columns, lambda s: method_label(s["method"], s)):
        method = variant["method"]
        index = seen[method] = seen.get(method, -1) + 1
        yield method, index, label, rows.groupby("rank")[["error", "oracle_distance", "bound", "alignment"]].mean()


def _plot_shifted(ax, x, y, fmt, points, **style):
    """``ax.plot(x, y, fmt)`` drawn ``points`` to the right; the axis limits still cover the data
    (autoscaling skips lines that are not in data coordinates)."""
    from matplotlib.transforms import ScaledTranslation

    shift = ax.transData + ScaledTranslation(points / 72, 0, ax.figure.dpi_scale_trans)
    ax.plot(x, y, fmt, transform=shift, **style)
    ax.update_datalim(list(zip(x, y)))
    ax.autoscale_view()


def _draw_variant(axes, method, style, label, means, shifts, defined):
    """One variant's error, oracle distance at the ``defined`` ranks (with the bound for a
    Gaussian sketch, where finite) and alignment, drawn ``shifts`` points right of the ranks
    (error and alignment, distance)."""
    top, middle, bottom = axes
    shift, middle_shift = shifts
    colour, line, marker = style
    common = {"color": colour, "ms": 4, "lw": 1, "mec": colour, "mfc": colour}
    _plot_shifted(top, means.index, means["error"], marker + line, shift, label=label, **common)
    _plot_shifted(bottom, means.index, means["alignment"], marker + line, shift, **common)
    if method == "oracle" or not defined:
        return
    distance = means["oracle_distance"][means.index.isin(defined)]
    _plot_shifted(middle, distance.index, distance, marker + line, middle_shift, **common)
    finite = means["bound"].map(math.isfinite) & means.index.isin(defined)
    if finite.any() and method == "gaussian":
        _plot_shifted(middle, means.index[finite], means["bound"][finite], "v:", middle_shift, color=colour, lw=1.2,
                      ms=7, mew=1.4, mfc="white", mec=colour)


def _label_rows(first_column):
    top, middle, bottom = first_column
    top.set_ylabel(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")
    middle.set_ylabel(r"$\|X - U_rV_r^\top\|_F / \sqrt{r}$" + "\n(▽ dotted: deterministic bound)")
    bottom.set_ylabel(r"alignment $\langle G, X\rangle / \|G\|_*$")


def _legend_below(fig, axes):
    """One legend under the figure: the variants and the rank floor, then the Ky Fan ratio and
    the bound's marker."""
    from matplotlib.lines import Line2D

    handles, labels = axes[0, 0].get_legend_handles_labels()
    extra_handles, extra_labels = axes[2, 0].get_legend_handles_labels()
    bound = Line2D([], [], linestyle=":", marker="v", color="0.3", ms=7, mew=1.4, mfc="white", mec="0.3")
    fig.legend(handles + extra_handles[:1] + [bound],
               labels + extra_labels[:1] + ["deterministic bound on the oracle distance (Gaussian sketch)"],
               loc="upper center", ncol=3, bbox_to_anchor=(0.5, 0.0))
