"""The journal writes in batches without losing what docs/durability.md promises: every entry is readable as
soon as it is recorded, an ordinary exit commits everything, a process killed outright loses at most the
queue, a failed commit keeps its entries, and threads recording together get distinct ids."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from s24kit.simulator.journal import Journal
from s24kit.simulator.journal_store import BATCH, MAX_QUEUED, TRIM_SHARE

_RECORD = """
import sys
from s24kit.simulator.journal import Journal
journal = Journal(sys.argv[1])
for i in range(int(sys.argv[2])):
    journal.record(party=f"p{i}", method="POST", url="https://h.test/x", request_body=b'{"a": 1}', status=200)
    if sys.argv[3:] and i % 100 == 99:
        print(i + 1, flush=True)
# no close(): the main thread ends and the process exits
"""


def _record(journal: Journal, i: int = 0) -> str:
    return journal.record(party=f"p{i}", method="GET", url=f"https://h.test/{i}", status=200,
                          response_body=b'{"patient": {"name": "\xed\x99\x8d\xea\xb8\xb8\xeb\x8f\x99"}}')


def _stored(path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM exchanges ORDER BY seq")]


def test_every_entry_is_readable_as_soon_as_it_is_recorded(tmp_path):
    for path in (":memory:", tmp_path / "journal.sqlite"):
        journal = Journal(path)
        for i in range(BATCH + 3):  # more than one batch, and a batch not yet full
            exchange = _record(journal, i)
            assert journal.get(exchange)["party"] == f"p{i}"
        assert journal.count() == BATCH + 3
        journal.close()


def test_an_ordinary_exit_commits_every_entry_without_close(tmp_path):
    path = tmp_path / "journal.sqlite"
    subprocess.run([sys.executable, "-c", _RECORD, str(path), "700"], check=True, timeout=120)
    assert _stored(path) == list(range(1, 701))


def test_a_killed_process_loses_at_most_the_queue_and_the_file_stays_whole(tmp_path):
    path = tmp_path / "journal.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _RECORD, str(path), "200000", "report"],
                             stdout=subprocess.PIPE, text=True)
    try:
        reported = 0
        while reported < 3000:
            line = child.stdout.readline()
            assert line, "the child stopped before it was killed"
            reported = int(line)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
        child.stdout.close()
    kept = _stored(path)
    assert kept == list(range(1, len(kept) + 1))  # contiguous from the first: no hole, no torn batch
    assert len(kept) >= reported - MAX_QUEUED
    with Journal(path) as journal:  # it opens and goes on after the last committed entry
        assert journal.count() == len(kept)
        assert _record(journal) == f"x-{len(kept) + 1:06d}"


def test_a_failed_commit_keeps_its_entries_until_one_succeeds():
    journal = Journal()
    journal._db.execute("CREATE TRIGGER refuse BEFORE INSERT ON exchanges BEGIN SELECT RAISE(ABORT, 'disk'); END")
    ids = [_record(journal, i) for i in range(5)]
    with pytest.raises(sqlite3.IntegrityError, match="disk"):
        journal.get(ids[0])
    assert journal._store.failure is not None
    journal._db.execute("DROP TRIGGER refuse")
    assert [journal.get(i)["party"] for i in ids] == [f"p{i}" for i in range(5)]
    assert journal.count() == 5 and journal._store.failure is None


def test_threads_recording_together_get_distinct_ids_in_one_range(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, max_entries=50_000)
    ids: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        mine = [_record(journal, n * 1000 + i) for i in range(300)]
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(ids) == [f"x-{seq:06d}" for seq in range(1, 1201)]
    journal.close()
    assert _stored(path) == list(range(1, 1201))


def test_the_count_bound_holds_across_batches(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite", max_entries=100)
    for i in range(3 * BATCH):
        _record(journal, i)
    kept = journal.count()
    assert 100 - 100 // TRIM_SHARE <= kept <= 100  # a trim goes a little under the bound
    assert [e["party"] for e in journal.search(limit=2)] == [f"p{3 * BATCH - 1}", f"p{3 * BATCH - 2}"]
    journal.close()
    assert _stored(tmp_path / "journal.sqlite") == list(range(3 * BATCH - kept + 1, 3 * BATCH + 1))


def test_a_journal_at_a_trickle_trims_once_every_so_many_commits(tmp_path):
    """Trimming one entry per commit rewrote the table's first pages with every entry recorded."""
    journal = Journal(tmp_path / "journal.sqlite", max_entries=640)
    for i in range(700):
        _record(journal, i)
    journal.count()
    deletes: list[str] = []
    journal._db.set_trace_callback(lambda sql: deletes.append(sql) if sql.startswith("DELETE") else None)
    for i in range(200):  # one entry per commit, past the bound
        _record(journal, 700 + i)
        journal.count()
    journal._db.set_trace_callback(None)
    assert 1 <= len(deletes) <= 200 // (640 // TRIM_SHARE) + 1, len(deletes)
    assert journal.count() <= 640
    journal.close()


def test_a_closed_journal_refuses_to_record():
    journal = Journal()
    journal.close()
    with pytest.raises(sqlite3.ProgrammingError):
        _record(journal)


def test_the_writer_ends_when_idle(tmp_path, monkeypatch):
    """A journal nobody writes to holds no thread (journals left open by callers cost nothing)."""
    monkeypatch.setattr("s24kit.simulator.journal_store.IDLE_SECONDS", 0.1)
    journal = Journal(tmp_path / "journal.sqlite")
    _record(journal)
    deadline = time.monotonic() + 30
    while journal._store._writer is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert journal._store._writer is None
    assert journal.count() == 1
    journal.close()
