"""Shared helpers for the kit's own tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "schemas" / "kit-v1" / "examples"


def load_example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def example():
    """``example("prescription")`` → a fresh deep copy of a shipped example."""
    return lambda name: copy.deepcopy(load_example(name))
