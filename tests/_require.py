"""Skip a test when an optional tool is missing, unless CI demands everything (S24_REQUIRE_ALL=1)."""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL_ENV = "S24_REQUIRE_ALL"


def require(condition: object, reason: str) -> None:
    """Continue if `condition` is truthy; otherwise skip, or fail when S24_REQUIRE_ALL=1."""
    if condition:
        return
    if os.environ.get(REQUIRE_ALL_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ALL_ENV}=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(reason)
