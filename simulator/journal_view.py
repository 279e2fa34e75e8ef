"""The journal of a stack whose processes each write their own file, read as one (``serve --processes``).

A journal file has one writer (its ids are counted in that process), so with several relay workers each worker
journals to a file of its own, and the 중복가입 register to another. :class:`MergedJournal` reads them all, the
answering process's own :class:`~.journal.Journal` through it (every entry it recorded is committed first) and
the others' files read-only (what their writers have committed: they commit as soon as they can, so the view
lags them by a batch, milliseconds), and offers what the admin routes need (``search``, ``get``, ``count``,
``clear``):

- **order**: newest first by the moment each exchange was recorded (``recorded``, kept with every entry, never
  decreasing within a file), as one file orders its own entries; equal moments in two files by the files' order;
- **ids**: each file's ids carry its prefix (``x-000042`` for the first relay worker, ``x-relay-2-000042``,
  ``x-register-000042``), so an id names one exchange in the whole stack, and each entry says which process
  recorded it (``recorded_by``);
- **paging**: ``limit`` and ``offset`` count in the merged order (each file is asked for its first
  ``offset + limit`` matching entries, which holds the page); ``before`` (the last id of the page before)
  starts a page right after that exchange, so pages do not shift while exchanges are recorded — but another
  file's entry shows once committed, milliseconds after the moment it sorts by, and may then sort below a
  page already read;
- **clearing** writes only the own file: it deletes its entries and keeps the moment of the clear, and the view
  hides every file's entries recorded before the latest such moment of any file.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .journal import COLUMNS, Journal, entry_of, search_filter, seq_of

#: The order of the merged view: the moment an entry was recorded (the start for entries of an older kit).
RECORDED = "COALESCE(recorded, ts)"


@dataclass(frozen=True)
class JournalSource:
    """One journal file of a stack: who writes it, the prefix of its ids, where it is."""

    recorded_by: str
    id_prefix: str
    path: Path


class _FileReader:
    """Read-only access to a journal file another process writes (nothing yet: no rows)."""

    def __init__(self, source: JournalSource) -> None:
        self.source = source
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                if self._db is None:
                    self._db = sqlite3.connect(f"file:{self.source.path}?mode=ro", uri=True, check_same_thread=False)
                return self._db.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                # a writer that has not started yet: no file, or no table in it
                if "no such table" in str(exc) or "unable to open" in str(exc):
                    return []
                raise

    def cleared_before(self) -> float:
        rows = self.read("SELECT value FROM journal_meta WHERE name = 'cleared_before'")
        return float(rows[0][0]) if rows else 0.0


class MergedJournal:
    """Every journal file of a stack (``sources``, in a fixed order) as one; ``own`` is this process's journal,
    which must be one of them (the same ``recorded_by``)."""

    def __init__(self, own: Journal, sources: list[JournalSource]) -> None:
        if own.recorded_by not in {source.recorded_by for source in sources}:
            raise ValueError(f"the own journal ({own.recorded_by}) is not one of the sources")
        self.own = own
        self._files: list[Journal | _FileReader] = [own if s.recorded_by == own.recorded_by else _FileReader(s)
                                                    for s in sources]
        self._sources = sources

    def _mark(self) -> float:
        """The latest clear of any file: entries recorded before it are not shown."""
        return max(file.cleared_before() for file in self._files)

    def search(self, *, limit: int = 100, offset: int = 0, before: str | None = None,
               **filters: Any) -> list[dict[str, Any]]:
        """As :meth:`.Journal.search` (same filters), over every file, newest first in the merged order;
        ``before`` an exchange id of any file (:class:`LookupError` when it is no longer in the view)."""
        where, args = search_filter(**filters)
        where.append(f"{RECORDED} > ?")
        mark = self._mark()
        after = self._after(before, mark) if before is not None else [("1", ())] * len(self._files)
        wanted = max(limit, 0) + max(offset, 0)
        found = []
        for rank, file in enumerate(self._files):
            condition, bound = after[rank]
            sql = (f"SELECT {RECORDED}, {COLUMNS} FROM exchanges WHERE {' AND '.join(where)} AND {condition} "
                   f"ORDER BY {RECORDED} DESC, seq DESC LIMIT ?")
            found += [(row[0], -rank, row[1], rank, row[1:]) for row in file.read(sql, (*args, mark, *bound, wanted))]
        found.sort(reverse=True)
        return [self._entry(rank, row) for *_, rank, row in found[max(offset, 0):wanted]]

    def _after(self, exchange: str, mark: float) -> list[tuple[str, tuple[Any, ...]]]:
        """Per file, the condition (and its argument) of the entries after ``exchange`` in the merged order,
        which sorts by (recorded, the file's rank, seq): in its own file the lower ids (``recorded`` never
        decreases there), in a file ranked before it those recorded earlier, after it those not later."""
        for rank, source in enumerate(self._sources):
            seq = seq_of(exchange, source.id_prefix)
            if seq is None:
                continue
            rows = self._files[rank].read(f"SELECT {RECORDED} FROM exchanges WHERE seq = ? AND {RECORDED} > ?",
                                          (seq, mark))
            if not rows:
                raise LookupError(exchange)
            recorded = rows[0][0]
            return [("seq < ?", (seq,)) if other == rank else
                    (f"{RECORDED} < ?", (recorded,)) if other < rank else (f"{RECORDED} <= ?", (recorded,))
                    for other in range(len(self._sources))]
        raise ValueError(f"not an exchange id of this journal: {exchange[:40]!r}")

    def get(self, exchange: str) -> dict[str, Any] | None:
        """The exchange of id ``exchange``, in whichever file holds it."""
        for rank, source in enumerate(self._sources):
            seq = seq_of(exchange, source.id_prefix)
            if seq is not None:
                rows = self._files[rank].read(f"SELECT {COLUMNS} FROM exchanges WHERE seq = ? AND {RECORDED} > ?",
                                              (seq, self._mark()))
                if rows:
                    return self._entry(rank, rows[0])
        return None

    def count(self) -> int:
        mark = self._mark()
        return sum(row[0] for file in self._files
                   for row in file.read(f"SELECT COUNT(*) FROM exchanges WHERE {RECORDED} > ?", (mark,)))

    def clear(self) -> int:
        """Delete the own file's entries and hide every other file's recorded until now (their writers alone
        write them); return how many entries the view showed."""
        shown = self.count()
        self.own.clear()
        return shown

    def _entry(self, rank: int, row: tuple[Any, ...]) -> dict[str, Any]:
        source = self._sources[rank]
        return entry_of(row, source.id_prefix, source.recorded_by)


__all__ = ["JournalSource", "MergedJournal"]
