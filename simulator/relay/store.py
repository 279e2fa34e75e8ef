"""The relay's state in SQLite (WAL): claims, per-insurer progress, the work queue, events, agent requests.

Everything the relay must not lose lives here, so a restarted relay picks up exactly where it stopped: a
pending task is simply due again, an agent request still queued is still queued.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    claim_id TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, request_hash TEXT NOT NULL, body TEXT NOT NULL,
    provider_code TEXT NOT NULL, state TEXT NOT NULL, error TEXT, visit_ids TEXT, documents TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claim_insurers (
    claim_id TEXT NOT NULL, insurer_code TEXT NOT NULL, state TEXT NOT NULL, receipt_number TEXT,
    payout_total INTEGER, payout TEXT, last_sequence INTEGER NOT NULL DEFAULT 0, error TEXT,
    PRIMARY KEY (claim_id, insurer_code));
CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY AUTOINCREMENT, claim_id TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
    last_error TEXT, lease_owner TEXT, leased_until REAL NOT NULL DEFAULT 0, UNIQUE (claim_id, kind, target));
CREATE INDEX IF NOT EXISTS tasks_due ON tasks(state, next_at);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, claim_id TEXT NOT NULL, insurer_code TEXT NOT NULL, sequence INTEGER NOT NULL,
    body TEXT NOT NULL, applied INTEGER NOT NULL DEFAULT 0, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_claim ON events(claim_id, insurer_code, sequence);
CREATE TABLE IF NOT EXISTS agent_work (
    request_id TEXT PRIMARY KEY, provider_code TEXT NOT NULL, operation TEXT NOT NULL, body TEXT NOT NULL,
    deadline REAL NOT NULL, state TEXT NOT NULL DEFAULT 'queued', leased_until REAL NOT NULL DEFAULT 0,
    reply_status INTEGER, reply_body TEXT);
CREATE INDEX IF NOT EXISTS agent_work_queue ON agent_work(provider_code, state);
CREATE TABLE IF NOT EXISTS supplements (
    request_id TEXT PRIMARY KEY, claim_id TEXT NOT NULL, request_hash TEXT NOT NULL, body TEXT NOT NULL,
    insurers TEXT NOT NULL, documents TEXT);
CREATE TABLE IF NOT EXISTS providers (code TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

#: Which relay worker runs a task, and until when others must leave it alone (several workers on one database).
LEASE_COLUMNS = {"lease_owner": "TEXT", "leased_until": "REAL NOT NULL DEFAULT 0"}

SUMMARY = "claim_id, request_id, state, provider_code, created_at, updated_at"


class RelayStore(Database):
    """The relay's database file (``:memory:`` for throw-away state)."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, SCHEMA)
        with self.transaction() as db:  # a database made before leases gets their columns when next opened
            columns = {row["name"] for row in db.execute("PRAGMA table_info(tasks)")}
            for column, kind in LEASE_COLUMNS.items():
                if column not in columns:
                    db.execute(f"ALTER TABLE tasks ADD COLUMN {column} {kind}")

    def claim(self, claim_id: str) -> sqlite3.Row | None:
        """The whole claim row, with the patient's claim and the documents (for the work that needs them)."""
        rows = self.query("SELECT * FROM claims WHERE claim_id = ?", claim_id)
        return rows[0] if rows else None

    def claim_summary(self, claim_id: str) -> sqlite3.Row | None:
        """What a status answer shows of a claim: not its body nor its documents (tens of kilobytes each,
        read on every status call and long-poll wake-up when selected with ``*``)."""
        rows = self.query(f"SELECT {SUMMARY} FROM claims WHERE claim_id = ?", claim_id)
        return rows[0] if rows else None

    def claim_by_request(self, request_id: str) -> sqlite3.Row | None:
        """The claim id and request hash of the claim a patient's ``request_id`` created (idempotency)."""
        rows = self.query("SELECT claim_id, request_hash FROM claims WHERE request_id = ?", request_id)
        return rows[0] if rows else None

    def insurers_of(self, claim_id: str) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM claim_insurers WHERE claim_id = ? ORDER BY insurer_code", claim_id)

    def due_tasks(self, now: float, limit: int = 64) -> list[sqlite3.Row]:
        """Pending tasks that are due and that no worker holds."""
        return self.query("SELECT * FROM tasks WHERE state = 'pending' AND next_at <= ? AND leased_until <= ? "
                          "ORDER BY next_at, task_id LIMIT ?", now, now, limit)

    def lease_due(self, owner: str, now: float, seconds: float, limit: int = 64) -> list[sqlite3.Row]:
        """Take the due tasks no worker holds for ``owner`` until ``now + seconds``, in one statement (so two
        workers never take the same task); returns them as they are now."""
        if not self.due_tasks(now, 1):  # a read: most looks find nothing, and need no write lock
            return []
        with self.transaction() as db:
            rows = db.execute("UPDATE tasks SET lease_owner = ?, leased_until = ? WHERE task_id IN (SELECT task_id "
                              "FROM tasks WHERE state = 'pending' AND next_at <= ? AND leased_until <= ? "
                              "ORDER BY next_at, task_id LIMIT ?) RETURNING *",
                              (owner, now + seconds, now, now, limit)).fetchall()
        return sorted(rows, key=lambda row: (row["next_at"], row["task_id"]))

    def renew_leases(self, owner: str, until: float) -> None:
        """Keep holding the tasks ``owner`` still runs."""
        with self.transaction() as db:
            db.execute("UPDATE tasks SET leased_until = ? WHERE lease_owner = ? AND state = 'pending'", (until, owner))

    def release_leases(self) -> None:
        """Forget every worker's hold: only when no other worker runs (a relay starting alone after a crash)."""
        with self.transaction() as db:
            db.execute("UPDATE tasks SET lease_owner = NULL, leased_until = 0 WHERE lease_owner IS NOT NULL")

    def dead_letters(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM tasks WHERE state = 'dead' ORDER BY task_id")

    def add_task(self, db: sqlite3.Connection, claim_id: str, kind: str, target: str, delay: float = 0.0) -> None:
        db.execute("INSERT OR IGNORE INTO tasks (claim_id, kind, target, next_at) VALUES (?, ?, ?, ?)",
                   (claim_id, kind, target, time.time() + delay))

    def providers(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.query("SELECT body FROM providers ORDER BY code")]

    def put_provider(self, registration: dict[str, Any]) -> None:
        self.put_providers([registration])

    def put_providers(self, registrations: list[dict[str, Any]]) -> None:
        """Register (or change) providers, all in one transaction."""
        if not registrations:
            return
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO providers VALUES (?, ?)",
                           [(r["code"], json.dumps(r, ensure_ascii=False)) for r in registrations])

    def counts(self) -> dict[str, int]:
        rows = self.query("SELECT state, COUNT(*) AS n FROM claims GROUP BY state")
        return {r["state"]: r["n"] for r in rows}

    def reset(self) -> None:
        """Forget everything but the counters: numbers issued after a reset never repeat one issued before
        (other parties may still hold them as request ids)."""
        with self.transaction() as db:
            for table in ("claims", "claim_insurers", "tasks", "events", "agent_work", "supplements"):
                db.execute(f"DELETE FROM {table}")
