"""Patient claims (patient-claim.schema.json) over the visits, and the payout each insurer should make.

A patient claims each episode at each provider once, a few days to weeks after its last visit (hard
case ``older_than_3_years``: on the claim day, years later), together with the pharmacies' claims for its
prescriptions. Claims of one patient are adjudicated in claim-date order, so each insurer's history
(policy-year counts and caps) carries from one to the next. People mostly claim what pays: a unit that would
pay nothing is filed only as a hard case (lapsed, abroad) or for a minority (``UNPAID_FILED_SHARE``), and is
then tagged with its reason (``below_deductible``, ``rider_not_held``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from random import Random
from typing import Any

from .care import Visit
from .context import Context
from .hardcases import ABROAD, DIFFERENT_PURPOSE, OLD, SAME_PURPOSE
from .population import Patient
from .tables import between, chance

DOCUMENT_TYPES = ("medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt")

try:  # the payout engine is optional (it was written alongside); without it the payouts are null
    from ..payout.engine import adjudicate as _adjudicate
    from ..payout.policy import policy_from_json as _parse_policy
    from ..payout.shared import share as _share
except Exception:  # pragma: no cover - an engine that does not import must not stop scenario generation
    _adjudicate = _parse_policy = _share = None

Adjudicator = Callable[..., Any]
#: Claim tags of claims that pay nothing, besides the hard cases that pay nothing by design (lapsed, abroad).
BELOW_DEDUCTIBLE = "below_deductible"
RIDER_NOT_HELD = "rider_not_held"
#: Hard cases that pay nothing by design (the payout rules must refuse them): their tag says why.
FILED_UNPAID = frozenset({OLD, ABROAD})
#: Hard cases filed whatever they pay (the same-day rules are tested on claims below the deductible too).
FILED_ANYWAY = FILED_UNPAID | {SAME_PURPOSE, DIFFERENT_PURPOSE}
#: Why a filed claim pays nothing, as its tags say (docs/domain.md §6); the manifest counts them.
ZERO_REASONS = (OLD, ABROAD, RIDER_NOT_HELD, BELOW_DEDUCTIBLE)
#: Share of the claims that would pay nothing (below the deductible, a rider not held) that are filed anyway:
#: people mostly claim what pays, and the kit keeps this minority to test the zero-payout path.
UNPAID_FILED_SHARE = 0.03


def payout_engine() -> Adjudicator | None:
    """The payout engine's ``adjudicate``, or None when it is not available."""
    return _adjudicate


def seed_tag(seed: int) -> str:
    """Six letters derived from the seed: request ids of different scenarios do not collide."""
    digest = hashlib.sha256(str(seed).encode()).digest()
    return "".join(chr(97 + b % 26) for b in digest[:6])


def insured(patient: Patient, rng: Random) -> dict[str, Any]:
    r = patient.record
    if patient.age < 19:
        relation = "child"
    elif patient.age >= 80 and rng.random() < 0.5:
        relation = "parent"
    else:
        relation = "self"
    return {"name": r["name"], "birth_date": r["birth_date"], "resident_number_masked": r["resident_number_masked"],
            "identity_token": r["identity_token"], "relation": relation}


def filing_units(visits: list[Visit], ctx: Context, rng: Random) -> list[tuple[date, list[list[Visit]]]]:
    """The patient's claims grouped as the patient files them: each episode at each provider is one claim, and
    a visit's claim is filed together with the claims of the pharmacies that filled its prescriptions (same
    claim day), in claim-day order."""
    groups: dict[tuple[str, int, bool], list[Visit]] = {}
    for visit in visits:  # visits are in date order, so groups are too
        groups.setdefault((visit.provider.code, visit.episode, visit.old), []).append(visit)
    group_of = {v.visit_id: key for key, group in groups.items() for v in group}
    unit_of = {key: key for key in groups}
    for key, group in groups.items():
        for visit in group:
            if visit.prescribed_by in group_of:
                unit_of[key] = unit_of[group_of[visit.prescribed_by]]
    units: dict[tuple[str, int, bool], list[list[Visit]]] = {}
    for key, group in groups.items():
        units.setdefault(unit_of[key], []).append(group)
    dated = []
    for (_, _, old), members in units.items():
        last = max(v.end for group in members for v in group)
        claim_day = ctx.as_of if old else min(last + timedelta(days=between(rng, 1, 30)), ctx.as_of)
        first = members[0][0]
        dated.append((claim_day, first.start, first.number, members))
    dated.sort(key=lambda entry: entry[:3])
    return [(claim_day, members) for claim_day, _, _, members in dated]


def zero_reason(expected: dict[str, Any], tags: set[str]) -> str | None:
    """Why a claim that pays nothing pays nothing (a claim tag), or None when it pays or a hard-case tag says why."""
    payouts = [p for p in expected.values() if p is not None]
    if not payouts or any(p["total"] for p in payouts) or tags & FILED_UNPAID:
        return None
    codes = {line["code"] for p in payouts for line in p.get("lines", ())}
    if any(code.startswith("exclusion.rider_not_held") for code in codes):
        return RIDER_NOT_HELD
    return BELOW_DEDUCTIBLE


class _Claims:
    """Adjudicates a patient's claims against the insurers' histories; a draft changes nothing until filed."""

    def __init__(self, policies: list[dict[str, Any]], adjudicate: Adjudicator | None) -> None:
        self.by_insurer = {p["insurer_code"]: p["policy"] for p in policies}
        self.insurers = sorted(self.by_insurer)
        self.adjudicate = adjudicate
        self.parsed = _parsed(self.by_insurer) if adjudicate is not None else {}
        self.histories: dict[str, Any] = dict.fromkeys(self.by_insurer)

    def draft(self, claims: list[tuple[dict[str, Any], list[dict[str, Any]]]], day: date
              ) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
        """The expected payouts of ``claims`` (claim, documents) filed in order on ``day``, the histories after
        them and how many payouts the engine could not compute."""
        after, failed, out = dict(self.histories), 0, []
        for claim, documents in claims:
            expected: dict[str, Any] = dict.fromkeys(self.insurers)
            results = {}
            for code in self.insurers if self.adjudicate is not None else ():
                try:
                    result = self.adjudicate(documents, self.parsed[code], after[code], claim_date=day,
                                             accident_type=claim["accident_type"])
                except Exception:  # an engine error must not stop the scenario; it is counted in the manifest
                    failed += 1
                    continue
                after[code] = result.history  # what the policy owes alone (보상책임액): its limits count that
                results[code] = result
            # duplicate cover: the policies share the loss (비례보상), each told of the others
            for code, result in (_share(results) if _share is not None else results).items():
                expected[code] = result.as_payout()
            out.append(expected)
        return out, after, failed


def _total(expected: dict[str, Any]) -> int:
    return sum((payout or {}).get("total", 0) for payout in expected.values())


def make_claims(rng: Random, patient: Patient, policies: list[dict[str, Any]], visits: list[Visit], ctx: Context,
                adjudicate: Adjudicator | None = None) -> tuple[list[dict[str, Any]], int]:
    """claims.jsonl records of the patient, and how many payouts the engine could not compute.

    People mostly claim what pays: of a unit (a visit and its pharmacies), a claim that pays nothing and whose
    absence costs the others nothing is left unfiled, unless it is a hard case filed whatever it pays (lapsed,
    abroad) or one of the minority (``UNPAID_FILED_SHARE``) filed anyway. An unfiled claim leaves no trace in
    any history. Everyone in a scenario has claimed something: a patient whose claims would all go unfiled
    files the first one."""
    book = _Claims(policies, adjudicate)
    person = insured(patient, rng)
    tag = seed_tag(ctx.options.seed)
    out, failures = [], 0
    first_unit = None
    for claim_day, members in filing_units(visits, ctx, rng):
        claims = []
        for group in members:
            documents = [doc for v in group for doc in v.documents]
            claims.append((_claim(rng, patient, person, claim_day, group, documents, book.insurers), documents,
                           {t for v in group for t in v.tags}, chance(rng, UNPAID_FILED_SHARE)))
        first_unit = first_unit or (claim_day, members, claims)
        chosen = list(range(len(claims)))
        expected, after, failed = book.draft([c[:2] for c in claims], claim_day)
        if adjudicate is not None and not failed:
            for k in reversed(range(len(claims))):
                if _total(expected[chosen.index(k)]) or claims[k][2] & FILED_ANYWAY or claims[k][3]:
                    continue
                rest = [i for i in chosen if i != k]
                trial = book.draft([claims[i][:2] for i in rest], claim_day) if rest else ([], book.histories, 0)
                if not trial[2] and sum(map(_total, trial[0])) >= sum(map(_total, expected)):
                    chosen, (expected, after, failed) = rest, trial
        book.histories, failures = after, failures + failed
        _file(out, patient, tag, claim_day, members, claims, chosen, expected, book)
    if not out and first_unit is not None:  # everyone in a scenario has made a claim: the first, paying or not
        claim_day, members, claims = first_unit
        expected, book.histories, failed = book.draft([claims[0][:2]], claim_day)
        failures += failed
        _file(out, patient, tag, claim_day, members, claims, [0], expected, book)
    return out, failures


def _file(out: list[dict[str, Any]], patient: Patient, tag: str, claim_day: date, members: list[list[Visit]],
          claims: list[tuple[dict[str, Any], list[dict[str, Any]], set[str], bool]], chosen: list[int],
          expected: list[dict[str, Any]], book: _Claims) -> None:
    """Append the chosen claims of a unit to ``out``, numbered in filing order, tagged with a zero reason."""
    for i, payout in zip(chosen, expected, strict=True):
        claim, _, tags, _ = claims[i]
        n = len(out) + 1
        claim["request_id"] = f"clm-{tag}-{patient.index:08d}-{n:03d}"
        claim["consent"]["consent_id"] = f"C-{tag}-{patient.index:08d}-{n:03d}"
        reason = zero_reason(payout, tags) if book.adjudicate is not None else None
        out.append({"claim": claim, "claim_date": claim_day.isoformat(), "patient_id": patient.patient_id,
                    "documents_from": "patient" if members[i][0].provider.abroad else "provider",
                    "policies": {code: book.by_insurer[code] for code in book.insurers}, "expected": payout,
                    "tags": sorted(tags | ({reason} if reason else set()))})


def _parsed(by_insurer: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Policies parsed once per patient (the engine accepts its parsed form as well as JSON)."""
    if _parse_policy is None:
        return by_insurer
    try:
        return {code: _parse_policy(policy) for code, policy in by_insurer.items()}
    except Exception:  # the engine rejects the policy: adjudicate reports it per claim (and it is counted)
        return by_insurer


def _claim(rng: Random, patient: Patient, person: dict[str, Any], day: date, group: list[Visit],
           documents: list[dict[str, Any]], insurers: list[str]) -> dict[str, Any]:
    """A patient claim; its request and consent ids are given when it is filed."""
    hour, minute = between(rng, 8, 22), between(rng, 0, 59)
    granted = f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+09:00"
    expires = f"{(day + timedelta(days=7)).isoformat()}T{hour:02d}:{minute:02d}:00+09:00"
    present = {doc["document_type"] for doc in documents}
    return {
        "request_id": "",
        "insured": person,
        "accident_type": group[0].accident,
        "provider_code": group[0].provider.code,
        "visit_ids": [v.visit_id for v in group],
        "document_types": [t for t in DOCUMENT_TYPES if t in present],
        "insurers": insurers,
        "consent": {"consent_id": "", "granted_at": granted, "expires_at": expires, "scope": list(DOCUMENT_TYPES)},
    }
