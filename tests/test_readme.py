"""README.md's commands are the ones that work: the quick start (a virtual environment first, as Debian and
Ubuntu require; exactly two commands; the second is what CI runs) and the "In your own CI" lines, run from an
empty folder against the Node example connector until the suite says PASS."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ._require import require
from .conftest import ROOT
from .documented import copy_node_example, free_port, marked_blocks, run_shell

README = ROOT / "README.md"


def _quick_start_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quick start"):text.index("## Documentation")]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the quick start has a sh block"
    return [line for line in block[1].splitlines() if line.strip() and not line.startswith("#")]


def test_the_quick_start_is_two_commands_in_a_virtual_environment():
    first, *rest = _quick_start_commands()
    assert len(rest) == 1, "exactly two commands"
    assert first == "python3 -m venv .venv && . .venv/bin/activate && python3 -m pip install -e . && s24kit demo"
    assert rest[0].startswith(". .venv/bin/activate && python3 -m pip install"), "pip only inside the venv"


def test_readme_test_command_is_what_ci_runs():
    test_command = _quick_start_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pytest" in test_command and test_command in ci.splitlines()
    assert ci.index("python3 -m venv .venv") < ci.index(test_command)


def test_readme_names_the_installs_for_the_command_alone():
    text = README.read_text(encoding="utf-8")
    assert "pipx install ." in text and "uv tool install ." in text and "python3-venv" in text


def test_the_readme_ci_lines_pass_from_an_empty_folder(tmp_path: Path):
    require(shutil.which("node"), "node is not installed (Debian: apt install nodejs)")
    [block] = marked_blocks(README, "readme-ci")
    copy_node_example(tmp_path)  # the vendor's repository: its connector and nothing else
    result = run_shell(block, tmp_path, port=free_port())
    assert result.returncode == 0, result.stdout[-4000:]
    assert (tmp_path / "report" / "junit.xml").is_file() and (tmp_path / "report" / "report.html").is_file()
    assert "warning: a new test PKI" not in result.stdout and "경고: 시험 PKI를 방금" not in result.stdout
    assert re.search(r"\d+ passed", result.stdout)
