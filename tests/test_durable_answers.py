"""Group commit (docs/durability.md): commits do not wait for the disk, but nothing leaves the relay or an
insurer — an answer, a call to a provider or an insurer, an event — before what it committed is on disk."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest

from s24kit.simulator.database import Database
from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.insurer.adjudication import engine_adjudicator
from s24kit.simulator.insurer.app import create_insurer_app
from s24kit.simulator.insurer.config import InsurerConfig
from s24kit.simulator.insurer.delivery import deliver_due
from s24kit.simulator.insurer.store import InsurerStore
from s24kit.simulator.relay.app import create_relay_app
from s24kit.simulator.retry import RetryPolicy
from s24kit.simulator.stack import SimClock, Stack, StackOptions

from .conftest import generated_scenario

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "4", "--seed", "3")


class Syncs:
    """Counts the fsyncs of database files (calling through to the real ``os.fsync``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = os.fsync

        def counted(fd: int) -> None:
            real(fd)
            self.count += os.readlink(f"/proc/self/fd/{fd}").endswith((".sqlite", "-wal"))

        monkeypatch.setattr(os, "fsync", counted)


def _relay(scenario: Path, tmp_path: Path, client: httpx.AsyncClient | None = None):
    stack = Stack(StackOptions(scenario, tmp_path / "state", clock=SimClock()))
    stack.urls = {"relay": "https://relay.test", **{f"insurer:{c}": f"https://{c}.test" for c in stack.insurer_configs},
                  **{f"provider:{c}": f"https://{c}.test" for c in stack.cores}}
    app = create_relay_app(stack.relay_config(), database=tmp_path / "relay.sqlite", work=False, client=client,
                           clock=stack.clock)
    record = next(stack.claims())
    stack.clock.now = stack.clock.now.fromisoformat(record["claim"]["consent"]["granted_at"])
    return stack, app, record["claim"]


async def test_the_relay_answers_a_claim_only_once_its_commit_is_on_disk(scenario, tmp_path, monkeypatch):
    syncs = Syncs(monkeypatch)
    stack, app, claim = _relay(scenario, tmp_path)
    store = app.state.store
    async with httpx.AsyncClient(transport=httpx.ASGITransport(as_caller(app, stack.pki["patient-app"])),
                                 base_url="https://relay.test") as patient:
        answer = await patient.post("/relay/v1/claims", json=claim)
        assert answer.status_code == 202, answer.text
        assert not store.unsynced and syncs.count == 1
        # an answer that committed nothing does not wait for the disk
        status = await patient.get(f"/relay/v1/claims/{answer.json()['claim_id']}")
        assert status.status_code == 200 and syncs.count == 1


async def test_the_relay_calls_a_provider_only_once_its_commits_are_on_disk(scenario, tmp_path):
    seen: list[bool] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(store.unsynced)
        return httpx.Response(503, json={"code": "service_unavailable"})

    _, app, claim = _relay(scenario, tmp_path, httpx.AsyncClient(transport=httpx.MockTransport(provider)))
    store, relay = app.state.store, app.state.relay
    assert relay.submit(claim)[0] == 202  # the engine directly: committed, not yet synced
    assert store.unsynced
    assert await relay.step() == 1
    assert seen == [False]


async def test_many_answers_waiting_on_the_same_commits_share_one_fsync(tmp_path, monkeypatch):
    syncs = Syncs(monkeypatch)
    store = Database(tmp_path / "db.sqlite", "CREATE TABLE t (n INTEGER);")
    with store.transaction() as db:
        db.execute("INSERT INTO t VALUES (1)")
    await asyncio.gather(*(store.durable() for _ in range(20)))
    assert not store.unsynced and syncs.count == 1
    await store.durable()
    assert syncs.count == 1  # nothing new committed: nothing to wait for



async def test_waiters_of_the_same_commits_hand_one_fsync_to_a_thread_not_one_each(tmp_path, monkeypatch):
    store = Database(tmp_path / "db.sqlite", "CREATE TABLE t (n INTEGER);")
    handed: list[int] = []
    real = store.sync
    monkeypatch.setattr(store, "sync", lambda through=None: (handed.append(through), real(through)))
    with store.transaction() as db:
        db.execute("INSERT INTO t VALUES (1)")
    await asyncio.gather(*(store.durable() for _ in range(20)))
    assert not store.unsynced and handed == [1]  # one thread hop for twenty waiters


async def test_a_commit_made_while_an_fsync_runs_waits_for_the_next_one(tmp_path, monkeypatch):
    store = Database(tmp_path / "db.sqlite", "CREATE TABLE t (n INTEGER);")
    real = store.sync
    started, release = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_sync(through=None):
        loop.call_soon_threadsafe(started.set)
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(5)
        real(through)

    monkeypatch.setattr(store, "sync", slow_sync)
    with store.transaction() as db:
        db.execute("INSERT INTO t VALUES (1)")
    first = asyncio.create_task(store.durable())
    await started.wait()  # the fsync for commit 1 runs; commit 2 comes after it started
    with store.transaction() as db:
        db.execute("INSERT INTO t VALUES (2)")
    second = asyncio.create_task(store.durable())
    cancelled = asyncio.create_task(store.durable())
    await asyncio.sleep(0)
    cancelled.cancel()  # a waiter that goes away does not take the others' fsync with it
    started.clear()
    release.set()
    await first
    assert not first.exception() and store._synced >= 1
    await asyncio.wait_for(second, 5)
    assert not store.unsynced  # commit 2 got an fsync of its own, which started after it
    assert cancelled.cancelled()

async def test_an_insurer_answers_and_sends_events_only_once_its_commits_are_on_disk(tmp_path, monkeypatch, pki):
    syncs = Syncs(monkeypatch)
    app = create_insurer_app(InsurerConfig("INSA"), adjudicator=engine_adjudicator,
                             database=tmp_path / "insurer.sqlite", deliver=False)
    store = app.state.insurer.store
    async with httpx.AsyncClient(transport=httpx.ASGITransport(as_caller(app, pki["admin"])),
                                 base_url="https://insa.test") as admin:
        answer = await admin.post("/__admin/policies", json=[{"identity_token": "T" * 20,
                                                             "policy": {"policy_number": "P-1"}}])
    assert answer.status_code == 200, answer.text
    assert not store.unsynced and syncs.count == 1

    seen: list[bool] = []

    def relay(request: httpx.Request) -> httpx.Response:
        seen.append(events.unsynced)
        return httpx.Response(204)

    events = InsurerStore(tmp_path / "insurer.sqlite")  # what accepting a claim committed, not yet synced
    with events.transaction() as db:
        db.execute("INSERT INTO events (event_id, receipt_number, sequence, body, callback_url) VALUES "
                   "('e1', 'INSA-1', 1, ?, 'https://relay.test/relay/v1/claims/C/events')", (json.dumps({}),))
    assert events.unsynced
    async with httpx.AsyncClient(transport=httpx.MockTransport(relay)) as client:
        assert await deliver_due(events, client, RetryPolicy()) == 1
    assert seen == [False]
