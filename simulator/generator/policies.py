"""Indemnity policies: 1–2 insurers per patient, a generation from the in-force mix, a contract date in
that generation's sale window, its variant and riders (fixtures/population/generation-mix.json).

Duplicate cover (docs/domain.md §4, §6): since 2009-10 an insurer must check the industry's contract register
before selling, so a second individual policy is rare; most people insured twice hold a group policy
(단체실손, renewed every year by the employer, so of the generation on sale now) beside their own.

Policies are written in the payout engine's format ``s24kit-policy/1`` (fixtures/rules/README.md), so a
claim's ``policies`` can be given to ``adjudicate`` as they are.

Children cannot hold a policy sold before they were born, which would pull the generation mix away from
the in-force shares; :func:`eligibility_factors` corrects the per-patient weights (iterative proportional
fitting over the age structure people.py draws from) so that the mix over all policies matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from random import Random
from typing import Any

from ..people import _AGE_BANDS  # the age structure patients are drawn with
from .options import Options
from .population import Patient
from .tables import Weighted, chance, population_fixture

POLICY_FORMAT = "s24kit-policy/1"
DUPLICATE_SHARE = 0.08  # patients holding two 실손 policies (the kit's choice, docs/domain.md §6)
GROUP_SHARE = 0.85  # of those, working-age people whose second policy is a group policy (단체실손)
WORKING_AGE = (19, 64)
#: A policy starts at least this long before the last visit day, so that there is something to claim.
MIN_COVER_DAYS = 7


@dataclass(frozen=True, slots=True)
class Period:
    id: str
    generation: int
    sale_from: date
    sale_to: date | None
    tables: dict[str, str]
    by_insurer_kind: bool
    variants: Weighted[str] | None


@dataclass(frozen=True, slots=True)
class GenerationMix:
    shares: dict[int, float]
    periods: dict[int, tuple[Period, ...]]
    riders: dict[int, dict[str, float]]
    factors: dict[int, float]
    variant_labels: dict[str, str]
    insurers: Weighted[str]
    insurer_info: dict[str, dict[str, Any]]
    latest_start: date

    def window(self, generation: int, birth: date) -> tuple[date, date] | None:
        """First and last possible contract date of ``generation`` for someone born on ``birth``."""
        periods = self.periods[generation]
        low = max(periods[0].sale_from, birth)
        high = min(periods[-1].sale_to or self.latest_start, self.latest_start)
        return (low, high) if low <= high else None

    def eligible(self, birth: date) -> list[tuple[int, float]]:
        return [(g, self.shares[g] * self.factors[g]) for g in sorted(self.shares)
                if self.factors[g] > 0 and self.window(g, birth)]


def load_mix(options: Options) -> GenerationMix:
    raw = population_fixture("generation-mix.json")
    insurers_raw = population_fixture("insurers.json")["insurers"]
    latest_start = options.end - timedelta(days=MIN_COVER_DAYS)
    shares, periods, riders = {}, {}, {}
    for key, entry in raw["generations"].items():
        g = int(key)
        shares[g] = float(entry["share"])
        riders[g] = dict(entry["riders"])
        periods[g] = tuple(
            Period(p["id"], g, date.fromisoformat(p["sale_from"]),
                   date.fromisoformat(p["sale_to"]) if p["sale_to"] else None, dict(p["tables"]),
                   p["choose"] == "insurer_kind",
                   Weighted(list(p["weights"].items())) if p["choose"] == "weights" else None)
            for p in entry["periods"])
    mix = GenerationMix(shares, periods, riders, dict.fromkeys(shares, 1.0), dict(raw["variant_labels"]),
                        Weighted([(code, info["weight"]) for code, info in insurers_raw.items()]),
                        dict(insurers_raw), latest_start)
    factors = eligibility_factors(mix, options.as_of)
    return GenerationMix(shares, periods, riders, factors, mix.variant_labels, mix.insurers, mix.insurer_info,
                         latest_start)


def eligibility_factors(mix: GenerationMix, as_of: date, rounds: int = 200) -> dict[int, float]:
    """Per-generation weight factors so that the mix over the population matches ``mix.shares``.

    Generations nobody can hold (sold only after the last visit day) get factor 0; the others share
    their weight in proportion.
    """
    strata = []
    for low, high, thousands in _AGE_BANDS:
        for age in range(low, min(high, 95) + 1):
            birth = date(as_of.year - age - 1, as_of.month, min(as_of.day, 28)) + timedelta(days=182)
            eligible = tuple(g for g in mix.shares if mix.window(g, birth))
            strata.append((thousands / (high - low + 1), eligible))
    possible = {g for _, eligible in strata for g in eligible}
    total = sum(mix.shares[g] for g in possible)
    target = {g: (mix.shares[g] / total if g in possible else 0.0) for g in mix.shares}
    factors = {g: (1.0 if g in possible else 0.0) for g in mix.shares}
    weight_total = sum(w for w, _ in strata)
    for _ in range(rounds):
        marginal = dict.fromkeys(mix.shares, 0.0)
        for weight, eligible in strata:
            norm = sum(mix.shares[g] * factors[g] for g in eligible)
            if norm:
                for g in eligible:
                    marginal[g] += weight / weight_total * mix.shares[g] * factors[g] / norm
        for g in possible:
            if marginal[g] > 0:
                factors[g] *= target[g] / marginal[g]
    return factors


def draw_policies(rng: Random, patient: Patient, mix: GenerationMix) -> list[dict[str, Any]]:
    """The patient's policies (one per insurer), as policies.jsonl records."""
    first = mix.insurers.pick(rng)
    insurers = [first]
    if chance(rng, DUPLICATE_SHARE):
        for _ in range(8):
            other = mix.insurers.pick(rng)
            if other != first:
                insurers.append(other)
                break
    group = (len(insurers) == 2 and WORKING_AGE[0] <= patient.age <= WORKING_AGE[1] and chance(rng, GROUP_SHARE))
    eligible = mix.eligible(patient.birth)
    if not eligible:  # born after every sale window closed to this scenario: insure in the newest one
        eligible = [(max(g for g in mix.shares if mix.factors[g] > 0), 1.0)]
    table = Weighted(eligible)
    out = []
    for k, insurer in enumerate(sorted(insurers)):
        if group and insurer == insurers[1]:
            out.append(_group_policy(rng, patient, mix, insurer, k))
        else:
            out.append(_policy(rng, patient, mix, insurer, table.pick(rng), k))
    return out


def _group_policy(rng: Random, patient: Patient, mix: GenerationMix, insurer: str, k: int) -> dict[str, Any]:
    """A group policy (단체실손): renewed within the last year, so of the generation on sale at its renewal."""
    start = mix.latest_start - timedelta(days=int(rng.random() * 365))
    generation = next((g for g in sorted(mix.periods, reverse=True)
                       if mix.periods[g][0].sale_from <= start and mix.factors.get(g, 0) > 0), max(mix.periods))
    record = _policy(rng, patient, mix, insurer, generation, k, start=max(start, mix.periods[generation][0].sale_from))
    record["kind"] = "group"
    record["policy"]["note"] += " · 단체실손 (group)"
    return record


def _policy(rng: Random, patient: Patient, mix: GenerationMix, insurer: str, generation: int, k: int,
            start: date | None = None) -> dict[str, Any]:
    if start is None:
        window = mix.window(generation, patient.birth)
        low, high = window if window else (mix.latest_start, mix.latest_start)
        start = low + timedelta(days=int(rng.random() * ((high - low).days + 1)))
    if (start.month, start.day) == (2, 29):
        start -= timedelta(days=1)  # keep the anniversary a date that exists every year
    period = next((p for p in mix.periods[generation] if p.sale_from <= start and (p.sale_to is None
                                                                                   or start <= p.sale_to)),
                  mix.periods[generation][-1])
    info = mix.insurer_info[insurer]
    variant = info["kind"] if period.by_insurer_kind else period.variants.pick(rng)
    table = period.tables[variant]
    riders = sorted(r for r, p in mix.riders[generation].items() if chance(rng, p))
    label = f"{generation}세대 {mix.variant_labels.get(variant, variant)} ({period.id})"
    policy = {"format": POLICY_FORMAT, "insurer_code": insurer,
              "policy_number": f"{insurer}-{generation}-{patient.index:08d}-{k}",
              "contract_date": start.isoformat(), "table": table, "generation": f"gen{generation}",
              "riders": riders, "note": label}
    return {"patient_id": patient.patient_id, "insurer_code": insurer, "insurer_name": info["ko"], "kind": "individual",
            "generation": generation, "period": period.id, "variant": variant,
            "variant_ko": mix.variant_labels.get(variant, variant), "anniversary": start.strftime("%m-%d"),
            "policy": policy}
