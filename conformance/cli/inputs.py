"""Read JSON and JSON Lines inputs for the command line, turning every failure into a one-line problem."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import files

#: Larger inputs are refused before reading: a document bundle is a few hundred kilobytes at most.
DEFAULT_MAX_BYTES = files.MAX_INPUT_BYTES
SUFFIXES = (".json", ".jsonl", ".ndjson")
LINES = (".jsonl", ".ndjson")
GZIP = ".gz"  # a scenario written with s24kit generate --compress: documents.jsonl.gz, index.jsonl.gz
#: A scenario's expected/ folder lists its visits, with the patient of each, in this file.
INDEX_FILE = "index.jsonl"


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


def kind(path: Path) -> str:
    """``.json``, ``.jsonl`` or ``.ndjson`` — of the content, for a gzip'ed file too (``x.jsonl.gz``)."""
    return Path(path.name.removesuffix(GZIP)).suffix if path.name.endswith(GZIP) else path.suffix


def _where(path: Path, line: int | None) -> str:
    """``file`` or ``file:line`` (JSON Lines)."""
    return f"{path}:{line}" if line else str(path)


def expand(paths: list[Path]) -> Iterator[Path | Unusable]:
    """Files named directly, and ``*.json``/``*.jsonl`` found below named directories, in sorted order."""
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if kind(p) in SUFFIXES and p.is_file())
            if not found:
                yield Unusable(path, "폴더에 .json/.jsonl 파일이 없습니다",
                               "no .json or .jsonl files in this directory")
            yield from found
        else:
            yield path


def read(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Item | Unusable]:
    """The JSON values in ``path``: one for ``.json``, one per non-blank line for ``.jsonl``."""
    try:
        text = _gunzipped(path, max_bytes) if path.name.endswith(GZIP) else files.read_text(path, max_bytes=max_bytes)
    except files.FileProblem as problem:
        yield Unusable(path, problem.message_ko, problem.message_en)
        return
    if kind(path) in LINES:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield _parse(path, line, number)
    else:
        yield _parse(path, text, None)


def _gunzipped(path: Path, max_bytes: int) -> str:
    """The text of a gzip'ed file, refused past ``max_bytes`` of content (a small file may inflate a lot)."""
    inflate = zlib.decompressobj(wbits=31)
    try:
        data = inflate.decompress(files.read_bytes(path, max_bytes=max_bytes), max_bytes + 1)
    except zlib.error:
        raise files.FileProblem("gzip 파일이 아니거나 손상되었습니다", "not a gzip file, or a damaged one") from None
    if len(data) > max_bytes or inflate.unconsumed_tail:
        raise files.FileProblem(f"압축을 풀면 {max_bytes:,} 바이트를 넘습니다 (--max-bytes)",
                                f"more than {max_bytes:,} bytes once decompressed (--max-bytes)")
    return files.decode_text(data)


def _parse(path: Path, text: str, line: int | None) -> Item | Unusable:
    try:
        return Item(path, files.parse_json(text), line)
    except files.FileProblem as problem:
        return Unusable(path, problem.message_ko, problem.message_en, line)


def is_index_entry(value: Any) -> bool:
    """A line of a scenario's ``expected/index.jsonl``: a visit, its patient and its documents."""
    return (isinstance(value, dict) and isinstance(value.get("visit_id"), str)
            and isinstance(value.get("patient_id"), str) and isinstance(value.get("documents"), dict))


@dataclass
class Argument:
    """What one command-line path holds: its JSON values, the unreadable parts, and how documents group.

    Documents of one JSON Lines file or one folder are read together (like an array); a scenario index
    (``index.jsonl`` beside them) splits them by patient.
    """

    items: list[Item] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    together: bool = False
    patient_of_visit: dict[str, str] = field(default_factory=dict)
    index_entries: int = 0

    def groups(self, documents: list[Item]) -> list[list[Item]]:
        """The documents in the sets they are checked in: one per patient of the index, the rest together."""
        if not self.patient_of_visit:
            return [documents] if documents else []
        by_patient: dict[str | None, list[Item]] = defaultdict(list)
        for item in documents:
            by_patient[self.patient_of_visit.get(item.value.get("visit_id"))].append(item)
        return list(by_patient.values())


def read_argument(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Argument:
    """Every JSON value under one command-line path, with a scenario index recognised rather than refused."""
    argument = Argument(together=path.is_dir() or kind(path) in LINES)
    found: list[Path] = []
    for entry in expand([path]):
        if isinstance(entry, Unusable):
            argument.unusable.append(entry)
        else:
            found.append(entry)
    sibling = next((s for s in (path.parent / INDEX_FILE, path.parent / (INDEX_FILE + GZIP)) if s.is_file()),
                   path.parent / INDEX_FILE)
    if argument.together and path.is_file() and path != sibling and sibling.is_file():
        found.append(sibling)  # a scenario's documents.jsonl named alone is still split by patient
    for file in found:
        for item in read(file, max_bytes):
            if isinstance(item, Unusable):
                if file == sibling and file != path:
                    continue  # a broken neighbour was not asked for
                argument.unusable.append(item)
            elif file.name.removesuffix(GZIP) == INDEX_FILE and is_index_entry(item.value):
                argument.patient_of_visit[item.value["visit_id"]] = item.value["patient_id"]
                argument.index_entries += 1
            elif file != sibling or file == path:
                argument.items.append(item)
    return argument
