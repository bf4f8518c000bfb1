"""PyTorch optimizer state dicts (``torch.save(optimizer.state_dict())``) as tensor files.

``optimizer.state_dict()`` is ``{"state": {index: {"step": t, "exp_avg": T, ...}}, "param_groups":
[{"params": [index, ...], ...}, ...]}``: ``index`` numbers the optimizer's parameters in the
order of its parameter groups (for an optimizer built on ``model.parameters()``, the order of
``model.named_parameters()``), and a parameter that has no state yet (no gradient so far) is
absent from ``"state"``. Each state tensor is listed under the key ``"state/{index}/{entry}"``
(``"state/3/exp_avg"``); the per-parameter ``"step"`` entry is read as that parameter's step,
not as a tensor. Python numbers and ``None`` in a state (``momentum_buffer`` of SGD without
momentum) are not tensors and are passed over; anything else is a :class:`DumpError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matsign.io.errors import DumpError

__all__ = ["StateTensor", "is_optimizer_state", "optimizer_tensors", "parameter_order", "state_tensor"]


@dataclass(frozen=True)
class StateTensor:
    """One tensor of an optimizer state: its key, parameter position and the state's step."""

    key: str
    #: Position of the parameter in the optimizer's order (``named_parameters()`` order).
    position: int
    #: The state's entry name, e.g. ``"exp_avg"``.
    entry: str
    #: The parameter's ``"step"`` entry, None when its state has none (SGD, Muon).
    step: int | None
    tensor: object


def is_optimizer_state(obj) -> bool:
    """Whether ``obj`` has the two top-level entries of ``optimizer.state_dict()``."""
    return isinstance(obj, dict) and {"state", "param_groups"} <= set(obj)


def _is_index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parameter_order(path: Path, obj: dict) -> list[int]:
    """The state indices in the order of the parameter groups' ``"params"`` lists."""
    groups = obj["param_groups"]
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups):
        raise DumpError(f"{path}: optimizer state 'param_groups' must be a list of dicts with a 'params' list")
    order = [index for group in groups for index in group["params"]]
    if not all(_is_index(i) for i in order) or len(set(order)) != len(order):
        raise DumpError(f"{path}: optimizer state 'param_groups' params must be distinct non-negative integers")
    return order


def _step(path: Path, index: int, value) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise DumpError(f"{path}: optimizer state {index} 'step' has {value.numel()} entries, not one")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
        raise DumpError(f"{path}: optimizer state {index} 'step' is {value!r}, not a non-negative whole number")
    return int(value)


def optimizer_tensors(path: Path, obj: dict) -> list[StateTensor]:
    """Every state tensor of the optimizer state dict ``obj`` loaded from ``path``, checked.

    ``obj`` came from ``torch.load``, so PyTorch is importable.

    Raises
    ------
    DumpError
        If the structure is not that of ``optimizer.state_dict()``: ``"state"`` not a dict of
        integer indices to dicts of named entries, an index missing from ``"param_groups"``, a
        ``"step"`` that is not a whole number, or an entry that is neither a tensor, a number
        nor None.
    """
    import torch

    order = parameter_order(path, obj)
    position = {index: i for i, index in enumerate(order)}
    state = obj["state"]
    if not isinstance(state, dict):
        raise DumpError(f"{path}: optimizer state 'state' is a {type(state).__name__}, not a dict")
    found = []
    for index in sorted(state, key=lambda i: position.get(i, -1) if _is_index(i) else -1):
        entries = state[index]
        if not _is_index(index) or index not in position:
            raise DumpError(f"{path}: optimizer state index {index!r} is not among the param_groups' params")
        if not isinstance(entries, dict) or not all(isinstance(k, str) for k in entries):
            raise DumpError(f"{path}: optimizer state {index} must be a dict of named entries")
        step = _step(path, index, entries["step"]) if "step" in entries else None
        for entry, value in entries.items():
            if entry == "step" or value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                continue
            if not isinstance(value, torch.Tensor):
                raise DumpError(f"{path}: optimizer state {index} entry {entry!r} is a {type(value).__name__}, "
                                "not a tensor")
            found.append(StateTensor(f"state/{index}/{entry}", position[index], entry, step, value))
    return found


def state_tensor(path: Path, obj: dict, key: str):
    """The tensor under ``key`` (``"state/{index}/{entry}"``) of the optimizer state ``obj``."""
    for found in optimizer_tensors(path, obj):
        if found.key == key:
            return found.tensor
    raise DumpError(f"{path}: no tensor {key!r}")
