"""The codebase's shape, checked: no import cycle among tierscope's modules (imports inside functions
count too, so none can hide one), no product module over 400 lines, a collector with at most ten
entries at its top, and a docstring on every collector subpackage saying what it owns."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"core": "tierscope", "collector": "tierscope.collector", "instrumentation": "tierscope.instrumentation",
            "dashboard": "tierscope.dashboard", "sql": "tierscope.sql"}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            if folder == "core" and parts and parts[0] in ("collector", "instrumentation", "dashboard", "sql"):
                continue
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every tierscope module `name` imports, at any depth of the file."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    found = modules()
    graph = {name: imports_of(name, path, set(found)) for name, path in found.items()}
    assert sum(len(v) for v in graph.values()) > 100  # the walk sees the imports at all
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_over_400_lines(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by concept"


def test_the_collector_has_at_most_ten_entries_at_its_top():
    entries = sorted(p.name for p in (ROOT / "collector").iterdir() if p.name != "__pycache__")
    assert len(entries) <= 10, entries


@pytest.mark.parametrize("package", sorted(p.name for p in (ROOT / "collector").iterdir() if (p / "__init__.py").exists()))
def test_every_collector_subpackage_says_what_it_owns(package):
    doc = ast.get_docstring(ast.parse((ROOT / "collector" / package / "__init__.py").read_text()))
    assert doc and "import" in doc, f"collector/{package}/__init__.py needs a docstring: what it owns, what it may import"


def test_every_package_folder_ships_in_the_wheel():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert folders <= listed, sorted(folders - listed)


def test_every_exception_class_lives_in_tierscope_errors():
    builtin = {"Exception", "ValueError", "RuntimeError", "PermissionError", "OSError", "LookupError", "TypeError"}
    known = {node.name for node in ast.walk(ast.parse((ROOT / "core" / "errors.py").read_text()))
             if isinstance(node, ast.ClassDef)}
    elsewhere = []
    for name, path in modules().items():
        if path == ROOT / "core" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & (builtin | known):
                    elsewhere.append(f"{name}.{node.name}")
    assert elsewhere == []
