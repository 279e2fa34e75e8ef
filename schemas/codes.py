"""The shipped code lists (fixtures/codes), loaded once."""

from __future__ import annotations

import json
import re
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


#: HIRA 주성분코드 (일반명코드): ingredient serial, strength serial, route letter, dosage form (docs/domain.md §3).
GENERIC_CODE = re.compile(r"^[0-9]{6}[A-D][A-Z0-9]{2}$")


def is_generic_code(code: str) -> bool:
    """Whether a prescribed drug code is a generic-name (일반명) code rather than a product's 9-digit code."""
    return bool(GENERIC_CODE.match(code))


@cache
def products_by_generic_code() -> Mapping[str, str]:
    """The kit's product for each generic code of its drug list (one product per code in the shipped list)."""
    return {entry["generic_code"]: code for code, entry in code_list("drugs").items()}


def dispensed_product(prescribed: str) -> str:
    """The product a pharmacy dispenses for a prescribed code: the code itself, or the kit's product of a generic
    code (unknown generic codes stay as they are)."""
    return products_by_generic_code().get(prescribed, prescribed) if is_generic_code(prescribed) else prescribed
