"""What the stores read and how they find it: the known costs of docs/performance.md §2 stay fixed."""

from __future__ import annotations

import sqlite3

import pytest

from s24kit.simulator.insurer.store import SCHEMA, InsurerStore
from s24kit.simulator.relay.store import RelayStore

#: A claim's queries at an insurer and the index each must use (not a scan of every stored claim).
INSURER_QUERIES = {
    "SELECT body FROM events WHERE receipt_number = ? ORDER BY sequence": "events_receipt",
    "SELECT COUNT(*) FROM events WHERE receipt_number = ?": "events_receipt",
    "SELECT * FROM claims WHERE claim_id = ? AND state = 'more_documents_required'": "claims_claim_id",
    "SELECT receipt_number, submission FROM claims WHERE decide_at IS NOT NULL AND decide_at <= ?": "claims_pended",
}


def _plan(db: sqlite3.Connection, sql: str) -> str:
    return " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", (None,) * sql.count("?")))


def test_a_state_directory_made_before_the_indexes_gets_them_when_opened(tmp_path):
    path = tmp_path / "insurer-INSA.sqlite"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA)  # the tables as an earlier version created them, without the indexes
    old.execute("INSERT INTO counters VALUES ('receipt', 41)")
    old.commit()
    assert "SCAN" in _plan(old, "SELECT body FROM events WHERE receipt_number = ? ORDER BY sequence")
    old.close()
    store = InsurerStore(path)
    try:
        with store.transaction() as db:
            assert store.next_number(db, "receipt") == 42  # nothing recorded is lost
            for sql, index in INSURER_QUERIES.items():
                plan = _plan(db, sql)
                assert index in plan and "SCAN" not in plan, (sql, plan)
    finally:
        store.close()


@pytest.fixture
def relay_store(tmp_path) -> RelayStore:
    store = RelayStore(tmp_path / "relay.sqlite")
    with store.transaction() as db:
        db.execute("INSERT INTO claims (claim_id, request_id, request_hash, body, provider_code, state, documents, "
                   "created_at, updated_at) VALUES ('CLM-1', 'r-1', 'h', ?, '99300001', 'fetched', ?, 't', 't')",
                   ('{"big": "' + "x" * 50_000 + '"}', '[{"big": "' + "y" * 50_000 + '"}]'))
    yield store
    store.close()


def test_a_status_answer_reads_neither_the_claim_body_nor_its_documents(relay_store):
    statements: list[str] = []
    relay_store._db.set_trace_callback(statements.append)
    summary = relay_store.claim_summary("CLM-1")
    again = relay_store.claim_by_request("r-1")
    relay_store._db.set_trace_callback(None)
    assert summary["state"] == "fetched" and again["claim_id"] == "CLM-1"
    assert statements and not any("*" in s or "documents" in s or "body" in s for s in statements), statements
    assert {"documents", "body"}.isdisjoint(summary.keys())


def test_the_whole_claim_is_still_there_for_the_work_that_needs_it(relay_store):
    row = relay_store.claim("CLM-1")
    assert len(row["documents"]) > 50_000 and len(row["body"]) > 50_000


def test_many_providers_register_in_one_transaction(relay_store):
    commits: list[str] = []
    relay_store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    relay_store.put_providers([{"code": f"9930{i:04d}", "mode": "pull", "base_url": f"https://127.0.0.1:1/{i}"}
                               for i in range(500)])
    relay_store._db.set_trace_callback(None)
    assert commits == ["COMMIT"] and len(relay_store.providers()) == 500
