"""Conformance checks, registered by requirement id (see :mod:`.registry`).

The HTTP checks live in schema (SCH), documents (DOC), api (API), security (SEC) and agent (agent mode);
:func:`s24kit.conformance.runner.load_checks` imports them. This package itself only carries the registry, so
that a command needing a few checks (``s24kit doctor``) does not load the whole suite.
"""

from .registry import CHECKS, Check, Evidence, Outcome, Result, check, failed, passed, skipped, warned

__all__ = ["CHECKS", "Check", "Evidence", "Outcome", "Result", "check", "failed", "passed", "skipped", "warned"]
