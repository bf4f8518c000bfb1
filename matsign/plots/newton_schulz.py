"""Figures of Newton–Schulz error against steps and the spectrum (κ, stable rank)."""

from __future__ import annotations

from matsign.plots import ERROR_FLOOR, STYLE, log_axes, pyplot, save, schedule_label

#: The step count of the spectrum panels (every schedule's budget there).
BUDGET = 5


def ns_vs_spectrum_figure(table, stem):
    """Newton–Schulz error against the step count (measured and predicted) and the spectrum.

    Parameters
    ----------
    table : pandas.DataFrame
        The ns-vs-spectrum sweep's table (:mod:`matsign.experiments.ns_vs_spectrum`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    Top: error vs steps per κ, measured (circles) vs predicted by ``scalar_map`` (lines).
    Bottom: error after ``BUDGET`` steps vs κ (full rank), vs stable rank at the fixed κ of the
    rows with ``nonzero`` set, and vs the smallest normalized singular value σ_ρ/‖G‖_F, which
    κ and stable rank together set (all rows).
    """
    plt = pyplot()

    colours = {name: f"C{i}" for i, name in enumerate(table["schedule"].unique())}
    partial = table["nonzero"].notna() if "nonzero" in table.columns else table["m"] < 0
    kappas = sorted(table.loc[~partial, "kappa"].unique())
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(2.6 * max(len(kappas), 4), 7.0), layout="constrained")
        upper, lower = fig.subfigures(2, 1, hspace=0.04)
        top = upper.subplots(1, len(kappas), sharey=True, squeeze=False)[0]
        bottom = lower.subplots(1, 3, sharey=True)
        _draw_error_vs_steps(top, table[~partial], kappas, colours)
        _draw_error_at_budget(bottom, table, partial, colours)
        handles, labels = top[0].get_legend_handles_labels()
        lower.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 8))
        fig.suptitle("Newton–Schulz error: measured (circles) vs predicted by scalar_map (lines)")
        path = save(fig, stem)
        plt.close(fig)
    return path


def _draw_error_vs_steps(axes, full, kappas, colours):
    """One panel per κ of the full-rank rows: error against steps, predicted (lines) and measured."""
    mean = full.groupby(["kappa", "schedule", "steps"], as_index=False)[["error", "predicted_error"]].mean()
    for ax, kappa in zip(axes, kappas):
        for name, colour in colours.items():
            d = mean[(mean["kappa"] == kappa) & (mean["schedule"] == name)]
            ax.plot(d["steps"], d["predicted_error"].clip(lower=ERROR_FLOOR), "-", color=colour, lw=1.2,
                    label=schedule_label(name))
            ax.plot(d["steps"], d["error"].clip(lower=ERROR_FLOOR), "o", color=colour, ms=3, mfc="none")
        log_axes(ax)
        ax.set_title(f"κ = {kappa:.0e}")
        ax.set_xlabel("Newton–Schulz steps")
    axes[0].set_ylabel(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")


def _draw_error_at_budget(axes, table, partial, colours):
    """Error after ``BUDGET`` steps against κ (full rank), against the stable rank (the rows with
    ``nonzero`` set, at their one κ) and against σ_ρ/‖G‖_F (all rows)."""
    budget = table[table["steps"] == BUDGET]
    fixed = budget.loc[partial, "kappa"].unique()
    stable = budget[budget["kappa"] == fixed[0]] if len(fixed) == 1 else budget.iloc[:0]
    panels = [
        (budget[~partial.loc[budget.index]], "kappa", "condition number κ (full rank)", "-"),
        (stable, "stable_rank", f"stable rank at κ = {fixed[0]:.0e}" if len(stable) else "stable rank", "-"),
        (budget, "smallest_normalized", r"smallest normalized singular value $\sigma_\rho / \|G\|_F$", ""),
    ]
    for ax, (data, x, xlabel, line) in zip(axes, panels):
        for name, colour in colours.items():
            d = data[data["schedule"] == name].groupby(x, as_index=False)[["error", "predicted_error"]].mean()
            if line:
                ax.plot(d[x], d["predicted_error"], line, color=colour, lw=1.2)
            ax.plot(d[x], d["error"], "o", color=colour, ms=3, mfc="none")
        log_axes(ax, x=True)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(f"error after {BUDGET} steps")
