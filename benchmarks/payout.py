"""Payout engine: adjudication on top of parse + validate, against parse + validate alone, same claims, same run.

Goals: adjudication adds at most 50% to parsing and validating the claims (ratio = rate with adjudication /
rate without ≥ 0.67) and adjudicates ≥ 10,000 claims per second on one core (``adjudications_per_s``).
The sides run in alternating passes over the same claims (``interleaved_rates``), so a ratio above 1 — more
work done faster — cannot come from the machine's load changing between them.

The claims are varied (clinic, hospital, tertiary, pharmacy, inpatient, big three; generations 2 to 5),
each adjudicated against the insured's history of earlier claims in the policy year.

    python benchmarks/payout.py [--claims 400] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved_rates, result

from s24kit.schemas.validation import validate
from s24kit.simulator.payout import History, Policy, adjudicate, policy_from_json
from s24kit.simulator.payout.claims import ClaimFactory, provider

POLICIES = [
    {"policy_number": "B-2", "contract_date": "2011-03-01", "generation": "gen2"},  # policy years from 1 March
    {"policy_number": "B-3", "contract_date": "2019-03-01", "generation": "gen3"},
    {"policy_number": "B-4", "contract_date": "2022-03-01", "generation": "gen4"},
    {"policy_number": "B-4", "contract_date": "2022-03-01", "generation": "gen4"},
    {"policy_number": "B-5", "contract_date": "2026-05-06"},  # 5세대; all claims fall in June to September
]
DIAGNOSES = ("M54.5", "J06.9", "M17.1", "K29.7", "C50.9")


def visit(f: ClaimFactory, rng: random.Random, day: str) -> list[dict]:
    """One claim's documents: a mix like the relay's traffic (mostly outpatient, 2–4 documents)."""
    dx = (rng.choice(DIAGNOSES),)
    kind = rng.choices(("clinic", "clinic_pharmacy", "hospital", "big_three", "pharmacy", "inpatient"),
                       weights=(4, 4, 2, 2, 1, 1))[0]
    clinic = provider("31", rng.randint(1, 50))
    if kind == "clinic":
        return f.outpatient(day, provider_doc=clinic, covered=rng.randint(3, 40) * 1000,
                            non_covered=rng.choice((0, 0, 30_000, 80_000)), diagnosis=dx)
    if kind == "clinic_pharmacy":
        return (f.outpatient(day, provider_doc=clinic, covered=rng.randint(3, 20) * 1000, diagnosis=dx)
                + f.pharmacy(day, prescriber_doc=clinic, covered=rng.randint(1, 15) * 1000, diagnosis=dx))
    if kind == "hospital":
        prov = provider(rng.choice(("21", "11", "01")), rng.randint(1, 20))
        return f.outpatient(day, provider_doc=prov, covered=rng.randint(10, 300) * 1000,
                            non_covered=rng.choice((0, 50_000, 150_000)), diagnosis=dx)
    if kind == "big_three":
        treatments = [(rng.choice(("manual_therapy", "eswt", "injection")), rng.randint(5, 20) * 10_000)]
        if rng.random() < 0.2:
            treatments.append(("mri", 600_000))
        return f.outpatient(day, provider_doc=clinic, covered=rng.randint(5, 20) * 1000, big_three=treatments,
                            diagnosis=dx)
    if kind == "pharmacy":
        return f.pharmacy(day, prescriber_doc=clinic, covered=rng.randint(2, 30) * 1000,
                          non_covered=rng.choice((0, 10_000)), diagnosis=dx)
    start = day[:8] + "01"
    return f.inpatient(start, day, provider_doc=provider(rng.choice(("21", "11")), rng.randint(1, 20)),
                       covered=rng.randint(2, 80) * 100_000, non_covered=rng.randint(0, 20) * 50_000,
                       private_room=rng.choice((0, 400_000)), diagnosis=dx)


def corpus(count: int, seed: int = 7) -> list[tuple[str, Policy, History, str]]:
    """(serialised claim, policy, history before it, claim date) per claim; histories hold 3 earlier claims."""
    rng = random.Random(seed)
    policies = [policy_from_json(p) for p in POLICIES]  # loaded once, as an insurer keeps its policies
    claims = []
    for i in range(count):
        f = ClaimFactory()
        policy = policies[i % len(policies)]
        history = History(policy.policy_number)
        for month in (6, 7, 8):
            earlier = visit(f, rng, f"2026-0{month}-{rng.randint(10, 28):02d}")
            history = adjudicate(earlier, policy, history, claim_date="2026-09-01").history
        docs = visit(f, rng, f"2026-09-{rng.randint(10, 28):02d}")
        assert validate(docs) == [], validate(docs)
        text = json.dumps({"claim_date": "2026-10-01", "accident_type": "disease", "documents": docs},
                          ensure_ascii=False)
        claims.append((text, policy, history, "2026-10-01"))
    return claims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    claims = corpus(args.claims)
    parsed = [(claim["documents"], policy, history, day, claim["accident_type"])
              for text, policy, history, day in claims if (claim := json.loads(text))]

    def parse_validate(item: tuple) -> None:
        claim = json.loads(item[0])
        validate(claim["documents"])

    def parse_validate_adjudicate(item: tuple) -> None:
        text, policy, history, day = item
        claim = json.loads(text)
        validate(claim["documents"])
        adjudicate(claim["documents"], policy, history, claim_date=day, accident_type=claim["accident_type"])

    def adjudicate_only(item: tuple) -> None:
        docs, policy, history, day, accident_type = item
        adjudicate(docs, policy, history, claim_date=day, accident_type=accident_type)

    parse_validate(claims[0])
    parse_validate_adjudicate(claims[0])  # compile validators and load tables outside the timing
    # the two sides in alternating passes: doing more work (adjudication on top) can then never look faster
    rates = interleaved_rates({"baseline": (parse_validate, claims), "value": (parse_validate_adjudicate, claims),
                               "alone": (adjudicate_only, parsed)}, min_seconds=args.seconds)
    baseline, value, alone = rates["baseline"], rates["value"], rates["alone"]
    documents = sum(len(p[0]) for p in parsed)
    total = sum(adjudicate(*p[:3], claim_date=p[3], accident_type=p[4]).total for p in parsed)
    print(f"claims: {len(claims)} ({documents} documents, generations 2-5, each with 3 earlier claims in its "
          f"history; payouts {total:,} won in all)")
    print(f"parse + validate:             {baseline:,.0f} claims/s")
    print(f"parse + validate + adjudicate: {value:,.0f} claims/s (ratio {value / baseline:.3f}, goal >= 0.67)")
    print(f"adjudicate alone:             {alone:,.0f} adjudications/s (goal >= 10,000)")
    result("payout", value, "claims/s parsed, validated and adjudicated", baseline,
           adjudications_per_s=round(alone, 1), claims=len(claims), documents=documents)


if __name__ == "__main__":
    main()
