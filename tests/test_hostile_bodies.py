"""Hostile request bodies get 400 ``invalid_json`` (413 for size) on every body-taking route of every party.

The routes come from the apps' own route tables, so a new endpoint is covered the day it is added. Each answer
must be problem+json, never a 5xx, and the exchange must be in the party's journal. Limits: safe_json.py and
docs/hostile-input.md.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from s24kit.conformance.agent_hub import AgentHub
from s24kit.simulator.faults import FaultSwitch
from s24kit.simulator.inprocess import as_caller
from s24kit.simulator.insurer.adjudication import engine_adjudicator
from s24kit.simulator.insurer.app import create_insurer_app
from s24kit.simulator.insurer.config import InsurerConfig
from s24kit.simulator.insurer.register import ContractRegister
from s24kit.simulator.insurer.register_app import create_register_app
from s24kit.simulator.journal import Journal
from s24kit.simulator.pki import Credential
from s24kit.simulator.provider import Scenario, create_provider_app
from s24kit.simulator.provider.faulty import FAULTY, create_faulty_app
from s24kit.simulator.relay.app import create_relay_app
from s24kit.simulator.relay.config import RelayConfig
from s24kit.simulator.safe_json import DEFAULT_LIMITS, JsonRefused, parse_body

from .conftest import generated_scenario, kit_pki

BODY_METHODS = {"POST", "PUT", "PATCH"}
# Routes whose handler never reads a body: a body sent along is ignored (any answer but a 5xx is right).
NO_BODY = {("relay", "POST", "/__admin/dead-letters/{task_id}/retry"), ("relay", "POST", "/__admin/reset"),
           ("insurer", "POST", "/__admin/claims/{receipt_number}/decide"), ("insurer", "POST", "/__admin/reset"),
           ("agent-hub", "PUT", "/relay/v1/agent/poll"), ("agent-hub", "PATCH", "/relay/v1/agent/poll"),
           ("agent-hub", "PUT", "/relay/v1/agent/replies"), ("agent-hub", "PATCH", "/relay/v1/agent/replies")}
OVER_LIMIT = 9 * 2**20  # over every party's body limit (8 MiB at most)
SMALLEST_LIMIT = 2**20  # providers' bodies and the fault plan's
PROBLEM = "application/problem+json"


def hostile_bodies() -> dict[str, bytes]:
    """Each way a body can be hostile, within the size limit unless its name says otherwise."""
    million = b"[" + b"0," * 999_999 + b"0]"
    return {
        "deep nesting": b"[" * 2000 + b"]" * 2000,
        "deep objects": b'{"a":' * 1500 + b"1" + b"}" * 1500,
        "unclosed nesting": b"[" * 100_000,
        "5,000-digit integer": b'{"request_id":' + b"7" * 5000 + b"}",
        "lone surrogate": b'{"request_id":"\\ud800"}',
        "lone surrogate key": b'{"\\udfff":1}',
        "invalid UTF-8": b'{"request_id":"\xff\xfe"}',
        "UTF-8 encoded surrogate": b'{"request_id":"\xed\xa0\x80"}',
        "BOM": b'\xef\xbb\xbf{"request_id":"r-1"}',
        "duplicate keys": b'{"request_id":"r-1","request_id":"r-2"}',
        "1,000,000-element array": million,
        "1,000,000-element array over the size limit": million + b" " * (OVER_LIMIT - len(million)),
        "2,000,000 empty arrays": b"[" + b"[]," * 2_000_000 + b"[]]",
        "60,000 arrays 63 deep": b"[" + (b"[" * 63 + b"0" + b"]" * 63 + b",") * 60_000 + b"0]",
        "100,000-member object": b"{" + b",".join(b'"k%d":0' % i for i in range(100_000)) + b"}",
        "NaN": b'{"amount":NaN}',
        "Infinity": b'{"amount":-Infinity}',
        "overflowing float": b'{"amount":1e999}',
        "trailing garbage": b'{"request_id":"r-1"} trailing',
        "empty body": b"",
    }


@dataclass
class Party:
    name: str  # what NO_BODY calls it
    label: str
    app: Any
    journal: Journal | None


def starlette_of(app: Any) -> Starlette:
    """The Starlette app inside ASGI wrappers (the faulty providers wrap the reference provider)."""
    while not isinstance(app, Starlette):
        app = app.app
    return app


def body_routes(app: Any) -> Iterator[tuple[str, str]]:
    for route in starlette_of(app).routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or set()) & BODY_METHODS):
                yield method, route.path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return Scenario.load(generated_scenario(tmp_path_factory, "--patients", "2", "--seed", "4"))


def parties(scenario: Scenario) -> list[Party]:
    relay_journal, insurer_journal, provider_journal, hub_journal = Journal(), Journal(), Journal(), Journal()
    register_journal = Journal()
    found = [
        Party("relay", "relay", create_relay_app(RelayConfig(), journal=relay_journal, faults=FaultSwitch(),
                                                 work=False), relay_journal),
        Party("insurer", "insurer INSA", create_insurer_app(InsurerConfig("INSA"), adjudicator=engine_adjudicator,
                                                            deliver=False, journal=insurer_journal),
              insurer_journal),
        Party("provider", "reference provider", create_provider_app(scenario, journal=provider_journal),
              provider_journal),
        Party("register", "중복가입 register", create_register_app(ContractRegister(), journal=register_journal),
              register_journal),
        Party("agent-hub", "suite's agent hub", AgentHub(scenario.provider_code, hub_journal, timeout=1.0).app,
              hub_journal),
    ]
    found += [Party("provider", f"faulty provider {name}", create_faulty_app(name, scenario, timeout=0.0), None)
              for name in sorted(FAULTY)]
    return found


def expected_answers(party: Party, name: str, body: bytes) -> dict[int, str]:
    """Status → problem code acceptable for ``body``: 413 over the route's size limit (1 MiB for providers and
    the fault plan, 8 MiB for the rest); the faulty provider without a size limit must refuse the content."""
    if "over the size limit" in name and party.label != "faulty provider no_size_limit":
        return {413: "payload_too_large"}
    if len(body) > SMALLEST_LIMIT:
        return {400: "invalid_json", 413: "payload_too_large"}
    return {400: "invalid_json"}


def caller(app: Any, path: str) -> Any:
    """``app`` as called by a certificate of a role the route allows, so that the body is really read."""
    access = getattr(starlette_of(app).state, "access", None)
    rule = access.rule(path) if access is not None else None
    if rule is None or rule.open:
        return app
    return as_caller(app, credential(sorted(rule.roles)[0]))


def credential(role: str) -> Credential:
    pki = kit_pki()
    return pki.insurer_client("INSA") if role == "insurer" else pki["relay-client" if role == "relay" else role]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-1", path)


async def send_all(party: Party, bodies: dict[str, bytes]) -> list[str]:
    """Send every hostile body to every body route of ``party``; the list of what went wrong."""
    wrong: list[str] = []
    for method, path in body_routes(party.app):
        transport = httpx.ASGITransport(caller(party.app, path), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://party.test") as client:
            for name, body in bodies.items():
                before = party.journal.count() if party.journal else 0
                answer = await client.request(method, concrete(path), content=body,
                                              headers={"content-type": "application/json"})
                where = f"{party.label} {method} {path} with {name}: {answer.status_code}"
                if answer.status_code >= 500:
                    wrong.append(f"{where} {answer.text[:200]}")
                    continue
                if (party.name, method, path) in NO_BODY:
                    if answer.status_code >= 400 and "problem+json" not in answer.headers.get("content-type", ""):
                        wrong.append(f"{where} is not problem+json")
                    continue
                expected = expected_answers(party, name, body)
                media = PROBLEM if party.label != "faulty provider text_plain" else "text/plain"  # its defect
                if answer.status_code not in expected or not answer.headers.get("content-type", "").startswith(media):
                    wrong.append(f"{where} (expected {sorted(expected)} problem+json) {answer.text[:200]}")
                elif answer.json()["code"] != expected[answer.status_code]:
                    wrong.append(f"{where} code {answer.json()['code']} (expected {expected[answer.status_code]})")
                if party.journal is not None:
                    entries = party.journal.search(limit=1)
                    if party.journal.count() != before + 1 or entries[0]["status"] != answer.status_code:
                        wrong.append(f"{where} not journaled")
    return wrong


def test_every_body_route_refuses_every_hostile_body(scenario: Scenario) -> None:
    found = parties(scenario)
    bodies = hostile_bodies()
    wrong: list[str] = []
    covered = 0
    for party in found:
        covered += sum(1 for _ in body_routes(party.app))
        wrong += asyncio.run(send_all(party, bodies))
    assert covered >= 30  # relay, insurer, providers and the hub all have body routes
    assert not wrong, "\n".join(wrong[:40])


def test_no_body_list_names_only_real_routes(scenario: Scenario) -> None:
    """A route dropped or renamed must leave NO_BODY too (it would excuse nothing, silently)."""
    known = {(p.name, m, path) for p in parties(scenario) for m, path in body_routes(p.app)}
    assert not NO_BODY - known, NO_BODY - known


# -- the reader itself ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(hostile_bodies()) - {"1,000,000-element array over the size limit"}))
def test_parse_body_refuses_with_a_reason_in_both_languages(name: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        parse_body(hostile_bodies()[name])
    assert refused.value.ko and refused.value.en and refused.value.ko != refused.value.en


@pytest.mark.parametrize("body", [
    '{"이름":"홍길동","n":[1,-2.5e3,{"x":null,"y":true}],"emoji":"\\ud83d\\ude00"}',
    '{"escaped":"\\\\ud800 is six characters, not a surrogate"}',
    '["' + "[" * 500 + '"]',  # brackets inside a string are not nesting
    '{"id":"' + "9" * 5000 + '"}',  # digits inside a string are not a number
    "[" * DEFAULT_LIMITS.max_depth + "]" * DEFAULT_LIMITS.max_depth,
    "[" + ",".join(["0"] * DEFAULT_LIMITS.max_members) + "]",
    "1" * DEFAULT_LIMITS.max_number_chars,
])
def test_parse_body_accepts_valid_json_at_the_limits(body: str) -> None:
    assert parse_body(body.encode()) == json.loads(body)


def test_limits_are_exact() -> None:
    depth, members, digits = DEFAULT_LIMITS.max_depth, DEFAULT_LIMITS.max_members, DEFAULT_LIMITS.max_number_chars
    for body in ("[" * (depth + 1) + "]" * (depth + 1), "[" + ",".join(["0"] * (members + 1)) + "]",
                 "1" * (digits + 1), "[0." + "1" * digits + "]"):
        with pytest.raises(JsonRefused):
            parse_body(body.encode())


# -- the last resort and the journal's recording path -------------------------------------------------------------

FAILURE = "boom for 900101-1234567 \ud800"  # a resident number to mask and a lone surrogate SQLite refuses


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(FAILURE)


async def _get(app: Any, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(caller(app, path), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://party.test") as client:
        return await client.request(method, path, **kwargs)


def _assert_internal_error(answer: httpx.Response) -> None:
    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["code"] == "internal_error"
    assert "boom" not in answer.text and "Traceback" not in answer.text and "RuntimeError" not in answer.text


def _assert_journaled(journal: Journal) -> None:
    entry = journal.search(limit=1)[0]
    assert entry["status"] == 500 and "internal_error" in entry["response"]["body"]
    assert entry["error"].startswith("RuntimeError: boom") and "1234567" not in entry["error"]


def test_an_unexpected_exception_is_a_500_problem_and_journaled(scenario: Scenario) -> None:
    relay_journal, insurer_journal, hub_journal = Journal(), Journal(), Journal()
    relay = create_relay_app(RelayConfig(), journal=relay_journal, work=False)
    relay.state.relay.settled = _explode
    _assert_internal_error(asyncio.run(_get(relay, "/relay/v1/claims/CLM-1")))
    _assert_journaled(relay_journal)

    insurer = create_insurer_app(InsurerConfig("INSA"), adjudicator=engine_adjudicator, deliver=False,
                                 journal=insurer_journal)
    insurer.state.insurer.status = _explode
    _assert_internal_error(asyncio.run(_get(insurer, "/insurer/v1/claims/R-1")))
    _assert_journaled(insurer_journal)

    hub = AgentHub(scenario.provider_code, hub_journal, timeout=1.0)
    hub._refuse_poll = _explode  # type: ignore[method-assign]
    _assert_internal_error(asyncio.run(_get(hub.app, "/relay/v1/agent/poll", "POST", json={"provider_code": "x"})))
    _assert_journaled(hub_journal)


def test_a_body_the_masker_cannot_read_is_elided_not_stored_in_the_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    from s24kit.simulator.masking import Scrubber

    collect = Scrubber.collect_text

    def cannot_walk(self: Scrubber, text: str | None) -> None:
        if text and "deep" in text:
            raise RecursionError("maximum recursion depth exceeded")
        collect(self, text)

    monkeypatch.setattr(Scrubber, "collect_text", cannot_walk)
    journal = Journal()
    body = json.dumps({"patient": {"name": "홍길동"}, "deep": [[[[1]]]]}, ensure_ascii=False).encode()
    journal.record(party="→relay", method="POST", url="https://relay.test/relay/v1/claims", request_body=body,
                   status=400, response_body=b'{"code":"invalid_json"}')
    entry = journal.search()[0]
    assert "홍길동" not in json.dumps(entry, ensure_ascii=False)
    assert entry["request"]["body"].startswith("[body elided") and entry["status"] == 400


# -- size: nothing reads more than its limit ----------------------------------------------------------------------


@pytest.mark.parametrize("label", ["relay", "insurer INSA", "reference provider", "suite's agent hub",
                                   "중복가입 register"])
def test_a_body_without_length_is_read_no_further_than_the_limit(scenario: Scenario, label: str) -> None:
    """A chunked body of 64 MiB (no Content-Length): 413 after about the limit, not 64 MiB read into memory."""
    party = next(p for p in parties(scenario) if p.label == label)
    method, path = next((m, p) for m, p in body_routes(party.app) if (party.name, m, p) not in NO_BODY)
    pulled = 0

    async def chunks() -> Any:
        nonlocal pulled
        for _ in range(64):
            pulled += 1
            yield b" " * 2**20

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(caller(party.app, path), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://party.test") as client:
            return await client.request(method, concrete(path), content=chunks(),
                                        headers={"content-type": "application/json"})

    answer = asyncio.run(send())
    assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"
    assert pulled <= 10, f"{label} read {pulled} MiB of a body over its limit"
