"""Retries with exponential backoff, shared by every party that calls another (relay, insurers)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all, ``base_delay`` doubling up to ``max_delay`` between them; then give up."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.base_delay * 2 ** max(attempt - 1, 0), self.max_delay)
