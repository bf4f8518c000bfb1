"""The package's layers (README, "Where things live"): a module imports only from its own layer or
the layers below it, so each layer can be read, tested and replaced without the ones above."""

import ast
from pathlib import Path

import pytest

#: Lowest first; a top-level name of the package → its layer.
LAYERS = [
    {"_backend"},
    {"registry", "flops", "prediction"},
    {"spectral", "metrics", "synthetic", "io"},
    {"exact"},
    {"lowrank", "bounds"},
    {"transforms"},
    {"updates"},
    {"experiments", "plots", "recorder"},
    {"cli", "__main__"},
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}
PACKAGE = Path(__file__).parents[1] / "matsign"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def _component(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_components(tree) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "matsign" else [])
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "matsign" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_module_belongs_to_a_layer():
    assert {_component(p) for p in MODULES} <= set(LAYER)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_a_module_imports_only_its_layer_and_below(path):
    own = LAYER[_component(path)]
    imported = _imported_components(ast.parse(path.read_text(encoding="utf-8")))
    above = sorted(name for name in imported if LAYER.get(name, -1) > own)
    assert not above, f"{path.name} (layer {own}) imports {above} from a higher layer"


def test_the_check_sees_an_upward_import():
    tree = ast.parse("from matsign.experiments.engine import sweep\nimport matsign.cli\nfrom matsign import updates")
    assert _imported_components(tree) == {"experiments", "cli", "updates"}
