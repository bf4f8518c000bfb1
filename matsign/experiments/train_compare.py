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
    "DEFAULT", "DESCRIPTION", "KINDS", "LARGE", "NAME", "QUICK", "WIDE", "Settings", "comparison", "estimate",
    "final_losses", "lr_factor", "markdown", "rank_table", "run", "selected_lr", "state_bytes", "tuning_grid",
]

NAME = "train-compare"
DESCRIPTION = "train the recorder's GPT with every update rule (AdamW, Muon, MuonEq, low-rank Muon, Dion, Dion2, GaLore, GUM)"

#: Rule kind → (label, family, swept parameter). The families are the panels of the figures.
KINDS = {
    "adamw": ("AdamW", "AdamW and Muon", None),
    "muon": ("Muon (quintic)", "AdamW and Muon", None),
    "muon_pe": ("Muon (Polar Express)", "AdamW and Muon", None),
    "muoneq_r": ("MuonEq-R", "MuonEq", None),
    "muoneq_rc": ("MuonEq-RC", "MuonEq", None),
    "muoneq_c": ("MuonEq-C", "MuonEq", None),
    "lowrank_gaussian": ("low-rank Muon, Gaussian", "low rank", "rank"),
    "lowrank_column": ("low-rank Muon, columns", "low rank", None),
    "lowrank_sgd": ("low-rank signed descent", "low rank", None),
    "lowrank_official": ("low-rank Muon, official", "low rank", None),
    "dion": ("Dion", "low rank", "rank"),
    "dion2": ("Dion2", "Dion2", "fraction"),
    "galore_muon": ("GaLore-Muon", "projected", "rank"),
    "gum": ("GUM", "projected", "rank"),
}

#: The rule every other is compared with.
REFERENCE = "muon"

#: The official low-rank Muon's size fallback: full Newton–Schulz on a matrix with a side ≤ 500.
OFFICIAL_FULL_RANK_SIDE = 500

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
    warmup : int
        Steps of linear warm-up of the learning rate (0: none).
    final_lr : float
        The cosine decay's end, as a fraction of the peak learning rate (1: constant).
    weight_decay : float
        Decoupled weight decay ``λ`` of the hidden weights (every rule, AdamW included).
    fixed_rank : int
        ``r`` of the low-rank kinds that are not swept over ``ranks``.
    period : int
        ``K``, the projector refresh period of GaLore-Muon and GUM.
    q : float
        GUM's probability of the full-rank branch (per layer and period).
    momentum : float
        Momentum coefficient of every rule.
    lrs : tuple of float
        The starting learning-rate grid, tried on ``seeds[0]``.
    max_extensions : int
        How many times the grid may be extended past each edge (:func:`tuning_grid`).
    seeds : tuple of int
        Seeds of the runs at the selected learning rate.
    rules : tuple of str
        Kinds from :data:`KINDS`; must include ``"muon"``.
    ranks : tuple of int
        The ranks of the kinds swept over the rank.
    fractions : tuple of float
        Dion2's fractions.
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
    warmup: int = 30
    final_lr: float = 0.1
    weight_decay: float = 0.1
    fixed_rank: int = 32
    period: int = 50
    q: float = 0.5
    momentum: float = 0.95
    lrs: tuple = (0.005, 0.01, 0.02)
    max_extensions: int = 3
    seeds: tuple = (0, 1, 2)
    rules: tuple = tuple(kind for kind in KINDS if kind != "lowrank_official")
    ranks: tuple = (8, 16, 32, 64)
    fractions: tuple = (0.125, 0.25, 0.5, 0.75)
    threads: int | None = 1

    def __post_init__(self):
        for name in ("width", "depth", "heads", "context", "batch", "steps", "eval_every", "eval_batches",
                     "fixed_rank", "period"):
            check_positive_int(getattr(self, name), name)
        if not isinstance(self.warmup, int) or not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup must be an integer in [0, steps), got {self.warmup!r}")
        check_real(self.final_lr, "final_lr", low=0, high=1)
        check_real(self.weight_decay, "weight_decay", low=0)
        if not isinstance(self.max_extensions, int) or self.max_extensions < 0:
            raise ValueError(f"max_extensions must be a non-negative integer, got {self.max_extensions!r}")
        if not self.lrs:
            raise ValueError(f"lrs must be positive learning rates, got {self.lrs!r}")
        for lr in self.lrs:
            check_real(lr, "lrs", low=0, open_low=True)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds!r}")
        unknown = [r for r in self.rules if r not in KINDS]
        if unknown or REFERENCE not in self.rules:
            raise ValueError(f"rules must be names from {tuple(KINDS)} including {REFERENCE!r}, got {self.rules!r}")
        for rank in (self.fixed_rank, *self.ranks):
            # The Gaussian range's one power iteration needs the rank below the smaller side.
            if check_positive_int(rank, "ranks") >= self.width:
                raise ValueError(f"ranks must be below width = {self.width}, got {rank}")
        for fraction in self.fractions:
            check_real(fraction, "fractions", low=0, high=1, open_low=True)
        if self.threads is not None:
            check_positive_int(self.threads, "threads")

    def columns(self) -> dict:
        """The settings every row records (the protocol's grids excluded)."""
        protocol = ("lrs", "max_extensions", "seeds", "rules", "ranks", "fractions")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in protocol}

    def rule_names(self) -> list[str]:
        """Every rule of the comparison: the kinds, the swept ones once per rank or fraction.

        Examples
        --------
        >>> Settings(rules=("muon", "dion", "dion2"), ranks=(8, 16), fractions=(0.5,)).rule_names()
        ['muon', 'dion@r8', 'dion@r16', 'dion2@0.5']
        """
        names = []
        for kind in self.rules:
            swept = KINDS[kind][2]
            if swept == "rank":
                names += [f"{kind}@r{rank}" for rank in self.ranks]
            elif swept == "fraction":
                names += [f"{kind}@{fraction:g}" for fraction in self.fractions]
            else:
                names.append(kind)
        return names

    def validation_steps(self) -> tuple:
        """The steps a run measures the validation loss at: 0, every ``eval_every``-th and the last.

        Examples
        --------
        >>> Settings(steps=10, eval_every=4, warmup=0).validation_steps()
        (0, 4, 8, 10)
        """
        return tuple(sorted({0, *range(self.eval_every, self.steps + 1, self.eval_every), self.steps}))


def parse_rule(name: str, settings: Settings) -> dict:
    """``kind``, ``rank`` and ``fraction`` of a rule name (None where they do not apply), and its label.

    Examples
    --------
    >>> parse_rule("dion@r16", DEFAULT)["rank"], parse_rule("dion2@0.25", DEFAULT)["label"]
    (16, 'Dion2 (α = 0.25)')
    >>> parse_rule("lowrank_column", DEFAULT)["rank"], parse_rule("muon", DEFAULT)["rank"]
    (32, None)
    """
    kind, _, value = name.partition("@")
    label, family, swept = KINDS[kind]
    rank = fraction = None
    if swept == "rank":
        rank = int(value.removeprefix("r"))
        label = f"{label} (r = {rank})"
    elif swept == "fraction":
        fraction = float(value)
        label = f"{label} (α = {fraction:g})"
    elif kind.startswith("lowrank_"):
        rank = settings.fixed_rank
        label = f"{label} (r = {rank})"
    return {"kind": kind, "label": label, "family": family, "rank": rank, "fraction": fraction}


#: The default: 28 rules on a GPT of width 128 (2 blocks), about 170 runs.
DEFAULT = Settings()
#: Four steps of a tiny model, every kind, two learning rates and two seeds: seconds.
QUICK = Settings(width=32, depth=1, heads=2, context=32, batch=4, steps=4, eval_every=2, eval_batches=1,
                 warmup=1, fixed_rank=4, period=2, lrs=(0.01, 0.02), max_extensions=1, seeds=(0, 1), ranks=(8,),
                 fractions=(0.5,))
#: Sides of 512 and more, where the official low-rank Muon applies its low-rank operator
#: (it runs full Newton–Schulz on a side ≤ 500): one block of width 512, AdamW, Muon and the
#: two low-rank Muons at rank 128, two seeds.
WIDE = Settings(width=512, depth=1, heads=8, context=64, batch=8, steps=150, eval_every=25, eval_batches=4,
                warmup=15, fixed_rank=128, lrs=(0.005, 0.01, 0.02), max_extensions=4, seeds=(0, 1),
                rules=("adamw", "muon", "lowrank_gaussian", "lowrank_official"), ranks=(128,), fractions=())
#: A larger model and budget, meant for a GPU (6 blocks of width 768, context 256, 2000
#: steps): every kind, ranks width/16 … width/2.
LARGE = Settings(width=768, depth=6, heads=12, context=256, batch=32, steps=2000, eval_every=100, eval_batches=16,
                 warmup=200, fixed_rank=192, period=200, ranks=(48, 96, 192, 384), threads=None,
                 rules=tuple(KINDS))


def lr_factor(step: int, settings: Settings) -> float:
    r"""The learning rate of step ``step`` (from 1) as a fraction of the peak: linear warm-up,
    then a cosine to ``final_lr``.

    .. math:: f(t) = \begin{cases} t / w & t \le w \\
              \phi + \tfrac{1 - \phi}{2}\bigl(1 + \cos\bigl(\pi\,\tfrac{t - w}{T - w}\bigr)\bigr) & t > w
              \end{cases}

    with ``w = warmup``, ``T = steps``, ``φ = final_lr``.

    Examples
    --------
    >>> s = Settings(steps=100, warmup=10, final_lr=0.1)
    >>> [round(lr_factor(t, s), 4) for t in (1, 10, 55, 100)]
    [0.1, 1.0, 0.55, 0.1]
    """
    w, T, phi = settings.warmup, settings.steps, settings.final_lr
    if step <= w:
        return step / w
    return phi + (1 - phi) / 2 * (1 + math.cos(math.pi * (step - w) / (T - w)))


def make_rule(name: str, settings: Settings, seed: int):
    """``make_rule(weight, index)`` for :func:`~matsign.recorder.optimizer.make_rule_optimizers`:
    a fresh rule ``name`` (not ``adamw``) with the settings' hyper-parameters; rules that draw
    random numbers get a stream derived from ``(seed, index)``."""
    from matsign.updates import GUM, Dion, Dion2, GaLoreMuon, LowRankMuon, Muon, MuonEq

    s = settings
    rule = parse_rule(name, s)
    kind, rank = rule["kind"], rule["rank"]
    common = {"shape": "match_rms", "diagnostics": False}

    def build(weight, index):
        rng = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        if kind in ("muon", "muon_pe"):
            return Muon(s.momentum, schedule="muon" if kind == "muon" else "polar_express", **common)
        if kind.startswith("muoneq_"):
            return MuonEq(kind.removeprefix("muoneq_").upper(), momentum=s.momentum, **common)
        if kind == "lowrank_gaussian":
            return LowRankMuon(rank, s.momentum, range="gaussian", power_iters=1, rng=rng, **common)
        if kind in ("lowrank_column", "lowrank_official"):
            side = OFFICIAL_FULL_RANK_SIDE if kind == "lowrank_official" else None
            return LowRankMuon(rank, s.momentum, range="column", rng=rng, full_rank_side=side, **common)
        if kind == "lowrank_sgd":
            return LowRankMuon(rank, 0.0, nesterov=False, range="column", rng=rng, **common)
        if kind == "dion":
            return Dion(rank, s.momentum, rng=rng, **common)
        if kind == "dion2":
            return Dion2(rule["fraction"], s.momentum, **common)
        if kind == "galore_muon":
            return GaLoreMuon(rank, period=s.period, momentum=s.momentum, **common)
        return GUM(rank, s.q, period=s.period, momentum=s.momentum, rng=rng, **common)

    return build


def _optimizers(model, name: str, lr: float, seed: int, settings: Settings) -> tuple:
    """``(optimizer of the hidden weights, AdamW of the other parameters)`` for rule ``name``."""
    import torch

    from matsign.recorder.model import hidden_weights
    from matsign.recorder.optimizer import make_rule_optimizers
    from matsign.recorder.training import ADAMW_BETAS, make_optimizers

    if name != "adamw":
        return make_rule_optimizers(model, make_rule(name, settings, seed), lr=lr, weight_decay=settings.weight_decay)
    hidden = list(hidden_weights(model).values())
    adamw = torch.optim.AdamW(hidden, lr=lr, betas=ADAMW_BETAS, weight_decay=settings.weight_decay)
    return adamw, make_optimizers(model, "muon")[1]


def state_bytes(optimizer) -> int:
    """Bytes of the arrays an optimizer keeps between steps: a ``torch.optim`` optimizer's
    ``state`` tensors, or the arrays held by a :class:`~matsign.recorder.optimizer.RuleOptimizer`'s
    rules (momenta, bases; searched through their attributes, lists and dicts).

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(3, 4))
    >>> opt = torch.optim.AdamW([w], lr=0.1)
    >>> w.grad = torch.ones(3, 4); opt.step()
    >>> state_bytes(opt)  # exp_avg and exp_avg_sq, 12 float32 each (the step counter is a scalar)
    96
    """
    import torch

    def size(value, seen) -> int:
        if id(value) in seen:
            return 0
        seen.add(id(value))
        if isinstance(value, torch.Tensor):
            return value.numel() * value.element_size() if value.ndim else 0
        if isinstance(value, np.ndarray):
            return value.nbytes if value.ndim else 0
        if isinstance(value, dict):
            return sum(size(v, seen) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(size(v, seen) for v in value)
        return 0

    seen = set()
    if isinstance(optimizer, torch.optim.Optimizer):
        return sum(size(state, seen) for state in optimizer.state.values())
    return sum(size(vars(rule), seen) for rule in optimizer.rules.values())


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
        A name of :meth:`Settings.rule_names`.
    lr : float
        The peak learning rate of the rule.
    seed : int
        Seeds the initialization, the batches and the rule's randomness.
    settings : Settings
        The model, budget, schedule and rule hyper-parameters.
    corpus : Corpus
        From :func:`~matsign.recorder.data.load_corpus`.
    device : str or torch.device
        Where the model trains.
    """
    import torch

    from matsign.recorder.model import GPT, GPTConfig
    from matsign.recorder.training import train

    s = settings
    config = GPTConfig(width=s.width, depth=s.depth, heads=s.heads, context=s.context)
    model = GPT(config, generator=torch.Generator().manual_seed(seed)).to(device)
    hidden_opt, adamw = _optimizers(model, rule, lr, seed, s)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    timed = _Timed(hidden_opt, sync)
    curve = _Curve(model, corpus, s, sync)
    schedule = _Schedule(hidden_opt, adamw, s)
    started = time.perf_counter()
    curve.validate(0, [])
    diverged = False
    curve.start_clock()
    try:
        train(model, (timed, adamw), corpus, steps=s.steps, batch=s.batch, generator=torch.Generator().manual_seed(seed),
              after_backward=[_check_finite, schedule], after_step=[curve.after_step], progress=False)
    except _Diverged:
        diverged = True
        curve.points.append((s.steps, math.nan, math.nan))
    parsed = parse_rule(rule, s)
    run = {
        "rule": rule, **parsed, "lr": lr, "seed": seed, "diverged": diverged,
        "rule_ms": _mean_ms(timed.seconds), "step_ms": _mean_ms(curve.step_seconds),
        "run_s": time.perf_counter() - started, "state_bytes": state_bytes(hidden_opt),
        **s.columns(), "device": str(device), "torch": torch.__version__,
    }
    return [{**run, "step": step, "val_loss": val, "train_loss": train_loss} for step, val, train_loss in curve.points]


class _Schedule:
    """Training hook (after the backward pass, before the optimizers step): set step ``t``'s
    learning rates, ``lr_factor(t)`` times each optimizer's peak."""

    def __init__(self, hidden_opt, adamw, settings: Settings):
        self.settings = settings
        self.groups = [(group, group["lr"]) for opt in (hidden_opt, adamw) if hasattr(opt, "param_groups")
                       for group in opt.param_groups]
        self.rule_opt = None if hasattr(hidden_opt, "param_groups") else hidden_opt
        self.rule_lr = getattr(self.rule_opt, "lr", None)

    def __call__(self, state) -> None:
        factor = lr_factor(state.step, self.settings)
        for group, peak in self.groups:
            group["lr"] = peak * factor
        if self.rule_opt is not None:
            self.rule_opt.lr = self.rule_lr * factor


def _final(table):
    """One row per run: the last validation point."""
    last = table.sort_values("step").groupby(list(RUN_KEY), as_index=False).tail(1)
    return last.sort_values(list(RUN_KEY)).reset_index(drop=True)


def _scores(final) -> dict:
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
    final = _final(table[table["seed"] == tuning_seed])
    return {rule: _best_lr(_scores(rows)) for rule, rows in final.groupby("rule")}


def final_losses(table, tuning_seed: int):
    """One row per rule and seed at the selected learning rate: final validation and training
    loss, time per step and optimizer state."""
    best = selected_lr(table, tuning_seed)
    final = _final(table)
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
    tried = _final(table[table["seed"] == tuning_seed]).groupby("rule")["lr"].agg(["min", "max"])
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
    tuning = _final(table[table["seed"] == tuning_seed])
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


def estimate(settings: Settings) -> dict:
    """What a comparison costs before it runs: runs, tokens and model flops.

    ``runs`` counts the starting grid plus one extension per rule and the other seeds;
    ``flops`` is the model's training arithmetic, 6 flops per parameter and token plus the
    attention scores (``12·depth·context·width`` per token), the rules' own work excluded.

    Examples
    --------
    >>> e = estimate(QUICK)
    >>> e["rules"], e["runs"], e["tokens_per_run"]
    (13, 52, 512)
    """
    from matsign.recorder.data import VOCAB

    s = settings
    rules = len(s.rule_names())
    runs = rules * (len(s.lrs) + 1 + len(s.seeds) - 1)
    tokens = s.steps * s.batch * s.context
    parameters = s.depth * 12 * s.width**2 + 2 * VOCAB * s.width + s.context * s.width
    per_token = 6 * parameters + 12 * s.depth * s.context * s.width
    return {"rules": rules, "runs": runs, "tokens_per_run": tokens, "parameters": parameters,
            "flops": runs * tokens * per_token}


def _columns(settings: Settings) -> list[str]:
    """The table's columns, in the order of :func:`train_one`'s rows."""
    return ["rule", "kind", "label", "family", "rank", "fraction", "lr", "seed", "diverged", "rule_ms", "step_ms",
            "run_s", "state_bytes", *settings.columns(), "device", "torch", "step", "val_loss", "train_loss"]


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


SIZES = ("quick", "wide", "large")


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
    if size is not None and size not in SIZES:
        raise ValueError(f"size must be None or one of {SIZES}, got {size!r}")
    check_positive_int(workers, "workers")
    _check_device(device)
    settings = settings or {"quick": QUICK, "wide": WIDE, "large": LARGE}.get(size, DEFAULT)
    stem = f"{NAME}-{size}" if size else NAME
    csv = Path(out_dir) / f"{stem}.csv"
    results = _open_results(csv, settings, device)
    try:
        _train_missing_runs(results, settings, device, progress, workers)
    finally:
        results.close()
    table = _read_table(csv)
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


_CORPUS = []


def _train_in_worker(rule, lr, seed, settings: Settings, device) -> list:
    """:func:`train_one` in a worker process: its thread count set, its corpus loaded once."""
    import torch

    from matsign.recorder.data import load_corpus

    if not _CORPUS:
        _CORPUS.append(load_corpus())
        if settings.threads is not None and torch.device(device).type == "cpu":
            torch.set_num_threads(settings.threads)
    return train_one(rule, lr, seed, settings, _CORPUS[0], device)


class _InProcess:
    """The executor of ``workers=1``: runs each task when its result is asked for."""

    def __init__(self, corpus, settings, device):
        self.corpus, self.settings, self.device = corpus, settings, device

    def map(self, tasks):
        for rule, lr, seed in tasks:
            yield train_one(rule, lr, seed, self.settings, self.corpus, self.device)


class _Pool:
    """``workers`` processes (spawned, so no thread pool is forked) yielding runs as they finish."""

    def __init__(self, workers, settings, device):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.settings, self.device = settings, device
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, tasks):
        from concurrent.futures import as_completed

        futures = [self.pool.submit(_train_in_worker, *task, self.settings, self.device) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self):
        self.pool.shutdown(cancel_futures=True)


def _train_missing_runs(results: ResultsStore, settings: Settings, device, progress: bool, workers: int) -> None:
    """Train the protocol's runs not yet in ``results``: the tuning grids on the first seed, in
    waves until no grid extends (:func:`tuning_grid`), then the other seeds at the selected
    learning rates."""
    import torch

    from matsign.plots import progress_bar
    from matsign.recorder.data import load_corpus

    tuning_seed, other_seeds = settings.seeds[0], settings.seeds[1:]
    names = settings.rule_names()
    bar = progress_bar(len(names) * (len(settings.lrs) + len(other_seeds)), desc=NAME, disable=not progress)
    threads = torch.get_num_threads()
    if settings.threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(settings.threads)
    executor = _InProcess(load_corpus(), settings, device) if workers == 1 else _Pool(workers, settings, device)

    def train(tasks):
        if len(tasks) > bar.total - bar.n:
            bar.total = bar.n + len(tasks)
            bar.refresh()
        for rows in executor.map(tasks):
            results.append(rows)
            bar.update()

    try:
        while True:
            wave = [(rule, lr, tuning_seed) for rule, lrs in _pending_lrs(results, settings).items() for lr in lrs]
            if not wave:
                break
            train(wave)
        best = selected_lr(_read_table(results.path), tuning_seed)
        train([(rule, best[rule], seed) for rule in names for seed in other_seeds
               if (rule, float(best[rule]), seed) not in results])
    finally:
        bar.close()
        if workers > 1:
            executor.close()
        torch.set_num_threads(threads)


def _pending_lrs(results: ResultsStore, settings: Settings) -> dict:
    """Rule → the learning rates its tuning still needs (:func:`tuning_grid`)."""
    tuning = None
    if results.path.exists() and results.groups:
        table = _read_table(results.path)
        tuning = _final(table[table["seed"] == settings.seeds[0]])
    pending = {}
    for rule in settings.rule_names():
        mine = tuning[tuning["rule"] == rule] if tuning is not None else ()
        pending[rule] = tuning_grid(_scores(mine) if len(mine) else {}, settings)[1]
    return pending


def _draw(table, tuning_seed: int, stem: Path) -> None:
    """The training-curve figure ``stem``, the learning-rate figure ``stem-lr``, the rank figure
    ``stem-rank`` (when a kind is swept) and the time figure ``stem-time``."""
    from matsign.plots.training import lr_figure, rank_figure, time_figure, training_figure

    best = selected_lr(table, tuning_seed)
    curves = table[table["lr"] == table["rule"].map(best)]
    rows = comparison(table, tuning_seed)
    tuning = _final(table[table["seed"] == tuning_seed])
    training_figure(curves, rows, stem)
    lr_figure(tuning, rows, stem.with_name(f"{stem.name}-lr"))
    swept = rank_table(table, tuning_seed)
    if len(swept):
        rank_figure(swept, rows, stem.with_name(f"{stem.name}-rank"))
    time_figure(rows, stem.with_name(f"{stem.name}-time"))
