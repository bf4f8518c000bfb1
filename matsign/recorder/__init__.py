"""Record real gradients: train a small GPT on the Python documentation and dump its hidden weights'
gradients and optimizer momenta (``matsign record``), or a small CNN or mixture of experts in other
projects' layouts (the gradient zoo).

PyTorch is optional for matsign and needed here only. This package (and the command line's
:mod:`matsign.cli.record`) import without it; the names below load their submodule (and PyTorch)
on first use:

- :mod:`~matsign.recorder.data`: ``load_text``, ``encode``, ``decode``, ``load_corpus``, ``Corpus``;
- :mod:`~matsign.recorder.model`: ``GPT``, ``GPTConfig``, ``hidden_weights``;
- :mod:`~matsign.recorder.training`: ``train``, ``TrainStep``, ``make_optimizers``, ``momentum_of``,
  ``optimizer_settings``, ``evaluate``;
- :mod:`~matsign.recorder.recording`: ``record``;
- :mod:`~matsign.recorder.optimizer`: ``RuleOptimizer``, ``make_rule_optimizers`` (matsign's update
  rules as a PyTorch optimizer);
- :mod:`~matsign.recorder.cnn`: ``DigitsCNN``, ``load_digits``, ``record_cnn`` (a convolutional net on
  scikit-learn's digits, dumped as PyTorch optimizer checkpoints);
- :mod:`~matsign.recorder.moe`: ``MoE``, ``MoEConfig``, ``record_moe`` (a mixture-of-experts byte model,
  dumped as sharded safetensors);
- :mod:`~matsign.recorder.foreign`: ``save_safetensors``, ``save_sharded``, ``nanogpt_name`` (writers
  of other projects' layouts);
- :mod:`~matsign.recorder.zoo`: ``ZOO``, ``ZOO_COMMANDS`` (the shipped gradient zoo; no PyTorch needed).
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
    "DigitsCNN": "cnn", "load_digits": "cnn", "record_cnn": "cnn",
    "MoE": "moe", "MoEConfig": "moe", "record_moe": "moe",
    "nanogpt_name": "foreign", "save_safetensors": "foreign", "save_sharded": "foreign",
    "RECORDED_WITH": "zoo", "ZOO": "zoo", "ZOO_COMMANDS": "zoo",
}

__all__ = sorted(_SUBMODULE)


def __getattr__(name):
    if name not in _SUBMODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_SUBMODULE[name]}"), name)
