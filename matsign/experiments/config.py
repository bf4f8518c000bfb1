"""Experiment configs: TOML files holding a sweep's grid, with an optional ``[quick]`` variant.

A config has the keys of a grid (see :mod:`matsign.experiments.grid`) and two more:

- ``description`` — one line, shown by ``matsign list``;
- ``[quick]`` — a table whose keys replace the top-level ones under ``--quick`` (a smaller grid
  that finishes in seconds), e.g. ``[quick] seeds = [0]`` and ``[[quick.methods]]`` entries.

Each named experiment ships its default config as ``matsign/experiments/configs/NAME.toml``;
``matsign run NAME --config FILE`` runs the experiment's analysis and figures on another grid,
written as ``NAME-FILE.*`` (see :func:`~matsign.experiments.runner.output_stem`); a grid the
experiment cannot analyse (e.g. a method without the ``rank`` that ``error-vs-rank`` plots
against) is refused before any work (:meth:`~matsign.experiments.runner.Experiment.check`).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

__all__ = ["ConfigError", "default_config", "load_config"]

#: Keys a config may have at the top level.
KEYS = ("description", "seeds", "sources", "methods", "sweeps", "quick")


class ConfigError(ValueError):
    """A config file that cannot be read; the message names the file and what to fix."""


def default_config(name: str) -> Path:
    """Path of the default config of experiment ``name`` (shipped with the package)."""
    return Path(str(resources.files("matsign.experiments") / "configs" / f"{name}.toml"))


def load_config(path, *, quick: bool = False) -> dict:
    """Read a config file; with ``quick``, apply its ``[quick]`` table.

    Parameters
    ----------
    path : str or path-like
        The TOML file.
    quick : bool
        Replace the top-level keys by those of the ``[quick]`` table (a ``sweeps`` list there
        replaces ``sources`` and ``methods``, and the other way round).

    Returns
    -------
    dict
        The grid spec for :func:`~matsign.experiments.grid.build_cells`.

    Raises
    ------
    ConfigError
        For a missing or unreadable file, one that is not UTF-8 text, invalid TOML, an unknown
        key or a missing ``[quick]`` table.

    Examples
    --------
    >>> spec = load_config(default_config("error-vs-rank"), quick=True)
    >>> spec["seeds"], sorted(spec)
    ([0], ['description', 'methods', 'seeds', 'sources'])
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            spec = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not a text file (not UTF-8 at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise ConfigError(f"config {path}: unknown key {unknown[0]!r}; a config has {', '.join(KEYS)}")
    variant = spec.pop("quick", None)
    if quick:
        if not isinstance(variant, dict):
            raise ConfigError(f"config {path} has no [quick] table; run without --quick or add one")
        bad = sorted(set(variant) - set(KEYS) - {"quick"})
        if bad or "quick" in variant:
            raise ConfigError(f"config {path}: [quick] cannot set {(bad or ['quick'])[0]!r}")
        if "sweeps" in variant:
            spec.pop("sources", None)
            spec.pop("methods", None)
        if "sources" in variant or "methods" in variant:
            spec.pop("sweeps", None)
        spec.update(variant)
    return spec
