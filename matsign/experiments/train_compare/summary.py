"""Reading the training comparison's table: the learning-rate tuning (:func:`tuning_grid`,
:func:`selected_lr`), the final losses, the verdicts against Muon (:func:`comparison`) and
their Markdown and rank tables."""

from __future__ import annotations

import math

import numpy as np

from matsign.experiments.train_compare.settings import KINDS, REFERENCE, RUN_KEY, Settings

__all__ = ["comparison", "final_losses", "last_points", "lr_scores", "markdown", "rank_table", "selected_lr",
           "tuning_grid"]


def last_points(table):
    """One row per run: the last validation point."""
    last = table.sort_values("step").groupby(list(RUN_KEY), as_index=False).tail(1)
    return last.sort_values(list(RUN_KEY)).reset_index(drop=True)


def lr_scores(final) -> dict:
    """Learning rate → final validation loss of one rule's tuning runs (a diverged run: inf)."""
    return {float(lr): (math.inf if math.isnan(loss) else float(loss)) for lr, loss in zip(final["lr"], final["val_loss"])}


def _best_lr(scores: dict) -> float:
    """The learning rate of the lowest score; ties go to the smaller learning rate."""
    return min(scores, key=lambda lr: (scores[lr], lr))


def tuning_grid(scores: dict, settings: Settings) -> tuple[list, list]:
    """The learning rates one rule's tuning has reached, and those still to train.

    Starting from ``settings.lrs``: once every learning rate of the grid has a final loss in
    ``scores``, a best one (lowest loss; ties to the smaller) at the smallest or largest edge
    extends the grid by half or twice that edge, at most ``max_extensions`` times per side.

    Parameters
    ----------
    scores : dict
        Learning rate → final validation loss on the tuning seed (inf for a diverged run).
    settings : Settings

    Returns
    -------
    (grid, pending) : lists of float
        The grid so far (sorted) and its learning rates not in ``scores``.

    Examples
    --------
    >>> s = Settings(lrs=(0.01, 0.02), max_extensions=2)
    >>> tuning_grid({}, s)
    ([0.01, 0.02], [0.01, 0.02])
    >>> tuning_grid({0.01: 1.5, 0.02: 1.4}, s)
    ([0.01, 0.02, 0.04], [0.04])
    >>> tuning_grid({0.01: 1.5, 0.02: 1.4, 0.04: 1.45}, s)
    ([0.01, 0.02, 0.04], [])
    """
    grid = sorted(settings.lrs)
    below = above = 0
    while True:
        pending = [lr for lr in grid if lr not in scores]
        if pending:
            return grid, pending
        best = _best_lr({lr: scores[lr] for lr in grid})
        if best == grid[0] and below < settings.max_extensions:
            grid.insert(0, grid[0] / 2)
            below += 1
        elif best == grid[-1] and above < settings.max_extensions:
            grid.append(grid[-1] * 2)
            above += 1
        else:
            return grid, []


def selected_lr(table, tuning_seed: int) -> dict:
    """Rule → the learning rate of the lowest final validation loss on ``tuning_seed`` (a
    diverged run counts as worst; ties go to the smaller learning rate).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"rule": ["a"] * 3, "lr": [0.1, 0.2, 0.4], "seed": 0, "step": 5,
    ...                   "val_loss": [2.0, 1.5, float("nan")]})
    >>> selected_lr(t, 0)
    {'a': 0.2}
    """
    final = last_points(table[table["seed"] == tuning_seed])
    return {rule: _best_lr(lr_scores(rows)) for rule, rows in final.groupby("rule")}


def final_losses(table, tuning_seed: int):
    """One row per rule and seed at the selected learning rate: final validation and training
    loss, time per step and optimizer state."""
    best = selected_lr(table, tuning_seed)
    final = last_points(table)
    final = final[final["lr"] == final["rule"].map(best)]
    return final[["rule", "kind", "label", "family", "rank", "fraction", "lr", "seed", "val_loss", "train_loss",
                  "rule_ms", "step_ms", "state_bytes", "diverged"]].reset_index(drop=True)


def comparison(table, tuning_seed: int):
    r"""One row per rule: mean and standard deviation (``ddof=1``) over seeds of the final
    validation loss at the selected learning rate, the median over seeds of the time per step
    (robust to a run slowed by other work on shared cores), the optimizer state, whether the
    selected learning rate is an edge of the rule's tuning grid, and the verdict against Muon.

    ``difference`` is the rule's mean minus Muon's; ``threshold`` is
    :math:`2\max(s_\text{rule}, s_\text{Muon})`; ``verdict`` is ``"lower"`` or ``"higher"`` when
    :math:`|\text{difference}| > \text{threshold}`, else ``"within spread"`` (also with one seed,
    where no spread is known).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"rule": ["muon"] * 4 + ["x"] * 4, "kind": "", "label": "", "family": "",
    ...                   "rank": None, "fraction": None, "lr": [0.1, 0.1, 0.1, 0.2, 0.1, 0.2, 0.2, 0.2],
    ...                   "seed": [0, 1, 2, 0, 0, 0, 1, 2], "step": 9,
    ...                   "val_loss": [2.0, 2.1, 2.2, 2.3, 2.9, 2.6, 2.7, 2.8],
    ...                   "train_loss": 0.0, "rule_ms": 1.0, "step_ms": 2.0, "state_bytes": 8, "diverged": False})
    >>> comparison(t, 0)[["rule", "lr", "mean", "difference", "verdict", "lr_at_edge"]]
       rule   lr  mean  difference        verdict  lr_at_edge
    0  muon  0.1   2.1         0.0  within spread        True
    1     x  0.2   2.7         0.6         higher        True
    """
    final = final_losses(table, tuning_seed)
    grouped = final.groupby("rule", sort=False)
    rows = grouped.agg(kind=("kind", "first"), label=("label", "first"), family=("family", "first"),
                       rank=("rank", "first"), fraction=("fraction", "first"), lr=("lr", "first"),
                       seeds=("seed", "size"), mean=("val_loss", "mean"), std=("val_loss", "std"),
                       train_mean=("train_loss", "mean"), rule_ms=("rule_ms", "median"),
                       step_ms=("step_ms", "median"), state_bytes=("state_bytes", "max")).reset_index()
    order = {kind: i for i, kind in enumerate(KINDS)}
    rows = rows.assign(_kind=rows["kind"].map(order), _rank=rows["rank"].fillna(0), _fraction=rows["fraction"].fillna(0))
    rows = rows.sort_values(["_kind", "_rank", "_fraction"]).drop(columns=["_kind", "_rank", "_fraction"])
    rows = rows.reset_index(drop=True)
    reference = rows.set_index("rule").loc[REFERENCE]
    rows["difference"] = rows["mean"] - reference["mean"]
    rows["threshold"] = 2 * np.maximum(rows["std"], reference["std"])
    decided = rows["difference"].abs() > rows["threshold"]
    rows["verdict"] = np.where(decided, np.where(rows["difference"] < 0, "lower", "higher"), "within spread")
    tried = last_points(table[table["seed"] == tuning_seed]).groupby("rule")["lr"].agg(["min", "max"])
    rows["lr_at_edge"] = [lr in (tried.loc[rule, "min"], tried.loc[rule, "max"]) for rule, lr in
                          zip(rows["rule"], rows["lr"])]
    return rows


def _kib(n) -> str:
    return f"{n / 1024:,.0f}"


def markdown(table, tuning_seed: int) -> str:
    """The final-loss table and the learning-rate tuning table as Markdown."""
    rows = comparison(table, tuning_seed)
    lines = ["| rule | LR | final val. loss (mean ± std) | Δ vs Muon | 2·max std | reading | final train loss "
             "| rule ms/step | step ms/step | state KiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows.itertuples():
        edge = " (edge)" if r.lr_at_edge else ""
        lines.append(f"| {r.label} | {r.lr:g}{edge} | {r.mean:.4f} ± {r.std:.4f} | {r.difference:+.4f} "
                     f"| {r.threshold:.4f} | {r.verdict} | {r.train_mean:.4f} | {r.rule_ms:.1f} | {r.step_ms:.1f} "
                     f"| {_kib(r.state_bytes)} |")
    tuning = last_points(table[table["seed"] == tuning_seed])
    grid = tuning.pivot(index="rule", columns="lr", values="val_loss")
    grid = grid.loc[[r for r in rows["rule"] if r in grid.index]]
    labels = dict(zip(rows["rule"], rows["label"]))
    lines += ["", "| rule | " + " | ".join(f"LR {lr:g}" for lr in grid.columns) + " |",
              "|---|" + "---|" * len(grid.columns)]
    for rule, values in grid.iterrows():
        ran = set(tuning.loc[tuning["rule"] == rule, "lr"])
        cells = ["" if lr not in ran else "diverged" if math.isnan(v) else f"{v:.4f}" for lr, v in values.items()]
        lines.append(f"| {labels[rule]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rank_table(table, tuning_seed: int):
    """The swept rules' final losses against their rank (or Dion2's fraction): one row per rule
    of a swept kind, with ``kind``, its label ``kind_label``, the ``swept`` parameter (``"rank"``
    or ``"fraction"``), ``rank``, ``fraction``, ``mean``, ``std`` and ``lr``."""
    rows = comparison(table, tuning_seed)
    rows = rows.assign(kind_label=rows["kind"].map(lambda kind: KINDS[kind][0]),
                       swept=rows["kind"].map(lambda kind: KINDS[kind][2]))
    columns = ["kind", "kind_label", "swept", "rank", "fraction", "lr", "lr_at_edge", "mean", "std", "difference"]
    return rows[rows["swept"].notna()][columns].reset_index(drop=True)
