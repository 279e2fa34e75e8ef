"""One SQLite file per party (WAL, synchronous=FULL), shared by threads: the state that survives a crash."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .private import private_file


class Database:
    """A connection guarded by a re-entrant lock, with explicit transactions (``:memory:`` for throw-away)."""

    def __init__(self, path: Path | str, schema: str) -> None:
        private_file(path)  # personal data: owner only (docs/security.md)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()  # reads inside a transaction take it again
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before the party answers. A claim the relay acknowledged (202) or a
            # receipt an insurer issued must survive a power loss, not only a killed process (docs/durability.md).
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(schema)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def next_number(self, db: sqlite3.Connection, name: str) -> int:
        """The next value of counter ``name`` (needs a ``counters`` table), inside transaction ``db``."""
        db.execute("INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))
        return db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]
