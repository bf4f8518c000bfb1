"""Sharded safetensors checkpoints: a ``*.safetensors.index.json`` and the shards it names.

The index is the Hugging Face layout (``save_pretrained`` writes it)::

    {"metadata": {"total_size": 123}, "weight_map": {"h.0.attn.c_attn.weight": "model-00001-of-00002.safetensors", ...}}

Each key is read from the shard the map names, once. Shard names are confined to the index's own
folder: an absolute path, a ``..`` part or a link leading out of it is refused.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from matsign.io.errors import DumpError
from matsign.io.formats import parse_json

__all__ = ["INDEX_SUFFIX", "read_index"]

#: How an index file's name ends.
INDEX_SUFFIX = ".safetensors.index.json"

_MAX_INDEX_BYTES = 100_000_000


def read_index(path: Path) -> dict[str, Path]:
    """The shard file of every tensor key of the index at ``path``, validated.

    Parameters
    ----------
    path : pathlib.Path
        A ``*.safetensors.index.json`` file.

    Returns
    -------
    dict of str to pathlib.Path
        Key → shard, in the index's order.

    Raises
    ------
    DumpError
        Naming the index: unreadable or not JSON, no ``weight_map`` object of strings, a shard
        name that is absolute, has a ``..`` part, leaves the folder through a link, is not a
        ``.safetensors`` file, or does not exist.
    """
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_INDEX_BYTES:
            raise DumpError(f"{path}: index larger than {_MAX_INDEX_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise DumpError(f"{path}: unreadable index ({type(exc).__name__})") from None
    index = parse_json(path, data, "index")
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise DumpError(f"{path}: index needs a 'weight_map' object of tensor names to shard file names")
    folder = path.parent.resolve()
    shards: dict[str, Path] = {}
    for name in sorted(set(weight_map.values())):
        parts = PurePosixPath(name).parts
        if not name or PurePosixPath(name).is_absolute() or Path(name).is_absolute() or ".." in parts or "\\" in name:
            raise DumpError(f"{path}: shard {name!r} is not a file name inside the index's folder; refused")
        shard = path.parent / name
        if folder not in shard.resolve().parents:
            raise DumpError(f"{path}: shard {name!r} leads outside the index's folder; refused")
        if shard.suffix != ".safetensors":
            raise DumpError(f"{path}: shard {name!r} is not a .safetensors file")
        if not shard.is_file():
            raise DumpError(f"{path}: shard {name!r} is missing")
        shards[name] = shard
    return {key: shards[name] for key, name in weight_map.items()}
