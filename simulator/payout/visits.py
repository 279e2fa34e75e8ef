"""Turn a claim's kit-v1 documents into billed parts: what the patient paid, sorted into payout buckets.

A *part* is one receipt (medical or pharmacy; an itemised statement alone stands in for a missing receipt).
Buckets, per docs/domain.md §4: covered = the patient's 급여 copay (본인부담금 − 상한액 초과금 + 전액본인부담);
non-covered = 비급여 (선택진료료 + 그 외); the big three = itemised lines marked ``big_three``; the
private-room difference = 비급여 of the table's private-room rows on inpatient receipts. Each is less the
receipt's 감면액·할인: the patient's loss is what was paid.
Grouping parts into visits (same day, same purpose, pharmacy → its prescription's visit) is the engine's job;
this module supplies each part's purpose (3-character KCD category of the main diagnosis), severity and links.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from ...schemas.codes import code_list
from ...schemas.rules.receipt import discounts
from .errors import PayoutInputError
from .tables import TIERS

Document = Mapping[str, Any]
#: An itemised line of more acts than this is read as one act (guards against absurd quantities).
MAX_ACTS_PER_LINE = 366


@dataclass(slots=True)
class Part:
    """One receipt's money, in payout buckets, with what is needed to group it into a visit."""

    doc_id: str
    kind: str  # outpatient | pharmacy | inpatient
    visit_id: str
    provider_code: str
    provider_name: str
    tier: str  # pharmacy: the prescriber's tier (docs/domain.md §2.4: it sets the pharmacy deductible)
    country: str
    day: date  # visit day; pharmacy: the prescription's issue day; inpatient: admission day
    event_day: date  # the day the right to claim arises: treatment, dispensing or discharge (bill end)
    end: date
    diagnosis: str | None
    purpose: str | None
    severe: bool
    nhi_applied: bool
    patient_category: str
    covered_gross: int
    ceiling_excess: int
    non_covered: int
    private_room: int
    big_three: list[tuple[str, int, int]]  # (kind, amount, acts)
    partial_copay: int
    partial_insurer: int
    prescriber_code: str | None = None
    issue_number: str | None = None

    @property
    def claimed(self) -> int:
        """Everything the patient paid on this receipt (before 상한액 초과금 is taken off)."""
        return self.covered_gross + self.non_covered + self.private_room + sum(a for _, a, _ in self.big_three)


@cache
def _tiers() -> dict[str, str]:
    return {code: entry["tier"] for code, entry in code_list("facility-types").items()}


@cache
def _nhi_applied() -> dict[str, bool]:
    return {code: bool(entry["nhi_applied"]) for code, entry in code_list("patient-categories").items()}


@cache
def _severity() -> tuple[dict[str, bool], dict[str, bool]]:
    """Severe flag by KCD code, and by 3-character category (severe if any listed code of it is)."""
    by_code: dict[str, bool] = {}
    by_category: dict[str, bool] = {}
    for code, entry in code_list("kcd").items():
        by_code[code] = bool(entry.get("severe"))
        by_category[code[:3]] = by_category.get(code[:3], False) or by_code[code]
    return by_code, by_category


def is_severe(code: str | None) -> bool:
    """5세대 severity of a KCD code from the kit's code list (unknown codes: not severe)."""
    if not code:
        return False
    by_code, by_category = _severity()
    found = by_code.get(code)
    return by_category.get(code[:3], False) if found is None else found


def any_severe(codes: Any) -> bool:
    """5세대 severity of a visit: any of its diagnosis codes under 산정특례, not only the first."""
    return any(is_severe(code) for code in codes or ())


def nhi_applied(category: str) -> bool:
    """Whether national health insurance was applied (patient-categories ``nhi_applied``; unknown: applied)."""
    return _nhi_applied().get(category, True)


def tier_of(facility_type: str, field: str) -> str:
    tier = _tiers().get(facility_type)
    if tier not in TIERS:
        raise PayoutInputError(field, f"요양기관 종별코드 {facility_type!r}로 공제 등급을 정할 수 없습니다",
                               f"facility type {facility_type!r} has no deductible tier",
                               "fixtures/codes/facility-types.json의 의료기관 코드를 쓰십시오",
                               "use a care-provider code of fixtures/codes/facility-types.json")
    return tier


def _acts(line: Document) -> int:
    n = line["quantity"] * line["days"]
    return int(n) if n == int(n) and 1 <= n <= MAX_ACTS_PER_LINE else 1


def _big_three(lines: Iterable[Document]) -> list[tuple[str, int, int]]:
    return [(line["big_three"], line["non_covered"], _acts(line)) for line in lines
            if line.get("big_three") and line["non_covered"] > 0]


def _main_diagnosis(codes: Any) -> str | None:
    return codes[0] if codes else None


def parts_of(documents: Iterable[Document],
             private_room_rows: frozenset[str]) -> tuple[list[Part], dict[str, Document]]:
    """The parts of a claim and its prescriptions by issue number (prescriptions carry no money)."""
    receipts: list[tuple[int, Document]] = []
    statements: dict[str, Document] = {}
    pharmacy: list[tuple[int, Document]] = []
    prescriptions: dict[str, Document] = {}
    for index, doc in enumerate(documents):
        kind = doc.get("document_type")
        if kind == "medical_receipt":
            receipts.append((index, doc))
        elif kind == "itemised_statement":
            statements[f"{doc['provider']['provider_code']}:{doc['receipt_number']}"] = doc
        elif kind == "pharmacy_receipt":
            pharmacy.append((index, doc))
        elif kind == "prescription":
            prescriptions[doc["issue_number"]] = doc
    parts = []
    for index, receipt in receipts:
        key = f"{receipt['provider']['provider_code']}:{receipt['receipt_number']}"
        parts.append(_medical(index, receipt, statements.pop(key, None), private_room_rows))
    for key, statement in statements.items():
        parts.append(_statement_only(key, statement, private_room_rows))
    for index, receipt in pharmacy:
        parts.append(_pharmacy(index, receipt, prescriptions.get(receipt["prescription_issue_number"])))
    return parts, prescriptions


def _medical(index: int, receipt: Document, statement: Document | None, room_rows: frozenset[str]) -> Part:
    totals, provider = receipt["totals"], receipt["provider"]
    inpatient = receipt["setting"] == "inpatient"
    room = sum(r["amounts"]["non_covered"] for r in receipt["rows"] if r["code"] in room_rows) if inpatient else 0
    big = _big_three(statement["lines"]) if statement else []
    other = max(totals["selective"] + totals["non_covered"] - room - sum(a for _, a, _ in big), 0)
    waived_covered, waived = discounts(totals)
    other, room, big = _less_discount(waived, other, room, big)
    diagnosis = _main_diagnosis(receipt.get("diagnosis_codes"))
    period = receipt["treatment_period"]
    start, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
    return Part(
        doc_id=f"{provider['provider_code']}:{receipt['receipt_number']}",
        kind="inpatient" if inpatient else "outpatient",
        visit_id=receipt["visit_id"], provider_code=provider["provider_code"], provider_name=provider["name"],
        tier=tier_of(provider["facility_type"], f"documents[{index}].provider.facility_type"),
        country=provider.get("country", "KR"), day=start, event_day=end, end=end, diagnosis=diagnosis,
        purpose=diagnosis[:3] if diagnosis else None, severe=any_severe(receipt.get("diagnosis_codes")),
        nhi_applied=nhi_applied(receipt["patient_category"]), patient_category=receipt["patient_category"],
        covered_gross=max(totals["copay"] + totals["full_copay"] - waived_covered, 0),
        ceiling_excess=totals["ceiling_excess"], non_covered=other, private_room=room, big_three=big,
        partial_copay=totals["copay"],
        partial_insurer=totals["insurer"])


def _less_discount(waived: int, other: int, room: int,
                   big: list[tuple[str, int, int]]) -> tuple[int, int, list[tuple[str, int, int]]]:
    """The non-covered buckets less a receipt's non-covered 감면액: the patient's loss is what was paid. The kit
    takes it off the plain non-covered amount first, then the private-room difference, then the big-three lines
    in their order (docs/domain.md §4)."""
    taken = min(waived, other)
    other, waived = other - taken, waived - taken
    taken = min(waived, room)
    room, waived = room - taken, waived - taken
    lowered = []
    for kind, amount, acts in big:
        taken = min(waived, amount)
        waived -= taken
        lowered.append((kind, amount - taken, acts))
    return other, room, [entry for entry in lowered if entry[1] > 0]


def _statement_only(doc_id: str, statement: Document, room_rows: frozenset[str]) -> Part:
    lines, provider = statement["lines"], statement["provider"]
    inpatient = statement["setting"] == "inpatient"
    adjustment = statement.get("bottom_rows", {}).get("adjustment", {})  # 끝처리: the receipt's truncated copay
    copay = sum(x["copay"] for x in lines) + adjustment.get("copay", 0)
    room = sum(x["non_covered"] for x in lines if x["category"] in room_rows) if inpatient else 0
    big = _big_three(lines)
    other = sum(x["non_covered"] for x in lines) - room - sum(a for _, a, _ in big)
    period = statement["treatment_period"]
    start, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
    return Part(
        doc_id=doc_id, kind="inpatient" if inpatient else "outpatient", visit_id=statement["visit_id"],
        provider_code=provider["provider_code"], provider_name=provider["name"],
        tier=tier_of(provider["facility_type"], f"itemised_statement {statement['statement_number']}.provider"),
        country=provider.get("country", "KR"), day=start, event_day=end, end=end, diagnosis=None, purpose=None,
        severe=False, nhi_applied=nhi_applied(statement["patient_category"]),
        patient_category=statement["patient_category"],
        covered_gross=copay + sum(x["full_copay"] for x in lines), ceiling_excess=0, non_covered=max(other, 0),
        private_room=room, big_three=big, partial_copay=copay,
        partial_insurer=sum(x["insurer"] for x in lines) + adjustment.get("insurer", 0))


def _pharmacy(index: int, receipt: Document, prescription: Document | None) -> Part:
    totals, provider, prescriber = receipt["totals"], receipt["provider"], receipt["prescriber"]
    number = receipt["prescription_issue_number"]
    issued = date(int(number[:4]), int(number[4:6]), int(number[6:8]))
    diagnosis = _main_diagnosis(prescription["diagnosis_codes"]) if prescription else None
    dispensed = date.fromisoformat(receipt["dispensing_date"])
    return Part(
        doc_id=f"{provider['provider_code']}:{receipt['receipt_number']}", kind="pharmacy",
        visit_id=receipt["visit_id"], provider_code=provider["provider_code"], provider_name=provider["name"],
        tier=tier_of(prescriber["facility_type"], f"documents[{index}].prescriber.facility_type"),
        country=provider.get("country", "KR"), day=issued, event_day=dispensed, end=dispensed, diagnosis=diagnosis,
        purpose=diagnosis[:3] if diagnosis else None,
        severe=any_severe(prescription["diagnosis_codes"] if prescription else None),
        nhi_applied=nhi_applied(receipt["patient_category"]), patient_category=receipt["patient_category"],
        covered_gross=totals["copay"], ceiling_excess=totals["ceiling_excess"], non_covered=totals["non_covered"],
        private_room=0, big_three=[], partial_copay=totals["copay"], partial_insurer=totals["insurer"],
        prescriber_code=prescriber["provider_code"], issue_number=number)
