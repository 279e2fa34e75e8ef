"""Rules of the 처방전 and the 약제비 계산서·영수증 taken one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from .registry import Document, Violation, rule, won
from .rounding import COPAY_UNIT, adjustment_limit

PHARMACY = ("pharmacy_receipt",)
ITEM_COLUMNS = ("copay", "insurer", "non_covered")


def last_dispensing_day(prescription: Document) -> str:
    """The last day of 사용기간: the issue date counts as day one."""
    issued = date.fromisoformat(prescription["issue_date"])
    return (issued + timedelta(days=prescription["validity_days"] - 1)).isoformat()


def _items(doc: Document) -> Iterator[tuple[str, dict]]:
    for i, item in enumerate(doc["fee_items"]):
        yield f"/fee_items/{i}", item
    for i, item in enumerate(doc["drugs"]):
        yield f"/drugs/{i}", item


@rule("S24-DOC-020", "교부번호는 교부 연월일로 시작", "The issue number starts with the issue date",
      applies_to=("prescription",))
def issue_number_date(doc: Document) -> Iterator[Violation]:
    expected = doc["issue_date"].replace("-", "")
    if not doc["issue_number"].startswith(expected):
        yield Violation("/issue_number", f"교부번호 {doc['issue_number']}는 교부일 {expected}로 시작해야 합니다",
                        f"issue_number {doc['issue_number']} must start with the issue date {expected}")


@rule("S24-DOC-021", "조제일은 처방전 사용기간 안에", "Dispensing happens within the prescription's validity",
      applies_to=("prescription",))
def dispensed_in_validity(doc: Document) -> Iterator[Violation]:
    dispensing = doc.get("dispensing")
    if not dispensing:
        return
    day, last = dispensing["dispensed_date"], last_dispensing_day(doc)
    if not doc["issue_date"] <= day <= last:
        yield Violation("/dispensing/dispensed_date",
                        f"조제일 {day}이 사용기간 {doc['issue_date']}~{last} 밖입니다",
                        f"dispensed on {day}, outside the validity {doc['issue_date']}..{last}")


@rule("S24-DOC-024", "약제비 항목: 금액 = 본인부담 + 보험자부담 + 비급여",
      "Pharmacy item: amount = copay + insurer + non-covered", applies_to=PHARMACY)
def item_amounts(doc: Document) -> Iterator[Violation]:
    for pointer, item in _items(doc):
        summed = item["copay"] + item["insurer"] + item["non_covered"]
        if item["amount"] != summed:
            yield Violation(f"{pointer}/amount", f"금액 {won(item['amount'])}이 구분 합 {won(summed)}과 다릅니다",
                            f"amount {item['amount']} differs from copay + insurer + non_covered = {summed}")


@rule("S24-DOC-025", "약제비 항목의 열 합계 = 합계 (1)(2)(3)",
      "Pharmacy columns add up to totals (1), (2), (3)", applies_to=PHARMACY)
def pharmacy_column_sums(doc: Document) -> Iterator[Violation]:
    """Through the 끝처리 조정금액 when the receipt states one (copay and insurer), within what rounding can move."""
    totals = doc["totals"]
    adjustment = totals.get("rounding_adjustment", {})
    limit = adjustment_limit(COPAY_UNIT["pharmacy"], len(doc["fee_items"]) + len(doc["drugs"]))
    for column in ITEM_COLUMNS:
        moved = adjustment.get(column, 0)
        if abs(moved) > limit:
            yield Violation(f"/totals/rounding_adjustment/{column}",
                            f"끝처리 조정금액 {won(moved)}은(는) 절사로 생길 수 있는 {won(limit)}을 넘습니다",
                            f"rounding adjustment {moved} is more than truncation can move ({limit} won)")
        summed = sum(item[column] for _, item in _items(doc)) + moved
        if summed != totals[column]:
            yield Violation(f"/totals/{column}",
                            f"{column} 합계 {won(totals[column])}이 항목 합 {won(summed)}과 다릅니다",
                            f"total {column} is {totals[column]} but the items add up to {summed}")


@rule("S24-DOC-026", "약제비 총액 = (1) + (2) + (3)", "Pharmacy total = (1) + (2) + (3)", applies_to=PHARMACY)
def pharmacy_total(doc: Document) -> Iterator[Violation]:
    t = doc["totals"]
    expected = t["copay"] + t["insurer"] + t["non_covered"]
    if t["total_amount"] != expected:
        yield Violation("/totals/total_amount",
                        f"약제비 총액 {won(t['total_amount'])}은(는) {won(expected)}이어야 합니다",
                        f"total_amount {t['total_amount']} must equal (1)+(2)+(3) = {expected}")


@rule("S24-DOC-027", "수납금액 = (1) + (3)", "Amount received = (1) + (3)", applies_to=PHARMACY)
def amount_received(doc: Document) -> Iterator[Violation]:
    t = doc["totals"]
    expected = t["copay"] + t["non_covered"]
    if t["amount_received"] != expected:
        yield Violation("/totals/amount_received",
                        f"수납금액 {won(t['amount_received'])}은(는) 본인부담금+비급여 {won(expected)}이어야 합니다",
                        f"amount_received {t['amount_received']} must equal (1)+(3) = {expected}")
    if t["ceiling_excess"] > t["copay"]:
        yield Violation("/totals/ceiling_excess",
                        f"상한액 초과금 {won(t['ceiling_excess'])}이 본인부담금 {won(t['copay'])}보다 큽니다",
                        f"ceiling_excess {t['ceiling_excess']} exceeds copay {t['copay']}")
