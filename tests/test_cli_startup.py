"""``s24kit --help`` and every ``s24kit X --help`` answer without loading the kit's engines: the modules a help
loads are counted (a number that does not depend on the machine's speed), and the heavy libraries are named."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from s24kit.conformance.cli import main

#: Libraries a help never needs; each costs tens of milliseconds to import.
HEAVY = ("faker", "jsonschema", "jsonschema_rs", "referencing", "httpx", "starlette", "uvicorn", "cryptography",
         "jinja2", "rich", "locust", "gevent", "yaml", "sqlite3", "asyncio", "psycopg")
#: Modules a help may load beyond the interpreter's own start-up: click, the kit's command line, and the
#: standard modules they use (about 50 for ``s24kit --help``, under 100 for each command today).
MAX_MODULES = 120
_COUNT = """
import json, sys
before = set(sys.modules)
from s24kit.conformance.cli import main
try:
    main([*sys.argv[1:], "--help"], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _paths() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [()]

    def walk(group: click.Group, path: tuple[str, ...], ctx: click.Context) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            found.append((*path, name))
            if isinstance(command, click.Group):
                walk(command, (*path, name), click.Context(command, parent=ctx, info_name=name))

    walk(main, (), click.Context(main, info_name="s24kit"))
    return found


def _loaded_by_help(path: tuple[str, ...]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _COUNT, *path], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


@pytest.mark.parametrize("path", _paths(),
                         ids=lambda path: " ".join(("s24kit", *path, "--help")))
def test_a_help_loads_no_engine(path: tuple[str, ...]) -> None:
    loaded = _loaded_by_help(path)
    heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
    assert not heavy, f"{' '.join(path)} --help loads {heavy}"
    assert len(loaded) <= MAX_MODULES, f"{' '.join(path)} --help loads {len(loaded)} modules"


def test_the_command_list_imports_no_command() -> None:
    loaded = _loaded_by_help(())
    commands = [m for m in loaded if m.startswith("s24kit.conformance.cli.") and not m.endswith(".usage")]
    assert commands == []


def test_the_listed_summaries_are_the_commands_own() -> None:
    """The list of ``s24kit --help`` comes from a table; it must say what each command's own help says."""
    ctx = click.Context(main, info_name="s24kit")
    assert set(main.summaries) == set(main.lazy)
    for name, summary in main.summaries.items():
        command = main.get_command(ctx, name)
        for width in (30, 60, 120, 1000):
            assert click.Command(name, help=summary).get_short_help_str(width) == command.get_short_help_str(width)

