"""experiments/README.md documents every key the config parser accepts: the top-level keys, those
of a ``[[sweeps]]`` table, of a source entry and of a method entry, and every parameter of every
registered source and method (in the row of its family or method)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from matsign.experiments import config, grid
from matsign.registry import METHODS, SOURCES

SECTION = (Path(__file__).resolve().parents[1] / "experiments" / "README.md").read_text("utf-8")
SECTION = SECTION[SECTION.index("## Every config key"):]

#: Keys every source or method entry may have besides its parameters (read by grid._source_sets
#: and grid._method_sets).
ENTRY_KEYS = ("family", "m", "n", "input_dtype", "name")


def _row(name: str) -> str:
    match = re.search(rf"^\| `{name}` \|.*$", SECTION, flags=re.MULTILINE)
    assert match, f"experiments/README.md has no table row for `{name}`"
    return match[0]


@pytest.mark.parametrize("key", sorted({*config.KEYS, *grid.BLOCK_KEYS, *ENTRY_KEYS}))
def test_structural_key_is_documented(key):
    assert f"`{key}`" in SECTION


@pytest.mark.parametrize("registry", [SOURCES, METHODS], ids=["sources", "methods"])
def test_every_parameter_of_every_source_and_method_is_in_its_row(registry):
    assert registry, "nothing registered"
    for name, declared in registry.items():
        row = _row(name)
        missing = [p for p in declared.params if f"`{p}`" not in row]
        assert not missing, f"experiments/README.md: the row of `{name}` does not name {missing}"
