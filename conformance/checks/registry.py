"""Checks registered by requirement id, and the findings they return.

A check is a small function ``check(context) -> Outcome``. ``kind`` says which context it takes:
``"http"`` (a session toward the provider under test), ``"tls"`` (a TLS endpoint) or ``"net"`` (a host and
port). The runner builds the contexts; the registry only knows functions and ids.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalogue import Requirement, requirements
from ..language import split

Verdict = Literal["pass", "fail", "warn", "skip"]
Kind = Literal["http", "tls", "net"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What backs a verdict: the exchange, the field, expected and actual, and a one-line reproduction."""

    message: str = ""
    exchange: str | None = None
    pointer: str | None = None
    expected: Any = None
    actual: Any = None
    reproduction: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``evidence`` item of report.schema.json (unset fields left out)."""
        out: dict[str, Any] = {}
        for name in ("exchange", "pointer", "expected", "actual", "message", "reproduction"):
            value = getattr(self, name)
            if value is not None and value != "":
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class Outcome:
    """A check's verdict with its reason and evidence; ``cause`` picks a finding-specific remedy of the catalogue."""

    verdict: Verdict
    reason: str = ""
    evidence: tuple[Evidence, ...] = ()
    cause: str | None = None
    found: int | None = None  # problems found, when more than the evidence listed

    @property
    def unlisted(self) -> int:
        """Problems found but not listed as evidence (the report keeps the first ones)."""
        return max(0, (self.found or 0) - len(self.evidence))


def passed(reason: str = "", *evidence: Evidence) -> Outcome:
    return Outcome("pass", reason, evidence)


def failed(reason: str, *evidence: Evidence, cause: str | None = None, found: int | None = None) -> Outcome:
    return Outcome("fail", reason, evidence, cause, found)


def warned(reason: str, *evidence: Evidence, cause: str | None = None) -> Outcome:
    return Outcome("warn", reason, evidence, cause)


def skipped(reason: str) -> Outcome:
    return Outcome("skip", reason)


def _tagged(reason: str, level: str) -> str:
    """``reason`` with its level after each language's half (each half stands alone, conformance/language.py)."""
    halves = split(reason)
    return f"{halves[0]} ({level}) / {halves[1]} ({level})" if halves else f"{reason} ({level})"


def within_level(outcome: Outcome, requirement: Requirement) -> Outcome:
    """A requirement's level is its verdict's ceiling and floor.

    A SHOULD that is not met warns and never fails. A MUST that is not met fails and never warns, unless its
    catalogue entry says when it only warns (``warns_en``: the requirement is met and a concern remains).
    """
    if requirement.level == "SHOULD" and outcome.verdict == "fail":
        return dataclasses.replace(outcome, verdict="warn", reason=_tagged(outcome.reason, "SHOULD"))
    if requirement.level == "MUST" and outcome.verdict == "warn" and not requirement.warns_en:
        return dataclasses.replace(outcome, verdict="fail", reason=_tagged(outcome.reason, "MUST"))
    return outcome


@dataclass(slots=True)
class Result:
    """An outcome tied to its requirement, with the time it took: one ``results`` item of the report.

    Every verdict of the suite becomes a Result, so the level rule (:func:`within_level`) is applied here.
    """

    requirement: str
    outcome: Outcome
    duration_ms: float = 0.0

    def __post_init__(self) -> None:
        requirement = requirements().get(self.requirement)
        if requirement is not None:  # an unknown id is refused where the report is built
            self.outcome = within_level(self.outcome, requirement)

    @property
    def verdict(self) -> Verdict:
        return self.outcome.verdict

    def remedy(self, lang: str) -> str:
        return requirements()[self.requirement].remedy(lang, self.outcome.cause)

    def as_json(self) -> dict[str, Any]:
        req = requirements()[self.requirement]
        out: dict[str, Any] = {"requirement": req.id, "title_ko": req.title_ko, "title_en": req.title_en,
                               "severity": req.level, "verdict": self.verdict}
        if self.outcome.reason:
            out["reason"] = self.outcome.reason
        if self.verdict in ("fail", "warn"):
            out["remedy_ko"], out["remedy_en"] = self.remedy("ko"), self.remedy("en")
        out["duration_ms"] = round(self.duration_ms, 3)
        if self.outcome.evidence:
            out["evidence"] = [e.as_json() for e in self.outcome.evidence]
        if self.outcome.unlisted:
            out["found"] = self.outcome.found
        return out


@dataclass(frozen=True, slots=True)
class Check:
    requirement: str
    kind: Kind
    func: Callable[[Any], Outcome]
    tags: frozenset[str] = field(default_factory=frozenset)

    def run(self, context: Any) -> Result:
        """Run the check; an exception inside it is a kit defect and is reported, never swallowed silently."""
        start = time.perf_counter()
        outcome = self.func(context)
        return Result(self.requirement, outcome, (time.perf_counter() - start) * 1000)


CHECKS: dict[str, Check] = {}


def check(requirement_id: str, *, kind: Kind = "http", tags: tuple[str, ...] = ()) -> Callable:
    """Register ``func(context) -> Outcome`` as the check of ``requirement_id`` (which must be catalogued)."""

    def register(func: Callable[[Any], Outcome]) -> Callable[[Any], Outcome]:
        if requirement_id not in requirements():
            raise KeyError(f"{requirement_id} is not in the requirement catalogue (conformance/catalogue/*.toml)")
        existing = CHECKS.get(requirement_id)
        # The same function again is its module imported anew (pytester's in-process runs drop the modules
        # they imported): it replaces itself. Another function for the same id is a kit defect.
        if existing is not None and _name(existing.func) != _name(func):
            raise ValueError(f"check {requirement_id} registered twice ({_name(existing.func)}, {_name(func)})")
        CHECKS[requirement_id] = Check(requirement_id, kind, func, frozenset(tags))
        return func

    return register


def _name(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"
