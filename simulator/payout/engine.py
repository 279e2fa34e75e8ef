"""Adjudicate a claim: documents + policy + history → payout, explanation lines and the history after.

Steps (docs/domain.md §4): read the documents into parts (visits.py); exclude what is not payable (before the
contract, already claimed, lapsed, treatment abroad); group parts into visits (same day + same purpose;
a pharmacy bill joins the visit that issued its prescription; 5세대 rider 2: the whole day; inpatient: the
admission); route each bucket (covered, non-covered, private room, big three) to the axis of the policy's
rule table that takes it; settle each group and each big-three act (settle.py). The policy year of a part
is the one holding its visit day (admission day for inpatient stays), counted from the contract anniversary.

Limitation (상법 제662조, 3 years; dates.py): the right arises on the treatment day (outpatient), the
dispensing day (pharmacy) or the last day of the bill (inpatient: discharge or interim end); by 초일불산입 it
lapses at the end of the same calendar date three years later. A claim made on that date is in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .dates import last_claim_day
from .errors import PayoutInputError
from .history import History, YearState, history_from_json
from .labels import KIND_EN, KIND_KO
from .policy import Policy, policy_from_json
from .settle import Context, Contribution, Line, settle_acts, settle_group
from .tables import Axis, Table
from .visits import Part, parts_of

ACCIDENT_TYPES = ("disease", "injury", "traffic_injury")
_KIND_RANK = {"outpatient": 0, "inpatient": 1, "pharmacy": 2}
_EXCLUSIONS = {
    "before_contract": ("계약일 이전 진료: 보상하지 않음", "Treatment before the contract date: not covered",
                        "policy contract_date: cover starts on the contract date"),
    "duplicate": ("이미 심사한 서류: 중복 청구", "Document already adjudicated: duplicate claim",
                  "history.documents: each receipt is paid once"),
    "overseas": ("해외 의료기관 진료: 보상하지 않음", "Treatment at a foreign provider: not covered",
                 "docs/domain.md §4 cross-cutting: domestic 의료기관 only (provider.country ≠ KR)"),
}


@dataclass(slots=True)
class Adjudication:
    """The result: ``total`` won, the explanation ``lines`` (they add up to ``total``) and the history after."""

    total: int
    lines: list[Line]
    history: History
    policy: Policy
    claim_date: date
    accident_type: str
    parts: list[tuple[str, Part]] = field(default_factory=list)  # (section key, part) for the explanation

    def as_payout(self) -> dict[str, Any]:
        """The payout document (schemas/kit-v1/payout.schema.json)."""
        return {"total": self.total, "currency": "KRW",
                "policy": {"policy_number": self.policy.policy_number, "generation": self.policy.generation,
                           "variant": self.policy.variant},
                "lines": [line.as_dict() for line in self.lines], "history": self.history.summary()}


@dataclass(slots=True)
class _Group:
    axis: Axis
    setting: str
    key: str
    section: str
    purpose: str | None
    tier: str
    period: tuple[date, date]
    contributions: list[Contribution]


def _as_date(value: date | str, field_name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise PayoutInputError(field_name, f"날짜 형식이 아닙니다: {value!r}", f"not a YYYY-MM-DD date: {value!r}",
                               "YYYY-MM-DD로 쓰십시오", "write YYYY-MM-DD") from None


def adjudicate(documents: Iterable[Mapping[str, Any]], policy: Policy | Mapping[str, Any],
               history: History | Mapping[str, Any] | None = None, *, claim_date: date | str,
               accident_type: str = "disease", improvement_documented: bool = False) -> Adjudication:
    """Adjudicate the claim's kit-v1 ``documents`` under ``policy`` given the insured's ``history``.

    ``improvement_documented``: the claim documents an objective improvement after the manual-therapy acts,
    which the 10-act review gate of the big three requires (docs/domain.md §4, 4세대). The inputs are not changed.
    """
    pol = policy_from_json(policy)
    hist = history_from_json(history, pol.policy_number)
    claim_day = _as_date(claim_date, "claim_date")
    if accident_type not in ACCIDENT_TYPES:
        raise PayoutInputError("accident_type", f"알 수 없는 사고 종류 {accident_type!r}",
                               f"unknown accident_type {accident_type!r}", f"{', '.join(ACCIDENT_TYPES)} 중 하나",
                               f"use one of {', '.join(ACCIDENT_TYPES)}")
    table = pol.table
    parts, _ = parts_of(documents, table.private_room_rows)
    parts.sort(key=lambda p: (p.day, _KIND_RANK[p.kind], p.doc_id))
    run = _Run(pol, table, hist, claim_day, improvement_documented)
    for part in parts:
        run.route(part)
    total = run.settle()
    years = dict(hist.years)
    years.update(run.years)
    return Adjudication(total, run.lines, History(pol.policy_number, years), pol, claim_day, accident_type, run.parts)


class _Run:
    """The state of one adjudication: touched policy years (copied on first touch), groups, acts, lines."""

    def __init__(self, policy: Policy, table: Table, history: History, claim_day: date, improvement: bool) -> None:
        self.policy, self.table, self.history, self.claim_day = policy, table, history, claim_day
        self.improvement = improvement
        self.years: dict[str, YearState] = {}
        self.lines: list[Line] = []
        self.parts: list[tuple[str, Part]] = []
        self.groups: dict[tuple[str, str, str], _Group] = {}
        self.acts: list[tuple[str, Axis, Any, str, int, int, str, str | None, str, str]] = []
        self.seen: set[str] = set()
        self.claim_iso = claim_day.isoformat()

    def year(self, start: str) -> YearState:
        year = self.years.get(start)
        if year is None:
            old = self.history.years.get(start)
            year = self.years[start] = old.copy() if old is not None else YearState()
        return year

    # -- exclusions and grouping ------------------------------------------------------------------------

    def route(self, part: Part) -> None:
        table, policy = self.table, self.policy
        year_start = policy.year_start(part.day).isoformat()
        year = self.year(year_start)
        if self.claim_day < part.event_day:
            raise PayoutInputError("claim_date", f"청구일 {self.claim_day}이 진료일 {part.event_day}보다 앞섭니다",
                                   f"claim date {self.claim_day} is before the treatment day {part.event_day}",
                                   "청구일을 진료일 이후로 쓰십시오", "give a claim date on or after the treatment")
        reason = None
        if part.day < policy.contract_date:
            reason = "before_contract"
        elif part.doc_id in self.seen or part.doc_id in year.documents:
            reason = "duplicate"
        elif self.claim_day > last_claim_day(part.event_day, table.limitation_years):
            reason = "lapsed"
        elif part.country != "KR" and not table.overseas_paid:
            reason = "overseas"
        if reason != "duplicate":
            year.documents[part.doc_id] = self.claim_iso
        self.seen.add(part.doc_id)
        if reason:
            section = f"x|{part.doc_id}"
            self.parts.append((section, part))
            self._exclude_part(part, reason, section)
            return

        key, severe = self._visit_key(part, year)
        self.parts.append((key, part))
        ids = (part.visit_id,)
        if not part.nhi_applied:
            axis = table.axis(table.nhi_axis)
            amount = part.claimed - (0 if table.ceiling_excess_paid else part.ceiling_excess)
            if self._holds(axis, None, amount, part, key):
                self._contribution(axis, part, key, year_start, unit="nhi").nhi_not_applied += amount
            return
        for bucket, amount in (("covered", part.covered_gross), ("non_covered", part.non_covered),
                               ("private_room", part.private_room)):
            if not amount:
                continue
            axis = self._axis_for(bucket, severe)
            if axis is None:
                self._not_covered(bucket, amount, ids, key)
                continue
            if not self._holds(axis, None, amount, part, key):
                continue
            c = self._contribution(axis, part, key, year_start)
            if bucket == "covered":
                c.covered_gross += amount
                c.ceiling_excess += part.ceiling_excess
                c.nhi_copay += part.partial_copay
                c.nhi_insurer += part.partial_insurer
            elif bucket == "non_covered":
                c.non_covered += amount
            else:
                c.private_room += amount
        for kind, amount, acts in part.big_three:
            axis = self._axis_for("big_three", severe)
            if axis is None:
                self._not_covered("big_three", amount, ids, key)
            elif axis.big_three is None:
                if self._holds(axis, None, amount, part, key):
                    self._contribution(axis, part, key, year_start).big_three += amount
            elif kind in axis.big_three.excluded:
                self._pair(f"{axis.id}.{kind}.amount", f"exclusion.{axis.id}.{kind}",
                           f"{axis.label_ko}: 보상 제외 항목", f"{axis.label_en}: excluded treatment", amount, ids,
                           axis.big_three.sources["excluded"], key, kind)
            else:
                group = axis.big_three.by_kind.get(kind)
                if group is None:
                    self._not_covered("big_three", amount, ids, key)
                elif self._holds(axis, group.rider, amount, part, key, kind):
                    self.acts.append((year_start, axis, group, kind, amount, acts, part.kind if part.kind == "inpatient"
                                      else "outpatient", part.purpose, part.visit_id, key))

    def _visit_key(self, part: Part, year: YearState) -> tuple[str, bool]:
        """Group key of the part's visit and whether it is severe (5세대)."""
        if part.kind == "inpatient":
            return f"i|{part.provider_code}|{part.visit_id}", part.severe
        code = part.prescriber_code if part.kind == "pharmacy" else part.provider_code
        day = part.day.isoformat()
        link = f"{code}|{day}"
        found = year.links.get(link)
        if found is not None and "|p" in found[0]:
            key = found[0]  # a visit first known only by its provider (pharmacy without diagnosis): join it
        elif part.purpose:
            key = f"o|{day}|{part.purpose}"
        elif found is not None:
            key = found[0]
        else:
            key = f"o|{day}|p{code}"
        severe = part.severe or (found is not None and found[0] == key and bool(found[1]))
        if found is None or (found[0] == key and severe and not found[1]):
            year.links[link] = [key, severe]
        return key, severe

    def _axis_for(self, bucket: str, severe: bool) -> Axis | None:
        for axis in self.table.axes:
            if bucket in axis.takes and (axis.eligibility == "any" or (axis.eligibility == "severe") == severe):
                return axis
        return None

    def _holds(self, axis: Axis, rider: str | None, amount: int, part: Part, section: str, kind: str = "") -> bool:
        rider = rider or axis.rider
        if self.policy.holds(rider):
            return True
        label = self.table.riders.get(rider or "", {})
        what = f"{axis.id}.{kind}" if kind else axis.id
        self._pair(f"{what}.amount", f"exclusion.rider_not_held.{rider}",
                   f"{label.get('label_ko', rider)} 미가입: 보상하지 않음",
                   f"{label.get('label_en', rider)} not held: not covered", amount, (part.visit_id,),
                   f"policy riders {sorted(self.policy.riders)}", section, kind)
        return False

    def _not_covered(self, bucket: str, amount: int, ids: tuple[str, ...], section: str) -> None:
        self._pair(f"{bucket}.amount", f"exclusion.not_covered.{bucket}", "이 계약에서 보상하지 않는 항목",
                   "Not covered by this policy", amount, ids, f"rule table {self.table.id}: no axis takes {bucket}",
                   section)

    def _pair(self, code_amount: str, code_excl: str, ko: str, en: str, amount: int, ids: tuple[str, ...], basis: str,
              section: str, kind: str = "") -> None:
        what_ko, what_en = (KIND_KO[kind], KIND_EN[kind]) if kind else ("청구 금액", "Amount claimed")
        self.lines.append(Line(code_amount, what_ko, what_en, amount, ids, "", section))
        self.lines.append(Line(code_excl, ko, en, -amount, ids, basis, section))

    def _exclude_part(self, part: Part, reason: str, section: str) -> None:
        ids = (part.visit_id,)
        amount = part.claimed
        if reason == "lapsed":
            last = last_claim_day(part.event_day, self.table.limitation_years)
            years = self.table.limitation_years
            ko = (f"소멸시효 {years}년 경과: {part.event_day} 진료분은 {last}까지 청구 가능 (초일불산입), "
                  f"청구일 {self.claim_day}")
            en = (f"Claim lapsed after {years} years: care of {part.event_day} could be claimed until the end of "
                  f"{last} (first day not counted), claimed {self.claim_day}")
            basis = self.table.sources["limitation"]
        else:
            ko, en, basis = _EXCLUSIONS[reason]
        self._pair("excluded.amount", f"exclusion.{reason}", ko, en, amount, ids, basis, section)

    def _contribution(self, axis: Axis, part: Part, key: str, year_start: str, unit: str | None = None) -> Contribution:
        inpatient = part.kind == "inpatient"
        out = axis.outpatient
        if inpatient:
            group_key, setting, floor, floor_tier = key, "inpatient", 0, part.tier
        else:
            assert out is not None
            group_key = f"d|{part.day.isoformat()}" if out.grouping == "day" else key
            setting = "outpatient"
            separate = part.kind == "pharmacy" and out.pharmacy == "separate"
            floor_tier = "pharmacy" if separate else part.tier
            floor = out.floors[floor_tier]
            if unit is None:
                unit = f"rx:{part.issue_number}" if separate else "v"
        unit = unit or "v"
        gid = (year_start, axis.id, group_key)
        group = self.groups.get(gid)
        if group is None:
            group = self.groups[gid] = _Group(axis, setting, group_key, group_key, part.purpose, part.tier,
                                              (part.day, part.end), [])
        else:
            group.period = (min(group.period[0], part.day), max(group.period[1], part.end))
            group.purpose = group.purpose or part.purpose
        for c in group.contributions:
            if c.unit == unit and c.visit_id == part.visit_id:
                return c
        c = Contribution(unit, part.visit_id, floor, floor_tier)
        group.contributions.append(c)
        return c

    # -- settling ---------------------------------------------------------------------------------------

    def settle(self) -> int:
        total = 0
        contexts: dict[str, Context] = {}

        def context(year_start: str) -> Context:
            ctx = contexts.get(year_start)
            if ctx is None:
                ctx = contexts[year_start] = Context(self.year(year_start), self.lines, self.table.ceiling_excess_paid,
                                                     self.table.nhi_rate, self.improvement)
            return ctx

        for (year_start, _, _), g in self.groups.items():
            paid = settle_group(context(year_start), g.axis, g.setting, g.key, g.section, g.purpose, g.tier,
                                g.period, g.contributions)
            total += self._book(year_start, paid)
        for year_start, axis, group, kind, amount, acts, setting, purpose, visit_id, section in self.acts:
            paid = settle_acts(context(year_start), axis, group, kind, amount, acts, setting, purpose, visit_id,
                               section)
            total += self._book(year_start, paid)
        return total

    def _book(self, year_start: str, paid: int) -> int:
        if paid:
            sums = self.years[year_start].sums
            sums["paid"] = sums.get("paid", 0) + paid
        return paid
