"""The suite judges exactly: harmless variations of a correct connector pass every check; defects fail theirs.

Each variation is the reference provider with one change, in-process (a :class:`ProviderCore` subclass or an
answer rewriter), served over mutual TLS and judged by every HTTP check, as tests/test_checks.py does. The
contract behind the valid ones is docs/comparison.md.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from s24kit.conformance.checks import CHECKS
from s24kit.conformance.comparison import compare, document_shape
from s24kit.simulator.provider import ProviderCore, Scenario, create_provider_app

from .conftest import load_example
from .test_checks import MINE, ForeignProviderCode, VisitListedTwice, Wrap, _busiest, judged
from .test_checks import scenario_dir as scenario_dir  # the module's scenario, shared (pki: conftest)

CLINIC, PHARMACY = "medical_receipt", "pharmacy_receipt"
#: The unordered collections of each document type and of the answers (schemas: x-key, x-ordered false).
UNORDERED = {"medical_receipt": ("rows",), "itemised_statement": ("lines",), "prescription": ("medications",),
             "pharmacy_receipt": ("fee_items", "drugs")}


class Changes:
    """Counts what a variation changed, so that a test proves the variation was really exercised."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, changed: bool = True) -> None:
        self.count += bool(changed)


def _reordered(doc: dict[str, Any], changes: Changes) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for name in UNORDERED.get(doc["document_type"], ()):
        if len(doc[name]) > 1:
            doc[name] = doc[name][::-1]
            changes()
    return doc


class Reordered(ProviderCore):
    """Every unordered collection in another order (the printed form's, say): visits, available documents,
    documents, missing, receipt rows, statement lines, medications, fee items and drugs."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.changes = Changes()

    def search(self, body, patient):
        answer = super().search(body, patient)
        self.changes(len(answer["visits"]) > 1)
        answer["visits"] = [{**v, "available_documents": v["available_documents"][::-1]}
                            for v in answer["visits"][::-1]]
        return answer

    def fetch(self, body, patient):
        status, bundle = super().fetch(body, patient)
        if status == 200:
            bundle = {**bundle, "documents": [_reordered(d, self.changes) for d in bundle["documents"][::-1]],
                      "missing": bundle["missing"][::-1]}
        return status, bundle


class OptionalMembers(ProviderCore):
    """Schema-valid optional members that agree with the EMR, sent as a Java or Node connector may send them:
    the schema default written out, null for what is not there, members the scenario lacks, one left out."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.changes = Changes()
        self.patients = {p["patient_id"]: p for p in scenario.patients.values()}

    def documents_of(self, visit_id):
        docs = copy.deepcopy(super().documents_of(visit_id))
        patient = self.patients[self.scenario.visits[visit_id]["patient_id"]]
        for doc in docs:
            doc["provider"]["country"] = "KR"  # the schema's default, written out
            kind = doc["document_type"]
            if kind == "medical_receipt":
                doc.setdefault("drg_number", None)  # as in the kit's own inpatient example
                doc.setdefault("room", None)
                doc.pop("diagnosis_codes", None)  # optional: left out
            elif kind == "pharmacy_receipt":
                doc["patient"].update(patient_number=patient["patient_number"],
                                      resident_number_masked=patient["resident_number_masked"])
            elif kind == "prescription":
                doc["patient"]["patient_number"] = patient["patient_number"]
                doc["notes"] = "식후 30분에 복용"
                doc["dispensing"] = {"pharmacy_code": "99510001", "pharmacy_name": "하늘약국", "pharmacist": "김약사",
                                     "dispensed_date": doc["issue_date"]}
            elif kind == "itemised_statement":
                for line in doc["lines"]:
                    line.setdefault("big_three", None)
            self.changes()
        return docs

    def search(self, body, patient):
        answer = super().search(body, patient)
        for visit in answer["visits"]:
            if visit["setting"] == "pharmacy":  # no department: null is the same as left out
                visit["department"] = None
                self.changes()
        return answer


class ReorderedRepeats(ProviderCore):
    """A repeated request_id gets the stored answer with its unordered lists in another order."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.changes = Changes()

    def answer(self, operation, body):
        repeated = isinstance(body, dict) and self.remembers(body.get("request_id"))
        status, answer = super().answer(operation, body)
        if repeated and status == 200 and "documents" in answer:
            self.changes(len(answer["documents"]) > 1)
            answer = {**answer, "documents": [_reordered(d, Changes()) for d in answer["documents"][::-1]],
                      "missing": answer["missing"][::-1]}
        return status, answer


def _problem_extensions(scope, status, headers, body):
    """What Spring adds to a problem: timestamp, path and error, besides the RFC 9457 members."""
    if status < 400 or not headers.get("content-type", "").startswith("application/problem+json"):
        return status, headers, body
    problem = {**json.loads(body), "timestamp": "2026-10-20T09:00:00.000+09:00", "path": scope["path"],
               "error": "Not Found" if status == 404 else "Bad Request"}
    return status, headers, json.dumps(problem).encode()


@dataclass(frozen=True)
class Variation:
    name: str
    build: Callable[[Scenario], Any]
    provider: str = CLINIC  # the kind of provider it is judged as


VALID = [
    Variation("collections-in-another-order", Reordered),
    Variation("collections-in-another-order-pharmacy", Reordered, PHARMACY),
    Variation("optional-members", OptionalMembers),
    Variation("optional-members-pharmacy", OptionalMembers, PHARMACY),
    Variation("repeated-answer-reordered", ReorderedRepeats),
    Variation("problem-extension-members",
              lambda scenario: Wrap(create_provider_app(ProviderCore(scenario)), on_response=_problem_extensions)),
]


@pytest.mark.parametrize("case", VALID, ids=[c.name for c in VALID])
def test_valid_variation_passes_every_check(case, scenario_dir, pki):
    scenario = Scenario.load(scenario_dir, _busiest(scenario_dir, case.provider))
    provider = case.build(scenario)
    with judged(provider, scenario, pki) as session:
        results = {rid: CHECKS[rid].run(session) for rid in MINE}
    failures = {rid: (r.outcome.reason, [e.as_json() for e in r.outcome.evidence][:3])
                for rid, r in results.items() if r.verdict in ("fail", "warn")}
    assert failures == {}
    changes = getattr(provider, "changes", None)
    assert changes is None or changes.count > 0, "the variation changed nothing: the test would prove nothing"


# -- defects: each fails its own requirement, and only the real cause is named ------------------------------

def _change_documents(change: Callable[[dict[str, Any]], None]) -> type[ProviderCore]:
    class Changed(ProviderCore):
        def documents_of(self, visit_id):
            docs = copy.deepcopy(super().documents_of(visit_id))
            for doc in docs:
                change(doc)
            return docs
    return Changed


def _reordered_and_one_amount_off(doc):
    if doc["document_type"] == "medical_receipt":
        doc["rows"] = doc["rows"][::-1]
        doc["rows"][0]["amounts"]["non_covered"] += 10


def _row_left_out(doc):
    if doc["document_type"] == "medical_receipt" and len(doc["rows"]) > 1:
        doc["rows"] = doc["rows"][1:]


def _abroad(doc):
    doc["provider"]["country"] = "US"


def _nfd_name(doc):
    doc["patient"]["name"] = unicodedata.normalize("NFD", doc["patient"]["name"])


def _full_resident_number(doc):
    if "resident_number_masked" in doc["patient"]:
        doc["patient"]["resident_number_masked"] = doc["patient"]["resident_number_masked"][:8] + "234567"


class RepeatDropsADocument(ProviderCore):
    def answer(self, operation, body):
        repeated = isinstance(body, dict) and self.remembers(body.get("request_id"))
        status, answer = super().answer(operation, body)
        if repeated and status == 200 and answer.get("documents"):
            answer = {**answer, "documents": answer["documents"][1:]}
        return status, answer


class PharmacyDepartment(ProviderCore):
    """A general practitioner's department ("00") on pharmacy visits, which have none."""

    def listed(self, visit):
        return {**super().listed(visit), "department": "00"} if visit["setting"] == "pharmacy" \
            else super().listed(visit)


@dataclass(frozen=True)
class Defect:
    name: str
    build: Callable[[Scenario], Any]
    fails: tuple[str, ...]
    passes: tuple[str, ...] = ()  # requirements that must not blame this defect (the real cause is elsewhere)
    provider: str = CLINIC


DEFECTS = [
    Defect("visit-listed-twice", VisitListedTwice, ("S24-DOC-106",), ("S24-DOC-100", "S24-DOC-101")),
    Defect("foreign-provider-code", ForeignProviderCode, ("S24-DOC-107",)),
    Defect("rows-reordered-one-amount-off", _change_documents(_reordered_and_one_amount_off), ("S24-DOC-103",)),
    Defect("receipt-row-left-out", _change_documents(_row_left_out), ("S24-DOC-103",)),
    Defect("treated-abroad", _change_documents(_abroad), ("S24-DOC-103",)),
    Defect("nfd-patient-name", _change_documents(_nfd_name), ("S24-DOC-030", "S24-API-016"),
           ("S24-DOC-103", "S24-DOC-104")),
    Defect("full-resident-number", _change_documents(_full_resident_number), ("S24-SEC-001", "S24-DOC-031"),
           ("S24-DOC-104",)),
    Defect("repeat-drops-a-document", RepeatDropsADocument, ("S24-API-012",)),
    Defect("pharmacy-department-00", PharmacyDepartment, ("S24-SCH-002",), provider=PHARMACY),
]


@pytest.mark.parametrize("case", DEFECTS, ids=[c.name for c in DEFECTS])
def test_defect_fails_its_requirement(case, scenario_dir, pki):
    scenario = Scenario.load(scenario_dir, _busiest(scenario_dir, case.provider))
    with judged(case.build(scenario), scenario, pki) as session:
        results = {rid: CHECKS[rid].run(session) for rid in (*case.fails, *case.passes)}
    assert {rid: results[rid].verdict for rid in case.fails} == dict.fromkeys(case.fails, "fail")
    assert {rid: results[rid].verdict for rid in case.passes} == dict.fromkeys(case.passes, "pass")
    for rid in case.fails:
        assert results[rid].outcome.evidence, rid


# -- the comparison contract itself (docs/comparison.md) ----------------------------------------------------

def _receipt(**changes: Any) -> dict[str, Any]:
    return {**load_example("medical-receipt.inpatient"), **changes}


def test_diagnosis_codes_are_ordered_main_first():
    expected = _receipt(diagnosis_codes=["S62.6", "M54.5"])
    found = list(compare(expected, _receipt(diagnosis_codes=["M54.5", "S62.6"]), document_shape("medical_receipt")))
    assert [(d.pointer, d.kind) for d in found] == [("/diagnosis_codes/0", "value"), ("/diagnosis_codes/1", "value")]


def test_an_optional_member_on_one_side_only_is_no_disagreement_but_a_required_one_is():
    shape = document_shape("medical_receipt")
    receipt = _receipt()
    assert list(compare(receipt, {**receipt, "room": None, "drg_number": None}, shape)) == []
    assert list(compare({k: v for k, v in receipt.items() if k != "diagnosis_codes"}, receipt, shape)) == []
    left_out = {k: v for k, v in receipt.items() if k != "issue_date"}
    assert [(d.pointer, d.kind, d.expected) for d in compare(receipt, left_out, shape)] == [
        ("/issue_date", "missing", receipt["issue_date"])]


def test_a_number_field_compares_numerically_but_money_keeps_its_type():
    shape = document_shape("itemised_statement")
    statement = load_example("itemised-statement")
    line = statement["lines"][0]
    as_java_writes = {**statement, "lines": [{**line, "quantity": float(line["quantity"])}, *statement["lines"][1:]]}
    assert list(compare(statement, as_java_writes, shape)) == []
    money_as_float = {**statement, "lines": [{**line, "total": float(line["total"])}, *statement["lines"][1:]]}
    assert [d.pointer for d in compare(statement, money_as_float, shape)] == ["/lines/0/total"]


# -- an answer that cannot be read: the root cause leads, the consequences are grouped under it --------------

def _unreadable_bundles(spoil: Callable[[bytes], bytes]) -> Callable[[Scenario], Any]:
    def change(scope, status, headers, body):
        return (status, headers, spoil(body)) if scope["path"].endswith("documents:fetch") and status == 200 \
            else (status, headers, body)
    return lambda scenario: Wrap(create_provider_app(ProviderCore(scenario)), on_response=change)


@pytest.mark.parametrize(("name", "spoil"), [
    ("bom", lambda body: b"\xef\xbb\xbf" + body),
    ("trailing-garbage", lambda body: body + b"\n<!-- served by emr -->"),
    ("cp949", lambda body: body.decode("utf-8").encode("cp949", errors="replace")),
])
def test_an_unreadable_answer_is_named_as_the_root_cause(name, spoil, scenario_dir, pki):
    scenario = Scenario.load(scenario_dir, _busiest(scenario_dir, CLINIC))
    consequences = ("S24-SCH-003", "S24-DOC-102", "S24-DOC-103", "S24-DOC-104", "S24-DOC-105", "S24-API-015")
    with judged(_unreadable_bundles(spoil)(scenario), scenario, pki) as session:
        fetches = len(session.fetch_requests())
        root = CHECKS["S24-SCH-006"].run(session)
        results = {rid: CHECKS[rid].run(session) for rid in consequences}
    assert root.verdict == "fail"
    for rid, result in results.items():
        assert result.verdict == "fail", (rid, result.outcome)
        if rid.startswith("S24-DOC"):
            assert result.outcome.reason.startswith("원인 S24-SCH-006"), (rid, result.outcome.reason)
            # one finding per unreadable answer, not one per document it should have held
            assert len(result.outcome.evidence) == min(fetches, 20), (rid, len(result.outcome.evidence))
        assert all("S24-SCH-006" in e.message for e in result.outcome.evidence), rid
