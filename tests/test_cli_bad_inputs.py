"""Every ``s24kit`` command answers every bad input with one line of stderr in Korean and English naming the
option or file, exit 2 (3 for an unreachable target) — never a traceback, never click's usage block.

The matrix is generated from the commands' own parameters: each file, folder, choice or number parameter of
each command gets the bad values of its kind, so a new option is covered as soon as it exists.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from s24kit.conformance.cli import main
from s24kit.conformance.cli.params import InputFile, InputFolder, InputPaths, OutputFile, OutputFolder
from s24kit.conformance.cli.usage import EXIT_INTERNAL, TRACEBACK_ENV, OneLineCommand, OneLineGroup

from . import tls_servers
from .conftest import generated_scenario

HANGUL = re.compile(r"[가-힣]")


@dataclass(frozen=True)
class Case:
    """A command line, the exit code it must end with, and what its one line must name."""

    argv: tuple[str, ...]
    names: tuple[str, ...]
    code: int = 2

    def __str__(self) -> str:
        return " ".join(("s24kit", *self.argv))


# -- the bad files, in a folder the tests run in -----------------------------------------------------------------

BIG = 51 * 1024 * 1024  # over the 50 MiB limit; written sparse
DEEP = 100_000

#: file name → content (None: the file is made otherwise, see :func:`bad_folder`)
BAD_FILES: dict[str, bytes | None] = {
    "missing.json": None,
    "a-folder": None,
    "a-file/below.json": None,  # a path whose parent is a file: unreachable even for root
    "a-fifo": None,  # not a regular file: reading it would block
    "empty.json": b"",
    "binary.dat": bytes(range(256)) * 4,
    "cp949.json": '{"name": "영수증"}'.encode("cp949"),
    "huge.json": None,
    "deep.json": b"[" * DEEP + b"]" * DEEP,
    "deep.toml": b"a = " + b"[" * DEEP + b"]" * DEEP,
    "long-number.json": b'{"total": ' + b"9" * 5000 + b"}",
    "lone-surrogate.json": b'{"name": "\\ud800"}',
    "duplicate-key.json": b'{"total": 1, "total": 2}',
}
ANY_FILE = ("missing.json", "a-folder", "a-file/below.json", "a-fifo", "empty.json")
TEXT = (*ANY_FILE, "binary.dat", "cp949.json", "huge.json")
JSON = (*TEXT, "deep.json", "long-number.json", "lone-surrogate.json", "duplicate-key.json")
#: what each kind of input parameter must refuse
INPUTS = {"binary": ANY_FILE, "text": TEXT, "json": JSON, "toml": (*TEXT, "deep.toml")}
FOLDERS_IN = ("missing-folder", "a-file", "a-file/below")
# a file where a folder is expected; a folder below a file; a place where even root cannot make a folder
FOLDERS_OUT = ("a-file", "a-file/below", "/proc/s24kit-cannot-write")
FILES_OUT = ("a-folder", "a-file/below.html")


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("bad-inputs")
    for name, content in BAD_FILES.items():
        if content is not None:
            (folder / name).write_bytes(content)
    (folder / "a-folder").mkdir()
    (folder / "a-file").write_text("a file, not a folder", encoding="utf-8")
    with (folder / "huge.json").open("wb") as huge:
        huge.truncate(BIG)
    (folder / "not-a-cert.pem").write_text("not a certificate\n", encoding="utf-8")
    (folder / "state-below-a-file.toml").write_text('state_dir = "a-file/state"\n', encoding="utf-8")
    (folder / "no-documents.json").write_text(json.dumps({"claim_date": "2026-10-20"}), encoding="utf-8")
    (folder / "not-a-report.json").write_text(json.dumps({"profile": "kit-v1"}), encoding="utf-8")
    fifo = folder / "a-fifo"
    os.mkfifo(fifo)
    # A command that wrongly opens the FIFO gets end-of-file from this writer instead of hanging the test.
    threading.Thread(target=_unblock_readers, args=(fifo,), daemon=True).start()
    yield folder


def _unblock_readers(fifo: Path) -> None:
    while fifo.exists():
        with fifo.open("wb"):
            pass


@pytest.fixture
def in_bad_folder(bad_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in the folder of bad files, so that command lines and messages use the short names."""
    monkeypatch.chdir(bad_folder)
    return bad_folder


# -- the matrix, from the commands' parameters -------------------------------------------------------------------

def all_commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """``((), main)``, then every command and subcommand with the words that call it."""
    def walk(group: click.Group, path: tuple[str, ...], ctx: click.Context) -> Iterator:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            yield (*path, name), command
            if isinstance(command, click.Group):
                yield from walk(command, (*path, name), click.Context(command, parent=ctx, info_name=name))

    yield (), main
    yield from walk(main, (), click.Context(main, info_name="s24kit"))


def _name(param: click.Parameter) -> str:
    return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name


def _given(param: click.Parameter, value: str) -> tuple[str, ...]:
    return (_name(param), value) if isinstance(param, click.Option) else (value,)


def _bad_values(param: click.Parameter) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(value, what the line must name) for every bad value of the parameter's kind."""
    kind = param.type
    name = _name(param)
    shown = () if isinstance(kind, InputPaths) else (name,)  # validate names the file, not PATHS
    if isinstance(kind, InputFile | InputPaths):
        for file in INPUTS["json" if isinstance(kind, InputPaths) else kind.fmt]:
            yield file, (*shown, file)
    elif isinstance(kind, InputFolder):
        yield from ((folder, (name, folder)) for folder in FOLDERS_IN)
    elif isinstance(kind, OutputFolder):
        yield from ((folder, (name, folder)) for folder in FOLDERS_OUT)
    elif isinstance(kind, OutputFile):
        yield from ((file, (name, file)) for file in FILES_OUT)
    elif isinstance(kind, click.Choice):
        yield "zz-not-a-choice", (name,)
    elif isinstance(kind, click.IntRange | click.FloatRange):
        if kind.min is not None:
            yield str(kind.min - (0 if kind.min_open else 1)), (name,)
        if kind.max is not None:
            yield str(kind.max + (0 if kind.max_open else 1)), (name,)
        yield "not-a-number", (name,)
        if isinstance(kind, click.FloatRange):
            yield from (("nan", (name,)), ("inf", (name,)))
    elif isinstance(kind, click.DateTime):
        yield from (("2026-02-30", (name,)), ("not-a-date", (name,)))
    elif kind in (click.INT, click.FLOAT):
        yield "not-a-number", (name,)


def generated_cases() -> Iterator[Case]:
    for path, command in all_commands():
        yield Case((*path, "--no-such-option"), ("--no-such-option",))
        if isinstance(command, click.Group):
            yield Case((*path, "no-such-command"), ("no-such-command",))
            if not command.invoke_without_command:  # else the group runs on its own (s24kit console) …
                first = command.list_commands(click.Context(command))[0]
                yield Case(path, (first,))
                continue
            # … and its own options get the bad values like a command's
        params = [p for p in command.params if not getattr(p, "is_eager", False)]
        required = [p for p in params if p.required]
        if required:
            yield Case(path, (_name(required[0]),))
        if not required and not any(isinstance(p, click.Argument) for p in params):
            yield Case((*path, "extra-word"), ("extra-word",))
        for param in params:
            for value, names in _bad_values(param):
                yield Case((*path, *_given(param, value)), names)


#: bad values the parameter types cannot know: URLs, dates, schema names, files that are well formed but wrong
SEMANTIC = [
    Case(("generate", "--out", "new", "--patients", "-5"), ("--patients",)),
    Case(("generate", "--out", "new", "--patients", "ten"), ("--patients",)),
    Case(("generate", "--out", "new", "--from", "2026-02-30"), ("--from",)),
    Case(("validate", "--schema", "nope", "empty.json"), ("--schema",)),
    Case(("check", "--target", "ftp://127.0.0.1:1", "--scenario", "a-folder"), ("--target",)),
    Case(("check", "--target", "https://127.0.0.1:99999", "--scenario", "a-folder"), ("--target",)),
    Case(("check", "--target", "not a url", "--scenario", "a-folder"), ("--target",)),
    Case(("check", "--scenario", "a-folder"), ("--target",)),
    Case(("doctor",), ("https://host:port",)),
    Case(("doctor", "http://127.0.0.1:1"), ("http://127.0.0.1:1",)),
    Case(("doctor", "https://[::1"), ("https://[::1",)),
    Case(("doctor", "--outbound"), ("--relay",)),
    Case(("doctor", "https://127.0.0.1:1", "--health-path", "health"), ("--health-path",)),
    Case(("doctor", "--outbound", "--relay", "https://127.0.0.1:1", "--expect-source", "nope"), ("--expect-source",)),
    Case(("doctor", "https://127.0.0.1:1", "--ca", "not-a-cert.pem"), ("--ca", "not-a-cert.pem")),
    Case(("serve", "--config", "state-below-a-file.toml"), ("state_dir", "a-file")),
    Case(("payout", "explain", "no-documents.json"), ("CLAIM",)),
    Case(("console", "--listen", "localhost"), ("--listen",)),
    Case(("console", "--listen", "127.0.0.1:0"), ("--listen",)),
    Case(("console", "--listen", "999.1.1.1:8470"), ("--listen",)),
    Case(("console", "--database", "mysql://u@h/d"), ("--database",)),
    Case(("console", "--database", "sqlite:///no/such/folder/c.sqlite3"), ("--database",)),
    Case(("console", "--cert", "not-a-cert.pem"), ("--cert", "--key")),
    Case(("console", "--cert", "not-a-cert.pem", "--key", "not-a-cert.pem"), ("--cert", "not-a-cert.pem")),
    Case(("console", "--init", "--username", "Bad Name!", "--state", "console-state"), ("--username",)),
    Case(("report", "render", "not-a-report.json", "--out", "r.html"), ("not-a-report.json",)),
]
CASES = [*generated_cases(), *SEMANTIC]


def assert_one_line(result: Result, code: int, names: tuple[str, ...]) -> None:
    """Exit ``code``; stderr is one line ``오류: … / error: …`` in both languages naming ``names``."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "Usage:" not in result.output, result.output
    [line] = result.stderr.splitlines() or [""]
    assert result.stderr.count("\n") == 1, result.stderr
    korean, _, english = line.partition(" / error: ")
    assert korean.startswith("오류: ") and HANGUL.search(korean) and english, line
    for name in names:
        assert name in korean and name in english, (name, line)


def test_the_matrix_covers_every_kind_of_bad_input():
    ids = [str(case) for case in CASES]
    assert len(ids) == len(set(ids))
    for needle in ("payout explain deep.json", "report render deep.json", "serve --config deep.toml",
                   "demo --state a-file/below", "demo --out a-file", "serve --state a-file/below",
                   "catalogue --family zz-not-a-choice", "check --ca huge.json", "validate a-fifo",
                   "report render cp949.json", "doctor --timeout nan", "generate --out a-file/below",
                   "payout explain --history lone-surrogate.json", "report verify a-folder", "no-such-command"):
        assert any(needle in case for case in ids), needle
    assert len(CASES) > 165


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_bad_command_line_gets_one_line(case: Case, in_bad_folder: Path) -> None:
    result = CliRunner().invoke(main, list(case.argv))
    assert_one_line(result, case.code, case.names)
    assert not (in_bad_folder / "a-file").is_dir() and not (in_bad_folder / "new").exists()


# -- unreachable targets: exit 3 -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "3", "--provider", "99310001", "--provider-type", "31")


def test_check_on_a_port_nobody_listens_on_exits_3(scenario_dir: Path, tmp_path: Path) -> None:
    with tls_servers.closed_port() as port:
        result = CliRunner().invoke(main, ["check", "--target", f"https://127.0.0.1:{port}", "--scenario",
                                           str(scenario_dir), "--state", str(tmp_path / "state"),
                                           "--out", str(tmp_path / "report")])
    assert_one_line(result, 3, (f"127.0.0.1:{port}",))
    assert not (tmp_path / "report").exists()


def test_check_names_the_provider_the_scenario_does_not_hold(scenario_dir: Path, tmp_path: Path) -> None:
    with tls_servers.closed_port() as port:
        result = CliRunner().invoke(main, ["check", "--target", f"https://127.0.0.1:{port}", "--scenario",
                                           str(scenario_dir), "--provider", "99399999", "--state",
                                           str(tmp_path / "state"), "--out", str(tmp_path / "report")])
    assert_one_line(result, 2, ("--provider", "99399999", "99310001"))


def test_doctor_on_a_port_nobody_listens_on_exits_3_with_its_report() -> None:
    with tls_servers.closed_port() as port:
        result = CliRunner().invoke(main, ["doctor", f"https://127.0.0.1:{port}", "--format", "json"])
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["stopped_at"] == "tcp" and not result.stderr


# -- the classes and types every command uses ---------------------------------------------------------------------

KIT_TYPES = (InputFile, InputPaths, InputFolder, OutputFolder, OutputFile)


def test_every_command_and_group_answers_in_one_line():
    for path, command in all_commands():
        kind = OneLineGroup if isinstance(command, click.Group) else OneLineCommand
        assert isinstance(command, kind), path


def test_every_file_or_folder_parameter_uses_a_kit_type():
    """A plain ``click.Path`` or string would skip the careful reader (and this matrix)."""
    for path, command in all_commands():
        for param in command.params:
            looks_like_a_path = isinstance(param.type, click.Path) or param.metavar in ("FILE", "DIR")
            assert not looks_like_a_path or isinstance(param.type, KIT_TYPES), (path, param.name)


@pytest.mark.parametrize("path", [path for path, _ in all_commands()], ids=lambda path: " ".join(("s24kit", *path)))
def test_help_still_works(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.stdout, result.output


# -- the last resort -----------------------------------------------------------------------------------------------

def test_an_unexpected_exception_is_one_line_exit_70_without_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(rule_id: str) -> dict:
        raise KeyError("홍길동 900101")  # the message may quote a person: it is not shown

    monkeypatch.setattr("s24kit.conformance.cli.rules.describe_rule", broken)
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    result = CliRunner().invoke(main, ["rules"])
    assert_one_line(result, EXIT_INTERNAL, ("KeyError", TRACEBACK_ENV))
    assert "홍길동" not in result.output and "900101" not in result.output


def test_the_traceback_is_there_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(rule_id: str) -> dict:
        raise KeyError(rule_id)

    monkeypatch.setattr("s24kit.conformance.cli.rules.describe_rule", broken)
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    result = CliRunner().invoke(main, ["rules"])
    assert isinstance(result.exception, KeyError)
