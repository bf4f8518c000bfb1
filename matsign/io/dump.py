"""Gradient dumps: a directory of per-step tensor files and a manifest, written and read lazily."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matsign._backend import check_choice, check_nonnegative_int, library
from matsign.io.formats import (
    DTYPE_NAMES,
    EXTENSIONS,
    READERS,
    SAFETENSORS_METADATA,
    DumpError,
    list_tensors,
    parse_json,
    read_tensor,
    torch_to_numpy,
    write_tensors,
)

__all__ = ["KINDS", "MANIFEST", "RECORDED_DUMP", "GradientRecord", "load_gradients", "write_manifest", "write_step"]

#: What a dumped tensor can be; a key ``"{kind}/{name}"`` with one of these prefixes carries it.
KINDS = ("grad", "momentum")

#: File name of a dump's manifest.
MANIFEST = "manifest.json"

#: The small dump recorded from a GPT training run that ships with the package.
RECORDED_DUMP = Path(__file__).resolve().parent.parent / "data" / "recorded"

_STEP = re.compile(r"step-(\d+)")


@dataclass(frozen=True)
class GradientRecord:
    """One tensor of a dump, described from its file's header; :meth:`load` reads its data.

    Attributes
    ----------
    name : str
        Parameter name, e.g. ``"blocks.0.attn.qkv.weight"`` (the key without its kind prefix).
    step : int or None
        Training step (from the manifest, else a ``step-NNNNNN`` file or folder name).
    kind : str
        ``"grad"``, ``"momentum"`` (from the manifest, else the key prefix) or ``"unknown"``.
    shape : tuple of int
    dtype : str
        NumPy dtype name as stored, e.g. ``"float32"``, ``"bfloat16"``.
    path : pathlib.Path
        The file holding the tensor.
    key : str
        The tensor's key inside that file.
    """

    name: str
    step: int | None
    kind: str
    shape: tuple[int, ...]
    dtype: str
    path: Path
    key: str

    def load(self) -> np.ndarray:
        """Read this tensor, and nothing else of its file, as a NumPy array in its stored dtype.

        bfloat16 and float8 come back as ``ml_dtypes`` arrays with the stored bits;
        ``np.asarray(record.load(), dtype=np.float64)`` upcasts exactly.

        Raises
        ------
        DumpError
            If the file changed since it was listed and no longer holds the tensor intact.
        """
        return read_tensor(self.path, self.key)


def _natural(text: str) -> tuple:
    """Sort key that orders digit runs by value: ``blocks.2`` before ``blocks.10``."""
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _as_numpy(value, key: str) -> np.ndarray:
    try:
        lib = library(value)
    except TypeError:
        raise TypeError(f"tensors[{key!r}] must be a NumPy, CuPy or PyTorch array, got {type(value).__name__}") from None
    if lib == "torch":
        a = torch_to_numpy(value)
    elif lib == "cupy":
        a = value.get()
    else:
        a = np.asarray(value)
    if a.dtype.name not in DTYPE_NAMES:
        raise ValueError(f"tensors[{key!r}] has unsupported dtype {a.dtype}")
    return a


def _replace_atomically(path: Path, write) -> None:
    """Write through ``write(tmp)`` then rename, so no reader ever sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_step(directory, step: int, tensors: Mapping, *, format: str = "safetensors") -> Path:
    """Write one step of a dump: ``<directory>/step-{step:06d}.<ext>`` holding ``tensors``.

    Parameters
    ----------
    directory : str or path-like
        The dump directory (created if missing).
    step : int
        Training step, ≥ 0.
    tensors : mapping of str to array
        Key ``"{kind}/{name}"`` (kind ``"grad"`` or ``"momentum"``, name the parameter's name)
        to a NumPy, CuPy or PyTorch array of a float, integer or bool dtype.
    format : {"safetensors", "npz", "pt"}
        The file format; see Notes.

    Returns
    -------
    pathlib.Path
        The file written.

    Notes
    -----
    ``"safetensors"`` (default) needs nothing beyond NumPy (``ml-dtypes`` for bfloat16);
    ``"npz"`` cannot hold bfloat16 or float8; ``"pt"`` is ``torch.save`` of a plain dict of
    tensors and needs PyTorch. Torch bfloat16 is stored bit for bit, either byte order is
    accepted, and ``"__metadata__"`` is refused as a safetensors key (the format reserves it).
    The file appears atomically: it is written under a temporary name, then renamed.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_step(d, 10, {"grad/w": np.eye(3, 2), "grad/b": np.zeros(3)})
    ...     print(path.name, [(r.kind, r.name, r.step, r.shape) for r in load_gradients(d)])
    step-000010.safetensors [('grad', 'w', 10, (3, 2))]
    """
    step = check_nonnegative_int(step, "step")
    check_choice(format, EXTENSIONS, "format")
    if not isinstance(tensors, Mapping) or not tensors:
        raise ValueError("tensors must be a non-empty mapping of str keys to arrays")
    arrays = {}
    for key, value in tensors.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"tensors keys must be non-empty strings, got {key!r}")
        if format == "safetensors" and key == SAFETENSORS_METADATA:
            raise ValueError(f"tensors key {key!r} is reserved by the safetensors format for its metadata")
        arrays[key] = _as_numpy(value, key)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step-{step:06d}{EXTENSIONS[format]}"
    _replace_atomically(path, lambda tmp: write_tensors(tmp, arrays, format))
    return path


def write_manifest(directory, manifest: Mapping) -> Path:
    """Write ``<directory>/manifest.json`` describing a dump.

    Parameters
    ----------
    directory : str or path-like
        The dump directory (created if missing).
    manifest : mapping
        JSON-serialisable; written with sorted keys.

    Returns
    -------
    pathlib.Path
        The manifest file.

    Notes
    -----
    The manifest is free-form JSON (model configuration, seed, steps, layer names, shapes, dtypes,
    format). One entry is read back by :func:`load_gradients`: ``"files"``, a mapping from a
    file's path relative to the manifest's directory to ``{"step": int or null, "kind": str}``
    (either optional), which overrides what file names and key prefixes say.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_step(d, 0, {"w": np.ones((2, 2))})
    ...     _ = write_manifest(d, {"files": {"step-000000.safetensors": {"step": 5, "kind": "momentum"}}})
    ...     print([(r.kind, r.name, r.step) for r in load_gradients(d)])
    [('momentum', 'w', 5)]
    """
    if not isinstance(manifest, Mapping):
        raise ValueError(f"manifest must be a mapping, got {type(manifest).__name__}")
    try:
        text = json.dumps(manifest, indent=2, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"manifest must be JSON-serialisable: {exc}") from None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MANIFEST
    _replace_atomically(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    return path


def _read_manifest(path: Path) -> dict[str, dict]:
    """The validated ``"files"`` entry of the manifest at ``path`` (empty when it has none)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DumpError(f"{path}: unreadable manifest ({type(exc).__name__})") from None
    manifest = parse_json(path, data, "manifest")
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise DumpError(f"{path}: manifest 'files' must be an object")
    for name, entry in files.items():
        ok = isinstance(entry, dict) and set(entry) <= {"step", "kind"}
        step = entry.get("step") if ok else None
        ok = ok and (step is None or (isinstance(step, int) and not isinstance(step, bool) and step >= 0))
        ok = ok and isinstance(entry.get("kind", ""), str)
        if not ok:
            raise DumpError(f"{path}: manifest entry for {name!r} must be {{'step': int >= 0, 'kind': str}}, got {entry!r}")
    return files


def _bad(exc: DumpError, skip_bad: bool) -> None:
    if not skip_bad:
        raise exc
    warnings.warn(f"skipped: {exc}", stacklevel=3)


def _dump_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files = [
        p
        for p in root.rglob("*")
        if p.suffix in READERS and p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: _natural(p.relative_to(root).as_posix()))


def _step_from_names(file: Path, root: Path) -> int | None:
    """The step a ``step-NNNNNN`` file name, or else folder name below ``root``, carries."""
    names = [file.name] + [p.name for p in file.parents if p != root and root in p.parents]
    for name in names:
        match = _STEP.search(name)
        if match:
            return int(match.group(1))
    return None


def _records(root: Path, matrices_only: bool, skip_bad: bool) -> Iterator[GradientRecord]:
    base = root if root.is_dir() else root.parent
    manifests: dict[Path, dict] = {}

    def entry_for(file: Path) -> dict:
        """The manifest entry of ``file`` in the nearest manifest at or above its folder."""
        for folder in [file.parent, *file.parent.parents]:
            if folder not in manifests:
                candidate = folder / MANIFEST
                manifests[folder] = {}
                if candidate.is_file():
                    try:
                        manifests[folder] = {"files": _read_manifest(candidate)}
                    except DumpError as exc:
                        _bad(exc, skip_bad)
            if "files" in manifests[folder]:
                return manifests[folder]["files"].get(file.relative_to(folder).as_posix(), {})
        return {}

    for file in _dump_files(root):
        entry = entry_for(file)
        try:
            infos = list_tensors(file)
        except DumpError as exc:
            _bad(exc, skip_bad)
            continue
        step = entry["step"] if "step" in entry else _step_from_names(file, base)
        for info in sorted(infos, key=lambda t: _natural(t.key)):
            if matrices_only and (len(info.shape) != 2 or 0 in info.shape):
                continue
            prefix, sep, rest = info.key.partition("/")
            name = rest if sep and prefix in KINDS else info.key
            kind = entry.get("kind") or (prefix if sep and prefix in KINDS else "unknown")
            yield GradientRecord(name, step, kind, info.shape, info.dtype, file, info.key)


def load_gradients(path, *, matrices_only: bool = True, skip_bad: bool = False) -> Iterator[GradientRecord]:
    """Iterate over the tensors of a dump file or directory without reading their data.

    Parameters
    ----------
    path : str or path-like
        A dump file or a directory.
    matrices_only : bool
        Yield only non-empty 2-D tensors (default); ``False`` yields every tensor (biases,
        norms, scalars, stacked weights).
    skip_bad : bool
        Skip files (and manifests) that are corrupt, truncated or need pickle with a warning
        naming the file, instead of raising.

    Yields
    ------
    GradientRecord

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DumpError
        For a bad file, when ``skip_bad`` is False; raised when the iteration reaches it.

    Notes
    -----
    A directory is scanned recursively for ``.safetensors``, ``.npz``, ``.npy``, ``.pt`` and
    ``.pth`` files (hidden names skipped), in natural order of their relative paths, and each
    file's tensors in natural order of their keys — the same order on every run. Only headers
    are read here; :meth:`GradientRecord.load` reads one tensor. Nothing is unpickled.

    Each tensor's step and kind come from the nearest ``manifest.json`` — in the file's folder,
    else in the closest folder above it, above ``path`` too, so a file gets the same step and
    kind whether it is loaded alone or with its dump — when that manifest's ``"files"`` entry (see
    :func:`write_manifest`) names them; otherwise the step from a ``step-NNNNNN`` file or folder
    name (None when there is none), the kind from a ``"grad/"`` or ``"momentum/"`` key prefix
    (``"unknown"`` otherwise). The name is the key without that prefix.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for step in (2, 10):
    ...         _ = write_step(d, step, {"grad/w": np.full((2, 3), step, dtype=np.float32)})
    ...     for record in load_gradients(d):
    ...         print(record.step, record.kind, record.name, record.dtype, record.load().sum())
    2 grad w float32 12.0
    10 grad w float32 60.0
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no dump at {root}")
    return _records(root, bool(matrices_only), bool(skip_bad))
