"""Faulty providers: the reference provider with ONE deliberate defect each, to prove the suite catches it.

Each entry of :data:`FAULTY` names the requirement ids its defect must make fail. A defect is made in one of
three ways: a :class:`ProviderCore` subclass that changes one step (what is answered), an ASGI wrapper that
changes how it travels (headers, body, timing, load), or a server TLS context (who may connect).

    app = create_faulty_app("wrong_total", scenario)
    context = faulty_server_context("wrong_total", pki)   # mTLS unless the defect is about TLS
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import ssl
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..pki import TestPKI
from ..problems import problem_body
from .app import create_provider_app
from .core import FETCH, SEARCH, Answer, ProviderCore, _now
from .scenario import Scenario

Clock = Callable[[], dt.datetime]
ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]
Factory = Callable[[Scenario, Clock, float], Any]  # (scenario, clock, the suite's timeout) → ASGI app
#: A response as the body-rewriting wrapper sees it: status, headers (lower-case names), body bytes.
Rewrite = Callable[[int, list[tuple[bytes, bytes]], bytes], tuple[int, list[tuple[bytes, bytes]], bytes]]


@dataclass(frozen=True, slots=True)
class FaultyProvider:
    """One deliberate defect: what it is, which requirements must fail because of it, how to build it."""

    name: str
    description_ko: str
    description_en: str
    expected_failures: frozenset[str]
    factory: Factory
    require_client_cert: bool = True

    def description(self, lang: str) -> str:
        return self.description_ko if lang == "ko" else self.description_en


FAULTY: dict[str, FaultyProvider] = {}


def _faulty(name: str, ko: str, en: str, expected: set[str], *, require_client_cert: bool = True) -> Callable:
    def register(factory: Factory) -> Factory:
        FAULTY[name] = FaultyProvider(name, ko, en, frozenset(expected), factory, require_client_cert)
        return factory
    return register


def _serve(core_class: type[ProviderCore], scenario: Scenario, clock: Clock) -> Any:
    return create_provider_app(core_class(scenario, clock=clock))


def _reference(scenario: Scenario, clock: Clock) -> Any:
    return create_provider_app(scenario, clock=clock)


# ---- ASGI wrappers: change how an answer travels, not what it says -------------------------------------------

class RewriteResponses:
    """Buffer each HTTP response and pass it through ``rewrite`` (content-length is recomputed)."""

    def __init__(self, app: ASGIApp, rewrite: Rewrite) -> None:
        self.app, self.rewrite = app, rewrite

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    headers = [(k.lower(), v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                    status, headers, out = self.rewrite(start["status"], headers, bytes(body))
                    headers.append((b"content-length", str(len(out)).encode()))
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                    await send({"type": "http.response.body", "body": out})
            else:
                await send(message)

        await self.app(scope, receive, capture)


class Overloaded:
    """At most ``limit`` requests in progress; more get 503. Each request holds its slot ``hold`` seconds."""

    def __init__(self, app: ASGIApp, limit: int, hold: float) -> None:
        self.app, self.limit, self.hold, self.busy = app, limit, hold, 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/s24/v1/") or scope["path"].endswith("/health"):
            await self.app(scope, receive, send)
            return
        if self.busy >= self.limit:
            body = json.dumps(problem_body(503, "service_unavailable", "Busy", "동시 요청이 너무 많습니다 "
                                           "/ too many concurrent requests")).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/problem+json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        self.busy += 1
        try:
            await asyncio.sleep(self.hold)  # a slow EMR lookup: a burst of requests really overlaps
            await self.app(scope, receive, send)
        finally:
            self.busy -= 1


class ColdStart:
    """The first documents fetch after start waits ``seconds`` (a connection pool opened lazily, slowly)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds, self.warm = app, seconds, False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/s24/v1/documents:fetch" or self.warm:
            await self.app(scope, receive, send)
            return
        self.warm = True
        messages = [await receive()]  # read the request first: the delay is in answering, not in listening
        while messages[-1]["type"] == "http.request" and messages[-1].get("more_body"):
            messages.append(await receive())
        await asyncio.sleep(self.seconds)

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _json_rewrite(change: Callable[[int, Any], Any], *, problems: bool) -> Rewrite:
    """Rewrite JSON answers: problem+json ones (``problems``) or application/json ones; leave the rest alone."""
    wanted = b"application/problem+json" if problems else b"application/json"

    def rewrite(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, list, bytes]:
        if dict(headers).get(b"content-type", b"").split(b";")[0].strip() != wanted:
            return status, headers, body
        try:
            value = json.loads(body)
        except ValueError:
            return status, headers, body
        return status, headers, json.dumps(change(status, value), ensure_ascii=False, separators=(",", ":")).encode()

    return rewrite


# ---- the defects ---------------------------------------------------------------------------------------------

def _docs_of_type(core: ProviderCore, visit_id: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in ProviderCore.documents_of(core, visit_id) if d["document_type"] == kind]


@_faulty("wrong_total", "진료비 영수증의 진료비 총액이 1,000원 틀림",
         "the medical receipt's total amount is 1,000 won off", {"S24-DOC-002", "S24-DOC-103"})
def _wrong_total(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class WrongTotal(ProviderCore):
        def documents_of(self, visit_id: str) -> list[dict[str, Any]]:
            docs = copy.deepcopy(super().documents_of(visit_id))
            for doc in docs:
                if doc["document_type"] == "medical_receipt":
                    doc["totals"]["total_amount"] += 1000
            return docs
    return _serve(WrongTotal, scenario, clock)


@_faulty("missing_itemised", "진료비 세부산정내역을 발급했는데 돌려주지 않음 (missing로 표시)",
         "itemised statements are issued but never returned (reported as missing)", {"S24-DOC-102", "S24-DOC-105"})
def _missing_itemised(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class MissingItemised(ProviderCore):
        def documents_of(self, visit_id: str) -> list[dict[str, Any]]:
            return [d for d in super().documents_of(visit_id) if d["document_type"] != "itemised_statement"]
    return _serve(MissingItemised, scenario, clock)


@_faulty("date_shifted", "진료비 영수증 발행일이 하루 늦음", "the medical receipt's issue date is one day late",
         {"S24-DOC-103"})
def _date_shifted(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class DateShifted(ProviderCore):
        def documents_of(self, visit_id: str) -> list[dict[str, Any]]:
            docs = copy.deepcopy(super().documents_of(visit_id))
            for doc in docs:
                if doc["document_type"] == "medical_receipt":
                    doc["issue_date"] = (dt.date.fromisoformat(doc["issue_date"]) + dt.timedelta(days=1)).isoformat()
            return docs
    return _serve(DateShifted, scenario, clock)


def _someone_else(scenario: Scenario, patient_id: str) -> dict[str, Any] | None:
    """The first visit (by id) of another patient of the same provider."""
    others = sorted(v for v, e in scenario.visits.items() if e["patient_id"] != patient_id)
    return scenario.visits[others[0]] if others else None


@_faulty("extra_visit", "내원 조회에 다른 환자의 내원이 섞임", "visit search includes another patient's visit",
         {"S24-DOC-101", "S24-SEC-005"})
def _extra_visit(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class ExtraVisit(ProviderCore):
        def search(self, body: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
            answer = super().search(body, patient)
            other = _someone_else(self.scenario, patient["patient_id"])
            if other is not None:
                answer["visits"].append(self.listed(other))
            return answer
    return _serve(ExtraVisit, scenario, clock)


@_faulty("foreign_document", "서류 요청 응답에 다른 환자의 진료비 영수증이 섞임",
         "the fetched bundle includes another patient's medical receipt", {"S24-DOC-104", "S24-SEC-005"})
def _foreign_document(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class ForeignDocument(ProviderCore):
        def fetch(self, body: dict[str, Any], patient: dict[str, Any]) -> Answer:
            status, answer = super().fetch(body, patient)
            other = _someone_else(self.scenario, patient["patient_id"])
            if status == 200 and other is not None:
                answer["documents"] = answer["documents"] + _docs_of_type(self, other["visit_id"], "medical_receipt")
            return status, answer
    return _serve(ForeignDocument, scenario, clock)


@_faulty("drop_visit", "내원 조회에서 환자마다 마지막 내원 하나가 빠짐",
         "visit search leaves out each patient's last visit", {"S24-DOC-100"})
def _drop_visit(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class DropVisit(ProviderCore):
        def search(self, body: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
            answer = super().search(body, patient)
            answer["visits"] = sorted(answer["visits"], key=lambda v: (v["start_date"], v["visit_id"]))[:-1]
            return answer
    return _serve(DropVisit, scenario, clock)


@_faulty("ignores_visit_ids", "서류 요청의 visit_ids를 무시하고 환자의 모든 내원 서류를 돌려줌",
         "a document fetch ignores visit_ids and returns the documents of every visit of the patient",
         {"S24-DOC-104", "S24-DOC-105"})
def _ignores_visit_ids(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class IgnoresVisitIds(ProviderCore):
        def fetch(self, body: dict[str, Any], patient: dict[str, Any]) -> Answer:
            every = sorted(v for v, e in self.scenario.visits.items() if e["patient_id"] == patient["patient_id"])
            return super().fetch({**body, "visit_ids": every}, patient)
    return _serve(IgnoresVisitIds, scenario, clock)


@_faulty("ignores_period", "내원 조회의 기간(period)을 무시하고 환자의 모든 내원을 돌려줌",
         "a visit search ignores period and lists every visit of the patient", {"S24-DOC-101"})
def _ignores_period(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class IgnoresPeriod(ProviderCore):
        def search(self, body: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
            return super().search({**body, "period": {"start": "0001-01-01", "end": "9999-12-31"}}, patient)
    return _serve(IgnoresPeriod, scenario, clock)


def _nfd(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFD", value)
    if isinstance(value, list):
        return [_nfd(v) for v in value]
    if isinstance(value, dict):
        return {k: _nfd(v) for k, v in value.items()}
    return value


@_faulty("nfd_text", "서류의 한글이 NFC가 아닌 NFD(자모 분리)로 나감",
         "Korean text in documents is sent decomposed (NFD) instead of NFC", {"S24-DOC-030", "S24-API-016"})
def _nfd_text(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class NfdText(ProviderCore):
        def documents_of(self, visit_id: str) -> list[dict[str, Any]]:
            return _nfd(super().documents_of(visit_id))
    return _serve(NfdText, scenario, clock)


def _unmask(masked: str) -> str:
    """A full resident number shaped like ``masked`` (YYMMDD-G******): what a careless export leaks."""
    return masked[:8] + "345678"[: len(masked) - 8]


@_faulty("full_rrn", "서류에 주민등록번호 뒷자리가 가려지지 않은 채 나감",
         "documents carry the full resident number instead of the masked one",
         {"S24-SEC-001", "S24-DOC-031", "S24-SCH-003"})
def _full_rrn(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class FullRrn(ProviderCore):
        def documents_of(self, visit_id: str) -> list[dict[str, Any]]:
            docs = copy.deepcopy(super().documents_of(visit_id))
            for doc in docs:
                patient = doc.get("patient") or {}
                if "resident_number_masked" in patient:
                    patient["resident_number_masked"] = _unmask(patient["resident_number_masked"])
            return docs
    return _serve(FullRrn, scenario, clock)


@_faulty("unknown_patient_500", "없는 환자 조회에 500 internal_error로 답함",
         "an unknown patient gets 500 internal_error instead of 404 unknown_patient", {"S24-API-004"})
def _unknown_patient_500(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class Crashes(ProviderCore):
        def decide(self, operation: str, body: dict[str, Any]) -> Answer:
            if self.scenario.patient(body["patient"]) is None:
                return 500, problem_body(500, "internal_error", "Internal error", request_id=body["request_id"])
            return super().decide(operation, body)
    return _serve(Crashes, scenario, clock)


@_faulty("unknown_patient_200", "없는 환자 조회에 200과 빈 결과로 답함",
         "an unknown patient gets 200 with an empty answer instead of 404 unknown_patient", {"S24-API-004"})
def _unknown_patient_200(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class Empty(ProviderCore):
        def decide(self, operation: str, body: dict[str, Any]) -> Answer:
            if self.scenario.patient(body["patient"]) is not None:
                return super().decide(operation, body)
            if operation == SEARCH:
                return 200, {"request_id": body["request_id"], "provider_code": self.scenario.provider_code,
                             "visits": []}
            return 200, {"profile": "kit-v1", "request_id": body["request_id"],
                         "provider_code": self.scenario.provider_code, "documents": [], "missing": []}
    return _serve(Empty, scenario, clock)


@_faulty("wrong_problem_code", "없는 내원에 404는 맞지만 code가 unknown_visit가 아닌 not_found",
         "an unknown visit gets 404 with code not_found instead of unknown_visit", {"S24-API-005"})
def _wrong_problem_code(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class WrongCode(ProviderCore):
        def fetch(self, body: dict[str, Any], patient: dict[str, Any]) -> Answer:
            status, answer = super().fetch(body, patient)
            if status == 404:
                answer = {**answer, "code": "not_found", "type": answer["type"].replace("unknown-visit", "not-found")}
            return status, answer
    return _serve(WrongCode, scenario, clock)


@_faulty("expired_consent_accepted", "만료된 동의로도 서류를 내줌 (동의 기간을 확인하지 않음)",
         "documents are released on an expired consent (the consent period is not checked)", {"S24-API-006"})
def _expired_consent(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class IgnoresPeriod(ProviderCore):
        def consent_problem(self, consent: dict[str, Any], wanted: list[str]) -> Answer | None:
            always_valid = {**consent, "granted_at": "2000-01-01T00:00:00+09:00",
                            "expires_at": "2999-01-01T00:00:00+09:00"}
            return super().consent_problem(always_valid, wanted)
    return _serve(IgnoresPeriod, scenario, clock)


@_faulty("no_idempotency_conflict", "같은 request_id로 다른 요청이 와도 409 없이 새로 답함",
         "a reused request_id with a different body is answered afresh instead of 409", {"S24-API-013"})
def _no_conflict(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    class Forgetful(ProviderCore):
        def answer(self, operation: str, body: Any) -> Answer:
            if isinstance(body, dict) and isinstance(body.get("request_id"), str):
                self.forget(body["request_id"])  # forgets every request_id it has seen
            return super().answer(operation, body)
    return _serve(Forgetful, scenario, clock)


@_faulty("no_size_limit", "2 MiB 넘는 요청 본문도 받아들임 (413 없음)",
         "request bodies of 2 MiB and more are accepted (no 413)", {"S24-API-010"})
def _no_size_limit(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    return create_provider_app(scenario, clock=clock, max_body_bytes=64 * 2**20)


@_faulty("catch_all_routes", "없는 경로나 경로에 없는 메서드에도 200 {\"status\": \"ok\"}로 답함",
         "a path that does not exist, or a method a path does not have, is answered 200 {\"status\": \"ok\"}",
         {"S24-API-018"})
def _catch_all_routes(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    return CatchAllRoutes(_reference(scenario, clock))


class CatchAllRoutes:
    """Answer 200 ``{"status": "ok"}`` to every request (of ``methods``: any when None) that is not one of the
    provider's three routes."""

    ROUTES = frozenset({("GET", "/s24/v1/health"), ("POST", "/s24/v1/" + SEARCH), ("POST", "/s24/v1/" + FETCH)})

    def __init__(self, app: ASGIApp, methods: frozenset[str] | None = None) -> None:
        self.app, self.methods = app, methods

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (scope["type"] == "http" and (scope["method"], scope["path"]) not in self.ROUTES
                and (self.methods is None or scope["method"] in self.methods)):
            body = b'{"status": "ok"}'
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


TRACEBACK = ('Traceback (most recent call last):\n  File "/opt/emr/connector/handlers.py", line 88, in fetch\n'
             "    row = cursor.fetchone()[0]\nTypeError: 'NoneType' object is not subscriptable")


@_faulty("stack_trace", "오류 응답 detail에 스택 트레이스가 들어감",
         "error responses carry a stack trace in detail", {"S24-SEC-002"})
def _stack_trace(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    def add_trace(status: int, body: Any) -> Any:
        return {**body, "detail": TRACEBACK} if isinstance(body, dict) else body
    return RewriteResponses(_reference(scenario, clock), _json_rewrite(add_trace, problems=True))


#: What other platforms print when a connector fails, pasted into an error answer as a careless one does.
LEAKED = {
    "oracle_error": ("오류 응답 detail에 Oracle 오류(ORA-00942)와 SQL이 들어감",
                     "error responses carry an Oracle error (ORA-00942) and its SQL in detail",
                     "ORA-00942: table or view does not exist\nSELECT * FROM EMR.VISITS WHERE PATIENT_NO = :1"),
    "node_stack_trace": ("오류 응답 detail에 Node.js 스택 트레이스가 들어감",
                         "error responses carry a Node.js stack trace in detail",
                         "Cannot read properties of undefined (reading 'visits')\n    at Object.<anonymous> "
                         "(/srv/connector/fetch.js:41:17)\n    at node:internal/main/run_main_module:28:49"),
    "go_panic": ("오류 응답 detail에 Go panic 출력이 들어감", "error responses carry a Go panic in detail",
                 "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 7 [running]:"),
}


def _leaking(text: str) -> Factory:
    def factory(scenario: Scenario, clock: Clock, timeout: float) -> Any:
        def add(status: int, body: Any) -> Any:
            return {**body, "detail": text} if isinstance(body, dict) else body
        return RewriteResponses(_reference(scenario, clock), _json_rewrite(add, problems=True))
    return factory


for _name, (_ko, _en, _text) in LEAKED.items():
    _faulty(_name, _ko, _en, {"S24-SEC-002"})(_leaking(_text))


@_faulty("server_banner", "Server 헤더에 웹 서버 제품과 버전이 드러남",
         "a Server header names the web server product and version", {"S24-SEC-003"})
def _server_banner(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    def banner(status: int, headers: list, body: bytes) -> tuple[int, list, bytes]:
        return status, [*headers, (b"server", b"Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f")], body
    return RewriteResponses(_reference(scenario, clock), banner)


@_faulty("text_plain", "JSON 응답의 Content-Type이 text/plain",
         "JSON answers are sent as Content-Type text/plain", {"S24-SCH-004", "S24-SCH-005"})
def _text_plain(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    def plain(status: int, headers: list, body: bytes) -> tuple[int, list, bytes]:
        kept = [(k, v) for k, v in headers if k != b"content-type"]
        return status, [*kept, (b"content-type", b"text/plain; charset=utf-8")], body
    return RewriteResponses(_reference(scenario, clock), plain)


@_faulty("extra_field", "내원 조회 응답에 스키마에 없는 필드(hospital_name)가 붙음",
         "the visit search answer has a field the schema does not allow (hospital_name)", {"S24-SCH-002"})
def _extra_field(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    def add_field(status: int, body: Any) -> Any:
        return {**body, "hospital_name": "하늘의원"} if isinstance(body, dict) and "visits" in body else body
    return RewriteResponses(_reference(scenario, clock), _json_rewrite(add_field, problems=False))


@_faulty("no_provider_code", "서류 묶음에 provider_code가 빠짐",
         "the document bundle lacks provider_code", {"S24-SCH-003"})
def _no_provider_code(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    def drop(status: int, body: Any) -> Any:
        if isinstance(body, dict) and "documents" in body:
            return {k: v for k, v in body.items() if k != "provider_code"}
        return body
    return RewriteResponses(_reference(scenario, clock), _json_rewrite(drop, problems=False))


#: How much longer than the suite's timeout the slow provider takes (bounded: it does answer in the end).
SLOW_MARGIN = 1.0


@_faulty("slow_first_fetch", f"시작 후 첫 서류 요청에 제한 시간보다 {SLOW_MARGIN:g}초 늦게 답함",
         f"the first document fetch after start answers {SLOW_MARGIN:g} s after the suite's timeout", {"S24-API-014"})
def _slow_first_fetch(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    return ColdStart(_reference(scenario, clock), timeout + SLOW_MARGIN)


@_faulty("overloaded", "동시에 5건 넘게 요청하면 503으로 거절",
         "more than 5 concurrent requests are refused with 503", {"S24-API-015"})
def _overloaded(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    return Overloaded(_reference(scenario, clock), limit=5, hold=0.05)


@_faulty("no_mtls", "클라이언트 인증서 없이도 접속을 받아들임 (상호 TLS 아님)",
         "clients without a certificate are accepted (no mutual TLS)", {"S24-SEC-004", "S24-TLS-018"},
         require_client_cert=False)
def _no_mtls(scenario: Scenario, clock: Clock, timeout: float) -> Any:
    return create_provider_app(scenario, clock=clock, check_roles=False)  # its defect: anyone is answered


def create_faulty_app(name: str, scenario: Scenario, *, clock: Clock = _now, timeout: float = 5.0) -> Any:
    """The ASGI app of faulty provider ``name`` over ``scenario`` (KeyError naming the choices if unknown).

    ``timeout`` is the answer timeout of the suite that will judge it (``s24kit check --timeout``): the slow
    provider is built to miss exactly that.
    """
    try:
        entry = FAULTY[name]
    except KeyError:
        raise KeyError(f"unknown faulty provider {name!r}; choose one of {', '.join(sorted(FAULTY))}") from None
    return entry.factory(scenario, clock, timeout)


def faulty_server_context(name: str, pki: TestPKI) -> ssl.SSLContext:
    """The server TLS context to serve faulty provider ``name`` with (mutual TLS unless that is its defect)."""
    if FAULTY[name].require_client_cert:
        return pki.server_context("provider-server")
    # The usual misconfiguration: a certificate is asked for and checked when offered, but not required.
    return pki.server_context("provider-server", require_client_cert=False, ask_client_cert=True)
