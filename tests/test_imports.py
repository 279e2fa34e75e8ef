"""The project's modules import one way: no import cycle, and layers conformance → simulator → schemas.

The import graph is read from the source with ``ast`` (nothing is imported). Every ``import`` counts: at
module level, under ``if TYPE_CHECKING:`` and inside functions. Decision: a function-level import is there
to load a module late (start-up time of the command line), not to hide a cycle — a cycle through it still
means two modules that each need the other, and a folder that cannot be read top-down. So it is a cycle
like any other; the only exceptions are listed in ``KNOWN_CYCLES`` with the reason and who removes them.
Imports by name at run time (``importlib.import_module``) are not edges: they load plug-ins (the check
modules the runner registers) and are not module dependencies.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from .conftest import ROOT

#: Layers from the bottom: a module may import its own layer and those below, never one above.
LAYERS = ("s24kit.fixtures", "s24kit.schemas", "s24kit.simulator", "s24kit.conformance")

#: Cycles allowed for now, each with why; the test names any that has gone so it can be removed here.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def _modules() -> dict[str, Path]:
    """Every module of the installed packages (pyproject's package-dir), by dotted name."""
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    found: dict[str, Path] = {}
    for package, folder in package_dirs.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The project modules ``name`` imports, with the line of each import."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1], node.module or ""]).strip(".") \
                if node.level else node.module or ""
            # ``from . import x`` imports the module x when there is one, else a name of the package.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target in modules and target != name:
                yield target, node.lineno


@cache
def _graph() -> dict[str, dict[str, int]]:
    modules = _modules()
    return {name: dict(_imports(name, path, modules)) for name, path in modules.items()}


def _cycles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _describe(component: frozenset[str], graph: dict[str, dict[str, int]]) -> str:
    edges = [f"{a} → {b} (line {line})" for a in sorted(component) for b, line in graph[a].items() if b in component]
    return "; ".join(edges)


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles = [c for c in _cycles(graph) if c not in KNOWN_CYCLES]
    assert not cycles, "import cycles (make the lower module not import the upper one):\n" + "\n".join(
        _describe(c, graph) for c in cycles)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}, "e": {}}
    assert _cycles(graph) == [frozenset({"a", "b", "c"})]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


def test_function_level_and_type_checking_imports_are_edges() -> None:
    graph = _graph()
    # endpoint.py once imported the checks inside run_tls_checks; today every module of the TLS package
    # reaches the endpoint's dataclass, which lives at the bottom (target.py).
    assert "s24kit.conformance.tls.target" in graph["s24kit.conformance.tls.handshake"]
    assert "s24kit.conformance.checks.registry" in graph["s24kit.conformance.session"]  # a function-level import


def test_layers_import_downwards_only() -> None:
    def layer(module: str) -> int:
        return next(i for i, top in enumerate(LAYERS) if module == top or module.startswith(top + "."))

    upward = [f"{a} → {b} (line {line})" for a, targets in _graph().items() for b, line in targets.items()
              if layer(b) > layer(a)]
    assert not upward, "imports against the layers conformance → simulator → schemas → fixtures:\n" + "\n".join(upward)


def test_known_cycles_still_exist() -> None:
    """An allowed cycle that has been untangled is removed from KNOWN_CYCLES, so it cannot come back unseen."""
    gone = [", ".join(sorted(c)) for c in KNOWN_CYCLES if c not in _cycles(_graph())]
    assert not gone, f"no longer a cycle, remove from KNOWN_CYCLES: {gone}"
