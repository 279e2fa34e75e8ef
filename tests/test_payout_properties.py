"""Properties of the payout engine over generated claims (hypothesis), and the annual counters.

Never negative, never more than the patient paid, never less when only the patient's amount grows, always
the sum of its explanation lines; a history passed along (or through JSON) reproduces the same payouts;
annual count caps and the policy-year boundary (the contract anniversary, not 1 January).
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s24kit.schemas.loader import is_valid
from s24kit.schemas.validation import validate
from s24kit.simulator.payout import adjudicate, history_from_json
from s24kit.simulator.payout.claims import ClaimFactory, provider

POLICIES = {
    "gen1": ({"policy_number": "P-1", "contract_date": "2007-05-01", "table": "gen1-nonlife-example"}, "2008-05-10"),
    "gen2-early": ({"policy_number": "P-2E", "contract_date": "2011-05-01", "generation": "gen2"}, "2026-05-10"),
    "gen2-late": ({"policy_number": "P-2L", "contract_date": "2014-05-01", "generation": "gen2"}, "2026-05-10"),
    "gen3": ({"policy_number": "P-3", "contract_date": "2019-05-01", "generation": "gen3"}, "2026-05-10"),
    "gen3-selective": ({"policy_number": "P-3S", "contract_date": "2019-05-01", "generation": "gen3",
                        "variant": "selective"}, "2026-05-10"),
    "gen4": ({"policy_number": "P-4", "contract_date": "2022-05-01", "generation": "gen4"}, "2026-05-10"),
    "gen4-main-only": ({"policy_number": "P-4M", "contract_date": "2022-05-01", "generation": "gen4", "riders": []},
                       "2026-05-10"),
    "gen5": ({"policy_number": "P-5", "contract_date": "2026-05-06"}, "2026-05-10"),
}
FACILITIES = ("31", "21", "11", "01", "71")
DIAGNOSES = ("M54.5", "J06.9", "C50.9", "K29.7")
BIG_THREE = ("manual_therapy", "eswt", "prolotherapy", "injection", "mri")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

money = st.integers(min_value=0, max_value=600_000)
visit = st.fixed_dictionaries({
    "kind": st.sampled_from(("outpatient", "outpatient", "pharmacy", "inpatient")),
    "facility": st.sampled_from(FACILITIES),
    "covered": money,
    "non_covered": money,
    "big_three": st.lists(st.tuples(st.sampled_from(BIG_THREE), st.integers(1_000, 800_000)), max_size=2),
    "diagnosis": st.sampled_from(DIAGNOSES),
    "category": st.sampled_from(("nhi", "nhi", "nhi", "general", "medical_aid_1")),
    "offset": st.integers(0, 20),
    "ceiling": st.integers(0, 50_000),
    "room": st.sampled_from((0, 0, 300_000)),
})


def build(f: ClaimFactory, start: str, v: dict) -> list[dict]:
    day = (date.fromisoformat(start) + timedelta(days=v["offset"])).isoformat()
    prov = provider(v["facility"], 1 + FACILITIES.index(v["facility"]))
    dx = (v["diagnosis"],)
    if v["kind"] == "pharmacy":
        return f.pharmacy(day, prescriber_doc=prov, covered=v["covered"], non_covered=v["non_covered"], diagnosis=dx,
                          patient_category=v["category"], ceiling_excess=v["ceiling"])
    if v["kind"] == "inpatient":
        end = (date.fromisoformat(day) + timedelta(days=3)).isoformat()
        return f.inpatient(day, end, provider_doc=prov, covered=v["covered"] * 10, non_covered=v["non_covered"],
                           private_room=v["room"], big_three=v["big_three"], diagnosis=dx,
                           patient_category=v["category"], ceiling_excess=v["ceiling"])
    return f.outpatient(day, provider_doc=prov, covered=v["covered"], non_covered=v["non_covered"],
                        big_three=v["big_three"], diagnosis=dx, patient_category=v["category"],
                        ceiling_excess=v["ceiling"])


def patient_paid(docs: list[dict]) -> int:
    """What the patient paid on the receipts, without what NHIS refunds (상한액 초과금)."""
    paid = 0
    for d in docs:
        if d["document_type"] == "medical_receipt":
            paid += d["totals"]["patient_total"]
        elif d["document_type"] == "pharmacy_receipt":
            paid += d["totals"]["amount_received"] - d["totals"]["ceiling_excess"]
    return paid


def claim_day(docs: list[dict]) -> str:
    return max(d["issue_date"] for d in docs)


@PROPERTY
@given(name=st.sampled_from(sorted(POLICIES)), visits=st.lists(visit, min_size=1, max_size=3))
def test_never_negative_never_above_what_was_paid_and_the_sum_of_its_lines(name: str, visits: list[dict]) -> None:
    policy, start = POLICIES[name]
    f = ClaimFactory()
    docs = [d for v in visits for d in build(f, start, v)]
    result = adjudicate(docs, policy, None, claim_date=claim_day(docs))
    assert 0 <= result.total <= patient_paid(docs)
    assert result.total == sum(line.amount for line in result.lines)
    assert all(isinstance(line.amount, int) for line in result.lines)
    payout = result.as_payout()
    assert is_valid("payout", payout)
    assert json.loads(json.dumps(payout)) == payout


@PROPERTY
@given(name=st.sampled_from(sorted(POLICIES)), v=visit, extra=st.integers(1, 300_000),
       bucket=st.sampled_from(("covered", "non_covered", "big_three")))
def test_never_decreases_when_the_patient_pays_more(name: str, v: dict, extra: int, bucket: str) -> None:
    policy, start = POLICIES[name]
    more = dict(v)
    if bucket == "big_three":
        if not v["big_three"]:
            return
        kind, amount = v["big_three"][0]
        more["big_three"] = [(kind, amount + extra), *v["big_three"][1:]]
    else:
        more[bucket] = v[bucket] + extra
    docs, docs_more = build(ClaimFactory(), start, v), build(ClaimFactory(), start, more)
    day = max(claim_day(docs), claim_day(docs_more))
    assert adjudicate(docs_more, policy, None, claim_date=day).total >= adjudicate(docs, policy, None,
                                                                                    claim_date=day).total


@PROPERTY
@given(name=st.sampled_from(sorted(POLICIES)), visits=st.lists(visit, min_size=2, max_size=3),
       seed=st.integers(0, 1000))
def test_document_order_does_not_matter(name: str, visits: list[dict], seed: int) -> None:
    policy, start = POLICIES[name]
    f = ClaimFactory()
    docs = [d for v in visits for d in build(f, start, v)]
    shuffled = docs[:]
    random.Random(seed).shuffle(shuffled)
    day = claim_day(docs)
    assert adjudicate(shuffled, policy, None, claim_date=day).total == adjudicate(docs, policy, None,
                                                                                  claim_date=day).total


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(POLICIES)), claims=st.lists(st.lists(visit, min_size=1, max_size=2), min_size=2,
                                                                max_size=6))
def test_history_round_trip(name: str, claims: list[list[dict]]) -> None:
    """Claims one by one with the history passed along = the same with the history through JSON = a rerun."""
    policy, start = POLICIES[name]
    f = ClaimFactory()
    sequence = [[d for v in visits for d in build(f, start, v)] for visits in claims]
    day = max(claim_day(docs) for docs in sequence)

    def run(through_json: bool) -> tuple[list[int], str]:
        history, totals = None, []
        for docs in sequence:
            result = adjudicate(docs, policy, history, claim_date=day)
            totals.append(result.total)
            history = json.loads(json.dumps(result.history.to_json())) if through_json else result.history
        final = history if through_json else history.to_json()
        return totals, json.dumps(final, sort_keys=True)

    direct, via_json, again = run(False), run(True), run(False)
    assert direct == via_json == again
    paid = json.loads(direct[1])["years"]
    assert sum(y["sums"].get("paid", 0) for y in paid.values()) == sum(direct[0])
    assert history_from_json(json.loads(direct[1])).to_json()["years"].keys() == paid.keys()


# -- annual counters and the policy year ------------------------------------------------------------------

GEN4 = {"policy_number": "P-4", "contract_date": "2025-03-15", "generation": "gen4"}


def test_non_covered_visit_count_cap_and_policy_year_boundary() -> None:
    """4세대 비급여 통원 100회/년, counted per policy year from 15 March — 1 January resets nothing."""
    f = ClaimFactory()
    history, totals = None, []
    first = date(2025, 10, 1)
    for i in range(100):
        day = (first + timedelta(days=i)).isoformat()  # runs past 1 January 2026
        result = adjudicate(f.outpatient(day, non_covered=50_000), GEN4, history, claim_date="2026-04-01")
        history, totals = result.history, [*totals, result.total]
    assert totals == [20_000] * 100
    assert history.count("2025-03-15", "non_covered.visits") == 100
    for day, expected in (("2026-01-20", 0), ("2026-03-14", 0), ("2026-03-15", 20_000)):
        result = adjudicate(f.outpatient(day, non_covered=50_000), GEN4, history, claim_date="2026-04-01")
        assert result.total == expected, day
        history = result.history
    capped = adjudicate(f.outpatient("2026-03-13", non_covered=50_000), GEN4, history, claim_date="2026-04-01")
    assert any(line.code == "non_covered.cap.annual_count" for line in capped.lines)
    assert history.count("2026-03-15", "non_covered.visits") == 1


def test_gen3_180_visits_a_year() -> None:
    policy = {"policy_number": "P-3", "contract_date": "2019-05-01", "generation": "gen3"}
    f = ClaimFactory()
    history, paid = None, []
    for i in range(181):
        day = (date(2025, 5, 1) + timedelta(days=i)).isoformat()
        result = adjudicate(f.outpatient(day, covered=20_000), policy, history, claim_date="2026-01-01")
        history, paid = result.history, [*paid, result.total]
    assert paid == [10_000] * 180 + [0]


def test_manual_group_50_acts_and_amount_limit() -> None:
    """50 acts a year for the manual group (with documented improvement past the 10-act review gate)."""
    f = ClaimFactory()
    history, paid = None, []
    for i in range(51):
        day = (date(2025, 4, 1) + timedelta(days=i)).isoformat()
        docs = f.outpatient(day, big_three=[("eswt", 80_000)])
        result = adjudicate(docs, GEN4, history, claim_date="2025-12-01", improvement_documented=True)
        history, paid = result.history, [*paid, result.total]
    assert paid == [50_000] * 50 + [0]
    assert history.sum("2025-03-15", "big_three.manual.paid") == 2_500_000


def test_mri_annual_amount_limit() -> None:
    f = ClaimFactory()
    history, paid = None, []
    for i in range(8):
        docs = f.outpatient(f"2025-04-{i + 1:02d}", big_three=[("mri", 600_000)])
        result = adjudicate(docs, GEN4, history, claim_date="2025-12-01")
        history, paid = result.history, [*paid, result.total]
    assert paid == [420_000] * 7 + [60_000]  # 300만 a year: 7 × 420,000 = 2,940,000, then 60,000 left


def test_generated_documents_are_valid() -> None:
    f = ClaimFactory()
    for kind in ("outpatient", "pharmacy", "inpatient"):
        for facility in FACILITIES:
            v = {"kind": kind, "facility": facility, "covered": 12_300, "non_covered": 6_789,
                 "big_three": [("mri", 500_000)], "diagnosis": "C50.9", "category": "nhi", "offset": 3,
                 "ceiling": 1_000, "room": 300_000}
            assert validate(build(f, "2026-05-10", v)) == []
