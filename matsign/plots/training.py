"""Figures of the training comparison: validation loss curves with seed spread, and time per step."""

from __future__ import annotations

from typing import NamedTuple

from matsign.plots import STYLE, log_axes, pyplot, save

#: Loss curves start at this fraction of the run on the y range (the first steps drop by nats).
ZOOM_FROM = 0.2


def training_figure(curves, tuning, summary, stem):
    """Validation loss of every rule, the learning-rate tuning, and the final losses.

    Parameters
    ----------
    curves : pandas.DataFrame
        Rows ``rule, label, family, seed, step, val_loss`` at each rule's selected learning rate.
    tuning : pandas.DataFrame
        Final rows ``rule, label, lr, val_loss`` of the tuning seed, one per learning rate.
    summary : pandas.DataFrame
        One row per rule: ``rule, label, mean, std`` and the ``rule`` order to draw in
        (:func:`matsign.experiments.train_compare.comparison`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    One panel per family of rules (Muon's curve, dashed black, in each for reference): the mean
    over seeds and a band from the lowest to the highest seed; the y axis starts at
    ``ZOOM_FROM`` of the run. Then the final validation loss against the learning rate on the
    tuning seed (a diverged run is not drawn), and the final loss of each rule at its selected
    learning rate: seeds as dots, mean and ±1 std as a bar, Muon's mean ± 2 std shaded.
    """
    plt = pyplot()
    rules = _rules(summary)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
        families = _draw_loss_curves(axes.flat, curves, rules)
        for ax in axes.flat[len(families):4]:
            ax.set_visible(False)
        _draw_tuning(axes.flat[4], tuning, rules)
        _draw_final_losses(axes.flat[5], curves, summary, rules)
        fig.tight_layout()
        path = save(fig, stem)
        plt.close(fig)
    return path


class _Rules(NamedTuple):
    """The rules in drawing order, with a colour and a label each."""

    order: list
    colours: dict
    labels: dict


def _rules(summary) -> _Rules:
    """``summary``'s rules in its order; Muon black, the others in turn from the palette."""
    order = list(summary["rule"])
    palette = iter(f"C{i}" for i in (0, 1, 2, 3, 4, 5, 6, 8, 9) * 2)
    colours = {rule: "k" if rule == "muon" else next(palette) for rule in order}
    return _Rules(order, colours, dict(zip(summary["rule"], summary["label"])))


def _draw_loss_curves(axes, curves, rules) -> list:
    """One panel per family of rules, Muon's mean dashed in each other family's; the families."""
    stats = curves.groupby(["rule", "step"])["val_loss"].agg(["mean", "min", "max"]).reset_index()
    ylim = _zoomed_range(stats)
    reference = stats[stats["rule"] == "muon"]
    families = list(dict.fromkeys(curves.set_index("rule").loc[rules.order, "family"]))
    for ax, family in zip(axes, families):
        members = [r for r in rules.order if (curves.loc[curves["rule"] == r, "family"] == family).any()]
        if "muon" not in members:
            ax.plot(reference["step"], reference["mean"], "--", color="k", lw=1, label=rules.labels["muon"])
        for rule in members:
            d = stats[stats["rule"] == rule]
            ax.fill_between(d["step"], d["min"], d["max"], color=rules.colours[rule], alpha=0.25, lw=0)
            ax.plot(d["step"], d["mean"], color=rules.colours[rule], lw=1.3, label=rules.labels[rule])
        ax.set_ylim(*ylim)
        ax.set_title(family)
        ax.set_xlabel("step")
        ax.set_ylabel("validation loss (nats/byte)")
        ax.legend(loc="best")
    return families


def _zoomed_range(stats) -> tuple[float, float]:
    """The y range of every seed band from ``ZOOM_FROM`` of the run on, padded by 5 %."""
    late = stats[stats["step"] >= ZOOM_FROM * stats["step"].max()]
    low, high = late["min"].min(), late["max"].max()
    pad = 0.05 * (high - low)
    return low - pad, high + pad


def _draw_tuning(ax, tuning, rules):
    """Final validation loss against the learning rate on the tuning seed, one line per rule."""
    for rule in rules.order:
        d = tuning[tuning["rule"] == rule].sort_values("lr")
        ax.plot(d["lr"], d["val_loss"], "o-", color=rules.colours[rule], ms=3, lw=1, label=rules.labels[rule])
    log_axes(ax, x=True, y=False)
    grid = sorted(tuning["lr"].unique())
    ax.set_xticks(grid, [f"{lr:g}" for lr in grid])
    ax.set_xlabel("learning rate (tuning seed)")
    ax.set_ylabel("final validation loss")
    ax.set_title("learning-rate grid")


def _draw_final_losses(ax, curves, summary, rules):
    """Each rule's final losses: seeds as circles, mean ± 1 std as a bar, Muon's ± 2 std shaded."""
    by_rule = summary.set_index("rule")
    muon = by_rule.loc["muon"]
    ax.axvspan(muon["mean"] - 2 * muon["std"], muon["mean"] + 2 * muon["std"], color="0.85", lw=0,
               label="Muon mean ± 2 std")
    finals = curves[curves["step"] == curves["step"].max()]
    for y, rule in enumerate(rules.order):
        row = by_rule.loc[rule]
        ax.errorbar(row["mean"], y, xerr=row["std"], fmt="s", color=rules.colours[rule], ms=4, capsize=2)
        seeds = finals[finals["rule"] == rule]["val_loss"]
        ax.plot(seeds, [y] * len(seeds), "o", color=rules.colours[rule], ms=3, mfc="none")
    ax.set_yticks(range(len(rules.order)), [rules.labels[r] for r in rules.order])
    ax.invert_yaxis()
    ax.set_xlabel("final validation loss (seeds: circles)")
    ax.set_title("final loss at the selected LR")
    ax.legend(loc="best")


def time_figure(summary, stem):
    """Time per training step of each rule: the rule's optimizer step and the rest of the step.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per rule with ``label``, ``rule_ms`` and ``step_ms`` (milliseconds, medians over
        the seeds at the selected learning rate).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.
    """
    plt = pyplot()
    y = range(len(summary))
    rest = (summary["step_ms"] - summary["rule_ms"]).clip(lower=0)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(summary) + 1.2))
        ax.barh(y, summary["rule_ms"], color="C0", label="update rule (hidden weights)")
        ax.barh(y, rest, left=summary["rule_ms"], color="C7", alpha=0.6,
                label="rest of the step (batch, forward, backward, AdamW)")
        ax.set_yticks(list(y), list(summary["label"]))
        ax.invert_yaxis()
        ax.set_xlabel("milliseconds per training step")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0))
        fig.tight_layout()
        path = save(fig, stem)
        plt.close(fig)
    return path
