"""Scenario options: what ``s24kit generate`` was asked for, its defaults and checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from .tables import FACILITY_TYPES

#: Facility types the care model can fill with visits (fixtures/codes/facility-types.json has more).
SUPPORTED_PROVIDER_TYPES = ("01", "11", "21", "28", "29", "31", "41", "51", "71", "81")
DEFAULT_HARD_CASE_RATE = 0.1
MAX_PATIENTS = 10_000_000  # patient numbers are 8 digits (population.patient_number)
MAX_WINDOW_DAYS = 366 * 10
EARLIEST_DAY = date(2000, 1, 1)  # visits need a policy, and 1세대 sales start in 1999
_PROVIDER_CODE = re.compile(r"^[0-9]{8}$")


class OptionError(ValueError):
    """A bad option, explained in Korean and English (one line each)."""

    def __init__(self, option: str, message_ko: str, message_en: str) -> None:
        super().__init__(f"{option}: {message_en}")
        self.option, self.message_ko, self.message_en = option, message_ko, message_en


@dataclass(frozen=True, slots=True)
class Options:
    """What ``s24kit generate`` was asked for. ``start``/``end`` bound the visit days (both inclusive)."""

    patients: int
    seed: int = 0
    start: date | None = None
    end: date | None = None
    provider: str | None = None
    provider_type: str | None = None
    hard_cases: float = DEFAULT_HARD_CASE_RATE

    def resolved(self) -> Options:
        """Defaults filled in and every option checked; raises :class:`OptionError`."""
        from ..people import DEFAULT_TODAY  # here: the options alone (`s24kit generate --help`) need no Faker

        check_count("--patients", self.patients, MAX_PATIENTS)
        if not 0.0 <= self.hard_cases <= 1.0:
            raise OptionError("--hard-cases", f"--hard-cases 값은 0~1 사이의 비율이어야 합니다 ({self.hard_cases})",
                              f"--hard-cases must be a rate between 0 and 1 (got {self.hard_cases})")
        end = self.end or (self.start + timedelta(days=364) if self.start else DEFAULT_TODAY - timedelta(days=1))
        start = self.start or end - timedelta(days=364)
        if start > end:
            raise OptionError("--from", f"--from({start})이 --to({end})보다 늦습니다",
                              f"--from ({start}) is after --to ({end})")
        if start < EARLIEST_DAY:
            raise OptionError("--from", f"--from 날짜는 {EARLIEST_DAY} 이후여야 합니다 (실손 계약이 있어야 하므로)",
                              f"--from must be {EARLIEST_DAY} or later (visits need an indemnity policy)")
        if (end - start).days + 1 > MAX_WINDOW_DAYS:
            raise OptionError("--to", f"기간은 최대 {MAX_WINDOW_DAYS}일입니다",
                              f"the period --from..--to is at most {MAX_WINDOW_DAYS} days")
        provider_type = self.provider_type
        if provider_type is not None:
            check_provider_type(provider_type)
        if self.provider is not None:
            if not _PROVIDER_CODE.match(self.provider):
                raise OptionError("--provider", f"요양기관기호는 숫자 8자리입니다 (받은 값 {self.provider!r})",
                                  f"a provider code is 8 digits (got {self.provider!r})")
            provider_type = provider_type or type_of_code(self.provider)
            check_code_fits_type(self.provider, provider_type)
        return replace(self, start=start, end=end, provider_type=provider_type)

    @property
    def as_of(self) -> date:
        """The claim day: the day after the last visit day. Ages and 'today' are taken on it."""
        assert self.end is not None, "resolve the options first"
        return self.end + timedelta(days=1)

    def manifest(self) -> dict[str, Any]:
        """The options that shape the output (not the worker count, the directory or the display)."""
        return {"patients": self.patients, "seed": self.seed, "from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None, "provider": self.provider,
                "provider_type": self.provider_type, "hard_cases": self.hard_cases}


def check_count(option: str, value: int, maximum: int) -> None:
    if value < 1:
        raise OptionError(option, f"{option} 값은 1 이상이어야 합니다 (받은 값 {value})",
                          f"{option} must be at least 1 (got {value})")
    if value > maximum:
        raise OptionError(option, f"{option} 값은 최대 {maximum:,}입니다 (받은 값 {value:,})",
                          f"{option} is at most {maximum:,} (got {value:,})")


def check_provider_type(code: str) -> None:
    if code not in FACILITY_TYPES:
        known = ", ".join(SUPPORTED_PROVIDER_TYPES)
        raise OptionError("--provider-type", f"알 수 없는 요양기관 종별코드 {code!r}: {known} 중 하나를 쓰십시오",
                          f"unknown provider type {code!r}; use one of {', '.join(SUPPORTED_PROVIDER_TYPES)}")
    if code not in SUPPORTED_PROVIDER_TYPES:
        label = FACILITY_TYPES[code]["ko"]
        raise OptionError("--provider-type", f"{code}({label})의 진료는 아직 생성하지 않습니다: "
                                             f"{', '.join(SUPPORTED_PROVIDER_TYPES)} 중 하나를 쓰십시오",
                          f"the generator does not model care at type {code} ({FACILITY_TYPES[code]['en']}) yet; "
                          f"use one of {', '.join(SUPPORTED_PROVIDER_TYPES)}")


def type_of_code(code: str) -> str:
    """The facility type a provider code's third digit stands for: 의원 for 3, else the first type modelled."""
    digit = code[2]
    fitting = [t for t in SUPPORTED_PROVIDER_TYPES if FACILITY_TYPES[t]["code_digit"] == digit]
    if "31" in fitting:
        return "31"
    if not fitting:
        raise OptionError("--provider", f"요양기관기호 {code}의 셋째 자리 {digit}는 생성할 수 있는 종별이 아닙니다: "
                                        "--provider-type을 함께 주거나 코드를 확인하십시오",
                          f"the third digit {digit} of provider code {code} is no facility type the generator "
                          "models: give --provider-type or check the code")
    return fitting[0]


def check_code_fits_type(code: str, provider_type: str) -> None:
    """The third digit of a 요양기관기호 is its 종별 group (S24-DOC-057); a mismatch would fail every document."""
    expected = FACILITY_TYPES[provider_type]["code_digit"]
    if code[2] != expected:
        raise OptionError("--provider", f"요양기관기호 {code}의 셋째 자리 {code[2]}가 종별 {provider_type}"
                                        f"({FACILITY_TYPES[provider_type]['ko']})의 {expected}와 맞지 않습니다",
                          f"the third digit {code[2]} of provider code {code} does not fit type {provider_type} "
                          f"({FACILITY_TYPES[provider_type]['en']}), whose codes have {expected} there")
