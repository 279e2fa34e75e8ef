"""Where the journal keeps its entries: one SQLite table, bounded, written in batches (group commit).

:meth:`JournalStore.append` gives an entry its id and queues it; the entries queued are committed together
in one transaction: by a writer thread for a file (it commits as soon as it is woken, so a batch is what
arrived while the previous one was being written), by the caller every :data:`BATCH` entries in memory.
Every read commits what is queued first, so a reader sees every entry appended before it asked.

Each entry also gets the moment it was recorded (``recorded``, epoch seconds, never less than the entry before
it): the order of a file, comparable across the files of several writers (simulator/journal_view.py merges them).
:meth:`JournalStore.clear` leaves that moment in ``journal_meta`` (``cleared_before``), so that a merged view hides
the other writers' entries from before it without writing their files.

What a crash may cost (docs/durability.md): a process killed outright (SIGKILL, out of memory) loses the
entries queued and not yet committed — those appended while the writer was committing the previous batch,
a few milliseconds' worth, at most :data:`MAX_QUEUED` entries or :data:`MAX_QUEUED_BYTES`. An ordinary exit
(the main thread ends, :meth:`JournalStore.close`, a ``multiprocessing`` child returning) commits them
first: the writer is not a daemon thread and commits everything once the main thread has ended.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    seq INTEGER PRIMARY KEY, recorded REAL, ts REAL NOT NULL, started_at TEXT NOT NULL, party TEXT NOT NULL,
    method TEXT NOT NULL, url TEXT NOT NULL, route TEXT NOT NULL, status INTEGER, duration_ms REAL,
    peer TEXT, tls_peer TEXT, error TEXT, request_headers TEXT NOT NULL, request_body TEXT,
    response_headers TEXT NOT NULL, response_body TEXT, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
INSERT = ("INSERT INTO exchanges (seq, recorded, ts, started_at, party, method, url, route, status, duration_ms, peer, "
          "tls_peer, error, request_headers, request_body, response_headers, response_body, size) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

#: An in-memory store commits every this many entries (nothing in memory outlives the process anyway).
BATCH = 256
#: Bounds of the queue: beyond them :meth:`JournalStore.append` waits for the writer (memory stays bounded
#: when the disk is slower than the callers).
MAX_QUEUED = 4096
MAX_QUEUED_BYTES = 16 * 2**20
#: A trim drops the oldest entries down to this share under each bound (1/64: 156 entries of the default
#: 10,000), so that a journal at a trickle trims once every so many commits: trimming one entry per commit
#: rewrote the table's first pages with every entry it recorded.
TRIM_SHARE = 64
#: How often an idle writer looks whether the main thread has ended, and how long it idles before it ends.
WAKE_SECONDS = 0.05
IDLE_SECONDS = 2.0
#: After a failed commit (disk full, …) the writer waits this long before trying again; nothing is dropped.
RETRY_SECONDS = 0.5


class JournalStore:
    """Thread-safe, bounded table of exchange rows ``(ts, …, response_body)`` with their stored size.

    Bounds: when a commit leaves more than ``max_entries`` entries or more stored text than ``max_bytes``, the
    oldest entries go, down to a little under both bounds (the newest entry always stays). Ids (``seq``) keep
    increasing across trimming, :meth:`clear` and reopening the same file.
    """

    def __init__(self, path: str, *, max_entries: int, max_bytes: int) -> None:
        self.path, self.max_entries, self.max_bytes = path, max_entries, max_bytes
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()  # the connection and the committed totals
        self._queue = threading.Condition()  # the queued rows, the next id and the writer
        self._queued: list[tuple[Any, ...]] = []
        self._queued_bytes = 0
        self._writer: threading.Thread | None = None
        self._closed = False
        self.failure: sqlite3.Error | None = None  # the last commit that failed, until one succeeds
        with self._lock:
            if path != ":memory:":
                # SQLite's own 4 kB pages: 64 kB pages halved the CPU of committing big batches, but a journal
                # mostly commits an entry or two at a time, and then wrote seven times the bytes (a soak's relay
                # process wrote 45 MB/s instead of 15: docs/performance.md §8.1)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            if "recorded" not in {column[1] for column in self.db.execute("PRAGMA table_info(exchanges)")}:
                self.db.execute("ALTER TABLE exchanges ADD COLUMN recorded REAL")  # a file of an older kit
            rows = self.db.execute("SELECT seq, size FROM exchanges ORDER BY seq").fetchall()
            last = self.db.execute("SELECT value FROM journal_meta WHERE name = 'last_seq'").fetchone()
            self._recorded = max(self.db.execute("SELECT MAX(recorded) FROM exchanges").fetchone()[0] or 0.0,
                                 self.cleared_before())
            # Rows form one contiguous range of seq (inserts append, trimming removes the oldest).
            self._sizes: deque[int] = deque(size for _, size in rows)
            self._bytes = sum(self._sizes)
            self._next = max(rows[-1][0] if rows else 0, last[0] if last else 0) + 1
            if self._over_bounds():
                self.db.execute("BEGIN")
                self._trim()
                self.db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------------------------

    def append(self, row: Sequence[Any], size: int) -> int:
        """Queue one row (its columns from ``ts`` to ``response_body``) of ``size`` stored bytes; its id."""
        in_memory = self.path == ":memory:"
        with self._queue:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed journal")
            while not in_memory and self._full():
                if self.failure is not None:  # the writer cannot commit: say so rather than wait for ever
                    raise sqlite3.OperationalError(f"the journal cannot commit its entries: {self.failure}")
                self._wake_writer()
                self._queue.wait(WAKE_SECONDS)
            seq = self._next
            self._next = seq + 1
            self._recorded = max(time.time(), self._recorded)  # the clock may step back: the order may not
            self._queued.append((seq, self._recorded, *row, size))
            self._queued_bytes += size
            if not in_memory:
                self._wake_writer()
            commit_now = in_memory and (len(self._queued) >= BATCH or self._full())
        if commit_now:
            self.commit()
        return seq

    def _full(self) -> bool:
        return len(self._queued) >= MAX_QUEUED or self._queued_bytes >= MAX_QUEUED_BYTES

    def _wake_writer(self) -> None:
        """Start the writer if it is not running (called with the queue held), and wake it."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="s24kit-journal-writer",
                                            daemon=False)  # so that an ordinary exit waits for the commit
            self._writer.start()
        self._queue.notify_all()

    def _write_loop(self) -> None:
        """Commit whatever is queued, as soon as it is; end when idle, closed, or the main thread has ended."""
        idle = 0.0
        while True:
            with self._queue:
                if not self._queued:
                    finishing = self._closed or not threading.main_thread().is_alive()
                    if finishing or idle >= IDLE_SECONDS:
                        self._writer = None
                        return
                    self._queue.wait(WAKE_SECONDS)
                    idle += WAKE_SECONDS
                    continue
            idle = 0.0
            try:
                self.commit()
            except sqlite3.Error:  # kept queued and in self.failure; a reader gets the error
                with self._queue:
                    if self._closed:  # close() commits (and raises) once more itself
                        self._writer = None
                        return
                    self._queue.wait(RETRY_SECONDS)

    def commit(self) -> None:
        """Commit every queued row in one transaction (and trim to the bounds). On failure the rows stay
        queued, in order, and the error is raised (and kept in :attr:`failure`)."""
        with self._lock:
            with self._queue:
                rows, self._queued = self._queued, []
                queued_bytes, self._queued_bytes = self._queued_bytes, 0
                self._queue.notify_all()  # appenders waiting for room
            if not rows:
                return
            try:
                self.db.execute("BEGIN")
                self.db.executemany(INSERT, rows)
                self._sizes.extend(row[-1] for row in rows)
                self._bytes += queued_bytes
                self._trim()
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                self._recount()
                with self._queue:
                    self._queued[:0] = rows
                    self._queued_bytes += queued_bytes
                self.failure = exc
                raise
            self.failure = None

    def _over_bounds(self) -> bool:
        return len(self._sizes) > self.max_entries or self._bytes > self.max_bytes

    def _trim(self) -> None:
        """Once a bound is passed, drop the oldest entries (one DELETE) down to a little under both bounds (by
        :data:`TRIM_SHARE` of each); the newest always stays."""
        if not self._over_bounds():
            return
        entries = self.max_entries - self.max_entries // TRIM_SHARE
        stored = self.max_bytes - self.max_bytes // TRIM_SHARE
        sizes, drop, freed = self._sizes, 0, 0
        while len(sizes) - drop > 1 and (len(sizes) - drop > entries or self._bytes - freed > stored):
            freed += sizes[drop]
            drop += 1
        if not drop:
            return
        first_kept = self._last_committed() - len(sizes) + drop + 1
        self.db.execute("DELETE FROM exchanges WHERE seq < ?", (first_kept,))
        for _ in range(drop):
            sizes.popleft()
        self._bytes -= freed

    def _last_committed(self) -> int:
        """The id of the newest committed (or being committed) row: the queue holds the ids after it."""
        with self._queue:
            return self._next - 1 - len(self._queued)

    def _recount(self) -> None:
        """The committed totals read back from the table (after a rolled-back commit)."""
        rows = self.db.execute("SELECT size FROM exchanges ORDER BY seq").fetchall()
        self._sizes = deque(size for (size,) in rows)
        self._bytes = sum(self._sizes)

    # -- reading and the rest ----------------------------------------------------------------------------------

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query, after committing everything queued."""
        with self._lock:
            self.commit()
            return self.db.execute(sql, args).fetchall()

    def count(self) -> int:
        with self._lock:
            self.commit()
            return len(self._sizes)

    def stored_bytes(self) -> int:
        with self._lock:
            self.commit()
            return self._bytes

    def cleared_before(self) -> float:
        """When :meth:`clear` was last called (epoch seconds; 0 if never)."""
        with self._lock:
            row = self.db.execute("SELECT value FROM journal_meta WHERE name = 'cleared_before'").fetchone()
        return float(row[0]) if row else 0.0

    def clear(self) -> int:
        """Forget every entry, queued ones too (ids still continue upwards); return how many were deleted.
        Entries recorded afterwards are recorded after the moment kept as ``cleared_before``."""
        with self._lock:
            self.commit()
            deleted = len(self._sizes)
            with self._queue:
                self._recorded = max(time.time(), self._recorded)
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM exchanges")
            self.db.execute("INSERT OR REPLACE INTO journal_meta VALUES ('last_seq', ?)", (self._last_committed(),))
            self.db.execute("INSERT OR REPLACE INTO journal_meta VALUES ('cleared_before', ?)", (self._recorded,))
            self.db.execute("COMMIT")
            self._sizes.clear()
            self._bytes = 0
        return deleted

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the database."""
        with self._queue:
            self._closed = True
            writer = self._writer
            self._queue.notify_all()
        if writer is not None and writer is not threading.current_thread():
            writer.join()
        with self._lock:
            self.commit()
            self.db.close()
