"""Every route of every party × every kind of caller → allowed, or the refusal docs/security.md documents.

The routes are read from the apps themselves, so a route added without deciding who may call it fails
here. The policy below is written out independently of the apps' tables (it is docs/security.md's), and
each cell is called for real: in-process through the ASGI TLS extension, and over mutual TLS on loopback,
where a foreign CA's certificate must not get past the handshake.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import socket
import ssl
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.insurer.config import Behaviour, InsurerConfig
from s24kit.simulator.pki import certificate_role, ensure_pki
from s24kit.simulator.relay import RelayConfig, create_relay_app
from s24kit.simulator.serving import serving
from s24kit.simulator.stack import SimClock, Stack, StackOptions

from .conftest import generated_scenario, load_example

pytestmark = pytest.mark.anyio

ADMIN = "/__admin/"
#: Who may call what (docs/security.md). None: anyone; a prefix ending in "/" covers every path below it.
POLICY: dict[str, dict[str, frozenset[str] | None]] = {
    "relay": {
        "/relay/v1/health": None,
        "/relay/v1/whoami": None,
        "/relay/v1/claims": frozenset({"patient-app"}),
        "/relay/v1/claims/{claim_id}": frozenset({"patient-app"}),
        "/relay/v1/claims/{claim_id}/documents": frozenset({"patient-app"}),
        "/relay/v1/claims/{claim_id}/events": frozenset({"insurer"}),
        "/relay/v1/agent/poll": frozenset({"provider-agent"}),
        "/relay/v1/agent/replies": frozenset({"provider-agent"}),
        ADMIN: frozenset({"admin"}),
    },
    "insurer": {
        "/insurer/v1/health": None,
        "/insurer/v1/claims": frozenset({"relay"}),
        "/insurer/v1/claims/{receipt_number}": frozenset({"relay"}),
        ADMIN: frozenset({"admin"}),
    },
    "register": {
        "/register/v1/health": None,
        "/register/v1/lookups": frozenset({"insurer"}),
    },
    "provider": {
        "/s24/v1/health": None,
        "/s24/v1/visits:search": frozenset({"relay"}),
        "/s24/v1/documents:fetch": frozenset({"relay"}),
    },
}
CALLERS = (None, "relay-client", "provider-agent", "insurer-client-INSA", "patient-app", "admin")
PARAMS = {"claim_id": "CLM-20990101-999999", "receipt_number": "INSA-20990101-999999", "code": "99999999",
          "task_id": "999999", "exchange_id": "x-999999"}
REFUSALS = ("client_certificate_required", "forbidden")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    # seed 39: a patient insured at INSA and INSB, and no other insurer in the scenario
    return generated_scenario(tmp_path_factory, "--patients", "6", "--seed", "39")


def _stack(scenario: Path, state: Path, **options: Any) -> Stack:
    options.setdefault("clock", SimClock())
    return Stack(StackOptions(scenario, state, insurers=[InsurerConfig("INSA"), InsurerConfig("INSB")], **options))


def _allowed(party: str, template: str) -> frozenset[str] | None:
    policy = POLICY[party.split(":", 1)[0]]
    if template.startswith(ADMIN) and ADMIN in policy:
        return policy[ADMIN]
    assert template in policy, f"{party} {template}: a route nobody decided who may call (add it to the policy)"
    return policy[template]


def _calls(party: str, app: Any) -> list[tuple[str, str, frozenset[str] | None]]:
    """(method, concrete path, roles allowed) for every route of ``app``."""
    calls = []
    for route in app.routes:
        assert isinstance(route, Route), route
        path = re.sub(r"{(\w+)(:\w+)?}", lambda m: PARAMS.get(m.group(1), "x"), route.path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            calls.append((method, path, _allowed(party, route.path)))
    return calls


def _expected(allowed: frozenset[str] | None, role: str | None, presented: bool) -> str:
    if allowed is None:
        return "answered"
    if not presented:
        return "client_certificate_required"
    return "answered" if role in allowed else "forbidden"


def _verdict(response: httpx.Response) -> str:
    assert response.status_code < 500, response.text
    if response.status_code == 403:
        code = response.json()["code"]
        assert response.headers["content-type"] == "application/problem+json"
        return code if code in REFUSALS else "answered"
    return "answered"


async def _send(client: Any, method: str, path: str) -> httpx.Response:
    body = {} if method in ("POST", "PUT") else None
    return await client.request(method, path, json=body) if body is not None else await client.request(method, path)


def _apps(stack: Stack) -> dict[str, Any]:
    return {"relay": stack.relay_app, "register": stack.register_app,
            **{f"insurer:{c}": a for c, a in stack.insurer_apps.items()},
            **{f"provider:{c}": a for c, a in stack.provider_apps.items()}}


async def test_every_route_of_every_party_in_process(scenario, tmp_path):
    stack = _stack(scenario, tmp_path / "state", persistent=False)
    wrong: list[str] = []
    checked = 0
    async with stack.inprocess():
        for party, app in _apps(stack).items():
            for name in CALLERS:
                credential = stack.pki[name] if name else None
                role = certificate_role(credential.cert.read_text()) if credential else None
                transport = httpx.ASGITransport(as_caller(app, credential))
                async with httpx.AsyncClient(transport=transport, base_url=stack.urls[party]) as client:
                    for method, path, allowed in _calls(party, app):
                        got = _verdict(await _send(client, method, path))
                        want = _expected(allowed, role, credential is not None)
                        checked += 1
                        if got != want:
                            wrong.append(f"{party} {method} {path} as {name}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)
    assert checked > 150


def test_every_route_of_every_party_over_mutual_tls(scenario, tmp_path):
    stack = _stack(scenario, tmp_path / "state", providers=[next(iter(_stack(scenario, tmp_path / "p").cores))])
    foreign = ensure_pki(tmp_path / "foreign")
    wrong: list[str] = []
    with stack.network() as running:
        for party, app in _apps(running).items():
            calls = _calls(party, app)
            for name in CALLERS:
                role = certificate_role(running.pki[name].cert.read_text()) if name else None
                with httpx.Client(verify=running.pki.client_context(name), base_url=running.urls[party]) as client:
                    for method, path, allowed in calls:
                        try:
                            response = client.request(method, path, **({"json": {}} if method in ("POST", "PUT")
                                                                        else {}))
                        except httpx.TransportError:  # the insurer and provider require a certificate to connect
                            got = "handshake refused"
                        else:
                            got = _verdict(response)
                        want = _expected(allowed, role, name is not None)
                        if name is None and not party.startswith("relay"):
                            want = "handshake refused"
                        if got != want:
                            wrong.append(f"{party} {method} {path} as {name}: {got}, expected {want}")
            # a certificate of another CA never gets past the handshake, on any route of any party
            context = running.pki.client_context(None)
            context.load_cert_chain(foreign["admin"].cert, foreign["admin"].key)
            with httpx.Client(verify=context, base_url=running.urls[party]) as client:
                for method, path, _ in calls:
                    with pytest.raises(httpx.TransportError):
                        client.request(method, path)
    assert not wrong, "\n".join(wrong)


# -- the attacks of the report, one by one ---------------------------------------------------------------------


def _client(stack: Stack, party: str, name: str | None) -> httpx.AsyncClient:
    app = _apps(stack)[party]
    credential = stack.pki[name] if name else None
    return httpx.AsyncClient(transport=httpx.ASGITransport(as_caller(app, credential)), base_url=stack.urls[party])


async def _pending_claim(stack: Stack) -> tuple[dict[str, Any], dict[str, str]]:
    """A claim both insurers received and hold in review: (its status, insurer → receipt number)."""
    record = next(r for r in stack.claims() if {"INSA", "INSB"} <= set(r["claim"]["insurers"]))
    stack.clock.now = dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"]) + dt.timedelta(minutes=1)
    async with _client(stack, "relay", "patient-app") as patient:
        response = await patient.post("/relay/v1/claims", json=stack.fresh_claim(record, "req-forged-0001"))
        assert response.status_code == 202, response.text
    claim_id = response.json()["claim_id"]
    for _ in range(2000):
        status = stack.relay.status(claim_id)
        if all(i["state"] == "in_review" and i.get("receipt_number") for i in status["insurers"]):
            return status, {i["insurer_code"]: i["receipt_number"] for i in status["insurers"]}
        if not await stack.relay.step():
            await _sleep()
    raise AssertionError(f"claim {claim_id} never reached review: {stack.relay.status(claim_id)}")


async def _sleep() -> None:
    await asyncio.sleep(0.01)


def _paid(claim_id: str, insurer: str, receipt: str, sequence: int = 3) -> dict[str, Any]:
    """A schema-valid "paid" event of 99,999,999 won (the forgery of the report)."""
    event = load_example("insurer-event")
    event["payout"]["lines"] = [{"code": "forged", "label_ko": "위조", "label_en": "forged", "amount": 99_999_999}]
    event["payout"]["total"] = 99_999_999
    return {**event, "event_id": f"{receipt}-{sequence}", "claim_id": claim_id, "insurer_code": insurer,
            "receipt_number": receipt, "sequence": sequence}


async def test_a_forged_paid_event_is_refused_unless_from_the_insurer_with_its_receipt(scenario, tmp_path):
    pend = [InsurerConfig(code, behaviour=Behaviour.PEND, pend_seconds=3600) for code in ("INSA", "INSB")]
    stack = Stack(StackOptions(scenario, tmp_path / "state", insurers=pend, clock=SimClock(), persistent=False))
    async with stack.inprocess():
        status, receipts = await _pending_claim(stack)
        claim_id = status["claim_id"]
        path = f"/relay/v1/claims/{claim_id}/events"
        attempts = {
            "no certificate": (None, _paid(claim_id, "INSA", receipts["INSA"]), "client_certificate_required"),
            "the patient app": ("patient-app", _paid(claim_id, "INSA", receipts["INSA"]), "forbidden"),
            "the relay's own": ("relay-client", _paid(claim_id, "INSA", receipts["INSA"]), "forbidden"),
            "another insurer's": ("insurer-client-INSB", _paid(claim_id, "INSA", receipts["INSA"]), "forbidden"),
            "a wrong receipt": ("insurer-client-INSA", _paid(claim_id, "INSA", receipts["INSB"]), "forbidden"),
        }
        for why, (name, event, code) in attempts.items():
            async with _client(stack, "relay", name) as client:
                response = await client.post(path, json=event)
            assert (response.status_code, response.json()["code"]) == (403, code), why
            detail = response.json()["detail"]
            if why == "another insurer's":
                assert detail.startswith("insurer_code:"), detail
            if why == "a wrong receipt":
                assert detail.startswith("receipt_number:"), detail
            now = stack.relay.status(claim_id)
            assert all(i["state"] == "in_review" and "payout_total" not in i for i in now["insurers"]), (why, now)
        events = stack.relay_app.state.store.query("SELECT event_id FROM events WHERE claim_id = ?", claim_id)
        assert all("-3" not in e["event_id"] for e in events), "no refused event was recorded"
        # the same event with the insurer's own certificate and receipt is applied: the refusals above are
        # the certificate's and the receipt's doing, not the event's
        async with _client(stack, "relay", "insurer-client-INSA") as insurer:
            accepted = await insurer.post(path, json=_paid(claim_id, "INSA", receipts["INSA"]))
        assert accepted.status_code == 204, accepted.text
        states = {i["insurer_code"]: i["state"] for i in stack.relay.status(claim_id)["insurers"]}
        assert states == {"INSA": "paid", "INSB": "in_review"}


async def test_the_provider_gives_documents_to_the_relay_only(scenario, tmp_path):
    stack = _stack(scenario, tmp_path / "state", persistent=False)
    async with stack.inprocess():
        code, core = next(iter(stack.cores.items()))
        token, patient = sorted(core.scenario.patients.items())[0]
        visits = sorted(v for v, e in core.scenario.visits.items() if e["patient_id"] == patient["patient_id"])
        now = stack.clock()
        body = {"request_id": "req-fetch-role-1", "visit_ids": visits,
                "patient": {"name": patient["name"], "birth_date": patient["birth_date"], "identity_token": token},
                "document_types": ["medical_receipt"],
                "consent": {"consent_id": "C-1", "granted_at": (now - dt.timedelta(days=1)).isoformat(),
                            "expires_at": (now + dt.timedelta(days=6)).isoformat(), "scope": ["medical_receipt"]}}
        for name in ("provider-agent", "patient-app", "insurer-client-INSA", "admin"):
            async with _client(stack, f"provider:{code}", name) as client:
                refused = await client.post("/s24/v1/documents:fetch", json=body)
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden", name
            assert patient["name"] not in refused.text
        async with _client(stack, f"provider:{code}", "relay-client") as relay:
            answered = await relay.post("/s24/v1/documents:fetch", json=body)
        assert answered.status_code == 200 and answered.json()["documents"], answered.text


async def test_the_insurer_refuses_a_callback_outside_its_relay(scenario, tmp_path):
    stack = _stack(scenario, tmp_path / "state", persistent=False)
    async with stack.inprocess():
        submission = {**load_example("insurer-claim"), "insurer_code": "INSA",
                      "callback_url": "https://attacker.example/relay/v1/claims/CLM-000001/events"}
        async with _client(stack, "insurer:INSA", "relay-client") as relay:
            refused = await relay.post("/insurer/v1/claims", json=submission)
        assert refused.status_code == 400 and refused.json()["detail"].startswith("callback_url:")
        assert stack.insurer_apps["INSA"].state.insurer.store.claims() == []


async def test_reset_needs_confirmation_and_numbering_continues_after_it(scenario, tmp_path):
    stack = _stack(scenario, tmp_path / "state", persistent=False)
    async with stack.inprocess():
        records = [r for r in stack.claims() if r["claim"]["insurers"] == ["INSA"]
                   or set(r["claim"]["insurers"]) <= {"INSA", "INSB"}][:2]
        first = await _replay(stack, records[0], "req-before-reset")
        async with _client(stack, "relay", "admin") as admin:
            for query in ("", "?confirm=no&confirm=reset", "?confirm=reset&confirm=reset"):
                refused = await admin.post(f"/__admin/reset{query}")
                assert refused.status_code == 400 and refused.json()["detail"].startswith("confirm:"), query
            for task in ("²", "99999999999999999999999", "-1", "1.0"):
                missing = await admin.post(f"/__admin/dead-letters/{task}/retry")
                assert (missing.status_code, missing.json()["code"]) == (404, "not_found"), (task, missing.text)
            assert stack.relay.status(first["claim_id"]) is not None, "an unconfirmed reset forgets nothing"
            assert (await admin.post("/__admin/reset", params={"confirm": "reset"})).status_code == 200
        assert stack.relay.status(first["claim_id"]) is None
        # the insurers were not reset: they still hold the request ids of the claims before the reset
        second = await _replay(stack, records[1], "req-after-reset")
        assert _number(second["claim_id"]) == _number(first["claim_id"]) + 1
        assert second["state"] in ("paid", "denied") and all(i["state"] in ("paid", "denied")
                                                             for i in second["insurers"]), second


def _number(claim_id: str) -> int:
    return int(claim_id.rsplit("-", 1)[1])


async def _replay(stack: Stack, record: dict[str, Any], request_id: str) -> dict[str, Any]:
    stack.clock.now = dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"]) + dt.timedelta(minutes=1)
    async with _client(stack, "relay", "patient-app") as patient:
        response = await patient.post("/relay/v1/claims", json={**record["claim"], "request_id": request_id})
    assert response.status_code == 202, response.text
    return await stack.relay.wait_for(response.json()["claim_id"], 20)


def test_the_client_side_presents_the_certificate_of_its_role(scenario, tmp_path):
    """Over mutual TLS every caller of the stack shows its own role: the relay's journal records each peer."""
    stack = _stack(scenario, tmp_path / "state", providers=[next(iter(_stack(scenario, tmp_path / "p").cores))])
    with stack.network() as running:
        record = next(running.claims())
        running.clock.now = (dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"])
                             + dt.timedelta(minutes=1))
        patient = httpx.Client(verify=running.pki.client_context("patient-app"), base_url=running.urls["relay"])
        claim_id = patient.post("/relay/v1/claims", json=record["claim"]).json()["claim_id"]
        for _ in range(400):
            if patient.get(f"/relay/v1/claims/{claim_id}", params={"wait": "0.1"}).json()["state"] in (
                    "paid", "denied", "failed"):
                break
        admin = httpx.Client(verify=running.pki.client_context("admin"), base_url=running.urls["relay"])
        events = admin.get("/__admin/journal", params={"party": "→relay", "route": "/relay/v1/claims/*/events",
                                                       "limit": 100}).json()["entries"]
        subjects = {e["tls_peer"]["subject"] for e in events if e.get("tls_peer")}
        assert subjects and all("OU=insurer" in s for s in subjects), subjects


async def test_the_relay_registers_providers_only_on_loopback_or_allowed_hosts(scenario, tmp_path):
    stack = _stack(scenario, tmp_path / "state", persistent=False, allowed_provider_hosts=("emr.clinic.test",))
    async with stack.inprocess():
        async with _client(stack, "relay", "admin") as admin:
            for url in ("https://192.0.2.10:8443", "https://169.254.169.254", "https://emr.clinic.test.evil:1"):
                refused = await admin.put("/__admin/providers/99999999", json={"mode": "pull", "base_url": url})
                assert refused.status_code == 400 and refused.json()["detail"].startswith("provider.base_url:"), url
            for url in ("https://127.0.0.2:8443", "https://[::1]:8443", "https://emr.clinic.test:8443"):
                accepted = await admin.put("/__admin/providers/99999999", json={"mode": "pull", "base_url": url})
                assert accepted.status_code == 200, (url, accepted.text)
        registered = {p["code"]: p["base_url"] for p in stack.relay_app.state.store.providers()}
        assert registered["99999999"] == "https://emr.clinic.test:8443"


async def test_an_insurer_cannot_forge_its_result_before_the_relay_sent_it_the_claim(scenario, tmp_path):
    """INSA posts received + paid 99,999,999 under a made-up receipt before the relay transmitted the claim:
    both are held, never applied, and discarded once INSA's acknowledgement gives the real receipt."""
    pend = [InsurerConfig(code, behaviour=Behaviour.PEND, pend_seconds=3600) for code in ("INSA", "INSB")]
    stack = Stack(StackOptions(scenario, tmp_path / "state", insurers=pend, clock=SimClock(), persistent=False))
    async with stack.inprocess():
        record = next(r for r in stack.claims() if {"INSA", "INSB"} <= set(r["claim"]["insurers"]))
        stack.clock.now = dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"]) + dt.timedelta(minutes=1)
        async with _client(stack, "relay", "patient-app") as patient:
            response = await patient.post("/relay/v1/claims", json=stack.fresh_claim(record, "req-early-forged"))
        claim_id = response.json()["claim_id"]
        path = f"/relay/v1/claims/{claim_id}/events"
        received = {**_paid(claim_id, "INSA", "INSA-FORGED-9", 1), "type": "received"}
        del received["payout"]
        async with _client(stack, "relay", "insurer-client-INSA") as insurer:
            for event in (received, _paid(claim_id, "INSA", "INSA-FORGED-9", 2)):
                assert (await insurer.post(path, json=event)).status_code == 204  # recorded, held
            insa = next(i for i in stack.relay.status(claim_id)["insurers"] if i["insurer_code"] == "INSA")
            assert insa["state"] == "requested" and "payout_total" not in insa, insa
            # the same sequence under the same receipt with another body is refused, not taken as a repeat
            other = {**_paid(claim_id, "INSA", "INSA-FORGED-9", 2), "event_id": "another-id"}
            other["payout"]["total"] = other["payout"]["lines"][0]["amount"] = 1
            conflict = await insurer.post(path, json=other)
            assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict"), conflict.text
            assert conflict.json()["detail"].startswith("sequence:")
            again = await insurer.post(path, json={**_paid(claim_id, "INSA", "INSA-FORGED-9", 2), "event_id": "x-2"})
            assert again.status_code == 204, "the same event under another event_id is a duplicate"
        for _ in range(2000):
            insa = next(i for i in stack.relay.status(claim_id)["insurers"] if i["insurer_code"] == "INSA")
            if insa["state"] == "in_review" and insa.get("receipt_number"):
                break
            if not await stack.relay.step():
                await _sleep()
        assert insa["state"] == "in_review" and insa["receipt_number"] != "INSA-FORGED-9", insa
        assert "payout_total" not in insa, insa
        forged = stack.relay_app.state.store.query(
            "SELECT applied FROM events WHERE claim_id = ? AND body LIKE '%INSA-FORGED-9%'", claim_id)
        assert forged and all(r["applied"] == 2 for r in forged), "the forged events are kept as discarded"


async def test_an_agent_registration_needs_both_its_address_and_its_certificate_pin(scenario, tmp_path):
    stack = _stack(scenario, tmp_path / "state", persistent=False)
    async with stack.inprocess():
        pin = stack.pki["provider-agent"].sha256()
        async with _client(stack, "relay", "admin") as admin:
            for body, missing in (({"mode": "agent"}, "source_ip"),
                                  ({"mode": "agent", "agent_cert_sha256": pin}, "source_ip"),
                                  ({"mode": "agent", "source_ip": "127.0.0.1"}, "agent_cert_sha256")):
                refused = await admin.put("/__admin/providers/99000011", json=body)
                assert refused.status_code == 400, (body, refused.text)
                detail = refused.json()["detail"]
                assert detail.startswith(f"provider.{missing}:") and "\n" not in detail, detail
            assert "99000011" not in {p["code"] for p in stack.relay_app.state.store.providers()}
            accepted = await admin.put("/__admin/providers/99000011",
                                       json={"mode": "agent", "source_ip": "127.0.0.1", "agent_cert_sha256": pin})
            assert accepted.status_code == 200, accepted.text
        # a registration stored without its pins (an older relay) is not used: an agent gets nothing for it
        stack.relay_app.state.store.put_provider({"code": "99000012", "mode": "agent"})
        async with _client(stack, "relay", "provider-agent") as agent:
            answer = await agent.post("/relay/v1/agent/poll", json={"provider_code": "99000012", "agent_id": "agent-1"})
        assert answer.status_code == 404, answer.text


async def test_the_state_on_disk_is_readable_by_its_owner_only(scenario, tmp_path, caplog):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "relay.sqlite").touch(mode=0o644)  # an earlier state, left open to other users
    os.chmod(state, 0o755)
    os.chmod(state / "relay.sqlite", 0o644)
    with caplog.at_level("WARNING", logger="s24kit"):
        stack = _stack(scenario, state)
    assert any("0700" in r.getMessage() for r in caplog.records), "tightening an open state folder is announced"
    async with stack.inprocess():
        await _replay(stack, next(iter(stack.claims())), "req-private-files")
    files = sorted(state.glob("*.sqlite*"))
    assert {f.name for f in files} >= {"relay.sqlite", "journal.sqlite", "relay.sqlite-wal"}
    assert any(f.name.startswith("insurer-") for f in files), [f.name for f in files]
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    modes.update({name: stat.S_IMODE((state / name).stat().st_mode) for name in ("", "pki")})
    assert modes[""] == modes["pki"] == 0o700, modes
    assert all(mode == 0o600 for name, mode in modes.items() if name not in ("", "pki")), modes
    fresh = tmp_path / "fresh" / "state"
    caplog.clear()
    with caplog.at_level("WARNING", logger="s24kit"):
        _stack(scenario, fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700 and not caplog.records, "a new folder is private, silently"


def _tls_socket(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _closed_by_server(sock: ssl.SSLSocket) -> bool:
    """True when the server closes the connection (within the socket's 15 s timeout)."""
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def test_connections_that_never_finish_their_request_are_closed(tmp_path):
    pki = ensure_pki(tmp_path / "pki")
    app = create_relay_app(RelayConfig(), work=False)
    tls = pki.server_context("relay-server", require_client_cert=False, ask_client_cert=True)
    with serving(app, tls=tls, name="relay", header_timeout=0.5, body_timeout=1.0) as served:
        anonymous = pki.client_context(None)
        with _tls_socket(served.port, anonymous) as silent, _tls_socket(served.port, anonymous) as partial:
            partial.sendall(b"GET /relay/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never the blank line
            assert _closed_by_server(silent), "a connection that sends nothing is closed"
            assert _closed_by_server(partial), "unfinished headers, without a certificate, are closed"
        with _tls_socket(served.port, pki.client_context("patient-app")) as trickle:
            trickle.sendall(b"POST /relay/v1/claims HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                            b"\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n")
            trickle.settimeout(0.1)
            closed = False
            for _ in range(200):  # at most ~20 s of one space a tenth of a second
                try:
                    trickle.sendall(b"1\r\n \r\n")
                    closed = trickle.recv(4096) == b""
                except TimeoutError:
                    continue
                except (ConnectionError, ssl.SSLError):
                    closed = True
                if closed:
                    break
            assert closed, "a chunked body trickled forever is cut off"
        with _tls_socket(served.port, anonymous) as normal:
            normal.sendall(b"GET /relay/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            started = time.monotonic()
            answer = b""
            while (chunk := normal.recv(4096)) and time.monotonic() - started < 15:
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]


async def test_an_insurer_cannot_take_another_insurers_event_id_first(scenario, tmp_path):
    pend = [InsurerConfig(code, behaviour=Behaviour.PEND, pend_seconds=3600) for code in ("INSA", "INSB")]
    stack = Stack(StackOptions(scenario, tmp_path / "state", insurers=pend, clock=SimClock(), persistent=False))
    async with stack.inprocess():
        status, receipts = await _pending_claim(stack)
        path = f"/relay/v1/claims/{status['claim_id']}/events"
        theirs = _paid(status["claim_id"], "INSB", receipts["INSB"])
        squatter = {**_paid(status["claim_id"], "INSA", receipts["INSA"]), "event_id": theirs["event_id"]}
        async with _client(stack, "relay", "insurer-client-INSA") as insa:
            assert (await insa.post(path, json=squatter)).status_code == 204
        async with _client(stack, "relay", "insurer-client-INSB") as insb:
            answer = await insb.post(path, json=theirs)
        assert answer.status_code == 204, answer.text
        states = {i["insurer_code"]: i["state"] for i in stack.relay.status(status["claim_id"])["insurers"]}
        assert states == {"INSA": "paid", "INSB": "paid"}, "INSB's own event is applied, not taken as INSA's"
