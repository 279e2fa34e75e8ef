"""Duplicate cover (중복가입, 비례보상): several 실손 policies share one loss (docs/domain.md §4).

Every expected amount is worked out by hand in the comments, never recomputed by the engine.
"""

from __future__ import annotations

import json
from collections import Counter

from s24kit.simulator.payout import adjudicate, render
from s24kit.simulator.payout.claims import ClaimFactory
from s24kit.simulator.payout.shared import Liability, apportion, share

from .conftest import generated_scenario

DAY, CLAIMED = "2026-04-06", "2026-04-10"
GEN4 = {"policy_number": "A-4", "insurer_code": "INSA", "contract_date": "2022-03-01", "generation": "gen4"}
GEN3_SELECTIVE = {"policy_number": "B-3", "insurer_code": "INSB", "contract_date": "2018-03-01",
                  "generation": "gen3", "variant": "selective"}
GEN2_EARLY = {"policy_number": "C-2", "insurer_code": "INSC", "contract_date": "2011-03-01",
              "generation": "gen2", "table": "gen2-early"}


def _shared(documents: list[dict], policies: dict[str, dict]) -> dict[str, int]:
    alone = {code: adjudicate(documents, policy, None, claim_date=CLAIMED, accident_type="disease")
             for code, policy in policies.items()}
    return {code: adj.total for code, adj in share(alone).items()}


def test_two_insurers_share_the_loss_as_the_standard_terms_say():
    # 의원, covered 100,000. A (4세대): deductible max(20% = 20,000, 1만) → liability 80,000.
    # B (2세대 early): fixed 1만 → 90,000. Limit 100,000 − 10,000 = 90,000 < 170,000:
    # A 80,000 × 90,000 / 170,000 = 42,352.94 → 42,352 (+1, largest remainder) = 42,353; B 47,647.05 → 47,647.
    documents = ClaimFactory().outpatient(DAY, covered=100_000)
    assert _shared(documents, {"INSA": GEN4, "INSC": GEN2_EARLY}) == {"INSA": 42_353, "INSC": 47_647}


def test_three_insurers_of_three_generations():
    # 의원, covered 80,000. A (4세대): max(16,000, 1만) → 64,000. B (3세대 선택형): max(1만, 10% = 8,000) → 70,000.
    # C (2세대 early): 1만 → 70,000. Sum 204,000 > limit 80,000 − 10,000 = 70,000.
    # A 64,000 × 70,000 / 204,000 = 21,960.78; B and C 70,000 × 70,000 / 204,000 = 24,019.61 each.
    # Rounded down: 21,960 + 24,019 + 24,019 = 69,998; the 2 won left go to A (.78) and B (.61, tie: first).
    documents = ClaimFactory().outpatient(DAY, covered=80_000)
    paid = _shared(documents, {"INSA": GEN4, "INSB": GEN3_SELECTIVE, "INSC": GEN2_EARLY})
    assert paid == {"INSA": 21_961, "INSB": 24_020, "INSC": 24_019}
    assert sum(paid.values()) == 70_000


def test_a_small_bill_is_shared_and_one_policy_never_shares():
    # covered 12,000 at a 의원: A (4세대) max(2,400, 1만) → 2,000; C (2세대 early) 1만 → 2,000.
    # Sum 4,000 > limit 12,000 − 10,000 = 2,000: each pays 2,000 × 2,000 / 4,000 = 1,000.
    documents = ClaimFactory().outpatient(DAY, covered=12_000)
    assert _shared(documents, {"INSA": GEN4, "INSC": GEN2_EARLY}) == {"INSA": 1_000, "INSC": 1_000}
    # non-covered 50,000 under one 4세대 policy: max(30% = 15,000, 3만) → 20,000, paid in full.
    alone = adjudicate(ClaimFactory().outpatient(DAY, non_covered=50_000), GEN4, None, claim_date=CLAIMED,
                       accident_type="disease")
    assert share({"INSA": alone})["INSA"].total == 20_000


def test_apportion_by_hand_keeps_the_sum_exact():
    liabilities = {"X": Liability(10_000, 30_000, 10_000), "Y": Liability(10_000, 30_000, 10_000),
                   "Z": Liability(10_000, 30_000, 10_000)}
    # limit 30,000 − 10,000 = 20,000 < 30,000: 6,666.67 each → 6,666 ×3 = 19,998; +1 to X and Y (ties, key order)
    assert apportion(liabilities) == {"X": 6_667, "Y": 6_667, "Z": 6_666}
    # under the limit: each pays its liability
    assert apportion({"X": Liability(5_000, 30_000, 10_000), "Y": Liability(5_000, 30_000, 10_000)}) == \
        {"X": 5_000, "Y": 5_000}


def test_the_explanation_shows_the_share():
    documents = ClaimFactory().outpatient(DAY, covered=100_000)
    alone = {code: adjudicate(documents, policy, None, claim_date=CLAIMED, accident_type="disease")
             for code, policy in {"INSA": GEN4, "INSC": GEN2_EARLY}.items()}
    shared = share(alone)["INSA"]
    assert sum(line.amount for line in shared.lines) == shared.total == 42_353
    text = render(shared, "ko", width=400)
    assert "중복가입 비례보상" in text and "80,000원 × 분담한도 90,000원 ÷ 보상책임액 합계 170,000원" in text
    assert "Duplicate cover" in render(shared, "en", width=400)


def _paid_by_patient(documents: list[dict]) -> int:
    """What the patient paid for a claim's documents: 환자부담 총액 of receipts, 수납금액 of pharmacy receipts."""
    return sum(d["totals"]["patient_total"] if d["document_type"] == "medical_receipt"
               else d["totals"]["amount_received"]
               for d in documents if d["document_type"] in ("medical_receipt", "pharmacy_receipt"))


def test_generated_payouts_together_never_exceed_what_the_patient_paid(tmp_path_factory):
    # a property over generated scenarios: three seeds, every claim of every patient insured twice
    checked = 0
    for seed in (3, 16, 2026):
        out = generated_scenario(tmp_path_factory, "--patients", "250", "--seed", str(seed))
        documents = {}
        for line in (out / "expected/documents.jsonl").read_text().splitlines():
            doc = json.loads(line)
            documents.setdefault(doc["visit_id"], []).append(doc)
        policies = [json.loads(line) for line in (out / "policies.jsonl").read_text().splitlines()]
        holders = Counter(p["patient_id"] for p in policies)
        assert 0 < sum(1 for n in holders.values() if n > 1) < 0.2 * len(holders)
        for line in (out / "claims.jsonl").read_text().splitlines():
            record = json.loads(line)
            if len(record["expected"]) < 2:
                continue
            docs = [d for visit in record["claim"]["visit_ids"] for d in documents[visit]]
            paid = sum(p["total"] for p in record["expected"].values() if p)
            assert paid <= _paid_by_patient(docs), record["claim"]["request_id"]
            checked += 1
    assert checked > 10


def test_duplicates_are_mostly_a_group_policy_beside_an_individual_one(tmp_path_factory):
    out = generated_scenario(tmp_path_factory, "--patients", "800", "--seed", "5")
    policies = [json.loads(line) for line in (out / "policies.jsonl").read_text().splitlines()]
    by_patient: dict[str, list[dict]] = {}
    for p in policies:
        by_patient.setdefault(p["patient_id"], []).append(p)
    twice = [ps for ps in by_patient.values() if len(ps) > 1]
    assert 0.04 < len(twice) / len(by_patient) < 0.12
    with_group = [ps for ps in twice if any(p["kind"] == "group" for p in ps)]
    assert len(with_group) > len(twice) / 2
