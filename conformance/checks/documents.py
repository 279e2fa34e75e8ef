"""DOC: the provider returns exactly the scenario's visits and documents, and every contract rule holds.

Completeness (S24-DOC-100…) compares the answers with the scenario's ground truth; the contract rules
(S24-DOC-001…099, from :mod:`s24kit.schemas.rules`) run :func:`~s24kit.schemas.validation.validate` over
every returned bundle once and each report their own findings.
"""

from __future__ import annotations

import itertools
import json
import marshal
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ...schemas.rules import RULES, Finding, active_rules
from ...schemas.validation import validate
from ..comparison import Difference, compare, document_shape
from ..language import split
from ..session import Exchange, Session, masked
from .registry import Evidence, Outcome, check, skipped
from .repeats import distinct, document_key

VISIT_FIELDS = ("setting", "start_date", "end_date")
PATIENT_FIELDS = ("name", "resident_number_masked", "patient_number")
MAX_DIFFS_PER_DOCUMENT = 10


def _items(value: Any, key: str) -> list[dict[str, Any]]:
    """``value[key]`` as a list of objects, tolerating broken shapes (S24-SCH-* judges those)."""
    items = value.get(key) if isinstance(value, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _identical(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same JSON value, keys in the same order, numbers of the same types.

    The quick test before :func:`~..comparison.compare` walks a document: marshal tells 1 from 1.0 and True (which
    ``==`` does not), and format 2 has no back-references, so the bytes do not depend on shared objects.
    """
    return marshal.dumps(a, 2) == marshal.dumps(b, 2)


def _prefixed(prefix: str, message: str) -> str:
    """``"prefix: 한국어 / prefix: English"`` from a bilingual ``message``: each half stands alone."""
    halves = split(message)
    return f"{prefix}: {halves[0]} / {prefix}: {halves[1]}" if halves else f"{prefix}: {message}"


def _label(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}"


def _department(session: Session, visit_id: str) -> str | None:
    """The visit's department as its medical receipt states it (None without a receipt)."""
    for doc in session.scenario.documents.get(visit_id, ()):
        if doc["document_type"] == "medical_receipt":
            return doc.get("department")
    return None


#: The root cause of every finding about an answer whose body cannot be read (S24-SCH-006 reports it).
ROOT_CAUSE = "S24-SCH-006"
_UNREADABLE = ("응답 본문을 읽을 수 없어 판정하지 못했습니다", "the answer's body cannot be read, so it was not judged")


def _unreadable(session: Session, ex: Exchange) -> Evidence:
    ko, en = ex.unreadable or ("", "")
    return session.evidence(ex, f"{_UNREADABLE[0]} (원인 {ROOT_CAUSE}: {ko}) / {_UNREADABLE[1]} "
                                f"(root cause {ROOT_CAUSE}: {en})")


def _verdict(session: Session, problems: list[Evidence], judged: int, what: str, repeats: int = 0) -> Outcome:
    """:meth:`Session.verdict`, led by the root cause when answers could not be read: those findings first, and
    the reason names them (the other findings follow from them)."""
    unreadable = [p for p in problems if p.message.startswith(_UNREADABLE[0])]
    if not unreadable:
        return session.verdict(problems, judged, what, repeats)
    outcome = session.verdict([*unreadable, *(p for p in problems if p not in unreadable)], judged, what, repeats)
    ko, en = split(outcome.reason) or (outcome.reason, outcome.reason)
    n = len(unreadable)
    return replace(outcome, reason=f"원인 {ROOT_CAUSE}: 읽을 수 없는 응답 {n}건 — {ko} "
                                   f"/ root cause {ROOT_CAUSE}: {n} answer(s) cannot be read — {en}")


def _search_problem(session: Session, ex: Exchange) -> Evidence | None:
    if ex.unreadable:
        return _unreadable(session, ex)
    if ex.status != 200:
        return session.evidence(ex, f"내원 조회 실패: {ex.answered} / visit search failed: {ex.answered}", expected=200,
                                actual=ex.status)
    return None


@check("S24-DOC-100")
def every_visit_listed(session: Session) -> Outcome:
    problems: list[Evidence] = []
    for _, wanted, ex in session.searches():
        if (problem := _search_problem(session, ex)) is not None:
            problems.append(problem)
            continue
        listed = {v.get("visit_id"): (i, v) for i, v in enumerate(_items(ex.body, "visits"))}
        for visit_id, expected in wanted.items():
            if visit_id not in listed:
                problems.append(session.evidence(ex, f"내원 {visit_id} 누락 / visit {visit_id} not listed",
                                                 pointer="/visits", expected=visit_id))
                continue
            i, visit = listed[visit_id]
            want = {f: expected[f] for f in VISIT_FIELDS}
            want["available_documents"] = sorted(expected["document_types"])
            got = {f: visit.get(f) for f in VISIT_FIELDS}
            documents = visit.get("available_documents")
            got["available_documents"] = sorted(documents) if isinstance(documents, list) else documents
            if (department := _department(session, visit_id)) is not None:
                want["department"], got["department"] = department, visit.get("department")
            for field, value in want.items():
                if got[field] != value:
                    message = f"내원 {visit_id}의 {field} 불일치 / visit {visit_id}: {field} differs"
                    problems.append(session.evidence(ex, message,
                                                     pointer=f"/visits/{i}/{field}", expected=value,
                                                     actual=got[field]))
    return _verdict(session, problems, len(session.searches()), "visit searches")


@check("S24-DOC-101")
def no_foreign_visit(session: Session) -> Outcome:
    problems: list[Evidence] = []
    judged = 0
    for patient_id, expected, ex in session.searches():
        if ex.status != 200:
            continue  # S24-API-002 judges failed searches
        judged += 1
        for i, visit in enumerate(_items(ex.body, "visits")):
            visit_id = visit.get("visit_id")
            if visit_id in expected:
                continue
            owner = session.scenario.visits.get(visit_id, {}).get("patient_id")
            if owner == patient_id:
                asked = json.loads(ex.request_body).get("period")
                why = f"요청한 기간 밖의 내원 / a visit outside the period asked ({asked})"
            elif owner:
                why = "다른 환자의 내원 / another patient's visit"
            else:
                why = "시나리오에 없는 내원 / a visit the EMR does not hold"
            problems.append(session.evidence(ex, _prefixed(visit_id, why), pointer=f"/visits/{i}", actual=visit_id))
    return _verdict(session, problems, judged, "visit searches")


@check("S24-DOC-106")
def each_visit_once(session: Session) -> Outcome:
    problems: list[Evidence] = []
    judged = 0
    for _, _, ex in session.searches():
        if ex.status != 200:
            continue  # S24-API-002 judges failed searches
        judged += 1
        first: dict[Any, int] = {}
        for i, visit in enumerate(_items(ex.body, "visits")):
            visit_id = visit.get("visit_id")
            if visit_id in first:
                problems.append(session.evidence(
                    ex, f"{visit_id}: 같은 내원이 두 번 (처음 /visits/{first[visit_id]}) "
                        f"/ {visit_id}: the same visit twice (first at /visits/{first[visit_id]})",
                    pointer=f"/visits/{i}", actual=visit_id))
            else:
                first[visit_id] = i
    return _verdict(session, problems, judged, "visit searches")


@check("S24-DOC-107")
def own_provider_code(session: Session) -> Outcome:
    code = session.scenario.provider_code
    answers = [ex for ex in [*(ex for _, _, ex in session.searches()), *(ex for _, ex in session.fetch_requests())]
               if ex.status == 200 and isinstance(ex.body, dict)]
    problems = [session.evidence(ex, f"{code}이(가) 아닌 요양기관기호 / another provider code than {code}",
                                 pointer="/provider_code", expected=code, actual=ex.body["provider_code"])
                for ex in answers if "provider_code" in ex.body and ex.body["provider_code"] != code]
    # An answer without provider_code is a shape defect: S24-SCH-002 and S24-SCH-003 report it.
    return _verdict(session, problems, len(answers), "search and bundle answers")


def _fetches(session: Session) -> list[tuple[dict[str, Any], Exchange, dict[tuple[str, str], dict]]]:
    """Each fetch request, its exchange, and the documents it should have brought back (once per session)."""
    return session.once("expected_fetches", lambda: [
        (request, ex, session.expected_documents(request["visit_ids"], request["document_types"]))
        for request, ex in session.fetch_requests()])


def _returned(session: Session, ex: Exchange) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
    """(visit_id, document_type) → (index, document) of the first returned document for each key (once)."""
    def compute() -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
        out: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        for i, doc in enumerate(_items(ex.body, "documents")):
            out.setdefault((doc.get("visit_id"), doc.get("document_type")), (i, doc))
        return out
    return session.once(("returned", id(ex)), compute)  # the session keeps its exchanges: ids stay unique


def _successful_fetches(session: Session, problems: list[Evidence], *, failed: bool = True):
    """The fetches that answered 200 with a readable body; an unreadable one becomes a problem (naming the root
    cause), and so does a failed one when ``failed`` (the documents never arrived)."""
    for request, ex, expected in _fetches(session):
        if ex.unreadable:
            problems.append(_unreadable(session, ex))
            continue
        if ex.status != 200:
            if failed:
                message = f"서류 요청 실패: {ex.answered} / document fetch failed: {ex.answered}"
                problems.append(session.evidence(ex, message, expected=200, actual=ex.status))
            continue
        yield request, ex, expected


@check("S24-DOC-102")
def every_document_returned(session: Session) -> Outcome:
    problems: list[Evidence] = []
    for _, ex, expected in _successful_fetches(session, problems):
        returned = _returned(session, ex)
        for key, doc in expected.items():
            if key not in returned:
                number = doc.get("receipt_number") or doc.get("statement_number") or doc.get("issue_number")
                problems.append(session.evidence(ex, f"{_label(key)} 누락 / {_label(key)} not returned",
                                                 pointer="/documents",
                                                 expected=f"{_label(key)} {number}"))
    return _verdict(session, problems, len(session.fetch_requests()), "document fetches")


@check("S24-DOC-103")
def documents_equal_expected(session: Session) -> Outcome:
    """Field by field under the comparison contract (docs/comparison.md): keyed collections by key, an
    optional member on one side only, null or the schema default left out are no disagreement."""
    problems: list[Evidence] = []
    found: list[tuple[Exchange, Evidence]] = []
    compared: set[tuple[str, str]] = set()  # documents asked for twice are compared twice, counted once
    for _, ex, expected in _successful_fetches(session, problems, failed=False):
        for key, (i, doc) in _returned(session, ex).items():
            if key not in expected:
                continue  # S24-DOC-104 judges documents nobody asked for
            compared.add(key)
            if _identical(doc, expected[key]):
                continue
            differences = compare(expected[key], doc, document_shape(key[1]), f"/documents/{i}")
            found += [(ex, _disagreement(session, ex, key, d))
                      for d in itertools.islice(differences, MAX_DIFFS_PER_DOCUMENT)]
    kept, repeats = distinct(found)
    return _verdict(session, problems + kept, len(compared), "returned documents", repeats)


#: What each kind of disagreement is called, in Korean and English.
_DISAGREEMENTS = {
    "value": ("값이 다릅니다", "value differs"),
    "missing": ("필수 필드가 없습니다", "required field left out"),
    "item_missing": ("EMR의 항목이 없습니다", "an item the EMR holds is left out"),
    "item_extra": ("EMR에 없는 항목이 있습니다", "an item the EMR does not hold"),
    "count": ("항목 수가 다릅니다", "number of items differs"),
}


def _disagreement(session: Session, ex: Exchange, key: tuple[str, str], difference: Difference) -> Evidence:
    ko, en = _DISAGREEMENTS[difference.kind]
    label = _label(key)
    sides: dict[str, Any] = {}
    if difference.kind != "item_extra":
        sides["expected"] = difference.expected
    if difference.kind not in ("missing", "item_missing"):
        sides["actual"] = difference.actual
    return session.evidence(ex, f"{label}: {ko} / {label}: {en}", pointer=difference.pointer, **sides)


@check("S24-DOC-104")
def only_requested_documents(session: Session) -> Outcome:
    problems: list[Evidence] = []
    judged = 0
    for request, ex, expected in _successful_fetches(session, problems, failed=False):
        judged += 1
        patient = session.scenario.patients[request["patient"]["identity_token"]]
        visits, types = set(request["visit_ids"]), set(request["document_types"])
        seen: set[tuple[str, str]] = set()
        for i, doc in enumerate(_items(ex.body, "documents")):
            key = (doc.get("visit_id"), doc.get("document_type"))
            why = None
            if key[0] not in visits:
                owner = session.scenario.visits.get(key[0], {}).get("patient_id")
                why = ("다른 환자의 서류 / another patient's document" if owner and owner != patient["patient_id"]
                       else "요청하지 않은 내원의 서류 / a visit not requested")
            elif key[1] not in types:
                why = "요청하지 않은 서류 종류 / a document type not requested"
            elif key in seen:
                why = "같은 서류가 두 번 / the same document twice"
            elif key not in expected:
                why = "EMR에 없는 서류 / a document the EMR does not hold"
            seen.add(key)
            if why:
                problems.append(session.evidence(ex, _prefixed(_label(key), why), pointer=f"/documents/{i}",
                                                 actual=_label(key)))
                continue
            block = doc.get("patient") if isinstance(doc.get("patient"), dict) else {}
            for field in PATIENT_FIELDS:
                want = expected[key].get("patient", {}).get(field)
                if want is not None and block.get(field) is not None and not _same_person(want, block[field]):
                    label = _label(key)
                    problems.append(session.evidence(
                        ex, f"{label}: 요청한 환자가 아닙니다 / {label}: not the requested patient's data",
                        pointer=f"/documents/{i}/patient/{field}", expected=want, actual=block[field]))
    return _verdict(session, problems, judged, "document fetches")


def _same_person(want: str, got: Any) -> bool:
    """The same name or number once spelling is set aside: NFC text (S24-DOC-030 judges the encoding) and a
    resident number in masked form (S24-DOC-031 and S24-SEC-001 judge an unmasked one)."""
    if not isinstance(got, str):
        return False
    return unicodedata.normalize("NFC", masked(got)) == unicodedata.normalize("NFC", want)


@check("S24-DOC-105")
def missing_is_exact(session: Session) -> Outcome:
    problems: list[Evidence] = []
    judged = 0
    for request, ex, expected in _successful_fetches(session, problems, failed=False):
        judged += 1
        returned = set(_returned(session, ex))
        asked = {(v, t) for v in request["visit_ids"] for t in request["document_types"]}
        listed: set[tuple[str, str]] = set()
        for i, item in enumerate(_items(ex.body, "missing")):
            key = (item.get("visit_id"), item.get("document_type"))
            listed.add(key)
            if key in expected:
                problems.append(session.evidence(
                    ex, _prefixed(_label(key), "EMR에 있는 서류를 missing에 적었습니다 "
                                               "/ listed missing but the EMR holds it"),
                    pointer=f"/missing/{i}", actual=item))
            elif key not in asked:
                problems.append(session.evidence(ex, _prefixed(_label(key), "요청하지 않은 항목 / not requested"),
                                                 pointer=f"/missing/{i}", actual=item))
        for key in sorted(asked - returned - listed - set(expected)):
            problems.append(session.evidence(
                ex, _prefixed(_label(key), "돌려주지 않았는데 missing에 없습니다 "
                                           "/ neither returned nor listed missing"),
                pointer="/missing", expected={"visit_id": key[0], "document_type": key[1]}))
    return _verdict(session, problems, judged, "document fetches")


# -- contract rules S24-DOC-001…099: one check per rule, one validation of every bundle --------------------

def rule_findings(session: Session) -> tuple[list[tuple[Exchange, Finding]], Counter[str]]:
    """Every finding over the returned bundles, with its exchange; and how many documents of each type."""
    def compute() -> tuple[list[tuple[Exchange, Finding]], Counter[str]]:
        found: list[tuple[Exchange, Finding]] = []
        types: Counter[str] = Counter()
        documents: set[tuple[Any, ...]] = set()  # a document in two answers is judged twice, counted once
        for _, ex in session.fetch_requests():
            if ex.status == 200 and isinstance(ex.body, dict):
                found += [(ex, f) for f in validate(ex.body)]
                types["bundle"] += 1  # bundle rules judge the documents of one answer together
                keys = [document_key(ex.body, i) for i in range(len(ex.body.get("documents") or ()))]
                new = [k for k in keys if k is not None and k not in documents]
                documents.update(new)
                types.update(str(k[1]) for k in new)
        return found, types
    return session.once("rule_findings", compute)


def _rule_check(rule_id: str) -> Callable[[Session], Outcome]:
    rule = RULES[rule_id]

    def run(session: Session) -> Outcome:
        found, types = rule_findings(session)
        judged = sum(types[t] for t in rule.applies_to)
        problems, repeats = distinct((ex, session.evidence(ex, f"{f.message_ko} / {f.message_en}", pointer=f.pointer))
                                     for ex, f in found if f.rule == rule_id)
        if not problems and not judged:
            kinds = ", ".join(rule.applies_to)
            return skipped(f"해당 서류({kinds})를 받지 못했습니다 / no {kinds} returned to check")
        return _verdict(session, problems, judged, "documents", repeats)

    run.__name__ = run.__qualname__ = f"rule_{rule_id.replace('-', '_')}"
    run.__doc__ = f"{rule.title_ko} / {rule.title_en}"
    return run


for _rule_id in sorted(r.id for r in active_rules()):  # a withdrawn rule is listed, never judged
    check(_rule_id, tags=("rule",))(_rule_check(_rule_id))
