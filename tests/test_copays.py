"""Copays as HIRA computes and rounds them (docs/domain.md §2.4, §2.5), at each facility tier.

Every expected amount is worked out by hand in the comment beside it, never by the code under test.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from s24kit.schemas.validation import validate
from s24kit.simulator.documents import Billed, medical_documents, pharmacy_receipt, prescription, visit_shares
from s24kit.simulator.generator.care import consultation_in_full, is_mild, pharmacy_terms
from s24kit.simulator.payout.claims import PATIENT, PRESCRIBER, provider

from .conftest import generated_scenario

DAY = "2026-10-05"


def _medical(facility: str, items: list[Billed], rate: float, setting: str = "outpatient") -> tuple[dict, dict]:
    end = "2026-10-08" if setting == "inpatient" else DAY
    return medical_documents(visit_id="V-1", receipt_number="R-1", statement_number="S-1", setting=setting,
                             patient=PATIENT, patient_category="nhi", provider=provider(facility),
                             department="01", period=(DAY, end), items=items, copay_rate=rate,
                             diagnosis_codes=("J06.9",), room="701호" if setting == "inpatient" else None)


@pytest.mark.parametrize(("facility", "price", "rate", "copay", "insurer"), [
    # 의원 30%: 22,150 × 0.3 = 6,645 → 6,600 (below 100 won cut off); NHIS 22,150 − 6,600
    ("31", 22_150, 0.3, 6_600, 15_550),
    # 병원 40%: 총액 22,155 → 22,150; × 0.4 = 8,860 → 8,800; NHIS 22,150 − 8,800
    ("21", 22_155, 0.4, 8_800, 13_350),
    # 종합병원 50%: 31,420 × 0.5 = 15,710 → 15,700; NHIS 15,720
    ("11", 31_420, 0.5, 15_700, 15_720),
    # 보건소 30%: 4,999 → 4,990; × 0.3 = 1,497 → 1,400; NHIS 3,590
    ("71", 4_999, 0.3, 1_400, 3_590),
])
def test_outpatient_copay_is_truncated_below_100_won(facility, price, rate, copay, insurer):
    receipt, statement = _medical(facility, [Billed("EXAMT", "B1010", "검사", price, DAY)], rate)
    assert (receipt["totals"]["copay"], receipt["totals"]["insurer"]) == (copay, insurer)
    assert receipt["totals"]["total_amount"] == copay + insurer
    assert validate([receipt, statement]) == []


def test_tertiary_outpatient_pays_the_consultation_in_full_and_60_percent_of_the_rest():
    # 진찰료 24,870 in full + 검사 51,230 × 0.6 = 30,738 → 55,608 → 55,600; NHIS 76,100 − 55,600 = 20,500
    items = [Billed("ENAMT", "AA157", "초진진찰료-상급종합", 24_870, DAY, copay_rate=1.0),
             Billed("EXAMT", "B1010", "검사", 51_230, DAY)]
    receipt, statement = _medical("01", items, 0.6)
    assert (receipt["totals"]["copay"], receipt["totals"]["insurer"]) == (55_600, 20_500)
    rows = {row["code"]: row["amounts"] for row in receipt["rows"]}
    assert rows["ENAMT"]["insurer"] == 0  # the consultation carries no NHIS share
    assert validate([receipt, statement]) == []


def test_who_pays_the_consultation_in_full():
    adult, child = SimpleNamespace(category="nhi", age=40), SimpleNamespace(category="nhi", age=4)
    aid = SimpleNamespace(category="medical_aid_2", age=40)
    assert consultation_in_full(adult, "tertiary", severe=False)
    assert not consultation_in_full(adult, "general", severe=False)
    assert not consultation_in_full(adult, "tertiary", severe=True)  # 산정특례: 5% on everything
    assert not consultation_in_full(child, "tertiary", severe=False)
    assert not consultation_in_full(aid, "tertiary", severe=False)


def test_inpatient_copay_is_truncated_below_10_won():
    # 총액 1,234,567 → 1,234,560; × 0.2 = 246,912 → 246,910; NHIS 987,650
    receipt, statement = _medical("21", [Billed("INAMT_BDM4", "AB240", "입원료", 1_234_567, DAY)], 0.2,
                                  setting="inpatient")
    assert (receipt["totals"]["copay"], receipt["totals"]["insurer"]) == (246_910, 987_650)
    bottom = statement["bottom_rows"]
    # the line keeps its own split: 1,234,567 × 0.2 = 246,913.4 → 246,913 and 987,654; the adjustment meets the receipt
    assert (bottom["subtotal"]["copay"], bottom["subtotal"]["insurer"]) == (246_913, 987_654)
    assert (bottom["adjustment"]["copay"], bottom["adjustment"]["insurer"]) == (-3, -4)
    assert bottom["total"]["total"] == 1_234_560
    assert validate([receipt, statement]) == []


def test_meals_at_their_own_rate_share_one_truncation():
    # 입원료 100,005 × 0.2 + 식대 30,000 × 0.5 on the truncated total 130,000 (of 130,005):
    # (20,001 + 15,000) × 130,000 / 130,005 = 34,999.65… → 34,999 → 34,990; NHIS 130,000 − 34,990 = 95,010
    items = [Billed("INAMT_BDM4", "AB240", "입원료", 100_005, DAY),
             Billed("FOEP", "FA100", "식대", 30_000, DAY, copay_rate=0.5)]
    receipt, statement = _medical("21", items, 0.2, setting="inpatient")
    assert (receipt["totals"]["copay"], receipt["totals"]["insurer"]) == (34_990, 95_010)
    assert validate([receipt, statement]) == []


def _pharmacy(prescriber: str, amount: int, rate: float, fixed: int | None = None) -> dict:
    rx = prescription(visit_id="V-2", serial=1, issue_date=DAY, provider=provider(prescriber), patient=PATIENT,
                      insurance_type="nhi", diagnosis_codes=("J06.9",), prescriber=PRESCRIBER,
                      medications=[{"drug_code": "990000010", "name": "약", "dose": 1, "times_per_day": 1, "days": 1,
                                    "route": "oral"}])
    return pharmacy_receipt(visit_id="V-3", receipt_number="P-1", prescription_doc=rx, dispensing_date=DAY,
                            pharmacy=provider("81"), pharmacist="이약사", patient=PATIENT, patient_category="nhi",
                            fees=[], drug_prices={"990000010": amount}, copay_rate=rate, fixed_copay=fixed)


@pytest.mark.parametrize(("prescriber", "amount", "rate", "copay", "insurer"), [
    # clinic prescription 30%: 8,771 → 8,770; × 0.3 = 2,631 → 2,600; insurer 6,170
    ("31", 8_771, 0.3, 2_600, 6_170),
    # 종합병원 prescription for a mild condition 40%: 12,345 → 12,340; × 0.4 = 4,936 → 4,900; insurer 7,440
    ("11", 12_345, 0.4, 4_900, 7_440),
    # 상급종합 prescription for a mild condition 50%: 9,999 → 9,990; × 0.5 = 4,995 → 4,900; insurer 5,090
    ("01", 9_999, 0.5, 4_900, 5_090),
])
def test_pharmacy_copay_is_truncated_below_100_won(prescriber, amount, rate, copay, insurer):
    receipt = _pharmacy(prescriber, amount, rate)
    assert (receipt["totals"]["copay"], receipt["totals"]["insurer"]) == (copay, insurer)
    item = receipt["drugs"][0]
    adjustment = receipt["totals"]["rounding_adjustment"]
    assert (item["copay"] + adjustment["copay"], item["insurer"] + adjustment["insurer"]) == (copay, insurer)
    assert validate([receipt]) == []


def test_a_flat_pharmacy_amount_is_not_rounded():
    # 65세 이상 정액 1,000 won on 9,995 (→ 9,990): copay 1,000, insurer 8,990
    receipt = _pharmacy("31", 9_995, 0.3, fixed=1_000)
    assert (receipt["totals"]["copay"], receipt["totals"]["insurer"]) == (1_000, 8_990)


@pytest.mark.parametrize(("tier", "diagnoses", "rate"), [
    ("clinic", ("J06.9",), 0.3), ("hospital", ("J06.9",), 0.3),
    ("general", ("J06.9",), 0.4), ("tertiary", ("J06.9",), 0.5),  # 급성 상기도감염: on the mild list
    ("general", ("M54.5",), 0.3), ("tertiary", ("M54.5",), 0.3),  # 요통: not on it
    ("tertiary", ("M54.5", "I10"), 0.5),  # any diagnosis of the prescription counts
])
def test_pharmacy_rate_by_prescriber_and_mild_list(tier, diagnoses, rate):
    adult = SimpleNamespace(category="nhi", age=40)
    assert pharmacy_terms(adult, tier, False, [], {"medications": []}, {}, is_mild(diagnoses)) == (rate, None)


def test_visit_shares_by_hand():
    assert visit_shares([(22_150, 0.3)], 100) == (6_600, 15_550)
    assert visit_shares([(9, 0.3)], 100) == (0, 0)  # below 10 won nothing is billed
    assert visit_shares([(15_000, 0.3)], 100, fixed_copay=1_500) == (1_500, 13_500)


def test_generated_copays_are_truncated(tmp_path_factory):
    out = generated_scenario(tmp_path_factory, "--patients", "60", "--seed", "16")
    documents = [json.loads(line) for line in (out / "expected/documents.jsonl").read_text().splitlines()]
    receipts = [d for d in documents if d["document_type"] in ("medical_receipt", "pharmacy_receipt")]
    assert len(receipts) > 50
    warned = [f for d in receipts for f in validate(d) if f.rule == "S24-DOC-028"]
    assert warned == []
