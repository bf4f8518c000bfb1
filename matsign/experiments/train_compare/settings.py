"""The settings of the training comparison: rule kinds, :class:`Settings` and the sizes
:data:`DEFAULT`, :data:`QUICK`, :data:`WIDE`, :data:`LARGE`, the learning-rate schedule, and what a
comparison costs before it runs (the protocol: :mod:`matsign.experiments.train_compare`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from matsign._backend import check_positive_int, check_real

__all__ = [
    "DEFAULT", "DESCRIPTION", "KINDS", "LARGE", "NAME", "OFFICIAL_FULL_RANK_SIDE", "QUICK", "REFERENCE",
    "RUN_KEY", "Settings", "WIDE", "estimate", "lr_factor", "parse_rule",
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
