"""How HIRA rounds the covered amounts of a visit (docs/domain.md §2.5), and the rule that says so.

요양급여비용총액 is truncated below 10 원; the patient's 본인일부부담금 below 100 원 for outpatient and pharmacy
bills, below 10 원 for inpatient bills; flat amounts (정액) are not rounded. The won cut off go to the insurer's
share, and the itemised lines meet the truncated totals through the 끝처리 조정금액 row.
"""

from __future__ import annotations

from collections.abc import Iterator

from .registry import Document, Violation, rule, won

#: 본인일부부담금 is truncated below this many won, by setting (pharmacy receipts: "pharmacy").
COPAY_UNIT = {"outpatient": 100, "pharmacy": 100, "inpatient": 10}
#: 요양급여비용총액 is truncated below this many won.
TOTAL_UNIT = 10
#: Patient categories whose copay is a rate of the NHI total (the others pay flat amounts or nothing).
RATE_CATEGORIES = ("nhi",)


def truncate(amount: int, unit: int) -> int:
    """``amount`` with everything below ``unit`` won cut off (절사)."""
    return amount - amount % unit


def copay_unit(document: Document) -> int:
    return COPAY_UNIT["pharmacy" if document["document_type"] == "pharmacy_receipt" else document["setting"]]


@rule("S24-DOC-028", "급여 본인일부부담금은 끝처리(외래·약국 100원, 입원 10원 미만 절사)된 금액",
      "The covered copay is truncated as HIRA truncates it (below 100 won outpatient and pharmacy, 10 won inpatient)",
      applies_to=("medical_receipt", "pharmacy_receipt"), severity="warning")
def copay_truncated(doc: Document) -> Iterator[Violation]:
    """A warning only: flat amounts (65세 이상, 의료급여) and old bills may legitimately differ."""
    if doc["patient_category"] not in RATE_CATEGORIES:
        return
    unit, copay = copay_unit(doc), doc["totals"]["copay"]
    if copay % unit:
        yield Violation("/totals/copay",
                        f"본인일부부담금 {won(copay)}이(가) {unit}원 미만 절사되지 않았습니다 "
                        f"(HIRA 끝처리: {won(truncate(copay, unit))})",
                        f"covered copay {copay} is not truncated below {unit} won (HIRA rounding: "
                        f"{truncate(copay, unit)})")
    covered = doc["totals"]["copay"] + doc["totals"]["insurer"]
    if covered % TOTAL_UNIT:
        yield Violation("/totals/insurer",
                        f"요양급여비용총액(본인일부부담+공단부담) {won(covered)}이(가) 10원 미만 절사되지 않았습니다",
                        f"the covered total (copay + insurer) {covered} is not truncated below 10 won")


def adjustment_limit(unit: int, count: int) -> int:
    """The most a 끝처리 조정금액 can move one column: the copay truncation, the total's truncation and one won
    per line or item rounded down on its own. More than that is not rounding but a wrong amount."""
    return unit + TOTAL_UNIT + count
