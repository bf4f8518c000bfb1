r"""Train the recorder's GPT with every update rule of :mod:`matsign.updates`, same budget, tuned LR.

Every rule trains the same model (:mod:`matsign.recorder.model`) on the same text
(:mod:`matsign.recorder.data`) for the same number of steps and batch size, through
:class:`~matsign.recorder.optimizer.RuleOptimizer` on the hidden weights and the recorder's
AdamW on everything else. All rules use momentum 0.95 (Nesterov where the rule has it: Muon,
MuonEq, low-rank Muon; Dion, Dion2, GaLore-Muon and GUM have their own momentum forms), the
shape factor ``"match_rms"`` (so one learning-rate grid fits every rule), no weight decay and
a constant learning rate. The rules (:data:`RULES`):

- ``muon`` and ``muon_pe``: Muon with Muon's quintic and with Polar Express;
- ``muoneq_r``: MuonEq with row equilibration;
- ``lowrank_gaussian`` (Gaussian range, one power iteration) and ``lowrank_column`` (uniform
  columns): low-rank Muon with rank ``r``;
- ``dion``: Dion with rank ``r``;
- ``dion2_0.25`` and ``dion2_0.5``: Dion2 with those fractions;
- ``galore_muon`` (rank ``r``, period ``K``) and ``gum`` (rank ``r``, ``q``, period ``K``).

**Protocol.** Each rule trains with every learning rate of the grid on the first seed; the
learning rate with the lowest final validation loss is selected; the other seeds then train
at that learning rate. A seed fixes the initialization, the order of the batches and the
rules' own randomness, and is shared by all rules (the comparison is paired). The validation
loss is measured every ``eval_every`` steps on the same windows for every run
(:func:`~matsign.recorder.training.evaluate` with ``seed=0``).

**Time per step.** ``rule_ms``: wall time of the rule's optimizer step (all hidden weights);
``step_ms``: the whole training step (batch, forward, backward, both optimizers), validation
excluded; both are means over steps 2 to ``steps`` (the first step allocates the states).
``run_s``: wall time of the whole run, validation included. The summary takes the median of
the times over seeds. On the CPU the runs use ``threads`` threads (default one), so timings
stay stable when the cores are shared.

**Reading.** A rule differs from Muon when its mean final validation loss differs from Muon's
by more than twice the larger of the two seed standard deviations (:func:`comparison`).

The table (``results/train-compare.csv``; ``-quick`` and ``-large`` for the other sizes) has one
row per run and validation point. It is a :class:`~matsign.experiments.store.ResultsStore` keyed
by run: every run's rows are appended when it finishes, and a restart skips the runs already in
the file (a run whose rows a crash cut short trains again).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from matsign._backend import check_positive_int, check_real
from matsign.experiments.config import ConfigError
from matsign.experiments.store import ResultsStore, parse_column

__all__ = [
    "DEFAULT", "DESCRIPTION", "LARGE", "NAME", "QUICK", "RULES", "Settings", "comparison", "final_losses",
    "markdown", "run", "selected_lr",
]

NAME = "train-compare"
DESCRIPTION = "train the recorder's GPT with every update rule (Muon, low-rank Muon, Dion, Dion2, GaLore, GUM, MuonEq)"

#: Rule name → (label, family). The families are the panels of the figure.
RULES = {
    "muon": ("Muon (quintic)", "Muon"),
    "muon_pe": ("Muon (Polar Express)", "Muon"),
    "muoneq_r": ("MuonEq-R", "Muon"),
    "lowrank_gaussian": ("low-rank Muon (Gaussian)", "low rank"),
    "lowrank_column": ("low-rank Muon (columns)", "low rank"),
    "dion": ("Dion", "low rank"),
    "dion2_0.25": ("Dion2 (α = 0.25)", "Dion2"),
    "dion2_0.5": ("Dion2 (α = 0.5)", "Dion2"),
    "galore_muon": ("GaLore-Muon", "projected"),
    "gum": ("GUM", "projected"),
}

#: The rule every other is compared with.
REFERENCE = "muon"

RUN_KEY = ("rule", "lr", "seed")


@dataclass(frozen=True)
class Settings:
    """Model, budget, rule hyper-parameters and protocol of one comparison.

    Attributes
    ----------
    width, depth, heads, context : int
        The :class:`~matsign.recorder.model.GPTConfig`.
    batch, steps : int
        Windows per step and training steps (the same for every rule).
    eval_every, eval_batches : int
        Validation every ``eval_every`` steps (and at steps 0 and ``steps``), over
        ``eval_batches`` batches of ``batch`` windows.
    rank : int
        ``r`` of low-rank Muon, Dion, GaLore-Muon and GUM.
    period : int
        ``K``, the projector refresh period of GaLore-Muon and GUM.
    q : float
        GUM's probability of the full-rank branch (per layer and period).
    momentum : float
        Momentum coefficient of every rule.
    lrs : tuple of float
        The learning-rate grid, tried on ``seeds[0]``.
    seeds : tuple of int
        Seeds of the runs at the selected learning rate.
    rules : tuple of str
        Names from :data:`RULES`; must include ``"muon"``.
    threads : int or None
        ``torch.set_num_threads`` during CPU runs; None leaves PyTorch's default.
    """

    width: int = 128
    depth: int = 2
    heads: int = 4
    context: int = 64
    batch: int = 16
    steps: int = 300
    eval_every: int = 25
    eval_batches: int = 8
    rank: int = 32
    period: int = 50
    q: float = 0.5
    momentum: float = 0.95
    lrs: tuple = (0.0025, 0.005, 0.01, 0.02)
    seeds: tuple = (0, 1, 2)
    rules: tuple = tuple(RULES)
    threads: int | None = 1

    def __post_init__(self):
        for name in ("width", "depth", "heads", "context", "batch", "steps", "eval_every", "eval_batches",
                     "rank", "period"):
            check_positive_int(getattr(self, name), name)
        if not self.lrs:
            raise ValueError(f"lrs must be positive learning rates, got {self.lrs!r}")
        for lr in self.lrs:
            check_real(lr, "lrs", low=0, open_low=True)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds!r}")
        unknown = [r for r in self.rules if r not in RULES]
        if unknown or REFERENCE not in self.rules:
            raise ValueError(f"rules must be names from {tuple(RULES)} including {REFERENCE!r}, got {self.rules!r}")
        if self.threads is not None:
            check_positive_int(self.threads, "threads")

    def columns(self) -> dict:
        """The settings every row records (the protocol's grids excluded)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("lrs", "seeds", "rules")}

    def validation_steps(self) -> tuple:
        """The steps a run measures the validation loss at: 0, every ``eval_every``-th and the last.

        Examples
        --------
        >>> Settings(steps=10, eval_every=4).validation_steps()
        (0, 4, 8, 10)
        """
        return tuple(sorted({0, *range(self.eval_every, self.steps + 1, self.eval_every), self.steps}))


#: The default run: 60 runs, 14 minutes on two idle CPU cores.
DEFAULT = Settings()
#: Four steps of a tiny model, every rule, two learning rates and two seeds: seconds.
QUICK = Settings(width=32, depth=1, heads=2, context=32, batch=4, steps=4, eval_every=2, eval_batches=1,
                 rank=8, period=2, lrs=(0.01, 0.02), seeds=(0, 1))
#: A larger model and budget, meant for a GPU (6 blocks of width 256, context 256, 2000 steps).
LARGE = Settings(width=256, depth=6, heads=4, context=256, batch=32, steps=2000, eval_every=100, eval_batches=16,
                 rank=64, period=200, threads=None)


def make_rule(name: str, settings: Settings, seed: int):
    """``make_rule(weight, index)`` for :func:`~matsign.recorder.optimizer.make_rule_optimizers`:
    a fresh rule ``name`` with the settings' hyper-parameters; rules that draw random numbers
    get a stream derived from ``(seed, index)``."""
    from matsign.updates import GUM, Dion, Dion2, GaLoreMuon, LowRankMuon, Muon, MuonEq

    s = settings
    common = {"shape": "match_rms", "diagnostics": False}

    def build(weight, index):
        rng = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        if name in ("muon", "muon_pe"):
            return Muon(s.momentum, schedule="muon" if name == "muon" else "polar_express", **common)
        if name == "muoneq_r":
            return MuonEq("R", momentum=s.momentum, **common)
        if name == "lowrank_gaussian":
            return LowRankMuon(s.rank, s.momentum, range="gaussian", power_iters=1, rng=rng, **common)
        if name == "lowrank_column":
            return LowRankMuon(s.rank, s.momentum, range="column", rng=rng, **common)
        if name == "dion":
            return Dion(s.rank, s.momentum, rng=rng, **common)
        if name.startswith("dion2_"):
            return Dion2(float(name.removeprefix("dion2_")), s.momentum, **common)
        if name == "galore_muon":
            return GaLoreMuon(s.rank, period=s.period, momentum=s.momentum, **common)
        return GUM(s.rank, s.q, period=s.period, momentum=s.momentum, rng=rng, **common)

    return build


class _Diverged(Exception):
    """The training loss stopped being finite."""


class _Timed:
    """An optimizer whose ``step()`` wall time is recorded (after a device synchronization)."""

    def __init__(self, optimizer, sync):
        self.optimizer = optimizer
        self.sync = sync
        self.seconds = []

    def zero_grad(self, set_to_none: bool = True):
        self.optimizer.zero_grad(set_to_none)

    def step(self):
        self.sync()
        start = time.perf_counter()
        self.optimizer.step()
        self.sync()
        self.seconds.append(time.perf_counter() - start)


class _Curve:
    """The validation curve and per-step wall times of one run, filled by the training hooks."""

    def __init__(self, model, corpus, settings: Settings, sync):
        self.model, self.corpus, self.settings, self.sync = model, corpus, settings, sync
        self.points = []  # (step, validation loss, mean training loss since the last point)
        self.step_seconds = []
        self._losses = []
        self._validation_steps = set(settings.validation_steps())
        self._clock = 0.0

    def validate(self, step: int, recent: list) -> None:
        from matsign.recorder.training import evaluate

        s = self.settings
        loss = evaluate(self.model, self.corpus, batch=s.batch, batches=s.eval_batches, seed=0)
        self.points.append((step, loss, float(np.mean(recent)) if recent else math.nan))

    def start_clock(self) -> None:
        self._clock = time.perf_counter()

    def after_step(self, state) -> None:
        """Training hook: time the step (validation excluded), validate at the validation steps."""
        self.sync()
        self.step_seconds.append(time.perf_counter() - self._clock)
        self._losses.append(state.loss)
        if state.step in self._validation_steps:
            self.validate(state.step, self._losses[-self.settings.eval_every:])
        self.start_clock()


def _check_finite(state) -> None:
    """Training hook: stop a run whose loss is no longer finite."""
    if not math.isfinite(state.loss):
        raise _Diverged


def _mean_ms(seconds: list) -> float:
    """Mean over all but the first step (which allocates the states), in milliseconds."""
    return 1000 * float(np.mean(seconds[1:])) if len(seconds) > 1 else math.nan


def train_one(rule: str, lr: float, seed: int, settings: Settings, corpus, device="cpu") -> list:
    """Train one run and return its rows, one per validation point (see the module docstring).

    Parameters
    ----------
    rule : str
        A name of :data:`RULES`.
    lr : float
        The learning rate of the rule and of AdamW.
    seed : int
        Seeds the initialization, the batches and the rule's randomness.
    settings : Settings
        The model, budget and rule hyper-parameters.
    corpus : Corpus
        From :func:`~matsign.recorder.data.load_corpus`.
    device : str or torch.device
        Where the model trains.
    """
    import torch

    from matsign.recorder.model import GPT, GPTConfig
    from matsign.recorder.optimizer import make_rule_optimizers
    from matsign.recorder.training import train

    s = settings
    config = GPTConfig(width=s.width, depth=s.depth, heads=s.heads, context=s.context)
    model = GPT(config, generator=torch.Generator().manual_seed(seed)).to(device)
    rule_opt, adamw = make_rule_optimizers(model, make_rule(rule, s, seed), lr=lr)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    timed = _Timed(rule_opt, sync)
    curve = _Curve(model, corpus, s, sync)
    started = time.perf_counter()
    curve.validate(0, [])
    diverged = False
    curve.start_clock()
    try:
        train(model, (timed, adamw), corpus, steps=s.steps, batch=s.batch, generator=torch.Generator().manual_seed(seed),
              after_backward=[_check_finite], after_step=[curve.after_step], progress=False)
    except _Diverged:
        diverged = True
        curve.points.append((s.steps, math.nan, math.nan))
    label, family = RULES[rule]
    run = {
        "rule": rule, "label": label, "family": family, "lr": lr, "seed": seed, "diverged": diverged,
        "rule_ms": _mean_ms(timed.seconds), "step_ms": _mean_ms(curve.step_seconds),
        "run_s": time.perf_counter() - started,
        **s.columns(), "device": str(device), "torch": torch.__version__,
    }
    return [{**run, "step": step, "val_loss": val, "train_loss": train_loss} for step, val, train_loss in curve.points]


def _final(table):
    """One row per run: the last validation point."""
    last = table.sort_values("step").groupby(list(RUN_KEY), as_index=False).tail(1)
    return last.sort_values(list(RUN_KEY)).reset_index(drop=True)


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
    final = _final(table[table["seed"] == tuning_seed])
    final = final.assign(score=final["val_loss"].fillna(np.inf)).sort_values(["rule", "score", "lr"])
    return {rule: float(rows["lr"].iloc[0]) for rule, rows in final.groupby("rule", sort=False)}


def final_losses(table, tuning_seed: int):
    """One row per rule and seed at the selected learning rate: final validation loss and time per step."""
    best = selected_lr(table, tuning_seed)
    final = _final(table)
    final = final[final["lr"] == final["rule"].map(best)]
    return final[["rule", "label", "family", "lr", "seed", "val_loss", "rule_ms", "step_ms", "diverged"]].reset_index(
        drop=True)


def comparison(table, tuning_seed: int):
    r"""One row per rule: mean and standard deviation (``ddof=1``) over seeds of the final
    validation loss at the selected learning rate, the median over seeds of the time per step
    (robust to a run slowed by other work on shared cores), and the verdict against Muon.

    ``difference`` is the rule's mean minus Muon's; ``threshold`` is
    :math:`2\max(s_\text{rule}, s_\text{Muon})`; ``verdict`` is ``"lower"`` or ``"higher"`` when
    :math:`|\text{difference}| > \text{threshold}`, else ``"within spread"`` (also with one seed,
    where no spread is known).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"rule": ["muon"] * 3 + ["x"] * 3, "label": "", "family": "", "lr": 0.1,
    ...                   "seed": [0, 1, 2] * 2, "step": 9, "val_loss": [2.0, 2.1, 2.2, 2.6, 2.7, 2.8],
    ...                   "rule_ms": 1.0, "step_ms": 2.0, "diverged": False})
    >>> comparison(t, 0)[["rule", "mean", "difference", "threshold", "verdict"]]
       rule  mean  difference  threshold verdict
    0  muon   2.1         0.0        0.2  within spread
    1     x   2.7         0.6        0.2   higher
    """
    final = final_losses(table, tuning_seed)
    grouped = final.groupby("rule", sort=False)
    rows = grouped.agg(label=("label", "first"), family=("family", "first"), lr=("lr", "first"),
                       seeds=("seed", "size"), mean=("val_loss", "mean"), std=("val_loss", "std"),
                       rule_ms=("rule_ms", "median"), step_ms=("step_ms", "median")).reset_index()
    order = {rule: i for i, rule in enumerate(RULES)}
    rows = rows.sort_values("rule", key=lambda c: c.map(order)).reset_index(drop=True)
    reference = rows.set_index("rule").loc[REFERENCE]
    rows["difference"] = rows["mean"] - reference["mean"]
    rows["threshold"] = 2 * np.maximum(rows["std"], reference["std"])
    decided = rows["difference"].abs() > rows["threshold"]
    rows["verdict"] = np.where(decided, np.where(rows["difference"] < 0, "lower", "higher"), "within spread")
    return rows


def markdown(table, tuning_seed: int) -> str:
    """The final-loss table and the learning-rate tuning table as Markdown."""
    rows = comparison(table, tuning_seed)
    lines = ["| rule | LR | final val. loss (mean ± std) | Δ vs Muon | 2·max std | reading | rule ms/step | step ms/step |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows.itertuples():
        lines.append(f"| {r.label} | {r.lr:g} | {r.mean:.4f} ± {r.std:.4f} | {r.difference:+.4f} | {r.threshold:.4f} "
                     f"| {r.verdict} | {r.rule_ms:.1f} | {r.step_ms:.1f} |")
    tuning = _final(table[table["seed"] == tuning_seed])
    grid = tuning.pivot(index="rule", columns="lr", values="val_loss")
    grid = grid.loc[[r for r in RULES if r in grid.index]]
    lines += ["", "| rule | " + " | ".join(f"LR {lr:g}" for lr in grid.columns) + " |",
              "|---|" + "---|" * len(grid.columns)]
    for rule, values in grid.iterrows():
        lines.append(f"| {RULES[rule][0]} | " + " | ".join("diverged" if math.isnan(v) else f"{v:.4f}"
                                                        for v in values) + " |")
    return "\n".join(lines)


def _columns(settings: Settings) -> list[str]:
    """The table's columns, in the order of :func:`train_one`'s rows."""
    return ["rule", "label", "family", "lr", "seed", "diverged", "rule_ms", "step_ms", "run_s",
            *settings.columns(), "device", "torch", "step", "val_loss", "train_loss"]


def _run_key(row) -> tuple:
    """``(rule, lr, seed)`` of a row as read from the file."""
    return row["rule"], float(row["lr"]), int(row["seed"])


def _complete(rows: list[dict], settings: Settings) -> bool:
    """Whether the rows of one run (in file order) are all it writes: every validation step, or,
    for a diverged run, those before it diverged and the last step."""
    steps, expected = [int(row["step"]) for row in rows], list(settings.validation_steps())
    if steps == expected:
        return True
    diverged = all(row["diverged"] == "True" for row in rows)
    return diverged and steps[-1:] == expected[-1:] and steps[:-1] == expected[: len(steps) - 1]


def _open_results(csv: Path, settings: Settings, device) -> ResultsStore:
    """The results file, refused if it holds runs with other settings or device; runs a crash
    cut short are dropped from it, so they train again."""
    expected = {**settings.columns(), "device": str(device)}

    def check(header, rows):
        for key, value in expected.items():
            if key not in header:
                raise ConfigError(f"{csv} is not a table of this comparison (no {key!r} column); "
                                  "remove it or write to another directory")
            seen = list(dict.fromkeys(parse_column(key, [row[key] for row in rows])))
            same = seen == [value] or (value is None and all(v is None or v != v for v in seen))
            if seen and not same:
                raise ConfigError(f"{csv} holds runs with other settings ({key} = {seen}, now {value!r}); "
                                  "remove it or write to another directory")

    return ResultsStore(csv, _columns(settings), key=_run_key, complete=lambda rows: _complete(rows, settings),
                        check=check)


def _read_table(csv: Path):
    """The results file as a DataFrame."""
    import pandas as pd

    return pd.read_csv(csv)


def run(out_dir="results", figure_dir="figures", *, quick: bool = False, large: bool = False, progress: bool = True,
        settings: Settings | None = None, device="cpu"):
    """Run the comparison, write its table and figures, and return the table.

    Parameters
    ----------
    out_dir, figure_dir : str or path-like
        ``out_dir/STEM.csv``; ``figure_dir/STEM.png``, ``STEM-time.png`` (and ``.pdf``), with
        ``STEM`` ``train-compare``, ``train-compare-quick`` or ``train-compare-large`` by size.
    quick : bool
        Use :data:`QUICK` (seconds) instead of :data:`DEFAULT`.
    large : bool
        Use :data:`LARGE` (meant for a GPU) instead of :data:`DEFAULT`.
    progress : bool
        Show a progress bar over the runs.
    settings : Settings, optional
        Overrides the settings chosen by ``quick`` or ``large`` (the file names stay theirs).
    device : str or torch.device
        Where the model trains.

    Returns
    -------
    pandas.DataFrame
        Every row of the CSV file (runs from earlier, interrupted calls included).

    Raises
    ------
    ConfigError
        If the CSV file holds runs with other settings or device.
    """
    if quick and large:
        raise ValueError("choose quick or large, not both")
    settings = settings or (QUICK if quick else LARGE if large else DEFAULT)
    stem = f"{NAME}-quick" if quick else f"{NAME}-large" if large else NAME
    csv = Path(out_dir) / f"{stem}.csv"
    results = _open_results(csv, settings, device)
    try:
        _train_missing_runs(results, settings, device, progress)
    finally:
        results.close()
    table = _read_table(csv)
    mine = table["rule"].isin(settings.rules) & table["lr"].isin(settings.lrs) & table["seed"].isin(settings.seeds)
    table = table[mine].reset_index(drop=True)
    _draw(table, settings.seeds[0], Path(figure_dir) / stem)
    return table


def _train_missing_runs(results: ResultsStore, settings: Settings, device, progress: bool) -> None:
    """Train the protocol's runs not yet in ``results``: every learning rate on the tuning seed,
    then the other seeds at the selected learning rate."""
    import torch

    from matsign.plots import progress_bar
    from matsign.recorder.data import load_corpus

    corpus = load_corpus()
    tuning_seed, other_seeds = settings.seeds[0], settings.seeds[1:]
    bar = progress_bar(len(settings.rules) * (len(settings.lrs) + len(other_seeds)), desc=NAME, disable=not progress)
    threads = torch.get_num_threads()
    if settings.threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(settings.threads)

    def ensure(rule, lr, seed):
        if (rule, float(lr), seed) not in results:
            results.append(train_one(rule, lr, seed, settings, corpus, device))
        bar.update()

    try:
        for rule in settings.rules:
            for lr in settings.lrs:
                ensure(rule, lr, tuning_seed)
        best = selected_lr(_read_table(results.path), tuning_seed)
        for rule in settings.rules:
            for seed in other_seeds:
                ensure(rule, best[rule], seed)
    finally:
        bar.close()
        torch.set_num_threads(threads)


def _draw(table, tuning_seed: int, stem: Path) -> None:
    """The training-curve figure ``stem`` and the time figure ``stem-time``."""
    from matsign.plots.training import time_figure, training_figure

    best = selected_lr(table, tuning_seed)
    curves = table[table["lr"] == table["rule"].map(best)]
    rows = comparison(table, tuning_seed)
    training_figure(curves, _final(table[table["seed"] == tuning_seed]), rows, stem)
    time_figure(rows, stem.with_name(f"{stem.name}-time"))
