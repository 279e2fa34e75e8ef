"""The payout engine: adjudicate a claim under a policy, explaining every won (docs/domain.md §4).

    from s24kit.simulator.payout import adjudicate, render
    result = adjudicate(documents, policy_json, history_json, claim_date="2026-10-20")
    result.total, result.as_payout(), result.history.to_json(), render(result, "ko")

Rule tables (data, one per generation and variant) live in fixtures/rules/; see its README.md.
"""

from .engine import ACCIDENT_TYPES, Adjudication, adjudicate
from .errors import PayoutInputError, TableError
from .explain import render
from .history import HISTORY_FORMAT, History, history_from_json
from .policy import POLICY_FORMAT, Policy, policy_from_json
from .settle import Line
from .tables import Table, load_table, resolve_table, table_ids

__all__ = ["ACCIDENT_TYPES", "HISTORY_FORMAT", "POLICY_FORMAT", "Adjudication", "History", "Line",
           "PayoutInputError", "Policy", "Table", "TableError", "adjudicate", "history_from_json", "load_table",
           "policy_from_json", "render", "resolve_table", "table_ids"]
