r"""Train the recorder's GPT with every update rule of :mod:`matsign.updates`, same budget, tuned LR.

Every rule trains the same model (:mod:`matsign.recorder.model`) on the same text
(:mod:`matsign.recorder.data`) for the same number of steps and batch size: the rule on the
hidden weights (through :class:`~matsign.recorder.optimizer.RuleOptimizer`), the recorder's
AdamW on everything else. As the official training scripts do, the learning rate warms up
linearly over ``warmup`` steps and then decays along a cosine to ``final_lr`` of its peak
(:func:`lr_factor`, applied to both optimizers), and the hidden weights carry decoupled weight
decay ``weight_decay`` (``W ← (1 − lr·λ)W − lr·update``). All rules use momentum 0.95 (Nesterov
where the rule has it: Muon, MuonEq, low-rank Muon; Dion, Dion2, GaLore-Muon and GUM have their
own momentum forms) and the shape factor ``"match_rms"`` (so one learning-rate grid fits every
rule). The rule kinds (:data:`KINDS`):

- ``adamw``: AdamW on the hidden weights as well (betas (0.9, 0.95), the same weight decay): the
  full-parameter baseline;
- ``muon``, ``muon_pe``: Muon with Muon's quintic and with Polar Express;
- ``muoneq_r``, ``muoneq_rc``, ``muoneq_c``: MuonEq with row, row-and-column and column
  equilibration;
- ``lowrank_gaussian`` (Gaussian range, one power iteration), ``lowrank_column`` (uniform
  columns), ``lowrank_sgd`` (low-rank signed descent: uniform columns, no momentum) and
  ``lowrank_official`` (uniform columns, full Newton–Schulz on matrices with a side ≤ 500, as
  the official code): low-rank Muon;
- ``dion``: Dion; ``dion2``: Dion2; ``galore_muon``: GaLore-Muon (period ``K``); ``gum``: GUM
  (``q``, period ``K``).

Kinds marked ``"rank"`` in :data:`KINDS` run once per rank of ``ranks`` (rule names such as
``dion@r16``), ``dion2`` once per fraction of ``fractions`` (``dion2@0.25``); the other
low-rank kinds use ``fixed_rank``.

**Protocol.** Each rule trains with every learning rate of the grid ``lrs`` on the first seed.
While its best learning rate (lowest final validation loss) is the smallest or the largest it
has tried, the grid is extended by halving or doubling that edge, up to ``max_extensions`` times
on each side (:func:`tuning_grid`), so the selected learning rate is an interior optimum unless
the table says otherwise (``lr_at_edge``). The other seeds then train at the selected learning
rate. A seed fixes the initialization, the order of the batches and the rules' own randomness,
and is shared by all rules (the comparison is paired). The validation loss is measured every
``eval_every`` steps on the same windows for every run (:func:`~matsign.recorder.training.evaluate`
with ``seed=0``).

**Time and memory.** ``rule_ms``: wall time of the hidden-weight optimizer's step;
``step_ms``: the whole training step (batch, forward, backward, both optimizers), validation
excluded; both are means over steps 2 to ``steps`` (the first step allocates the states).
``run_s``: wall time of the whole run, validation included. ``state_bytes``: the bytes of the
arrays the hidden-weight optimizer keeps between steps (momenta, bases, AdamW's moments), after
the last step. The summary takes the median of the times over seeds. On the CPU the runs use
``threads`` threads (default one) each, and ``workers`` runs go side by side.

**Reading.** A rule differs from Muon when its mean final validation loss differs from Muon's
by more than twice the larger of the two seed standard deviations (:func:`comparison`).

The table (``results/train-compare.csv``; ``-quick``, ``-wide`` and ``-large`` for the other
sizes) has one row per run and validation point. It is a
:class:`~matsign.experiments.store.ResultsStore` keyed by run: every run's rows are appended
when it finishes, and a restart skips the runs already in the file (a run whose rows a crash cut
short trains again).

Where it lives: :mod:`~matsign.experiments.train_compare.settings` (rule kinds, settings, sizes,
schedule), :mod:`~matsign.experiments.train_compare.training` (one run),
:mod:`~matsign.experiments.train_compare.summary` (tuning, final losses, verdicts, tables),
:mod:`~matsign.experiments.train_compare.runs` (the resumable table and the worker processes);
:func:`run` here puts them together.
"""

from __future__ import annotations

from pathlib import Path

from matsign._backend import check_positive_int
from matsign.experiments.config import ConfigError
from matsign.experiments.train_compare.runs import open_results, read_table, train_missing_runs
from matsign.experiments.train_compare.settings import (
    DEFAULT, DESCRIPTION, KINDS, LARGE, NAME, QUICK, REFERENCE, RUN_KEY, WIDE, Settings, estimate, lr_factor,
    parse_rule,
)
from matsign.experiments.train_compare.summary import (
    comparison, final_losses, last_points, markdown, rank_table, selected_lr, tuning_grid,
)
from matsign.experiments.train_compare.training import state_bytes, train_one

__all__ = [
    "DEFAULT", "DESCRIPTION", "KINDS", "LARGE", "NAME", "QUICK", "REFERENCE", "RUN_KEY", "WIDE", "Settings",
    "comparison", "estimate", "final_losses", "lr_factor", "markdown", "parse_rule", "rank_table", "run",
    "selected_lr", "settings_for", "state_bytes", "train_one", "tuning_grid",
]

SIZES = ("quick", "wide", "large")


def settings_for(size: str | None) -> Settings:
    """The settings of ``size``: :data:`DEFAULT` for None, else :data:`QUICK`, :data:`WIDE` or
    :data:`LARGE` (read when called, so a replaced module attribute counts)."""
    if size is not None and size not in SIZES:
        raise ValueError(f"size must be None or one of {SIZES}, got {size!r}")
    return {"quick": QUICK, "wide": WIDE, "large": LARGE}.get(size, DEFAULT)


def run(out_dir="results", figure_dir="figures", *, size: str | None = None, progress: bool = True,
        settings: Settings | None = None, device="cpu", workers: int = 1):
    """Run the comparison, write its table and figures, and return the table.

    Parameters
    ----------
    out_dir, figure_dir : str or path-like
        ``out_dir/STEM.csv``; ``figure_dir/STEM.png``, ``STEM-lr.png``, ``STEM-rank.png`` (when
        a kind is swept) and ``STEM-time.png`` (and ``.pdf``), with ``STEM`` ``train-compare``
        or ``train-compare-SIZE``.
    size : {None, "quick", "wide", "large"}
        :data:`DEFAULT`, or :data:`QUICK` (seconds), :data:`WIDE` (sides > 500) or
        :data:`LARGE` (meant for a GPU).
    progress : bool
        Show a progress bar over the runs.
    settings : Settings, optional
        Overrides the settings chosen by ``size`` (the file names stay its).
    device : str or torch.device
        Where the model trains.
    workers : int
        Runs trained side by side in separate processes (CPU; each with ``threads`` threads).

    Returns
    -------
    pandas.DataFrame
        Every row of the CSV file of this comparison's rules (runs from earlier, interrupted
        calls included).

    Raises
    ------
    ConfigError
        If the CSV file holds runs with other settings or device, or the device is not one
        PyTorch can use here.
    """
    sized = settings_for(size)
    check_positive_int(workers, "workers")
    _check_device(device)
    settings = settings or sized
    stem = f"{NAME}-{size}" if size else NAME
    csv = Path(out_dir) / f"{stem}.csv"
    results = open_results(csv, settings, device)
    try:
        train_missing_runs(results, settings, device, progress, workers)
    finally:
        results.close()
    table = read_table(csv)
    table = table[table["rule"].isin(settings.rule_names()) & table["seed"].isin(settings.seeds)]
    table = table.reset_index(drop=True)
    _draw(table, settings.seeds[0], Path(figure_dir) / stem)
    return table


def _check_device(device) -> None:
    """:func:`~matsign.recorder.recording.checked_device`, its error a usage error."""
    from matsign.recorder.recording import checked_device

    try:
        checked_device(device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _draw(table, tuning_seed: int, stem: Path) -> None:
    """The training-curve figure ``stem``, the learning-rate figure ``stem-lr``, the rank figure
    ``stem-rank`` (when a kind is swept) and the time figure ``stem-time``."""
    from matsign.plots.training import lr_figure, rank_figure, time_figure, training_figure

    best = selected_lr(table, tuning_seed)
    curves = table[table["lr"] == table["rule"].map(best)]
    rows = comparison(table, tuning_seed)
    tuning = last_points(table[table["seed"] == tuning_seed])
    training_figure(curves, rows, stem)
    lr_figure(tuning, rows, stem.with_name(f"{stem.name}-lr"))
    swept = rank_table(table, tuning_seed)
    if len(swept):
        rank_figure(swept, rows, stem.with_name(f"{stem.name}-rank"))
    time_figure(rows, stem.with_name(f"{stem.name}-time"))
