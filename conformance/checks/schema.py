"""SCH: every answer has the shape, media type and encoding the kit-v1 schemas give."""

from __future__ import annotations

from collections.abc import Iterable

from ...schemas.loader import is_valid
from ...schemas.validation import schema_findings
from ..language import excerpt
from ..session import MAX_PER_ANSWER, Exchange, Session
from .registry import Evidence, Outcome, check, failed
from .repeats import distinct

SEARCH_ANSWER, BUNDLE, PROBLEM, HEALTH = "visit-search#/$defs/response", "bundle", "problem", "health"


def shape_problems(session: Session, exchanges: Iterable[Exchange],
                   schema: str) -> tuple[list[Evidence], int, bool]:
    """Evidence for each successful answer not valid against ``schema`` (at most ``MAX_PER_ANSWER`` each); how
    many were judged; whether an answer had more findings than were taken."""
    problems: list[Evidence] = []
    judged, capped = 0, False
    for ex in exchanges:
        if ex.status is None or not 200 <= ex.status < 300:
            continue  # refused or failed requests are judged by the API checks and S24-SCH-004
        judged += 1
        if ex.body is None:
            ko, en = ex.unreadable or ("빈 본문", "an empty body")
            problems.append(session.evidence(ex, f"본문을 읽을 수 없습니다 (원인 S24-SCH-006: {ko}) "
                                                 f"/ the body cannot be read (root cause S24-SCH-006: {en})",
                                             actual=excerpt(ex.text)))
            continue
        if is_valid(schema, ex.body):
            continue
        findings = schema_findings(schema, ex.body)
        capped |= len(findings) > MAX_PER_ANSWER
        for finding in findings[:MAX_PER_ANSWER]:
            problems.append(session.evidence(ex, f"{finding.message_ko} / {finding.message_en}",
                                             pointer=finding.pointer))
    return problems, judged, capped


@check("S24-SCH-001")
def health_shape(session: Session) -> Outcome:
    health = session.health()
    if health.status != 200:
        return failed(f"상태 확인 응답 {health.answered} / health answered {health.answered}",
                      session.evidence(health, "200이 아닙니다 / not 200", expected=200, actual=health.status))
    problems, judged, capped = shape_problems(session, [health], HEALTH)
    return session.verdict(problems, judged, "health answers", capped=capped)


@check("S24-SCH-002")
def search_shape(session: Session) -> Outcome:
    problems, judged, capped = shape_problems(session, [ex for *_, ex in session.searches()], SEARCH_ANSWER)
    return session.verdict(problems, judged, "visit search answers", capped=capped)


@check("S24-SCH-003")
def bundle_shape(session: Session) -> Outcome:
    found: list[tuple[Exchange, Evidence]] = []
    judged, capped = 0, False
    for _, ex in session.fetch_requests():  # per answer: a document asked for twice is one violation, not two
        problems, counted, more = shape_problems(session, [ex], BUNDLE)
        found += [(ex, problem) for problem in problems]
        judged, capped = judged + counted, capped or more
    kept, repeats = distinct(found)
    return session.verdict(kept, judged, "document bundles", repeats, capped=capped)


@check("S24-SCH-004")
def problem_shape(session: Session) -> Outcome:
    problems: list[Evidence] = []
    errors = [ex for ex in session.responses() if ex.status is not None and ex.status >= 400 and ex.certificate is True]
    for ex in errors:
        if ex.media_type != "application/problem+json":
            problems.append(session.evidence(ex, "오류 응답의 Content-Type / content type of an error answer",
                                             expected="application/problem+json", actual=ex.media_type or None))
        if not isinstance(ex.body, dict):
            problems.append(session.evidence(ex, "오류 본문이 JSON 객체가 아닙니다 / the error body is not an object",
                                             actual=excerpt(ex.text)))
            continue
        for finding in schema_findings(PROBLEM, ex.body)[:MAX_PER_ANSWER]:
            problems.append(session.evidence(ex, f"{finding.message_ko} / {finding.message_en}",
                                             pointer=finding.pointer))
        if ex.body.get("status") not in (None, ex.status):
            problems.append(session.evidence(ex, "본문의 status가 HTTP 상태와 다릅니다 / body status differs from HTTP",
                                             pointer="/status", expected=ex.status, actual=ex.body.get("status")))
    return session.verdict(problems, len(errors), "error answers")


@check("S24-SCH-005")
def success_media_type(session: Session) -> Outcome:
    problems: list[Evidence] = []
    ok = [ex for ex in session.responses() if ex.status is not None and 200 <= ex.status < 300]
    for ex in ok:
        charset = _charset(ex.headers.get("content-type", ""))
        if ex.media_type != "application/json" or charset not in (None, "utf-8"):
            problems.append(session.evidence(ex, "정상 응답의 Content-Type / content type of a successful answer",
                                             expected="application/json",
                                             actual=ex.headers.get("content-type")))
    return session.verdict(problems, len(ok), "successful answers")


@check("S24-SCH-006")
def utf8_json(session: Session) -> Outcome:
    problems: list[Evidence] = []
    answers = [ex for ex in session.responses() if ex.content]
    for ex in answers:
        if ex.content.startswith(b"\xef\xbb\xbf"):
            problems.append(session.evidence(ex, "본문이 BOM으로 시작합니다 / the body starts with a BOM"))
            continue
        try:
            ex.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(session.evidence(
                ex, f"UTF-8이 아닌 바이트 (위치 {exc.start}) / not UTF-8 (byte {exc.start})",
                actual=ex.content[exc.start:exc.start + 8].hex(" ")))
            continue
        if ex.body is None:
            problems.append(session.evidence(ex, "본문이 JSON이 아닙니다 / the body is not JSON",
                                             actual=excerpt(ex.text)))
    return session.verdict(problems, len(answers), "answer bodies")


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower().replace("utf8", "utf-8")
    return None
