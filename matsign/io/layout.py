"""What a tensor is, from names: its parameter name, kind and step, inferred or set by the user.

**Inference.** A tensor's key and the name of its file say a lot in the layouts other tools
write; this module reads

- the *step* from a token ``step300``, ``step_000040``, ``step-000100`` or ``global_step100``
  (any case, between separators ``. _ / -`` or at an end) in the key, else in the file name,
  else in the names of the folders between the dump's root and the file; a file or folder name
  ending in ``checkpoint-100``, ``ckpt-100`` or a zero-padded ``-000100`` counts too (not
  ``gpt-2``, ``run-2024`` nor a shard's ``-00002-of-00005``);
- the *kind* from a token at the start or end of the key — ``grad``, ``grads``, ``gradient``,
  ``gradients`` → ``"grad"``; ``momentum``, ``momentum_buffer``, ``exp_avg`` and, separated by
  ``.`` or ``/`` only, ``m`` (Muon-style states) → ``"momentum"``; ``exp_avg_sq``,
  ``second_moment`` → ``"second_moment"`` — else from such a token in the file name;
- the *name* as the key with those kind and step tokens and their separators removed
  (``h.0.c_fc.weight.grad`` → ``h.0.c_fc.weight``; ``exp_avg_blocks.3.attn.qkv.weight_step200``
  → ``blocks.3.attn.qkv.weight``).

**Rules.** What inference cannot settle the user sets with a layout: a list of rules, each a
table with ``key`` and/or ``file`` — Python regular expressions that must match the *whole* key,
and the file's path relative to the dump's root (``/``-separated) — and what matching tensors
are: ``kind`` (one of :data:`KINDS`), ``step`` (an integer). A named group ``(?P<name>...)`` in
``key`` gives the parameter's name, a group ``(?P<step>...)`` its step. Of the rules that match
a tensor, the first that sets a field (kind, step, name) decides that field; fields no rule sets
stay inferred. A layout is a TOML file
(``[[rules]]`` tables), a JSON file (``{"rules": [...]}``) or the same data as a mapping::

    [[rules]]
    key = 'opt\\.(?P<name>.+)\\.v'
    kind = "second_moment"

    [[rules]]
    file = 'run7/.*'
    step = 700
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from matsign.io.errors import DumpError
from matsign.io.formats import parse_json

__all__ = ["KINDS", "Inferred", "Rule", "apply_rules", "infer", "kind_of_token", "read_layout", "step_in_name"]

#: What a tensor can be: a gradient, a momentum (first moment) or a second moment.
KINDS = ("grad", "momentum", "second_moment")

# Key tokens naming a kind, longest first so "exp_avg_sq" is not read as "exp_avg" + "_sq".
_KIND_TOKENS = {
    "momentum_buffer": "momentum",
    "second_moment": "second_moment",
    "exp_avg_sq": "second_moment",
    "gradients": "grad",
    "gradient": "grad",
    "momentum": "momentum",
    "exp_avg": "momentum",
    "grads": "grad",
    "grad": "grad",
}
_SEPARATORS = "._/-"
# "m" names Muon's momentum only as a whole "."- or "/"-separated part: "_m" ends many names.
_SHORT_TOKENS = {"m": "momentum"}
_STEP = re.compile(r"(?<![^._/\-])(?:global_?)?step[-_]?(\d+)(?![^._/\-])", re.IGNORECASE)
# "checkpoint-100", "ckpt-7", "run-000100" (zero-padded); not "gpt-2", "run-2024", nor the "-00002"
# of a shard's "model-00002-of-00005".
_TRAILING_NUMBER = re.compile(r"(?:(?<=checkpoint)|(?<=ckpt))-(\d+)$|(?<!-of)-(0\d{3,})$", re.IGNORECASE)


def kind_of_token(token: str) -> str | None:
    """The kind a token names (``"exp_avg"`` → ``"momentum"``), None for any other token.

    Examples
    --------
    >>> kind_of_token("exp_avg_sq"), kind_of_token("momentum_buffer"), kind_of_token("weight")
    ('second_moment', 'momentum', None)
    """
    return _KIND_TOKENS.get(token) or _SHORT_TOKENS.get(token)


def _remove(text: str, start: int, end: int) -> str:
    """``text`` without ``text[start:end]`` and the separators around it."""
    left, right = text[:start].rstrip(_SEPARATORS), text[end:].lstrip(_SEPARATORS)
    if left and right:
        return left + text[len(left)] + right
    return left or right


def step_in_name(text: str, *, trailing: bool = False) -> int | None:
    """The step a name carries (module docstring), None when it carries none.

    Parameters
    ----------
    text : str
        A key, or a file or folder name without its suffix.
    trailing : bool
        Also read a trailing ``checkpoint-100``, ``ckpt-100`` or zero-padded ``-000100``: file and
        folder names, not keys.

    Examples
    --------
    >>> [step_in_name(t) for t in ("gpt_stdlib_step300_grad", "step_000040", "global_step100", "steps")]
    [300, 40, 100, None]
    >>> [step_in_name(t, trailing=True) for t in ("checkpoint-100", "run-000100", "gpt-2", "model-00001-of-00002")]
    [100, 100, None, None]
    """
    match = _STEP.search(text)
    if match:
        return int(match.group(1))
    if trailing:
        match = _TRAILING_NUMBER.search(text)
        if match:
            return int(match.group(1) or match.group(2))
    return None


_TOKENS = "|".join(_KIND_TOKENS)  # longest first: the alternation takes the first that fits
_KIND_PREFIX = re.compile(rf"(?:({_TOKENS})[._/\-]|(m)[./])(.+)", re.DOTALL)
_KIND_SUFFIX = re.compile(rf"(.+?)(?:[._/\-]({_TOKENS})|[./](m))", re.DOTALL)


def _kind_in_key(key: str) -> tuple[str | None, str]:
    """The kind a token at either end of ``key`` names, and ``key`` without that token."""
    match = _KIND_PREFIX.fullmatch(key)
    if match:
        return kind_of_token(match.group(1) or match.group(2)), match.group(3)
    match = _KIND_SUFFIX.fullmatch(key)
    if match:
        return kind_of_token(match.group(2) or match.group(3)), match.group(1)
    return None, key


def _kind_in_file_name(stem: str) -> str | None:
    """The kind a ``_``/``.``/``-``-separated token (or token run) of a file name names."""
    parts = re.split(r"[._\-]", stem.lower())
    for size in (3, 2, 1):
        for i in range(len(parts) - size + 1):
            kind = _KIND_TOKENS.get("_".join(parts[i : i + size]))
            if kind:
                return kind
    return None


def _file_stem(path: Path) -> str:
    """A file's name without its format suffix (``model.safetensors.index.json`` → ``model``)."""
    if path.name.endswith(".safetensors.index.json"):
        return path.name[: -len(".safetensors.index.json")]
    return path.stem


@dataclass(frozen=True)
class Inferred:
    """What names say about one tensor (None where they say nothing)."""

    name: str
    kind: str | None
    step: int | None


def infer(key: str, file: Path, folders: tuple[str, ...] = ()) -> Inferred:
    """Name, kind and step of the tensor ``key`` of ``file`` from names alone (module docstring).

    Parameters
    ----------
    key : str
        The tensor's key in its file.
    file : pathlib.Path
        The file (only its name is read).
    folders : tuple of str
        Names of the folders between the dump's root and the file, innermost first.

    Examples
    --------
    >>> from pathlib import Path
    >>> infer("h.0.c_fc.weight.grad", Path("gpt_stdlib_step300_grad.safetensors"))
    Inferred(name='h.0.c_fc.weight', kind='grad', step=300)
    >>> infer("exp_avg_blocks.3.attn.qkv.weight_step200", Path("exp_avg_blocks.3.attn.qkv.weight_step200.npy"))
    Inferred(name='blocks.3.attn.qkv.weight', kind='momentum', step=200)
    >>> infer("grad/w", Path("step-000010.safetensors"))
    Inferred(name='w', kind='grad', step=10)
    """
    name, step = key, None
    match = _STEP.search(key)
    if match:
        step, name = int(match.group(1)), _remove(key, *match.span())
    kind, name = _kind_in_key(name)
    file_kind, file_step = _file_names_say(file.name, folders)
    return Inferred(name or key, file_kind if kind is None else kind, file_step if step is None else step)


@functools.lru_cache(maxsize=64)
def _file_names_say(file_name: str, folders: tuple[str, ...]) -> tuple[str | None, int | None]:
    """Kind and step a file's name (and its folders' names) carry; every tensor of a file asks."""
    stem = _file_stem(Path(file_name))
    step = None
    for candidate in (stem, *folders):
        step = step_in_name(candidate, trailing=True)
        if step is not None:
            break
    return _kind_in_file_name(stem), step


@dataclass(frozen=True)
class Rule:
    """One rule of a layout (module docstring)."""

    key: re.Pattern | None
    file: re.Pattern | None
    kind: str | None
    step: int | None

    def match(self, key: str, relative: str) -> dict | None:
        """What this rule says about tensor ``key`` of the file at ``relative``, None if it does not match."""
        found = {}
        if self.file is not None and not self.file.fullmatch(relative):
            return None
        if self.key is not None:
            match = self.key.fullmatch(key)
            if not match:
                return None
            groups = match.groupdict()
            if groups.get("name"):
                found["name"] = groups["name"]
            if groups.get("step") is not None:
                found["step"] = int(groups["step"])
        if self.kind is not None:
            found["kind"] = self.kind
        if self.step is not None:
            found.setdefault("step", self.step)
        return found


def apply_rules(rules: list[Rule], key: str, relative: str) -> dict:
    r"""Kind, step and name the ``rules`` set for tensor ``key`` of the file at ``relative``: each
    field from the first matching rule that sets it.

    Examples
    --------
    >>> rules = read_layout({"rules": [{"key": r"(?P<name>.+)\.v", "kind": "second_moment"}, {"file": "run7/.*", "step": 7}]})
    >>> apply_rules(rules, "fc.weight.v", "run7/state.npz")
    {'name': 'fc.weight', 'kind': 'second_moment', 'step': 7}
    """
    decided: dict = {}
    for rule in rules:
        for field, value in (rule.match(key, relative) or {}).items():
            decided.setdefault(field, value)
    return decided


def _rule(source: str, i: int, entry) -> Rule:
    where = f"{source}: rule {i + 1}"
    if not isinstance(entry, Mapping):
        raise DumpError(f"{where} must be a table, got {type(entry).__name__}")
    unknown = set(entry) - {"key", "file", "kind", "step"}
    if unknown:
        raise DumpError(f"{where} has unknown fields {sorted(unknown)}; a rule has key, file, kind, step")
    if "key" not in entry and "file" not in entry:
        raise DumpError(f"{where} needs a 'key' or 'file' pattern")
    patterns = {}
    for field in ("key", "file"):
        if field in entry:
            if not isinstance(entry[field], str):
                raise DumpError(f"{where}: {field!r} must be a regular expression string")
            try:
                patterns[field] = re.compile(entry[field])
            except re.error as exc:
                raise DumpError(f"{where}: {field!r} is not a regular expression ({exc})") from None
    if patterns.get("key") is not None and patterns["key"].groupindex.keys() - {"name", "step"}:
        raise DumpError(f"{where}: 'key' may name the groups 'name' and 'step' only")
    kind, step = entry.get("kind"), entry.get("step")
    if kind is not None and kind not in KINDS:
        raise DumpError(f"{where}: kind must be one of {KINDS}, got {kind!r}")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
        raise DumpError(f"{where}: step must be an integer >= 0, got {step!r}")
    return Rule(patterns.get("key"), patterns.get("file"), kind, step)


def read_layout(layout) -> list[Rule]:
    """The rules of a layout: a TOML or JSON file, or a mapping ``{"rules": [...]}``.

    Parameters
    ----------
    layout : str, path-like or mapping
        A ``.toml`` file, a ``.json`` file, or the parsed data.

    Returns
    -------
    list of Rule

    Raises
    ------
    DumpError
        Naming the file, if it cannot be read or parsed, or a rule is malformed.

    Examples
    --------
    >>> rules = read_layout({"rules": [{"key": r"opt\\.(?P<name>.+)\\.v", "kind": "second_moment", "step": 7}]})
    >>> rules[0].match("opt.fc.weight.v", "state.npz")
    {'name': 'fc.weight', 'kind': 'second_moment', 'step': 7}
    """
    if isinstance(layout, Mapping):
        source, data = "layout", layout
    else:
        path = Path(layout)
        source = str(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DumpError(f"{path}: unreadable layout file ({type(exc).__name__})") from None
        if path.suffix == ".toml":
            try:
                data = tomllib.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise DumpError(f"{path}: layout file is not valid TOML ({exc})") from None
        elif path.suffix == ".json":
            data = parse_json(path, raw, "layout file")
        else:
            raise DumpError(f"{path}: a layout file is .toml or .json, not {path.suffix!r}")
    rules = data.get("rules")
    if set(data) != {"rules"} or not isinstance(rules, list):
        raise DumpError(f"{source}: a layout holds exactly one entry, 'rules', a list of rules")
    return [_rule(source, i, entry) for i, entry in enumerate(rules)]
