"""Rules of the 진료비 계산서·영수증 (medical receipt)."""

from __future__ import annotations

from collections.abc import Iterator

from ..codes import inpatient_only_rows, label
from .registry import Document, Violation, rule, withdrawn_rule, won

COLUMNS = ("copay", "insurer", "full_copay", "selective", "non_covered")
COLUMN_KO = {"copay": "본인부담금①", "insurer": "공단부담금②", "full_copay": "전액본인부담③",
             "selective": "선택진료료④", "non_covered": "선택진료료 이외⑤"}
RECEIPT = ("medical_receipt",)


def floor10(amount: int) -> int:
    """An amount with the last won digit dropped (10원 미만 절사), as some EMRs print the amount due."""
    return amount - amount % 10


def discounts(totals: Document) -> tuple[int, int]:
    """The receipt's 감면액·할인 on the patient's covered and non-covered shares (0 when it shows none)."""
    discount = totals.get("discount") or {}
    return discount.get("covered", 0), discount.get("non_covered", 0)


@rule("S24-DOC-001", "항목별 금액의 열 합계가 합계 행과 같아야 함",
      "Each money column of the rows adds up to its total", applies_to=RECEIPT)
def column_sums(doc: Document) -> Iterator[Violation]:
    totals = doc["totals"]
    for column in COLUMNS:
        summed = sum(row["amounts"][column] for row in doc["rows"])
        if summed != totals[column]:
            yield Violation(f"/totals/{column}",
                            f"{COLUMN_KO[column]} 합계가 {won(totals[column])}이지만 항목 합은 {won(summed)}입니다",
                            f"total of column {column} is {totals[column]} won but the rows add up to {summed} won")


@rule("S24-DOC-002", "진료비 총액 = ①+②+③+④+⑤", "Total amount = ①+②+③+④+⑤", applies_to=RECEIPT)
def total_amount(doc: Document) -> Iterator[Violation]:
    t = doc["totals"]
    expected = sum(t[c] for c in COLUMNS)
    if t["total_amount"] != expected:
        yield Violation("/totals/total_amount",
                        f"진료비 총액 {won(t['total_amount'])}은(는) ①~⑤의 합 {won(expected)}과 같아야 합니다",
                        f"total_amount {t['total_amount']} must equal ①+②+③+④+⑤ = {expected}")


@rule("S24-DOC-003", "환자부담 총액 = ① − 상한액 초과금 + ③ + ④ + ⑤",
      "Patient total = ① − ceiling excess + ③ + ④ + ⑤", applies_to=RECEIPT)
def patient_total(doc: Document) -> Iterator[Violation]:
    t = doc["totals"]
    if t["ceiling_excess"] > t["copay"]:
        yield Violation("/totals/ceiling_excess",
                        f"상한액 초과금 {won(t['ceiling_excess'])}이 본인부담금① {won(t['copay'])}보다 큽니다",
                        f"ceiling_excess {t['ceiling_excess']} exceeds copay ① {t['copay']}")
    expected = t["copay"] - t["ceiling_excess"] + t["full_copay"] + t["selective"] + t["non_covered"]
    if t["patient_total"] != expected:
        yield Violation("/totals/patient_total",
                        f"환자부담 총액 {won(t['patient_total'])}은(는) {won(expected)}이어야 합니다",
                        f"patient_total {t['patient_total']} must be ① − ceiling_excess + ③ + ④ + ⑤ = {expected}")


withdrawn_rule("S24-DOC-004", "납부할 금액 = (환자부담 총액 − 이미 납부한 금액), 10원 미만 절사",
               "Amount due = patient total − already paid, floored to 10 won", applies_to=RECEIPT,
               superseded_by="S24-DOC-059")


@rule("S24-DOC-059", "납부할 금액 = 환자부담 총액 − 감면액 − 이미 납부한 금액 (그대로 또는 10원 미만 절사)",
      "Amount due = patient total − discount − already paid, exact or floored to 10 won", applies_to=RECEIPT)
def amount_due(doc: Document) -> Iterator[Violation]:
    """The form sets no floor (별지 제6호서식); some EMRs floor to 10 won, so both are accepted."""
    t = doc["totals"]
    exact = max(t["patient_total"] - sum(discounts(t)) - t["already_paid"], 0)
    if t["amount_due"] not in (exact, floor10(exact)):
        floored = f" 또는 {won(floor10(exact))}" if floor10(exact) != exact else ""
        floored_en = f" or {floor10(exact)} (floored to 10 won)" if floor10(exact) != exact else ""
        yield Violation("/totals/amount_due",
                        f"납부할 금액 {won(t['amount_due'])}은(는) 환자부담 총액 − 감면액 − 이미 납부한 금액 = "
                        f"{won(exact)}{floored}이어야 합니다",
                        f"amount_due {t['amount_due']} must be patient_total − discount − already_paid = "
                        f"{exact}{floored_en}")


@rule("S24-DOC-060", "감면액은 환자가 부담할 급여·비급여 금액을 넘지 않음",
      "A discount is no larger than the patient's covered or non-covered share it reduces", applies_to=RECEIPT)
def discount_within_share(doc: Document) -> Iterator[Violation]:
    t = doc["totals"]
    covered, non_covered = discounts(t)
    own_covered = t["copay"] - t["ceiling_excess"] + t["full_copay"]
    if covered > max(own_covered, 0):
        yield Violation("/totals/discount/covered",
                        f"급여 감면액 {won(covered)}이 환자의 급여 부담(① − 상한액 초과금 + ③) {won(own_covered)}보다 "
                        "큽니다",
                        f"covered discount {covered} exceeds the patient's covered share (① − ceiling_excess + ③) "
                        f"{own_covered}")
    own_non_covered = t["selective"] + t["non_covered"]
    if non_covered > own_non_covered:
        yield Violation("/totals/discount/non_covered",
                        f"비급여 감면액 {won(non_covered)}이 비급여(④ + ⑤) {won(own_non_covered)}보다 큽니다",
                        f"non-covered discount {non_covered} exceeds the non-covered amount (④ + ⑤) "
                        f"{own_non_covered}")


@rule("S24-DOC-005", "납부한 금액 합계 = 카드 + 현금영수증 + 현금",
      "Paid total = card + cash receipt + cash", applies_to=("medical_receipt", "pharmacy_receipt"))
def payment_total(doc: Document) -> Iterator[Violation]:
    p = doc["payment"]
    expected = p["card"] + p["cash_receipt"] + p["cash"]
    if p["total"] != expected:
        yield Violation("/payment/total",
                        f"납부한 금액 합계 {won(p['total'])}은(는) 카드+현금영수증+현금 {won(expected)}이어야 합니다",
                        f"payment total {p['total']} must equal card + cash_receipt + cash = {expected}")


@rule("S24-DOC-006", "납부하지 않은 금액 = 납부할 금액 − 납부한 금액",
      "Unpaid = amount due − paid", applies_to=RECEIPT)
def unpaid(doc: Document) -> Iterator[Violation]:
    due, paid, left = doc["totals"]["amount_due"], doc["payment"]["total"], doc["totals"]["unpaid"]
    if paid > due:
        yield Violation("/payment/total", f"납부한 금액 {won(paid)}이 납부할 금액 {won(due)}보다 큽니다",
                        f"paid {paid} exceeds amount due {due}")
    elif left != due - paid:
        yield Violation("/totals/unpaid", f"납부하지 않은 금액 {won(left)}은(는) {won(due - paid)}이어야 합니다",
                        f"unpaid {left} must be amount_due − paid = {due - paid}")


@rule("S24-DOC-007", "날짜 순서: 진료 시작일 ≤ 종료일 ≤ 발행일",
      "Date order: treatment start ≤ end ≤ issue date",
      applies_to=("medical_receipt", "itemised_statement", "pharmacy_receipt"))
def date_order(doc: Document) -> Iterator[Violation]:
    if doc["document_type"] == "pharmacy_receipt":
        if doc["dispensing_date"] > doc["issue_date"]:
            yield Violation("/dispensing_date",
                            f"조제일자 {doc['dispensing_date']}가 발행일 {doc['issue_date']}보다 늦습니다",
                            f"dispensing_date {doc['dispensing_date']} is after issue_date {doc['issue_date']}")
        return
    start, end = doc["treatment_period"]["start"], doc["treatment_period"]["end"]
    if start > end:
        yield Violation("/treatment_period/end", f"진료 종료일 {end}이 시작일 {start}보다 빠릅니다",
                        f"treatment end {end} is before start {start}")
    if end > doc["issue_date"]:
        yield Violation("/issue_date", f"발행일 {doc['issue_date']}이 진료 종료일 {end}보다 빠릅니다",
                        f"issue_date {doc['issue_date']} is before treatment end {end}")


@rule("S24-DOC-008", "외래 영수증은 하루 진료만 담음", "An outpatient receipt covers one day",
      applies_to=("medical_receipt", "itemised_statement"))
def outpatient_one_day(doc: Document) -> Iterator[Violation]:
    period = doc["treatment_period"]
    if doc["setting"] == "outpatient" and period["start"] != period["end"]:
        yield Violation("/treatment_period/end",
                        f"외래 진료기간은 하루여야 합니다 ({period['start']} ~ {period['end']})",
                        f"an outpatient document covers one day, not {period['start']} to {period['end']}")


@rule("S24-DOC-009", "입원료·식대 항목은 입원 영수증에만", "Room and meal rows only on inpatient documents",
      applies_to=("medical_receipt", "itemised_statement"))
def inpatient_only(doc: Document) -> Iterator[Violation]:
    if doc["setting"] == "inpatient":
        return
    only = inpatient_only_rows()
    if doc["document_type"] == "medical_receipt":
        items = ((f"/rows/{i}/code", row["code"]) for i, row in enumerate(doc["rows"]))
    else:
        items = ((f"/lines/{i}/category", line["category"]) for i, line in enumerate(doc["lines"]))
    for pointer, code in items:
        if code in only:
            yield Violation(pointer, f"외래 서류에 입원 전용 항목 '{label('receipt-rows', code)}'({code})이 있습니다",
                            f"inpatient-only row {code} on an outpatient document")


@rule("S24-DOC-010", "영수증 항목은 한 번씩만", "Each receipt row appears once", applies_to=RECEIPT)
def rows_unique(doc: Document) -> Iterator[Violation]:
    seen: set[str] = set()
    for i, row in enumerate(doc["rows"]):
        if row["code"] in seen:
            yield Violation(f"/rows/{i}/code", f"항목 {row['code']}이(가) 두 번 나옵니다",
                            f"row {row['code']} appears more than once")
        seen.add(row["code"])
