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
