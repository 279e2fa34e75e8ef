"""A scenario's JSON Lines files, plain or gzip-compressed (``s24kit generate --compress`` writes
``claims.jsonl.gz`` …): every reader names the plain file and gets whichever of the two exists."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

COMPRESSED = ".gz"


def resolve(path: Path) -> Path:
    """``path`` itself when it exists, else its compressed sibling when that exists, else ``path``."""
    path = Path(path)
    if path.exists():
        return path
    packed = path.with_name(path.name + COMPRESSED)
    return packed if packed.exists() else path


def exists(path: Path) -> bool:
    return resolve(path).is_file()


def open_text(path: Path) -> IO[str]:
    """The file as UTF-8 text, decompressed on the fly when it is the ``.gz`` sibling."""
    found = resolve(path)
    if found.name.endswith(COMPRESSED):
        return gzip.open(found, "rt", encoding="utf-8")
    return found.open(encoding="utf-8")


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON value of every non-blank line."""
    with open_text(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
