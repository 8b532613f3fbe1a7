"""Imports point one way (docs/architecture.md, "Layers"), with no cycle, lazy imports included."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skinbench"

#: Layer of each module (by the longest matching prefix) and the layers it may import.
LAYERS = {
    "leaf": ("skinbench.version", "skinbench.classes", "skinbench.errors", "skinbench.io", "skinbench.paths",
             "skinbench.console", "skinbench.registry", "skinbench.catalogue", "skinbench.studies", "skinbench.records", "skinbench.gpu_bench"),
    "settings": ("skinbench.config", "skinbench.spec"),
    "data": ("skinbench.data",),
    "models": ("skinbench.models",),
    "eval": ("skinbench.eval",),
    "train": ("skinbench.train", "skinbench.benchmark"),
    "report": ("skinbench.report",),
    "deploy": ("skinbench.deploy",),
    "api": ("skinbench", "skinbench.api"),
    "commands": ("skinbench.commands",),
    "cli": ("skinbench.cli", "skinbench.__main__"),
}
ALLOWED = {
    "leaf": {"leaf"},
    "settings": {"leaf"},
    "data": {"leaf", "settings", "data"},
    "models": {"leaf", "settings", "models"},
    "eval": {"leaf", "eval"},
    "train": {"leaf", "settings", "data", "models", "eval", "train"},
    "report": {"leaf", "settings", "eval", "report"},
    "deploy": {"leaf", "settings", "data", "models", "eval", "train", "deploy"},
    "api": {"leaf", "settings", "data", "models", "eval", "train", "report", "deploy", "api"},
    "commands": {"leaf", "settings", "data", "models", "eval", "train", "report", "deploy", "api", "commands"},
    "cli": {"leaf", "commands", "cli"},
}
HEAVY = ("keras", "tensorflow", "jax")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    matches = [(len(prefix), layer) for layer, prefixes in LAYERS.items() for prefix in prefixes
               if module == prefix or (prefix != "skinbench" and module.startswith(prefix + "."))]
    assert matches, f"{module} belongs to no layer; add it to LAYERS and docs/architecture.md"
    return max(matches)[1]


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The skinbench modules ``path`` imports anywhere in its body (``from skinbench import x`` names x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("skinbench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("skinbench"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}


def test_every_import_follows_the_layers() -> None:
    wrong = [
        f"{module} ({_layer(module)}) imports {target} ({_layer(target)})"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) not in ALLOWED[_layer(module)]
    ]
    assert wrong == []


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                return [*path, module, target]
            if state.get(target) is None and (cycle := visit(target, [*path, module])):
                return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if state.get(module) is None:
            cycle = visit(module, [])
            assert cycle is None, " -> ".join(cycle[cycle.index(cycle[-1]):])


def test_the_checks_catch_a_wrong_import(tmp_path: Path) -> None:
    """The parser sees lazy imports and ``from skinbench import x`` (so the tests above can fail)."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from skinbench import config\n    import skinbench.report.tables\n")
    found = _imports(source, {"skinbench.config", "skinbench.report.tables"})
    assert found == {"skinbench.config", "skinbench.report.tables"}
    assert _layer("skinbench.report.tables") not in ALLOWED[_layer("skinbench.models.build")]


@pytest.mark.parametrize("module", ["skinbench.config", "skinbench.catalogue", "skinbench.records", "skinbench.cli"])
def test_light_modules_import_no_backend(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
