"""Care: which episodes a patient has, when and where (the plan), and the visits with their documents.

Amounts follow the NHI cost-sharing rules closely enough for claims testing (the kit's simplification):

- outpatient copay by tier: 의원 30%, 병원 40%, 종합병원 50%; 상급종합 the consultation fee (진찰료) in full plus 60%
  of the rest; children under 6 pay 70% of the tier's rate (at 상급종합 on every item, the kit's simplification);
  65세 이상 at 의원: 1,500원 flat up to 15,000원 total, then 10% / 20% / 30% (to 20,000 / 25,000 / above);
- inpatient 20% (meals 50%, 2·3인실 40%); 산정특례 (severe diagnoses of kcd.json) 5% in and out;
- 의료급여 1종: outpatient 1,000 / 1,500 / 2,000원 flat (의원 / 병원·종합 / 상급), pharmacy 500원, inpatient 0%;
  2종: 의원 1,000원 flat, other outpatient 15%, pharmacy 500원, inpatient 10%;
- pharmacy 30%; 40% (종합) and 50% (상급종합) prescriptions only for a condition on HIRA's graded list of mild
  diseases (kcd.json ``mild_graded``, any diagnosis of the prescription); 65세 이상 1,000원 up to 10,000원;
- every copay is truncated as HIRA truncates it (docs/domain.md §2.5; simulator/documents.py:visit_shares);
- treatment abroad: everything 비급여 (NHI never applies), patient category 일반.

Every total is computed by the builders of simulator/documents.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from random import Random
from typing import Any

from ...schemas.codes import dispensed_product
from ...schemas.kr_calendar import is_holiday, is_lunar_holiday, is_night
from ..documents import Billed, medical_documents, pharmacy_receipt, prescription
from ..documents import last_valid_day as _last_valid_day
from .catalog import (
    CONSULTATION,
    CONTROLLED_ATC,
    EMERGENCY_FEE,
    FOREIGN_ITEMS,
    ITEM_RATES,
    MEALS,
    ROOMS,
    Kind,
    drug_pool,
    parse_spec,
)
from .context import Context
from .population import Patient, Provider
from .tables import DRUGS, KCD, PROCEDURES, Weighted, between, chance, pharmacy_fees, uniform_choice

OUTPATIENT_RATE = {"clinic": 0.3, "public_health": 0.3, "hospital": 0.4, "general": 0.5, "tertiary": 0.6}
PHARMACY_RATE = 0.3
#: Pharmacy rates for prescriptions from 종합 / 상급종합 for a condition on the graded list of mild diseases.
MILD_PHARMACY_RATE = {"general": 0.4, "tertiary": 0.5}
AID1_FIXED = {"clinic": 1000, "public_health": 0, "hospital": 1500, "general": 1500, "tertiary": 2000}
SEVERE_RATE = 0.05
INPATIENT_RATE = 0.2
TRAFFIC_SHARE = 0.1  # injuries that are traffic injuries
#: Outpatient receipts showing a 감면·할인 (staff, family, local-resident discounts) and the share of the
#: non-covered amount waived (docs/domain.md §2.1: the kit's chosen shares).
DISCOUNTED_VISITS = 0.02
DISCOUNT_SHARE = 0.1
#: Prescriptions written by generic name (일반명 처방, HIRA 주성분코드): a small share in Korea.
GENERIC_NAME_PRESCRIPTIONS = 0.03
_ROOMS = Weighted([(code, p) for code, p, *_ in ROOMS])
_ROOM_INFO = {code: (label, difference) for code, _, label, difference in ROOMS}
_MEALS = Weighted(list(MEALS))


@dataclass(slots=True)
class Planned:
    """One planned outpatient visit or stay, before documents exist."""

    day: date
    kind: Kind
    episode: int
    seq: int  # 0 = the first visit of the episode (초진)
    provider: Provider
    department: str
    diagnoses: tuple[str, ...]
    accident: str
    stay_days: int = 0
    emergency: bool = False
    force_rx: bool = False  # hard case: a prescription dispensed the same day
    old: bool = False


@dataclass(slots=True)
class Visit:
    """A visit with its documents. ``setting`` is outpatient, inpatient or pharmacy."""

    visit_id: str
    number: int
    kind: str
    episode: int
    provider: Provider
    setting: str
    start: date
    end: date
    department: str | None
    diagnoses: tuple[str, ...]
    accident: str
    documents: list[dict[str, Any]]
    prescribed_by: str | None = None  # pharmacy visits: the visit that issued the prescription
    old: bool = False  # hard case: claimed more than three years later
    tags: set[str] = field(default_factory=set)
    at: time | None = None  # outpatient and pharmacy visits: the time of day (stays: None)

    @property
    def night(self) -> bool:
        """야간 가산: the visit's time is in the night period of its day (schemas/kr_calendar.py)."""
        return self.at is not None and is_night(self.start, self.at)

    @property
    def holiday(self) -> bool:
        """공휴일 가산: the visit's day is a Sunday or a public holiday."""
        return self.at is not None and is_holiday(self.start)

    @property
    def purpose(self) -> str:
        """Same purpose = same main diagnosis category (3 characters of the KCD code)."""
        return self.diagnoses[0][:3] if self.diagnoses else ""


# -- planning ---------------------------------------------------------------------------------------------


def visit_window(patient: Patient, policies: list[dict[str, Any]], ctx: Context) -> tuple[date, date]:
    """Days a visit of this patient can fall on: after every contract date, inside --from/--to."""
    options = ctx.options
    covered_from = max(date.fromisoformat(p["policy"]["contract_date"]) for p in policies) + timedelta(days=1)
    return max(options.start, covered_from, patient.birth), options.end


def poisson(rng: Random, lam: float) -> int:
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def plan(rng: Random, patient: Patient, window: tuple[date, date], ctx: Context) -> list[Planned]:
    """The patient's episodes over ``window``; at least one, so that every patient has something to claim."""
    first, last = window
    years = ((last - first).days + 1) / 365.25
    planned: list[Planned] = []
    weights = []
    for kind in ctx.kinds:
        factor = kind.factor(patient.age, patient.sex)
        if factor <= 0:
            continue
        weights.append((kind, kind.rate * factor))
        for _ in range(poisson(rng, kind.rate * factor * years)):
            planned += episode(rng, patient, kind, window, ctx, len({p.episode for p in planned}))
    if not planned and weights:
        kind = Weighted(weights).pick(rng)
        planned += episode(rng, patient, kind, window, ctx, 0)
    return planned


def episode(rng: Random, patient: Patient, kind: Kind, window: tuple[date, date], ctx: Context, number: int,
            day: date | None = None, provider: tuple[Provider, str] | None = None, visits: int | None = None,
            exclude: str | None = None) -> list[Planned]:
    """One episode of ``kind``: its visits (or its stay), all at one provider."""
    picked = provider or ctx.network.pick(rng, kind, patient, exclude)
    diagnoses = kind.diagnoses_for(patient.sex)
    if picked is None or not diagnoses:
        return []
    where, department = picked
    main = uniform_choice(rng, diagnoses)
    codes = (main,)
    if len(diagnoses) > 1 and chance(rng, 0.2):
        other = uniform_choice(rng, diagnoses)
        codes = (main, other) if other != main else codes
    if kind.stay and kind.name == "severe_stay" and main.startswith("C") and chance(rng, 0.3):
        codes = (main, "Z51.1")  # an admission for chemotherapy
    injured = kind.injury or main[0] in "ST"
    accident = ("traffic_injury" if chance(rng, TRAFFIC_SHARE) else "injury") if injured else "disease"
    first, last = window
    span = (last - first).days
    if kind.stay:
        length = min(between(rng, *kind.stay.days), span + 1)
        start = day or first + timedelta(days=int(rng.random() * (span - length + 2)))
        return [Planned(start, kind, number, 0, where, department, codes, accident, stay_days=length)]
    count = visits or between(rng, *kind.visits)
    start = day or first + timedelta(days=int(rng.random() * (span + 1)))
    emergency = where.tier in ("general", "tertiary") and chance(rng, kind.emergency)
    out = []
    for seq in range(count):
        if seq:
            start += timedelta(days=between(rng, *kind.gap))
            if start > last:
                break
            start = workday(rng, start, last)
        elif day is None and not emergency:
            start = workday(rng, start, last)
        out.append(Planned(start, kind, number, seq, where, department, codes, accident,
                           emergency=emergency and seq == 0))
    return out


#: Share of outpatient departments open on a Sunday or a public holiday (휴일 진료), and on 설날·추석.
OPEN_ON_HOLIDAYS = 0.1
OPEN_ON_LUNAR_HOLIDAYS = 0.005
#: How far a visit moves to reach a day the provider is open.
MAX_SHIFT_DAYS = 7


def open_on(rng: Random, day: date) -> bool:
    """Whether a (non-emergency) outpatient department sees patients on ``day`` (docs/domain.md §6)."""
    if is_lunar_holiday(day):
        return chance(rng, OPEN_ON_LUNAR_HOLIDAYS)
    return not is_holiday(day) or chance(rng, OPEN_ON_HOLIDAYS)


def workday(rng: Random, day: date, last: date) -> date:
    """The first day from ``day`` to ``last`` on which the department is open (``day`` itself when none is)."""
    for shift in range(MAX_SHIFT_DAYS + 1):
        later = day + timedelta(days=shift)
        if later > last:
            break
        if open_on(rng, later):
            return later
    return day


#: Outpatient hours: (share of visits, first minute, last minute) on weekdays; Saturday mornings only, mostly.
WEEKDAY_HOURS = ((0.93, 9 * 60, 18 * 60 - 1), (0.07, 18 * 60, 21 * 60 - 1))  # 야간진료 until 21:00 at some
SATURDAY_HOURS = ((0.85, 9 * 60, 13 * 60 - 1), (0.15, 13 * 60, 16 * 60 - 1))
HOLIDAY_HOURS = ((1.0, 9 * 60, 18 * 60 - 1),)


def visit_time(rng: Random, day: date, emergency: bool = False) -> time:
    """When an outpatient is seen on ``day``: opening hours of the day's kind, any hour for an emergency."""
    if emergency:
        minute = int(rng.random() * 24 * 60)
    else:
        hours = HOLIDAY_HOURS if is_holiday(day) else SATURDAY_HOURS if day.weekday() == 5 else WEEKDAY_HOURS
        draw, minute = rng.random(), hours[-1][1]
        for share, first, last in hours:
            if draw < share:
                minute = first + int(rng.random() * (last - first + 1))
                break
            draw -= share
    return time(minute // 60, minute % 60)


def later_today(rng: Random, at: time, low: int = 5, high: int = 40) -> time:
    """``at`` plus ``low``..``high`` minutes, at most 23:59 (a prescription filled after the visit)."""
    moment = datetime.combine(date.min, at) + timedelta(minutes=between(rng, low, high))
    return min(moment.time(), time(23, 59)) if moment.date() == date.min else time(23, 59)


# -- building ---------------------------------------------------------------------------------------------


class Builder:
    """Turns a patient's plan into visits and documents; numbers every visit and document of the patient."""

    def __init__(self, rng: Random, patient: Patient, ctx: Context) -> None:
        self.rng, self.patient, self.ctx = rng, patient, ctx
        self.count = 0
        self.visits: list[Visit] = []

    def _aside(self, what: str, key: str) -> Random:
        """A draw of its own for a detail added later (discounts, generic names): drawing it from the patient's
        stream would change every visit after it, and so every seeded scenario the tests rely on."""
        return Random(f"{self.ctx.options.seed}:{what}:{key}")

    def build(self, planned: list[Planned]) -> list[Visit]:
        planned.sort(key=lambda p: (p.day, p.episode, p.seq))
        for item in planned:
            if item.provider.abroad:
                self._foreign(item)
            elif item.stay_days:
                self._stay(item)
            else:
                self._outpatient(item)
        self.visits.sort(key=lambda v: (v.start, v.number))
        return self.visits

    # numbering: unique in the scenario because the patient index is part of every number

    def _number(self) -> int:
        self.count += 1
        return self.count

    def _ids(self, provider: Provider, day: date, number: int) -> tuple[str, str, str]:
        index, compact = self.patient.index, day.strftime("%Y%m%d")
        return (f"V-{provider.code}-{index:08d}-{number:03d}", f"R{compact}-{index:08d}-{number:03d}",
                f"S{compact}-{index:08d}-{number:03d}")

    # visits

    def _outpatient(self, item: Planned) -> None:
        rng, patient, provider = self.rng, self.patient, item.provider
        number = self._number()
        visit_id, receipt_no, statement_no = self._ids(provider, item.day, number)
        day = item.day.isoformat()
        codes = CONSULTATION[provider.tier]
        items = [billed(codes[0 if item.seq == 0 else 1], day)]
        if item.emergency:
            items.append(billed(EMERGENCY_FEE, day))
        kind = item.kind
        for spec, probability in ((*kind.first, *kind.each) if item.seq == 0 else kind.each):
            if chance(rng, probability):
                items += billed_spec(rng, spec, day)
        severe = is_severe(item.diagnoses)
        rate, fixed = outpatient_terms(patient, provider.tier, severe, items)
        if consultation_in_full(patient, provider.tier, severe):
            items = [replace(i, copay_rate=1.0) if i.category == "ENAMT" and i.covered else i for i in items]
        at = visit_time(rng, item.day, item.emergency)
        night, holiday = is_night(item.day, at), is_holiday(item.day)
        receipt, statement = medical_documents(
            visit_id=visit_id, receipt_number=receipt_no, statement_number=statement_no, setting="outpatient",
            patient=patient.block, patient_category=patient.category, provider=provider.block,
            department=item.department, period=(day, day), items=items, copay_rate=rate,
            diagnosis_codes=item.diagnoses, night=night, holiday=holiday, fixed_copay=fixed,
            discount_share=DISCOUNT_SHARE if chance(self._aside("discount", visit_id), DISCOUNTED_VISITS) else 0.0)
        documents = [receipt, statement]
        visit = Visit(visit_id, number, kind.name, item.episode, provider, "outpatient", item.day, item.day,
                      item.department, item.diagnoses, item.accident, documents, old=item.old, at=at)
        self.visits.append(visit)
        if item.force_rx or (kind.rx and chance(rng, kind.rx)):
            rx = self._prescription(visit, item)
            documents.append(rx)
            self._pharmacy(visit, rx, item)

    def _stay(self, item: Planned) -> None:
        rng, patient, provider, stay = self.rng, self.patient, item.provider, item.kind.stay
        assert stay is not None
        room_code = _ROOMS.pick(rng) if stay.rooms else None
        room = f"{between(rng, 2, 12)}{between(rng, 1, 20):02d}호"
        meal = _MEALS.pick(rng)
        severe = is_severe(item.diagnoses)
        nhi = patient.category == "nhi"
        rate = inpatient_rate(patient.category, severe)
        segments = _segments(item.day, item.stay_days, stay.interim_every)
        ceiling = between(rng, 100_000, 600_000) if item.kind.name == "long_term_care" and chance(rng, 0.3) else 0
        daily = [(spec, chance(rng, p)) for spec, p in stay.daily]
        extra_meal = chance(rng, 0.1)
        for index, (start, end, last) in enumerate(segments):
            number = self._number()
            visit_id, receipt_no, statement_no = self._ids(provider, start, number)
            days = (end - start).days + 1
            first_day = start.isoformat()
            items: list[Billed] = []
            if index == 0:
                for spec, probability in item.kind.first:
                    if chance(rng, probability):
                        items += billed_spec(rng, spec, first_day)
                surgery_day = (start + timedelta(days=1 if days > 2 else 0)).isoformat()
                for spec in stay.surgery:
                    items += billed_spec(rng, spec, surgery_day)
            nights = max(1, days - 1) if last else days
            if room_code:
                items.append(billed(room_code, first_day, days=nights, rate=ITEM_RATES.get(room_code) if nhi else None))
                difference = _ROOM_INFO[room_code][1]
                if difference:
                    items.append(billed(difference, first_day, days=nights))
            items.append(billed(meal, first_day, quantity=3, days=days, rate=ITEM_RATES.get(meal) if nhi else None))
            if extra_meal:
                items.append(billed("NC031", first_day, quantity=3, days=days))
            for spec, billed_daily in daily:
                if billed_daily:
                    items += billed_spec(rng, spec, first_day, days=days)
            receipt, statement = medical_documents(
                visit_id=visit_id, receipt_number=receipt_no, statement_number=statement_no, setting="inpatient",
                patient=patient.block, patient_category=patient.category, provider=provider.block,
                department=item.department, period=(first_day, end.isoformat()), items=items, copay_rate=rate,
                diagnosis_codes=item.diagnoses, ceiling_excess=ceiling if last else 0, room=room,
                inpatient_status="discharge" if last else "interim")
            self.visits.append(Visit(visit_id, number, item.kind.name, item.episode, provider, "inpatient", start,
                                     end, item.department, item.diagnoses, item.accident, [receipt, statement]))

    def _foreign(self, item: Planned) -> None:
        rng, patient, provider = self.rng, self.patient, item.provider
        number = self._number()
        visit_id, receipt_no, statement_no = self._ids(provider, item.day, number)
        day = item.day.isoformat()
        items = []
        for i, (code, category, name, low, high) in enumerate(FOREIGN_ITEMS):
            if i == 0 or chance(rng, 0.5):
                price = max(low, 10_000) + int(rng.random() * (high - max(low, 10_000)) / 100) * 100
                items.append(Billed(category, code, name, price, day, covered=False, code_kind="provider"))
        receipt, statement = medical_documents(
            visit_id=visit_id, receipt_number=receipt_no, statement_number=statement_no, setting="outpatient",
            patient=patient.block, patient_category="general", provider=provider.block, department=item.department,
            period=(day, day), items=items, copay_rate=0.0, diagnosis_codes=item.diagnoses)
        self.visits.append(Visit(visit_id, number, item.kind.name, item.episode, provider, "outpatient", item.day,
                                 item.day, item.department, item.diagnoses, item.accident, [receipt, statement]))

    def _prescription(self, visit: Visit, item: Planned) -> dict[str, Any]:
        rng, kind = self.rng, item.kind
        prefixes = next((atc for dx, atc in kind.drugs if item.diagnoses[0].startswith(dx)), ("N02BE",))
        pool = drug_pool(prefixes)
        wanted = min(len(pool), between(rng, *kind.rx_drugs))
        chosen = []
        while len(chosen) < wanted:
            code = uniform_choice(rng, pool)
            if code not in chosen:
                chosen.append(code)
        days = between(rng, *kind.rx_days) if kind.rx else 3
        medications = [medication(rng, code, days) for code in chosen]
        if chance(self._aside("generic", visit.visit_id), GENERIC_NAME_PRESCRIPTIONS):  # 일반명: pharmacy picks
            medications = [{**m, "drug_code": DRUGS[m["drug_code"]]["generic_code"]} for m in medications]
        provider = visit.provider
        name, licence = uniform_choice(rng, provider.doctors)
        dentist = provider.facility_type in ("41", "51")
        day = visit.start.isoformat()
        doc = prescription(
            visit_id=visit.visit_id, serial=0, issue_date=day, provider=provider.block,
            patient=self.patient.block, insurance_type=self.patient.category,
            diagnosis_codes=() if chance(rng, 0.05) else visit.diagnoses,
            prescriber={"name": name, "license_type": "dentist" if dentist else "physician",
                        "license_number": licence},
            medications=medications, validity_days=7 if chance(rng, 0.15) else 3)
        # The parent process numbers prescriptions per issue date (scenario.py); until then a placeholder.
        doc["issue_number"] = issue_placeholder(day, self.patient.index, visit.number)
        return doc

    def _pharmacy(self, visit: Visit, rx: dict[str, Any], item: Planned) -> None:
        rng, patient = self.rng, self.patient
        roll = rng.random()
        offset = 0 if item.force_rx or roll < 0.88 else 1 if roll < 0.97 else 2
        last_valid = date.fromisoformat(_last_valid_day(rx["issue_date"], rx["validity_days"]))
        day = min(visit.start + timedelta(days=offset), last_valid, self.ctx.options.end)
        assert visit.at is not None
        at = later_today(rng, visit.at) if day == visit.start else visit_time(rng, day)
        pharmacy = self.ctx.network.pharmacy(rng, patient, visit.provider)
        number = self._number()
        compact = day.strftime("%Y%m%d")
        visit_id = f"V-{pharmacy.code}-{patient.index:08d}-{number:03d}"
        days = max(m["days"] for m in rx["medications"])
        products = [dispensed_product(m["drug_code"]) for m in rx["medications"]]
        controlled = any(DRUGS[code]["atc"].startswith(CONTROLLED_ATC) for code in products)
        fees = pharmacy_fees(days, controlled)
        prices = {code: DRUGS[code]["unit_price"] for code in products}
        rate, fixed = pharmacy_terms(patient, visit.provider.tier, is_severe(visit.diagnoses), fees, rx, prices,
                                     is_mild(rx["diagnosis_codes"] or visit.diagnoses))
        doc = pharmacy_receipt(
            visit_id=visit_id, receipt_number=f"P{compact}-{patient.index:08d}-{number:03d}", prescription_doc=rx,
            dispensing_date=day.isoformat(), pharmacy=pharmacy.block,
            pharmacist=uniform_choice(rng, pharmacy.pharmacists),
            patient=patient.block, patient_category=patient.category, fees=fees, drug_prices=prices,
            copay_rate=rate, night=is_night(day, at), holiday=is_holiday(day), fixed_copay=fixed)
        self.visits.append(Visit(visit_id, number, visit.kind, visit.episode, pharmacy, "pharmacy", day, day, None,
                                 visit.diagnoses, visit.accident, [doc], prescribed_by=visit.visit_id, old=visit.old,
                                 at=at))


def _segments(start: date, days: int, every: int) -> list[tuple[date, date, bool]]:
    """Bills of a stay: interim bills every ``every`` days, then the discharge bill."""
    out = []
    end = start + timedelta(days=days - 1)
    while every and (end - start).days + 1 > every:
        out.append((start, start + timedelta(days=every - 1), False))
        start += timedelta(days=every)
    out.append((start, end, True))
    return out


# -- items and money ---------------------------------------------------------------------------------------


def billed(code: str, day: str, quantity: float = 1, days: int = 1, rate: float | None = None,
           full_copay: bool = False) -> Billed:
    """A billed procedure or (9-digit code) drug."""
    if code in PROCEDURES:
        entry = PROCEDURES[code]
        return Billed(entry["receipt_row"], code, entry["ko"], entry["unit_price"], day, quantity, days,
                      covered=entry["covered"], full_copay=full_copay,
                      code_kind="edi" if entry["covered"] else "provider", big_three=entry["big_three"],
                      copay_rate=rate)
    entry = DRUGS[code]
    row = "IJCT_MDAMT" if entry["route"] == "injection" else "CPMD_MDAMT"
    return Billed(row, code, entry["ko"], entry["unit_price"], day, quantity, days, covered=entry["covered"],
                  code_kind="drug", copay_rate=rate)


def billed_spec(rng: Random, spec: str, day: str, days: int = 1) -> list[Billed]:
    alternatives = parse_spec(spec)
    codes = alternatives[0] if len(alternatives) == 1 else uniform_choice(rng, alternatives)
    # a few covered tests are billed beyond the coverage criteria: 전액본인부담
    return [billed(code, day, days=days,
                   full_copay=code in PROCEDURES and PROCEDURES[code]["receipt_row"] == "EXAMT" and chance(rng, 0.03))
            for code in codes]


def medication(rng: Random, code: str, days: int) -> dict[str, Any]:
    """A prescribed drug with a dose that fits its unit (tablets, syrup, cream, drops …)."""
    entry = DRUGS[code]
    unit, atc = entry["unit"], entry["atc"]
    if entry["route"] == "oral":
        if unit == "mL":
            dose, times, usage = uniform_choice(rng, (3, 5, 10)), 3, "식후 30분, 계량컵 사용"
        else:
            dose, times, usage = 1, 1 if days >= 28 else uniform_choice(rng, (2, 3, 3)), "식후 30분"
        return {"drug_code": code, "name": entry["ko"], "dose": dose, "times_per_day": times, "days": days,
                "usage": usage, "route": "oral"}
    if unit == "g":
        dose, times, supply, usage = uniform_choice(rng, (10, 20, 30)), 1, 1, "1일 1~2회 환부에 얇게 바름"
    elif unit == "매":
        dose, times, supply, usage = 1, uniform_choice(rng, (1, 2)), min(days, 7), "1일 1~2회 환부에 부착"
    elif unit == "캡슐":
        dose, times, supply, usage = 1, 1, days, "1일 1회 흡입"
    else:
        usage = ("1일 3~4회 점안" if atc.startswith("S01") else "1일 1~2회 흡입" if atc.startswith("R03")
                 else "1일 1회 비강 분무" if atc.startswith("R01") else "지시대로 사용")
        dose, times, supply = 1, 1, 1
    return {"drug_code": code, "name": entry["ko"], "dose": dose, "times_per_day": times, "days": supply,
            "usage": usage, "route": entry["route"]}


def is_severe(diagnoses: tuple[str, ...]) -> bool:
    return bool(diagnoses) and KCD[diagnoses[0]]["severe"]


def is_mild(diagnoses: Sequence[str]) -> bool:
    """Whether a diagnosis is on the graded list of mild conditions (약국 본인부담률 차등 대상 경증질환)."""
    return any(KCD[code].get("mild_graded") for code in diagnoses if code in KCD)


def consultation_in_full(patient: Patient, tier: str, severe: bool) -> bool:
    """상급종합병원 outpatient: the patient pays the consultation fee in full (NHI adults, not 산정특례)."""
    return tier == "tertiary" and patient.category == "nhi" and not severe and patient.age >= 6


def covered_partial_total(items: list[Billed]) -> int:
    return sum(round(i.unit_price * i.quantity * i.days) for i in items if i.covered and not i.full_copay)


def outpatient_terms(patient: Patient, tier: str, severe: bool, items: list[Billed]) -> tuple[float, int | None]:
    """(copay rate, fixed copay or None) of an outpatient visit."""
    category = patient.category
    if category == "medical_aid_1":
        return 0.0, AID1_FIXED[tier]
    if category == "medical_aid_2":
        return (0.0, 1000) if tier in ("clinic", "public_health") else (0.15, None)
    if severe:
        return SEVERE_RATE, None
    rate = OUTPATIENT_RATE[tier]
    if patient.age < 6:
        return rate * 0.7, None
    if patient.age >= 65 and tier == "clinic":
        total = covered_partial_total(items)
        if total <= 15_000:
            return rate, 1500
        return (0.1 if total <= 20_000 else 0.2 if total <= 25_000 else rate), None
    return rate, None


def inpatient_rate(category: str, severe: bool) -> float:
    if category == "medical_aid_1":
        return 0.0
    if category == "medical_aid_2":
        return 0.1
    return SEVERE_RATE if severe else INPATIENT_RATE


def pharmacy_terms(patient: Patient, prescriber_tier: str, severe: bool, fees: list[tuple[str, str, int]],
                   rx: dict[str, Any], prices: dict[str, int], mild: bool = False) -> tuple[float, int | None]:
    """(copay rate, fixed copay or None) of a dispensing; ``mild``: a condition on the graded list."""
    if patient.category in ("medical_aid_1", "medical_aid_2"):
        return 0.0, 500
    if severe:
        return SEVERE_RATE, None
    rate = MILD_PHARMACY_RATE.get(prescriber_tier, PHARMACY_RATE) if mild else PHARMACY_RATE
    if patient.age < 6:
        return rate * 0.7, None
    if patient.age >= 65 and prescriber_tier in ("clinic", "public_health", "hospital"):
        total = sum(fee for *_, fee in fees) + sum(
            round(prices[dispensed_product(m["drug_code"])] * m["dose"] * m["times_per_day"] * m["days"])
            for m in rx["medications"])
        if total <= 10_000:
            return rate, 1000
        if total <= 12_000:
            return 0.2, None
    return rate, None


def issue_placeholder(day: str, patient_index: int, visit_number: int) -> str:
    """Stands for a 교부번호 until the parent numbers it: ``yyyymmdd-#index.visit#``."""
    return f"{day.replace('-', '')}-#{patient_index}.{visit_number}#"
