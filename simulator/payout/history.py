"""The insured's state per policy year: counts and sums per axis, so a sequence of claims is reproducible.

History JSON (format ``s24kit-payout-history/1``), one entry per policy year keyed by its first day (the
contract anniversary, not 1 January)::

    {"format": "s24kit-payout-history/1", "policy_number": "INSA-4-000123",
     "years": {"2026-03-01": {
        "counts":    {"non_covered.visits": 3, "big_three.manual.acts": 12, "rider2.days": 4},
        "sums":      {"covered.inpatient_share": 250000, "big_three.manual.paid": 840000,
                      "limit.covered": 1200000, "paid": 2290000},
        "groups":    {"covered|o|2026-10-05|M54": {...}},     # merged visits / days / admissions (engine state)
        "links":     {"99310001|2026-10-05": ["o|2026-10-05|M54", false]},  # provider+day → visit, severe
        "documents": {"99310001:R20261005-0042": "2026-10-20"}}}}          # adjudicated document → claim date

Objects are never changed in place: adjudication copies the years it touches and returns a new History,
so the history given to it stays valid (and cheap: untouched years are shared).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PayoutInputError

HISTORY_FORMAT = "s24kit-payout-history/1"
_PARTS = ("counts", "sums", "groups", "links", "documents")


@dataclass(slots=True)
class YearState:
    """One policy year. ``groups`` values are replaced, never mutated."""

    counts: dict[str, int] = field(default_factory=dict)
    sums: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, list[Any]] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)

    def copy(self) -> YearState:
        return YearState(dict(self.counts), dict(self.sums), dict(self.groups), dict(self.links), dict(self.documents))

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "sums": self.sums, "groups": self.groups, "links": self.links,
                "documents": self.documents}


@dataclass(frozen=True, slots=True)
class History:
    """Policy-year states by year start (ISO date)."""

    policy_number: str | None = None
    years: Mapping[str, YearState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (shares the year dicts: serialise or copy it before changing it)."""
        return {"format": HISTORY_FORMAT, "policy_number": self.policy_number,
                "years": {start: self.years[start].as_json() for start in sorted(self.years)}}

    def summary(self) -> dict[str, Any]:
        """Counts and sums per policy year: what the payout document carries."""
        return {"policy_number": self.policy_number,
                "years": {start: {"counts": dict(sorted(y.counts.items())), "sums": dict(sorted(y.sums.items()))}
                          for start, y in sorted(self.years.items())}}

    def count(self, year_start: str, key: str) -> int:
        year = self.years.get(year_start)
        return year.counts.get(key, 0) if year else 0

    def sum(self, year_start: str, key: str) -> int:
        year = self.years.get(year_start)
        return year.sums.get(key, 0) if year else 0


def _fail(field_name: str, ko: str, en: str) -> PayoutInputError:
    example = "fixtures/rules/examples/history-empty.json"
    return PayoutInputError(f"history.{field_name}", ko, en, f"빈 이력은 {{}} 또는 {example}",
                            f"an empty history is {{}} or {example}")


def history_from_json(raw: Any, policy_number: str | None = None) -> History:
    """A :class:`History` from its JSON form (``None`` or ``{}`` = nothing claimed yet)."""
    if raw is None:
        return History(policy_number)
    if isinstance(raw, History):
        if policy_number and raw.policy_number and raw.policy_number != policy_number:
            raise _fail("policy_number", f"이력의 증권번호 {raw.policy_number}가 계약 {policy_number}와 다릅니다",
                        f"history of policy {raw.policy_number} given for policy {policy_number}")
        return raw
    if not isinstance(raw, Mapping):
        raise _fail("", "이력은 JSON 객체여야 합니다", "a history must be a JSON object")
    if not raw:
        return History(policy_number)
    if raw.get("format") != HISTORY_FORMAT:
        raise _fail("format", f"format은 {HISTORY_FORMAT!r}이어야 합니다", f"format must be {HISTORY_FORMAT!r}")
    owner = raw.get("policy_number")
    if policy_number and owner and owner != policy_number:
        raise _fail("policy_number", f"이력의 증권번호 {owner}가 계약 {policy_number}와 다릅니다",
                    f"history of policy {owner} given for policy {policy_number}")
    years_raw = raw.get("years", {})
    if not isinstance(years_raw, Mapping):
        raise _fail("years", "years는 객체여야 합니다", "years must be an object")
    years = {}
    for start, year in years_raw.items():
        if not isinstance(year, Mapping) or not all(isinstance(year.get(p, {}), Mapping) for p in _PARTS):
            parts = ", ".join(_PARTS)
            raise _fail(f"years.{start}", f"{parts} 객체가 있어야 합니다", f"needs objects {parts}")
        for part in ("counts", "sums"):
            for key, value in year.get(part, {}).items():
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise _fail(f"years.{start}.{part}.{key}", f"0 이상의 정수여야 합니다: {value!r}",
                                f"must be a non-negative integer: {value!r}")
        years[start] = YearState(*(year.get(p, {}) for p in _PARTS))
    return History(owner or policy_number, years)
