"""What the official forms allow: the amount due exact or floored, discounts, optional fields the paper forms do
not print, the night and holiday marks apart, generic-name prescriptions, and a withdrawn rule kept listed."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from click.testing import CliRunner

from s24kit.conformance.catalogue import requirements
from s24kit.conformance.cli.rules import rules_command, rules_markdown
from s24kit.conformance.runner import load_checks
from s24kit.schemas.rules import RULES, active_rules
from s24kit.schemas.validation import validate_document, validate_documents

from .conftest import load_example

TODAY = date(2026, 11, 1)


def _rules(doc: dict) -> set[str]:
    return {f.rule for f in validate_document(doc, today=TODAY)}


def _receipt(*, discount: int | None, amount_due: int) -> dict:
    """The outpatient example (patient total 107,400) with a non-covered discount and the amount due as given."""
    doc = copy.deepcopy(load_example("medical-receipt.outpatient"))
    if discount is not None:
        doc["totals"]["discount"] = {"covered": 0, "non_covered": discount}
    doc["totals"]["amount_due"] = amount_due
    doc["payment"].update(card=amount_due, total=amount_due)
    return doc


# -- S24-DOC-059: the amount due, exact or floored; S24-DOC-004 withdrawn ---------------------------------------

def test_the_exact_and_the_floored_amount_due_are_both_accepted():
    # 107,400 − 1,235 waived = 106,165 exactly; 106,160 floored to 10 won
    assert _rules(_receipt(discount=1235, amount_due=106165)) == set()
    assert _rules(_receipt(discount=1235, amount_due=106160)) == set()


@pytest.mark.parametrize("amount_due", [106170, 106150, 107400, 106100])
def test_any_other_amount_due_fails(amount_due):
    assert _rules(_receipt(discount=1235, amount_due=amount_due)) == {"S24-DOC-059"}


def test_the_withdrawn_rule_is_listed_but_never_runs():
    old = RULES["S24-DOC-004"]
    assert old.withdrawn and old.superseded_by == "S24-DOC-059" and old not in active_rules()
    assert requirements()["S24-DOC-004"].superseded_by == "S24-DOC-059"
    checks = load_checks()
    assert "S24-DOC-004" not in checks and "S24-DOC-059" in checks
    assert "| S24-DOC-004 | withdrawn, superseded by S24-DOC-059 |" in rules_markdown()
    shown = CliRunner().invoke(rules_command, ["--lang", "en", "--format", "json"])
    listed = {r["id"]: r for r in json.loads(shown.output)}
    assert listed["S24-DOC-004"]["superseded_by"] == "S24-DOC-059" and "superseded_by" not in listed["S24-DOC-059"]


# -- S24-DOC-060: discounts -------------------------------------------------------------------------------------

def test_a_discount_larger_than_the_share_it_reduces_fails():
    doc = _receipt(discount=None, amount_due=107400)
    doc["totals"]["discount"] = {"covered": 7410, "non_covered": 0}  # the covered share is 7,400
    doc["totals"]["amount_due"] = 99990  # 107,400 − 7,410
    doc["payment"].update(card=99990, total=99990)
    assert _rules(doc) == {"S24-DOC-060"}
    doc["totals"]["discount"]["covered"] = 7400
    assert _rules(doc) == {"S24-DOC-059"}  # now within the share, and 100,000 is due


# -- fields the paper forms do not print are optional -----------------------------------------------------------

def test_the_receipt_and_statement_need_no_resident_number():
    for name in ("medical-receipt.outpatient", "itemised-statement"):
        doc = copy.deepcopy(load_example(name))
        del doc["patient"]["resident_number_masked"]
        assert _rules(doc) == set(), name


def test_the_prescription_needs_no_route_nor_the_bills_footer():
    doc = copy.deepcopy(load_example("prescription"))
    for field in ("business_number", "address", "representative"):
        del doc["provider"][field]
    for medication in doc["medications"]:
        del medication["route"]
    assert _rules(doc) == set()


@pytest.mark.parametrize("field", ["business_number", "phone", "address", "representative"])
def test_the_bills_still_print_their_footer(field):
    for name in ("medical-receipt.outpatient", "itemised-statement", "pharmacy-receipt"):
        doc = copy.deepcopy(load_example(name))
        del doc["provider"][field]
        assert _rules(doc) == {"schema"}, name


def test_the_statement_prints_its_bottom_rows():
    doc = copy.deepcopy(load_example("itemised-statement"))
    del doc["bottom_rows"]
    assert _rules(doc) == {"schema"}


# -- night and holiday: two marks; the holiday mark follows the calendar ----------------------------------------

def test_night_and_holiday_are_two_marks():
    doc = copy.deepcopy(load_example("medical-receipt.outpatient"))  # 2026-10-05, substitute holiday
    doc["night"] = True
    assert _rules(doc) == set()
    del doc["night"]
    assert _rules(doc) == {"schema"}


@pytest.mark.parametrize(("day", "holiday"), [
    ("2026-09-25", True),   # 추석
    ("2026-10-04", True),   # a Sunday
    ("2026-10-03", True),   # 개천절, a Saturday
    ("2026-10-02", False),  # a Friday
    ("2026-10-10", False),  # a Saturday: night surcharges, not the holiday one
])
def test_the_holiday_mark_follows_the_korean_calendar(day, holiday):
    doc = copy.deepcopy(load_example("pharmacy-receipt"))
    doc.update(dispensing_date=day, issue_date=day, holiday=holiday)
    found = {f.rule for f in validate_document(doc, today=TODAY)} - {"S24-DOC-023"}
    assert found == set()
    doc["holiday"] = not holiday
    assert {f.rule for f in validate_document(doc, today=TODAY)} == {"S24-DOC-062"}


# -- generic-name (일반명) prescriptions ---------------------------------------------------------------------------

def _generic_claim(product: str | None = None) -> list[dict]:
    """The example prescription written by generic name (900901ACH, 901001ATB) and its pharmacy receipt."""
    rx = copy.deepcopy(load_example("prescription"))
    for medication, code in zip(rx["medications"], ("900901ACH", "901001ATB"), strict=True):
        medication["drug_code"] = code
    receipt = copy.deepcopy(load_example("pharmacy-receipt"))
    if product:
        receipt["drugs"][0]["drug_code"] = product
    return [rx, receipt]


def test_a_generic_name_prescription_is_filled_by_its_products():
    assert validate_documents(_generic_claim(), TODAY) == []


def test_a_product_of_another_ingredient_does_not_fill_a_generic_line():
    found = validate_documents(_generic_claim(product="990000030"), TODAY)  # cefaclor for amoxicillin
    assert {f.rule for f in found} == {"S24-DOC-023"}


def test_a_generic_code_of_the_wrong_shape_is_named():
    doc = copy.deepcopy(load_example("prescription"))
    doc["medications"][0]["drug_code"] = "9009ACH01"
    assert _rules(doc) == {"S24-DOC-061"}
    doc["medications"][0]["drug_code"] = "900999ACH"  # well shaped, not in the kit's list: a warning
    assert {(f.rule, f.severity) for f in validate_document(doc, today=TODAY)} == {("S24-DOC-056", "warning")}


# -- the payout engine pays on what the patient paid after a discount -------------------------------------------

def _discounted(documents: list[dict], covered: int, non_covered: int) -> list[dict]:
    """The receipt of ``documents`` with a 감면액 shown and its amount due and payment lowered to match."""
    receipt = next(d for d in documents if d["document_type"] == "medical_receipt")
    totals = receipt["totals"]
    totals["discount"] = {"covered": covered, "non_covered": non_covered}
    totals["amount_due"] = totals["patient_total"] - covered - non_covered
    receipt["payment"].update(card=totals["amount_due"], total=totals["amount_due"])
    return documents


GEN4 = {"policy_number": "T-4", "contract_date": "2022-03-01", "generation": "gen4"}
DAY = "2026-04-06"


@pytest.mark.parametrize(("covered", "non_covered", "expected"), [
    # W2 without a discount: covered 12,000 − 1만 = 2,000; non-covered 50,000 − max(30%, 3만) = 20,000
    (0, 0, 22_000),
    # 10,000 of the non-covered waived: 2,000 + (40,000 − 30,000) = 12,000
    (0, 10_000, 12_000),
    # 3,000 of the covered share waived too: (9,000 − 1만 → 0) + 10,000 = 10,000
    (3_000, 10_000, 10_000),
])
def test_a_discount_lowers_the_loss_the_policy_pays_on(covered, non_covered, expected):
    from s24kit.simulator.payout import adjudicate
    from s24kit.simulator.payout.claims import ClaimFactory

    documents = _discounted(ClaimFactory().outpatient(DAY, covered=12_000, non_covered=50_000), covered, non_covered)
    assert validate_documents(documents, TODAY) == []
    assert adjudicate(documents, GEN4, None, claim_date="2026-10-20").total == expected


def test_a_non_covered_discount_reaches_the_big_three_last():
    """도수치료 150,000 and other non-covered 20,000, 30,000 waived: other 0, manual therapy 140,000 →
    140,000 − max(3만, 30% = 42,000) = 98,000."""
    from s24kit.simulator.payout import adjudicate
    from s24kit.simulator.payout.claims import ClaimFactory

    documents = _discounted(ClaimFactory().outpatient(DAY, non_covered=20_000,
                                                      big_three=[("manual_therapy", 150_000)]), 0, 30_000)
    assert validate_documents(documents, TODAY) == []
    assert adjudicate(documents, GEN4, None, claim_date="2026-10-20").total == 98_000


# -- the generator writes discounts and generic-name prescriptions, valid ones ----------------------------------

def test_generated_scenarios_show_discounts_and_generic_name_prescriptions(tmp_path_factory):
    from .conftest import generated_scenario

    scenario = generated_scenario(tmp_path_factory, "--patients", "120", "--seed", "5")
    documents = [json.loads(line) for line in (scenario / "expected" / "documents.jsonl").read_text().splitlines()]
    discounted = [d for d in documents if d["document_type"] == "medical_receipt" and "discount" in d["totals"]]
    generic = [d for d in documents if d["document_type"] == "prescription"
               and any(not m["drug_code"].isdigit() for m in d["medications"])]
    assert discounted and generic
    for receipt in discounted:
        totals = receipt["totals"]
        assert totals["discount"]["non_covered"] > 0 and totals["discount"]["non_covered"] % 10 == 0
        assert totals["amount_due"] == (totals["patient_total"] - totals["discount"]["non_covered"]) // 10 * 10
        assert validate_document(receipt, today=TODAY) == []
    seed = [json.loads(line) for line in (scenario / "emr-seed" / "visits.jsonl").read_text().splitlines()]
    assert sum(1 for v in seed if v["discount_non_covered"]) == len(discounted)
