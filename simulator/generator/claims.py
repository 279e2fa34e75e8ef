"""Patient claims (patient-claim.schema.json) over the visits, and the payout each insurer should make.

A patient claims each episode at each provider once, a few days to weeks after its last visit (hard
case ``older_than_3_years``: on the claim day, years later). Claims of one patient are adjudicated in
claim-date order, so each insurer's history (policy-year counts and caps) carries from one to the next.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from random import Random
from typing import Any

from .care import Visit
from .context import Context
from .population import Patient
from .tables import between

DOCUMENT_TYPES = ("medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt")

try:  # the payout engine is optional (it was written alongside); without it the payouts are null
    from ..payout.engine import adjudicate as _adjudicate
    from ..payout.policy import policy_from_json as _parse_policy
    from ..payout.shared import share as _share
except Exception:  # pragma: no cover - an engine that does not import must not stop scenario generation
    _adjudicate = _parse_policy = _share = None

Adjudicator = Callable[..., Any]


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


def make_claims(rng: Random, patient: Patient, policies: list[dict[str, Any]], visits: list[Visit], ctx: Context,
                adjudicate: Adjudicator | None = None) -> tuple[list[dict[str, Any]], int]:
    """claims.jsonl records of the patient, and how many payouts the engine could not compute."""
    groups: dict[tuple[str, int, bool], list[Visit]] = {}
    for visit in visits:  # visits are in date order, so groups are too
        groups.setdefault((visit.provider.code, visit.episode, visit.old), []).append(visit)
    dated = []
    for (_, _, old), group in groups.items():
        last = max(v.end for v in group)
        claim_day = ctx.as_of if old else min(last + timedelta(days=between(rng, 1, 30)), ctx.as_of)
        dated.append((claim_day, group[0].start, group[0].number, group))
    dated.sort(key=lambda entry: entry[:3])
    by_insurer = {p["insurer_code"]: p["policy"] for p in policies}
    parsed = _parsed(by_insurer) if adjudicate is not None else {}
    histories: dict[str, Any] = dict.fromkeys(by_insurer)
    person = insured(patient, rng)
    tag = seed_tag(ctx.options.seed)
    out, failures = [], 0
    for n, (claim_day, _, _, group) in enumerate(dated, start=1):
        documents = [doc for v in group for doc in v.documents]
        claim = _claim(rng, patient, person, tag, n, claim_day, group, documents, sorted(by_insurer))
        expected: dict[str, Any] = dict.fromkeys(sorted(by_insurer))
        results = {}
        for code in sorted(by_insurer):
            if adjudicate is None:
                continue
            try:
                result = adjudicate(documents, parsed[code], histories[code], claim_date=claim_day,
                                    accident_type=claim["accident_type"])
            except Exception:  # an engine error must not stop the scenario; it is counted in the manifest
                failures += 1
                continue
            histories[code] = result.history  # what the policy owes alone (보상책임액): its limits count that
            results[code] = result
        # duplicate cover: the policies share the loss (비례보상), each told of the others
        for code, result in (_share(results) if _share is not None else results).items():
            expected[code] = result.as_payout()
        tags = sorted({t for v in group for t in v.tags})
        out.append({"claim": claim, "claim_date": claim_day.isoformat(), "patient_id": patient.patient_id,
                    "documents_from": "patient" if group[0].provider.abroad else "provider",
                    "policies": {code: by_insurer[code] for code in sorted(by_insurer)}, "expected": expected,
                    "tags": tags})
    return out, failures


def _parsed(by_insurer: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Policies parsed once per patient (the engine accepts its parsed form as well as JSON)."""
    if _parse_policy is None:
        return by_insurer
    try:
        return {code: _parse_policy(policy) for code, policy in by_insurer.items()}
    except Exception:  # the engine rejects the policy: adjudicate reports it per claim (and it is counted)
        return by_insurer


def _claim(rng: Random, patient: Patient, person: dict[str, Any], tag: str, n: int, day: date, group: list[Visit],
           documents: list[dict[str, Any]], insurers: list[str]) -> dict[str, Any]:
    hour, minute = between(rng, 8, 22), between(rng, 0, 59)
    granted = f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+09:00"
    expires = f"{(day + timedelta(days=7)).isoformat()}T{hour:02d}:{minute:02d}:00+09:00"
    present = {doc["document_type"] for doc in documents}
    return {
        "request_id": f"clm-{tag}-{patient.index:08d}-{n:03d}",
        "insured": person,
        "accident_type": group[0].accident,
        "provider_code": group[0].provider.code,
        "visit_ids": [v.visit_id for v in group],
        "document_types": [t for t in DOCUMENT_TYPES if t in present],
        "insurers": insurers,
        "consent": {"consent_id": f"C-{tag}-{patient.index:08d}-{n:03d}", "granted_at": granted, "expires_at": expires,
                    "scope": list(DOCUMENT_TYPES)},
    }
