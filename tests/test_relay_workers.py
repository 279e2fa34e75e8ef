"""Several relay workers on one database (``s24kit serve --processes --relay-workers N``): claims complete, no
task runs twice, a worker's task is taken over only once its lease ran out, a killed worker's claims complete."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from s24kit.simulator.journal import Journal
from s24kit.simulator.relay.app import create_relay_app
from s24kit.simulator.relay.states import FINAL
from s24kit.simulator.retry import RetryPolicy
from s24kit.simulator.stack import SimClock, Stack, StackOptions, journal_sources

from .conftest import generated_scenario

FAST = RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.5)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "16", "--seed", "12")


# -- leases, two workers in this process -----------------------------------------------------------------------


def _workers(scenario: Path, tmp_path: Path, lease: float) -> tuple[Any, Any, dict[str, Any]]:
    """Two relay workers over one database file, their provider answering 503 (each run is one attempt)."""
    stack = Stack(StackOptions(scenario, tmp_path / "state", clock=SimClock(), relay_workers=2, relay_lease=lease))
    stack.urls = {"relay": "https://relay.test", **{f"insurer:{c}": f"https://{c}.test" for c in stack.insurer_configs},
                  **{f"provider:{c}": f"https://{c}.test" for c in stack.cores}}
    unavailable = httpx.MockTransport(lambda request: httpx.Response(503, json={"code": "service_unavailable"}))
    relays = [create_relay_app(stack.relay_config(), database=tmp_path / "relay.sqlite", work=False,
                               client=httpx.AsyncClient(transport=unavailable), clock=stack.clock).state.relay
              for _ in range(2)]
    record = next(stack.claims())
    stack.clock.now = stack.clock.now.fromisoformat(record["claim"]["consent"]["granted_at"])
    assert relays[0].submit(record["claim"])[0] == 202
    return relays[0], relays[1], record


@pytest.mark.anyio
async def test_a_task_held_by_one_worker_is_left_alone_until_its_lease_runs_out(scenario, tmp_path):
    first, second, _ = _workers(scenario, tmp_path, lease=0.5)
    taken = first._take_due()
    assert [row["kind"] for row in taken] == ["fetch"]
    assert second._take_due() == []  # held: the other worker does not run it too
    first.store.renew_leases(first.worker, time.time() + 30)  # still running: renewed
    time.sleep(0.6)
    assert second._take_due() == []
    # the first worker dies without finishing; once its lease runs out the task is the other's
    first.store.renew_leases(first.worker, time.time() - 1)
    assert await second.step() == 1
    row = second.store.query("SELECT attempts, lease_owner, leased_until FROM tasks WHERE task_id = ?",
                             taken[0]["task_id"])[0]
    assert (row["attempts"], row["lease_owner"], row["leased_until"]) == (1, None, 0)


@pytest.mark.anyio
async def test_a_relay_alone_on_its_database_frees_what_a_crashed_run_held(scenario, tmp_path):
    first, _, _ = _workers(scenario, tmp_path, lease=300)
    assert first._take_due()  # held for five minutes by a run that then crashed
    stack = Stack(StackOptions(scenario, tmp_path / "state", clock=SimClock()))
    stack.urls = {"relay": "https://relay.test", **{f"insurer:{c}": f"https://{c}.test" for c in stack.insurer_configs},
                  **{f"provider:{c}": f"https://{c}.test" for c in stack.cores}}
    alone = create_relay_app(stack.relay_config(), database=tmp_path / "relay.sqlite", work=False,
                             client=first.client).state.relay
    assert [row["kind"] for row in alone._take_due()] == ["fetch"]


# -- two worker processes over mutual TLS -----------------------------------------------------------------------


def _retrying(call, deadline: float) -> httpx.Response:
    """A patient app's retry: a connection the killed worker held fails; the same request again is idempotent."""
    while True:
        try:
            return call()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _send(running: Stack, claims: list[dict[str, Any]], deadline: float) -> list[str]:
    ids = []
    for claim in claims:  # a connection each, so that the kernel hands them to either worker
        with httpx.Client(verify=running.pki.client_context("patient-app"), base_url=running.urls["relay"]) as c:
            answer = _retrying(lambda c=c, claim=claim: c.post("/relay/v1/claims", json=claim), deadline)
            assert answer.status_code in (200, 202), answer.text
            ids.append(answer.json()["claim_id"])
    return ids


def _final(running: Stack, claim_id: str, deadline: float) -> dict[str, Any]:
    while True:
        with httpx.Client(verify=running.pki.client_context("patient-app"), base_url=running.urls["relay"],
                          timeout=30) as c:
            status = _retrying(lambda c=c: c.get(f"/relay/v1/claims/{claim_id}", params={"wait": 5}), deadline).json()
        if status["state"] in FINAL or time.monotonic() > deadline:
            return status


def _first_claims(stack: Stack, count: int) -> list[dict[str, Any]]:
    """One claim per patient (their first), so that no claim's payout depends on another's being paid first."""
    first: dict[str, dict[str, Any]] = {}
    for record in stack.claims():
        first.setdefault(record["patient_id"], record)
    return list(first.values())[:count]


def _expected(status: dict[str, Any], record: dict[str, Any]) -> bool:
    return all((i["state"] == "paid" and i["payout_total"] == record["expected"][i["insurer_code"]]["total"])
               if record["expected"][i["insurer_code"]]["total"] > 0 else i["state"] == "denied"
               for i in status["insurers"])


def _request_ids(journals: list[Journal], route: str) -> list[str]:
    """The request ids the relay sent on ``route`` and had accepted: a retry after a refusal (an insurer answers
    503 while the 중복가입 register is slow) is the same task trying again, not the task run twice."""
    return [json.loads(entry["request"]["body"])["request_id"] for journal in journals
            for entry in journal.search(party="relay→*", route=route, method="POST", limit=10_000)
            if entry["status"] is not None and 200 <= entry["status"] < 300]


def _admin_journal(running: Stack, deadline: float, **query: Any) -> dict[str, Any]:
    with httpx.Client(verify=running.pki.client_context("admin"), base_url=running.urls["relay"]) as c:
        answer = _retrying(lambda: c.get("/__admin/journal", params={"limit": 1000, **query}), deadline)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _not_admin(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in entries if not e["route"].startswith("/__admin/")}


def _journal_from_both_workers(running: Stack, deadline: float) -> list[tuple[str, dict[str, Any]]]:
    """The whole admin journal, asked on new connections until each worker has answered at least once: (who
    answered, the answer). Each ask has its own ``limit``; who answered it shows in a later answer, where the ask
    itself is an exchange ``recorded_by`` the worker that answered."""
    previous, current = None, _not_admin(_admin_journal(running, deadline)["entries"])
    while current != previous and time.monotonic() < deadline:  # until the last long polls are recorded
        time.sleep(0.3)
        previous, current = current, _not_admin(_admin_journal(running, deadline)["entries"])
    answers: dict[int, dict[str, Any]] = {}
    for limit in range(1000, 960, -1):
        answers[limit] = _admin_journal(running, deadline, limit=limit)
        answered = {}
        for entry in answers[limit]["entries"]:
            asked = parse_qs(urlsplit(entry["url"]).query).get("limit", ["0"])[0]
            if entry["route"] == "/__admin/journal" and asked.isdigit() and int(asked) in answers:
                answered[int(asked)] = entry["recorded_by"]
        if set(answered.values()) == {"relay", "relay-2"}:
            return [(who, answers[asked]) for asked, who in answered.items()]
    raise AssertionError("one worker answered every ask")


def test_two_relay_workers_complete_claims_and_never_run_a_task_twice(scenario, tmp_path):
    """… and the admin journal of either worker shows the exchanges of both workers and of the register, each once,
    pages through them without losing or repeating one, and masks persons as each file stored them."""
    stack = Stack(StackOptions(scenario, tmp_path / "state", relay_workers=2, retry=FAST, tenants=40))
    records = _first_claims(stack, 10)
    deadline = time.monotonic() + 120
    with stack.network(processes=True) as running:
        assert {"relay", "relay-2"} <= set(running.processes.pids())
        claims = [running.fresh_claim(r, f"workers-{i:03d}") for i, r in enumerate(records)]
        ids = _send(running, claims, deadline)
        statuses = [_final(running, claim_id, deadline) for claim_id in ids]
        answers = _journal_from_both_workers(running, deadline)
        assert {who for who, _ in answers} == {"relay", "relay-2"}
        posts = _admin_journal(running, deadline, method="POST")["entries"]
        pages = [e for offset in range(0, len(posts) + 7, 7)
                 for e in _admin_journal(running, deadline, method="POST", limit=7, offset=offset)["entries"]]
    assert all(_expected(status, record) for status, record in zip(statuses, records, strict=True)), statuses
    sources = journal_sources(stack.options)
    journals = [Journal(s.path, recorded_by=s.recorded_by, id_prefix=s.id_prefix) for s in sources]
    assert all(journal.count() for journal in journals)  # both workers served, the register was asked
    for route in ("/insurer/v1/claims", "*/s24/v1/documents:fetch"):
        sent = _request_ids(journals[:2], route)
        assert sent and len(sent) == len(set(sent)), route  # each task succeeded once, by one worker
    # one journal: what every file holds (the admin reads themselves aside), from either worker, once each
    stored = _not_admin([e for journal in journals for e in journal.search(limit=10_000)])
    for who, answer in answers:
        assert len({e["id"] for e in answer["entries"]}) == len(answer["entries"]) == answer["returned"], who
        assert _not_admin(answer["entries"]) == stored, who
    assert {e["recorded_by"] for e in posts} == {"relay", "relay-2", "register"}
    assert [e["id"] for e in pages] == [e["id"] for e in posts]  # paged by 7: nothing lost or repeated
    assert {e["id"] for e in posts} == {i for i, e in stored.items() if e["method"] == "POST"}
    names = {record["claim"]["insured"]["name"] for record in records}
    assert not [name for name in names if name in json.dumps(answers, ensure_ascii=False)]  # masked


def test_the_claims_of_a_killed_relay_worker_complete_on_the_other(scenario, tmp_path):
    stack = Stack(StackOptions(scenario, tmp_path / "state", relay_workers=2, relay_lease=2.0, retry=FAST,
                               tenants=40))
    records = _first_claims(stack, 8)
    deadline = time.monotonic() + 120
    with stack.network(processes=True) as running:
        claims = [running.fresh_claim(r, f"killed-{i:03d}") for i, r in enumerate(records)]
        ids = _send(running, claims, deadline)
        os.kill(running.processes.pids()["relay-2"], signal.SIGKILL)  # mid-claim, holding what it holds
        statuses = [_final(running, claim_id, deadline) for claim_id in ids]
    assert all(_expected(status, record) for status, record in zip(statuses, records, strict=True)), statuses
