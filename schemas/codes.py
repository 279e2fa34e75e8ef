"""The shipped code lists (fixtures/codes), loaded once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from ..fixtures import fixture_path

CODE_LISTS = ("facility-types", "departments", "patient-categories", "kcd", "receipt-rows",
              "pharmacy-fees", "drugs", "procedures")


@cache
def code_list(name: str) -> Mapping[str, Mapping[str, Any]]:
    """Entries of code list ``name`` (e.g. ``"kcd"``) by code."""
    if name not in CODE_LISTS:
        raise KeyError(f"unknown code list {name!r}; known: {', '.join(CODE_LISTS)}")
    data = json.loads(fixture_path("codes", f"{name}.json").read_text(encoding="utf-8"))
    return data["codes"]


def label(name: str, code: str, lang: str = "ko") -> str:
    """The label of ``code`` in list ``name``, or the code itself when unknown."""
    entry = code_list(name).get(code)
    return entry[lang] if entry else code


@cache
def inpatient_only_rows() -> frozenset[str]:
    return frozenset(code for code, entry in code_list("receipt-rows").items() if entry.get("inpatient_only"))
