"""Connect the insurer app to the payout engine."""

from __future__ import annotations

import json
from typing import Any

from ...fixtures import fixture_path
from ..payout import adjudicate


def engine_adjudicator(submission: dict[str, Any], policy: dict[str, Any], history: dict[str, Any] | None,
                       claim_date: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Adjudicate a relay submission with the payout engine: (payout, history after)."""
    result = adjudicate(submission["documents"], policy, history, claim_date=claim_date,
                        accident_type=submission["accident_type"])
    return result.as_payout(), result.history.to_json()


def example_policy(generation: str) -> dict[str, Any]:
    """A shipped example policy (fixtures/rules/examples/policy-GEN.json), e.g. ``example_policy("gen4")``."""
    return json.loads(fixture_path("rules", "examples", f"policy-{generation}.json").read_text(encoding="utf-8"))
