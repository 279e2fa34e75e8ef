"""One journal view over the files of several writers (simulator/journal_view.py): relay workers and the register
of ``serve --processes`` each write their own file; the admin journal shows them all, once each, in order."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from s24kit.simulator.journal import Journal
from s24kit.simulator.journal_view import JournalSource, MergedJournal

PATIENT = "김민준"


def _sources(state: Path) -> list[JournalSource]:
    return [JournalSource("relay", "x-", state / "journal.sqlite"),
            JournalSource("relay-2", "x-relay-2-", state / "journal-relay-2.sqlite"),
            JournalSource("register", "x-register-", state / "journal-register.sqlite")]


@pytest.fixture
def writers(tmp_path: Path):
    """The three writers of a stack, as their processes would open them, each having journaled a few exchanges
    in turn (the register last, and less)."""
    journals = [Journal(s.path, recorded_by=s.recorded_by, id_prefix=s.id_prefix) for s in _sources(tmp_path)]
    for turn in range(5):
        for journal in journals[:2] if turn % 2 else journals:
            journal.record(party=f"→{journal.recorded_by}", method="POST" if turn % 2 else "GET",
                           url=f"https://relay.test/relay/v1/claims?turn={turn}", status=202,
                           request_body=json.dumps({"insured": {"name": PATIENT, "birth_date": "1985-04-12"},
                                                    "turn": turn}, ensure_ascii=False))
    for journal in journals:
        journal.flush()  # what each writer's thread does within milliseconds: another file shows what is committed
    yield journals
    for journal in journals:
        journal.close()


def _everything(journals: list[Journal]) -> dict[str, dict]:
    return {entry["id"]: entry for journal in journals for entry in journal.search(limit=1000)}


def test_every_writer_shows_every_exchange_once_in_the_order_they_were_recorded(writers, tmp_path):
    expected = _everything(writers)
    assert len(expected) == sum(journal.count() for journal in writers) == 13  # ids apart across files
    views = [MergedJournal(own, _sources(tmp_path)) for own in writers[:2]]  # from either relay worker
    for view in views:
        entries = view.search(limit=1000)
        assert [e["id"] for e in entries] == [e["id"] for e in views[0].search(limit=1000)]
        assert {e["id"]: e for e in entries} == expected and len(entries) == view.count() == 13
        assert {e["recorded_by"] for e in entries} == {"relay", "relay-2", "register"}
        # newest first, across files: the turns were journaled in order, each writer after the one before
        turns = [(json.loads(e["request"]["body"])["turn"], e["recorded_by"]) for e in entries]
        assert turns == sorted(turns, key=lambda t: (t[0], ["relay", "relay-2", "register"].index(t[1])),
                               reverse=True)
        for entry_id, entry in expected.items():
            assert view.get(entry_id) == entry
        assert view.get("x-relay-3-000001") is None and view.get("x-000099") is None and view.get("bogus") is None


def test_paging_the_merged_view_loses_and_repeats_nothing(writers, tmp_path):
    view = MergedJournal(writers[1], _sources(tmp_path))
    for filters in ({}, {"method": "POST"}, {"party": "→register"}, {"text": "\"turn\": 3"}):
        whole = [e["id"] for e in view.search(limit=1000, **filters)]
        assert whole, filters
        for size in (1, 2, 4, 5):
            paged = [e["id"] for offset in range(0, len(whole) + size, size)
                     for e in view.search(limit=size, offset=offset, **filters)]
            assert paged == whole, (filters, size)


def test_paging_with_before_does_not_shift_while_every_writer_records(writers, tmp_path):
    view = MergedJournal(writers[1], _sources(tmp_path))
    for filters in ({}, {"method": "POST"}, {"party": "→register"}):
        for size in (1, 4):
            whole = [e["id"] for e in view.search(limit=10**6, **filters)]
            paged: list[str] = []
            before = None
            while page := view.search(limit=size, before=before, **filters):
                paged += [e["id"] for e in page]
                before = page[-1]["id"]
                for journal in writers:  # newer exchanges in every file between two pages
                    journal.record(party=f"→{journal.recorded_by}", method="POST", url="https://relay.test/late",
                                   status=202)
                    journal.flush()
            assert paged == whole, (filters, size)
    with pytest.raises(ValueError):
        view.search(before="x-relay-9-000001")
    cleared = view.search(limit=1)[0]["id"]
    view.clear()
    with pytest.raises(LookupError):
        view.search(before=cleared)


def test_the_merged_view_shows_what_each_file_masked(writers, tmp_path):
    view = MergedJournal(writers[0], _sources(tmp_path))
    text = json.dumps(view.search(limit=1000), ensure_ascii=False)
    assert PATIENT not in text and "1985-04-12" not in text  # persons masked, as each file stored them
    for journal in writers:
        for entry in journal.search(limit=1000):
            assert view.get(entry["id"]) == entry


def test_clearing_hides_every_writer_and_writes_only_its_own_file(writers, tmp_path):
    view = MergedJournal(writers[0], _sources(tmp_path))
    other = MergedJournal(writers[1], _sources(tmp_path))
    assert view.clear() == 13
    assert view.count() == other.count() == 0 and other.search() == []
    assert writers[0].count() == 0 and writers[1].count() == 5  # the other writer's file is its own
    later = writers[1].record(party="→relay-2", method="GET", url="https://relay.test/after", status=200)
    writers[1].flush()
    assert [e["id"] for e in view.search()] == [e["id"] for e in other.search()] == [later]
    assert view.get(later)["recorded_by"] == "relay-2"


def test_a_writer_that_has_not_started_yet_is_no_error(tmp_path):
    own = Journal(tmp_path / "journal.sqlite", recorded_by="relay", id_prefix="x-")
    (tmp_path / "journal-register.sqlite").touch()  # made private, not yet opened by its writer
    view = MergedJournal(own, _sources(tmp_path))
    first = own.record(party="→relay", method="GET", url="https://relay.test/relay/v1/health", status=200)
    assert [e["id"] for e in view.search()] == [first] and view.count() == 1
    with pytest.raises(ValueError):
        MergedJournal(Journal(recorded_by="relay-9"), _sources(tmp_path))
    own.close()


def test_a_journal_file_of_an_older_kit_is_read_and_written_on(tmp_path):
    """A file written before entries kept the moment they were recorded gains the column; its entries sort by
    their start, before those recorded since."""
    path = tmp_path / "journal.sqlite"
    old = Journal(path)
    old.record(party="→relay", method="GET", url="https://relay.test/before", status=200)
    old.close()
    with sqlite3.connect(path) as db:  # the schema of an older kit: no "recorded"
        db.execute("ALTER TABLE exchanges DROP COLUMN recorded")
    own = Journal(path, recorded_by="relay", id_prefix="x-")
    after = own.record(party="→relay", method="GET", url="https://relay.test/after", status=200)
    view = MergedJournal(own, _sources(tmp_path))
    assert [e["url"] for e in view.search()] == ["https://relay.test/after", "https://relay.test/before"]
    assert [e["id"] for e in view.search()] == [after, "x-000001"]
    own.close()
