"""Conformance checks, registered by requirement id (see :mod:`.registry`).

Importing this package registers every HTTP check: schema (SCH), documents (DOC), API and security (SEC), and
the agent-mode ones (agent.py).
"""

from . import agent, api, documents, schema, security  # noqa: F401  (importing registers the checks)
from .registry import CHECKS, Check, Evidence, Outcome, Result, check, failed, passed, skipped, warned

__all__ = ["CHECKS", "Check", "Evidence", "Outcome", "Result", "check", "failed", "passed", "skipped", "warned"]
