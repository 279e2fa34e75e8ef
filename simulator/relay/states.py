"""The claim state machine: requested → fetched → transmitted → received → in_review → paid / denied /
more_documents_required, with ``failed`` for dead letters and invalid documents.

Each insurer of a claim moves on its own; the claim's state summarises them (see :func:`claim_state`).
"""

from __future__ import annotations

from collections.abc import Iterable

ORDER = ("requested", "fetched", "transmitted", "received", "in_review")
FINAL = frozenset({"paid", "denied", "more_documents_required", "failed"})
# an insurer event may move an insurer from the states on the right only: never one it was not transmitted to
EVENT_FROM = {
    "received": {"transmitted"},
    "in_review": {"transmitted", "received", "more_documents_required"},
    "more_documents_required": {"transmitted", "received", "in_review"},
    "paid": {"transmitted", "received", "in_review", "more_documents_required"},
    "denied": {"transmitted", "received", "in_review", "more_documents_required"},
}


def rank(state: str) -> int:
    return ORDER.index(state) if state in ORDER else len(ORDER)


def claim_state(insurer_states: Iterable[str]) -> str:
    """The claim's state from its insurers': the least advanced while any is in progress; once all are
    final, more documents beats paid beats denied beats failed (what the patient must act on comes first)."""
    states = list(insurer_states)
    moving = [s for s in states if s not in FINAL]
    if moving:
        return min(moving, key=rank)
    for outcome in ("more_documents_required", "paid", "denied"):
        if outcome in states:
            return outcome
    return "failed"


def may_apply(event_type: str, current: str) -> bool:
    return current in EVENT_FROM.get(event_type, set())
