"""The relay end to end: claims travel relay → provider → insurers → events, payouts equal the scenario's
expected payouts; agent mode; faults lead to retries or dead letters; restarts lose nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from s24kit.schemas.loader import is_valid
from s24kit.simulator.faults import FaultPlan, FaultSwitch
from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.insurer.config import Behaviour, InsurerConfig
from s24kit.simulator.relay.agents import AgentQueue
from s24kit.simulator.relay.config import Mode, ProviderRegistration
from s24kit.simulator.relay.states import FINAL
from s24kit.simulator.relay.store import RelayStore
from s24kit.simulator.retry import RetryPolicy
from s24kit.simulator.stack import SimClock, Stack, StackOptions

from .conftest import generated_scenario

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    # seed 30: a patient insured at INSA and INSB, two first claims on one day, two patients at one provider
    return generated_scenario(tmp_path_factory, "--patients", "12", "--seed", "30")


def _stack(scenario: Path, tmp_path: Path, **options: Any) -> Stack:
    options.setdefault("clock", SimClock())
    options.setdefault("retry", FAST)
    return Stack(StackOptions(scenario, tmp_path / "state", **options))


def _at_claim_time(stack: Stack, record: dict[str, Any]) -> None:
    stack.clock.now = dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"]) + dt.timedelta(minutes=1)


def _caller(stack: Stack, name: str = "patient-app", address: tuple[str, int] = ("127.0.0.1", 1)) -> httpx.AsyncClient:
    """An in-process client of the relay presenting credential ``name`` (the patient app's by default)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(as_caller(stack.relay_app, stack.pki[name]), client=address),
                             base_url=stack.urls["relay"])


def _over_tls(stack: Stack, name: str | None = "patient-app") -> httpx.Client:
    return httpx.Client(verify=stack.pki.client_context(name), base_url=stack.urls["relay"])


async def _claim(stack: Stack, record: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    _at_claim_time(stack, record)
    async with _caller(stack) as c:
        response = await c.post("/relay/v1/claims", json=record["claim"])
        assert response.status_code == 202, response.text
        assert is_valid("claim-status", response.json())
        return await stack.relay.wait_for(response.json()["claim_id"], timeout)


def _assert_expected(status: dict[str, Any], record: dict[str, Any]) -> None:
    for insurer in status["insurers"]:
        expected = record["expected"][insurer["insurer_code"]]["total"]
        if expected > 0:
            assert insurer["state"] == "paid" and insurer["payout_total"] == expected, (status, expected)
        else:
            assert insurer["state"] == "denied", (status, expected)


def _served_by(scenario: Path, tmp_path: Path, records: list[dict[str, Any]], **options: Any) -> Stack:
    """A stack serving only the providers of ``records`` (fewer servers to start over the network)."""
    return _stack(scenario, tmp_path, providers=sorted({r["claim"]["provider_code"] for r in records}), **options)


def _first(stack: Stack, *, insurers: int = 1) -> dict[str, Any]:
    return next(r for r in stack.claims() if len(r["claim"]["insurers"]) >= insurers)


# -- the whole scenario ----------------------------------------------------------------------------------------


async def test_every_claim_in_process_pays_the_expected_amount(scenario, tmp_path):
    stack = _stack(scenario, tmp_path, persistent=False)
    async with stack.inprocess():
        records = list(stack.claims())
        assert len(records) >= 10
        for record in records:
            _assert_expected(await _claim(stack, record), record)


def test_claims_over_mutual_tls_with_agents_pay_the_expected_amount(scenario, tmp_path):
    records = list(_stack(scenario, tmp_path).claims())[:10]
    agents = sorted({r["claim"]["provider_code"] for r in records})[:2]
    stack = _served_by(scenario, tmp_path, records, agents=agents)
    with stack.network() as running:
        client = _over_tls(running)
        for record in records:
            _at_claim_time(stack, record)
            response = client.post("/relay/v1/claims", json=record["claim"])
            assert response.status_code == 202, response.text
            _assert_expected(_poll(client, response.json()["claim_id"]), record)
        via_agent = [r for r in records if r["claim"]["provider_code"] in agents]
        assert via_agent, "the sample must include claims served by an agent"
        assert sum(a.answered for a in running.agents.values()) >= len(via_agent)
        journal = _over_tls(running, "admin").get("/__admin/journal", params={"party": "relay→provider:*",
                                                                               "limit": 1000}).json()["entries"]
        parties = {e["party"] for e in journal}
        assert parties and not any(p.endswith(tuple(agents)) for p in parties), "agents are never called"
        assert all(e["tls_peer"] for e in journal), "every pull exchange records the provider's certificate"


def _poll(client: httpx.Client, claim_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/relay/v1/claims/{claim_id}").json()
        if status["state"] in FINAL:
            return status
        time.sleep(0.02)
    raise AssertionError(f"claim {claim_id} still {status['state']}")


# -- intake ----------------------------------------------------------------------------------------------------


def _other_accident(record: dict[str, Any]) -> str:
    """An accident type the claim does not have: the same request with it is a changed claim."""
    return "disease" if record["claim"]["accident_type"] != "disease" else "injury"


async def test_request_id_is_idempotent_and_a_changed_claim_conflicts(scenario, tmp_path):
    stack = _stack(scenario, tmp_path, persistent=False)
    async with stack.inprocess():
        record = _first(stack)
        _at_claim_time(stack, record)
        async with _caller(stack) as c:
            first = await c.post("/relay/v1/claims", json=record["claim"])
            again = await c.post("/relay/v1/claims", json=record["claim"])
            changed = await c.post("/relay/v1/claims",
                                   json={**record["claim"], "accident_type": _other_accident(record)})
            unknown = await c.post("/relay/v1/claims", json={**record["claim"], "request_id": "req-other-0001",
                                                             "provider_code": "99999999"})
            broken = await c.post("/relay/v1/claims", content=b"{", headers={"content-type": "application/json"})
        assert first.status_code == 202 and again.status_code == 200
        assert again.json()["claim_id"] == first.json()["claim_id"]
        assert changed.status_code == 409 and changed.json()["code"] == "idempotency_conflict"
        assert unknown.status_code == 404 and "99999999" in unknown.json()["detail"]
        assert broken.status_code == 400 and broken.json()["code"] == "invalid_json"


# -- agent identity --------------------------------------------------------------------------------------------


async def test_an_agent_must_come_from_its_address_with_its_certificate(scenario, tmp_path):
    stack = _stack(scenario, tmp_path, persistent=False)
    code = next(iter(stack.cores))
    stack = _stack(scenario, tmp_path, persistent=False, agents=[code])
    async with stack.inprocess():
        relay = stack.relay
        pem = stack.pki["provider-agent"].leaf_pem()  # as the TLS layer hands it over
        foreign = stack.pki["relay-client"].leaf_pem()
        assert relay.agents.identity(code, "127.0.0.1", pem) is None
        status, body = relay.agents.identity(code, "10.9.9.9", pem)
        assert (status, body["code"]) == (403, "source_ip_not_allowed") and "10.9.9.9" in body["detail"]
        status, body = relay.agents.identity(code, "127.0.0.1", None)
        assert (status, body["code"]) == (403, "client_certificate_required")
        status, body = relay.agents.identity(code, "127.0.0.1", foreign)
        assert (status, body["code"]) == (403, "forbidden")
        other = next(c for c in stack.cores if c != code)
        assert relay.agents.identity(other, "127.0.0.1", pem)[0] == 404  # a pull provider has no agent
        # over ASGI the poll arrives from an unregistered address: refused, and nothing is leased
        async with _caller(stack, "provider-agent", ("10.0.0.7", 1)) as c:
            refused = await c.post("/relay/v1/agent/poll", json={"provider_code": code, "agent_id": "x"})
        assert refused.status_code == 403 and refused.json()["code"] == "source_ip_not_allowed"


async def test_a_poll_whose_agent_hung_up_leases_nothing(tmp_path):
    """An agent that ends mid-poll (a load run stopping) left its poll waiting at the relay, which then leased
    the next request to nobody: that request waited out the lease, 10 s, before another poll could take it."""
    registration = ProviderRegistration("99310001", Mode.AGENT)
    queue = AgentQueue(RelayStore(tmp_path / "relay.sqlite"), lambda code: registration, 30.0, lambda: None)
    hung_up = asyncio.Event()

    async def gone() -> bool:
        return hung_up.is_set()

    polling = asyncio.create_task(queue.poll("99310001", 10, 5.0, gone=gone))
    await asyncio.sleep(0.05)
    hung_up.set()
    queue.ask(registration, "documents:fetch", {"request_id": "req-after-hang-up"})  # wakes the poll
    assert await polling == {"requests": []}
    taken = (await queue.poll("99310001", 10, 0.0))["requests"]  # the next poll gets it at once
    assert [request["request_id"] for request in taken] == ["req-after-hang-up"]


def test_an_agent_without_the_registered_certificate_gets_no_work(scenario, tmp_path):
    record = _first(_stack(scenario, tmp_path))
    code = record["claim"]["provider_code"]
    stack = _served_by(scenario, tmp_path, [record], agents=[code])
    with stack.network() as running:
        impostor, anonymous, patient = _over_tls(running, "relay-client"), _over_tls(running, None), _over_tls(running)
        poll = {"provider_code": code, "agent_id": "impostor"}
        assert impostor.post("/relay/v1/agent/poll", json=poll).json()["code"] == "forbidden"
        assert anonymous.post("/relay/v1/agent/poll", json=poll).json()["code"] == "client_certificate_required"
        _at_claim_time(stack, record)
        claim_id = patient.post("/relay/v1/claims", json=record["claim"]).json()["claim_id"]
        _assert_expected(_poll(patient, claim_id), record)  # the registered agent answered it


# -- who gets what ---------------------------------------------------------------------------------------------


async def test_a_provider_with_the_wrong_certificate_never_receives_a_patient_request(scenario, tmp_path):
    record = _first(_stack(scenario, tmp_path))
    code = record["claim"]["provider_code"]
    stack = _served_by(scenario, tmp_path, [record])
    with stack.network() as running:
        client, admin = _over_tls(running), _over_tls(running, "admin")
        registration = {"mode": "pull", "base_url": running.urls[f"provider:{code}"],
                        "server_cert_sha256": running.pki["insurer-server"].sha256()}  # not the provider's
        assert admin.put(f"/__admin/providers/{code}", json=registration).status_code == 200
        _at_claim_time(stack, record)
        claim_id = client.post("/relay/v1/claims", json=record["claim"]).json()["claim_id"]
        status = _poll(client, claim_id)
        assert status["state"] == "failed" and "not the registered" in status["insurers"][0]["error"]
        calls = admin.get("/__admin/journal", params={"party": f"relay→provider:{code}"}).json()["entries"]
        assert [e["route"] or e["url"].rsplit("/", 1)[-1] for e in calls] and all(
            e["url"].endswith("/s24/v1/health") for e in calls), "only the health check was sent"


def test_provider_endpoints_refuse_a_relay_without_a_client_certificate(scenario, tmp_path):
    stack = _served_by(scenario, tmp_path, [_first(_stack(scenario, tmp_path))])
    with stack.network() as running:
        url = next(u for name, u in running.urls.items() if name.startswith("provider:"))
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{url}/s24/v1/health", verify=running.pki.client_context(None)).raise_for_status()
        ok = httpx.get(f"{url}/s24/v1/health", verify=running.pki.client_context("relay-client"))
        assert ok.status_code == 200


# -- faults ----------------------------------------------------------------------------------------------------


def _plan(*rules: dict[str, Any], seed: int = 1) -> FaultSwitch:
    return FaultSwitch(FaultPlan.from_dict({"seed": seed, "fault": list(rules)}))


async def _run_with(scenario, tmp_path, rules, *, insurers=1, **options) -> tuple[Stack, dict, dict]:
    switch = _plan(*rules)
    stack = _stack(scenario, tmp_path, persistent=False, faults=switch, **options)
    async with stack.inprocess():
        record = _first(stack, insurers=insurers)
        status = await _claim(stack, record)
        store, deadline = stack.relay_app.state.store, time.monotonic() + 15
        # the insurer's events can make the claim final before the relay's retried forward has its answer
        while store.query("SELECT 1 FROM tasks WHERE claim_id = ? AND state = 'pending'", status["claim_id"]):
            assert time.monotonic() < deadline, "a task of the claim never settled"
            if not await stack.relay.step():
                await asyncio.sleep(0.01)
        detail = store.query("SELECT kind, target, state, attempts, last_error FROM tasks WHERE claim_id = ?",
                             status["claim_id"])
        return stack, status, {"record": record, "tasks": [dict(r) for r in detail],
                               "applied": switch.plan.applied()}


@pytest.mark.parametrize("rule", [
    {"kind": "error_status", "status": 503, "party": "provider:*", "times": 2},
    {"kind": "connection_reset", "party": "provider:*", "times": 1},
    {"kind": "timeout", "party": "provider:*", "bound_ms": 50, "times": 1},
    {"kind": "truncated_body", "party": "provider:*", "times": 1},
    {"kind": "malformed_json", "party": "provider:*", "times": 1},
    {"kind": "error_status", "status": 502, "party": "insurer:*", "times": 2},
    {"kind": "connection_reset", "party": "insurer:*", "at": "response", "times": 1},
], ids=lambda r: f"{r['kind']}-{r['party']}")
async def test_transient_faults_are_retried_until_the_claim_completes(scenario, tmp_path, rule):
    _, status, facts = await _run_with(scenario, tmp_path, [rule])
    _assert_expected(status, facts["record"])
    assert facts["applied"], "the fault was applied"
    retried = [t for t in facts["tasks"] if t["attempts"] > 0]
    assert retried and all(t["state"] == "done" for t in facts["tasks"])


async def test_latency_and_slow_bodies_only_slow_the_claim_down(scenario, tmp_path):
    rules = [{"kind": "latency", "party": "provider:*", "ms": 30},
             {"kind": "slow_body", "party": "insurer:*", "bytes_per_second": 200_000}]
    stack, status, facts = await _run_with(scenario, tmp_path, rules)
    _assert_expected(status, facts["record"])
    assert all(t["attempts"] == 0 for t in facts["tasks"])
    durations = [e["duration_ms"] for e in stack.journal.search(party="relay→provider:*")]
    assert durations and min(durations) >= 30


async def test_a_relay_error_inside_a_task_backs_off_and_is_retried(scenario, tmp_path):
    stack = _stack(scenario, tmp_path, persistent=False)
    async with stack.inprocess():
        real, failures = stack.relay._fetch, []

        async def broken_once(task):
            if not failures:
                failures.append(task["task_id"])
                raise RuntimeError("simulated relay bug")
            return await real(task)

        stack.relay._fetch = broken_once
        record = _first(stack)
        status = await _claim(stack, record)
        _assert_expected(status, record)
        fetch = stack.relay_app.state.store.query("SELECT attempts FROM tasks WHERE claim_id = ? AND kind = 'fetch'",
                                                  status["claim_id"])[0]
        assert failures and fetch["attempts"] == 1


async def test_a_provider_answering_4xx_fails_the_claim_without_retrying(scenario, tmp_path):
    rule = {"kind": "error_status", "status": 403, "code": "invalid_consent", "party": "provider:*"}
    _, status, facts = await _run_with(scenario, tmp_path, [rule])
    assert status["state"] == "failed"
    fetch = next(t for t in facts["tasks"] if t["kind"] == "fetch")
    assert fetch["state"] == "dead" and fetch["attempts"] == 1 and "invalid_consent" in fetch["last_error"]


async def test_a_dead_provider_becomes_a_dead_letter_after_the_retries(scenario, tmp_path):
    _, status, facts = await _run_with(scenario, tmp_path, [{"kind": "party_down", "party": "provider:*"}])
    assert status["state"] == "failed"
    fetch = next(t for t in facts["tasks"] if t["kind"] == "fetch")
    assert fetch["state"] == "dead" and fetch["attempts"] == FAST.attempts
    assert all(i["state"] == "failed" and "provider" in i["error"] for i in status["insurers"])


async def test_one_insurer_of_several_failing_leaves_the_others_paid_and_can_be_retried(scenario, tmp_path):
    switch = _plan({"kind": "party_down", "party": "insurer:INSB"})
    stack = _stack(scenario, tmp_path, persistent=False, faults=switch)
    async with stack.inprocess():
        record = next(r for r in stack.claims() if {"INSA", "INSB"} <= set(r["claim"]["insurers"]))
        status = await _claim(stack, record)
        states = {i["insurer_code"]: i["state"] for i in status["insurers"]}
        assert states["INSB"] == "failed" and states["INSA"] in ("paid", "denied")
        async with _caller(stack, "admin") as c:
            dead = (await c.get("/__admin/dead-letters")).json()["dead_letters"]
            assert [d["target"] for d in dead] == ["INSB"]
            switch.plan = FaultPlan.empty()
            assert (await c.post(f"/__admin/dead-letters/{dead[0]['task_id']}/retry")).status_code == 200
        _assert_expected(await stack.relay.wait_for(status["claim_id"]), record)


@pytest.mark.parametrize("kind", ["duplicate_event", "out_of_order_events"])
async def test_duplicate_and_reordered_events_are_applied_once_in_order(scenario, tmp_path, kind):
    rule = {"kind": kind, "party": "relay", "route": "/relay/v1/claims/*/events", "times": 2}
    if kind == "out_of_order_events":
        rule["hold_ms"] = 200
    stack, status, facts = await _run_with(scenario, tmp_path, [rule])
    _assert_expected(status, facts["record"])
    assert facts["applied"]
    store = stack.relay_app.state.store
    rows = store.query("SELECT insurer_code, sequence, applied FROM events WHERE claim_id = ? ORDER BY sequence",
                       status["claim_id"])
    by_insurer: dict[str, list[int]] = {}
    for row in rows:
        assert row["applied"]
        by_insurer.setdefault(row["insurer_code"], []).append(row["sequence"])
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_insurer.values()), by_insurer


async def test_insurer_behaviour_more_documents_and_deny_reach_the_claim(scenario, tmp_path):
    configs = [InsurerConfig("INSA", behaviour=Behaviour.MORE_DOCUMENTS),
               InsurerConfig("INSB", behaviour=Behaviour.DENY), InsurerConfig("INSC")]
    stack = _stack(scenario, tmp_path, persistent=False, insurers=configs)
    async with stack.inprocess():
        record = _first(stack)
        status = await _claim(stack, record)
        wanted = {"INSA": "more_documents_required", "INSB": "denied"}
        for insurer in status["insurers"]:
            assert insurer["state"] == wanted.get(insurer["insurer_code"], insurer["state"])


async def test_an_additional_claim_answers_a_request_for_more_documents(scenario, tmp_path):
    configs = [InsurerConfig(code, behaviour=Behaviour.MORE_DOCUMENTS, requested_documents=("itemised_statement",))
               for code in ("INSA", "INSB", "INSC")]
    stack = _stack(scenario, tmp_path, persistent=False, insurers=configs)
    async with stack.inprocess():
        first_of_patient: dict[str, dict[str, Any]] = {}
        for record in stack.claims():
            first_of_patient.setdefault(record["patient_id"], record)
        record = next(r for r in first_of_patient.values()
                      if "itemised_statement" in r["claim"]["document_types"] and len(r["claim"]["document_types"]) > 1)
        without = [t for t in record["claim"]["document_types"] if t != "itemised_statement"]
        status = await _claim(stack, {**record, "claim": {**record["claim"], "document_types": without}})
        assert status["state"] == "more_documents_required"
        assert all(i["state"] == "more_documents_required" for i in status["insurers"])
        more = {**record["claim"], "request_id": record["claim"]["request_id"] + "-more",
                "document_types": ["itemised_statement"]}
        path = f"/relay/v1/claims/{status['claim_id']}/documents"
        async with _caller(stack) as c:
            accepted = await c.post(path, json=more)
            again = await c.post(path, json=more)
            changed = await c.post(path, json={**more, "accident_type": _other_accident(record)})
            unknown = await c.post("/relay/v1/claims/CLM-19990101-000001/documents", json=more)
        assert accepted.status_code == 202 and again.status_code == 200, accepted.text
        assert changed.status_code == 409 and unknown.status_code == 404
        deadline = time.monotonic() + 15
        while (status := stack.relay.status(status["claim_id"]))["state"] == "more_documents_required":
            assert time.monotonic() < deadline, status
            if not await stack.relay.step():
                await asyncio.sleep(0.01)
        _assert_expected(await stack.relay.wait_for(status["claim_id"]), record)
        receipts = {i["insurer_code"]: i["receipt_number"] for i in stack.relay.status(status["claim_id"])["insurers"]}
        assert all(r.endswith("-000001") for r in receipts.values()), "the insurer kept the claim's receipt"
        async with _caller(stack) as c:
            late = await c.post(path, json={**more, "request_id": more["request_id"] + "-2"})
        assert late.status_code == 409 and late.json()["code"] == "invalid_request"


# -- restart ---------------------------------------------------------------------------------------------------


def test_a_relay_killed_mid_claim_resumes_and_loses_nothing(scenario, tmp_path):
    configs = [InsurerConfig(code, behaviour=Behaviour.SLOW, delay_ms=300) for code in ("INSA", "INSB", "INSC")]
    records = list(_stack(scenario, tmp_path).claims())[:3]
    stack = _served_by(scenario, tmp_path, records, insurers=configs)
    with stack.network() as running:
        for record in records:
            client = _over_tls(running)
            _at_claim_time(stack, record)
            claim_id = client.post("/relay/v1/claims", json=record["claim"]).json()["claim_id"]
            time.sleep(0.15)  # documents fetched; the forward to the slow insurers is in flight
            assert client.get(f"/relay/v1/claims/{claim_id}").json()["state"] not in FINAL
            running.restart_relay()
            client = _over_tls(running)
            _assert_expected(_poll(client, claim_id, timeout=30), record)
        assert len(_over_tls(running, "admin").get("/__admin/claims").json()["claims"]) == len(records)


async def test_claims_run_concurrently_without_mixing_patients(scenario, tmp_path):
    stack = _stack(scenario, tmp_path, persistent=False)
    async with stack.inprocess():
        first: dict[str, dict[str, Any]] = {}
        for record in stack.claims():  # a patient's first claim only, so that histories cannot interfere
            first.setdefault(record["patient_id"], record)
        by_day: dict[str, list[dict[str, Any]]] = {}
        for record in first.values():
            by_day.setdefault(record["claim_date"], []).append(record)
        chosen = max(by_day.values(), key=len)
        assert len(chosen) >= 2
        _at_claim_time(stack, max(chosen, key=lambda r: r["claim"]["consent"]["granted_at"]))
        async with _caller(stack) as c:
            sent = await asyncio.gather(*(c.post("/relay/v1/claims", json=r["claim"]) for r in chosen))
        results = await asyncio.gather(*(stack.relay.wait_for(s.json()["claim_id"]) for s in sent))
        for status, record in zip(results, chosen, strict=True):
            _assert_expected(status, record)


async def test_an_additional_claim_cannot_pull_another_patients_documents(scenario, tmp_path):
    configs = [InsurerConfig(code, behaviour=Behaviour.MORE_DOCUMENTS, requested_documents=("itemised_statement",))
               for code in ("INSA", "INSB", "INSC")]
    stack = _stack(scenario, tmp_path, persistent=False, insurers=configs)
    async with stack.inprocess():
        records = stack.claims()
        record = next(r for r in records if any(o["claim"]["provider_code"] == r["claim"]["provider_code"]
                                               and o["patient_id"] != r["patient_id"] for o in records))
        other = next(o for o in records if o["claim"]["provider_code"] == record["claim"]["provider_code"]
                     and o["patient_id"] != record["patient_id"])
        status = await _claim(stack, record)
        assert status["state"] == "more_documents_required", status
        path = f"/relay/v1/claims/{status['claim_id']}/documents"
        theirs = {**other["claim"], "request_id": "req-other-patient", "insurers": record["claim"]["insurers"]}
        async with _caller(stack) as c:
            refused = await c.post(path, json=theirs)
            assert refused.status_code == 400, refused.text
            assert refused.json()["detail"].startswith("insured."), refused.json()
            mine = record["claim"]["insured"]
            for field in ("name", "birth_date", "identity_token"):
                if other["claim"]["insured"][field] == mine[field]:
                    continue
                one_off = {**theirs, "request_id": f"req-one-off-{field}",
                           "insured": {**other["claim"]["insured"], **{k: v for k, v in mine.items() if k != field}}}
                answer = await c.post(path, json=one_off)
                assert answer.status_code == 400 and answer.json()["detail"].startswith(f"insured.{field}:"), field
                assert mine["name"] not in answer.text and other["claim"]["insured"]["name"] not in answer.text
        assert stack.relay_app.state.store.query("SELECT * FROM supplements") == []
        assert stack.relay.status(status["claim_id"])["state"] == "more_documents_required"
