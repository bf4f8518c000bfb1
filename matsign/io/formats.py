"""Reading and writing the tensor files of a dump, one tensor at a time, with pickle disabled.

Every format answers two questions without reading tensor data — which keys a file holds, with
their shapes and dtypes (:func:`list_tensors`) — and reads one tensor on request
(:func:`read_tensor`):

- ``.safetensors``: the header (8-byte little-endian length, then JSON) is parsed here, once per
  file while the file is unchanged (the last few headers are kept), and one tensor's byte range is
  read with a seek; no ``safetensors`` or ``torch`` import, bfloat16 and float8 through ``ml_dtypes``.
- ``.npz``: the zip members' ``.npy`` headers are parsed for the listing; one member is read with
  ``allow_pickle=False``.
- ``.npy``: a single tensor, read through a memory map with ``allow_pickle=False``.
- ``.pt`` / ``.pth``: ``torch.load(..., weights_only=True)`` of a plain dict of tensors or of an
  optimizer state dict (:mod:`matsign.io.state_dict`), memory
  mapped for the zip format ``torch.save`` writes and read whole for the legacy format of
  ``_use_new_zipfile_serialization=False``, which cannot be mapped (PyTorch needed:
  ``pip install 'matsign[torch]'``).

A file that is corrupt, truncated, refers to data outside itself, uses an unknown dtype or needs
pickle raises :class:`DumpError` naming the file and the reason.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matsign.io.errors import DumpError
from matsign.io.state_dict import is_optimizer_state, optimizer_tensors, state_tensor

__all__ = [
    "DTYPE_NAMES",
    "EXTENSIONS",
    "FLOAT_DTYPE_NAMES",
    "DumpError",
    "TensorInfo",
    "available_memory",
    "check_allocation",
    "list_tensors",
    "load_pt",
    "parse_json",
    "pt_tensor_info",
    "read_tensor",
    "write_tensors",
]

#: File suffix of each writable format.
EXTENSIONS = {"safetensors": ".safetensors", "npz": ".npz", "pt": ".pt"}

#: Suffixes a dump scan picks up, and the format that reads each.
READERS = {".safetensors": "safetensors", ".npz": "npz", ".npy": "npy", ".pt": "pt", ".pth": "pt"}

# safetensors dtype codes, the NumPy dtype names they stand for, and their sizes in bytes.
_SAFETENSORS_DTYPES = {
    "F64": ("float64", 8),
    "F32": ("float32", 4),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "F8_E4M3": ("float8_e4m3fn", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "I64": ("int64", 8),
    "I32": ("int32", 4),
    "I16": ("int16", 2),
    "I8": ("int8", 1),
    "U64": ("uint64", 8),
    "U32": ("uint32", 4),
    "U16": ("uint16", 2),
    "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}
_SAFETENSORS_CODES = {name: code for code, (name, _) in _SAFETENSORS_DTYPES.items()}

#: NumPy dtype names a dump can hold (those safetensors has a code for).
DTYPE_NAMES = frozenset(_SAFETENSORS_CODES)

#: The floating-point ones among them: a gradient is one of these; integer and bool tensors
#: (step counters, masks) are listed but not analysed.
FLOAT_DTYPE_NAMES = frozenset({"float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"})

# Dtypes NumPy itself lacks; ml_dtypes provides them under these names.
_ML_DTYPES = ("bfloat16", "float8_e4m3fn", "float8_e5m2")

#: The safetensors header key that holds the file's metadata, never a tensor.
SAFETENSORS_METADATA = "__metadata__"

# A larger safetensors header is refused (the reference implementation's own limit).
_MAX_HEADER_BYTES = 100_000_000


def parse_json(path: Path, data: bytes, what: str) -> dict:
    """The JSON object in ``data``, else a :class:`DumpError` naming ``path``.

    Refused: text that is not UTF-8 or not JSON, nesting deep enough to exhaust the parser's
    recursion, duplicate keys (the reference readers would keep one silently) and a top level
    that is not an object. The file's bytes are never echoed.
    """

    def unique(pairs):
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            duplicate = next(key for key in keys if keys.count(key) > 1)
            raise DumpError(f"{path}: {what} repeats the key {duplicate!r}")
        return dict(pairs)

    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=unique)
    except UnicodeDecodeError:
        raise DumpError(f"{path}: {what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DumpError(f"{path}: {what} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise DumpError(f"{path}: {what} is nested too deeply to parse") from None
    if not isinstance(value, dict):
        raise DumpError(f"{path}: {what} is a {type(value).__name__}, not an object")
    return value


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# Smaller claims are not checked against the memory available: reading /proc/meminfo for each
# would cost more than reading the tensor (a 64×64 float32 one), and they cannot exhaust memory.
_UNCHECKED_BYTES = 1 << 20


def check_allocation(path: Path, key: str, nbytes: int) -> None:
    """A :class:`DumpError` if tensor ``key`` claims more bytes than the memory available (claims of
    at least 1 MiB are checked)."""
    if nbytes < _UNCHECKED_BYTES:
        return
    available = available_memory()
    if available is not None and nbytes > available:
        raise DumpError(
            f"{path}: tensor {key!r} needs {nbytes} bytes, more than the {available} bytes of memory available"
        )


@dataclass(frozen=True)
class TensorInfo:
    """What a file says about one of its tensors, before any data is read."""

    key: str
    shape: tuple[int, ...]
    dtype: str


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype called ``name`` (``bfloat16`` and float8 through ``ml_dtypes``)."""
    if name in _ML_DTYPES:
        try:
            import ml_dtypes
        except ImportError:
            raise ImportError(f"{name} tensors need ml-dtypes: pip install 'matsign[io]'") from None
        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def list_tensors(path: Path) -> list[TensorInfo]:
    """Keys, shapes and dtypes of the tensors in ``path``, in the file's own order."""
    path = Path(path)
    reader = READERS.get(path.suffix)
    if reader is None:
        raise DumpError(f"{path}: unknown dump format {path.suffix!r}; expected one of {sorted(READERS)}")
    try:
        return _LISTERS[reader](path)
    except DumpError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DumpError(f"{path}: unreadable {reader} file ({type(exc).__name__}: {exc})") from exc


def read_tensor(path: Path, key: str) -> np.ndarray:
    """The tensor ``key`` of ``path`` as a NumPy array in its stored dtype, reading nothing else."""
    path = Path(path)
    reader = READERS[path.suffix]
    try:
        return _READERS[reader](path, key)
    except DumpError:
        raise
    except MemoryError:
        raise DumpError(f"{path}: not enough memory to read {key!r}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DumpError(f"{path}: cannot read {key!r} ({type(exc).__name__}: {exc})") from exc


# -- safetensors ---------------------------------------------------------------------------------


def _safetensors_header(path: Path, f) -> tuple[dict, int]:
    """Validated ``{key: (dtype name, shape, begin, end)}`` and the data start of an open file."""
    size = os.fstat(f.fileno()).st_size
    prefix = f.read(8)
    if len(prefix) < 8:
        raise DumpError(f"{path}: truncated safetensors file ({size} bytes, no header length)")
    length = int.from_bytes(prefix, "little")
    if length > size - 8:
        raise DumpError(f"{path}: header length {length} runs past the end of the file ({size} bytes)")
    if length > _MAX_HEADER_BYTES:
        raise DumpError(f"{path}: header of {length} bytes exceeds the {_MAX_HEADER_BYTES}-byte limit")
    header = parse_json(path, f.read(length), "safetensors header")
    buffer = size - 8 - length
    entries = {}
    for key, entry in header.items():
        if key == SAFETENSORS_METADATA:
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise DumpError(f"{path}: header entry {key!r} lacks dtype/shape/data_offsets")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in _SAFETENSORS_DTYPES:
            raise DumpError(f"{path}: tensor {key!r} has unknown dtype {code!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise DumpError(f"{path}: tensor {key!r} has invalid shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= buffer
        ):
            raise DumpError(
                f"{path}: tensor {key!r} data offsets {offsets!r} lie outside the {buffer}-byte data buffer"
            )
        name, itemsize = _SAFETENSORS_DTYPES[code]
        if offsets[1] - offsets[0] != math.prod(shape) * itemsize:
            raise DumpError(
                f"{path}: tensor {key!r} spans {offsets[1] - offsets[0]} bytes but shape {shape} "
                f"of {name} needs {math.prod(shape) * itemsize}"
            )
        entries[key] = (name, tuple(shape), offsets[0], offsets[1])
    spans = sorted((begin, end, key) for key, (_, _, begin, end) in entries.items())
    for (_, end, first), (begin, _, second) in zip(spans, spans[1:]):
        if begin < end:
            raise DumpError(f"{path}: tensors {first!r} and {second!r} overlap in the data buffer")
    return entries, 8 + length


# The parsed headers of the last few files, keyed by path and checked against the file's identity
# (device, inode, size, modification time): reading every tensor of a file parses its header once.
_HEADERS: OrderedDict = OrderedDict()
_HEADERS_KEPT = 8


def _cached_header(path: Path, f) -> tuple[dict, int]:
    """:func:`_safetensors_header` of the open file ``f``, parsed once while the file is unchanged."""
    st = os.fstat(f.fileno())
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    cache_key = os.path.abspath(path)
    cached = _HEADERS.get(cache_key)
    if cached is not None and cached[0] == identity:
        _HEADERS.move_to_end(cache_key)
        return cached[1], cached[2]
    entries, start = _safetensors_header(path, f)
    _HEADERS[cache_key] = (identity, entries, start)
    while len(_HEADERS) > _HEADERS_KEPT:
        _HEADERS.popitem(last=False)
    return entries, start


def _list_safetensors(path: Path) -> list[TensorInfo]:
    with open(path, "rb") as f:
        entries, _ = _cached_header(path, f)
    return [TensorInfo(key, shape, name) for key, (name, shape, _, _) in entries.items()]


def _read_safetensors(path: Path, key: str) -> np.ndarray:
    # Unbuffered: the bytes go straight into the array, with no copy through a read buffer.
    with open(path, "rb", buffering=0) as f:
        entries, start = _cached_header(path, f)
        if key not in entries:
            raise DumpError(f"{path}: no tensor {key!r}")
        name, shape, begin, end = entries[key]
        check_allocation(path, key, end - begin)
        out = np.empty(math.prod(shape), dtype=numpy_dtype(name).newbyteorder("<"))
        f.seek(start + begin)
        view, got = memoryview(out.view(np.uint8)), 0
        while got < len(view):  # one read returns at most ~2 GiB on Linux
            n = f.readinto(view[got:])
            if not n:
                break
            got += n
    if got != end - begin:
        raise DumpError(f"{path}: tensor {key!r} truncated ({got} of {end - begin} bytes)")
    return out.astype(out.dtype.newbyteorder("="), copy=False).reshape(shape)


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    for key in sorted(tensors):
        a = np.asarray(tensors[key], order="C")
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        header[key] = {
            "dtype": _SAFETENSORS_CODES[a.dtype.name],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        blobs.append(a.reshape(-1).view(np.uint8))
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data buffer starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# -- npz / npy -----------------------------------------------------------------------------------


def _npy_header(path: Path, fp, what: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    if dtype.hasobject:
        raise DumpError(f"{path}: {what} holds Python objects, which need pickle; refused")
    if dtype.name not in _SAFETENSORS_CODES:
        raise DumpError(f"{path}: {what} has unsupported dtype {dtype.str!r}")
    return tuple(int(d) for d in shape), dtype


def _npz_members(path: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    members = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise DumpError(f"{path}: member {info.filename!r} is not a .npy array")
        members[info.filename[: -len(".npy")]] = info
    return members


def _list_npz(path: Path) -> list[TensorInfo]:
    infos = []
    with zipfile.ZipFile(path) as zf:
        for key, info in _npz_members(path, zf).items():
            with zf.open(info) as fp:
                shape, dtype = _npy_header(path, fp, f"array {key!r}")
            infos.append(TensorInfo(key, shape, dtype.name))
    return infos


def _read_npz(path: Path, key: str) -> np.ndarray:
    with zipfile.ZipFile(path) as zf:
        members = _npz_members(path, zf)
        if key not in members:
            raise DumpError(f"{path}: no array {key!r}")
        info = members[key]
        with zf.open(info) as fp:
            shape, dtype = _npy_header(path, fp, f"array {key!r}")
            claimed, held = math.prod(shape) * dtype.itemsize, info.file_size - fp.tell()
        if claimed > held:
            raise DumpError(f"{path}: array {key!r} claims {claimed} bytes but its member holds {held}")
        check_allocation(path, key, claimed)
        with zf.open(info) as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)


def _list_npy(path: Path) -> list[TensorInfo]:
    with open(path, "rb") as fp:
        shape, dtype = _npy_header(path, fp, "the array")
    return [TensorInfo(path.stem, shape, dtype.name)]


def _read_npy(path: Path, key: str) -> np.ndarray:
    if key != path.stem:
        raise DumpError(f"{path}: no array {key!r}")
    return np.array(np.load(path, mmap_mode="r", allow_pickle=False))


def _write_npz(path: Path, tensors: dict[str, np.ndarray]) -> None:
    for key, a in tensors.items():
        if a.dtype.name in _ML_DTYPES:
            raise ValueError(
                f"tensors[{key!r}] is {a.dtype.name}, which .npz cannot record; use format='safetensors' or 'pt'"
            )
    # np.savez would take keys such as "file" or "allow_pickle" for its own arguments.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key in sorted(tensors):
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fp:
                np.lib.format.write_array(fp, tensors[key], allow_pickle=False)


# -- pt ------------------------------------------------------------------------------------------


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("reading or writing .pt dumps needs PyTorch: pip install 'matsign[torch]'") from None
    return torch


def _load_pt(path: Path) -> dict:
    torch = _torch()
    archive = zipfile.is_zipfile(path)
    if not archive:
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":
                raise DumpError(f"{path}: truncated or corrupt .pt file (a zip archive without its directory)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=archive)
    except Exception as exc:  # torch raises pickle, zip and runtime errors for bad files
        message = str(exc)
        if "Weights only load failed" in message:
            # torch names the refused global; the rest of its message is advice, not the file's bytes.
            refused = next((line.strip() for line in message.splitlines() if "Unsupported" in line), "")
            raise DumpError(f"{path}: needs pickle beyond weights_only=True; refused. {refused}".rstrip()) from None
        raise DumpError(f"{path}: not a PyTorch tensor file ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise DumpError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors")
    if is_optimizer_state(obj):
        return obj
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise DumpError(
                f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor (a .pt file must hold a dict of "
                "tensors or an optimizer state dict with 'state' and 'param_groups')"
            )
    return obj


def load_pt(path: Path) -> dict:
    """The dict a ``.pt`` file holds (tensors, or an optimizer state dict), loaded without pickle.

    Tensors are memory mapped (for the zip format ``torch.save`` writes), so nothing is read
    until used.
    """
    try:
        return _load_pt(Path(path))
    except DumpError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DumpError(f"{path}: unreadable pt file ({type(exc).__name__}: {exc})") from exc


def _torch_dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def pt_tensor_info(path: Path, key: str, t) -> TensorInfo:
    """The :class:`TensorInfo` of torch tensor ``t``; a :class:`DumpError` for a dtype a dump cannot hold."""
    name = _torch_dtype_name(t)
    if name not in _SAFETENSORS_CODES:
        raise DumpError(f"{path}: tensor {key!r} has unsupported dtype {name}")
    return TensorInfo(key, tuple(t.shape), name)


def _list_pt(path: Path) -> list[TensorInfo]:
    obj = _load_pt(path)
    if is_optimizer_state(obj):
        return [pt_tensor_info(path, s.key, s.tensor) for s in optimizer_tensors(path, obj)]
    return [pt_tensor_info(path, key, t) for key, t in obj.items()]


def _read_pt(path: Path, key: str) -> np.ndarray:
    obj = _load_pt(path)
    if is_optimizer_state(obj):
        return torch_to_numpy(state_tensor(path, obj, key))
    if key not in obj:
        raise DumpError(f"{path}: no tensor {key!r}")
    return torch_to_numpy(obj[key])


def torch_to_numpy(t) -> np.ndarray:
    """A host copy of torch tensor ``t`` with the same dtype and bits (bfloat16 via ml_dtypes)."""
    torch = _torch()
    t = t.detach().cpu().contiguous()
    name = _torch_dtype_name(t)
    if name in _ML_DTYPES:
        bits = torch.int16 if name == "bfloat16" else torch.uint8
        return t.view(bits).numpy().view(numpy_dtype(name)).copy()
    return t.numpy().copy()


def _write_pt(path: Path, tensors: dict[str, np.ndarray]) -> None:
    torch = _torch()
    converted = {}
    for key in sorted(tensors):
        a = np.asarray(tensors[key], order="C")
        if not a.dtype.isnative:  # torch.from_numpy takes native byte order only
            a = a.astype(a.dtype.newbyteorder("="))
        if a.dtype.name in _ML_DTYPES:
            bits = np.int16 if a.dtype.name == "bfloat16" else np.uint8
            converted[key] = torch.from_numpy(a.view(bits).copy()).view(getattr(torch, a.dtype.name))
        else:
            converted[key] = torch.from_numpy(a.copy())
    torch.save(converted, path)


_LISTERS = {"safetensors": _list_safetensors, "npz": _list_npz, "npy": _list_npy, "pt": _list_pt}
_READERS = {"safetensors": _read_safetensors, "npz": _read_npz, "npy": _read_npy, "pt": _read_pt}
_WRITERS = {"safetensors": _write_safetensors, "npz": _write_npz, "pt": _write_pt}


def write_tensors(path: Path, tensors: dict[str, np.ndarray], format: str) -> None:
    """Write NumPy ``tensors`` to ``path`` in ``format`` (a key of :data:`EXTENSIONS`)."""
    _WRITERS[format](Path(path), tensors)
