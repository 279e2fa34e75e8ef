"""Every document rule passes on the shipped examples and fails, alone, on a document broken for it."""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Callable
from datetime import date

import pytest

from s24kit.schemas.codes import code_list
from s24kit.schemas.rules import active_rules
from s24kit.schemas.validation import (
    validate,
    validate_bundle,
    validate_document,
    validate_documents,
    validate_together,
)

from .conftest import load_example

OUT, IN, STMT, RX, PHARM = ("medical-receipt.outpatient", "medical-receipt.inpatient", "itemised-statement",
                            "prescription", "pharmacy-receipt")


def _set(path: str, value) -> Callable[[dict], None]:
    def mutate(doc: dict) -> None:
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = value
    return mutate


def _add(path: str, delta: int) -> Callable[[dict], None]:
    def mutate(doc: dict) -> None:
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] += delta
    return mutate


def _all(*mutations: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(doc: dict) -> None:
        for m in mutations:
            m(doc)
    return mutate


def _restate(doc: dict) -> None:
    """Keep a statement's bottom rows (계, 합계) in step with its lines after a mutation, adjustment kept."""
    bottom = doc["bottom_rows"]
    for column in ("copay", "insurer", "full_copay", "non_covered", "total"):
        bottom["subtotal"][column] = sum(line[column] for line in doc["lines"])
        bottom["total"][column] = bottom["subtotal"][column] + bottom["adjustment"][column]


def _shift_copay(doc: dict, amount: int) -> None:
    """Move ``amount`` won from the insurer's share to the patient's on a receipt, keeping every total in step."""
    for mutate in (_add("rows.0.amounts.copay", amount), _add("rows.0.amounts.insurer", -amount),
                   _add("totals.copay", amount), _add("totals.insurer", -amount), _add("totals.patient_total", amount),
                   _add("totals.amount_due", amount), _add("payment.card", amount), _add("payment.total", amount)):
        mutate(doc)


def _unprescribed_drug() -> str:
    prescribed = {m["drug_code"] for m in load_example(RX)["medications"]}
    return next(code for code in code_list("drugs") if code not in prescribed)


def _wrong_check_digit(doc: dict) -> str:
    number = doc["provider"]["business_number"]
    return number[:-1] + str((int(number[-1]) + 1) % 10)


#: The validation date of these tests: the examples are dated 2026-09 and 2026-10.
TODAY = date(2026, 11, 1)
ZERO_ROW = {"copay": 0, "insurer": 0, "full_copay": 0, "selective": 0, "non_covered": 0}

# (rule, example, mutation): the mutation must break that rule and nothing else.
DOCUMENT_CASES = [
    ("S24-DOC-001", OUT, _add("rows.0.amounts.copay", 10)),
    ("S24-DOC-002", OUT, _add("totals.total_amount", 1)),
    ("S24-DOC-003", OUT, _all(_add("totals.patient_total", 10), _add("totals.amount_due", 10),
                              _add("totals.unpaid", 10))),
    ("S24-DOC-003", IN, _all(_set("totals.ceiling_excess", 10 ** 8))),
    ("S24-DOC-059", OUT, _all(_add("totals.amount_due", 10), _add("totals.unpaid", 10))),
    # 10,000 waived of the non-covered share but the amount due not lowered
    ("S24-DOC-059", OUT, _set("totals.discount", {"covered": 0, "non_covered": 10000})),
    ("S24-DOC-060", OUT, _all(_set("totals.discount", {"covered": 0, "non_covered": 10 ** 6}),
                              _set("totals.amount_due", 0), _set("totals.unpaid", 0), _set("payment.card", 0),
                              _set("payment.total", 0))),
    ("S24-DOC-005", OUT, _add("payment.card", 10)),
    ("S24-DOC-005", PHARM, _add("payment.cash", 10)),
    ("S24-DOC-006", OUT, _add("totals.unpaid", 10)),
    ("S24-DOC-006", OUT, _all(_add("payment.card", 10), _add("payment.total", 10))),
    ("S24-DOC-007", OUT, _set("issue_date", "2026-10-04")),
    ("S24-DOC-007", IN, _set("treatment_period.start", "2026-09-18")),
    ("S24-DOC-007", PHARM, _set("issue_date", "2026-10-04")),
    ("S24-DOC-008", OUT, _all(_set("treatment_period.end", "2026-10-06"), _set("issue_date", "2026-10-06"))),
    ("S24-DOC-009", OUT, lambda d: d["rows"].append({"code": "FOEP", "amounts": dict(ZERO_ROW)})),
    ("S24-DOC-010", OUT, lambda d: d["rows"].append({"code": "ENAMT", "amounts": dict(ZERO_ROW)})),
    ("S24-DOC-011", STMT, _all(_add("lines.0.copay", 10), _restate)),
    ("S24-DOC-012", STMT, _add("lines.0.unit_price", 100)),
    ("S24-DOC-013", STMT, _set("lines.0.date", "2026-10-06")),
    ("S24-DOC-019", STMT, _add("bottom_rows.total.copay", 10)),
    ("S24-DOC-019", STMT, _add("bottom_rows.subtotal.insurer", -10)),
    # an adjustment larger than truncation can move, though the rows add up
    ("S24-DOC-019", STMT, _all(_set("bottom_rows.adjustment.copay", -5000),
                               _set("bottom_rows.adjustment.insurer", 5000), _restate)),
    ("S24-DOC-028", OUT, lambda d: _shift_copay(d, 50)),
    ("S24-DOC-016", STMT, _set("lines.0.big_three", "injection")),
    ("S24-DOC-020", RX, _set("issue_number", "20261004-00012")),
    ("S24-DOC-021", RX, _set("dispensing.dispensed_date", "2026-10-09")),
    ("S24-DOC-024", PHARM, _add("fee_items.0.amount", 1)),
    ("S24-DOC-025", PHARM, _all(_add("fee_items.0.copay", 10), _add("fee_items.0.insurer", -10))),
    ("S24-DOC-026", PHARM, _add("totals.total_amount", 1)),
    ("S24-DOC-027", PHARM, _add("totals.amount_received", 10)),
    ("S24-DOC-030", OUT, lambda d: d["patient"].update(name=unicodedata.normalize("NFD", d["patient"]["name"]))),
    ("S24-DOC-031", RX, _set("notes", "환자 주민번호 850412-2345678 확인")),
    ("S24-DOC-031", OUT, _set("patient.resident_number_masked", "850412-2345678")),
    ("S24-DOC-032", STMT, _set("lines.0.unit_price", 11440.0)),
    ("S24-DOC-033", OUT, _set("patient.resident_number_masked", "990230-1******")),  # no 30 February
    ("S24-DOC-033", IN, _set("patient.resident_number_masked", "000229-2******")),  # 1900 was no leap year
    ("S24-DOC-033", RX, _set("patient.resident_number_masked", "850412-4******")),  # born 2085: wrong century
    ("S24-DOC-034", OUT, _set("patient.resident_number_masked", "261010-4******")),  # born after the visit
    ("S24-DOC-034", IN, _set("patient.resident_number_masked", "260915-3******")),  # born during the stay
    # Far in the future, so the conformance suite (which validates with today's date) sees the defect too.
    ("S24-DOC-035", OUT, _all(_set("treatment_period.start", "2099-01-02"), _set("treatment_period.end", "2099-01-02"),
                              _set("issue_date", "2099-01-02"), _set("holiday", False))),
    ("S24-DOC-035", PHARM, _all(_set("dispensing_date", "2099-01-02"), _set("issue_date", "2099-01-02"),
                                _set("holiday", False))),
    ("S24-DOC-040", OUT, lambda d: d["provider"].update(business_number=_wrong_check_digit(d))),
    ("S24-DOC-041", OUT, _set("provider.provider_code", "9931000")),
    ("S24-DOC-042", OUT, _set("diagnosis_codes", ["M545"])),
    ("S24-DOC-043", RX, _set("medications.0.drug_code", "99000001")),
    ("S24-DOC-061", RX, _set("medications.0.drug_code", "900901ECH")),  # route letter E: none of A-D
    ("S24-DOC-050", OUT, _set("provider.facility_type", "99")),
    ("S24-DOC-050", OUT, _set("provider.facility_type", "9")),
    ("S24-DOC-051", OUT, _set("department", "98")),
    ("S24-DOC-052", RX, _set("insurance_type", "martian")),
    ("S24-DOC-053", OUT, _set("rows.0.code", "NOT_A_ROW")),
    ("S24-DOC-054", PHARM, _set("fee_items.0.code", "Z9999")),
    ("S24-DOC-055", OUT, _set("diagnosis_codes", ["Z99.99"])),
    ("S24-DOC-056", RX, _set("medications.0.drug_code", "990999999")),
    ("S24-DOC-057", OUT, _set("provider.facility_type", "21")),  # a 병원 with a 의원's code
    ("S24-DOC-057", IN, _set("provider.provider_code", "99310077")),  # a 종합병원 with a 의원's code
    ("S24-DOC-057", PHARM, _set("prescriber.facility_type", "11")),
    ("S24-DOC-058", PHARM, _all(_set("provider.facility_type", "31"), _set("provider.provider_code", "99310005"))),
    ("S24-DOC-058", OUT, _all(_set("provider.facility_type", "81"), _set("provider.provider_code", "99810005"))),
    ("S24-DOC-058", PHARM, _all(_set("prescriber.facility_type", "81"), _set("prescriber.provider_code", "99810009"))),
    ("S24-DOC-062", OUT, _set("holiday", False)),  # 2026-10-05: substitute holiday for 개천절
    ("S24-DOC-062", PHARM, _all(_set("dispensing_date", "2026-10-06"), _set("issue_date", "2026-10-06"),
                                _set("holiday", True))),  # a Tuesday
]


def _bundle(**edits: Callable[[dict], None]) -> dict:
    bundle = copy.deepcopy(load_example("bundle"))
    index = {d["document_type"]: i for i, d in enumerate(bundle["documents"])}
    for document_type, mutate in edits.items():
        mutate(bundle["documents"][index[document_type]])
    return bundle


def _without(document_type: str) -> Callable[[dict], None]:
    def mutate(bundle: dict) -> None:
        bundle["documents"] = [d for d in bundle["documents"] if d["document_type"] != document_type]
    return mutate


def _envelope(**edits: Callable[[dict], None]) -> dict:
    bundle = _bundle()
    for mutate in edits.values():
        mutate(bundle)
    return bundle


def _claim(**edits: Callable[[dict], None]) -> list[dict]:
    """The documents of one claim from two providers: the clinic's bundle and the pharmacy's receipt."""
    documents = _bundle()["documents"] + [load_example(PHARM)]
    index = {d["document_type"]: i for i, d in enumerate(documents)}
    for document_type, mutate in edits.items():
        mutate(documents[index[document_type]])
    return documents


BUNDLE_CASES = [
    ("S24-DOC-014", dict(itemised_statement=_all(_set("lines.2.unit_price", 110000), _set("lines.2.total", 110000),
                                                 _set("lines.2.non_covered", 110000), _restate))),
    # the adjustment says more than separates the lines from the receipt
    ("S24-DOC-014", dict(itemised_statement=_all(_add("bottom_rows.adjustment.copay", -20),
                                                 _add("bottom_rows.adjustment.insurer", 20), _restate))),
    ("S24-DOC-015", dict(itemised_statement=_set("visit_id", "V-OTHER-1"))),
    ("S24-DOC-015", dict(itemised_statement=_set("receipt_number", "R-20261005-0099"))),  # no such receipt
    ("S24-DOC-017", dict(prescription=lambda d: d["patient"].update(name="김하나"))),
    ("S24-DOC-017", dict(itemised_statement=_set("patient.resident_number_masked", "850413-2******"))),
    ("S24-DOC-017", dict(prescription=_set("patient.resident_number_masked", "850412-1******"))),
]

# Rules that need the bundle's envelope: (rule, bundle).
ENVELOPE_CASES = [
    ("S24-DOC-018", lambda: _envelope(code=_set("provider_code", "99310002"))),
    ("S24-DOC-018", lambda: _bundle(prescription=_set("provider.provider_code", "99310009"))),
]

# Rules across the providers of one claim (documents sent together as an array): (rule, edits).
CLAIM_CASES = [
    ("S24-DOC-017", dict(pharmacy_receipt=lambda d: d["patient"].update(name="김하나"))),
    ("S24-DOC-022", dict(pharmacy_receipt=_set("prescriber.provider_code", "99310002"))),
    ("S24-DOC-022", dict(pharmacy_receipt=_set("prescription_issue_number", "20261005-00099"))),
    ("S24-DOC-023", dict(pharmacy_receipt=lambda d: d["drugs"][0].update(drug_code=_unprescribed_drug()))),
    ("S24-DOC-023", dict(pharmacy_receipt=_all(_set("dispensing_date", "2026-10-08"),
                                               _set("issue_date", "2026-10-08"), _set("holiday", False)))),
]


@pytest.mark.parametrize("name", [OUT, IN, STMT, RX, PHARM, "bundle"])
def test_examples_have_no_findings(name):
    assert validate(load_example(name)) == []


def test_a_claim_from_two_providers_has_no_findings():
    assert validate_documents(_claim(), TODAY) == []


def test_statements_asked_for_alone_need_no_receipt():
    """A request for more documents may ask for the itemised statement only (S24-DOC-015 has nothing to match)."""
    assert validate_bundle(_envelope(drop=_without("medical_receipt")), TODAY) == []


@pytest.mark.parametrize(("rule", "name", "mutate"), DOCUMENT_CASES,
                         ids=[f"{r}-{n}-{i}" for i, (r, n, _) in enumerate(DOCUMENT_CASES)])
def test_rule_fails_alone(rule, name, mutate):
    doc = copy.deepcopy(load_example(name))
    mutate(doc)
    findings = validate_document(doc, today=TODAY)
    assert {f.rule for f in findings} == {rule}, [f.as_dict() for f in findings]
    assert all(f.pointer.startswith("/") and f.message_ko and f.message_en for f in findings)


@pytest.mark.parametrize(("rule", "edits"), BUNDLE_CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BUNDLE_CASES)])
def test_bundle_rule_fails_alone(rule, edits):
    findings = validate_bundle(_bundle(**edits), TODAY)
    assert {f.rule for f in findings} == {rule}, [f.as_dict() for f in findings]
    assert all(f.pointer.startswith("/documents/") for f in findings)


@pytest.mark.parametrize(("rule", "make"), ENVELOPE_CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(ENVELOPE_CASES)])
def test_envelope_rule_fails_alone(rule, make):
    findings = validate_bundle(make(), TODAY)
    assert {f.rule for f in findings} == {rule}, [f.as_dict() for f in findings]


@pytest.mark.parametrize(("rule", "edits"), CLAIM_CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(CLAIM_CASES)])
def test_claim_rule_fails_alone(rule, edits):
    findings = validate_documents(_claim(**edits), TODAY)
    assert {f.rule for f in findings} == {rule}, [f.as_dict() for f in findings]


def test_every_rule_has_a_failing_case():
    covered = ({r for r, _, _ in DOCUMENT_CASES} | {r for r, _ in BUNDLE_CASES} | {r for r, _ in ENVELOPE_CASES}
               | {r for r, _ in CLAIM_CASES})
    assert {r.id for r in active_rules()} - covered == set()


def test_rules_about_today_take_the_date_in_korea_by_default():
    doc = copy.deepcopy(load_example(OUT))
    doc["patient"]["resident_number_masked"] = "991231-3******"  # born 2099-12-31
    assert {f.rule for f in validate_document(doc)} == {"S24-DOC-033"}


@pytest.mark.parametrize(("name", "field"), [(OUT, "treatment_period.end"), (STMT, "lines.0.date"),
                                             (STMT, "treatment_period.end"), (PHARM, "dispensing_date")])
def test_no_date_after_the_issue_date(name, field):
    """S24-DOC-007 and S24-DOC-013 between them catch every date later than the document's issue date."""
    doc = copy.deepcopy(load_example(name))
    _set(field, "2026-10-30")(doc)
    assert {f.rule for f in validate_document(doc, today=TODAY)} & {"S24-DOC-007", "S24-DOC-013"}


def _rows_as_lines(receipt: dict) -> None:
    """The receipt's rows[] copay and insurer as the statement's lines add them up, the rounding adjustment left
    out of the rows, its totals kept (a vendor's connector: the rows were right per line, not per receipt)."""
    for row, (copay, insurer) in zip(receipt["rows"], [(3400, 8040), (470, 1100), (3600, 8400)], strict=True):
        row["amounts"].update(copay=copay, insurer=insurer)


def _doc014(**edits: Callable[[dict], None]) -> dict[tuple[str, str], object]:
    """DOC-014's findings by (pointer, the column its English message names first)."""
    findings = [f for f in validate_bundle(_bundle(**edits), TODAY) if f.rule == "S24-DOC-014"]
    return {(f.pointer, next(c for c in ("copay", "insurer", "full_copay", "non_covered") if c in f.message_en)): f
            for f in findings}


def test_doc014_blames_the_receipt_rows_its_own_totals_contradict():
    """A vendor's report: rows[] without the adjustment read "rounding adjustment copay -74 differs from what
    separates the lines from receipt …: 0", blaming the statement that was right."""
    findings = _doc014(medical_receipt=_rows_as_lines)
    receipt = next(i for i, d in enumerate(_bundle()["documents"]) if d["document_type"] == "medical_receipt")
    rows = f"/documents/{receipt}/rows"
    assert set(findings) == {(rows, "copay"), (rows, "insurer")}, findings
    text = findings[rows, "copay"].message_en
    assert "rows[] add up to 7470 in copay" in text and "totals (7400)" in text and "adjustment -70" in text
    assert "spread the rounding adjustment over the receipt's rows[]" in text
    assert "rows[] add up to 17540 in insurer" in findings[rows, "insurer"].message_en


def test_doc014_blames_the_statement_adjustment_the_receipt_contradicts():
    findings = _doc014(itemised_statement=_all(_add("bottom_rows.adjustment.copay", -20),
                                               _add("bottom_rows.adjustment.insurer", 20), _restate))
    statement = next(i for i, d in enumerate(_bundle()["documents"]) if d["document_type"] == "itemised_statement")
    copay = findings[f"/documents/{statement}/bottom_rows/adjustment/copay", "copay"].message_en
    assert "the statement's rounding adjustment copay is -90" in copay and "rows[] and totals both 7400" in copay


def test_doc014_points_at_a_receipt_that_left_the_truncation_out_entirely():
    """The second trial's connector: rows[] and totals both the plain line sums (7470), the statement's -70 right."""
    findings = _doc014(medical_receipt=_all(_rows_as_lines, _add("totals.copay", 70)))
    receipt = next(i for i, d in enumerate(_bundle()["documents"]) if d["document_type"] == "medical_receipt")
    text = findings[f"/documents/{receipt}/totals/copay", "copay"].message_en
    assert "rows[] and totals both 7470" in text and "plain sum of the statement's lines" in text
    assert "after HIRA truncation (7400)" in text


def test_doc014_names_both_documents_values_when_neither_is_singled_out():
    findings = _doc014(medical_receipt=_all(_rows_as_lines, _add("totals.copay", 30)))
    [text] = [f.message_en for (pointer, _), f in findings.items() if pointer.endswith("/copay")]
    assert "disagree on copay" in text and "rows[] add up to 7470, totals 7430" in text and "= 7400" in text


def test_messages_about_identity_do_not_repeat_the_person():
    doc = copy.deepcopy(load_example(OUT))
    doc["patient"]["resident_number_masked"] = "850412-4******"
    bundle = _bundle(prescription=lambda d: d["patient"].update(name="김하나"))
    findings = validate_document(doc, today=TODAY) + validate_bundle(bundle, TODAY)
    assert findings
    for f in findings:
        for secret in ("850412", "김하늘", "김하나"):
            assert secret not in f.message_ko + f.message_en


def test_documents_read_together_get_pointers_into_themselves():
    documents = _claim(pharmacy_receipt=_set("prescription_issue_number", "20261005-00099"))
    per_document = validate_together(documents, TODAY)
    assert [[(f.rule, f.pointer) for f in found] for found in per_document] == [
        [], [], [], [("S24-DOC-022", "/prescription_issue_number")]]


def test_warnings_are_warnings():
    doc = copy.deepcopy(load_example(OUT))
    doc["diagnosis_codes"] = ["Z99.99"]
    assert [f.severity for f in validate_document(doc)] == ["warning"]


def test_schema_errors_name_field_in_both_languages():
    doc = copy.deepcopy(load_example(OUT))
    del doc["patient"]["name"]
    doc["totals"]["copay"] = "7470"
    findings = validate_document(doc)
    by_pointer = {f.pointer: f for f in findings}
    assert by_pointer["/patient/name"].rule == "schema"
    assert "환자 성명" in by_pointer["/patient/name"].message_ko
    assert "required" in by_pointer["/patient/name"].message_en
    assert "integer" in by_pointer["/totals/copay"].message_en


def test_unknown_document_type_is_one_clear_finding():
    [finding] = validate_document({"document_type": "진단서"})
    assert finding.pointer == "/document_type" and "medical_receipt" in finding.message_en


def test_invalid_document_in_bundle_does_not_hide_others():
    bundle = _bundle(prescription=_set("issue_number", "bad"),
                     medical_receipt=_add("totals.total_amount", 1))
    rules = {(f.rule, f.pointer.split("/")[2]) for f in validate_bundle(bundle)}
    assert ("S24-DOC-020", "2") in rules and ("S24-DOC-002", "0") in rules


class _Members(dict):
    """A mapping of another class than json.loads makes: its strings and numbers are read all the same."""


@pytest.mark.parametrize(("rule", "place", "value"), [
    ("S24-DOC-030", "deep", unicodedata.normalize("NFD", "김하늘")),
    ("S24-DOC-030", "subclass", unicodedata.normalize("NFD", "김하늘")),
    ("S24-DOC-031", "deep", "8504122345678"),  # the shortest full number: 13 digits, no hyphen
    ("S24-DOC-031", "subclass", "850412-2345678"),
    ("S24-DOC-032", "deep", 11440.0),
    ("S24-DOC-032", "subclass", 11440.0),
])
def test_the_one_walk_reads_every_value_at_any_depth(rule, place, value):
    doc = copy.deepcopy(load_example(OUT))
    if place == "deep":
        doc["extra"] = [[{"x": [value]}]]
    else:
        doc["extra"] = _Members(x=[value])
    assert rule in {f.rule for f in validate_document(doc, today=TODAY)}

