"""Packaging: the declared metadata matches the files, the interpreter and the imports; figures
are written reproducibly so a clean checkout stays clean after the README's first command."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "matsign"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

#: Import names whose distribution is called otherwise (CUDA-specific CuPy wheels are "cupy").
DISTRIBUTION_OF = {"cupyx": "cupy", "distributed": "dask", "sklearn": "scikit-learn"}

#: Subpackages that need an extra at import time, and that extra.
NEEDS_EXTRA = {"recorder": "torch"}


def _distribution(requirement: str) -> str:
    """The canonical distribution a requirement names, CUDA builds of CuPy counted as "cupy"."""
    return re.sub(r"-cuda\d+x$", "", canonicalize_name(Requirement(requirement).name))


def _provided(requirements) -> set[str]:
    return {_distribution(r) for r in requirements}


def _imported(node) -> list[str]:
    """Top-level names of the third-party modules one import statement brings in."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
        names = [node.module]
    else:
        return []
    roots = {name.split(".")[0] for name in names}
    return sorted(r for r in roots if r not in sys.stdlib_module_names and r not in {"matsign", "__future__"})


def _module_level(tree: ast.Module):
    """Statements run on import: the module body and the bodies of its if/try blocks."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, (ast.If, ast.Try)):
            pending += node.body + node.orelse + getattr(node, "finalbody", [])
            pending += [statement for handler in getattr(node, "handlers", []) for statement in handler.body]


def _imports(*, module_level: bool) -> dict[str, set[str]]:
    """``{distribution: {module paths}}`` of every third-party import in the package."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        nodes = _module_level(tree) if module_level else ast.walk(tree)
        for node in nodes:
            for name in _imported(node):
                distribution = canonicalize_name(DISTRIBUTION_OF.get(name, name))
                found.setdefault(distribution, set()).add(str(path.relative_to(ROOT)))
    return found


def test_license_file_is_the_mit_license_the_metadata_declares():
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    assert not any("License ::" in c for c in PROJECT["classifiers"]), "PEP 639 forbids license classifiers"


def test_requires_python_admits_this_interpreter_and_tomllib():
    spec = SpecifierSet(PROJECT["requires-python"])
    running = ".".join(map(str, sys.version_info[:3]))
    assert spec.contains(running), f"requires-python {spec} excludes the running Python {running}"
    assert not spec.contains("3.10"), "matsign imports tomllib (Python 3.11+)"


def test_module_level_imports_are_core_dependencies():
    core = _provided(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    for distribution, paths in _imports(module_level=True).items():
        for path in paths:
            subpackage = Path(path).parts[1]
            if subpackage in NEEDS_EXTRA:
                declared = core | _provided(extras[NEEDS_EXTRA[subpackage]])
                assert distribution in declared, f"{path} imports {distribution}, not in extra {NEEDS_EXTRA[subpackage]!r}"
            else:
                assert distribution in core, f"{path} imports {distribution} on import; not a core dependency"


def test_every_import_is_declared_somewhere():
    declared = _provided(PROJECT["dependencies"]).union(
        *(_provided(r for r in reqs if not r.startswith("matsign[")) for reqs in PROJECT["optional-dependencies"].values()))
    undeclared = {d: sorted(p) for d, p in _imports(module_level=False).items() if d not in declared}
    assert not undeclared, f"imported but declared neither as a dependency nor in an extra: {undeclared}"


def test_io_extra_holds_only_what_the_package_imports():
    imported = set(_imports(module_level=False))
    for distribution in _provided(PROJECT["optional-dependencies"]["io"]):
        assert distribution in imported, f"the io extra declares {distribution}, which matsign never imports"


def test_py_typed_ships_as_package_data():
    assert (PACKAGE / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["matsign"]


def test_citation_and_changelog_name_this_version():
    citation = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(r"^cff-version: 1\.2\.0$", citation, re.M)
    assert re.search(rf"^version: {re.escape(PROJECT['version'])}$", citation, re.M)
    assert re.search(rf"^license: {PROJECT['license']}$", citation, re.M)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog and f"## [{PROJECT['version']}]" in changelog


def test_saving_a_figure_twice_gives_the_same_bytes(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from matsign.plots import save

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([1, 2, 3], [1, 4, 9], label="x²")
    for i, epoch in enumerate(("0", "2000000000")):  # a creation date, if written, would differ
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        save(fig, tmp_path / str(i) / "figure")
    for suffix in (".png", ".pdf"):
        first, second = ((tmp_path / str(i) / "figure").with_suffix(suffix).read_bytes() for i in (0, 1))
        assert first == second, f"two saves of one figure give different {suffix} files"
        assert b"Matplotlib" not in first and b"matplotlib" not in first, f"{suffix} names the matplotlib version"
    assert b"CreationDate" not in (tmp_path / "0" / "figure.pdf").read_bytes()
