"""Conformance checks, registered by requirement id (see :mod:`.registry`)."""

from .registry import CHECKS, Check, Evidence, Outcome, Result, check, failed, passed, skipped, warned

__all__ = ["CHECKS", "Check", "Evidence", "Outcome", "Result", "check", "failed", "passed", "skipped", "warned"]
