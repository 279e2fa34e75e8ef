"""Durability as stated in docs/durability.md: each store's SQLite settings, and the crash drill (kill -9)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest

from s24kit.simulator.insurer.delivery import run_forever
from s24kit.simulator.insurer.store import InsurerStore
from s24kit.simulator.journal import Journal
from s24kit.simulator.relay.app import create_relay_app
from s24kit.simulator.relay.config import RelayConfig
from s24kit.simulator.relay.store import RelayStore

from .conftest import ROOT
from .crash_drill import CrashDrill

LEVELS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _stated() -> dict[str, tuple[str, str]]:
    """store → (journal mode, synchronous) from the table of docs/durability.md."""
    text = (ROOT / "docs" / "durability.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (relay|insurer|journal) \|.*\| (\w+) \| (\w+) \|$", text, re.MULTILINE)
    return {store: (mode, level) for store, mode, level in rows}


def _actual(connection: sqlite3.Connection) -> tuple[str, str]:
    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    return mode.upper(), LEVELS[connection.execute("PRAGMA synchronous").fetchone()[0]]


def test_every_store_has_the_durability_the_documentation_states(tmp_path: Path) -> None:
    relay, insurer = RelayStore(tmp_path / "relay.sqlite"), InsurerStore(tmp_path / "insurer-INSA.sqlite")
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        actual = {"relay": _actual(relay._db), "insurer": _actual(insurer._db), "journal": _actual(journal._db)}
    finally:
        relay.close(), insurer.close(), journal.close()
    assert _stated() == actual
    # What the parties acknowledge to others must survive a power loss, not only a killed process: they commit
    # at NORMAL and sync before anything leaves them (group commit, tests/test_durable_answers.py)
    assert actual["relay"][1] == actual["insurer"][1] == "NORMAL"


def test_claims_survive_kill_9_at_random_moments(tmp_path: Path) -> None:
    """SIGKILL three times while a dozen claims flow; restart on the same state; nothing lost or paid twice."""
    drill = CrashDrill(tmp_path / "state", patients=20, seed=7, claims=12)
    result = drill.run(kills=3, seed=11, budget=90, pause=0.25, kill_after=(0.5, 2.0))
    summary = result.summary()
    assert result.kills == 3, summary
    assert result.ok, summary
    assert sum(result.states.values()) == result.sent >= 10, summary


def test_claims_survive_kill_9_of_a_relay_worker_and_of_the_whole_process_tree(tmp_path: Path) -> None:
    """``serve --processes --relay-workers 2``: one relay worker killed alone while claims flow (the other carries
    on), then the whole process tree killed at once, twice, and restarted on the same state; every acknowledged
    claim final with its expected payout, no insurer receipt twice, every fetch and submission under its claim's
    one request id and repeated no more often than the crashes explain."""
    drill = CrashDrill(tmp_path / "state", patients=16, seed=7, claims=8, relay_workers=2)
    result = drill.run(kills=2, worker_kills=1, seed=5, budget=240, pause=0.4, kill_after=(0.8, 2.0))
    summary = result.summary()
    assert (result.kills, result.worker_kills) == (2, 1), summary
    assert result.ok, summary
    assert sum(result.states.values()) == result.sent >= 6, summary
    assert result.resent.keys() == {"/s24/v1/documents:fetch", "/insurer/v1/claims"}, summary  # journals read


# -- stopping: a work loop woken at the moment it is cancelled still stops ---------------------------------------


async def _stops_when_cancelled_as_woken(task: asyncio.Task[None], wake: asyncio.Event) -> bool:
    await asyncio.sleep(0.05)  # the loop is waiting for its wake-up
    wake.set()
    task.cancel()  # in the same turn: asyncio.wait_for on 3.11 returns the wake-up and loses the cancellation
    done, _ = await asyncio.wait([task], timeout=5)
    return bool(done)


@pytest.mark.anyio
async def test_the_relay_work_loop_stops_when_cancelled_as_it_is_woken() -> None:
    relay = create_relay_app(RelayConfig(), work=False).state.relay
    assert await _stops_when_cancelled_as_woken(asyncio.create_task(relay.run()), relay._wake)


@pytest.mark.anyio
async def test_the_insurer_delivery_loop_stops_when_cancelled_as_it_is_woken() -> None:
    async def tick() -> None:
        return None

    wake = asyncio.Event()
    assert await _stops_when_cancelled_as_woken(asyncio.create_task(run_forever(tick, 0.5, wake=wake)), wake)
