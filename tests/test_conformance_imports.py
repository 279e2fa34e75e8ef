"""The suite's top-level modules import one way: no circle among them, not even through an import in a function."""

from __future__ import annotations

import ast
from pathlib import Path

import s24kit.conformance as conformance

FOLDER = Path(conformance.__file__).parent


def _imports(path: Path) -> set[str]:
    """The sibling modules ``path`` imports (``from .session import …``, ``from . import runner``), anywhere."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found |= {alias.name for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {p.stem for p in FOLDER.glob("*.py")}
    return {p.stem: _imports(p) & modules for p in FOLDER.glob("*.py")}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (the modules in order), or None."""
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == 1:
                return [*path[path.index(imported):], imported] if imported in path else [module, imported]
            if imported not in state and (circle := visit(imported, [*path, imported])):
                return circle
        state[module] = 2
        return None

    for start in sorted(graph):
        if start not in state and (circle := visit(start, [start])):
            return circle
    return None


def test_the_session_does_not_know_the_agent_session():
    graph = _graph()
    assert "session" in graph["agent_session"] and "agent_session" not in graph["session"]


def test_no_import_circle_among_the_suites_modules():
    assert _circle(_graph()) is None


def test_a_circle_is_found():
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None
