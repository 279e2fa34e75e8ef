"""schemas/kr_calendar.py: Korean public holidays from the holidays library, and the 야간·공휴일 periods."""

from __future__ import annotations

from datetime import date, time

import pytest

from s24kit.schemas.kr_calendar import holiday_name, is_holiday, is_lunar_holiday, is_night, is_public_holiday

# 설날 2026: 16–18 February; 추석 2026: 24–26 September (한국천문연구원 월력요항 2026).
LUNAR_2026 = [date(2026, 2, 16), date(2026, 2, 17), date(2026, 2, 18),
              date(2026, 9, 24), date(2026, 9, 25), date(2026, 9, 26)]


@pytest.mark.parametrize("day", LUNAR_2026)
def test_seollal_and_chuseok_are_lunar_holidays(day: date) -> None:
    assert is_lunar_holiday(day) and is_public_holiday(day) and is_holiday(day)


def test_substitute_day_is_a_public_holiday_but_not_one_of_the_three_days() -> None:
    day = date(2025, 10, 8)  # 추석 대체공휴일 (추석 전날 fell on a Sunday)
    assert is_public_holiday(day) and "대체" in (holiday_name(day) or "")
    assert not is_lunar_holiday(day)


def test_fixed_holidays_and_ordinary_days() -> None:
    assert holiday_name(date(2026, 3, 1)) == "삼일절"
    assert is_public_holiday(date(2026, 3, 2))  # 삼일절 대체공휴일 (3·1 fell on a Sunday)
    assert not is_public_holiday(date(2026, 3, 3)) and not is_holiday(date(2026, 3, 3))
    assert not is_lunar_holiday(date(2026, 10, 9))  # 한글날


def test_sunday_is_a_holiday_for_the_surcharge_but_not_a_public_holiday() -> None:
    sunday = date(2026, 11, 1)
    assert sunday.weekday() == 6
    assert is_holiday(sunday) and not is_public_holiday(sunday)
    assert not is_holiday(date(2026, 10, 31))  # a Saturday


@pytest.mark.parametrize(("day", "at", "night"), [
    (date(2026, 11, 2), time(17, 59), False),  # Monday, before 18:00
    (date(2026, 11, 2), time(18, 0), True),
    (date(2026, 11, 2), time(8, 59), True),    # before 09:00
    (date(2026, 11, 2), time(9, 0), False),
    (date(2026, 10, 31), time(12, 59), False),  # Saturday morning
    (date(2026, 10, 31), time(13, 0), True),    # Saturday from 13:00
])
def test_night_periods(day: date, at: time, night: bool) -> None:
    assert is_night(day, at) is night
