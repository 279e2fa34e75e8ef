"""The installed package names match the folders of the layers of docs/architecture.md §2."""

from __future__ import annotations

import tomllib

from .conftest import ROOT

LAYERS = {"schemas": "s24kit.schemas", "simulator": "s24kit.simulator", "conformance": "s24kit.conformance",
          "fixtures": "s24kit.fixtures"}


def test_every_package_folder_is_declared():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, package in LAYERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert found == declared


def test_layers_import_one_way_only():
    """schemas imports nothing of the kit above it; simulator never imports conformance."""
    forbidden = {"schemas": ("..simulator", "..conformance", "s24kit.simulator", "s24kit.conformance"),
                 "simulator": ("..conformance", "...conformance", "s24kit.conformance")}
    for folder, needles in forbidden.items():
        for source in (ROOT / folder).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            for needle in needles:
                assert f"from {needle}" not in text and f"import {needle}" not in text, (source, needle)


def test_pytest_plugin_and_console_script_are_registered():
    from importlib.metadata import entry_points

    assert any(ep.value == "s24kit.conformance.plugin" for ep in entry_points(group="pytest11"))
    assert any(ep.value == "s24kit.conformance.cli:main" for ep in entry_points(group="console_scripts"))


def test_the_console_ships_its_migrations_templates_and_static_files():
    """Alembic reads the revisions as files at run time and the pages need their templates: each file under
    conformance/console/ is either a module of a declared package or matched by a package-data pattern."""
    from fnmatch import fnmatch

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    data = config["package-data"]
    console = ROOT / "conformance" / "console"
    assert (console / "migrations" / "versions" / "0001_register.py").is_file()
    for path in console.rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(console)
        if path.suffix == ".py":
            package = ".".join(["s24kit.conformance.console", *relative.parent.parts])
            assert package.rstrip(".") in declared, relative
            continue
        patterns = [*data["*"], *data.get("s24kit.conformance.console", [])]
        assert any(fnmatch(str(relative), pattern) for pattern in patterns), relative
