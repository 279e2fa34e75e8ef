"""Read JSON and JSON Lines inputs for the command line, turning every failure into a one-line problem."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import files

#: Larger inputs are refused before reading: a document bundle is a few hundred kilobytes at most.
DEFAULT_MAX_BYTES = files.MAX_INPUT_BYTES
SUFFIXES = (".json", ".jsonl", ".ndjson")


@dataclass(frozen=True, slots=True)
class Item:
    """One JSON value read from a file (``line`` is set for JSON Lines)."""

    path: Path
    value: Any
    line: int | None = None

    @property
    def where(self) -> str:
        return _where(self.path, self.line)


@dataclass(frozen=True, slots=True)
class Unusable:
    """An input that could not be read as JSON, with messages in both languages."""

    path: Path
    message_ko: str
    message_en: str
    line: int | None = None

    @property
    def where(self) -> str:
        return _where(self.path, self.line)


def _where(path: Path, line: int | None) -> str:
    """``file`` or ``file:line`` (JSON Lines)."""
    return f"{path}:{line}" if line else str(path)


def expand(paths: list[Path]) -> Iterator[Path | Unusable]:
    """Files named directly, and ``*.json``/``*.jsonl`` found below named directories, in sorted order."""
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not found:
                yield Unusable(path, "폴더에 .json/.jsonl 파일이 없습니다",
                               "no .json or .jsonl files in this directory")
            yield from found
        else:
            yield path


def read(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Item | Unusable]:
    """The JSON values in ``path``: one for ``.json``, one per non-blank line for ``.jsonl``."""
    try:
        text = files.read_text(path, max_bytes=max_bytes)
    except files.FileProblem as problem:
        yield Unusable(path, problem.message_ko, problem.message_en)
        return
    if path.suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield _parse(path, line, number)
    else:
        yield _parse(path, text, None)


def _parse(path: Path, text: str, line: int | None) -> Item | Unusable:
    try:
        return Item(path, files.parse_json(text), line)
    except files.FileProblem as problem:
        return Unusable(path, problem.message_ko, problem.message_en, line)
