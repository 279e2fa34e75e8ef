"""The rule registry: document invariants that JSON Schema cannot express, each with a stable id."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, NamedTuple

Severity = Literal["error", "warning"]
#: document: one document; bundle: the documents sent together (a bundle, a claim, an array, a JSON Lines
#: file); envelope: a bundle with its envelope; schema: enforced by the JSON Schema (``x-rule``), listed here.
Scope = Literal["document", "bundle", "envelope", "schema"]
Document = dict[str, Any]
#: Korea has one time zone and no daylight saving time.
KST = timezone(timedelta(hours=9), "KST")


def today_in_korea() -> date:
    """The date in Korea now: documents are dated in KST."""
    return datetime.now(KST).date()


class Violation(NamedTuple):
    """What a rule function yields: where, and what is wrong in Korean and English."""

    pointer: str
    message_ko: str
    message_en: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule (or schema) violation in a document or bundle."""

    rule: str
    pointer: str
    message_ko: str
    message_en: str
    severity: Severity = "error"

    def message(self, lang: str = "ko") -> str:
        return self.message_ko if lang == "ko" else self.message_en

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "pointer": self.pointer, "severity": self.severity,
                "message_ko": self.message_ko, "message_en": self.message_en}


@dataclass(frozen=True, slots=True)
class Rule:
    """A registered invariant."""

    id: str
    title_ko: str
    title_en: str
    applies_to: tuple[str, ...]
    scope: Scope
    severity: Severity
    needs_valid_shape: bool
    check: Callable[..., Iterable[Violation]] | None
    #: The check takes the validation date as a second argument (rules about "not after today").
    dated: bool = False
    #: A withdrawn rule: the id of the rule that replaced it. It stays listed (ids are never removed) but never runs.
    superseded_by: str = ""

    @property
    def withdrawn(self) -> bool:
        return bool(self.superseded_by)

    def run(self, subject: Any, today: date) -> Iterable[Violation]:
        if self.check is None:
            return ()
        return self.check(subject, today) if self.dated else self.check(subject)


RULES: dict[str, Rule] = {}


def rule(rule_id: str, title_ko: str, title_en: str, *, applies_to: Iterable[str],
         scope: Scope = "document", severity: Severity = "error",
         needs_valid_shape: bool = True, dated: bool = False) -> Callable:
    """Register ``func(document) -> Iterable[Violation]`` (``func(documents)`` for bundle rules, ``func(bundle)``
    for envelope rules; ``func(subject, today)`` when ``dated``).

    ``needs_valid_shape=False`` marks rules that walk any JSON value and so also run on documents that
    failed the schema (text encoding, masked resident numbers).
    """

    def register(func: Callable) -> Callable:
        _add(Rule(rule_id, title_ko, title_en, tuple(applies_to), scope, severity, needs_valid_shape, func, dated))
        return func

    return register


def schema_rule(rule_id: str, title_ko: str, title_en: str, *, applies_to: Iterable[str]) -> None:
    """Register a rule the JSON Schema enforces (its constraint carries ``x-rule``), so it is listed like any other."""
    _add(Rule(rule_id, title_ko, title_en, tuple(applies_to), "schema", "error", False, None))


def withdrawn_rule(rule_id: str, title_ko: str, title_en: str, *, applies_to: Iterable[str], superseded_by: str,
                   scope: Scope = "document", severity: Severity = "error") -> None:
    """List a rule that no longer runs: its meaning was corrected under the new id ``superseded_by``."""
    _add(Rule(rule_id, title_ko, title_en, tuple(applies_to), scope, severity, True, None,
              superseded_by=superseded_by))


def active_rules() -> tuple[Rule, ...]:
    """The rules that run: every registered rule but the withdrawn ones."""
    return tuple(r for r in RULES.values() if not r.withdrawn)


def _add(new: Rule) -> None:
    if new.id in RULES:
        raise ValueError(f"rule {new.id} registered twice")
    RULES[new.id] = new


def describe_rule(rule_id: str) -> dict[str, Any]:
    r = RULES[rule_id]
    described = {"id": r.id, "title_ko": r.title_ko, "title_en": r.title_en, "applies_to": list(r.applies_to),
                 "scope": r.scope, "severity": r.severity}
    if r.withdrawn:
        described["superseded_by"] = r.superseded_by
    return described


def won(amount: int) -> str:
    """Format won for messages: ``12,340원``."""
    return f"{amount:,}원"
