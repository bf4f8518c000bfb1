"""One run of the training comparison: the rule's optimizers, the schedule and timing hooks,
and :func:`train_one`, which trains the model and returns its rows."""

from __future__ import annotations

import math
import time

import numpy as np

from matsign.experiments.train_compare.settings import OFFICIAL_FULL_RANK_SIDE, Settings, lr_factor, parse_rule

__all__ = ["make_rule", "state_bytes", "train_one"]


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
