"""Lookups the generator draws from: code lists (fixtures/codes), population tables, weighted choice.

Everything is loaded once per process and read-only afterwards; workers of a pool each load their own copy.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import accumulate
from random import Random
from typing import Any, Generic, TypeVar

from ...fixtures import fixture_path
from ...schemas.codes import code_list

T = TypeVar("T")


class Weighted(Generic[T]):
    """Items with cumulative weights, drawn in O(log n)."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        pairs = [(item, float(weight)) for item, weight in pairs if weight > 0]
        if not pairs:
            raise ValueError("a weighted table needs at least one positive weight")
        self.items = tuple(item for item, _ in pairs)
        self.cum = tuple(accumulate(weight for _, weight in pairs))
        self.total = self.cum[-1]

    def pick(self, rng: Random) -> T:
        return self.items[bisect_right(self.cum, rng.random() * self.total)]


def chance(rng: Random, probability: float) -> bool:
    return rng.random() < probability


def between(rng: Random, low: int, high: int) -> int:
    """A uniform integer in [low, high] (cheaper than ``randint``)."""
    return low + int(rng.random() * (high - low + 1))


def uniform_choice(rng: Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


# -- code lists ------------------------------------------------------------------------------------------

PROCEDURES: Mapping[str, Mapping[str, Any]] = code_list("procedures")
DRUGS: Mapping[str, Mapping[str, Any]] = code_list("drugs")
KCD: Mapping[str, Mapping[str, Any]] = code_list("kcd")
FACILITY_TYPES: Mapping[str, Mapping[str, Any]] = code_list("facility-types")
PHARMACY_FEES: Mapping[str, Mapping[str, Any]] = code_list("pharmacy-fees")


def tier(facility_type: str) -> str:
    """Deductible tier of a facility type: clinic, hospital, general, tertiary, public_health, pharmacy."""
    return FACILITY_TYPES[facility_type]["tier"]


def _dispensing_ladder() -> tuple[tuple[int, str], ...]:
    return tuple(sorted((entry["days_from"], code) for code, entry in PHARMACY_FEES.items()
                        if entry["kind"] == "dispensing"))


_LADDER = _dispensing_ladder()
_LADDER_STARTS = tuple(start for start, _ in _LADDER)


def pharmacy_fees(days: int, controlled: bool) -> list[tuple[str, str, int]]:
    """Fee items (code, name, fee) of one dispensing of ``days`` days (fixtures/codes/pharmacy-fees.json)."""
    dispensing = _LADDER[bisect_right(_LADDER_STARTS, days) - 1][1]
    codes = ("Z1000", "Z2000", "Z3000", dispensing, "Z5001" if controlled else "Z5000")
    return [(code, PHARMACY_FEES[code]["ko"], PHARMACY_FEES[code]["fee"]) for code in codes]


# -- population fixtures ---------------------------------------------------------------------------------


@cache
def population_fixture(name: str) -> dict[str, Any]:
    return json.loads(fixture_path("population", name).read_text(encoding="utf-8"))
