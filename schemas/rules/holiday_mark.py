"""The 공휴일 mark of receipts: set on Sundays and Korean public holidays, and only there.

The forms mark night (야간) and holiday (공휴일) care apart (별지 제6호·제11호서식: □야간 □공휴일). The holiday
surcharge applies on Sundays and on the public holidays of 관공서의 공휴일에 관한 규정, substitute holidays
included; the calendar is schemas/kr_calendar.py, from the maintained ``holidays`` library (docs/domain.md
§2.1). Night care has no date to check it against: the documents carry no time of day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from .registry import Document, Violation, rule


def is_holiday(day: date) -> bool:
    """Whether the holiday surcharge applies on ``day``: a Sunday or a Korean public holiday (the kit's one
    calendar, schemas/kr_calendar.py)."""
    from ..kr_calendar import is_holiday as on_calendar  # here: `s24kit rules --help` must not load the calendar

    return on_calendar(day)


def _day_of_care(doc: Document) -> tuple[str, str] | None:
    """(pointer, ISO date) of the one day the mark is about; None for an inpatient stay (many days) and for
    care abroad (Korean holidays do not apply)."""
    if doc["provider"].get("country", "KR") != "KR":
        return None
    if doc["document_type"] == "pharmacy_receipt":
        return "/dispensing_date", doc["dispensing_date"]
    if doc["setting"] == "outpatient":
        return "/treatment_period/start", doc["treatment_period"]["start"]
    return None


@rule("S24-DOC-062", "공휴일 표시는 진료(조제)일이 일요일·공휴일일 때만, 그날에는 반드시",
      "The holiday mark is set exactly when the day of care is a Sunday or a Korean public holiday",
      applies_to=("medical_receipt", "pharmacy_receipt"), severity="warning")
def holiday_mark(doc: Document) -> Iterator[Violation]:
    """A warning: a provider may bill a holiday differently (e.g. an emergency visit crossing midnight)."""
    found = _day_of_care(doc)
    if found is None:
        return
    pointer, day = found
    expected = is_holiday(date.fromisoformat(day))
    if doc["holiday"] != expected:
        if expected:
            yield Violation("/holiday", f"{day}은(는) 일요일·공휴일인데 공휴일 표시가 없습니다",
                            f"{day} is a Sunday or public holiday but the holiday mark is not set")
        else:
            yield Violation("/holiday", f"{day}은(는) 일요일·공휴일이 아닌데 공휴일로 표시되었습니다 ({pointer})",
                            f"{day} is neither a Sunday nor a public holiday but is marked holiday ({pointer})")
