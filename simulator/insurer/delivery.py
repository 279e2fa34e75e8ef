"""Post status events to the relay's callback URL, in order per claim, retrying with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable

import httpx

from ..retry import RetryPolicy
from .store import InsurerStore

DUE = """
SELECT * FROM events e WHERE status = 'pending' AND next_attempt <= ?
  AND NOT EXISTS (SELECT 1 FROM events p WHERE p.receipt_number = e.receipt_number
                  AND p.status = 'pending' AND p.sequence < e.sequence)
ORDER BY receipt_number, sequence LIMIT 50
"""


async def deliver_due(store: InsurerStore, client: httpx.AsyncClient, retry: RetryPolicy) -> int:
    """One pass: post every due event once. Returns how many were delivered."""
    delivered = 0
    for row in store.query(DUE, time.time()):
        body = json.loads(row["body"])
        error = None
        try:
            for _ in range(row["copies"]):
                response = await client.post(row["callback_url"], json=body)
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}"
                    break
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        with store.transaction() as db:
            if error is None:
                db.execute("UPDATE events SET status = 'delivered', attempts = attempts + 1, last_error = NULL "
                           "WHERE event_id = ?", (row["event_id"],))
                delivered += 1
            else:
                attempts = row["attempts"] + 1
                status = "dead" if attempts >= retry.attempts else "pending"
                db.execute("UPDATE events SET status = ?, attempts = ?, next_attempt = ?, last_error = ? "
                           "WHERE event_id = ?",
                           (status, attempts, time.time() + retry.delay(attempts), error, row["event_id"]))
    return delivered


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
