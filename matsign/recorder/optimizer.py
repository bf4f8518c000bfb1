r"""Train the recorder's GPT with any matsign update rule: a PyTorch optimizer around the rules.

:class:`RuleOptimizer` holds one :mod:`matsign.updates` rule per hidden weight. Its ``step()``
reads each weight's gradient ``G_t = p.grad``, asks the rule for its update and applies

.. math:: W_t = W_{t-1} - \eta\,\lambda\,W_{t-1} - \eta\,\mathrm{update}(G_t),

the decoupled weight decay of AdamW (Loshchilov & Hutter) followed by the rule's step, where
``update`` already contains the rule's learning-rate shape factor (:mod:`matsign.updates.shape`).
The rules run on the PyTorch tensors directly (array API), on the parameters' device and dtype.
:func:`make_rule_optimizers` pairs it with the AdamW that :func:`~matsign.recorder.training.make_optimizers`
gives the embeddings, the head and the LayerNorms, so a rule replaces only ``torch.optim.Muon``.

With the :class:`~matsign.updates.Muon` rule (Muon's quintic, Nesterov) and ``shape="match_rms"``
this is ``torch.optim.Muon(adjust_lr_fn="match_rms_adamw")`` up to rounding: the rule keeps
the momentum as a sum, ``M_t = μM_{t−1} + G_t``, where PyTorch keeps the average
``(1 − μ)``-times that, a factor that the Frobenius normalization of Newton–Schulz removes; and
PyTorch orthogonalizes in bfloat16, the rule in the gradient's dtype.

References
----------
.. [1] K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (2024),
   https://kellerjordan.github.io/posts/muon/
.. [2] J. Liu et al., "Muon is scalable for LLM training", arXiv:2502.16982 (2025).
.. [3] I. Loshchilov, F. Hutter, "Decoupled weight decay regularization", arXiv:1711.05101 (2017).
"""

from __future__ import annotations

import torch

from matsign._backend import boundary, check_matrix, check_positive_int, check_real
from matsign.recorder.model import hidden_weights
from matsign.recorder.training import make_optimizers
from matsign.updates import UpdateRule

__all__ = ["RuleOptimizer", "make_rule_optimizers"]


class RuleOptimizer:
    r"""One matsign update rule per weight matrix, stepped like a PyTorch optimizer.

    Parameters
    ----------
    params : mapping of str to torch.nn.Parameter
        The weight matrices (2-D) by name (for instance
        :func:`~matsign.recorder.model.hidden_weights`).
    rules : mapping of str to UpdateRule
        A fresh rule (no step taken yet) for every name of ``params``; one object per weight,
        since a rule keeps that weight's state.
    lr : float
        :math:`\eta > 0`, finite.
    weight_decay : float, default 0
        :math:`\lambda \ge 0`, finite, decoupled (``W ← W − ηλW`` before the update).
    diagnostics_every : int, optional
        Collect the rules' diagnostics at steps ``k, 2k, …`` into :attr:`records` (an SVD per
        weight; default never). Overrides each rule's own ``diagnostics`` flag.

    Attributes
    ----------
    step_count : int
        Steps taken.
    records : list of dict
        ``{"step": t, "weight": name, **diagnostics}`` per weight at every collected step.

    Examples
    --------
    >>> from matsign.updates import Muon
    >>> w = torch.nn.Parameter(torch.eye(2))
    >>> opt = RuleOptimizer({"w": w}, {"w": Muon(inner="exact")}, lr=0.1, weight_decay=0.5)
    >>> w.grad = torch.tensor([[2.0, 0.0], [0.0, -3.0]])
    >>> opt.step()  # W ← (1 − 0.1·0.5) W − 0.1 · msign(G + 0.95 G)
    >>> w.data
    tensor([[0.8500, 0.0000],
            [0.0000, 1.0500]])
    """

    def __init__(self, params, rules, *, lr: float, weight_decay: float = 0.0, diagnostics_every: int | None = None):
        self.params = dict(params)
        for name, p in self.params.items():
            if not isinstance(p, torch.Tensor) or p.ndim != 2:
                shape = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
                raise ValueError(f"params[{name!r}] must be a weight matrix (a 2-D tensor), got {shape}")
        self.rules = dict(rules)
        if set(self.rules) != set(self.params):
            raise ValueError(f"rules must have one entry per parameter name {sorted(self.params)}, got {sorted(self.rules)}")
        for name, rule in self.rules.items():
            if not isinstance(rule, UpdateRule) or rule.step_count:
                raise ValueError(f"rules[{name!r}] must be a fresh UpdateRule, got {rule!r}")
        if len({id(rule) for rule in self.rules.values()}) != len(self.rules):
            raise ValueError("rules must hold one rule object per parameter (a rule keeps one weight's state)")
        self.lr = check_real(lr, "lr", low=0, open_low=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", low=0)
        self.diagnostics_every = None if diagnostics_every is None else check_positive_int(
            diagnostics_every, "diagnostics_every")
        self.step_count = 0
        self.records = []

    def zero_grad(self, set_to_none: bool = True):
        """Clear the gradients of the parameters (set them to None, or to zero)."""
        for p in self.params.values():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.zero_()

    @torch.no_grad()
    @boundary
    def step(self):
        """Apply one update to every parameter that has a gradient (see the class docstring).

        Every gradient is checked before any rule steps, and every rule steps before any
        parameter moves, so a bad gradient changes nothing: no parameter, rule state, step count
        or record. A rule that fails on a valid gradient leaves the parameters, the step count
        and the records unchanged (the rules stepped before it keep their advanced state). The
        updates of all weights are held at once until they are applied.

        Raises
        ------
        ValueError
            Naming the weight, if its gradient is not a finite real matrix, or its rule fails.
        """
        grads = {name: p.grad for name, p in self.params.items() if p.grad is not None}
        # The boundary: each gradient is scanned here, and the rules' steps nested in this call
        # trust them. PyTorch keeps p.grad of p's shape, dtype and device.
        for name, grad in grads.items():
            check_matrix(grad, f"the gradient of {name!r}", batched=False)
        step = self.step_count + 1
        collect = self.diagnostics_every is not None and step % self.diagnostics_every == 0
        results = {}
        for name, grad in grads.items():
            rule = self.rules[name]
            rule.diagnostics = collect
            try:
                results[name] = rule.step(grad)
            except ValueError as exc:
                raise ValueError(f"the rule of {name!r} failed: {exc}") from exc
        for name, result in results.items():
            p = self.params[name]
            if self.weight_decay:
                p.mul_(1.0 - self.lr * self.weight_decay)
            p.add_(result.update, alpha=-self.lr)
            if collect:
                self.records.append({"step": step, "weight": name, **result.diagnostics})
        self.step_count = step


def make_rule_optimizers(model, make_rule, *, lr: float, weight_decay: float = 0.0,
                         diagnostics_every: int | None = None) -> tuple:
    """The optimizers that train ``model`` with a matsign rule on its hidden weights.

    Parameters
    ----------
    model : GPT
    make_rule : callable
        ``make_rule(name, index)`` → a fresh :class:`~matsign.updates.UpdateRule` for the
        ``index``-th hidden weight ``name`` (the index lets rules draw a stream per weight).
    lr, weight_decay, diagnostics_every
        As in :class:`RuleOptimizer`.

    Returns
    -------
    tuple
        ``(RuleOptimizer, torch.optim.AdamW)``: the rule on the hidden weights, and for every
        other parameter the AdamW of ``make_optimizers(model, "muon")`` (its learning rate,
        betas and weight decay).

    Examples
    --------
    >>> from matsign.recorder.model import GPT, GPTConfig
    >>> from matsign.updates import Dion2
    >>> model = GPT(GPTConfig(width=32, depth=1, heads=2, context=16))
    >>> rule_opt, adamw = make_rule_optimizers(model, lambda name, i: Dion2(0.5, shape="match_rms"), lr=0.01)
    >>> sorted(rule_opt.rules) == sorted(hidden_weights(model)), type(adamw).__name__
    (True, 'AdamW')
    """
    params = hidden_weights(model)
    rules = {name: make_rule(name, index) for index, name in enumerate(params)}
    adamw = make_optimizers(model, "muon")[1]
    return RuleOptimizer(params, rules, lr=lr, weight_decay=weight_decay, diagnostics_every=diagnostics_every), adamw
