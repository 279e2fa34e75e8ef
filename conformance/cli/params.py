"""Parameter types of the ``s24kit`` commands for files, folders and numbers, checked while the command line
is parsed: a bad value ends the command with one line naming the option, the file and the fix (exit 2).

Every file or folder option of every command uses one of these, so the bad-input tests find them by type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ...simulator.scenario_files import resolve
from . import files
from .usage import OneLineError

#: The state folder of ``s24kit serve`` (test CA, certificates, databases), default of every --state.
DEFAULT_STATE = Path(".s24kit")


@dataclass(frozen=True, slots=True)
class Loaded:
    """A JSON or TOML file read and parsed while the command line was parsed."""

    path: Path
    value: Any


def option_name(param: click.Parameter | None) -> str:
    """``--policy`` for an option, ``CLAIM`` for an argument."""
    if param is None:
        return "value"
    return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name


def refuse(option: str, path: Path | str, problem: files.FileProblem) -> OneLineError:
    """One line: which option, which file, what is wrong and the fix."""
    return OneLineError(f"{option} {path}: {problem.message_ko}", f"{option} {path}: {problem.message_en}")


class InputFile(click.ParamType):
    """A file to read. ``fmt`` ``json`` / ``toml``: read and parsed now, the command gets :class:`Loaded`;
    ``text`` (PEM …): UTF-8 text; ``binary`` (a zip read in a streaming way, no size limit): a non-empty
    regular file. The other kinds get the :class:`Path`."""

    name = "file"

    def __init__(self, fmt: str = "text") -> None:
        if fmt not in ("json", "toml", "text", "binary"):
            raise ValueError(f"unknown input format {fmt!r}")
        self.fmt = fmt

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Loaded):
            return value
        path = Path(value)
        try:
            if self.fmt == "binary":
                files.check_file(path, max_bytes=None)
                return path
            text = files.read_text(path)
            if self.fmt == "json":
                return Loaded(path, files.parse_json(text))
            if self.fmt == "toml":
                return Loaded(path, files.parse_toml(text))
        except files.FileProblem as problem:
            raise refuse(option_name(param), path, problem) from None
        return path


class InputPaths(click.ParamType):
    """Files or folders of files that the command reads itself, reporting each unusable one on its own line
    (``s24kit validate``). A scenario's file named plainly is read compressed when only its ``.gz`` exists
    (``s24kit generate --compress``), as every other reader of scenarios does."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        return resolve(Path(value))


class InputFolder(click.ParamType):
    """An existing folder to read (a scenario)."""

    name = "folder"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        return _checked(files.check_folder, Path(value), option_name(param))


class OutputFolder(click.ParamType):
    """A folder to write into: existing and writable, or one that can be created (it is not created here)."""

    name = "folder"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        return writable_folder(Path(value), option_name(param))


class OutputFile(click.ParamType):
    """A file to write: not a folder, in a folder that is writable or can be created."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        return _checked(files.check_writable_file, Path(value), option_name(param))


def writable_folder(path: Path, option: str) -> Path:
    """``path`` when a command may write into it, else the one-line error naming ``option``."""
    return _checked(files.check_writable_folder, path, option)


def _checked(check: Callable[[Path], None], path: Path, option: str) -> Path:
    """``path`` once ``check`` accepts it, else the one-line error naming ``option``."""
    try:
        check(path)
    except files.FileProblem as problem:
        raise refuse(option, path, problem) from None
    return path


class Seconds(click.FloatRange):
    """A duration in seconds: a finite number within the range (``inf`` and ``nan`` pass a plain range)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number
