"""The suite's HTTP checks (SCH, DOC, API, SEC): all pass on the reference provider, each fails on its defect.

Every provider here is served over mutual TLS on loopback and judged through a real :class:`Session`. The
broken ones are small: a :class:`ProviderCore` subclass with one step changed, or an ASGI wrapper.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import json
import random
import re
import socket
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from s24kit.conformance.catalogue import requirement, requirements
from s24kit.conformance.checks import CHECKS, check
from s24kit.conformance.comparison import compare
from s24kit.conformance.runner import load_checks
from s24kit.conformance.session import Session, Target, TargetUnreachable
from s24kit.schemas.identifiers import FULL_RRN, FULL_RRN_SCAN
from s24kit.schemas.loader import is_valid
from s24kit.schemas.rules import RULES, active_rules
from s24kit.simulator.problems import problem_body
from s24kit.simulator.provider import ProviderCore, Scenario, create_provider_app
from s24kit.simulator.provider.core import AnswerMemory, reference_product
from s24kit.simulator.provider.faulty import CatchAllRoutes, create_faulty_app
from s24kit.simulator.serving import serving

from .conftest import generated_scenario, load_example
from .test_rules import BUNDLE_CASES, CLAIM_CASES, DOCUMENT_CASES, _bundle, _claim

FAMILIES = ("SCH", "DOC", "API", "SEC")
load_checks()
#: The checks judged here, against connectors (the agent-only ones: tests/test_agent_suite.py).
#: The contract rules that run (a withdrawn rule stays listed in RULES but has no check).
RUNNING = frozenset(r.id for r in active_rules())
MINE = sorted(rid for rid in CHECKS if rid.split("-")[1] in FAMILIES and "provider_pull" in requirements()[rid].roles)
COMPLETENESS = [rid for rid in MINE if not rid.startswith("S24-DOC-0")]


# -- fixtures: one scenario, one PKI, providers over mutual TLS --------------------------------------------

@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", "20", "--seed", "11")


def _busiest(scenario_dir: Path, document_type: str) -> str:
    """The provider with the most visits holding ``document_type``."""
    counts: collections.Counter[str] = collections.Counter()
    for line in (scenario_dir / "expected" / "index.jsonl").read_text(encoding="utf-8").splitlines():
        visit = json.loads(line)
        if visit["source"] == "emr" and document_type in visit["document_types"]:
            counts[visit["provider_code"]] += 1
    return counts.most_common(1)[0][0]


@pytest.fixture(scope="module")
def scenario(scenario_dir) -> Scenario:
    """A clinic with medical receipts, statements and prescriptions: most rules have documents to judge."""
    return Scenario.load(scenario_dir, _busiest(scenario_dir, "medical_receipt"))


@contextlib.contextmanager
def judged(app: Any, scenario: Scenario, pki, *, timeout: float = 5.0, mtls: bool = True) -> Iterator[Session]:
    """Serve ``app`` (or a :class:`ProviderCore`) over TLS and open the suite's session toward it."""
    if isinstance(app, ProviderCore):
        app = create_provider_app(app)
    with serving(app, tls=pki.server_context("provider-server", require_client_cert=mtls)) as served:
        relay = pki["relay-client"]
        # S24-API-017 judged against the reference's own product, registered and certified
        target = Target(served.url, scenario.directory, provider_code=scenario.provider_code, ca_bundle=pki.ca_cert,
                        client_cert=relay.cert, client_key=relay.key, timeout=timeout, product=REFERENCE_PRODUCT,
                        certified=frozenset({REFERENCE_PRODUCT}))
        with Session(target) as session:
            yield session


@pytest.fixture(scope="module", params=["medical_receipt", "pharmacy_receipt"])
def reference(request, scenario_dir, pki) -> Iterator[Session]:
    """The reference provider as a clinic and as a pharmacy."""
    scenario = Scenario.load(scenario_dir, _busiest(scenario_dir, request.param))
    with judged(ProviderCore(scenario), scenario, pki) as session:
        yield session


# -- the reference passes ----------------------------------------------------------------------------------

def test_every_check_is_registered_and_catalogued():
    catalogued = {rid for rid, req in requirements().items()
                  if req.family in FAMILIES and "provider_pull" in req.roles and not req.withdrawn}
    assert set(MINE) == catalogued
    assert all(CHECKS[rid].kind == "http" for rid in MINE)
    assert {f"S24-DOC-{n}" for n in range(100, 106)} <= set(MINE) and set(RUNNING) <= set(MINE)


def test_reference_provider_passes_every_check(reference):
    results = {rid: CHECKS[rid].run(reference) for rid in MINE}
    not_passed = {rid: (r.verdict, r.outcome.reason, [e.as_json() for e in r.outcome.evidence][:3])
                  for rid, r in results.items() if r.verdict != "pass"}
    # Only a contract rule about a document type this provider never issues may be skipped.
    assert all(verdict == "skip" and rid in RULES for rid, (verdict, *_) in not_passed.items()), not_passed
    for result in results.values():
        assert is_valid("report#/properties/results/items", result.as_json()), result.as_json()


def test_reference_passes_when_every_string_is_escaped(scenario, pki):
    """The quick scans over raw answers read through JSON escapes without false alarms."""
    with judged(_escaped(ProviderCore)(scenario), scenario, pki) as session:
        results = {rid: CHECKS[rid].run(session) for rid in MINE}
        assert all("\\u" in ex.text and ex.scan_text != ex.text for ex in session.responses() if ex.body)
    not_passed = {rid: (r.verdict, r.outcome.reason) for rid, r in results.items() if r.verdict != "pass"}
    assert all(verdict == "skip" and rid in RULES for rid, (verdict, _) in not_passed.items()), not_passed


def test_reference_leaves_no_rule_unjudged(scenario_dir, pki):
    """Between a clinic and a pharmacy, every contract rule judges real documents at least once."""
    passed: set[str] = set()
    for kind in ("medical_receipt", "pharmacy_receipt"):
        scenario = Scenario.load(scenario_dir, _busiest(scenario_dir, kind))
        with judged(ProviderCore(scenario), scenario, pki) as session:
            passed |= {rid for rid in RUNNING if CHECKS[rid].run(session).verdict == "pass"}
    assert passed == set(RUNNING)


def test_checks_are_pure_over_the_session(reference):
    """Running a check twice gives the same verdict; shared answers are fetched once."""
    before = len(reference.searched())
    first = [CHECKS[rid].run(reference).verdict for rid in COMPLETENESS if "API-01" not in rid]
    again = [CHECKS[rid].run(reference).verdict for rid in COMPLETENESS if "API-01" not in rid]
    assert first == again and len(reference.searched()) == before


# -- each check fails on a provider with the matching defect ------------------------------------------------

def _problem(status: int, code: str, detail: str = "") -> tuple[int, dict[str, Any]]:
    return status, problem_body(status, code, code.replace("_", " "), detail or None)


REFERENCE_PRODUCT = tuple(reference_product().values())


class UncertifiedProduct(ProviderCore):
    def health(self):
        return {**super().health(), "product": {**self.product, "version": "0.0.0-uncertified"}}


class HealthExtraField(ProviderCore):
    def health(self):
        return {**super().health(), "uptime_seconds": 12}


class HealthDegraded(ProviderCore):
    def health(self):
        return {**super().health(), "status": "degraded", "provider_code": "99999999"}


class SearchExtraField(ProviderCore):
    def search(self, body, patient):
        return {**super().search(body, patient), "total": 1}


class BundleWithoutProviderCode(ProviderCore):
    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        bundle.pop("provider_code", None)
        return status, bundle


class WrongVisitDates(ProviderCore):
    def search(self, body, patient):
        answer = super().search(body, patient)
        for visit in answer["visits"]:
            visit["start_date"] = "2001-01-01"
        answer["visits"] = answer["visits"][1:]
        return answer


class OtherPatientsVisitInSearch(ProviderCore):
    def search(self, body, patient):
        answer = super().search(body, patient)
        other = next(v for v in sorted(self.scenario.visits.values(), key=lambda v: v["visit_id"])
                     if v["patient_id"] != patient["patient_id"])
        answer["visits"].append(self.listed(other))
        return answer


class VisitListedTwice(ProviderCore):
    def search(self, body, patient):
        answer = super().search(body, patient)
        answer["visits"] = answer["visits"] + answer["visits"][:1]
        return answer


class ForeignProviderCode(ProviderCore):
    """A configuration default in provider_code instead of the provider's own."""

    def search(self, body, patient):
        return {**super().search(body, patient), "provider_code": "99999999"}

    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        return status, ({**bundle, "provider_code": "99999999"} if status == 200 else bundle)


class NoItemisedStatements(ProviderCore):
    def documents_of(self, visit_id):
        return [d for d in super().documents_of(visit_id) if d["document_type"] != "itemised_statement"]


class WrongDepartment(ProviderCore):
    def documents_of(self, visit_id):
        docs = copy.deepcopy(super().documents_of(visit_id))
        for doc in docs:
            if doc["document_type"] == "medical_receipt":
                doc["department"] = "01" if doc["department"] != "01" else "02"
        return docs


class OtherPatientsDocument(ProviderCore):
    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        if status == 200:
            other = next(v for v in sorted(self.scenario.visits) if self.scenario.visits[v]["patient_id"]
                         != patient["patient_id"] and self.scenario.documents[v])
            bundle["documents"].append(self.scenario.documents[other][0])
        return status, bundle


class NoMissingList(ProviderCore):
    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        bundle.pop("missing", None)
        return status, bundle


class FailingSearch(ProviderCore):
    def decide(self, operation, body):
        if operation == "visits:search":
            return _problem(503, "service_unavailable")
        return super().decide(operation, body)


class FailingFetch(ProviderCore):
    def fetch(self, body, patient):
        return _problem(503, "service_unavailable")


class UnknownPatientIsEmpty(ProviderCore):
    def decide(self, operation, body):
        if self.scenario.patient(body["patient"]) is None:
            return 200, {"request_id": body["request_id"], "provider_code": self.scenario.provider_code, "visits": []}
        return super().decide(operation, body)


class UnknownVisitSkipped(ProviderCore):
    def fetch(self, body, patient):
        own = [v for v in body["visit_ids"] if self.scenario.visits.get(v, {}).get("patient_id")
               == patient["patient_id"]]
        return super().fetch({**body, "visit_ids": own}, patient)


class ConsentDatesIgnored(ProviderCore):
    def consent_problem(self, consent, wanted):
        far = {**consent, "granted_at": "2000-01-01T00:00:00+09:00", "expires_at": "2100-01-01T00:00:00+09:00"}
        return super().consent_problem(far, wanted)


class ConsentScopeIgnored(ProviderCore):
    def consent_problem(self, consent, wanted):
        return super().consent_problem(consent, [])


class WrongCodeForInvalidRequests(ProviderCore):
    def answer(self, operation, body):
        status, answer = super().answer(operation, body)
        if answer.get("code") == "invalid_request":
            return _problem(422, "document_invalid")
        return status, answer


class DeliversOnce(ProviderCore):
    """Forgets request ids and hands each document out once: a repeated request gets another answer."""

    def __init__(self, scenario):
        super().__init__(scenario, memory=AnswerMemory(limit=0))
        self.delivered: set[tuple[str, str]] = set()

    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        if status == 200:
            fresh = [d for d in bundle["documents"] if (d["visit_id"], d["document_type"]) not in self.delivered]
            bundle["missing"] += [{"visit_id": d["visit_id"], "document_type": d["document_type"],
                                   "reason": "not_available"} for d in bundle["documents"] if d not in fresh]
            bundle["documents"] = fresh
            self.delivered |= {(d["visit_id"], d["document_type"]) for d in fresh}
        return status, bundle


class BooleansAsNumbers(ProviderCore):
    """0/1 for false/true: equal to the expected values under ``==``, yet another JSON type."""

    def documents_of(self, visit_id):
        docs = copy.deepcopy(super().documents_of(visit_id))
        for doc in docs:
            for mark in ("night", "holiday"):
                if isinstance(doc.get(mark), bool):
                    doc[mark] = int(doc[mark])
        return docs


class NfdText(ProviderCore):
    def documents_of(self, visit_id):
        docs = copy.deepcopy(super().documents_of(visit_id))
        for doc in docs:
            doc["patient"]["name"] = unicodedata.normalize("NFD", doc["patient"]["name"])
        return docs


class FullResidentNumber(ProviderCore):
    def documents_of(self, visit_id):
        docs = copy.deepcopy(super().documents_of(visit_id))
        for doc in docs:
            doc["patient"]["resident_number_masked"] = doc["patient"]["resident_number_masked"][:8] + "234567"
        return docs


class TracebackInErrors(ProviderCore):
    def decide(self, operation, body):
        status, answer = super().decide(operation, body)
        if status >= 400:
            answer["detail"] = ('Traceback (most recent call last):\n  File "/srv/emr/connector/views.py", line 88, '
                                "in fetch\nKeyError: 'visit'")
        return status, answer


def leaking_errors(detail: str) -> type[ProviderCore]:
    """A provider whose error answers carry ``detail`` (what its platform printed when it failed)."""
    class LeakingErrors(ProviderCore):
        def decide(self, operation, body):
            status, answer = super().decide(operation, body)
            if status >= 400:
                answer["detail"] = detail
            return status, answer
    return LeakingErrors


def noted_prescriptions(note: str) -> type[ProviderCore]:
    """A provider whose prescriptions (answered 200) carry ``note`` in their notes."""
    class Noted(ProviderCore):
        def documents_of(self, visit_id):
            docs = copy.deepcopy(super().documents_of(visit_id))
            for doc in docs:
                if doc["document_type"] == "prescription":
                    doc["notes"] = note
            return docs
    return Noted


ORACLE = "ORA-00942: table or view does not exist"
NODE_TRACE = ("TypeError: Cannot read properties of undefined (reading 'visits')\n    at Object.<anonymous> "
              "(/app/src/fetch.js:41:17)\n    at Module._compile (node:internal/modules/cjs/loader:1105:14)")
DOTNET_TRACE = ("System.NullReferenceException: Object reference not set to an instance of an object.\n   at "
                "Emr.Connector.FetchController.Get() in C:\\src\\Emr\\FetchController.cs:line 42")
GO_PANIC = ("panic: runtime error: invalid memory address or nil pointer dereference\n\ngoroutine 1 [running]:\n"
            "main.fetch(...)\n\t/build/emr/fetch.go:88 +0x1d")
PHP_FATAL = ("PHP Fatal error:  Uncaught PDOException: SQLSTATE[42S02]: Base table or view not found in "
             "/var/www/emr/fetch.php:12\nStack trace:\n#0 {main}\n  thrown in /var/www/emr/fetch.php on line 12")
SQL_IN_A_NOTE = 'syntax error at or near "FROM": SELECT visit_id, total FROM emr.receipts WHERE patient_no = $1'


class RuleBreaker(ProviderCore):
    """Serves, fetch after fetch, the shipped examples broken for each contract rule (tests/test_rules.py)."""

    def __init__(self, scenario):
        super().__init__(scenario)
        broken = []
        for _, name, mutate in DOCUMENT_CASES:
            doc = copy.deepcopy(load_example(name))
            mutate(doc)
            broken.append(doc)
        self.bundles = ([broken] + [_bundle(**edits)["documents"] for _, edits in BUNDLE_CASES]
                        + [_claim(**edits) for _, edits in CLAIM_CASES])
        self.served = 0

    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        if status == 200:
            bundle["documents"] = self.bundles[self.served % len(self.bundles)]
            self.served += 1
        return status, bundle


# ASGI wrappers for defects outside the core: media types, encodings, limits, banners, concurrency.

@dataclass
class Wrap:
    """An ASGI middleware around the reference app, changing requests and/or responses."""

    app: Any
    on_request: Callable[[dict, bytes], tuple[dict, bytes] | tuple[int, dict, bytes]] | None = None
    on_response: Callable[[dict, int, dict, bytes], tuple[int, dict, bytes]] | None = None
    hold: Callable[[dict], Any] | None = None  # async hook around the call
    state: dict = field(default_factory=dict)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if self.on_request:
            changed = self.on_request(headers, body)
            if len(changed) == 3:
                return await _send(send, *changed)
            headers, body = changed
        scope = {**scope, "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
        sent: dict[str, Any] = {"body": b""}

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                sent["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            else:
                sent["body"] += message.get("body", b"")

        if self.hold:
            async with self.hold(self.state) as refused:
                if refused:
                    return await _send(send, 503, {"content-type": "application/problem+json"},
                                       json.dumps(problem_body(503, "service_unavailable", "busy")).encode())
                await self.app(scope, replay, capture)
        else:
            await self.app(scope, replay, capture)
        status, out_headers, out = sent["status"], sent["headers"], sent["body"]
        if self.on_response:
            status, out_headers, out = self.on_response(scope, status, out_headers, out)
        await _send(send, status, out_headers, out)


async def _send(send, status: int, headers: dict, body: bytes) -> None:
    headers = {**headers, "content-length": str(len(body))}
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
    await send({"type": "http.response.body", "body": body})


def _media(error: bool, value: str):
    def change(scope, status, headers, body):
        if (status >= 400) == error:
            headers = {**headers, "content-type": value}
        return status, headers, body
    return change


def _cp949(scope, status, headers, body):
    if scope["path"].endswith("documents:fetch") and status == 200:
        body = body.decode("utf-8").encode("cp949", errors="replace")
    return status, headers, body


def _banner(scope, status, headers, body):
    return status, {**headers, "server": "Apache/2.4.41 (Ubuntu)", "x-powered-by": "PHP/7.4.3"}, body


def _escaped_everywhere(scope, status, headers, body):
    """The same JSON with every character of every string (keys too) written as a \\u escape.

    What a provider's JSON library may legally do: the raw text then holds no name, number or identifier, so
    the quick scans the checks make over raw answers must look at the decoded strings instead.
    """
    try:
        value = json.loads(body)
    except ValueError:
        return status, headers, body

    def escape(match: re.Match[str]) -> str:
        units = json.loads(match[0]).encode("utf-16-be")
        return '"' + "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2)) + '"'

    return status, headers, re.sub(r'"(?:[^"\\]|\\.)*"', escape, json.dumps(value)).encode()


def _escaped(core):
    return lambda scenario: Wrap(create_provider_app(core(scenario)), on_response=_escaped_everywhere)


def _crash_on_bad_json(headers, body):
    if not body:
        return headers, body
    try:
        json.loads(body)
    except ValueError:
        return 500, {"content-type": "application/problem+json"}, json.dumps(
            problem_body(500, "internal_error", "Internal error")).encode()
    return headers, body


def _any_media_type(headers, body):
    return {**headers, "content-type": "application/json"}, body


def _slow_first_search():
    @contextlib.asynccontextmanager
    async def hold(state):
        state["n"] = state.get("n", 0) + 1
        if state["n"] == 2:  # the first search (the first request is the health check)
            await asyncio.sleep(1.0)
        yield False
    return hold


def _at_most(limit: int):
    @contextlib.asynccontextmanager
    async def hold(state):
        state["busy"] = state.get("busy", 0) + 1
        try:
            if state["busy"] > limit:
                yield True
            else:
                await asyncio.sleep(0.2)  # keep the slot long enough for concurrent requests to meet
                yield False
        finally:
            state["busy"] -= 1
    return hold


@dataclass(frozen=True)
class Broken:
    name: str
    build: Callable[[Scenario], Any]
    fails: tuple[str, ...]
    timeout: float = 5.0
    mtls: bool = True


def _app(core=ProviderCore, **options):
    return lambda scenario: create_provider_app(core(scenario), **options)


def _wrapped(**hooks):
    return lambda scenario: Wrap(create_provider_app(ProviderCore(scenario)), **hooks)


BROKEN = [
    Broken("health-extra-field", HealthExtraField, ("S24-SCH-001",)),
    Broken("uncertified-product", UncertifiedProduct, ("S24-API-017",)),
    Broken("search-extra-field", SearchExtraField, ("S24-SCH-002",)),
    Broken("bundle-without-provider-code", BundleWithoutProviderCode, ("S24-SCH-003",)),
    Broken("errors-as-plain-json", _wrapped(on_response=_media(True, "application/json")), ("S24-SCH-004",)),
    Broken("success-as-text", _wrapped(on_response=_media(False, "text/plain")), ("S24-SCH-005",)),
    Broken("cp949-bodies", _wrapped(on_response=_cp949), ("S24-SCH-006",)),
    Broken("wrong-visit-dates", WrongVisitDates, ("S24-DOC-100",)),
    Broken("other-patients-visit", OtherPatientsVisitInSearch, ("S24-DOC-101", "S24-SEC-005")),
    Broken("visit-listed-twice", VisitListedTwice, ("S24-DOC-106",)),
    Broken("foreign-provider-code", ForeignProviderCode, ("S24-DOC-107",)),
    Broken("no-itemised-statements", NoItemisedStatements, ("S24-DOC-102", "S24-DOC-105")),
    Broken("wrong-department", WrongDepartment, ("S24-DOC-103",)),
    Broken("other-patients-document", OtherPatientsDocument, ("S24-DOC-104", "S24-SEC-005")),
    Broken("no-missing-list", NoMissingList, ("S24-DOC-105",)),
    Broken("health-degraded", HealthDegraded, ("S24-API-001",)),
    Broken("search-fails", FailingSearch, ("S24-API-002", "S24-DOC-100")),
    Broken("fetch-fails", FailingFetch, ("S24-API-003", "S24-DOC-102")),
    Broken("unknown-patient-is-empty", UnknownPatientIsEmpty, ("S24-API-004",)),
    Broken("unknown-visit-skipped", UnknownVisitSkipped, ("S24-API-005",)),
    Broken("consent-dates-ignored", ConsentDatesIgnored, ("S24-API-006",)),
    Broken("consent-scope-ignored", ConsentScopeIgnored, ("S24-API-007",)),
    Broken("bad-json-crashes", _wrapped(on_request=_crash_on_bad_json), ("S24-API-008",)),
    Broken("any-media-type", _wrapped(on_request=_any_media_type), ("S24-API-009",)),
    Broken("catch-all-routes", lambda scenario: create_faulty_app("catch_all_routes", scenario), ("S24-API-018",)),
    Broken("unknown-gets-answered", lambda scenario: CatchAllRoutes(create_provider_app(ProviderCore(scenario)),
                                                                    frozenset({"GET"})), ("S24-API-018",)),
    Broken("no-size-limit", _app(max_body_bytes=8 * 1024 * 1024), ("S24-API-010",)),
    Broken("wrong-code-for-invalid-requests", WrongCodeForInvalidRequests, ("S24-API-011",)),
    Broken("delivers-once", DeliversOnce, ("S24-API-012", "S24-API-013")),
    Broken("slow-search", _wrapped(hold=_slow_first_search()), ("S24-API-014",), timeout=0.5),
    Broken("five-at-a-time", _wrapped(hold=_at_most(5)), ("S24-API-015",)),
    Broken("nfd-text", NfdText, ("S24-API-016", "S24-DOC-030")),
    Broken("full-resident-number", FullResidentNumber, ("S24-SEC-001", "S24-DOC-031")),
    Broken("traceback-in-errors", TracebackInErrors, ("S24-SEC-002",)),
    Broken("oracle-error-in-errors", leaking_errors(ORACLE), ("S24-SEC-002",)),
    Broken("node-trace-in-errors", leaking_errors(NODE_TRACE), ("S24-SEC-002",)),
    Broken("dotnet-trace-in-errors", leaking_errors(DOTNET_TRACE), ("S24-SEC-002",)),
    Broken("go-panic-in-errors", leaking_errors(GO_PANIC), ("S24-SEC-002",)),
    Broken("php-fatal-in-errors", leaking_errors(PHP_FATAL), ("S24-SEC-002",)),
    Broken("sql-error-in-a-200-answer", noted_prescriptions(SQL_IN_A_NOTE), ("S24-SEC-002",)),
    Broken("server-banner", _wrapped(on_response=_banner), ("S24-SEC-003",)),
    Broken("no-client-certificate-required", ProviderCore, ("S24-SEC-004",), mtls=False),
    Broken("any-role-of-the-ca", _app(check_roles=False), ("S24-SEC-006",)),
    Broken("breaks-every-rule", RuleBreaker, tuple(sorted(RUNNING))),
    # Defects the quick scans before a walk of the fields must not miss: JSON types that compare equal, and
    # answers whose strings are all escapes (no raw text to scan).
    Broken("booleans-as-numbers", BooleansAsNumbers, ("S24-DOC-103",)),
    Broken("nfd-text-escaped", _escaped(NfdText), ("S24-API-016", "S24-DOC-030")),
    Broken("full-resident-number-escaped", _escaped(FullResidentNumber), ("S24-SEC-001", "S24-DOC-031")),
    Broken("other-patients-visit-escaped", _escaped(OtherPatientsVisitInSearch), ("S24-DOC-101", "S24-SEC-005")),
    Broken("other-patients-document-escaped", _escaped(OtherPatientsDocument), ("S24-DOC-104", "S24-SEC-005")),
]


def test_every_check_has_a_broken_provider():
    covered = {rid for case in BROKEN for rid in case.fails}
    assert set(MINE) - covered == set()


@pytest.mark.parametrize("case", BROKEN, ids=[c.name for c in BROKEN])
def test_check_fails_on_its_defect(case, scenario, pki):
    with judged(case.build(scenario), scenario, pki, timeout=case.timeout, mtls=case.mtls) as session:
        for rid in case.fails:
            result = CHECKS[rid].run(session)
            # Not met: a MUST fails, a SHOULD warns (the level is the verdict's ceiling).
            assert result.verdict == ("fail" if requirement(rid).level == "MUST" else "warn"), (rid, result.outcome)
            assert result.outcome.evidence, rid
            for evidence in result.outcome.evidence:
                assert evidence.exchange and evidence.exchange.startswith("x-"), (rid, evidence)
                assert evidence.reproduction and evidence.reproduction.count("curl ") == 1, (rid, evidence)
                assert session.journal.get(evidence.exchange) is not None
            report = result.as_json()
            assert report["remedy_ko"] and report["remedy_en"] and is_valid("report#/properties/results/items",
                                                                             report)
            # Whatever the target leaked, the report masks it (the full-resident-number case shows it).
            assert not FULL_RRN.search(json.dumps(report, ensure_ascii=False)), rid


# -- the session itself -------------------------------------------------------------------------------------

def test_unreachable_target_is_reported(scenario, pki):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TargetUnreachable, match="connect"):
        Session(Target(f"https://127.0.0.1:{port}", scenario.directory, ca_bundle=pki.ca_cert, timeout=1.0))


def test_exchanges_are_journaled_with_personal_data_masked(reference):
    ex = reference.provoked()["unknown_patient_search"]
    entry = reference.journal.get(ex.exchange_id)
    assert entry["status"] == 404 and "김미등록" not in entry["request"]["body"]


def test_the_gathered_answers_do_not_depend_on_the_worker_count(scenario, pki):
    """One worker (a provider in this process) or several (elsewhere): the same searches and fetches."""
    gathered = []
    for workers in (1, 4):
        with judged(ProviderCore(scenario), scenario, pki) as session:
            session.workers = workers
            searched = {pid: sorted(v["visit_id"] for v in ex.body["visits"])
                        for pid, ex in session.searched().items()}
            fetched = sorted((r["visit_ids"][0], len(ex.body["documents"])) for r, ex in session.fetch_requests())
            gathered.append((searched, fetched))
    assert gathered[0] == gathered[1] and gathered[0][0] and gathered[0][1]


def test_rrn_scan_finds_exactly_the_full_resident_numbers():
    """The quick scan before S24-SEC-001 walks an answer (anchored at the month) finds what FULL_RRN finds."""
    rng = random.Random(5)
    pieces = [*"0123456789" * 4, *"0011", "-", "-", "x", '"', "٣"]
    found = 0
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        if rng.random() < 0.5:
            number = (f"{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 31):02d}"
                      f"{rng.choice(['-', ''])}{rng.randint(0, 9)}{rng.randint(0, 999_999):06d}")
            at = rng.randint(0, len(text))
            text = f"{text[:at]}{rng.choice(['', 'x', '-'])}{number}{rng.choice(['', 'x', '0'])}{text[at:]}"
        spans = [m.span() for m in FULL_RRN.finditer(text)]
        assert [(m.start() - 2, m.end()) for m in FULL_RRN_SCAN.finditer(text)] == spans, text
        found += bool(spans)
    assert found > 1_000


def test_a_module_imported_again_replaces_its_checks_but_no_id_has_two():
    existing = CHECKS["S24-API-001"]
    try:
        check("S24-API-001")(existing.func)  # what importing the module again does (pytester's in-process runs)
        assert CHECKS["S24-API-001"].func is existing.func
        with pytest.raises(ValueError, match="registered twice"):
            check("S24-API-001")(lambda session: None)
    finally:
        CHECKS["S24-API-001"] = existing


def test_differences_name_the_field():
    expected = {"totals": {"copay": 7470, "note": "한글"}, "rows": [1, 2]}
    actual = {"totals": {"copay": 7470.0, "note": unicodedata.normalize("NFD", "한글")}, "rows": [1], "x": True}
    assert [(d.pointer, d.kind, d.expected, d.actual) for d in compare(expected, actual)] == [
        ("/totals/copay", "value", 7470, 7470.0), ("/rows", "count", 2, 1)]


def test_the_suite_asks_a_strict_subset_of_visits_and_a_narrow_period(reference):
    """Besides asking for everything, the suite asks questions that a connector ignoring visit_ids or period
    answers wrongly (issue 11 item 6): both are judged, and the reference answers them exactly."""
    query, period, subset = reference.narrow_question()
    everything = reference.expected_visits(reference.patient_id(query))
    assert period is not None and 0 < len(subset) < len(everything)
    inside = reference.expected_visits(reference.patient_id(query), period)
    assert 0 < len(inside) < len(everything)
    request, fetch = reference.fetch_requests()[-1]
    assert request["visit_ids"] == subset and fetch.status == 200
    assert {d["visit_id"] for d in fetch.body["documents"]} <= set(subset)
    _, wanted, search = reference.searches()[-1]
    assert json.loads(search.request_body)["period"] == period and wanted == inside
    assert {v["visit_id"] for v in search.body["visits"]} == set(inside)


@pytest.mark.parametrize(("text", "what"), [
    (ORACLE, "database error"), ("ERROR: relation \"receipts\" does not exist", "database error"),
    ("SQLSTATE[HY000] [2002] Connection refused", "database error"),
    ("psycopg2.errors.UndefinedTable: x", "database error"), ("java.sql.SQLException: closed", "database error"),
    ("Uncaught PDOException: could not find driver", "database error"), (SQL_IN_A_NOTE, "SQL text"),
    ("select v1_0.visit_id from visit v1_0 where v1_0.patient_no=?", "SQL text"),
    (NODE_TRACE, "Node.js stack frame"),
    ("at process.processTicksAndRejections (node:internal/process/task_queues:95:5)", "Node.js stack frame"),
    (DOTNET_TRACE, "Java/.NET stack frame"), ("System.NullReferenceException: Object reference", "exception class"),
    (GO_PANIC, "Go panic"), ("goroutine 1 [running]:", "Go panic"),
    (PHP_FATAL, "PHP error"), ("Fatal error: Allowed memory size exhausted in /srv/x.php on line 7", "PHP error"),
])
def test_leaks_of_every_platform_are_recognised(text, what):
    from s24kit.conformance.checks.security import LEAKS, suspected

    assert LEAKS[what].search(text), (what, text)
    assert what in suspected(text)


def test_every_trigger_is_found_by_the_searches_of_its_kind():
    from s24kit.conformance.checks.security import _SCANS, TRIGGERS

    for what, _, searches, _ in _SCANS:
        for trigger in TRIGGERS[what]:
            assert any(search.search(f"진료비 {trigger} 영수증") for search in searches), (what, trigger)
        assert not any(search.search("진료비 계산서 영수증 가나다") for search in searches), what


def test_plain_words_in_a_correct_document_are_no_leak(scenario, pki):
    """A Korean note that says panic, error, fatal or select in plain words fails nothing."""
    note = ("공황(panic) 발작 시 1정 복용. Warning: 졸릴 수 있음. 오류(error) 없이 select one from the list; "
            "insert into the vein at home (1:2:3), fatal error risk low, update the dose if needed, line 2")
    with judged(noted_prescriptions(note)(scenario), scenario, pki) as session:
        assert any(doc.get("notes") == note for _, ex in session.fetch_requests()
                   for doc in ex.body["documents"]), "no prescription carried the note"
        result = CHECKS["S24-SEC-002"].run(session)
    assert result.verdict == "pass", result.outcome


# -- failure messages that say what is wrong ----------------------------------------------------------------

class SearchWithoutRequestId(ProviderCore):
    def search(self, body, patient):
        answer = super().search(body, patient)
        answer.pop("request_id")
        return answer


def test_a_missing_request_id_under_concurrency_is_called_missing(scenario, pki):
    """A vendor's report: an answer without request_id read "another request's request_id … actual absent"."""
    with judged(SearchWithoutRequestId(scenario), scenario, pki) as session:
        result = CHECKS["S24-API-015"].run(session)
    assert result.verdict == "fail"
    messages = {e.message for e in result.outcome.evidence}
    assert messages and all("the answer has no request_id" in m and "echo the request's request_id" in m
                            for m in messages), messages
    assert not any("another" in m for m in messages)


def test_only_an_id_sent_alongside_is_called_another_request_s():
    from s24kit.conformance.checks.api import request_id_problem

    assert request_id_problem({"request_id": "s24kit-a"}, "s24kit-a", {"s24kit-b"}) is None
    assert "another concurrent request's" in request_id_problem({"request_id": "s24kit-b"}, "s24kit-a", {"s24kit-b"})
    assert "did not send" in request_id_problem({"request_id": "x-made-up"}, "s24kit-a", {"s24kit-b"})
    assert "no request_id" in request_id_problem({}, "s24kit-a", {"s24kit-b"})


class ReceiptTotalOff(ProviderCore):
    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        bundle = copy.deepcopy(bundle)  # the core may hand out the documents it keeps
        for doc in bundle.get("documents", []):
            if doc["document_type"] == "medical_receipt":
                doc["totals"]["total_amount"] += 1000
        return status, bundle


class ReceiptWithoutNumber(ProviderCore):
    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        bundle = copy.deepcopy(bundle)
        for doc in bundle.get("documents", []):
            if doc["document_type"] == "medical_receipt":
                del doc["receipt_number"]
        return status, bundle


def _receipts(session: Session) -> tuple[int, int]:
    """How many medical receipts the fetches returned: distinct, and over all answers."""
    answered = [doc["visit_id"] for _, ex in session.fetch_requests() for doc in ex.body["documents"]
                if doc["document_type"] == "medical_receipt"]
    return len(set(answered)), len(answered)


def test_a_document_asked_for_twice_is_one_violation(scenario, pki):
    """A vendor's report: "61 violation(s)" for a scenario of 59 receipts (the suite asks for some twice)."""
    with judged(ReceiptTotalOff(scenario), scenario, pki) as session:
        distinct, answered = _receipts(session)
        assert answered > distinct, "the narrow question asked for no receipt again: nothing repeated to count"
        for rid in ("S24-DOC-002", "S24-DOC-103"):
            outcome = CHECKS[rid].run(session).outcome
            assert outcome.found == distinct, (rid, outcome.reason)
            assert outcome.reason.startswith(f"{distinct}건 위반"), (rid, outcome.reason)
            assert f"{answered - distinct} more repeat these in answers to requests for the same documents" \
                in outcome.reason, (rid, outcome.reason)
        # a rule the answers meet counts the receipts it judged once each too
        assert CHECKS["S24-DOC-010"].run(session).outcome.reason.endswith(f"/ {distinct} documents checked")


def test_a_schema_finding_about_a_document_asked_for_twice_is_counted_once(scenario, pki):
    with judged(ReceiptWithoutNumber(scenario), scenario, pki) as session:
        distinct, _ = _receipts(session)
        # S24-SCH-003 lists at most 5 findings per answer (shape_problems): what it can have seen
        per_answer = [sum(d["document_type"] == "medical_receipt" for d in ex.body["documents"])
                      for _, ex in session.fetch_requests()]
        seen = sum(min(5, count) for count in per_answer)
        outcome = CHECKS["S24-SCH-003"].run(session).outcome
    assert outcome.found < seen and outcome.found <= distinct, outcome.reason
    assert f"{seen - outcome.found} more repeat these" in outcome.reason, outcome.reason
    # an answer with more findings than were taken makes the count a floor, and says so
    capped = max(per_answer) > 5
    assert capped == ("at least" in outcome.reason) == ("at most 5 counted per answer" in outcome.reason), \
        (per_answer, outcome.reason)
