"""Document rules of profile kit-v1 (S24-DOC-nnn): the invariants JSON Schema cannot express."""

from . import common, dates, links, pharmacy, receipt, rounding, statement  # noqa: F401  (importing registers the rules)
from .registry import KST, RULES, Finding, Rule, Violation, describe_rule, rule, schema_rule, today_in_korea

__all__ = ["KST", "RULES", "Finding", "Rule", "Violation", "describe_rule", "rule", "schema_rule", "today_in_korea"]
