r"""A sweep's grid: matrix sources × methods × parameters × seeds, expanded into cells and checked.

A grid specification is a mapping (usually read from TOML, see :mod:`matsign.experiments.config`)::

    seeds = [0, 1]                       # replicate seeds
    [[sources]]                          # one entry per matrix family
    family = "power_law"
    m = 256
    n = 512
    alpha = [0.5, 1.0]                   # a list is an axis: every value is swept
    [[methods]]                          # one entry per method of matsign.registry.METHODS
    name = "gaussian"
    rank = [8, 32]
    power_iters = [0, 2]

Within an entry, the lists multiply (here 2 × 2 = 4 parameter sets); the grid is every source
set × every method set × every seed. Several such products go in ``[[sweeps]]`` tables, each with
its own ``sources``, ``methods`` and (optionally) ``seeds``, and no other key. A source entry may also give
``input_dtype`` (the precision the matrix is handed to the methods in, default float64).

:func:`build_cells` checks the whole grid before any work starts: unknown sources, methods or
parameters, parameter values the source or method would reject (the source's ``check``,
:meth:`Method.check_params <matsign.registry.Method.check_params>`), empty lists, a ``rank`` (or ``rank + oversample``) above
``min(m, n)``, precisions the backend cannot store, duplicate cells. Each error names the entry, e.g.
``methods[1] (gaussian): rank 300 exceeds min(m, n) = 256 of sources[0] (power_law 256×512)``.

Before that, :func:`check_size` counts the cells and sizes the largest matrix from the
specification alone (nothing is expanded): a grid of more than :data:`MAX_CELLS` cells, or a
matrix over :data:`MEMORY_FRACTION` of the memory available, is refused unless confirmed
(``matsign run --yes``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import numbers
from dataclasses import dataclass

from matsign._backend import ARRAY_DTYPES, LIBRARIES, check_nonnegative_int, check_positive_int
from matsign.experiments.sources import get_source
from matsign.io.formats import available_memory
from matsign.registry import get_method

__all__ = ["Cell", "GridError", "build_cells", "check_size", "estimate"]

#: Precisions each library can hold an input matrix in (16-bit NumPy arithmetic is emulated by
#: methods that take a ``dtype`` parameter, not by the stored input).
STORABLE = {
    "numpy": ("float64", "float32"),
    "torch": ARRAY_DTYPES,
    "cupy": ("float64", "float32", "float16"),
}

#: Columns every cell's coordinates fill, besides the source and method parameters.
COORDINATES = ("source", "m", "n", "input_dtype", "method", "seed", "backend", "device")


class GridError(ValueError):
    """A grid specification that cannot run; the message names the entry to fix."""


def _digest(payload) -> bytes:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).digest()


def _seed_from(payload) -> int:
    """A 63-bit seed from a stable hash of ``payload`` (independent of process, order, workers)."""
    return int.from_bytes(_digest(payload)[:8], "little") >> 1


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a matrix (source, parameters, seed) and a method with parameters.

    ``source_params`` and ``method_params`` are sorted ``(name, value)`` tuples with every
    default filled in, so a cell's identity does not depend on how the config spelled it.
    """

    source: str
    m: int
    n: int
    source_params: tuple
    input_dtype: str
    method: str
    method_params: tuple
    seed: int
    backend: str
    device: str | None

    def _matrix_coordinates(self):
        return {"source": self.source, "m": self.m, "n": self.n, "params": list(self.source_params),
                "seed": self.seed}

    @property
    def key(self) -> str:
        """Stable identifier of the cell (a hash of every coordinate except the device)."""
        payload = {**self._matrix_coordinates(), "input_dtype": self.input_dtype, "method": self.method,
                   "method_params": list(self.method_params), "backend": self.backend}
        return _digest(payload).hex()[:20]

    @property
    def matrix_seed(self) -> int:
        """Seed of the test matrix: from the source coordinates and the replicate seed only, so
        every method, precision and backend sees the same matrix."""
        return _seed_from(self._matrix_coordinates())

    @property
    def method_seed(self) -> int:
        """Seed of the method's own randomness (sketches, sampling): from all coordinates."""
        return _seed_from({"key": self.key})

    @property
    def matrix_id(self) -> tuple:
        """Cells with equal ``matrix_id`` share one matrix (and its exact sign) in a worker."""
        return (self.source, self.m, self.n, self.source_params, self.input_dtype, self.seed,
                self.backend, self.device)

    def coordinates(self) -> dict:
        """Table columns of the cell: the coordinates and both parameter sets."""
        return {"source": self.source, "m": self.m, "n": self.n, **dict(self.source_params),
                "input_dtype": self.input_dtype, "method": self.method, **dict(self.method_params),
                "seed": self.seed, "backend": self.backend, "device": self.device or ""}


def _axes(entry: dict, where: str, fixed: tuple) -> list[dict]:
    """Every combination of the entry's list-valued parameters (keys in ``fixed`` excluded)."""
    names, values = [], []
    for name, value in entry.items():
        if name in fixed:
            continue
        options = value if isinstance(value, list) else [value]
        if not options:
            raise GridError(f"{where}: {name!r} is an empty list; give at least one value")
        names.append(name)
        values.append(options)
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def _integer(check, value, name: str, where: str) -> int:
    """``check(value, name)`` (an integer check of :mod:`matsign._backend`), its error a
    :class:`GridError` naming ``where``."""
    try:
        return check(value, name)
    except ValueError as exc:
        raise GridError(f"{where}: {exc}") from None


def _check_seeds(seeds, where):
    if not isinstance(seeds, list) or not seeds:
        raise GridError(f"{where}: seeds must be a non-empty list of integers, got {seeds!r}")
    seeds = [_integer(check_nonnegative_int, s, "seeds", where) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise GridError(f"{where}: seeds {seeds} repeat a value")
    return seeds


def _entries(block: dict, key: str, where: str) -> list[dict]:
    entries = block.get(key)
    if not isinstance(entries, list) or not entries:
        raise GridError(f"{where}: no {key} given; add at least one [[{key}]] table")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise GridError(f"{where}{key}[{i}] must be a table, got {entry!r}")
    return entries


def _source_sets(entries, where, backend):
    """``(label, source, m, n, params, input_dtype)`` for every parameter set of every entry."""
    out = []
    for i, entry in enumerate(entries):
        label = f"{where}sources[{i}]"
        if "family" not in entry:
            raise GridError(f"{label}: missing 'family' (one of the registered sources)")
        try:
            source = get_source(entry["family"])
        except ValueError as exc:
            raise GridError(f"{label}: {exc}") from None
        label = f"{label} ({source.name})"
        for combo in _axes(entry, label, ("family",)):
            m, n = combo.pop("m", None), combo.pop("n", None)
            if source.shape is not None:
                if m is not None or n is not None:
                    raise GridError(f"{label}: the shape of a {source.name} source comes from its data; remove m and n")
                try:
                    m, n = source.shape(**source.resolve(combo))
                except (ValueError, TypeError, OSError) as exc:
                    raise GridError(f"{label}: {exc}") from None
            m, n = _integer(check_positive_int, m, "m", label), _integer(check_positive_int, n, "n", label)
            input_dtype = combo.pop("input_dtype", "float64")
            if input_dtype not in STORABLE[backend]:
                raise GridError(
                    f"{label}: input_dtype {input_dtype!r} cannot be stored on backend {backend!r} "
                    f"(it holds {', '.join(STORABLE[backend])}); for 16-bit arithmetic on NumPy use a "
                    f"method with a dtype parameter, or --backend torch"
                )
            try:
                params = source.resolve(combo)
                source.check(int(m), int(n), **params)
            except (ValueError, TypeError, OSError) as exc:
                raise GridError(f"{label}: {exc}") from None
            out.append((label, source.name, int(m), int(n), params, input_dtype))
    return out


def _method_sets(entries, where):
    """``(label, name, params)`` for every parameter set of every entry (defaults filled in)."""
    out = []
    for i, entry in enumerate(entries):
        label = f"{where}methods[{i}]"
        if "name" not in entry:
            raise GridError(f"{label}: missing 'name' (one of matsign.registry.METHODS)")
        try:
            method = get_method(entry["name"])
        except ValueError as exc:
            raise GridError(f"{label}: {exc}") from None
        label = f"{label} ({method.name})"
        for combo in _axes(entry, label, ("name",)):
            try:
                params = method.check_params(combo)
            except (ValueError, TypeError) as exc:
                raise GridError(f"{label}: {exc}") from None
            out.append((label, method.name, params))
    return out


def _check_fits(method_label, params, source_label, m, n):
    rank = params.get("rank")
    if rank is None:
        return
    rank = _integer(check_positive_int, rank, "rank", method_label)
    oversample = params.get("oversample", 0)
    width = rank + (oversample if isinstance(oversample, numbers.Integral) else 0)
    what = "rank" if width == rank else "rank + oversample"
    if width > min(m, n):
        raise GridError(
            f"{method_label}: {what} {width} exceeds min(m, n) = {min(m, n)} of {source_label} "
            f"({m}×{n}); lower it or use a larger matrix"
        )


#: Keys a ``[[sweeps]]`` table may have.
BLOCK_KEYS = ("seeds", "sources", "methods")


def _blocks(spec: dict) -> list[tuple[str, dict]]:
    if "sweeps" in spec:
        if not isinstance(spec["sweeps"], list) or not spec["sweeps"]:
            raise GridError("sweeps must be a non-empty list of [[sweeps]] tables")
        stray = [k for k in ("sources", "methods") if k in spec]
        if stray:
            raise GridError(f"give {stray[0]} inside each [[sweeps]] table, not at the top level")
        for i, block in enumerate(spec["sweeps"]):
            if not isinstance(block, dict):
                raise GridError(f"sweeps[{i}] must be a table, got {block!r}")
            unknown = sorted(set(block) - set(BLOCK_KEYS))
            if unknown:
                raise GridError(f"sweeps[{i}]: unknown key {unknown[0]!r}; a [[sweeps]] table has "
                                f"{', '.join(BLOCK_KEYS)}")
        return [(f"sweeps[{i}].", {"seeds": spec.get("seeds"), **block}) for i, block in enumerate(spec["sweeps"])]
    return [("", spec)]


#: Grids with more cells than this are refused unless confirmed.
MAX_CELLS = 100_000

#: A matrix taking more than this fraction of the available memory (in float64) is refused
#: unless confirmed.
MEMORY_FRACTION = 0.25


def _count(entry, fixed) -> int:
    """How many parameter sets a source or method entry expands to."""
    return math.prod(len(v) for k, v in entry.items() if k not in fixed and isinstance(v, list))


def _integers(value) -> list[int]:
    return [v for v in (value if isinstance(value, list) else [value])
            if isinstance(v, numbers.Integral) and not isinstance(v, bool)]


def _tables(block, key) -> list[dict]:
    entries = block.get(key)
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def estimate(spec: dict) -> tuple[int, tuple[int, int, str] | None]:
    """The number of cells of a grid specification and its largest matrix, without expanding it.

    Returns
    -------
    cells : int
        The grid's cell count (duplicates included).
    largest : (m, n, entry) or None
        The shape with the most entries among the sources that give ``m`` and ``n`` (not those
        whose shape comes from their data), and the entry that gives it; None if there is none.

    Examples
    --------
    >>> estimate({"seeds": [0, 1], "sources": [{"family": "power_law", "m": [8, 1000], "n": 16}],
    ...           "methods": [{"name": "gaussian", "rank": [1, 2, 4]}, {"name": "exact_svd"}]})
    (16, (1000, 16, 'sources[0]'))
    """
    cells, largest = 0, None
    for where, block in _blocks(spec):
        seeds = block.get("seeds")
        methods = sum(_count(entry, ("name",)) for entry in _tables(block, "methods"))
        for i, entry in enumerate(_tables(block, "sources")):
            cells += _count(entry, ("family",)) * len(seeds if isinstance(seeds, list) else [seeds]) * methods
            m, n = max(_integers(entry.get("m")), default=0), max(_integers(entry.get("n")), default=0)
            if m * n > (largest[0] * largest[1] if largest else 0):
                largest = (m, n, f"{where}sources[{i}]")
    return cells, largest


def check_size(spec: dict, *, yes: bool = False) -> None:
    """Refuse a grid too large to start unconfirmed (from :func:`estimate`, before any cell is built).

    Parameters
    ----------
    spec : mapping
        The grid specification.
    yes : bool
        Run it anyway: skip the check.

    Raises
    ------
    GridError
        For more than :data:`MAX_CELLS` cells, or a matrix that takes more than
        :data:`MEMORY_FRACTION` of the memory available in float64; the message says how to go on.
    """
    if yes:
        return
    cells, largest = estimate(spec)
    go_on = "pass --yes (yes=True) to run it anyway"
    if cells > MAX_CELLS:
        raise GridError(f"the grid has {cells:,} cells, more than {MAX_CELLS:,}: it would run for long and its "
                        f"cells alone take memory; shorten its lists, or {go_on}")
    available = available_memory()
    if largest is not None and available is not None:
        m, n, where = largest
        if 8 * m * n > MEMORY_FRACTION * available:
            raise GridError(f"{where}: a {m}×{n} matrix takes {8 * m * n / 2**30:.3g} GiB in float64, more than "
                            f"{MEMORY_FRACTION:.0%} of the {available / 2**30:.3g} GiB of memory available; use a "
                            f"smaller matrix, or {go_on}")


def build_cells(spec: dict, *, backend: str = "numpy", device: str | None = None) -> list[Cell]:
    """Expand a grid specification into its cells, in grid order, after checking all of it.

    Parameters
    ----------
    spec : mapping
        ``seeds``, ``sources``, ``methods`` (or ``sweeps``, a list of such mappings), as in the
        module docstring. Other keys (``description``, ...) are ignored here.
    backend : {"numpy", "torch", "cupy"}
        Library the methods run on.
    device : str, optional
        Device on that library (e.g. ``"cuda:0"``); recorded in each row.

    Returns
    -------
    list of Cell
        Ordered by sweep, source entry and its parameters, seed, then method entry and its
        parameters — the order of the final table.

    Raises
    ------
    GridError
        Naming the entry and what to change.

    Examples
    --------
    >>> spec = {"seeds": [0], "sources": [{"family": "power_law", "m": 32, "n": 48}],
    ...         "methods": [{"name": "gaussian", "rank": [4, 8]}, {"name": "exact_svd"}]}
    >>> [(c.method, dict(c.method_params).get("rank")) for c in build_cells(spec)]
    [('gaussian', 4), ('gaussian', 8), ('exact_svd', None)]
    >>> build_cells({**spec, "methods": [{"name": "gaussian", "rank": 40}]})
    Traceback (most recent call last):
    ...
    matsign.experiments.grid.GridError: methods[0] (gaussian): rank 40 exceeds min(m, n) = 32 of sources[0] (power_law) (32×48); lower it or use a larger matrix
    """
    if backend not in LIBRARIES:
        raise GridError(f"backend must be one of {', '.join(LIBRARIES)}, got {backend!r}")
    cells: list[Cell] = []
    seen: dict[str, str] = {}
    for where, block in _blocks(spec):
        seeds = _check_seeds(block.get("seeds"), f"{where}seeds" if where else "seeds")
        sources = _source_sets(_entries(block, "sources", where), where, backend)
        methods = _method_sets(_entries(block, "methods", where), where)
        for s_label, source, m, n, s_params, input_dtype in sources:
            for m_label, _, m_params in methods:
                _check_fits(m_label, m_params, s_label, m, n)
            for seed in seeds:
                for m_label, method, m_params in methods:
                    cell = Cell(source, m, n, tuple(sorted(s_params.items())), input_dtype, method,
                                tuple(sorted(m_params.items())), seed, backend, device)
                    where_from = f"{s_label} × {m_label} × seed {seed}"
                    if cell.key in seen:
                        raise GridError(f"{where_from} repeats the cell of {seen[cell.key]}; remove one")
                    seen[cell.key] = where_from
                    cells.append(cell)
    _check_columns(cells)
    return cells


def _check_columns(cells):
    """A parameter name may not shadow a coordinate column, nor mean a source and a method parameter."""
    for cell in cells:
        source_names, method_names = {k for k, _ in cell.source_params}, {k for k, _ in cell.method_params}
        shadowing = sorted((source_names | method_names) & set(COORDINATES))
        if shadowing:
            raise GridError(
                f"parameter {shadowing[0]!r} of {cell.source} / {cell.method} has the name of a table column"
            )
        shared = sorted(source_names & method_names)
        if shared:
            raise GridError(f"{shared[0]!r} is a parameter of both source {cell.source} and method {cell.method}")
