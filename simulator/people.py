"""Synthetic Korean people, addresses and care providers as Faker providers (kit test data).

Usage::

    from faker import Faker
    from s24kit.simulator.people import register

    fake = Faker("ko_KR"); register(fake); fake.seed_instance(7)
    fake.kr_patient()

Nothing here calls Faker's own ko_KR person, address or ssn providers (they produce impossible birth
dates, skewed surnames and incoherent addresses). Tables come from ``fixtures/people/*.json`` and are
loaded once at import; every draw uses ``self.generator.random`` so a seeded Faker is reproducible.
Nothing reads the clock: ``today`` is a parameter (default ``DEFAULT_TODAY``).

Identifiers are synthetic by construction, and each scheme makes a clash with a real one impossible:

- 주민등록번호: only ever the masked form ``YYMMDD-G******``. G is 1/2 for births in 1900–1999,
  3/4 for 2000–2099, and 5/6 resp. 7/8 for foreigners; odd means male.
- 휴대전화 ``010-0NNN-NNNN``: 010 middle blocks starting with 0 are not allocated to subscribers
  (전기통신번호관리세칙), so no generated number reaches a real phone.
- 일반전화 ``{지역번호}-0NN-NNNN``: a local exchange (국번) never starts with 0, which is the trunk prefix.
- 요양기관기호 ``99`` + one group digit + 5 digits. Real codes start with a two-digit region code and
  no region uses 99 (``SYNTHETIC_PROVIDER_PREFIX``). The third digit follows the real convention of a
  종별 group: 1 상급종합·종합병원, 2 병원·요양병원·정신병원, 3 의원, 4 치과병원, 5 치과의원,
  7 보건소·보건지소·보건진료소·보건의료원, 8 약국, 9 한방병원·한의원.
- 사업자등록번호 ``000-GG-SSSSC``: tax-office code 000 does not exist, so the number is recognisably
  synthetic while its check digit C is valid. GG is the kind of business: 90–99 a tax-exempt
  individual (의원, 치과의원, 한의원), 01–79 a taxable individual (약국), 82 a non-profit corporation
  (hospitals), 83 a state or local-government body (보건소 and the like).
- 환자등록번호: 8 random digits (EMR-local numbers, meaningless outside the simulated provider).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache
from random import Random
from typing import Any

from faker import Faker
from faker.providers import BaseProvider

from ..fixtures import fixture_path
from ..schemas.codes import code_list
from ..schemas.identifiers import (
    SYNTHETIC_PROVIDER_PREFIX,
    business_number_check_digit,
    format_business_number,
    mask_resident_number,
)

__all__ = [
    "AREA_WEIGHTS",
    "DEFAULT_TODAY",
    "FOREIGN_RESIDENT_AGES",
    "FOREIGN_RESIDENT_SHARE",
    "PROVIDER_CODE_GROUPS",
    "KoreanPeopleProvider",
    "register",
    "resident_gender_digit",
]

#: Fixed reference date for ages; never ``date.today()`` so that runs are reproducible.
DEFAULT_TODAY = date(2026, 11, 1)

#: 요양기관 종별코드 → group digit of the 요양기관기호 (``code_digit`` of fixtures/codes/facility-types.json).
PROVIDER_CODE_GROUPS: dict[str, str] = {
    code: entry["code_digit"] for code, entry in code_list("facility-types").items()
}

# Approximate resident population by age band in thousands (행정안전부 주민등록 연령별 인구, 2024,
# rounded by the kit); spread evenly over the years of each band.
_AGE_BANDS = (
    (0, 4, 1250), (5, 9, 1750), (10, 14, 2300), (15, 19, 2250), (20, 24, 2600), (25, 29, 3350),
    (30, 34, 3400), (35, 39, 3300), (40, 44, 3800), (45, 49, 3950), (50, 54, 4350), (55, 59, 4100),
    (60, 64, 4200), (65, 69, 3500), (70, 74, 2450), (75, 79, 1800), (80, 84, 1350), (85, 89, 700),
    (90, 94, 250), (95, 99, 60), (100, 110, 10),
)  # fmt: skip
_MAX_AGE = 110

# Clinic specialities weighted roughly by how common such 의원 are.
_CLINIC_DEPARTMENTS = (
    ("01", 25), ("05", 10), ("13", 9), ("11", 7), ("14", 6), ("23", 6), ("12", 5), ("10", 5),
    ("09", 5), ("03", 5), ("04", 5), ("15", 4), ("21", 4), ("08", 4), ("02", 2), ("00", 5),
)  # fmt: skip
_NAME_PREFIXES = (
    "하늘", "튼튼", "바른", "밝은", "새봄", "푸른", "미소", "행복한", "사랑", "한빛", "늘봄", "참",
    "좋은", "우리", "믿음", "온누리", "365", "연세", "서울", "제일", "중앙", "본", "맑은", "으뜸",
    "희망", "다온", "가온", "봄날", "선한", "건강한",
)  # fmt: skip
# Invented university names for 상급종합병원, so that no generated name is a real teaching hospital.
_UNIVERSITY_PREFIXES = ("한빛", "늘봄", "새누리", "푸른솔", "해오름", "가온", "다온", "한결", "누리", "솔빛")
_HOSPITAL_SPECIALTIES = {
    "05": ("05", "06", "21", "09", "16", "01"),
    "06": ("06", "05", "21", "09", "16", "01"),
    "01": ("01", "23", "16", "19", "04"),
    "10": ("10", "11", "16", "09", "01"),
}
_GENERAL_HOSPITAL = ("01", "04", "05", "16", "21", "09", "23")
_GENERAL_DEPARTMENTS = (
    "01", "02", "03", "04", "05", "06", "09", "10", "11", "12", "13", "14", "15", "16", "19", "21",
    "23", "24",
)  # fmt: skip
_TERTIARY_DEPARTMENTS = (*_GENERAL_DEPARTMENTS, "07", "08", "17", "18", "22")


# ---------------------------------------------------------------------------------------------
# Tables, loaded once


@dataclass(frozen=True, slots=True)
class _Weighted:
    """Items with precomputed cumulative weights, drawn in O(log n) with ``bisect``."""

    items: tuple[Any, ...]
    cum: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Sequence[tuple[Any, float]]) -> _Weighted:
        total, cum = 0.0, []
        for _, weight in pairs:
            if weight <= 0:
                raise ValueError(f"weights must be positive, got {weight!r}")
            total += weight
            cum.append(total)
        return cls(tuple(item for item, _ in pairs), tuple(cum))

    def pick(self, rng: Random) -> Any:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


@dataclass(frozen=True, slots=True)
class _Area:
    """One 시군구 (or 세종 읍·면·동) with its roads, postcodes and address pieces."""

    sido: str
    sido_code: str
    area_code: str
    sigungu: str
    town: str
    head: str  # "서울특별시 강남구" (+ " 애월읍" for 읍·면)
    tail: str  # " (어진동)" for 동, else ""
    roads: tuple[str, ...]
    postcode_prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Sido:
    name: str
    short: str
    code: str
    area_code: str
    areas: tuple[_Area, ...]


def _load(name: str) -> dict[str, Any]:
    return json.loads(fixture_path("people", name).read_text(encoding="utf-8"))


def _area(sido: dict[str, Any], entry: dict[str, Any]) -> _Area:
    town, kind = entry.get("town", ""), entry.get("town_kind", "")
    head = " ".join(p for p in (sido["sido"], entry["sigungu"], town if kind == "읍면" else "") if p)
    return _Area(
        sido=sido["sido"], sido_code=sido["code"], area_code=sido["area_code"], sigungu=entry["sigungu"],
        town=town, head=head, tail=f" ({town})" if kind == "동" else "", roads=tuple(entry["roads"]),
        postcode_prefixes=tuple(entry["postcode_prefixes"]),
    )  # fmt: skip


def _sido(entry: dict[str, Any]) -> _Sido:
    areas = tuple(_area(entry, a) for a in entry["sigungu"])
    return _Sido(entry["sido"], entry["short"], entry["code"], entry["area_code"], areas)


def _given_tables(data: dict[str, dict[str, list[list[Any]]]]) -> dict[tuple[str, int], _Weighted]:
    return {
        (sex, int(cohort)): _Weighted.of([(name, weight) for name, weight in rows])
        for sex, cohorts in data.items()
        for cohort, rows in cohorts.items()
    }


def _age_weights() -> tuple[float, ...]:
    weights = [0.0] * (_MAX_AGE + 1)
    for low, high, thousands in _AGE_BANDS:
        for age in range(low, high + 1):
            weights[age] = thousands / (high - low + 1)
    return tuple(weights)


_SURNAMES = _Weighted.of([(s, n) for s, n in _load("surnames.json")["data"]])
_GIVEN_NAMES_DOC = _load("given-names.json")
_GIVEN = _given_tables(_GIVEN_NAMES_DOC["data"])
_COHORTS = tuple(sorted(_GIVEN_NAMES_DOC["cohorts"]))
_LENGTHS_DOC = _load("given-name-lengths.json")
_LENGTH_SHARES: dict[str, float] = _LENGTHS_DOC["shares"]
_ONE_SYLLABLE = {sex: tuple(names) for sex, names in _LENGTHS_DOC["data"]["one_syllable"].items()}
_THREE_SYLLABLES = {sex: tuple(names) for sex, names in _LENGTHS_DOC["data"]["three_syllables"].items()}
_FOREIGN_DOC = _load("foreign-residents.json")
_FOREIGN_ORIGINS = _Weighted.of([(entry, entry["weight"]) for entry in _FOREIGN_DOC["data"]])
#: Share of patients who are foreign residents (외국인등록번호 7th digit 5–8), and their ages.
FOREIGN_RESIDENT_SHARE: float = _FOREIGN_DOC["share"]
FOREIGN_RESIDENT_AGES: tuple[int, int] = tuple(_FOREIGN_DOC["ages"])  # type: ignore[assignment]
_ADDRESS_DOC = _load("addresses.json")
_SIDO = _Weighted.of([(_sido(s), s["population"]) for s in _ADDRESS_DOC["data"]])
_SIDO_BY_CODE: dict[str, _Sido] = {s.code: s for s in _SIDO.items}
# 보건지소, 보건진료소 and 보건의료원 serve 읍·면, so they are only placed in 읍·면 areas.
_RURAL_AREAS = tuple(a for s in _SIDO.items for a in s.areas if a.town and not a.tail)
#: Every 시군구 (세종: 읍·면·동) of the address table in table order; an area is named by its index here.
_AREAS = tuple(a for s in _SIDO.items for a in s.areas)
_SIDO_POPULATION = {s["code"]: s["population"] for s in _ADDRESS_DOC["data"]}
#: Residents of each area: its 시도's population spread evenly over the 시도's areas (the table has no more).
AREA_WEIGHTS: tuple[float, ...] = tuple(_SIDO_POPULATION[a.sido_code] / len(_SIDO_BY_CODE[a.sido_code].areas)
                                        for a in _AREAS)
_RURAL_TYPES = frozenset({"72", "73", "75"})
_AGE_WEIGHTS = _age_weights()
_CLINIC_DEPT = _Weighted.of(_CLINIC_DEPARTMENTS)


@cache
def _age_table(min_age: int, max_age: int) -> _Weighted:
    return _Weighted.of([(age, _AGE_WEIGHTS[age]) for age in range(min_age, max_age + 1)])


@lru_cache(maxsize=8192)
def _birth_window(today: date, age: int) -> tuple[int, int]:
    """First ordinal and number of days on which someone aged ``age`` on ``today`` was born."""
    latest = _years_before(today, age)
    earliest = _years_before(today, age + 1) + timedelta(days=1)
    return earliest.toordinal(), latest.toordinal() - earliest.toordinal() + 1


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap target year
        return day.replace(year=day.year - years, day=28)


@cache
def _codes(file_name: str) -> dict[str, dict[str, Any]]:
    """A code list from ``fixtures/codes`` (loaded on first use: those files are shipped separately)."""
    return json.loads(fixture_path("codes", file_name).read_text(encoding="utf-8"))["codes"]


@cache
def _code_table(file_name: str, filters: tuple[tuple[str, Any], ...]) -> _Weighted:
    rows = [
        (code, float(entry.get("weight", 1)))
        for code, entry in _codes(file_name).items()
        if all(_matches(entry, key, want) for key, want in filters)
    ]
    if not rows:
        wanted = ", ".join(f"{k}={v!r}" for k, v in filters)
        raise ValueError(f"no entry of fixtures/codes/{file_name} matches {wanted}")
    return _Weighted.of(rows)


def _matches(entry: dict[str, Any], key: str, want: Any) -> bool:
    value = entry.get(key)
    if isinstance(value, list | tuple | set):
        return want in value
    if isinstance(want, bool) and not isinstance(value, bool):
        return (value is not None) == want  # e.g. big_three=True: any category
    return value == want


def _department_name(code: str) -> str:
    return _codes("departments.json")[code]["ko"]


# ---------------------------------------------------------------------------------------------
# Pure helpers


def resident_gender_digit(birth_year: int, sex: str, foreigner: bool = False) -> int:
    """The 7th digit of a 주민등록번호 / 외국인등록번호: century and sex, odd = male."""
    _check_sex(sex)
    if 1900 <= birth_year <= 1999:
        base = 1
    elif 2000 <= birth_year <= 2099:
        base = 3
    else:
        raise ValueError(f"birth_year {birth_year} is outside 1900–2099, which the masked form can express")
    return base + (4 if foreigner else 0) + (1 if sex == "F" else 0)


def _check_sex(sex: str) -> None:
    if sex not in ("M", "F"):
        raise ValueError(f"sex must be 'M' or 'F', got {sex!r}")


def _cohort(birth_year: int) -> int:
    decade = birth_year - birth_year % 10
    return min(max(decade, _COHORTS[0]), _COHORTS[-1])


def _uniform(rng: Random, items: Sequence[Any]) -> Any:
    return items[int(rng.random() * len(items))]


def _digits(rng: Random, width: int) -> str:
    return f"{int(rng.random() * 10**width):0{width}d}"


def _area_stem(address: dict[str, Any]) -> str:
    """Place stem for names: 강남구 → 강남, 성남시 분당구 → 분당, 애월읍 → 애월; 중구 → the 시도."""
    place = address["town"] or address["sigungu"].split(" ")[-1]
    stem = place[:-1] if place[-1:] in ("구", "시", "군", "동", "읍", "면") else place
    return stem if len(stem) > 1 else _SIDO_BY_CODE[address["sido_code"]].short


# ---------------------------------------------------------------------------------------------
# The provider


class KoreanPeopleProvider(BaseProvider):
    """Faker provider for coherent, clearly synthetic Korean patients and care providers."""

    # --- people -----------------------------------------------------------------------------

    def kr_surname(self) -> str:
        """A surname drawn with 2015 census weights."""
        return _SURNAMES.pick(self.generator.random)

    def kr_given_name(self, sex: str, birth_year: int) -> str:
        """A given name popular for ``sex`` ("M"/"F") in the decade of ``birth_year``."""
        _check_sex(sex)
        return _GIVEN[(sex, _cohort(birth_year))].pick(self.generator.random)

    def kr_person_given_name(self, sex: str, birth_year: int) -> str:
        """A person's given name: mostly two syllables of the decade's style (drawn whole or composed of two
        names' syllables), some of one or three syllables (fixtures/people/given-name-lengths.json)."""
        _check_sex(sex)
        rng = self.generator.random
        draw = rng.random()
        if draw < _LENGTH_SHARES["one_syllable"]:
            return _uniform(rng, _ONE_SYLLABLE[sex])
        if draw < _LENGTH_SHARES["one_syllable"] + _LENGTH_SHARES["three_syllables"]:
            return _uniform(rng, _THREE_SYLLABLES[sex])
        table = _GIVEN[(sex, _cohort(birth_year))]
        if rng.random() < _LENGTH_SHARES["composed_two_syllables"]:
            return table.pick(rng)[0] + table.pick(rng)[1]
        return table.pick(rng)

    def kr_foreign_resident_name(self, sex: str, birth_year: int) -> str:
        """A foreign resident's name as registered: Korean for a 한국계 중국인, else romanised FAMILY GIVEN."""
        _check_sex(sex)
        rng = self.generator.random
        origin = _FOREIGN_ORIGINS.pick(rng)
        if origin.get("korean_name"):
            return self.kr_surname() + self.kr_person_given_name(sex, birth_year)
        return f"{_uniform(rng, origin['family'])} {_uniform(rng, origin['given'][sex])}"

    def kr_name(self, sex: str | None = None, birth_year: int | None = None) -> str:
        """Surname + given name; sex and birth year are drawn when not given."""
        rng = self.generator.random
        if sex is None:
            sex = "M" if rng.random() < 0.5 else "F"
        if birth_year is None:
            birth_year = DEFAULT_TODAY.year - _age_table(0, 90).pick(rng)
        return self.kr_surname() + self.kr_given_name(sex, birth_year)

    def kr_birth_date(self, min_age: int = 0, max_age: int = 90, today: date = DEFAULT_TODAY) -> date:
        """A real calendar date for someone aged min_age..max_age on ``today`` (2024 age structure)."""
        if not 0 <= min_age <= max_age <= _MAX_AGE:
            raise ValueError(f"need 0 <= min_age <= max_age <= {_MAX_AGE}, got {min_age}, {max_age}")
        rng = self.generator.random
        first, days = _birth_window(today, _age_table(min_age, max_age).pick(rng))
        return date.fromordinal(first + int(rng.random() * days))

    def kr_masked_resident_number(self, birth_date: date, sex: str, foreigner: bool = False) -> str:
        """``YYMMDD-G******``: the only resident-number form the kit emits."""
        digit = resident_gender_digit(birth_date.year, sex, foreigner)
        return mask_resident_number(birth_date.strftime("%y%m%d"), digit)

    def kr_patient(
        self, min_age: int = 0, max_age: int = 95, today: date = DEFAULT_TODAY, foreigner: bool = False,
        area: int | None = None,
    ) -> dict[str, Any]:
        """A patient: name, sex, birth date, masked RRN, address (in ``area`` when given), mobile, 환자등록번호;
        ``foreigner``: a foreign resident (외국인등록번호, the name of the residence card)."""
        rng = self.generator.random
        sex = "M" if rng.random() < 0.5 else "F"
        birth = self.kr_birth_date(min_age, max_age, today)
        name = (self.kr_foreign_resident_name(sex, birth.year) if foreigner
                else self.kr_surname() + self.kr_person_given_name(sex, birth.year))
        return {
            "name": name,
            "sex": sex,
            "birth_date": birth.isoformat(),
            "resident_number_masked": self.kr_masked_resident_number(birth, sex, foreigner),
            "address": self.kr_address(area=area),
            "phone": self.kr_mobile(),
            "patient_number": _digits(rng, 8),
        }

    # --- addresses and phones ---------------------------------------------------------------

    def kr_address(self, sido_code: str | None = None, area: int | None = None) -> dict[str, str]:
        """A coherent road-name address: 시도 → 시군구 → road, with a matching postcode prefix.

        ``area`` (an index into the areas :data:`AREA_WEIGHTS` weighs) fixes the 시군구."""
        rng = self.generator.random
        if area is not None:
            return self._address_in(rng, _AREAS[area])
        sido = _SIDO.pick(rng) if sido_code is None else self._sido(sido_code)
        return self._address_in(rng, _uniform(rng, sido.areas))

    @staticmethod
    def _address_in(rng: Random, area: _Area) -> dict[str, str]:
        road = _uniform(rng, area.roads)
        main = 1 + int(rng.random() * 299)
        building = str(main) if rng.random() < 0.85 else f"{main}-{1 + int(rng.random() * 30)}"
        return {
            "sido": area.sido,
            "sido_code": area.sido_code,
            "sigungu": area.sigungu,
            "town": area.town,
            "road": road,
            "building_number": building,
            "postcode": _uniform(rng, area.postcode_prefixes) + _digits(rng, 2),
            "full": f"{area.head} {road} {building}{area.tail}",
        }

    def kr_mobile(self) -> str:
        """``010-0NNN-NNNN``: a mobile number no subscriber can have."""
        rng = self.generator.random
        return f"010-0{_digits(rng, 3)}-{_digits(rng, 4)}"

    def kr_landline(self, sido_code: str | None = None) -> str:
        """``{지역번호}-0NN-NNNN``: the 시도's area code with an exchange that cannot exist."""
        rng = self.generator.random
        sido = _SIDO.pick(rng) if sido_code is None else self._sido(sido_code)
        return f"{sido.area_code}-0{_digits(rng, 2)}-{_digits(rng, 4)}"

    @staticmethod
    def _sido(code: str) -> _Sido:
        return _lookup(_SIDO_BY_CODE, code, "시도 code")

    # --- providers --------------------------------------------------------------------------

    def kr_provider_code(self, facility_type: str = "31") -> str:
        """Synthetic 요양기관기호: ``99`` + 종별 group digit + 5 digits."""
        group = self._facility(facility_type)
        return SYNTHETIC_PROVIDER_PREFIX + group + _digits(self.generator.random, 5)

    def kr_business_number(self, facility_type: str | None = None) -> str:
        """``000-GG-SSSSC`` with a valid check digit; tax office 000 does not exist."""
        rng = self.generator.random
        kind = self._business_kind(rng, facility_type)
        serial = f"{1 + int(rng.random() * 9999):04d}"
        first_nine = "000" + kind + serial
        return format_business_number(first_nine + str(business_number_check_digit(first_nine)))

    def kr_provider(self, facility_type: str = "31", area: int | None = None,
                    department: str | None = None) -> dict[str, Any]:
        """A care provider whose name, departments, address (in ``area`` when given) and phone fit together;
        ``department``: the speciality of a 의원 (drawn when not given)."""
        self._facility(facility_type)
        rng = self.generator.random
        if area is not None:
            address = self.kr_address(area=area)
        elif facility_type in _RURAL_TYPES:
            address = self._address_in(rng, _uniform(rng, _RURAL_AREAS))
        else:
            address = self.kr_address()
        name, departments = self._provider_name(rng, facility_type, address, department)
        return {
            "provider_code": self.kr_provider_code(facility_type),
            "facility_type": facility_type,
            "name": name,
            "departments": list(departments),
            "business_number": self.kr_business_number(facility_type),
            "phone": self.kr_landline(address["sido_code"]),
            "address": address,
            "representative": self.kr_name(birth_year=DEFAULT_TODAY.year - _age_table(30, 70).pick(rng)),
        }

    @staticmethod
    def _facility(facility_type: str) -> str:
        return _lookup(PROVIDER_CODE_GROUPS, facility_type, "요양기관 종별코드")

    @staticmethod
    def _business_kind(rng: Random, facility_type: str | None) -> str:
        if facility_type in ("31", "51", "93"):
            return str(90 + int(rng.random() * 10))
        if facility_type == "81" or facility_type is None:
            return f"{1 + int(rng.random() * 79):02d}"
        if facility_type in ("71", "72", "73", "75"):
            return "83"
        return "82"

    @staticmethod
    def _provider_name(rng: Random, facility_type: str, address: dict[str, Any],
                       department: str | None = None) -> tuple[str, tuple[str, ...]]:
        prefix, stem = _uniform(rng, _NAME_PREFIXES), _area_stem(address)
        place = stem if rng.random() < 0.3 else prefix
        if facility_type == "31":
            dept = department or _CLINIC_DEPT.pick(rng)
            return f"{place}{'' if dept == '00' else _department_name(dept)}의원", (dept,)
        if facility_type == "21":
            dept = _uniform(rng, (*_HOSPITAL_SPECIALTIES, ""))
            if dept:
                return f"{prefix}{_department_name(dept)}병원", _HOSPITAL_SPECIALTIES[dept]
            return f"{stem}{prefix}병원", _GENERAL_HOSPITAL
        template, departments = _NAME_TEMPLATES[facility_type]
        district = address["sigungu"].split(" ")[-1] or _SIDO_BY_CODE[address["sido_code"]].short
        name = template.format(
            prefix=prefix, stem=stem, place=place, district=district,
            university=_uniform(rng, _UNIVERSITY_PREFIXES),
        )  # fmt: skip
        return name, departments

    # --- code lists -------------------------------------------------------------------------

    def kr_diagnosis(self, msk: bool | None = None, severe: bool | None = None) -> dict[str, Any]:
        """A KCD entry from ``fixtures/codes/kcd.json``, optionally filtered by its flags."""
        return self._code("kcd.json", msk=msk, severe=severe)

    def kr_procedure(
        self,
        chapter: str | None = None,
        covered: bool | None = None,
        big_three: bool | str | None = None,
        setting: str | None = None,
    ) -> dict[str, Any]:
        """A procedure from ``fixtures/codes/procedures.json``.

        ``big_three`` is a category ("mri", "manual_therapy" …) or True/False for any/none;
        ``setting`` ("outpatient"/"inpatient") must be among the entry's settings.
        """
        return self._code("procedures.json", chapter=chapter, covered=covered, big_three=big_three, settings=setting)

    def kr_drug(self, route: str | None = None, covered: bool | None = None) -> dict[str, Any]:
        """A drug entry from ``fixtures/codes/drugs.json``."""
        return self._code("drugs.json", route=route, covered=covered)

    def _code(self, file_name: str, **filters: Any) -> dict[str, Any]:
        wanted = tuple(sorted((k, v) for k, v in filters.items() if v is not None))
        code = _code_table(file_name, wanted).pick(self.generator.random)
        entry = _codes(file_name)[code]
        # copy lists so that a caller editing its entry cannot change the cached table
        return {"code": code, **{k: list(v) if isinstance(v, list) else v for k, v in entry.items()}}


_NAME_TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "01": ("{university}대학교병원", _TERTIARY_DEPARTMENTS),
    "11": ("{stem}{prefix}종합병원", _GENERAL_DEPARTMENTS),
    "28": ("{place}요양병원", ("01", "21", "23")),
    "29": ("{stem}{prefix}병원", ("03",)),
    "41": ("{place}치과병원", ("49", "50", "52", "55")),
    "51": ("{place}치과의원", ("49",)),
    "71": ("{district}보건소", ("00", "23")),
    "72": ("{stem}보건지소", ("00",)),
    "73": ("{stem}보건진료소", ()),
    "75": ("{stem}보건의료원", ("00", "01", "23")),
    "81": ("{place}약국", ()),
    "92": ("{place}한방병원", ("80", "85", "86")),
    "93": ("{place}한의원", ("80", "85")),
}


def register(fake: Faker) -> Faker:
    """Add :class:`KoreanPeopleProvider` to ``fake`` (a ``Faker`` or ``Generator``) and return it."""
    fake.add_provider(KoreanPeopleProvider)
    return fake


def _lookup(table: dict[str, Any], code: str, what: str) -> Any:
    """``table[code]``, or a ValueError that lists the known codes."""
    try:
        return table[code]
    except KeyError:
        raise ValueError(f"unknown {what} {code!r}; known: {', '.join(sorted(table))}") from None
