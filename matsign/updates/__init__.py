"""Stateful update rules: one gradient in, one update (direction × shape factor) out per step.

Each rule is a small state object whose buffers are created from the first gradient (shape,
library, device, dtype); ``rule.step(G)`` returns a :class:`StepResult` with the update and
its diagnostics (alignment and relative error against the exact sign of the rule's target,
plus the rule's own). The caller multiplies by the learning rate and applies weight decay.

- :mod:`.muon` — Muon (heavy ball or Nesterov) and MuonEq (R / C / RC equilibration);
- :mod:`.mucon` — MuCon, the Muon momentum with its singular values clipped;
- :mod:`.normuon` — NorMuon, Newton–Schulz then per-neuron second-moment normalization;
- :mod:`.mud` — MUD, the Nesterov momentum whitened by triangular solves;
- :mod:`.lowrank_muon` — low-rank Muon, ``Q·orth(QᵀT)`` on the momentum;
- :mod:`.dion` — Dion, warm-started power iteration with error feedback;
- :mod:`.dion2` — Dion2, slice selection with selective decay;
- :mod:`.galore` — GaLore-Muon and GUM;
- :mod:`.shape` — learning-rate shape factors; :mod:`.diagnostics` — the shared diagnostics;
- :mod:`.reference` — plain NumPy Muon, Dion and Dion2 steps, the papers' updates written out.

>>> import numpy as np
>>> from matsign.updates import UPDATE_RULES
>>> rule = UPDATE_RULES["dion2"](fraction=1.0, momentum=0.9, inner="exact")
>>> for G in (np.diag([2.0, 1.0]), np.diag([1.0, -3.0])):
...     result = rule.step(G)
>>> result.update, result.diagnostics["alignment"]
(array([[ 1.,  0.],
       [ 0., -1.]]), 1.0)
"""

from types import MappingProxyType

from matsign.exact.inner import PAIR_INNER as INNER
from matsign.updates.base import StepResult, UpdateRule
from matsign.updates.diagnostics import sign_diagnostics
from matsign.updates.dion import ORTHONORMALIZERS, RIGHT_FACTORS, Dion, randomized_cholesky_qr
from matsign.updates.dion2 import Dion2
from matsign.updates.galore import GUM, GaLoreMuon
from matsign.updates.lowrank_muon import LowRankMuon
from matsign.updates.mucon import MuCon
from matsign.updates.mud import MUD
from matsign.updates.muon import EQUILIBRATIONS, Muon, MuonEq
from matsign.updates.normuon import NorMuon
from matsign.updates.shape import SHAPE_FACTORS, shape_factor

#: Rule name → class; ``UPDATE_RULES[name](**hyper_parameters)`` builds a fresh state.
UPDATE_RULES = MappingProxyType(
    {
        rule.name: rule
        for rule in (Muon, MuonEq, LowRankMuon, Dion, Dion2, GaLoreMuon, GUM, MuCon, NorMuon, MUD)
    }
)

__all__ = [
    "EQUILIBRATIONS",
    "GUM",
    "INNER",
    "ORTHONORMALIZERS",
    "RIGHT_FACTORS",
    "SHAPE_FACTORS",
    "UPDATE_RULES",
    "Dion",
    "Dion2",
    "GaLoreMuon",
    "LowRankMuon",
    "MUD",
    "MuCon",
    "Muon",
    "MuonEq",
    "NorMuon",
    "StepResult",
    "UpdateRule",
    "randomized_cholesky_qr",
    "shape_factor",
    "sign_diagnostics",
]
