"""Figures of dumped gradient spectra (the tables of :func:`matsign.experiments.spectra.analyse_dump`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matsign.plots import STYLE, pyplot, save, schedule_label

__all__ = ["spectra_figures"]


def _layers(table) -> list:
    """Layer names in the order they first appear (the dump's natural order)."""
    return list(dict.fromkeys(table["name"]))


def _kinds(table) -> list:
    return list(dict.fromkeys(table["kind"]))


def _step(value) -> int | None:
    """A step as an int, None where the dump did not say (a missing value of the table)."""
    import pandas as pd

    return None if pd.isna(value) else int(value)


def _step_label(value) -> str:
    step = _step(value)
    return "—" if step is None else str(step)


def _nothing_to_draw(ax, why: str):
    """Say in the middle of an empty panel why it is empty."""
    ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.minorticks_off()


def decay_figure(singular_values, stem):
    """Normalised singular values σ_i/σ₁ against i (log–log), one line per layer, one panel per kind.

    Parameters
    ----------
    singular_values : pandas.DataFrame
        The singular values table of :func:`matsign.experiments.spectra.analyse_dump`.
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.
    """
    plt = pyplot()

    kinds = _kinds(singular_values)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(kinds), figsize=(3.6 * len(kinds), 3.0), squeeze=False, sharey=True)
        for ax, kind in zip(axes[0], kinds):
            d = singular_values[singular_values["kind"] == kind]
            layers = _layers(d)
            colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(layers)))
            for colour, layer in zip(colours, layers):
                s = d[d["name"] == layer]
                sigma = s["singular_value"].to_numpy()
                keep = sigma > 0
                label = f"{layer} (step {_step_label(s['step'].iloc[0])})"
                ax.loglog(s["index"].to_numpy()[keep], sigma[keep] / sigma[0], color=colour, lw=1.0, label=label)
            ax.set_title(f"{kind}: {len(layers)} layers, last step")
            ax.set_xlabel("index i")
            if not (d["singular_value"] > 0).any():
                _nothing_to_draw(ax, "every matrix is zero")
            elif len(layers) <= 12:
                ax.legend(fontsize=6)
            else:
                bar = fig.colorbar(plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(0, len(layers) - 1)), ax=ax)
                bar.set_label("layer (dump order)")
        axes[0][0].set_ylabel(r"$\sigma_i / \sigma_1$")
        path = save(fig, stem)
        plt.close(fig)
    return path


def stable_rank_figure(table, stem):
    """Heatmap of the stable rank, layers × steps (log colour scale), one panel per kind.

    Parameters
    ----------
    table : pandas.DataFrame
        The per-matrix table of :func:`matsign.experiments.spectra.analyse_dump`.
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.
    """
    plt = pyplot()
    from matplotlib.colors import LogNorm

    kinds = _kinds(table)
    steps = sorted({_step(v) for v in table["step"].dropna()}) + ([None] if table["step"].isna().any() else [])
    positive = table["stable_rank"][table["stable_rank"] > 0]
    norm = LogNorm(vmin=max(positive.min(), 1.0), vmax=max(positive.max(), 1.0 + 1e-9)) if len(positive) else None
    height = max(2.5, 0.18 * max(len(_layers(table[table["kind"] == k])) for k in kinds) + 1.2)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        width = max(3.5, 0.4 * len(steps) + 2.5) * len(kinds)
        fig, axes = plt.subplots(1, len(kinds), figsize=(width, height), squeeze=False, layout="constrained")
        for ax, kind in zip(axes[0], kinds):
            d = table[table["kind"] == kind]
            layers = _layers(d)
            grid = np.full((len(layers), len(steps)), np.nan)
            row = {name: i for i, name in enumerate(layers)}
            col = {step: j for j, step in enumerate(steps)}
            for name, step, value in zip(d["name"], d["step"], d["stable_rank"]):
                grid[row[name], col[_step(step)]] = value
            image = ax.imshow(np.where(grid > 0, grid, np.nan), aspect="auto", cmap="magma", norm=norm, interpolation="nearest")
            ax.set_yticks(range(len(layers)), layers, fontsize=max(4, 8 - len(layers) // 12))
            ax.set_xticks(range(len(steps)), [_step_label(s) for s in steps], rotation=90 if len(steps) > 8 else 0)
            ax.set_xlabel("step")
            ax.set_title(kind + r": stable rank $\|G\|_F^2 / \|G\|_2^2$")
            fig.colorbar(image, ax=ax)
        path = save(fig, stem)
        plt.close(fig)
    return path


def ns_error_figure(table, stem):
    """Predicted Newton–Schulz error against stable rank, one colour per schedule (log–log).

    Parameters
    ----------
    table : pandas.DataFrame
        The per-matrix table of :func:`matsign.experiments.spectra.analyse_dump`, with a column
        ``ns_error_<schedule>`` per schedule.
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.
    """
    plt = pyplot()

    schedules = [c.removeprefix("ns_error_") for c in table.columns if c.startswith("ns_error_")]
    markers = dict(zip(_kinds(table), "o^sv"))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.8, 3.4))
        drawn = 0
        for i, schedule in enumerate(schedules):
            for kind, marker in markers.items():
                d = table[(table["kind"] == kind) & (table[f"ns_error_{schedule}"] > 0) & (table["stable_rank"] > 0)]
                label = schedule_label(schedule) + (f" ({kind})" if len(markers) > 1 else "")
                ax.scatter(d["stable_rank"], d[f"ns_error_{schedule}"], s=9, marker=marker, color=f"C{i}", alpha=0.7, label=label)
                drawn += len(d)
        if drawn:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:  # log axes need a positive value: zero matrices, or errors that are all exactly 0
            _nothing_to_draw(ax, "no matrix with a nonzero spectrum\nand a nonzero predicted error")
        ax.set_xlabel(r"stable rank $\|G\|_F^2 / \|G\|_2^2$")
        ax.set_ylabel(r"predicted $\|\mathrm{NS}(G) - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")
        ax.set_title("Newton–Schulz error predicted from each matrix's spectrum")
        path = save(fig, stem)
        plt.close(fig)
    return path


def spectra_figures(table, singular_values, figure_dir) -> list[Path]:
    """Write the three spectra figures (PNG and PDF) under ``figure_dir``; return the PNG paths.

    Parameters
    ----------
    table, singular_values : pandas.DataFrame
        The two tables of :func:`matsign.experiments.spectra.analyse_dump`.
    figure_dir : path-like
        Where ``spectra-decay``, ``spectra-stable-rank`` and ``spectra-ns-error`` are written.

    Notes
    -----
    ``spectra-decay``: σ_i/σ₁ of every layer at its last step; ``spectra-stable-rank``: stable
    rank heatmap, layers × steps; ``spectra-ns-error``: predicted Newton–Schulz error against
    stable rank, per schedule.
    """
    figure_dir = Path(figure_dir)
    return [
        decay_figure(singular_values, figure_dir / "spectra-decay"),
        stable_rank_figure(table, figure_dir / "spectra-stable-rank"),
        ns_error_figure(table, figure_dir / "spectra-ns-error"),
    ]
