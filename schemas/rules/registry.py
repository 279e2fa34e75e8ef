"""The rule registry: document invariants that JSON Schema cannot express, each with a stable id."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

Severity = Literal["error", "warning"]
Document = dict[str, Any]


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
    scope: Literal["document", "bundle"]
    severity: Severity
    needs_valid_shape: bool
    check: Callable[[Any], Iterable[Violation]]


RULES: dict[str, Rule] = {}


def rule(rule_id: str, title_ko: str, title_en: str, *, applies_to: Iterable[str],
         scope: Literal["document", "bundle"] = "document", severity: Severity = "error",
         needs_valid_shape: bool = True) -> Callable:
    """Register ``func(document) -> Iterable[Violation]`` (or ``func(documents)`` for bundle rules).

    ``needs_valid_shape=False`` marks rules that walk any JSON value and so also run on documents that
    failed the schema (text encoding, masked resident numbers).
    """

    def register(func: Callable) -> Callable:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, title_ko, title_en, tuple(applies_to), scope, severity,
                              needs_valid_shape, func)
        return func

    return register


def describe_rule(rule_id: str) -> dict[str, Any]:
    r = RULES[rule_id]
    return {"id": r.id, "title_ko": r.title_ko, "title_en": r.title_en, "applies_to": list(r.applies_to),
            "scope": r.scope, "severity": r.severity}


def won(amount: int) -> str:
    """Format won for messages: ``12,340원``."""
    return f"{amount:,}원"
