"""Figures of the training comparison: validation loss curves with seed spread, the learning-rate
grids, final loss against rank and fraction, time per step and optimizer state."""

from __future__ import annotations

from typing import NamedTuple

from matsign.plots import STYLE, log_axes, pyplot, save

#: Loss curves start at this fraction of the run on the y range (the first steps drop by nats).
ZOOM_FROM = 0.2


class _Rules(NamedTuple):
    """The rules in drawing order, with a colour, a label and a family each."""

    order: list
    colours: dict
    labels: dict
    families: dict

    def family_members(self) -> dict:
        """Family → its rules, in drawing order."""
        members = {}
        for rule in self.order:
            members.setdefault(self.families[rule], []).append(rule)
        return members


def _rules(summary) -> _Rules:
    """``summary``'s rules in its order; Muon black, the others of a family in turn from the palette."""
    order = list(summary["rule"])
    families = dict(zip(summary["rule"], summary["family"]))
    colours, used = {}, {}
    for rule in order:
        family = families[rule]
        colours[rule] = "k" if rule == "muon" else f"C{used.get(family, 0) % 10}"
        used[family] = used.get(family, 0) + 1
    return _Rules(order, colours, dict(zip(summary["rule"], summary["label"])), families)


def training_figure(curves, summary, stem):
    """Validation loss of every rule at its selected learning rate, and the final losses.

    Parameters
    ----------
    curves : pandas.DataFrame
        Rows ``rule, seed, step, val_loss`` at each rule's selected learning rate.
    summary : pandas.DataFrame
        One row per rule: ``rule, label, family, mean, std``, in the order to draw
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
    ``ZOOM_FROM`` of the run. The last panel: the final validation loss of each rule, seeds as
    circles, mean and ±1 std as a bar, Muon's mean ± 2 std shaded.
    """
    plt = pyplot()
    rules = _rules(summary)
    families = rules.family_members()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(14, 4 + 0.16 * len(rules.order)))
        _draw_loss_curves(axes.flat[:5], curves, rules, families)
        for ax in axes.flat[len(families):5]:
            ax.set_visible(False)
        _draw_final_losses(axes.flat[5], curves, summary, rules)
        fig.tight_layout()
        path = save(fig, stem)
        plt.close(fig)
    return path


def _draw_loss_curves(axes, curves, rules, families) -> None:
    """One panel per family of rules, Muon's mean dashed in each other family's."""
    stats = curves.groupby(["rule", "step"])["val_loss"].agg(["mean", "min", "max"]).reset_index()
    ylim = _zoomed_range(stats)
    reference = stats[stats["rule"] == "muon"]
    for ax, (family, members) in zip(axes, families.items()):
        if "muon" not in members:
            ax.plot(reference["step"], reference["mean"], "--", color="k", lw=1, label=rules.labels["muon"])
        for rule in members:
            d = stats[stats["rule"] == rule]
            ax.fill_between(d["step"], d["min"], d["max"], color=rules.colours[rule], alpha=0.15, lw=0)
            ax.plot(d["step"], d["mean"], color=rules.colours[rule], lw=1.2, label=rules.labels[rule])
        ax.set_ylim(*ylim)
        ax.set_title(family)
        ax.set_xlabel("step")
        ax.set_ylabel("validation loss (nats/byte)")
        ax.legend(loc="best", fontsize="x-small")


def _zoomed_range(stats) -> tuple[float, float]:
    """The y range of every seed band from ``ZOOM_FROM`` of the run on, padded by 5 %."""
    late = stats[stats["step"] >= ZOOM_FROM * stats["step"].max()]
    low, high = late["min"].min(), late["max"].max()
    pad = 0.05 * (high - low)
    return low - pad, high + pad


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
    ax.set_yticks(range(len(rules.order)), [rules.labels[r] for r in rules.order], fontsize="x-small")
    ax.invert_yaxis()
    ax.set_xlabel("final validation loss (seeds: circles)")
    ax.set_title("final loss at the selected LR")
    ax.legend(loc="best", fontsize="x-small")


def lr_figure(tuning, summary, stem):
    """Final validation loss against the learning rate on the tuning seed, one panel per family.

    Parameters
    ----------
    tuning : pandas.DataFrame
        Final rows ``rule, lr, val_loss`` of the tuning seed, one per learning rate tried.
    summary : pandas.DataFrame
        One row per rule: ``rule, label, family, lr`` (the selected learning rate) in drawing order.
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    Each rule's curve over every learning rate its tuning tried (a diverged run is not drawn),
    its selected learning rate a filled marker: an interior minimum shows that the grid
    brackets the optimum.
    """
    plt = pyplot()
    rules = _rules(summary)
    families = rules.family_members()
    selected = dict(zip(summary["rule"], summary["lr"]))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
        for ax, (family, members) in zip(axes.flat, families.items()):
            for rule in members:
                d = tuning[tuning["rule"] == rule].sort_values("lr")
                colour = rules.colours[rule]
                ax.plot(d["lr"], d["val_loss"], "o-", color=colour, ms=3, lw=1, mfc="none", label=rules.labels[rule])
                best = d[d["lr"] == selected[rule]]
                ax.plot(best["lr"], best["val_loss"], "o", color=colour, ms=5)
            log_axes(ax, x=True, y=False)
            ax.set_title(family)
            ax.set_xlabel("peak learning rate (tuning seed)")
            ax.set_ylabel("final validation loss")
            ax.legend(loc="best", fontsize="x-small")
        for ax in axes.flat[len(families):]:
            ax.set_visible(False)
        fig.tight_layout()
        path = save(fig, stem)
        plt.close(fig)
    return path


def rank_figure(swept, summary, stem):
    """Final validation loss against the rank (low-rank kinds) and against Dion2's fraction.

    Parameters
    ----------
    swept : pandas.DataFrame
        One row per swept rule: ``kind, kind_label, swept, rank, fraction, mean, std``, with
        ``swept`` the column it varies (:func:`matsign.experiments.train_compare.rank_table`).
    summary : pandas.DataFrame
        One row per rule with ``rule, label, mean, std``: Muon's and AdamW's (when present) are
        drawn as horizontal references.
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.
    """
    plt = pyplot()
    by_rule = summary.set_index("rule")
    panels = [("rank", "rank r"), ("fraction", "Dion2 fraction α")]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for ax, (column, xlabel) in zip(axes, panels):
            rows = swept[swept["swept"] == column]
            if not len(rows):
                ax.set_visible(False)
                continue
            for i, (kind, d) in enumerate(rows.groupby("kind", sort=False)):
                d = d.sort_values(column)
                ax.errorbar(d[column], d["mean"], yerr=d["std"], fmt="o-", color=f"C{i}", ms=4, capsize=2,
                            label=d["kind_label"].iloc[0])
            for rule, style in (("muon", "--"), ("adamw", ":")):
                if rule in by_rule.index:
                    row = by_rule.loc[rule]
                    ax.axhline(row["mean"], ls=style, color="k", lw=1, label=row["label"])
            muon = by_rule.loc["muon"]
            ax.axhspan(muon["mean"] - 2 * muon["std"], muon["mean"] + 2 * muon["std"], color="0.88", lw=0)
            log_axes(ax, x=True, y=False)
            ticks = sorted(rows[column].unique())
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.set_xlabel(xlabel)
            ax.set_ylabel("final validation loss (mean ± std over seeds)")
            ax.legend(loc="best", fontsize="x-small")
        fig.tight_layout()
        path = save(fig, stem)
        plt.close(fig)
    return path


def time_figure(summary, stem):
    """Time per training step of each rule (the optimizer step of the hidden weights and the rest
    of the step) and the optimizer state it keeps.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per rule with ``label``, ``rule_ms`` and ``step_ms`` (milliseconds, medians over
        the seeds at the selected learning rate) and ``state_bytes``.
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
        fig, (ax, memory) = plt.subplots(1, 2, figsize=(11, 0.26 * len(summary) + 1.6), sharey=True)
        ax.barh(y, summary["rule_ms"], color="C0", label="hidden-weight optimizer")
        ax.barh(y, rest, left=summary["rule_ms"], color="C7", alpha=0.6,
                label="rest of the step (batch, forward, backward, AdamW)")
        ax.set_yticks(list(y), list(summary["label"]), fontsize="x-small")
        ax.invert_yaxis()
        ax.set_xlabel("milliseconds per training step")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize="x-small")
        memory.barh(y, summary["state_bytes"] / 2**20, color="C2")
        memory.set_xlabel("optimizer state of the hidden weights (MiB)")
        fig.tight_layout()
        path = save(fig, stem)
        plt.close(fig)
    return path
