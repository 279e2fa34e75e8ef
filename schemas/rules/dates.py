"""Rules on the dates a document states: the patient's birth (from the masked resident number) and the visit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from ..identifiers import birth_date_of, century_of
from .registry import Document, Violation, rule

ALL = ("medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt")
RRN_POINTER = "/patient/resident_number_masked"


def visit_day(doc: Document) -> str:
    """The first day of care the document records (ISO date)."""
    kind = doc["document_type"]
    if kind == "prescription":
        return doc["issue_date"]
    if kind == "pharmacy_receipt":
        return doc["dispensing_date"]
    return doc["treatment_period"]["start"]


def dates(doc: Document) -> Iterator[tuple[str, str]]:
    """Every date of a shape-valid document, as (JSON Pointer, ISO date)."""
    if "treatment_period" in doc:
        yield "/treatment_period/start", doc["treatment_period"]["start"]
        yield "/treatment_period/end", doc["treatment_period"]["end"]
    if "dispensing_date" in doc:
        yield "/dispensing_date", doc["dispensing_date"]
    if dispensing := doc.get("dispensing"):
        yield "/dispensing/dispensed_date", dispensing["dispensed_date"]
    for i, line in enumerate(doc.get("lines", ())):
        yield f"/lines/{i}/date", line["date"]
    yield "/issue_date", doc["issue_date"]


def _latest(doc: Document) -> str:
    """The latest date a shape-valid document states (ISO dates compare as text)."""
    days = [doc["issue_date"]]
    if "treatment_period" in doc:
        days += (doc["treatment_period"]["start"], doc["treatment_period"]["end"])
    if "dispensing_date" in doc:
        days.append(doc["dispensing_date"])
    if dispensing := doc.get("dispensing"):
        days.append(dispensing["dispensed_date"])
    if lines := doc.get("lines"):
        days.append(max(line["date"] for line in lines))
    return max(days)


@rule("S24-DOC-033", "마스킹 주민등록번호의 생년월일은 실제 날짜이고 7번째 자리가 세기에 맞음",
      "A masked resident number states a real birth date and its 7th digit fits the century",
      applies_to=ALL, dated=True)
def resident_number_date(doc: Document, today: date) -> Iterator[Violation]:
    masked = doc["patient"].get("resident_number_masked")
    if masked is None:
        return
    # The values are not repeated in messages: they are a person's birth date.
    born = birth_date_of(masked)
    gender = masked[7]
    if born is None:
        yield Violation(RRN_POINTER,
                        f"주민등록번호 앞 6자리와 7번째 자리({gender}: {century_of(gender)}년대)로는 달력에 있는 "
                        "생년월일이 되지 않습니다: EMR의 생년월일과 성별 자리를 확인하십시오",
                        f"the first six digits and the 7th digit ({gender}: the {century_of(gender)}s) of the resident "
                        "number do not make a calendar date: check the birth date and gender digit in the EMR")
    elif born > today:
        yield Violation(RRN_POINTER,
                        f"7번째 자리 {gender}는 {century_of(gender)}년대 출생을 뜻하는데 "
                        "그러면 생년월일이 오늘 이후입니다: "
                        "1900년대 출생은 1·2(외국인 5·6), 2000년대 출생은 3·4(외국인 7·8)입니다",
                        f"7th digit {gender} means born in the {century_of(gender)}s, which puts the birth date after "
                        "today: births in the 1900s take 1 or 2 (foreign residents 5 or 6), in the 2000s 3 or 4 "
                        "(7 or 8)")


@rule("S24-DOC-034", "환자의 생년월일이 진료일보다 늦지 않음", "The patient is not born after the visit",
      applies_to=ALL, dated=True)
def born_before_visit(doc: Document, today: date) -> Iterator[Violation]:
    masked = doc["patient"].get("resident_number_masked")
    born = birth_date_of(masked) if masked else None
    if born is None or born > today:
        return  # S24-DOC-033: not a date, or a wrong century
    if born.isoformat() > visit_day(doc):
        yield Violation(RRN_POINTER,
                        f"주민등록번호의 생년월일이 진료일({visit_day(doc)})보다 늦습니다: "
                        "환자 또는 날짜가 잘못되었습니다",
                        f"the resident number's birth date is after the visit ({visit_day(doc)}): the patient or "
                        "the dates are wrong")


@rule("S24-DOC-035", "어떤 날짜도 오늘(한국 시각) 이후가 아님", "No date lies after today (Korean time)",
      applies_to=ALL, dated=True)
def not_in_future(doc: Document, today: date) -> Iterator[Violation]:
    # After the issue date is S24-DOC-007 (treatment and dispensing) and S24-DOC-013 (itemised lines);
    # a prescription's dispensing record is written after its issue date by nature.
    limit = today.isoformat()
    if _latest(doc) <= limit:  # the common case, without building a pointer for every itemised line
        return
    for pointer, value in dates(doc):
        if value > limit:
            yield Violation(pointer, f"날짜 {value}가 오늘({limit}, 한국 시각)보다 늦습니다: "
                                     "미래 날짜는 쓸 수 없습니다",
                            f"date {value} is after today ({limit}, Korean time): no document states a future date")
