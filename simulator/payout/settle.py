"""The arithmetic of one merged visit (or day, or admission) on one axis, and of big-three acts.

Every step adds an explanation line whose signed amount moves the running figure, so the lines of a claim
always add up to what is paid. Money is integer won; ``amount × bp // BP`` applies a rate exactly and rounds
down to the won (the kit's documented rounding: no source prescribes another).

A group may already hold amounts from an earlier claim (same day and purpose, a pharmacy bill claimed
separately, an interim inpatient bill): the group is recomputed on the merged amounts and only the
difference to what was paid before is paid now, never less than zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from .history import YearState
from .labels import KIND_EN, KIND_KO, TIER_EN, TIER_KO, pct, ratio_pct, we, wk
from .tables import BP, Axis, BigThreeGroup

UNIT_FIELDS = ("covered", "non_covered", "private_room", "nhi_not_applied", "floor", "nhi_copay", "nhi_insurer")
#: The tier whose floor a unit carries (the highest of the merged parts), for the explanation.
FLOOR_TIER = "floor_tier"


@dataclass(slots=True)
class Line:
    """One explanation line; ``section`` ties it to a visit of the explanation (not sent on the wire)."""

    code: str
    label_ko: str
    label_en: str
    amount: int
    visit_ids: tuple[str, ...]
    basis: str
    section: str

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "label_ko": self.label_ko, "label_en": self.label_en,
                               "amount": self.amount}
        if self.visit_ids:
            out["visit_ids"] = list(self.visit_ids)
        if self.basis:
            out["basis"] = self.basis[:500]
        return out


@dataclass(slots=True)
class Contribution:
    """What one part of this claim brings to one axis of one group."""

    unit: str  # "v" (the visit), "rx:<교부번호>" (separate pharmacy deductible), "nhi" (NHI not applied)
    visit_id: str
    floor: int
    floor_tier: str
    covered_gross: int = 0
    ceiling_excess: int = 0
    non_covered: int = 0
    big_three: int = 0  # only where an axis pays the big three inside its combined cover
    private_room: int = 0
    nhi_copay: int = 0
    nhi_insurer: int = 0
    nhi_not_applied: int = 0


@dataclass(slots=True)
class Context:
    """What settling needs from the claim being adjudicated."""

    year: YearState
    lines: list[Line]
    ceiling_paid: bool
    nhi_rate: int
    improvement_documented: bool


def _bump(table: dict[str, int], key: str, by: int) -> None:
    table[key] = table.get(key, 0) + by


def _limit_key(axis: Axis, purpose: str | None) -> str:
    limit = axis.annual_limit
    assert limit is not None
    return f"limit.{limit.key}" + (f".{purpose or 'none'}" if limit.per == "diagnosis" else "")


def apply_annual_limit(ctx: Context, axis: Axis, setting: str, purpose: str | None, pay: int, ids: tuple[str, ...],
                       section: str) -> int:
    """Cut ``pay`` to what is left of the axis's annual limit and book it."""
    limit = axis.annual_limit
    if limit is None or setting not in limit.settings or pay <= 0:
        return pay
    key = _limit_key(axis, purpose)
    used = ctx.year.sums.get(key, 0)
    left = max(limit.amount - used, 0)
    if pay > left:
        scope_ko = " (상병별)" if limit.per == "diagnosis" else ""
        scope_en = " (per diagnosis)" if limit.per == "diagnosis" else ""
        ctx.lines.append(Line(
            f"{axis.id}.cap.annual_limit",
            f"{axis.label_ko} 연간 한도 {wk(limit.amount)}{scope_ko} 초과 (기사용 {wk(used)})",
            f"{axis.label_en} annual limit {we(limit.amount)}{scope_en} exceeded (used {we(used)})", left - pay, ids,
            limit.source, section))
        pay = left
    ctx.year.sums[key] = used + pay
    return pay


# -- visits, days and admissions --------------------------------------------------------------------------

def settle_group(ctx: Context, axis: Axis, setting: str, key: str, section: str, purpose: str | None, tier: str,
                 period: tuple[date, date], contributions: list[Contribution]) -> int:
    """Merge this claim's contributions into group ``key`` of ``axis``; pay the difference; return it."""
    year = ctx.year
    group_key = f"{axis.id}|{key}"
    prev = year.groups.get(group_key)
    units: dict[str, dict[str, Any]] = {k: dict(u) for k, u in prev["units"].items()} if prev else {}
    ids = tuple(dict.fromkeys([*(prev["visit_ids"] if prev else ()), *(c.visit_id for c in contributions)]))
    new_ids = tuple(dict.fromkeys(c.visit_id for c in contributions))
    prior = sum(u["covered"] + u["non_covered"] + u["private_room"] + u["nhi_not_applied"] for u in units.values())
    inpatient = setting == "inpatient"
    rule_in = axis.inpatient
    room_rule = rule_in.room if rule_in else "excluded"

    covered = ceiling = non_covered = big = room = room_excluded = nhi = 0
    for c in contributions:
        unit = units.get(c.unit)
        if unit is None:
            unit = units[c.unit] = {**dict.fromkeys(UNIT_FIELDS, 0), FLOOR_TIER: c.floor_tier}
        net_ceiling = 0 if ctx.ceiling_paid else c.ceiling_excess
        unit["covered"] += c.covered_gross - net_ceiling
        unit["non_covered"] += c.non_covered + c.big_three
        if room_rule == "paid":
            unit["private_room"] += c.private_room
        elif room_rule == "as_non_covered":
            unit["non_covered"] += c.private_room
        else:
            room_excluded += c.private_room
        unit["nhi_not_applied"] += c.nhi_not_applied
        unit["nhi_copay"] += c.nhi_copay
        unit["nhi_insurer"] += c.nhi_insurer
        if c.floor > unit["floor"]:
            unit["floor"], unit[FLOOR_TIER] = c.floor, c.floor_tier
        covered += c.covered_gross
        ceiling += net_ceiling
        non_covered += c.non_covered
        big += c.big_three
        room += c.private_room
        nhi += c.nhi_not_applied

    a, L = axis, ctx.lines
    if covered:
        L.append(Line(_amount_code(a, "covered"), f"{a.label_ko}: 급여 본인부담금", f"{a.label_en}: covered copay",
                      covered, new_ids, "docs/domain.md §4: covered = 본인부담금 + 전액본인부담", section))
    if ceiling:
        L.append(Line(f"{a.id}.ceiling_excess", "상한액 초과금 (건강보험공단 환급 대상, 보상 제외)",
                      "Copay above the NHIS ceiling (refunded by NHIS; not paid)", -ceiling, new_ids,
                      "docs/domain.md §4 cross-cutting: 상한액 초과금 is not paid", section))
    if non_covered:
        L.append(Line(_amount_code(a, "non_covered"), f"{a.label_ko}: 비급여", f"{a.label_en}: non-covered",
                      non_covered, new_ids, "docs/domain.md §4: non-covered = 비급여 (선택진료료 + 그 외)", section))
    if big:
        L.append(Line(_amount_code(a, "big_three"), f"{a.label_ko}: 3대 비급여 (통합 보장)",
                      f"{a.label_en}: big-three non-covered (inside the combined cover)", big, new_ids,
                      "docs/domain.md §4: the big three are 'in combined' for this generation", section))
    if room:
        L.append(Line(_amount_code(a, "private_room"), f"{a.label_ko}: 상급병실료 차액",
                      f"{a.label_en}: private-room difference", room, new_ids,
                      "비급여 of the table's private-room receipt rows (rules.private_room_rows)", section))
    if room_excluded:
        L.append(Line(f"exclusion.{a.id}.private_room", "상급병실료 차액: 이 특약에서 보상하지 않음",
                      "Private-room difference: not covered by this axis", -room_excluded, new_ids,
                      rule_in.sources.get("private_room", "") if rule_in else "", section))
    if nhi:
        L.append(Line(_amount_code(a, "nhi_not_applied"), "건강보험 미적용 진료비 (본인 실제 부담액)",
                      "Care without national health insurance (amount the patient paid)", nhi, new_ids,
                      "docs/domain.md §4 cross-cutting: 40% where NHI was not applied", section))
    if prev and prior:
        L.append(Line(f"{a.id}.merged_earlier", "같은 날·같은 목적으로 앞서 청구된 금액 (한 번의 통원으로 합산)"
                      if not inpatient else "같은 입원의 앞선 계산서 금액 (합산)",
                      "Amounts claimed earlier for the same visit (merged into one visit)" if not inpatient
                      else "Earlier bills of the same admission (merged)", prior, ids,
                      "docs/domain.md §4 cross-cutting: same day + same purpose = one visit; pharmacy joins its visit",
                      section))

    if inpatient:
        pay, state_extra = _settle_inpatient(ctx, axis, units, prev, ids, section, tier, period)
    else:
        pay, state_extra = _settle_outpatient(ctx, axis, units, prev, ids, section, tier)

    prev_paid = prev["paid"] if prev else 0
    if prev_paid:
        L.append(Line(f"{a.id}.paid_before", "이 통원(입원)에 이미 지급한 금액",
                      "Already paid for this visit (admission)", -prev_paid, ids,
                      "the merged visit is recomputed; only the difference is paid", section))
    increment = pay - prev_paid
    if increment < 0:
        L.append(Line(f"{a.id}.no_clawback", "이미 지급한 금액은 회수하지 않음", "Nothing already paid is taken back",
                      -increment, ids, "kit rule: a later claim never reduces an earlier payout", section))
        increment = 0
    increment = apply_annual_limit(ctx, axis, setting, purpose, increment, ids, section)
    if increment:
        _bump(year.sums, f"{axis.id}.paid", increment)
    year.groups[group_key] = {"units": units, "paid": prev_paid + increment, "visit_ids": list(ids), **state_extra}
    return increment


def _amount_code(axis: Axis, bucket: str) -> str:
    """``covered.amount`` on an axis named after its bucket, ``main.amount.covered`` on a combined one."""
    return f"{axis.id}.amount" if axis.id == bucket else f"{axis.id}.amount.{bucket}"


def _deductible_out(axis: Axis, unit: dict[str, Any], tier: str) -> tuple[int, str, str]:
    """Outpatient deductible of one unit: max(floor, rate × amount[, NHI copay rate × covered]), with the words."""
    rule = axis.outpatient
    assert rule is not None
    c, n, floor = unit["covered"], unit["non_covered"], unit["floor"]
    by_rate = (c * rule.rate_covered + n * rule.rate_non_covered) // BP
    if c and n and rule.rate_covered != rule.rate_non_covered:
        rate_ko = f"급여 {pct(rule.rate_covered)} + 비급여 {pct(rule.rate_non_covered)} = {wk(by_rate)}"
        rate_en = f"{pct(rule.rate_covered)} of covered + {pct(rule.rate_non_covered)} of non-covered = {we(by_rate)}"
    else:
        rate = rule.rate_covered if c else rule.rate_non_covered
        rate_ko = f"{pct(rate)} × {wk(c + n)} = {wk(by_rate)}"
        rate_en = f"{pct(rate)} × {we(c + n)} = {we(by_rate)}"
    floor_tier = unit.get(FLOOR_TIER) or tier
    parts_ko = [f"최저 {wk(floor)}({TIER_KO[floor_tier]})", rate_ko]
    parts_en = [f"floor {we(floor)} ({TIER_EN[floor_tier]})", rate_en]
    candidates = [floor, by_rate]
    pc, pi = unit["nhi_copay"], unit["nhi_insurer"]
    if rule.nhi_copay_rate and pc + pi:
        by_nhi = c * pc // (pc + pi)
        candidates.append(by_nhi)
        parts_ko.append(f"건강보험 본인부담률 {ratio_pct(pc, pc + pi)} × {wk(c)} = {wk(by_nhi)}")
        parts_en.append(f"NHI copay rate {ratio_pct(pc, pc + pi)} × {we(c)} = {we(by_nhi)}")
    deductible = max(candidates)
    winner = candidates.index(deductible)
    won_ko = ("최저 공제", "비율 공제", "본인부담률 공제")[winner]
    won_en = ("the floor", "the rate", "the NHI copay rate")[winner]
    ko = f"max({', '.join(parts_ko)}) → {won_ko} {wk(deductible)}"
    en = f"max({', '.join(parts_en)}) → {won_en} applies: {we(deductible)}"
    return deductible, ko, en


def _nhi_not_applied(ctx: Context, axis: Axis, amount: int, ids: tuple[str, ...], section: str) -> int:
    """Where NHI was not applied only 40% is paid: book the reduction line and return what is paid."""
    pay = amount * ctx.nhi_rate // BP
    ctx.lines.append(Line(f"{axis.id}.nhi_not_applied.reduction", f"건강보험 미적용: {pct(ctx.nhi_rate)}만 보상",
                          f"NHI not applied: {pct(ctx.nhi_rate)} is paid", pay - amount, ids,
                          "docs/domain.md §4 cross-cutting: where NHI was not applied, 40% of the amount", section))
    return pay


def _settle_outpatient(ctx: Context, axis: Axis, units: dict[str, dict[str, Any]], prev: dict | None,
                       ids: tuple[str, ...], section: str, tier: str) -> tuple[int, dict[str, Any]]:
    rule = axis.outpatient
    assert rule is not None
    year, L, a = ctx.year, ctx.lines, axis
    per_count: dict[str, int] = {}
    basis = f"{rule.sources['floor']} | {rule.sources['rate']}"
    for unit_key in sorted(units):
        unit = units[unit_key]
        if unit_key == "nhi":
            amount = unit["nhi_not_applied"]
            pay = _nhi_not_applied(ctx, a, amount, ids, section)
        else:
            amount = unit["covered"] + unit["non_covered"]
            deductible, ko, en = _deductible_out(axis, unit, tier)
            taken = min(deductible, amount)
            rx = unit_key.startswith("rx:")
            where_ko = "처방조제 1건" if rx else "통원 1회" if rule.grouping == "visit" else "1일"
            where_en = "per prescription" if rx else "per visit" if rule.grouping == "visit" else "per day"
            if len(ids) > 1 and unit_key == "v" and rule.grouping == "visit":
                ko += (f" — 한 번의 통원으로 합산한 {len(ids)}건(같은 날 같은 목적, 또는 그 처방의 약국): "
                       "가장 높은 공제 1회")
                en += (f" — {len(ids)} bills merged into one visit (same day and purpose, or the pharmacy of its "
                       "prescription): the highest deductible once")
            if amount:
                L.append(Line(f"{a.id}.deductible", f"{a.label_ko} 공제({where_ko}): {ko}",
                              f"{a.label_en} deductible ({where_en}): {en}", -taken, ids, basis, section))
            pay = amount - taken
        count_key = unit_key if unit_key.startswith("rx:") else "v"
        per_count[count_key] = per_count.get(count_key, 0) + pay

    counted = set(prev["counted"]) if prev else set()
    total = 0
    for count_key, pay in sorted(per_count.items()):
        if pay <= 0:
            continue
        if count_key not in counted:
            rx = count_key.startswith("rx:")
            counter = f"{a.id}.prescriptions" if rx else f"{a.id}.{'days' if rule.grouping == 'day' else 'visits'}"
            limit = rule.rx_count_limit if rx else rule.count_limit
            used = year.counts.get(counter, 0)
            if limit is not None and used >= limit:
                what_ko = "처방조제" if rx else "통원일" if rule.grouping == "day" else "통원"
                what_en = "prescriptions" if rx else "days" if rule.grouping == "day" else "visits"
                L.append(Line(f"{a.id}.cap.annual_count", f"{a.label_ko} 연간 {what_ko} {limit}회 한도 소진",
                              f"{a.label_en}: annual limit of {limit} {what_en} reached", -pay, ids,
                              rule.sources.get("pharmacy_annual_count" if rx else "annual_count", ""), section))
                continue
            year.counts[counter] = used + 1
            counted.add(count_key)
        total += pay
    if rule.cap is not None and total > rule.cap:
        per_ko = "1일" if rule.cap_per == "day" else "통원 1회"
        per_en = "per day" if rule.cap_per == "day" else "per visit"
        L.append(Line(f"{a.id}.cap.per_{rule.cap_per}", f"{a.label_ko} {per_ko} 한도 {wk(rule.cap)}",
                      f"{a.label_en} limit {we(rule.cap)} {per_en}", rule.cap - total, ids, rule.sources["cap"],
                      section))
        total = rule.cap
    return total, {"counted": sorted(counted)}


def _settle_inpatient(ctx: Context, axis: Axis, units: dict[str, dict[str, Any]], prev: dict | None,
                      ids: tuple[str, ...], section: str, tier: str,
                      period: tuple[date, date]) -> tuple[int, dict[str, Any]]:
    rule = axis.inpatient
    assert rule is not None
    year, L, a = ctx.year, ctx.lines, axis
    start = min(period[0], date.fromisoformat(prev["start"])) if prev else period[0]
    end = max(period[1], date.fromisoformat(prev["end"])) if prev else period[1]
    nights = max((end - start).days, 1)
    total = 0
    share = 0
    for unit_key in sorted(units):
        unit = units[unit_key]
        if unit_key == "nhi":
            amount = unit["nhi_not_applied"]
            pay = _nhi_not_applied(ctx, a, amount, ids, section)
            total += pay
            continue
        c, n = unit["covered"], unit["non_covered"]
        share += (c * rule.rate_covered + n * rule.rate_non_covered) // BP
        total += c + n
        room = unit["private_room"]
        if room:
            room_pay = min(room * rule.room_rate // BP, rule.room_daily_cap * nights)
            L.append(Line(f"{a.id}.private_room.reduction",
                          f"상급병실료 차액: min({pct(rule.room_rate)} × {wk(room)}, "
                          f"1일 평균 {wk(rule.room_daily_cap)} × {nights}일) = {wk(room_pay)} 보상",
                          f"Private-room difference: min({pct(rule.room_rate)} × {we(room)}, {we(rule.room_daily_cap)} "
                          f"a day × {nights} days) = {we(room_pay)} paid", room_pay - room, ids,
                          rule.sources["private_room"], section))
            total += room_pay
    same = rule.rate_covered == rule.rate_non_covered or not rule.rate_non_covered
    rate_text = pct(rule.rate_covered) if same else f"급여 {pct(rule.rate_covered)}/비급여 {pct(rule.rate_non_covered)}"
    rate_en = pct(rule.rate_covered) if same else \
        f"{pct(rule.rate_covered)} covered / {pct(rule.rate_non_covered)} non-covered"
    capped = share
    note_ko = note_en = ""
    share_key = f"{a.id}.inpatient_share"
    prev_share = prev.get("share", 0) if prev else 0
    if rule.share_cap is not None and (rule.share_cap_tiers is None or tier in rule.share_cap_tiers):
        others = year.sums.get(share_key, 0) - prev_share
        capped = min(share, max(rule.share_cap - others, 0))
        year.sums[share_key] = others + capped
        if capped < share:
            note_ko = f"; 연간 자기부담 한도 {wk(rule.share_cap)} (이번 보험연도 기부담 {wk(others)})로 {wk(capped)}"
            note_en = (f"; annual cap on the patient's share {we(rule.share_cap)} (already borne {we(others)})"
                       f" → {we(capped)}")
    elif share:
        _bump(year.sums, share_key, share - prev_share)
    if share:
        L.append(Line(f"{a.id}.deductible", f"{a.label_ko} 입원 자기부담 {rate_text} = {wk(share)}{note_ko}",
                      f"{a.label_en} inpatient share {rate_en} = {we(share)}{note_en}", -capped, ids,
                      f"{rule.sources['rate']} | {rule.sources.get('annual_share_cap', '')}", section))
    total -= capped
    if rule.admission_cap is not None and (rule.admission_cap_tiers is None or tier in rule.admission_cap_tiers) \
            and total > rule.admission_cap:
        L.append(Line(f"{a.id}.cap.per_admission",
                      f"{a.label_ko} 입원 1회 한도 {wk(rule.admission_cap)} ({TIER_KO[tier]})",
                      f"{a.label_en} limit {we(rule.admission_cap)} per admission ({TIER_EN[tier]})",
                      rule.admission_cap - total, ids, rule.sources["admission_cap"], section))
        total = rule.admission_cap
    return total, {"share": capped, "start": start.isoformat(), "end": end.isoformat(), "tier": tier}


# -- big-three acts ---------------------------------------------------------------------------------------

def settle_acts(ctx: Context, axis: Axis, group: BigThreeGroup, kind: str, amount: int, acts: int, setting: str,
                purpose: str | None, visit_id: str, section: str) -> int:
    """Pay ``acts`` acts of ``kind`` worth ``amount`` in all: per-act deductible, counts, review gate, limits."""
    rule = axis.big_three
    assert rule is not None
    year, L, a = ctx.year, ctx.lines, axis
    ids = (visit_id,)
    count_key, sum_key = f"{a.id}.{group.name}.acts", f"{a.id}.{group.name}.paid"
    code = f"{a.id}.{kind}"
    base, extra = divmod(amount, acts)
    deducted = blocked_count = blocked_review = cut_amount = paid = 0
    for i in range(acts):
        act = base + (1 if i < extra else 0)
        deductible = max(rule.floor, act * rule.rate // BP)
        pay = max(act - deductible, 0)
        deducted += act - pay
        if not pay:
            continue
        used = year.counts.get(count_key, 0)
        if group.annual_count is not None and used >= group.annual_count:
            blocked_count += pay
            continue
        if group.review_every is not None and used >= group.review_every and not ctx.improvement_documented:
            blocked_review += pay
            continue
        if group.annual_amount is not None:
            left = max(group.annual_amount - year.sums.get(sum_key, 0), 0)
            if pay > left:
                cut_amount += pay - left
                pay = left
        if pay:
            year.counts[count_key] = used + 1
            _bump(year.sums, sum_key, pay)
            paid += pay
    by_rate = pct(rule.rate)
    L.append(Line(f"{code}.amount", f"{KIND_KO[kind]} {acts}회 — {a.label_ko}",
                  f"{KIND_EN[kind]}, {acts} act{'s' if acts > 1 else ''} — {a.label_en}", amount, ids,
                  "itemised statement lines marked big_three", section))
    per_act = base + (1 if extra else 0)
    L.append(Line(f"{code}.deductible",
                  f"{KIND_KO[kind]} 공제 1회당 max({wk(rule.floor)}, {by_rate} × {wk(per_act)}) × {acts}회",
                  f"{KIND_EN[kind]} deductible per act max({we(rule.floor)}, {by_rate} × {we(per_act)}) × {acts}",
                  -deducted, ids, rule.sources["deductible"], section))
    if blocked_review:
        L.append(Line(f"{code}.review_gate", f"{group.review_every}회 초과: 치료 효과(호전) 확인 없이 보상하지 않음",
                      f"Beyond {group.review_every} acts: not paid without documented improvement", -blocked_review,
                      ids, group.source, section))
    if blocked_count:
        L.append(Line(f"{code}.cap.annual_count", f"연간 {group.annual_count}회 한도 소진",
                      f"Annual limit of {group.annual_count} acts reached", -blocked_count, ids, group.source, section))
    if cut_amount:
        L.append(Line(f"{code}.cap.annual_amount", f"연간 보상한도 {wk(group.annual_amount or 0)} 초과",
                      f"Annual limit {we(group.annual_amount or 0)} exceeded", -cut_amount, ids, group.source, section))
    limited = apply_annual_limit(ctx, axis, setting, purpose, paid, ids, section)
    if limited < paid:
        year.sums[sum_key] -= paid - limited
    if limited:
        _bump(year.sums, f"{a.id}.paid", limited)
    return limited
