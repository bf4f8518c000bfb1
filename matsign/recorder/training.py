r"""A reusable training loop with hooks, the optimizers the recorder offers, and validation loss.

One step of :func:`train` at step ``t = 1, 2, …``:

1. draw a training batch from the CPU generator;
2. set every gradient to ``None``, compute the loss and back-propagate;
3. call the ``after_backward`` hooks — every ``p.grad`` holds ``∇f_t(θ_{t−1})``;
4. call ``step()`` on every optimizer;
5. call the ``after_step`` hooks — parameters and optimizer states include step ``t``.

The optimizers (:func:`make_optimizers`):

- ``"muon"``: ``torch.optim.Muon`` on the hidden weights (Nesterov momentum 0.95, five
  Newton–Schulz steps, learning rate scaled by ``√max(1, rows/cols)``) and AdamW on every
  other parameter (embeddings, head, LayerNorms) with learning rate ``ADAMW_LR``;
- ``"adamw"``: ``torch.optim.AdamW`` on every parameter.

Both use betas ``(0.9, 0.95)`` for AdamW and no weight decay. Both keep their momentum as an
exponential moving average of the gradients, ``M_t = β M_{t−1} + (1 − β) G_t`` (``M_0 = 0``), with
``β = 0.95`` for Muon's ``momentum_buffer`` and ``β = 0.9`` for AdamW's ``exp_avg``;
:func:`momentum_of` returns it.

References
----------
.. [1] K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (2024),
   https://kellerjordan.github.io/posts/muon/
.. [2] J. Liu et al., "Muon is scalable for LLM training", arXiv:2502.16982 (2025).
.. [3] I. Loshchilov, F. Hutter, "Decoupled weight decay regularization", arXiv:1711.05101 (2017).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from matsign._backend import check_choice, check_positive_int, check_real
from matsign.recorder.model import hidden_weights

__all__ = [
    "ADAMW_LR", "MUON_LR", "OPTIMIZERS", "TrainStep", "evaluate", "make_optimizers", "momentum_of",
    "optimizer_settings", "run_steps", "train",
]

OPTIMIZERS = ("muon", "adamw")

#: Default learning rate of Muon on the hidden weights.
MUON_LR = 0.02
#: Default learning rate of AdamW (all parameters, or those Muon does not take).
ADAMW_LR = 3e-3
MUON_MOMENTUM = 0.95
ADAMW_BETAS = (0.9, 0.95)

_MOMENTUM_STATE = {torch.optim.Muon: "momentum_buffer", torch.optim.AdamW: "exp_avg"}
_SETTINGS = {
    torch.optim.Muon: ("lr", "momentum", "nesterov", "ns_steps", "ns_coefficients", "weight_decay", "adjust_lr_fn"),
    torch.optim.AdamW: ("lr", "betas", "eps", "weight_decay"),
}


@dataclass(frozen=True)
class TrainStep:
    """What a hook sees: the step number (from 1), its training loss, the model and the optimizers."""

    step: int
    loss: float
    model: Any
    optimizers: tuple


def make_optimizers(model, optimizer: str = "muon", lr: float | None = None) -> tuple:
    """The optimizers that train ``model`` with the named rule.

    Parameters
    ----------
    model : GPT
    optimizer : {"muon", "adamw"}
    lr : float, optional
        Learning rate of Muon (``"muon"``) or of AdamW (``"adamw"``); default ``MUON_LR`` or
        ``ADAMW_LR``. Under ``"muon"`` the other parameters always use ``ADAMW_LR``.

    Returns
    -------
    tuple of torch.optim.Optimizer
        ``(Muon, AdamW)`` or ``(AdamW,)``.

    Examples
    --------
    >>> from matsign.recorder.model import GPT, GPTConfig
    >>> model = GPT(GPTConfig(width=32, depth=1, heads=2, context=16))
    >>> [type(o).__name__ for o in make_optimizers(model, "muon")]
    ['Muon', 'AdamW']
    """
    check_choice(optimizer, OPTIMIZERS, "optimizer")
    if lr is not None:
        check_real(lr, "lr", low=0, open_low=True)
    if optimizer == "adamw":
        return (torch.optim.AdamW(model.parameters(), lr=lr or ADAMW_LR, betas=ADAMW_BETAS, weight_decay=0.0),)
    hidden = list(hidden_weights(model).values())
    others = [p for p in model.parameters() if not any(p is h for h in hidden)]
    muon = torch.optim.Muon(hidden, lr=lr or MUON_LR, momentum=MUON_MOMENTUM,
                            nesterov=True, weight_decay=0.0)
    return muon, torch.optim.AdamW(others, lr=ADAMW_LR, betas=ADAMW_BETAS, weight_decay=0.0)


def momentum_of(optimizers, param):
    """The momentum the optimizer holding ``param`` keeps for it (Muon ``momentum_buffer``, AdamW ``exp_avg``).

    Raises ``KeyError`` before the first step, when no state exists yet.

    Examples
    --------
    >>> p = torch.nn.Parameter(torch.ones(2, 2))
    >>> opt = torch.optim.AdamW([p], betas=(0.9, 0.95))
    >>> p.grad = torch.ones(2, 2)
    >>> opt.step()
    >>> momentum_of([opt], p)  # (1 − 0.9) · grad
    tensor([[0.1000, 0.1000],
            [0.1000, 0.1000]])
    """
    for opt in optimizers:
        if param in opt.state:
            return opt.state[param][_MOMENTUM_STATE[type(opt)]]
    raise KeyError("no optimizer holds a state for this parameter")


def optimizer_settings(optimizer) -> dict:
    """The hyperparameters of a Muon or AdamW ``optimizer`` and its momentum's state key, as JSON-ready data.

    Examples
    --------
    >>> p = torch.nn.Parameter(torch.ones(2, 2))
    >>> optimizer_settings(torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.95), weight_decay=0.0))
    {'name': 'adamw', 'lr': 0.01, 'betas': [0.9, 0.95], 'eps': 1e-08, 'weight_decay': 0.0, 'momentum_state': 'exp_avg'}
    """
    kind = type(optimizer)
    settings = {key: optimizer.defaults[key] for key in _SETTINGS[kind]}
    settings = {key: list(v) if isinstance(v, tuple) else v for key, v in settings.items()}
    return {"name": kind.__name__.lower(), **settings, "momentum_state": _MOMENTUM_STATE[kind]}


def _progress_bar(steps: int, desc: str, *, disable: bool):
    """A ``tqdm`` bar over ``steps`` steps, or None when tqdm is missing."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=steps, desc=desc, disable=disable, unit="step")


def train(model, optimizers, corpus, *, steps: int, batch: int, generator, after_backward=(), after_step=(),
          progress: bool = True, desc: str = "train") -> list:
    """Train ``model`` for ``steps`` steps on random training windows of ``corpus``.

    Parameters
    ----------
    model : GPT
        Or any module with ``config.context`` whose ``model(x, y)`` is the loss of a batch of
        windows (the recorder's mixture-of-experts model, for instance).
    optimizers : sequence of torch.optim.Optimizer
        Each is stepped once per step, in order; anything with ``step()`` and ``zero_grad()``
        works (a custom update rule, for instance).
    corpus : Corpus
    steps, batch : int
        Number of steps and of windows (of ``model.config.context`` tokens) per step.
    generator : torch.Generator
        CPU generator the batches are drawn from.
    after_backward, after_step : sequence of callables
        Hooks called as ``hook(TrainStep(step, loss, model, optimizers))`` after the backward
        pass and after the optimizer steps (see the module docstring).
    progress : bool
        Show a progress bar with the latest loss.
    desc : str
        Label of the progress bar.

    Returns
    -------
    list of float
        The training loss of every step (before that step's update).

    Examples
    --------
    >>> from matsign.recorder.data import load_corpus
    >>> from matsign.recorder.model import GPT, GPTConfig
    >>> model = GPT(GPTConfig(width=32, depth=1, heads=2, context=16))
    >>> seen = []
    >>> losses = train(model, make_optimizers(model), load_corpus(), steps=3, batch=2,
    ...                generator=torch.Generator().manual_seed(0), after_step=[lambda s: seen.append(s.step)],
    ...                progress=False)
    >>> len(losses), seen
    (3, [1, 2, 3])
    """
    device = next(model.parameters()).device

    def next_batch():
        return corpus.get_batch("train", batch, model.config.context, generator=generator, device=device)

    return run_steps(model, optimizers, next_batch, steps=steps, after_backward=after_backward,
                     after_step=after_step, progress=progress, desc=desc)


def run_steps(model, optimizers, next_batch, *, steps: int, after_backward=(), after_step=(),
              progress: bool = True, desc: str = "train") -> list:
    """The loop of :func:`train` on batches from any source: ``steps`` steps of ``model(*next_batch())``.

    Parameters
    ----------
    model : torch.nn.Module
        ``model(x, y)`` is the loss of the batch ``(x, y)``.
    optimizers : sequence of torch.optim.Optimizer
    next_batch : callable
        ``next_batch()`` returns the step's ``(x, y)`` on the model's device.
    steps, after_backward, after_step, progress, desc
        As in :func:`train`.

    Returns
    -------
    list of float
        The training loss of every step.

    Examples
    --------
    >>> class Regression(torch.nn.Linear):
    ...     def forward(self, x, y):
    ...         return ((super().forward(x) - y) ** 2).mean()
    >>> model = Regression(2, 1)
    >>> x, y = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0]])
    >>> losses = run_steps(model, [torch.optim.SGD(model.parameters(), lr=0.05)], lambda: (x, y), steps=20,
    ...                    progress=False)
    >>> losses[-1] < losses[0] / 100
    True
    """
    steps = check_positive_int(steps, "steps")
    optimizers = tuple(optimizers)
    bar = _progress_bar(steps, desc, disable=not progress)
    losses = []
    model.train()
    try:
        for step in range(1, steps + 1):
            x, y = next_batch()
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss = model(x, y)
            loss.backward()
            losses.append(loss.item())
            state = TrainStep(step, losses[-1], model, optimizers)
            for hook in after_backward:
                hook(state)
            for opt in optimizers:
                opt.step()
            for hook in after_step:
                hook(state)
            if bar is not None:
                bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return losses


@torch.no_grad()
def evaluate(model, corpus, *, split: str = "validation", batch: int = 16, batches: int = 8, seed: int = 0) -> float:
    """Mean loss of ``model`` over ``batches`` batches of ``split``, the same windows every call.

    The windows come from a fresh generator seeded with ``seed``, so successive evaluations
    of a model during training are comparable.

    Examples
    --------
    >>> import math
    >>> from matsign.recorder.data import load_corpus
    >>> from matsign.recorder.model import GPT, GPTConfig
    >>> model = GPT(GPTConfig(width=32, depth=1, heads=2, context=16))
    >>> abs(evaluate(model, load_corpus(), batches=2) - math.log(256)) < 0.1
    True
    """
    batches = check_positive_int(batches, "batches")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total = 0.0
    for _ in range(batches):
        x, y = corpus.get_batch(split, batch, model.config.context, generator=generator, device=device)
        total += model(x, y).item()
    model.train(was_training)
    return total / batches
