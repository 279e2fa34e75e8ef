"""Document rules of profile kit-v1 (S24-DOC-nnn): the invariants JSON Schema cannot express."""

from . import common, dates, holiday_mark, links, pharmacy, receipt, rounding, statement  # noqa: F401 (registers the rules)
from .registry import (
    KST,
    RULES,
    Finding,
    Rule,
    Violation,
    active_rules,
    describe_rule,
    rule,
    schema_rule,
    today_in_korea,
)

__all__ = ["KST", "RULES", "Finding", "Rule", "Violation", "active_rules", "describe_rule", "rule", "schema_rule",
           "today_in_korea"]
