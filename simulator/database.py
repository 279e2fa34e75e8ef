"""One SQLite file per party (WAL), shared by threads: the state that survives a crash.

Commits do not wait for the disk (``synchronous=NORMAL``); instead nothing leaves the party before what it
committed is on disk: every answer and every request to another party first awaits :meth:`Database.durable`,
which ``fsync``\\s the write-ahead log in a thread. One ``fsync`` then covers every commit made before it
started (group commit), and the event loop keeps serving while the disk works. docs/durability.md says why
this is as safe as ``synchronous=FULL`` for everything another party was told.
"""

from __future__ import annotations

import asyncio
import os
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
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()  # reads inside a transaction take it again
        # commits made by this connection, and how many of them are known to be on disk (group commit)
        self._committed, self._synced = 0, 0
        self._sync_lock = threading.Lock()  # one fsync at a time; the others find their commits covered
        self._wal_inode: int | None = None
        # the fsync running for the event loop that started it: later waiters await it rather than each
        # handing the same work to a thread of their own
        self._flight: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit is written to the WAL but not synced; durable() syncs it before anyone hears of it
            self._db.execute("PRAGMA synchronous=NORMAL")
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
            self._committed += 1

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def next_number(self, db: sqlite3.Connection, name: str) -> int:
        """The next value of counter ``name`` (needs a ``counters`` table), inside transaction ``db``."""
        db.execute("INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))
        return db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]

    # -- durability -------------------------------------------------------------------------------------------

    @property
    def unsynced(self) -> bool:
        """True while a commit of this connection may still be lost to a power cut."""
        return self._synced < self._committed and self.path != ":memory:"

    async def durable(self) -> None:
        """Return once every commit made so far is on disk (at once when it already is): await it before an
        answer or a request leaves the party. The ``fsync`` runs in a thread, shared by every waiter: one that
        arrives while an ``fsync`` runs awaits it, and when that one started before its commit, the next."""
        through = self._committed
        if self.path == ":memory:":
            return
        loop = asyncio.get_running_loop()
        while self._synced < through:
            flight = self._flight
            if flight is None or flight[0] is not loop or flight[1].done():
                flight = self._flight = (loop, loop.run_in_executor(None, self.sync, self._committed))
            # shielded: a waiter cancelled (its client gone) must not cancel the fsync the others await
            await asyncio.shield(flight[1])

    def sync(self, through: int | None = None) -> None:
        """``fsync`` the write-ahead log so that commit number ``through`` (default: the last) is on disk."""
        through = self._committed if through is None else through
        with self._sync_lock:
            if self._synced >= through:
                return  # the fsync another waiter just made covered this commit too
            covered = self._committed  # every commit counted here has been written before the fsync below
            try:
                fd = os.open(self.path + "-wal", os.O_RDONLY)
            except FileNotFoundError:  # checkpointed into the database and removed: sync the database itself
                fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
                inode = os.fstat(fd).st_ino
            finally:
                os.close(fd)
            if inode != self._wal_inode:  # a new file: its directory entry must be on disk too
                directory = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
                self._wal_inode = inode
            self._synced = max(self._synced, covered)


class DurableAnswers:
    """ASGI middleware: an answer starts only once everything ``store`` committed is on disk, so a caller is
    never told of a claim, a receipt or an applied event that a power cut could still take back."""

    def __init__(self, app: Any, store: Database) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_durably(message: dict) -> None:
            if message["type"] == "http.response.start":
                await self.store.durable()
            await send(message)

        await self.app(scope, receive, send_durably)
