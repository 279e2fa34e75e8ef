"""Load the payout rule tables (fixtures/rules/*.json), check them, and compile them for the hot path.

The tables are the single place where numbers live: rates are decimal strings ("0.2") turned into exact
integer basis points here, money is integer won. Format: fixtures/rules/README.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from ...fixtures import fixture_path
from .errors import TableError

FORMAT = "s24kit-payout-table/1"
#: Rates are exact in basis points: amount × bp // BP is the rate applied, rounded down to the won.
BP = 10_000
TIERS = ("clinic", "hospital", "public_health", "general", "tertiary")
BUCKETS = ("covered", "non_covered", "big_three", "private_room")
BIG_THREE_KINDS = ("manual_therapy", "eswt", "prolotherapy", "injection", "mri")
ELIGIBILITY = ("any", "severe", "non_severe")
_ID = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True, slots=True)
class OutpatientRule:
    grouping: str  # "visit": same day + same purpose merge; "day": everything of a day
    pharmacy: str  # "merged": pharmacy joins its visit's deductible; "separate": own deductible per prescription
    rate_covered: int  # basis points
    rate_non_covered: int
    nhi_copay_rate: bool
    floors: Mapping[str, int]  # tier → won; "pharmacy" in separate mode
    cap: int | None
    cap_per: str
    count_limit: int | None
    rx_count_limit: int | None
    sources: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class InpatientRule:
    rate_covered: int
    rate_non_covered: int
    share_cap: int | None
    share_cap_tiers: frozenset[str] | None  # None: every tier
    admission_cap: int | None
    admission_cap_tiers: frozenset[str] | None
    room: str  # paid | as_non_covered | excluded
    room_rate: int
    room_daily_cap: int
    sources: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class BigThreeGroup:
    name: str
    kinds: tuple[str, ...]
    rider: str | None
    annual_amount: int | None
    annual_count: int | None
    review_every: int | None
    source: str


@dataclass(frozen=True, slots=True)
class BigThreeRule:
    floor: int
    rate: int
    by_kind: Mapping[str, BigThreeGroup]
    excluded: frozenset[str]
    sources: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AnnualLimit:
    key: str
    amount: int
    per: str  # "year" or "diagnosis"
    settings: frozenset[str]
    source: str


@dataclass(frozen=True, slots=True)
class Axis:
    id: str
    label_ko: str
    label_en: str
    rider: str | None
    eligibility: str
    takes: frozenset[str]
    outpatient: OutpatientRule | None
    inpatient: InpatientRule | None
    big_three: BigThreeRule | None
    annual_limit: AnnualLimit | None


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    generation: str
    variant: str
    label_ko: str
    label_en: str
    status: str
    sold_from: date | None
    sold_to: date | None
    riders: Mapping[str, Mapping[str, str]]
    limitation_years: int
    overseas_paid: bool
    ceiling_excess_paid: bool
    nhi_rate: int
    nhi_axis: str
    private_room_rows: frozenset[str]
    axes: tuple[Axis, ...]
    sources: Mapping[str, str]

    def axis(self, axis_id: str) -> Axis:
        for axis in self.axes:
            if axis.id == axis_id:
                return axis
        raise KeyError(axis_id)

    def sold_on(self, day: date) -> bool:
        return (self.sold_from is None or self.sold_from <= day) and (self.sold_to is None or day <= self.sold_to)


# -- loading ----------------------------------------------------------------------------------------------

@cache
def table_ids() -> tuple[str, ...]:
    """Ids of the shipped tables (file names without .json); shipped data, so listed once per process."""
    folder = fixture_path("rules")
    return tuple(sorted(e.name.removesuffix(".json") for e in folder.iterdir()
                        if e.name.endswith(".json") and e.is_file()))


@cache
def load_table(table_id: str) -> Table:
    """The compiled table ``table_id`` (cached: tables are loaded and checked once per process)."""
    if table_id not in table_ids():
        raise TableError("table", f"알 수 없는 규칙표 {table_id!r}", f"unknown rule table {table_id!r}",
                         f"다음 중 하나를 쓰십시오: {', '.join(table_ids())}", f"use one of {', '.join(table_ids())}")
    text = fixture_path("rules", f"{table_id}.json").read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TableError(f"fixtures/rules/{table_id}.json", f"JSON 오류: {exc}", f"invalid JSON: {exc}",
                         "파일을 고치십시오", "fix the file") from None
    return compile_table(raw, f"fixtures/rules/{table_id}.json")


def compile_table(raw: Any, where: str = "table") -> Table:
    """Check a raw table (format of fixtures/rules/README.md) and compile it."""
    return _Compiler(where).table(raw)


@cache
def all_tables() -> tuple[Table, ...]:
    return tuple(load_table(t) for t in table_ids())


def resolve_table(generation: str | None, variant: str | None, contract_date: date) -> Table:
    """The table of a policy: by generation (+ variant) and the contract date's sale period."""
    tables = all_tables()
    generations = sorted({t.generation for t in tables})
    if generation is not None and generation not in generations:
        raise TableError("generation", f"알 수 없는 세대 {generation!r}", f"unknown generation {generation!r}",
                         f"{', '.join(generations)} 중 하나를 쓰거나 table에 규칙표 id를 쓰십시오",
                         f"use one of {', '.join(generations)}, or give a rule table id in 'table'")
    found = [t for t in tables if (generation is None or t.generation == generation) and t.sold_on(contract_date)
             and (variant is None or t.variant == variant)]
    if len(found) > 1:
        standard = [t for t in found if t.variant == "standard"]
        found = standard if len(standard) == 1 else found
    if len(found) == 1:
        return found[0]
    options = sorted({t.variant for t in tables if generation is None or t.generation == generation})
    if not found:
        variants = ", ".join(options)
        raise TableError("contract_date",
                         f"{generation or '세대'}·{variant or '유형'}에 맞는 규칙표가 {contract_date} 계약에 없습니다",
                         f"no rule table of {generation or 'any generation'} / {variant or 'any variant'} was sold on "
                         f"{contract_date}",
                         f"계약일·세대를 확인하거나 table에 규칙표 id를 쓰십시오 (유형: {variants})",
                         f"check contract_date and generation, or give a table id in 'table' (variants: {variants})")
    raise TableError("variant", f"유형을 정해야 합니다: {', '.join(t.variant for t in found)}",
                     f"several tables match; choose a variant: {', '.join(t.variant for t in found)}",
                     "variant 또는 table을 쓰십시오", "give 'variant' or 'table'")


# -- checking and compiling -------------------------------------------------------------------------------

class _Compiler:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, ko: str, en: str, fix_ko: str = "", fix_en: str = "") -> TableError:
        return TableError(f"{self.where}#{path}", ko, en, fix_ko or "fixtures/rules/README.md 형식을 따르십시오",
                          fix_en or "follow the format of fixtures/rules/README.md")

    def get(self, obj: Any, key: str, path: str, kinds: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(path, "객체여야 합니다", "must be an object")
        if key not in obj:
            if optional:
                return None
            raise self.fail(f"{path}/{key}", "필수 항목이 없습니다", "required key is missing")
        value = obj[key]
        if value is None and optional:
            return None
        if (isinstance(value, bool) and kinds in (int, (int,))) or not isinstance(value, kinds):
            raise self.fail(f"{path}/{key}", f"형식 오류: {value!r}", f"wrong type: {value!r}")
        return value

    def money(self, obj: Any, key: str, path: str, *, optional: bool = False) -> int | None:
        value = self.get(obj, key, path, int, optional=optional)
        if value is not None and value < 0:
            raise self.fail(f"{path}/{key}", "음수 금액", "negative amount")
        return value

    def rate(self, obj: Any, key: str, path: str) -> int:
        text = self.get(obj, key, path, str)
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal(-1)
        scaled = value * BP
        if not (0 <= value <= 1) or scaled != scaled.to_integral_value():
            raise self.fail(f"{path}/{key}", f"비율 {text!r}은 0~1의 소수 문자열(소수점 넷째 자리까지)이어야 합니다",
                            f"rate {text!r} must be a decimal string between 0 and 1 with at most 4 decimals")
        return int(scaled)

    def source(self, obj: dict, path: str) -> str:
        src = obj.get("source")
        if not isinstance(src, str) or not src.strip():
            raise self.fail(f"{path}/source", "숫자 옆에 출처(source)가 없습니다", "a number without its source note",
                            "source에 docs/domain.md §4 / 별표15 / 참조 JSON id를 적으십시오",
                            "cite docs/domain.md §4 / 별표15 / the reference JSON id in 'source'")
        return src

    def no_floats(self, value: Any, path: str) -> None:
        if isinstance(value, float):
            raise self.fail(path, "실수(float)는 쓸 수 없습니다: 금액은 정수 원, 비율은 문자열",
                            "floats are not allowed: money is integer won, rates are decimal strings")
        if isinstance(value, dict):
            has_number = any((isinstance(v, int) and not isinstance(v, bool)) or (k == "rate" and isinstance(v, str))
                             for k, v in value.items())
            if has_number and path and "source" not in value:
                self.source(value, path)
            for k, v in value.items():
                self.no_floats(v, f"{path}/{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.no_floats(v, f"{path}/{i}")

    def day(self, obj: dict, key: str, path: str) -> date | None:
        text = self.get(obj, key, path, str, optional=True)
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self.fail(f"{path}/{key}", f"날짜 형식 오류 {text!r}", f"not a YYYY-MM-DD date: {text!r}") from None

    def table(self, raw: Any) -> Table:
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise self.fail("/format", f"format은 {FORMAT!r}이어야 합니다", f"format must be {FORMAT!r}")
        self.no_floats(raw, "")
        riders = self.get(raw, "riders", "", dict)
        rules = self.get(raw, "rules", "", dict)
        sources = {}
        for name in ("rounding", "limitation", "overseas", "ceiling_excess", "nhi_not_applied", "private_room_rows"):
            sources[name] = self.source(self.get(rules, name, "/rules", dict), f"/rules/{name}")
        if self.get(rules["rounding"], "mode", "/rules/rounding", str) != "floor":
            raise self.fail("/rules/rounding/mode", "지원하는 반올림 방식은 floor(원 미만 절사)뿐입니다",
                            "the only rounding mode supported is 'floor' (round down to the won)")
        sold = self.get(raw, "sold", "", dict)
        sources["sold"] = self.source(sold, "/sold")
        axes = tuple(self.axis(a, f"/axes/{i}", riders) for i, a in enumerate(self.get(raw, "axes", "", list)))
        ids = [a.id for a in axes]
        if len(set(ids)) != len(ids) or not axes:
            raise self.fail("/axes", "축 id가 없거나 중복됩니다", "axes are missing or have duplicate ids")
        nhi = rules["nhi_not_applied"]
        nhi_axis = self.get(nhi, "axis", "/rules/nhi_not_applied", str)
        if nhi_axis not in ids:
            raise self.fail("/rules/nhi_not_applied/axis", f"없는 축 {nhi_axis!r}", f"unknown axis {nhi_axis!r}")
        room_rows = self.get(rules["private_room_rows"], "codes", "/rules/private_room_rows", list)
        for i, field in enumerate(("id", "generation", "variant")):
            value = self.get(raw, field, "", str)
            if i < 2 and not re.fullmatch(r"^[a-z0-9_-]+$", value):
                raise self.fail(f"/{field}", f"{value!r}: 소문자·숫자·-·_만",
                                f"{value!r}: lowercase letters, digits, - and _ only")
        return Table(
            id=raw["id"], generation=raw["generation"], variant=raw["variant"],
            label_ko=self.get(raw, "label_ko", "", str), label_en=self.get(raw, "label_en", "", str),
            status=self.get(raw, "status", "", str), sold_from=self.day(sold, "from", "/sold"),
            sold_to=self.day(sold, "to", "/sold"), riders=riders,
            limitation_years=self.money(rules["limitation"], "years", "/rules/limitation"),
            overseas_paid=self.get(rules["overseas"], "paid", "/rules/overseas", bool),
            ceiling_excess_paid=self.get(rules["ceiling_excess"], "paid", "/rules/ceiling_excess", bool),
            nhi_rate=self.rate(nhi, "rate", "/rules/nhi_not_applied"), nhi_axis=nhi_axis,
            private_room_rows=frozenset(room_rows), axes=axes, sources=sources,
        )

    def axis(self, raw: Any, path: str, riders: dict) -> Axis:
        axis_id = self.get(raw, "id", path, str)
        if not _ID.match(axis_id):
            raise self.fail(f"{path}/id", f"축 id {axis_id!r}는 ^[a-z0-9_]+$",
                            f"axis id {axis_id!r} must match ^[a-z0-9_]+$")
        rider = self.get(raw, "rider", path, str, optional=True)
        if rider is not None and rider not in riders:
            raise self.fail(f"{path}/rider", f"riders에 없는 특약 {rider!r}",
                            f"rider {rider!r} is not declared in 'riders'")
        eligibility = self.get(raw, "eligibility", path, str)
        if eligibility not in ELIGIBILITY:
            raise self.fail(f"{path}/eligibility", f"{eligibility!r}", f"eligibility must be one of {ELIGIBILITY}")
        takes = frozenset(self.get(raw, "takes", path, list))
        if not takes or not takes <= set(BUCKETS):
            raise self.fail(f"{path}/takes", f"takes는 {BUCKETS}의 부분집합", f"takes must be a subset of {BUCKETS}")
        big = None
        out = inp = None
        if takes == {"big_three"}:
            big = self.big_three(self.get(raw, "big_three", path, dict), f"{path}/big_three", riders)
        else:
            if "big_three" in raw:
                raise self.fail(f"{path}/big_three", "3대 비급여 축은 takes가 ['big_three']뿐이어야 합니다",
                                "a big-three axis takes ['big_three'] only")
            out = self.outpatient(self.get(raw, "outpatient", path, dict), f"{path}/outpatient", takes)
            inp = self.inpatient(self.get(raw, "inpatient", path, dict), f"{path}/inpatient", takes)
        limit_raw = self.get(raw, "annual_limit", path, dict, optional=True)
        limit = None
        if limit_raw is not None:
            lp = f"{path}/annual_limit"
            per = self.get(limit_raw, "per", lp, str)
            settings = frozenset(self.get(limit_raw, "settings", lp, list))
            if per not in ("year", "diagnosis") or not settings <= {"inpatient", "outpatient"}:
                raise self.fail(lp, "per는 year|diagnosis, settings는 inpatient/outpatient",
                                "per must be year|diagnosis and settings a subset of inpatient/outpatient")
            limit = AnnualLimit(self.get(limit_raw, "key", lp, str), self.money(limit_raw, "amount", lp), per, settings,
                                self.source(limit_raw, lp))
        return Axis(axis_id, self.get(raw, "label_ko", path, str), self.get(raw, "label_en", path, str), rider,
                    eligibility, takes, out, inp, big, limit)

    def rates(self, raw: dict, path: str, takes: frozenset[str]) -> tuple[int, int]:
        needs = {"covered"} & takes
        if takes & {"non_covered", "big_three", "private_room"}:
            needs.add("non_covered")
        for key in needs:
            self.get(raw, key, path, str)
        covered = self.rate(raw, "covered", path) if "covered" in raw else 0
        non_covered = self.rate(raw, "non_covered", path) if "non_covered" in raw else 0
        self.source(raw, path)
        return covered, non_covered

    def outpatient(self, raw: dict, path: str, takes: frozenset[str]) -> OutpatientRule:
        grouping = self.get(raw, "grouping", path, str)
        pharmacy = self.get(raw, "pharmacy", path, str)
        if grouping not in ("visit", "day") or pharmacy not in ("merged", "separate"):
            raise self.fail(path, "grouping은 visit|day, pharmacy는 merged|separate",
                            "grouping must be visit|day and pharmacy merged|separate")
        sources = {}
        rate_c, rate_n = self.rates(self.get(raw, "rate", path, dict), f"{path}/rate", takes)
        sources["rate"] = raw["rate"]["source"]
        floors_raw = self.get(raw, "floor", path, dict)
        sources["floor"] = self.source(floors_raw, f"{path}/floor")
        needed = TIERS + (("pharmacy",) if pharmacy == "separate" else ())
        floors = {tier: self.money(floors_raw, tier, f"{path}/floor") for tier in needed}
        nhi = self.get(raw, "nhi_copay_rate", path, dict, optional=True)
        if nhi is not None:
            sources["nhi_copay_rate"] = self.source(nhi, f"{path}/nhi_copay_rate")
        cap_raw = self.get(raw, "cap", path, dict, optional=True)
        cap, cap_per = None, "visit"
        if cap_raw is not None:
            cap = self.money(cap_raw, "amount", f"{path}/cap")
            cap_per = self.get(cap_raw, "per", f"{path}/cap", str)
            sources["cap"] = self.source(cap_raw, f"{path}/cap")
        counts = {}
        for key in ("annual_count", "pharmacy_annual_count"):
            c = self.get(raw, key, path, dict, optional=True)
            counts[key] = None if c is None else self.money(c, "limit", f"{path}/{key}")
            if c is not None:
                sources[key] = self.source(c, f"{path}/{key}")
        return OutpatientRule(grouping, pharmacy, rate_c, rate_n, bool(nhi and nhi.get("applies")), floors, cap,
                              cap_per, counts["annual_count"], counts["pharmacy_annual_count"], sources)

    def inpatient(self, raw: dict, path: str, takes: frozenset[str]) -> InpatientRule:
        sources = {}
        rate_c, rate_n = self.rates(self.get(raw, "rate", path, dict), f"{path}/rate", takes)
        sources["rate"] = raw["rate"]["source"]
        caps: dict[str, tuple[int | None, frozenset[str] | None]] = {}
        for key in ("annual_share_cap", "admission_cap"):
            c = self.get(raw, key, path, dict, optional=True)
            if c is None:
                caps[key] = (None, None)
                continue
            tiers = self.get(c, "tiers", f"{path}/{key}", list, optional=True)
            if tiers is not None and not set(tiers) <= set(TIERS):
                raise self.fail(f"{path}/{key}/tiers", f"tiers는 {TIERS} 중에서", f"tiers must be among {TIERS}")
            caps[key] = (self.money(c, "amount", f"{path}/{key}"), None if tiers is None else frozenset(tiers))
            sources[key] = self.source(c, f"{path}/{key}")
        room = self.get(raw, "private_room", path, dict, optional=True)
        if "private_room" in takes and room is None:
            raise self.fail(f"{path}/private_room", "private_room을 받는 축에는 상급병실 규칙이 있어야 합니다",
                            "an axis that takes private_room needs a private_room rule")
        treatment, room_rate, room_cap = "excluded", 0, 0
        if room is not None:
            treatment = self.get(room, "treatment", f"{path}/private_room", str)
            if treatment not in ("paid", "as_non_covered", "excluded"):
                raise self.fail(f"{path}/private_room/treatment", "paid|as_non_covered|excluded",
                                "treatment must be paid|as_non_covered|excluded")
            room_rate = self.rate(room, "rate", f"{path}/private_room")
            room_cap = self.money(room, "daily_average_cap", f"{path}/private_room")
            sources["private_room"] = self.source(room, f"{path}/private_room")
        return InpatientRule(rate_c, rate_n, *caps["annual_share_cap"], *caps["admission_cap"], treatment, room_rate,
                             room_cap, sources)

    def big_three(self, raw: dict, path: str, riders: dict) -> BigThreeRule:
        ded = self.get(raw, "deductible", path, dict)
        sources = {"deductible": self.source(ded, f"{path}/deductible")}
        by_kind: dict[str, BigThreeGroup] = {}
        for name, g in self.get(raw, "groups", path, dict).items():
            gp = f"{path}/groups/{name}"
            if not _ID.match(name):
                raise self.fail(gp, f"그룹 이름 {name!r}", f"group name {name!r} must match ^[a-z0-9_]+$")
            rider = self.get(g, "rider", gp, str, optional=True)
            if rider is not None and rider not in riders:
                raise self.fail(f"{gp}/rider", f"riders에 없는 특약 {rider!r}", f"rider {rider!r} is not declared")
            group = BigThreeGroup(name, tuple(self.get(g, "kinds", gp, list)), rider,
                                  self.money(g, "annual_amount", gp, optional=True),
                                  self.money(g, "annual_count", gp, optional=True),
                                  self.money(g, "review_every", gp, optional=True), self.source(g, gp))
            for kind in group.kinds:
                if kind not in BIG_THREE_KINDS or kind in by_kind:
                    raise self.fail(f"{gp}/kinds", f"알 수 없거나 중복된 종류 {kind!r}",
                                    f"unknown or repeated kind {kind!r}")
                by_kind[kind] = group
        excluded_raw = self.get(raw, "excluded", path, dict)
        excluded = frozenset(self.get(excluded_raw, "kinds", f"{path}/excluded", list))
        sources["excluded"] = self.source(excluded_raw, f"{path}/excluded")
        if excluded & set(by_kind) or not excluded <= set(BIG_THREE_KINDS):
            raise self.fail(f"{path}/excluded", "제외 종류가 그룹과 겹치거나 알 수 없습니다",
                            "excluded kinds overlap the groups or are unknown")
        floor = self.money(ded, "floor", f"{path}/deductible")
        return BigThreeRule(floor or 0, self.rate(ded, "rate", f"{path}/deductible"), by_kind, excluded, sources)
