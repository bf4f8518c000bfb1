"""Print the declared minimum versions as exact pins, one per line, for the minimum-versions job.

Usage: ``python .ci/floors.py [EXTRA ...]`` prints ``name==floor`` for every core dependency
and for the requirements of each named extra (references to ``matsign[...]`` are skipped). A
requirement without a ``>=`` floor is an error that names it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def floors(extras: list[str]) -> list[str]:
    """``name==version`` for the core dependencies and the given extras of ``pyproject.toml``."""
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text("utf-8"))["project"]
    unknown = [e for e in extras if e not in project["optional-dependencies"]]
    if unknown:
        raise SystemExit(f"floors.py: no extra {unknown[0]!r} in pyproject.toml")
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += [r for r in project["optional-dependencies"][extra] if not r.startswith("matsign[")]
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9._\[\]-]+)>=([0-9][0-9.]*)", requirement.replace(" ", ""))
        if match is None:
            raise SystemExit(f"floors.py: requirement {requirement!r} has no plain '>=' floor to pin")
        pins.append(f"{match[1]}=={match[2]}")
    return pins


if __name__ == "__main__":
    print("\n".join(floors(sys.argv[1:])))
