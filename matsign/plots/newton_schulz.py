"""Figures of Newton–Schulz error against steps and the spectrum (κ, stable rank)."""

from __future__ import annotations

from matsign.plots import (
    ERROR_FLOOR,
    STYLE,
    configuration_columns,
    labelled_groups,
    log_axes,
    pyplot,
    save,
    schedule_label,
    source_label,
)

#: The step count of the spectrum panels (every schedule's budget there).
BUDGET = 5

#: The source parameters that tell the figure's matrices apart: a synthetic one's κ and
#: ``nonzero``, a recorded one's place in its dump.
MATRIX_PARAMS = ("kappa", "nonzero", "path", "names", "conv", "tensor", "step", "kind")


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
    Top: error vs steps per κ (full rank) and per recorded matrix (titled with its measured
    κ = σ₁/σ_ρ), measured (circles) vs predicted by ``scalar_map`` (lines). Bottom: error after
    ``BUDGET`` steps vs κ (full rank; a recorded matrix at its measured κ, circles only), vs
    stable rank at the fixed κ of the rows with ``nonzero`` set (else the recorded matrices'
    measured stable rank), and vs the smallest normalized singular value σ_ρ/‖G‖_F, which κ and
    stable rank together set (all rows).
    """
    plt = pyplot()

    colours = {name: f"C{i}" for i, name in enumerate(table["schedule"].unique())}
    if "kappa" not in table.columns:  # only recorded matrices
        table = table.assign(kappa=float("nan"))
    recorded = table["kappa"].isna()
    partial = table["nonzero"].notna() if "nonzero" in table.columns else table["m"] < 0
    panels = [(f"κ = {kappa:.0e}", table[~partial & (table["kappa"] == kappa)])
              for kappa in sorted(table.loc[~partial & ~recorded, "kappa"].unique())]
    matrix_columns = [c for c in configuration_columns(table)[0] if c in ("source", *MATRIX_PARAMS)]
    for _, title, rows in labelled_groups(table[recorded], matrix_columns, source_label, sep="\n"):
        panels.append((f"{title}\nκ = {rows['condition_number'].iloc[0]:.0e}", rows))
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(2.6 * max(len(panels), 4), 7.0), layout="constrained")
        upper, lower = fig.subfigures(2, 1, hspace=0.04)
        top = upper.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        bottom = lower.subplots(1, 3, sharey=True)
        _draw_error_vs_steps(top, panels, colours)
        _draw_error_at_budget(bottom, table, partial, recorded, colours)
        handles, labels = top[0].get_legend_handles_labels()
        lower.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 8))
        fig.suptitle("Newton–Schulz error: measured (circles) vs predicted by scalar_map (lines)")
        path = save(fig, stem)
        plt.close(fig)
    return path


def _draw_error_vs_steps(axes, panels, colours):
    """One panel per ``(title, rows)``: error against steps, predicted (lines) and measured."""
    for ax, (title, rows) in zip(axes, panels):
        columns = ["error", "predicted_error"]
        mean = rows.groupby(["schedule", "steps"], as_index=False)[columns].mean()
        for name, colour in colours.items():
            d = mean[mean["schedule"] == name]
            ax.plot(d["steps"], d["predicted_error"].clip(lower=ERROR_FLOOR), "-", color=colour, lw=1.2,
                    label=schedule_label(name))
            ax.plot(d["steps"], d["error"].clip(lower=ERROR_FLOOR), "o", color=colour, ms=3, mfc="none")
        log_axes(ax)
        ax.set_title(title)
        ax.set_xlabel("Newton–Schulz steps")
    axes[0].set_ylabel(r"$\|X - \mathrm{msign}(G)\|_F / \|\mathrm{msign}(G)\|_F$")


def _draw_error_at_budget(axes, table, partial, recorded, colours):
    """Error after ``BUDGET`` steps against κ (full rank; recorded matrices at their measured κ),
    against the stable rank (the rows with ``nonzero`` set, at their one κ; else the recorded
    matrices) and against σ_ρ/‖G‖_F (all rows)."""
    budget = table[table["steps"] == BUDGET].assign(
        kappa=lambda t: t["kappa"].fillna(t["condition_number"]))
    fixed = budget.loc[partial & ~recorded, "kappa"].unique()
    if len(fixed) == 1:
        stable = budget[budget["kappa"] == fixed[0]]
        stable_label = f"stable rank at κ = {fixed[0]:.0e}"
    else:
        stable, stable_label = budget[recorded.loc[budget.index]], "stable rank (measured)"
    panels = [
        (budget[~partial.loc[budget.index]], "kappa", "condition number κ (full rank)", "-"),
        (stable, "stable_rank", stable_label, "-"),
        (budget, "smallest_normalized", r"smallest normalized singular value $\sigma_\rho / \|G\|_F$", ""),
    ]
    for ax, (data, x, xlabel, line) in zip(axes, panels):
        for name, colour in colours.items():
            d = data[data["schedule"] == name]
            synthetic = d[~recorded.loc[d.index]]
            synthetic = synthetic.groupby(x, as_index=False)["predicted_error"].mean()
            if line:
                ax.plot(synthetic[x], synthetic["predicted_error"], line, color=colour, lw=1.2)
            measured = d.groupby(x, as_index=False)["error"].mean()
            ax.plot(measured[x], measured["error"], "o", color=colour, ms=3, mfc="none")
        log_axes(ax, x=True)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(f"error after {BUDGET} steps")
