"""Record real gradients: train a small GPT on the Python documentation and dump its hidden weights'
gradients and optimizer momenta (``matsign record``).

PyTorch is optional for matsign and needed here only. This package (and the command line's
:mod:`matsign.cli.record`) import without it; the names below load their submodule (and PyTorch)
on first use:

- :mod:`~matsign.recorder.data`: ``load_text``, ``encode``, ``decode``, ``load_corpus``, ``Corpus``;
- :mod:`~matsign.recorder.model`: ``GPT``, ``GPTConfig``, ``hidden_weights``;
- :mod:`~matsign.recorder.training`: ``train``, ``TrainStep``, ``make_optimizers``, ``momentum_of``,
  ``optimizer_settings``, ``evaluate``;
- :mod:`~matsign.recorder.recording`: ``record``;
- :mod:`~matsign.recorder.optimizer`: ``RuleOptimizer``, ``make_rule_optimizers`` (matsign's update
  rules as a PyTorch optimizer).
"""

from __future__ import annotations

import importlib

_SUBMODULE = {
    "Corpus": "data", "decode": "data", "encode": "data", "load_corpus": "data", "load_text": "data",
    "GPT": "model", "GPTConfig": "model", "hidden_weights": "model",
    "TrainStep": "training", "evaluate": "training", "make_optimizers": "training", "momentum_of": "training",
    "optimizer_settings": "training", "train": "training",
    "record": "recording",
    "RuleOptimizer": "optimizer", "make_rule_optimizers": "optimizer",
}

__all__ = sorted(_SUBMODULE)


def __getattr__(name):
    if name not in _SUBMODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_SUBMODULE[name]}"), name)
