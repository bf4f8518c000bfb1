"""Gradient dumps: a directory of per-step tensor files and a manifest, written and read lazily."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from matsign._backend import check_choice, check_nonnegative_int, library
from matsign.io.formats import (
    DTYPE_NAMES,
    EXTENSIONS,
    READERS,
    SAFETENSORS_METADATA,
    DumpError,
    TensorInfo,
    list_tensors,
    load_pt,
    parse_json,
    pt_tensor_info,
    read_tensor,
    torch_to_numpy,
    write_tensors,
)
from matsign.io.layout import KINDS, Rule, apply_rules, infer, kind_of_token, read_layout
from matsign.io.sharded import INDEX_SUFFIX, read_index
from matsign.io.state_dict import is_optimizer_state, optimizer_tensors, parameter_order
from matsign.io.tensors import CONV_LAYOUTS, as_matrix, matrix_members

__all__ = [
    "KINDS",
    "MANIFEST",
    "PROVENANCES",
    "RECORDED_DUMP",
    "GradientListing",
    "GradientRecord",
    "load_gradients",
    "write_manifest",
    "write_step",
]

#: File name of a dump's manifest.
MANIFEST = "manifest.json"

#: The small dump recorded from a GPT training run that ships with the package.
RECORDED_DUMP = Path(__file__).resolve().parent.parent / "data" / "recorded"

#: Where a record's step or kind came from (:class:`GradientRecord` ``step_from``/``kind_from``):
#: the manifest, a user layout rule, the optimizer state's own ``step`` entry (steps only),
#: inference from key and file names, or nowhere.
PROVENANCES = ("manifest", "layout", "state", "inferred", "none")


@dataclass(frozen=True)
class GradientRecord:
    """One matrix (or, with ``matrices_only=False``, one tensor) of a dump; :meth:`load` reads it.

    Attributes
    ----------
    name : str
        Parameter name, e.g. ``"blocks.0.attn.qkv.weight"`` (the key without its kind and step
        tokens, see :mod:`matsign.io.layout`); a member of a stack or a kernel position adds
        its index, ``"experts.w1[3]"``, ``"conv.weight[1,2]"``.
    step : int or None
        Training step; None when nothing says it.
    kind : str
        ``"grad"``, ``"momentum"``, ``"second_moment"`` or ``"unknown"``.
    shape : tuple of int
        The shape :meth:`load` returns: the matrix's ``(m, n)`` for a reshaped or sliced tensor.
    dtype : str
        NumPy dtype name as stored, e.g. ``"float32"``, ``"bfloat16"``.
    path : pathlib.Path
        The file holding the tensor.
    key : str
        The tensor's key inside that file (``"state/3/exp_avg"`` in an optimizer state dict).
    stored_shape : tuple of int
        The tensor's shape in the file (equal to ``shape`` unless reshaped or sliced).
    member : tuple of int or None
        Which slice of the stored tensor this matrix is (:func:`matsign.io.tensors.matrix_members`):
        ``(e,)`` for a stack ``(E, m, n)``, the kernel position for ``conv="spatial"``, None
        when the matrix is the whole tensor.
    conv : str or None
        The convention a kernel of 4 or more dimensions was read with (``"out"``, ``"in"``,
        ``"spatial"``), None for other tensors.
    step_from, kind_from : str
        Where ``step`` and ``kind`` came from, one of :data:`PROVENANCES`.
    """

    name: str
    step: int | None
    kind: str
    shape: tuple[int, ...]
    dtype: str
    path: Path
    key: str
    stored_shape: tuple[int, ...] | None = None
    member: tuple[int, ...] | None = None
    conv: str | None = None
    step_from: str = "none"
    kind_from: str = "none"

    def __post_init__(self):
        if self.stored_shape is None:
            object.__setattr__(self, "stored_shape", tuple(self.shape))

    def load(self) -> np.ndarray:
        """Read this tensor, and nothing else of its file, as a NumPy array in its stored dtype.

        bfloat16 and float8 come back as ``ml_dtypes`` arrays with the stored bits;
        ``np.asarray(record.load(), dtype=np.float64)`` upcasts exactly. A kernel or stack
        member comes back as the matrix of shape :attr:`shape` (a C-contiguous copy).

        Raises
        ------
        DumpError
            If the file changed since it was listed and no longer holds the tensor intact.
        """
        tensor = read_tensor(self.path, self.key)
        if tuple(tensor.shape) != tuple(self.stored_shape):
            raise DumpError(f"{self.path}: tensor {self.key!r} is now {tuple(tensor.shape)}, was "
                            f"{tuple(self.stored_shape)} when listed; the file changed")
        if self.member is None and self.conv is None:
            return tensor
        return np.ascontiguousarray(as_matrix(tensor, self.member, self.conv or "out"))


class GradientListing:
    """The records of a dump, listed as iterated, and a count of the tensors passed over.

    Attributes
    ----------
    skipped : collections.Counter
        Reason → number of tensors passed over so far: ``"vectors"``, ``"scalars"``, ``"empty
        tensors"`` (no matrix), ``"bad files"`` (skipped with ``skip_bad``).
    """

    def __init__(self, records: Iterator[GradientRecord], skipped: Counter):
        self._records = records
        self.skipped = skipped

    def __iter__(self) -> GradientListing:
        return self

    def __next__(self) -> GradientRecord:
        return next(self._records)


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


def _bad(exc: DumpError, skip_bad: bool, skipped: Counter) -> None:
    if not skip_bad:
        raise exc
    warnings.warn(f"skipped: {exc}", stacklevel=3)
    skipped["bad files"] += 1


def _is_index(path: Path) -> bool:
    return path.name.endswith(INDEX_SUFFIX)


def _dump_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files = [
        p
        for p in root.rglob("*")
        if (p.suffix in READERS or _is_index(p))
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: _natural(p.relative_to(root).as_posix()))


class _Names(NamedTuple):
    """Parameter names in ``named_parameters()`` order, their shapes when known, and their source."""

    names: list[str]
    shapes: dict | None
    source: str


def _parameter_names(names) -> _Names | None:
    """The :class:`_Names` of the ``names`` argument of :func:`load_gradients`."""
    if names is None:
        return None
    if isinstance(names, Sequence) and not isinstance(names, (str, bytes)):
        if not all(isinstance(n, str) and n for n in names):
            raise ValueError("names must be non-empty strings")
        return _Names(list(names), None, "names")
    path = Path(names)
    if path.suffix in (".pt", ".pth"):
        # A model state dict: its parameters and persistent buffers, module by module; BatchNorm's
        # buffers are dropped by name, any other buffer makes the count or a shape disagree.
        model = load_pt(path)
        if is_optimizer_state(model):
            raise DumpError(f"{path}: is an optimizer state dict; names come from a model's state_dict()")
        shapes = {key: tuple(t.shape) for key, t in model.items() if not key.endswith(_BUFFERS)}
        return _Names(list(shapes), shapes, str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DumpError(f"{path}: unreadable names file ({type(exc).__name__})") from None
    if path.suffix == ".json":
        try:
            listed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DumpError(f"{path}: names file is not valid JSON ({exc.msg})") from None
        if not isinstance(listed, list) or not all(isinstance(n, str) and n for n in listed):
            raise DumpError(f"{path}: names file must hold a JSON list of non-empty strings")
        return _Names(listed, None, str(path))
    return _Names([line.strip() for line in text.splitlines() if line.strip()], None, str(path))


# Buffers a model state dict holds beside its parameters (BatchNorm's), never optimized.
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class _Tensor:
    """A tensor found in a file, before its name, kind and step are decided."""

    info: TensorInfo
    path: Path
    name: str | None = None
    kind: str | None = None
    step: int | None = None


def _optimizer_state(file: Path, obj: dict, names: _Names | None) -> list[_Tensor]:
    order = parameter_order(file, obj)
    if names is not None and len(names.names) != len(order):
        raise DumpError(f"{file}: the optimizer has {len(order)} parameters but {names.source} names "
                        f"{len(names.names)}")
    found = []
    for state in optimizer_tensors(file, obj):
        info = pt_tensor_info(file, state.key, state.tensor)
        name = state.key.split("/")[1] if names is None else names.names[state.position]
        if names is not None and names.shapes is not None and names.shapes[name] != info.shape:
            raise DumpError(f"{file}: state {state.key!r} has shape {info.shape} but {names.source} gives "
                            f"{name!r} shape {names.shapes[name]}; the names are not in the optimizer's order")
        found.append(_Tensor(info, file, name, kind_of_token(state.entry), state.step))
    return found


def _tensors_of(file: Path, names) -> list[_Tensor]:
    """The tensors a dump file holds (an index: those of its shards), headers only."""
    if _is_index(file):
        shards = read_index(file)
        listed = {}
        for shard in dict.fromkeys(shards.values()):
            listed[shard] = {info.key: info for info in list_tensors(shard)}
        missing = [key for key, shard in shards.items() if key not in listed[shard]]
        if missing:
            raise DumpError(f"{file}: tensor {missing[0]!r} is not in its shard {shards[missing[0]].name!r}")
        return [_Tensor(listed[shard][key], shard) for key, shard in shards.items()]
    if file.suffix in (".pt", ".pth"):
        obj = load_pt(file)
        if is_optimizer_state(obj):
            return _optimizer_state(file, obj, names)
        return [_Tensor(pt_tensor_info(file, key, t), file) for key, t in obj.items()]
    return [_Tensor(info, file) for info in list_tensors(file)]


def _decide(tensor: _Tensor, file: Path, folders: tuple, relative: str, entry: dict, rules: list[Rule]) -> tuple:
    """Name, kind, step and where kind and step came from, for one tensor of ``file``."""
    key = tensor.info.key
    guess = infer(key, file, folders)
    ruled = apply_rules(rules, key, relative)
    name = ruled.get("name") or tensor.name or guess.name
    if entry.get("kind"):
        kind, kind_from = entry["kind"], "manifest"
    elif "kind" in ruled:
        kind, kind_from = ruled["kind"], "layout"
    elif (tensor.kind or guess.kind) is not None:
        kind, kind_from = tensor.kind or guess.kind, "inferred"
    else:
        kind, kind_from = "unknown", "none"
    if "step" in entry:
        step, step_from = entry["step"], "manifest"
    elif "step" in ruled:
        step, step_from = ruled["step"], "layout"
    elif tensor.step is not None:
        step, step_from = tensor.step, "state"
    elif guess.step is not None:
        step, step_from = guess.step, "inferred"
    else:
        step, step_from = None, "none"
    return name, kind, step, kind_from, step_from


def _records(root: Path, matrices_only: bool, skip_bad: bool, rules: list[Rule], names, conv: str,
             skipped: Counter) -> Iterator[GradientRecord]:
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
                        _bad(exc, skip_bad, skipped)
            if "files" in manifests[folder]:
                return manifests[folder]["files"].get(file.relative_to(folder).as_posix(), {})
        return {}

    files = _dump_files(root)
    indexes = {}
    for file in (f for f in files if _is_index(f)):
        try:
            indexes[file] = read_index(file)
        except DumpError as exc:
            _bad(exc, skip_bad, skipped)
    # A shard an index names is read through that index only: each tensor once.
    sharded = {shard.resolve() for shards in indexes.values() for shard in shards.values()}
    for file in files:
        if (_is_index(file) and file not in indexes) or (root.is_dir() and file.resolve() in sharded):
            continue
        entry = entry_for(file)
        try:
            tensors = _tensors_of(file, names)
        except DumpError as exc:
            _bad(exc, skip_bad, skipped)
            continue
        folders = tuple(p.name for p in file.relative_to(base).parents)[:-1]  # innermost first, below base
        relative = file.relative_to(base).as_posix()
        for tensor in sorted(tensors, key=lambda t: _natural(t.info.key)):
            info = tensor.info
            name, kind, step, kind_from, step_from = _decide(tensor, file, folders, relative, entry, rules)
            common = dict(step=step, kind=kind, dtype=info.dtype, path=tensor.path, key=info.key,
                          stored_shape=info.shape, step_from=step_from, kind_from=kind_from)
            if not matrices_only:
                yield GradientRecord(name=name, shape=info.shape, **common)
                continue
            if 0 in info.shape or len(info.shape) < 2:
                skipped[{0: "scalars", 1: "vectors"}.get(len(info.shape), "empty tensors")] += 1
                continue
            for member, shape in matrix_members(info.shape, conv):
                label = name if member is None else f"{name}[{','.join(map(str, member))}]"
                yield GradientRecord(name=label, shape=shape, member=member,
                                     conv=conv if len(info.shape) >= 4 else None, **common)


def load_gradients(path, *, matrices_only: bool = True, skip_bad: bool = False, layout=None, names=None,
                   conv: str = "out") -> GradientListing:
    """Iterate over the matrices of a dump, checkpoint or optimizer state without reading their data.

    Parameters
    ----------
    path : str or path-like
        A file (``.safetensors``, ``.npz``, ``.npy``, ``.pt``/``.pth``, or a sharded checkpoint's
        ``*.safetensors.index.json``) or a directory of them.
    matrices_only : bool
        Yield matrices only (default): 2-D tensors as they are, each member of a 3-D stack
        ``(E, m, n)`` as ``name[e]``, a convolution kernel as ``conv`` says; tensors of fewer
        than two dimensions and empty ones are counted in :attr:`GradientListing.skipped`.
        ``False`` yields every tensor as stored (biases, norms, scalars, stacks, kernels).
    skip_bad : bool
        Skip files (and manifests) that are corrupt, truncated, need pickle, are a bad index
        or an optimizer state of unexpected structure, with a warning naming the file, instead
        of raising.
    layout : str, path-like or mapping, optional
        Rules that set kind, step and name where inference cannot (a ``.toml`` or ``.json``
        file or the parsed mapping; :mod:`matsign.io.layout`).
    names : sequence of str or path-like, optional
        Names of an optimizer state dict's parameters in ``model.named_parameters()`` order:
        a list, a ``.txt`` file (one a line), a ``.json`` list, or a model's ``state_dict()``
        saved with ``torch.save`` (``.pt``; BatchNorm buffers dropped, shapes checked). Without
        it an optimizer state's rows are named by the state's index (``"3"``).
    conv : {"out", "in", "spatial"}
        How a kernel of 4 or more dimensions is read (:mod:`matsign.io.tensors`): ``"out"``
        gives ``(out, in·kh·kw)``.

    Returns
    -------
    GradientListing
        An iterator of :class:`GradientRecord`, with the count of skipped tensors.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DumpError
        For a bad file or layout, when ``skip_bad`` is False; a bad file is raised when the
        iteration reaches it, a bad layout file at once.

    Notes
    -----
    A directory is scanned recursively for ``.safetensors``, ``.npz``, ``.npy``, ``.pt``,
    ``.pth`` and ``*.safetensors.index.json`` files (hidden names skipped), in natural order of
    their relative paths, and each file's tensors in natural order of their keys — the same
    order on every run. A shard named by an index in the scan is read through the index only.
    Only headers are read here (a ``.pt`` file is memory mapped); :meth:`GradientRecord.load`
    reads one tensor. Nothing is unpickled.

    Each tensor's step and kind come, first to last, from the nearest ``manifest.json`` — in the
    file's folder, else in the closest folder above it, above ``path`` too — when its
    ``"files"`` entry (see :func:`write_manifest`) names them; from the first ``layout`` rule that
    matches and sets them; for an optimizer state, from its ``"step"`` entry and the state's entry name
    (``exp_avg`` → momentum, ``exp_avg_sq`` → second moment, ``momentum_buffer`` → momentum);
    else inferred from key and file names (:mod:`matsign.io.layout`: ``step300``,
    ``global_step100``, ``step-000100``, ``"grad/"`` or ``".grad"`` …). A step nothing gives is
    None, a kind ``"unknown"``; ``step_from``/``kind_from`` say which source decided.

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

    Foreign layouts: kind and step from the names, a kernel and a stack read as matrices:

    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.savez(Path(d) / "run_step300_grad.npz", **{"conv.weight": np.ones((8, 3, 5, 5)),
    ...              "experts.w1": np.ones((2, 16, 32)), "conv.bias": np.ones(8)})
    ...     listing = load_gradients(d)
    ...     for r in listing:
    ...         print(r.name, r.kind, r.step, r.shape, r.stored_shape, r.step_from)
    ...     print(dict(listing.skipped))
    conv.weight grad 300 (8, 75) (8, 3, 5, 5) inferred
    experts.w1[0] grad 300 (16, 32) (2, 16, 32) inferred
    experts.w1[1] grad 300 (16, 32) (2, 16, 32) inferred
    {'vectors': 1}
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no dump at {root}")
    if conv not in CONV_LAYOUTS:
        raise ValueError(f"conv must be one of {CONV_LAYOUTS}, got {conv!r}")
    rules = [] if layout is None else read_layout(layout)
    parameter_names = _parameter_names(names)
    skipped = Counter()
    return GradientListing(
        _records(root, bool(matrices_only), bool(skip_bad), rules, parameter_names, conv, skipped), skipped
    )
