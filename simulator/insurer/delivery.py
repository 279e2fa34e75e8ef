"""Post status events to the relay's callback URL, in order per claim, retrying with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ..retry import RetryPolicy
from .store import InsurerStore

#: Receipts whose first pending event is due (an event never overtakes an earlier one of its claim).
DUE = """
SELECT receipt_number FROM events e WHERE status = 'pending' AND next_attempt <= ?
  AND NOT EXISTS (SELECT 1 FROM events p WHERE p.receipt_number = e.receipt_number
                  AND p.status = 'pending' AND p.sequence < e.sequence)
ORDER BY receipt_number LIMIT ?
"""
PENDING = "SELECT * FROM events WHERE receipt_number = ? AND status = 'pending' ORDER BY sequence"
#: Claims whose events are posted at the same time (each claim's own events one after the other, in order).
CONCURRENT_CLAIMS = 32


async def _deliver_claim(rows: list[Any], client: httpx.AsyncClient) -> list[tuple[Any, str | None]]:
    """Post one claim's pending events in sequence order; stop at the first that fails. (row, error) each."""
    outcomes: list[tuple[Any, str | None]] = []
    for row in rows:
        error = None
        try:
            for _ in range(row["copies"]):
                response = await client.post(row["callback_url"], content=row["body"],
                                             headers={"content-type": "application/json"})
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}"
                    break
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        outcomes.append((row, error))
        if error is not None:
            break
    return outcomes


async def deliver_due(store: InsurerStore, client: httpx.AsyncClient, retry: RetryPolicy) -> int:
    """One pass: post the due events of up to ``2 × CONCURRENT_CLAIMS`` claims, claims side by side, and
    record the outcomes in one transaction (an event posted again after a crash is a duplicate to the relay,
    which applies it once). Returns how many were delivered."""
    receipts = [r["receipt_number"] for r in store.query(DUE, time.time(), 2 * CONCURRENT_CLAIMS)]
    if not receipts:
        return 0
    await store.durable()  # the events were committed with the claim's answer; nothing leaves unsynced
    gate = asyncio.Semaphore(CONCURRENT_CLAIMS)

    async def one(receipt: str) -> list[tuple[Any, str | None]]:
        async with gate:
            return await _deliver_claim(store.query(PENDING, receipt), client)

    outcomes = [o for claim in await asyncio.gather(*(one(r) for r in receipts)) for o in claim]
    delivered = [(row["event_id"],) for row, error in outcomes if error is None]
    with store.transaction() as db:
        db.executemany("UPDATE events SET status = 'delivered', attempts = attempts + 1, last_error = NULL "
                       "WHERE event_id = ?", delivered)
        for row, error in outcomes:
            if error is not None:
                attempts = row["attempts"] + 1
                status = "dead" if attempts >= retry.attempts else "pending"
                db.execute("UPDATE events SET status = ?, attempts = ?, next_attempt = ?, last_error = ? "
                           "WHERE event_id = ?",
                           (status, attempts, time.time() + retry.delay(attempts), error, row["event_id"]))
    return len(delivered)


async def run_forever(tick: Callable[[], Awaitable[object]], interval: float = 0.05,
                      wake: asyncio.Event | None = None) -> None:
    """Call ``tick`` every ``interval`` seconds (or as soon as ``wake`` is set) until cancelled; a failing tick
    is retried, never fatal."""
    wake = wake or asyncio.Event()
    while True:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop must survive a bad row or a closed client
            await asyncio.sleep(interval * 10)
        wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):  # not wait_for: on 3.11 it can swallow a cancellation
                await wake.wait()
