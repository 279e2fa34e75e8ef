"""Hard cases: the situations payout rules and connectors get wrong, produced on purpose and tagged.

A share of patients (``--hard-cases RATE``) is given one deliberate hard case; afterwards :func:`tag`
marks every visit that IS one, whether deliberate or natural (most same-day pharmacy visits are natural).

Tags (also the manifest's ``counts.hard_cases`` keys):

- ``same_day_same_purpose``: two or more outpatient visits on one day with the same main diagnosis
  category (payout: one visit, the highest deductible once);
- ``same_day_different_purpose``: two or more outpatient visits on one day for different purposes
  (payout: separate visits, each with its deductible);
- ``outpatient_and_pharmacy_same_day``: a visit and the dispensing of its prescription on the same day;
- ``older_than_3_years``: claimed more than three years after the treatment (the claim has lapsed);
- ``abroad``: treatment at a provider outside Korea (not covered; the patient brings the documents, the
  visit is not in the EMR seed);
- ``medical_aid``: a 의료급여 1종 or 2종 patient (fixed copays).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from random import Random
from typing import Any

from .care import Planned, Visit, episode, workday
from .catalog import KIND_BY_NAME, Kind
from .context import Context
from .population import Patient
from .tables import Weighted, chance, uniform_choice

SAME_PURPOSE = "same_day_same_purpose"
DIFFERENT_PURPOSE = "same_day_different_purpose"
PHARMACY_SAME_DAY = "outpatient_and_pharmacy_same_day"
OLD = "older_than_3_years"
ABROAD = "abroad"
MEDICAL_AID = "medical_aid"
TAGS = (SAME_PURPOSE, DIFFERENT_PURPOSE, PHARMACY_SAME_DAY, OLD, ABROAD, MEDICAL_AID)
#: Kinds of care a patient may have had abroad.
ABROAD_KINDS = ("respiratory", "gastro", "injury", "skin", "msk")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def old_window(patient: Patient, policies: list[dict[str, Any]], ctx: Context) -> tuple[date, date] | None:
    """Days more than three years before the claim day on which the patient was already insured."""
    as_of = ctx.as_of
    covered = max(date.fromisoformat(p["policy"]["contract_date"]) for p in policies) + timedelta(days=1)
    low = max(add_years(as_of, -4), covered, patient.birth)
    high = add_years(as_of, -3) - timedelta(days=10)
    return (low, high) if low <= high else None


def choose(rng: Random, patient: Patient, policies: list[dict[str, Any]], ctx: Context) -> str | None:
    """The patient's deliberate hard case, or None (drawn with probability ``--hard-cases``)."""
    if not chance(rng, ctx.options.hard_cases):
        return None
    cases = [case for case in TAGS if case != OLD or old_window(patient, policies, ctx)]
    case = uniform_choice(rng, cases)
    if case == MEDICAL_AID:
        patient.category = "medical_aid_1" if chance(rng, 0.6) else "medical_aid_2"
        patient.record["patient_category"] = patient.category
    return case


def _outpatient_kinds(patient: Patient, ctx: Context) -> Weighted[Kind] | None:
    pairs = [(k, k.rate * k.factor(patient.age, patient.sex)) for k in ctx.kinds if k.stay is None]
    pairs = [(k, w) for k, w in pairs if w > 0]
    return Weighted(pairs) if pairs else None


def apply(rng: Random, case: str | None, patient: Patient, policies: list[dict[str, Any]],
          planned: list[Planned], window: tuple[date, date], ctx: Context) -> None:
    """Change ``planned`` so that it holds the deliberate hard case ``case``."""
    if case is None or case == MEDICAL_AID:
        return
    kinds = _outpatient_kinds(patient, ctx)
    next_episode = 1 + max((p.episode for p in planned), default=-1)
    if case == ABROAD:
        kind = KIND_BY_NAME[uniform_choice(rng, ABROAD_KINDS)]
        first, last = window
        day = first + timedelta(days=int(rng.random() * ((last - first).days + 1)))
        found = episode(rng, patient, kind, window, ctx, next_episode, day=day, visits=1,
                        provider=(uniform_choice(rng, ctx.network.foreign), kind.departments[0]))
        planned += found
        return
    if kinds is None:
        return
    if case == OLD:
        span = old_window(patient, policies, ctx)
        if span:
            day = workday(rng, span[0] + timedelta(days=int(rng.random() * ((span[1] - span[0]).days + 1))), span[1])
            found = episode(rng, patient, kinds.pick(rng), span, ctx, next_episode, day=day, visits=1)
            for item in found:
                item.old = True
            planned += found
        return
    outpatient = [p for p in planned if not p.stay_days and not p.provider.abroad and not p.old]
    if not outpatient:
        outpatient = episode(rng, patient, kinds.pick(rng), window, ctx, next_episode, visits=1)
        planned += outpatient
        next_episode += 1
        if not outpatient:
            return
    base = uniform_choice(rng, outpatient)
    if case == PHARMACY_SAME_DAY:
        base.force_rx = True
    elif case == SAME_PURPOSE:
        where = ctx.network.pick(rng, base.kind, patient, exclude=base.provider.code)
        provider, department = where or (base.provider, base.department)
        planned.append(Planned(base.day, base.kind, base.episode, 0 if where else 1, provider, department,
                               base.diagnoses, base.accident))
    elif case == DIFFERENT_PURPOSE:
        for _ in range(8):
            found = episode(rng, patient, kinds.pick(rng), window, ctx, next_episode, day=base.day, visits=1)
            if found and found[0].diagnoses[0][:3] != base.diagnoses[0][:3]:
                planned += found
                return


def tag(visits: list[Visit], patient: Patient, as_of: date) -> None:
    """Mark every visit that is a hard case (deliberate or natural)."""
    by_day: dict[date, list[Visit]] = defaultdict(list)
    by_id = {v.visit_id: v for v in visits}
    for visit in visits:
        if visit.setting == "outpatient" and not visit.provider.abroad:
            by_day[visit.start].append(visit)
        if visit.setting == "pharmacy" and visit.prescribed_by:
            source = by_id[visit.prescribed_by]
            if source.start == visit.start:
                visit.tags.add(PHARMACY_SAME_DAY)
                source.tags.add(PHARMACY_SAME_DAY)
        if visit.provider.abroad:
            visit.tags.add(ABROAD)
        if visit.old and as_of > add_years(visit.end, 3):
            visit.tags.add(OLD)
        if patient.category.startswith("medical_aid"):
            visit.tags.add(MEDICAL_AID)
    for group in by_day.values():
        if len(group) < 2:
            continue
        purposes: dict[str, int] = defaultdict(int)
        for visit in group:
            purposes[visit.purpose] += 1
        for visit in group:
            if purposes[visit.purpose] > 1:
                visit.tags.add(SAME_PURPOSE)
            if len(purposes) > 1:
                visit.tags.add(DIFFERENT_PURPOSE)
