r"""Write tensors the way other training code does: plain safetensors files, Hugging Face sharded
checkpoints with their index, and nanoGPT / GPT-2 parameter names.

These writers produce the gradient zoo (:mod:`matsign.recorder.zoo`): dumps in layouts that
matsign did not design. Nothing here writes a ``manifest.json``; the layout itself is all a
reader gets.

- :func:`save_safetensors`: one file with ``safetensors.torch.save_file`` and the metadata
  ``{"format": "pt"}`` that ``transformers`` writes.
- :func:`save_sharded`: the sharded layout of ``transformers``' ``save_pretrained`` /
  ``huggingface_hub.save_torch_state_dict``: ``model-00001-of-0000N.safetensors`` … and
  ``model.safetensors.index.json`` = ``{"metadata": {"total_size": bytes}, "weight_map":
  {key: shard}}``, shards filled greedily in key order up to ``max_shard_bytes``.
- :func:`nanogpt_name`: the recorder GPT's parameter names as nanoGPT (Karpathy) names them,
  e.g. ``blocks.0.mlp.up.weight`` → ``transformer.h.0.mlp.c_fc.weight``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from safetensors.torch import save_file

from matsign._backend import check_positive_int

__all__ = ["INDEX", "nanogpt_name", "save_safetensors", "save_sharded"]

#: File name of the index of a sharded checkpoint (``transformers``' ``SAFE_WEIGHTS_INDEX_NAME``).
INDEX = "model.safetensors.index.json"

#: The metadata ``transformers`` writes into every safetensors file it saves from PyTorch.
METADATA = {"format": "pt"}

_NANOGPT = [
    (r"^token\.", "transformer.wte."),
    (r"^position\.", "transformer.wpe."),
    (r"^blocks\.(\d+)\.ln1\.", r"transformer.h.\1.ln_1."),
    (r"^blocks\.(\d+)\.ln2\.", r"transformer.h.\1.ln_2."),
    (r"^blocks\.(\d+)\.attn\.qkv\.", r"transformer.h.\1.attn.c_attn."),
    (r"^blocks\.(\d+)\.attn\.out\.", r"transformer.h.\1.attn.c_proj."),
    (r"^blocks\.(\d+)\.mlp\.up\.", r"transformer.h.\1.mlp.c_fc."),
    (r"^blocks\.(\d+)\.mlp\.down\.", r"transformer.h.\1.mlp.c_proj."),
    (r"^ln_f\.", "transformer.ln_f."),
    (r"^head\.", "lm_head."),
]


def nanogpt_name(name: str) -> str:
    """The nanoGPT name of the recorder GPT's parameter ``name``.

    nanoGPT stores its linear layers as ``torch.nn.Linear`` (``(out_features, in_features)``),
    the layout the recorder's GPT has too, so only the names change.

    Examples
    --------
    >>> nanogpt_name("blocks.3.attn.qkv.weight"), nanogpt_name("head.weight")
    ('transformer.h.3.attn.c_attn.weight', 'lm_head.weight')
    """
    for pattern, replacement in _NANOGPT:
        renamed, found = re.subn(pattern, replacement, name)
        if found:
            return renamed
    raise ValueError(f"name {name!r} is not a parameter of the recorder's GPT")


def save_safetensors(path, tensors: dict) -> Path:
    """Write ``tensors`` (name → CPU tensor) to one safetensors file at ``path``, keys in the given order.

    Examples
    --------
    >>> import tempfile, torch
    >>> from safetensors import safe_open
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = save_safetensors(f"{d}/g.safetensors", {"w.grad": torch.ones(2, 3)})
    ...     with safe_open(path, "pt") as f:
    ...         print(f.metadata(), f.get_tensor("w.grad").shape)
    {'format': 'pt'} torch.Size([2, 3])
    """
    path = Path(path)
    save_file({name: t.contiguous() for name, t in tensors.items()}, path, metadata=METADATA)
    return path


def save_sharded(directory, tensors: dict, *, max_shard_bytes: int) -> Path:
    """Write ``tensors`` as a sharded safetensors checkpoint with its index into ``directory``.

    The shards are filled in key order; a tensor that would take the current shard past
    ``max_shard_bytes`` starts the next one (a tensor larger than that gets a shard of its
    own), as ``huggingface_hub.split_torch_state_dict_into_shards`` does. One shard is written
    as ``model.safetensors`` without an index, as ``save_pretrained`` does.

    Parameters
    ----------
    directory : str or Path
        Created if missing.
    tensors : dict of str to torch.Tensor
    max_shard_bytes : int
        Largest shard size in bytes (of tensor data).

    Returns
    -------
    Path
        ``directory``.

    Examples
    --------
    >>> import json, tempfile, torch
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = save_sharded(d, {"a": torch.zeros(4), "b": torch.zeros(4), "c": torch.zeros(2)},
    ...                        max_shard_bytes=24)
    ...     print(sorted(p.name for p in out.iterdir()))
    ...     print(json.loads((out / INDEX).read_text()))
    ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']
    {'metadata': {'total_size': 40}, 'weight_map': {'a': 'model-00001-of-00002.safetensors',
     'b': 'model-00002-of-00002.safetensors', 'c': 'model-00002-of-00002.safetensors'}}
    """
    max_shard_bytes = check_positive_int(max_shard_bytes, "max_shard_bytes")
    shards, size = [{}], 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if len(shards) == 1:
        save_safetensors(out / "model.safetensors", shards[0])
        return out
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_safetensors(out / file, shard)
        weight_map |= dict.fromkeys(shard, file)
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (out / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out
