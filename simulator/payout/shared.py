"""Duplicate cover (중복가입, 비례보상): several 실손 policies of one person share one loss.

Each policy first computes alone what it would pay (its 보상책임액, with its own deductible and limits: the
engine's ordinary adjudication). When those liabilities add up to more than the loss the policies can
together pay — the highest covered-expense base among them less the lowest deductible applied among them —
each pays its liability ÷ the sum of liabilities × that amount (표준약관 다수보험 조항; docs/domain.md §4).

Rounding (the kit's convention, stated in docs/domain.md §4): each share is rounded down to the won and the
won left go to the largest remainders, ties to the first policy by key, so the shares add up exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .engine import Adjudication
from .settle import Line

SECTION = "shared"
BASIS = "표준약관 다수보험(비례보상) 조항; docs/domain.md §4 duplicate cover"


@dataclass(frozen=True, slots=True)
class Liability:
    """What one policy would pay alone, and what it saw: the base of covered expenses and its deductible."""

    liability: int
    base: int
    deductible: int


def liability_of(adjudication: Adjudication) -> Liability:
    """The policy's liability alone, read from its explanation lines (``*.amount*`` and ``*.deductible``)."""
    base = sum(line.amount for line in adjudication.lines if ".amount" in line.code)
    deductible = -sum(line.amount for line in adjudication.lines if line.code.endswith(".deductible"))
    return Liability(adjudication.total, base, deductible)


def shared_limit(liabilities: Mapping[str, Liability]) -> int:
    """What the policies together pay at most: the highest base less the lowest deductible."""
    return max(0, max(x.base for x in liabilities.values()) - min(x.deductible for x in liabilities.values()))


def apportion(liabilities: Mapping[str, Liability]) -> dict[str, int]:
    """Each policy's payout: its liability, or its share of the shared limit when the liabilities exceed it."""
    total = sum(x.liability for x in liabilities.values())
    if len(liabilities) < 2 or not total:
        return {key: x.liability for key, x in liabilities.items()}
    limit = shared_limit(liabilities)
    if total <= limit:
        return {key: x.liability for key, x in liabilities.items()}
    keys = sorted(liabilities)
    shares = {key: divmod(liabilities[key].liability * limit, total) for key in keys}
    left = limit - sum(q for q, _ in shares.values())
    bonus = set(sorted(keys, key=lambda k: (-shares[k][1], keys.index(k)))[:left])
    return {key: shares[key][0] + (key in bonus) for key in keys}


def share(adjudications: Mapping[str, Adjudication]) -> dict[str, Adjudication]:
    """Apply 비례보상 to the adjudications of one claim under several policies (keyed by insurer code).

    A policy whose share is below its liability gets one more explanation line (section ``shared``) that
    takes the difference off and says how the share was computed; the lines still add up to the total.
    """
    liabilities = {key: liability_of(adj) for key, adj in adjudications.items()}
    paid = apportion(liabilities)
    total = sum(x.liability for x in liabilities.values())
    limit = shared_limit(liabilities) if len(liabilities) > 1 else 0
    others = {key: ", ".join(k for k in sorted(liabilities) if k != key) for key in liabilities}
    for key, adj in adjudications.items():
        cut = paid[key] - adj.total
        if not cut:
            continue
        own = liabilities[key].liability
        adj.lines.append(Line(
            "shared.apportionment",
            f"중복가입 비례보상 (다른 실손: {others[key]}): 보상책임액 {own:,}원 × 분담한도 {limit:,}원 ÷ "
            f"보상책임액 합계 {total:,}원 = {paid[key]:,}원",
            f"Duplicate cover, shared (other indemnity policies: {others[key]}): liability {own:,} won × shared "
            f"limit {limit:,} won ÷ sum of liabilities {total:,} won = {paid[key]:,} won",
            cut, (), f"{BASIS}; 분담한도 = 가장 큰 보상대상 의료비 {max(x.base for x in liabilities.values()):,} − "
                     f"가장 작은 공제금액 {min(x.deductible for x in liabilities.values()):,}", SECTION))
        adj.total = paid[key]
    return dict(adjudications)
