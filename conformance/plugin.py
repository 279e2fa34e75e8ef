"""The kit's pytest plugin (entry point ``pytest11``): fixtures and options for vendors' test suites."""

from __future__ import annotations

import pytest

from ..schemas.validation import validate


@pytest.fixture
def s24_validate():
    """``s24_validate(document_or_bundle)`` → list of findings (empty when the value is valid kit-v1)."""
    return validate
