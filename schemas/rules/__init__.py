"""Document rules of profile kit-v1 (S24-DOC-nnn): the invariants JSON Schema cannot express."""

from . import common, links, pharmacy, receipt, statement  # noqa: F401  (importing registers the rules)
from .registry import RULES, Finding, Rule, Violation, describe_rule, rule

__all__ = ["RULES", "Finding", "Rule", "Violation", "describe_rule", "rule"]
