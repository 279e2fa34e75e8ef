"""Korean public holidays and the 야간·공휴일 surcharge periods, from the maintained ``holidays`` library.

Public holidays are those of 관공서의 공휴일에 관한 규정 as the ``holidays`` package (country ``KR``) lists
them: 설날 and 추석 (three days each), the fixed holidays, substitute (대체) and temporary (임시) holidays and
election days. The NHI fee schedule (건강보험 행위 급여·비급여 목록표 제1편 제2부 제1장 진찰료 산정지침) adds
to the consultation and dispensing fees:

- 공휴일 가산: on Sundays and public holidays, all day;
- 야간 가산: from 18:00 to 09:00 the next morning on other days, and from 13:00 on Saturdays.

A visit is a *night* visit or a *holiday* visit by these rules alone (docs/domain.md §6); the two are separate
facts, as on the receipt (□야간 □공휴일). Nothing here reads the clock.
"""

from __future__ import annotations

from datetime import date, time
from functools import cache

import holidays

__all__ = ["NIGHT_FROM", "NIGHT_UNTIL", "SATURDAY_NIGHT_FROM", "holiday_name", "is_holiday", "is_lunar_holiday",
           "is_night", "is_public_holiday"]

#: 야간 가산 on weekdays: from 18:00 …
NIGHT_FROM = time(18, 0)
#: … to 09:00 the next morning.
NIGHT_UNTIL = time(9, 0)
#: 야간 가산 on Saturdays starts at 13:00.
SATURDAY_NIGHT_FROM = time(13, 0)
#: The three days of 설날 and of 추석 carry these words in the library's Korean names (전날, 당일, 다음날).
_LUNAR_WORDS = ("설날", "추석")
_SUBSTITUTE_WORD = "대체"


@cache
def _year(year: int) -> dict[date, str]:
    """The public holidays of ``year`` with their Korean names (several on one day joined by '; ')."""
    return dict(holidays.country_holidays("KR", years=year, language="ko").items())


def holiday_name(day: date) -> str | None:
    """The Korean name of the public holiday on ``day``, or None on an ordinary day (Sundays included)."""
    return _year(day.year).get(day)


def is_public_holiday(day: date) -> bool:
    """A public holiday under 관공서의 공휴일에 관한 규정 (substitute and temporary holidays included)."""
    return holiday_name(day) is not None


def is_lunar_holiday(day: date) -> bool:
    """One of the three days of 설날 or 추석 (their substitute day is a public holiday, not one of these)."""
    name = holiday_name(day) or ""
    return any(word in part and _SUBSTITUTE_WORD not in part for part in name.split(";") for word in _LUNAR_WORDS)


def is_holiday(day: date) -> bool:
    """공휴일 가산 applies: a Sunday or a public holiday."""
    return day.weekday() == 6 or is_public_holiday(day)


def is_night(day: date, at: time) -> bool:
    """야간 가산 applies at ``at`` on ``day`` (not a holiday question: see :func:`is_holiday`)."""
    if at < NIGHT_UNTIL:
        return True
    return at >= (SATURDAY_NIGHT_FROM if day.weekday() == 5 else NIGHT_FROM)
