"""Journal.record (masking, bounds, in memory) vs a bare sqlite INSERT of the same row, same run.

Goal (issue 5): tens of thousands of records per second in memory; the ratio shows what masking and the
bounds cost over the database alone.

    python benchmarks/journal.py [--records 50000] [--file]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import result

from s24kit.simulator.journal import SCHEMA, Journal

REQUEST = json.dumps({"request_id": "req-20261020-0001",
                      "patient": {"name": "홍길동", "birth_date": "1990-01-01", "identity_token": "tok-7Hx9q2LmZ"},
                      "visit_ids": [f"V-{i:06d}" for i in range(5)],
                      "document_types": ["medical_receipt", "itemised_statement"]}, ensure_ascii=False).encode()
RESPONSE = json.dumps({"documents": [{"patient": {"name": "홍길동", "resident_number_masked": "900101-1******"},
                                      "items": [{"name": f"항목 {i}", "amount": 1200 * i} for i in range(20)]}]},
                      ensure_ascii=False).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer abc", "x-request-id": "req-1"}


def journal_rate(count: int, path: str) -> float:
    journal = Journal(path, max_entries=max(count // 5, 1))  # trimming is part of what is measured
    started = time.perf_counter()
    for _ in range(count):
        journal.record(party="relay→provider:99350012", method="POST",
                       url="https://127.0.0.1:8443/s24/v1/documents:fetch", route="/s24/v1/documents:fetch",
                       request_headers=HEADERS, request_body=REQUEST, status=200, response_headers=HEADERS,
                       response_body=RESPONSE, started_at="2026-11-01T10:00:00+09:00", duration_ms=3.2)
    elapsed = time.perf_counter() - started
    journal.close()
    return count / elapsed


def bare_rate(count: int, path: str) -> float:
    """The floor: one prepared INSERT per exchange of already-serialised text, no masking, no trimming."""
    db = sqlite3.connect(path, isolation_level=None)
    if path != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    headers, request, response = json.dumps(HEADERS), REQUEST.decode(), RESPONSE.decode()
    started = time.perf_counter()
    for seq in range(1, count + 1):
        db.execute("INSERT INTO exchanges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (seq, 0.0, "2026-11-01T10:00:00+09:00", "relay→provider:99350012", "POST",
                    "https://127.0.0.1:8443/s24/v1/documents:fetch", "/s24/v1/documents:fetch", 200, 3.2, None,
                    None, None, headers, request, headers, response, 1000))
    elapsed = time.perf_counter() - started
    db.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--file", action="store_true", help="use a WAL file instead of :memory:")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = (f"{tmp}/bare.sqlite", f"{tmp}/journal.sqlite") if args.file else (":memory:", ":memory:")
        bare = bare_rate(args.records, paths[0])
        value = journal_rate(args.records, paths[1])
    print(f"bare sqlite INSERT: {bare:,.0f}/s; Journal.record: {value:,.0f}/s")
    result("journal.record", value, "records/s", bare, storage="file" if args.file else "memory",
           records=args.records)


if __name__ == "__main__":
    main()
