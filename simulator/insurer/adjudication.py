"""Connect the insurer app to the payout engine."""

from __future__ import annotations

import json
from typing import Any

from ...fixtures import fixture_path
from ..payout import adjudicate
from ..payout.shared import share


def engine_adjudicator(submission: dict[str, Any], policy: dict[str, Any], history: dict[str, Any] | None,
                       claim_date: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Adjudicate a relay submission with the payout engine: (payout, history after)."""
    result = adjudicate(submission["documents"], policy, history, claim_date=claim_date,
                        accident_type=submission["accident_type"])
    return result.as_payout(), result.history.to_json()


def example_policy(generation: str) -> dict[str, Any]:
    """A shipped example policy (fixtures/rules/examples/policy-GEN.json), e.g. ``example_policy("gen4")``."""
    return json.loads(fixture_path("rules", "examples", f"policy-{generation}.json").read_text(encoding="utf-8"))


def engine_shared_adjudicator(submission: dict[str, Any], policy: dict[str, Any], history: dict[str, Any] | None,
                              claim_date: str, others: list[tuple[dict[str, Any], dict[str, Any] | None]]
                              ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """As :func:`engine_adjudicator` for a person insured more than once (중복가입): every policy's liability
    alone, then the share of this one (비례보상, simulator/payout/shared.py).

    ``others`` are the person's other indemnity policies as the contract register lists them, each with this
    insurer's record of that policy's earlier liabilities (it sees every claim of the person: every claim goes
    to every insurer of the person). Returns (payout, history after, the others' histories after)."""
    kwargs = {"claim_date": claim_date, "accident_type": submission["accident_type"]}
    own_key = policy.get("insurer_code", "")  # keys as the generator's: shares break ties by insurer code
    own = adjudicate(submission["documents"], policy, history, **kwargs)
    results = {own_key: own}
    for other, other_history in others:
        results[other.get("insurer_code", other["policy_number"])] = adjudicate(
            submission["documents"], other, other_history, **kwargs)
    histories = [results[other.get("insurer_code", other["policy_number"])].history.to_json() for other, _ in others]
    return share(results)[own_key].as_payout(), own.history.to_json(), histories
