"""Rules of the 진료비 세부산정내역서 (itemised statement)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_UP, Context, Decimal

from .registry import Document, Violation, rule, won
from .rounding import COPAY_UNIT, adjustment_limit

STATEMENT = ("itemised_statement",)
LINE_COLUMNS = ("copay", "insurer", "full_copay", "non_covered")
#: Lines are rounded to whole won; some EMRs truncate instead, so one won either way is accepted.
ROUNDING_TOLERANCE = 1


#: Exact decimal arithmetic whatever the size: the default 28 digits made quantize() fail (a 500 at the insurer)
#: on the huge amounts a hostile document may carry.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def expected_line_total(unit_price: int, quantity: float, days: int) -> int:
    """단가 × 횟수 × 일수, rounded half up to whole won (Decimal: no binary-float surprises)."""
    value = _EXACT.multiply(_EXACT.multiply(Decimal(unit_price), Decimal(str(quantity))), Decimal(days))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=_EXACT))


@rule("S24-DOC-011", "세부내역 줄: 본인부담 + 공단부담 + 전액본인 + 비급여 = 총액",
      "Itemised line: copay + insurer + full copay + non-covered = total", applies_to=STATEMENT)
def line_columns(doc: Document) -> Iterator[Violation]:
    for i, line in enumerate(doc["lines"]):
        summed = line["copay"] + line["insurer"] + line["full_copay"] + line["non_covered"]
        if summed != line["total"]:
            yield Violation(f"/lines/{i}/total",
                            f"{i + 1}번째 줄 총액 {won(line['total'])}이 금액 구분의 합 {won(summed)}과 다릅니다",
                            f"line {i + 1}: total {line['total']} differs from copay + insurer + full_copay + "
                            f"non_covered = {summed}")


@rule("S24-DOC-012", "세부내역 줄: 총액 ≈ 단가 × 횟수 × 일수", "Itemised line: total ≈ unit price × quantity × days",
      applies_to=STATEMENT)
def line_price(doc: Document) -> Iterator[Violation]:
    for i, line in enumerate(doc["lines"]):
        expected = expected_line_total(line["unit_price"], line["quantity"], line["days"])
        if abs(line["total"] - expected) > ROUNDING_TOLERANCE:
            yield Violation(f"/lines/{i}/total",
                            f"{i + 1}번째 줄 총액 {won(line['total'])}이 단가×횟수×일수 {won(expected)}과 다릅니다",
                            f"line {i + 1}: total {line['total']} differs from unit_price × quantity × days "
                            f"= {expected}")


@rule("S24-DOC-013", "세부내역 일자는 진료기간 안에", "Itemised line dates lie inside the treatment period",
      applies_to=STATEMENT)
def line_dates(doc: Document) -> Iterator[Violation]:
    start, end = doc["treatment_period"]["start"], doc["treatment_period"]["end"]
    for i, line in enumerate(doc["lines"]):
        if not start <= line["date"] <= end:
            yield Violation(f"/lines/{i}/date", f"{i + 1}번째 줄 일자 {line['date']}가 진료기간 {start}~{end} 밖입니다",
                            f"line {i + 1}: date {line['date']} is outside the treatment period {start}..{end}")


@rule("S24-DOC-016", "3대 비급여 표시는 비급여 줄에만", "Big-three marks only on non-covered lines",
      applies_to=STATEMENT)
def big_three_non_covered(doc: Document) -> Iterator[Violation]:
    for i, line in enumerate(doc["lines"]):
        if line.get("big_three") and (line["copay"] or line["insurer"] or line["full_copay"]):
            yield Violation(f"/lines/{i}/big_three",
                            f"{i + 1}번째 줄은 급여 금액이 있는데 3대 비급여({line['big_three']})로 표시되었습니다",
                            f"line {i + 1} is marked big-three {line['big_three']} but has covered amounts")


@rule("S24-DOC-019", "세부내역서 하단: 계 = 줄의 합, 합계 = 계 + 끝처리 조정금액, 조정은 절사 범위 안",
      "Statement bottom rows: subtotal = sum of lines, total = subtotal + rounding adjustment, within truncation",
      applies_to=STATEMENT)
def bottom_rows(doc: Document) -> Iterator[Violation]:
    bottom = doc["bottom_rows"]
    limit = adjustment_limit(COPAY_UNIT.get(doc["setting"], 100), len(doc["lines"]))
    for column in (*LINE_COLUMNS, "total"):
        summed = sum(line[column] for line in doc["lines"])
        subtotal, moved, total = (bottom[row][column] for row in ("subtotal", "adjustment", "total"))
        if subtotal != summed:
            yield Violation(f"/bottom_rows/subtotal/{column}",
                            f"계 {column} {won(subtotal)}이 줄의 합 {won(summed)}과 다릅니다",
                            f"subtotal {column} {subtotal} differs from the sum of the lines {summed}")
        if total != subtotal + moved:
            yield Violation(f"/bottom_rows/total/{column}",
                            f"합계 {column} {won(total)}은(는) 계+끝처리 조정금액 {won(subtotal + moved)}이어야 합니다",
                            f"total {column} {total} must be subtotal + adjustment = {subtotal + moved}")
        if column != "total" and abs(moved) > limit:
            yield Violation(f"/bottom_rows/adjustment/{column}",
                            f"끝처리 조정금액 {won(moved)}은(는) 절사로 생길 수 있는 {won(limit)}을 넘습니다",
                            f"rounding adjustment {moved} is more than truncation can move ({limit} won)")
