"""API: the provider endpoints behave as openapi.yaml says — errors, idempotency, timeouts, concurrency, text."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import unicodedata
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..comparison import canonical, compare, shape_of
from ..language import excerpt
from ..session import ALL_TYPES, FETCH, SEARCH, Exchange, Session, strings
from .registry import Evidence, Outcome, check, failed, passed, skipped

CONCURRENT = 20


def expect_refusal(session: Session, cases: tuple[str, ...], status: int, code: str) -> Outcome:
    """Each provoked case must be answered with ``status`` and problem ``code``."""
    return expect_refusals(session, dict.fromkeys(cases, (status, code)), f"requests expecting {status} {code}")


def expect_refusals(session: Session, expected: dict[str, tuple[int, str]], what: str) -> Outcome:
    """Each provoked case (by name) must be answered with its own status and problem code."""
    provoked = session.provoked()
    problems: list[Evidence] = []
    judged = [(provoked[name], answer) for name, answer in expected.items() if name in provoked]
    for ex, (status, code) in judged:
        if (ex.status, ex.code) != (status, code):
            problems.append(session.evidence(ex, f"{status} {code}이어야 합니다 / expected {status} {code}",
                                             expected=f"{status} {code}", actual=ex.answered))
    return session.verdict(problems, len(judged), what)


def expect_ok(session: Session, exchanges: list[Exchange], what: str) -> Outcome:
    problems = [session.evidence(ex, f"200이어야 합니다 / expected 200: {ex.answered}", expected=200,
                                 actual=ex.answered) for ex in exchanges if ex.status != 200]
    return session.verdict(problems, len(exchanges), what)


@check("S24-API-001")
def health_ok(session: Session) -> Outcome:
    health = session.health()
    body = health.body if isinstance(health.body, dict) else {}
    want = {"status": "ok", "provider_code": session.scenario.provider_code}
    problems = [session.evidence(health, f"상태 확인의 {field} / health {field}", pointer=f"/{field}",
                                 expected=value, actual=body.get(field))
                for field, value in want.items() if body.get(field) != value]
    if health.status != 200:
        problems.insert(0, session.evidence(health, "200이어야 합니다 / expected 200", expected=200,
                                            actual=health.answered))
    return session.verdict(problems, 1, "health answers")


def product_of(body: Any) -> tuple[str, str, str] | None:
    """(vendor, name, version) of a health answer's ``product`` (None when it names none)."""
    product = body.get("product") if isinstance(body, dict) else None
    if not isinstance(product, dict) or not all(isinstance(product.get(k), str) for k in ("vendor", "name", "version")):
        return None
    return product["vendor"], product["name"], product["version"]


def shown(product: tuple[str, str, str] | None) -> str | None:
    return "/".join(product) if product else None


@check("S24-API-017")
def product_version(session: Session) -> Outcome:
    """The product version health names, against the registration and the certified versions (when given)."""
    target = session.target
    if target.product is None and target.certified is None:
        return skipped("기대하는 제품 버전이 주어지지 않음 (--product 제조사/제품/버전) "
                       "/ no product version expected (--product VENDOR/NAME/VERSION)")
    health = session.health()
    named = product_of(health.body)
    if named is None:
        return failed("상태 확인이 제품 버전(product)을 알리지 않습니다 / health names no product version",
                      session.evidence(health, "product가 없음 / no product", pointer="/product",
                                       expected=shown(target.product) or "vendor/name/version", actual=None))
    if target.product is not None and named != target.product:
        return failed(f"등록과 다른 제품 버전 {shown(named)} / another product version than registered: {shown(named)}",
                      session.evidence(health, "등록된 제품 버전과 다름 / not the registered product version",
                                       pointer="/product", expected=shown(target.product), actual=shown(named)))
    if target.certified is not None and named not in target.certified:
        return failed(f"인증되지 않은 제품 버전 {shown(named)} / product version not certified: {shown(named)}",
                      session.evidence(health, "인증된 버전이 아님 / not a certified version", pointer="/product",
                                       expected=sorted(map(shown, target.certified)), actual=shown(named)),
                      cause="uncertified")
    return passed(f"제품 버전 {shown(named)} / product version {shown(named)}")


@check("S24-API-002")
def search_works(session: Session) -> Outcome:
    return expect_ok(session, [ex for *_, ex in session.searches()], "visit searches")


@check("S24-API-003")
def fetch_works(session: Session) -> Outcome:
    return expect_ok(session, [ex for _, ex in session.fetch_requests()], "document fetches")


@check("S24-API-004")
def unknown_patient(session: Session) -> Outcome:
    return expect_refusal(session, ("unknown_patient_search", "unknown_patient_fetch"), 404, "unknown_patient")


@check("S24-API-005")
def unknown_visit(session: Session) -> Outcome:
    return expect_refusal(session, ("unknown_visit", "other_patients_visit"), 404, "unknown_visit")


@check("S24-API-018")
def unknown_route(session: Session) -> Outcome:
    not_found, not_allowed = (404, "not_found"), (405, "method_not_allowed")
    return expect_refusals(session, {"unknown_path": not_found, "unknown_path_get": not_found,
                                     "wrong_method": not_allowed, "wrong_method_delete": not_allowed},
                           "requests to a path that does not exist or with a method the path does not have")


@check("S24-API-006")
def expired_consent(session: Session) -> Outcome:
    return expect_refusal(session, ("expired_consent_search", "expired_consent_fetch"), 403, "invalid_consent")


@check("S24-API-007")
def consent_scope(session: Session) -> Outcome:
    return expect_refusal(session, ("consent_scope",), 403, "invalid_consent")


@check("S24-API-008")
def malformed_json(session: Session) -> Outcome:
    return expect_refusal(session, ("invalid_json",), 400, "invalid_json")


@check("S24-API-009")
def wrong_media_type(session: Session) -> Outcome:
    return expect_refusal(session, ("wrong_content_type",), 415, "unsupported_media_type")


@check("S24-API-010")
def oversized_body(session: Session) -> Outcome:
    return expect_refusal(session, ("oversized",), 413, "payload_too_large")


@check("S24-API-011")
def invalid_request(session: Session) -> Outcome:
    return expect_refusal(session, ("invalid_request", "invalid_request_date"), 400, "invalid_request")


@check("S24-API-012")
def same_answer_twice(session: Session) -> Outcome:
    """The same answer, not the same bytes: unordered collections (documents, missing, rows …) may come back in
    another order, and null or the schema default stand for a member left out (docs/comparison.md)."""
    _, first = session.fetch_requests()[0]
    again = _repeat(session, first)
    if first.status is None:  # the first try got no answer at all: compare two fresh tries instead
        first, again = again, _repeat(session, first)
    bundle = shape_of("bundle")
    same_body = canonical(again.body, bundle) == canonical(first.body, bundle) if again.body is not None \
        else again.content == first.content  # unreadable bodies (S24-SCH-006): byte for byte
    if again.status == first.status and again.status is not None and same_body:
        return passed(f"같은 응답 {again.answered} / the same answer {again.answered}")
    problems = [session.evidence(again, "상태가 다릅니다 / status differs", expected=first.answered,
                                 actual=again.answered)] if again.status != first.status else []
    message = "다시 보낸 요청의 응답이 다릅니다 / the repeated request got another answer"
    problems += [session.evidence(again, message, pointer=d.pointer,
                                  **({"expected": d.expected} if d.kind != "item_extra" else {}),
                                  **({"actual": d.actual} if d.kind not in ("missing", "item_missing") else {}))
                 for d in itertools.islice(compare(first.body, again.body, bundle), 10)]
    if not problems:  # same status, bodies that differ only where the contract does not compare (optional members)
        problems.append(session.evidence(again, message, expected=excerpt(first.text, 500),
                                         actual=excerpt(again.text, 500)))
    return failed("같은 request_id에 다른 응답 / another answer for the same request_id",
                  session.evidence(first, "첫 응답 / first answer"), *problems)


def _repeat(session: Session, first: Exchange) -> Exchange:
    """Send ``first``'s request again, byte for byte."""
    return session.raw("POST", f"/s24/v1/{FETCH}", content=first.request_body,
                       headers={"content-type": "application/json"}, request_id=first.request_id)


@check("S24-API-013")
def conflicting_reuse(session: Session) -> Outcome:
    request, first = session.fetch_requests()[0]
    types = request["document_types"]
    changed = {**request, "document_types": types[:1] if len(types) > 1
               else types + [t for t in ALL_TYPES if t not in types][:1]}
    reused = session.ask(FETCH, changed)
    if (reused.status, reused.code) == (409, "idempotency_conflict"):
        return passed("409 idempotency_conflict")
    return failed(f"같은 request_id, 다른 본문에 {reused.answered} / same request_id, other body: {reused.answered}",
                  session.evidence(reused, "409 idempotency_conflict이어야 합니다 / expected 409 idempotency_conflict",
                                   expected="409 idempotency_conflict", actual=reused.answered),
                  session.evidence(first, "처음 보낸 요청 / the first request with this request_id"))


@check("S24-API-014")
def within_timeout(session: Session) -> Outcome:
    limit_ms = session.target.timeout * 1000
    exchanges = [ex for ex in session.sent() if ex.certificate is True]
    problems = [session.evidence(ex, f"{limit_ms:.0f} ms 안에 응답하지 않았습니다 / no answer within {limit_ms:.0f} ms",
                                 expected=f"≤ {limit_ms:.0f} ms",
                                 actual=ex.error if ex.status is None else f"{ex.elapsed_ms:.0f} ms")
                for ex in exchanges
                if (ex.status is None and "timeout" in (ex.error or "").lower()) or ex.elapsed_ms > limit_ms]
    return session.verdict(problems, len(exchanges), "requests")


def _correct(session: Session, ex: Exchange, operation: str, body: dict[str, Any],
             others: Collection[str] = ()) -> Evidence | None:
    """Why a concurrent answer is wrong (None when it is right); ``others``: the ids sent alongside it."""
    if ex.status != 200:
        return session.evidence(ex, f"동시 요청 실패: {ex.answered} / concurrent request failed: {ex.answered}",
                                expected=200, actual=ex.answered)
    if ex.unreadable:
        ko, en = ex.unreadable
        return session.evidence(ex, f"응답 본문을 읽을 수 없습니다 (원인 S24-SCH-006: {ko}) "
                                    f"/ the answer's body cannot be read (root cause S24-SCH-006: {en})")
    if operation == SEARCH:
        want = sorted(session.expected_visits(session.patient_id(body["patient"])))
        got = sorted(v.get("visit_id") for v in ex.body.get("visits", []) if isinstance(v, dict)) \
            if isinstance(ex.body, dict) else None
    else:
        want = sorted(map(list, session.expected_documents(body["visit_ids"], body["document_types"])))
        got = sorted([d.get("visit_id"), d.get("document_type")] for d in ex.body.get("documents", [])
                     if isinstance(d, dict)) if isinstance(ex.body, dict) else None
    if got != want:
        return session.evidence(ex, "동시 요청에 틀린 응답 / a wrong answer under concurrency",
                                expected=want, actual=got)
    if (wrong := request_id_problem(ex.body, ex.request_id, others)) is not None:
        return session.evidence(ex, wrong, pointer="/request_id", expected=ex.request_id,
                                actual=ex.body.get("request_id"))
    return None


def request_id_problem(body: dict[str, Any], sent: str, others: Collection[str]) -> str | None:
    """What is wrong with the ``request_id`` an answer echoes (None when it is ``sent``).

    Only an id of one of the ``others`` sent at the same time is "another request's": a missing or made-up
    one points at the answer's construction, not at answers crossing between concurrent requests.
    """
    echoed = body.get("request_id")
    if echoed == sent:
        return None
    if "request_id" not in body:
        return ("응답에 request_id가 없습니다: 모든 응답에 요청의 request_id를 그대로 넣으십시오 "
                "/ the answer has no request_id: echo the request's request_id in every answer")
    if echoed in others:
        return ("다른 동시 요청의 request_id를 돌려줌 (응답이 요청 사이에 섞임) "
                "/ another concurrent request's request_id (answers crossed between requests)")
    return ("요청과 다른 request_id를 돌려줌: 요청의 request_id를 그대로 넣으십시오 "
            "/ a request_id the request did not send: echo the request's request_id unchanged")


def _concurrent_requests(session: Session) -> Iterator[tuple[str, dict[str, Any]]]:
    patients = [(q, list(session.expected_visits(session.patient_id(q)))) for q in session.patients()]
    with_visits = [(q, v) for q, v in patients if v] or patients
    for i in range(CONCURRENT):
        query, visits = with_visits[i % len(with_visits)]
        if i % 2 or not visits:
            yield SEARCH, session.search_body(query)
        else:
            yield FETCH, session.fetch_body(query, visits[:100])


@check("S24-API-015")
def concurrent_requests(session: Session) -> Outcome:
    requests = list(_concurrent_requests(session))
    start = threading.Barrier(len(requests), timeout=session.target.timeout)

    def send(item: tuple[str, dict[str, Any]]) -> Exchange:
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait()  # all leave together, so the target really sees them at once
        return session.ask(*item)

    with ThreadPoolExecutor(max_workers=len(requests), thread_name_prefix="s24kit-concurrent") as pool:
        answers = list(pool.map(send, requests))
    sent = {ex.request_id for ex in answers}
    problems = [problem for (operation, body), ex in zip(requests, answers, strict=True)
                if (problem := _correct(session, ex, operation, {**body, "request_id": ex.request_id},
                                        sent - {ex.request_id}))]
    return session.verdict(problems, len(answers), "concurrent requests")


@check("S24-API-016")
def nfc_text(session: Session) -> Outcome:
    problems: list[Evidence] = []
    answers = [ex for ex in session.responses() if ex.body is not None]
    for ex in answers:
        if unicodedata.is_normalized("NFC", ex.scan_text):
            continue  # every string is NFC: no need to walk the fields
        bad = [(p, s) for p, s in strings(ex.body) if not unicodedata.is_normalized("NFC", s)]
        problems += [session.evidence(ex, "NFC로 정규화되지 않은 문자열 / text not NFC-normalised", pointer=p,
                                      expected=unicodedata.normalize("NFC", s), actual=json.dumps(s)[1:-1])
                     for p, s in bad[:5]]
    return session.verdict(problems, len(answers), "answers")
