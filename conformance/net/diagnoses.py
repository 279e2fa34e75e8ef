"""Diagnoses by stable code: a Korean and English title and remedy, filled in with the facts of the case.

The texts are data (``diagnoses.toml``); codes are part of ``s24kit doctor --format json`` and must not
change meaning.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


class _Facts(dict):
    """format_map source: a placeholder without a value shows as "?" instead of raising."""

    def __missing__(self, key: str) -> str:
        return "?"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A diagnosis with its texts already filled in."""

    code: str
    title_ko: str
    title_en: str
    remedy_ko: str
    remedy_en: str

    def title(self, lang: str) -> str:
        return self.title_ko if lang == "ko" else self.title_en

    def remedy(self, lang: str) -> str:
        return self.remedy_ko if lang == "ko" else self.remedy_en

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "title_ko": self.title_ko, "title_en": self.title_en,
                "remedy_ko": self.remedy_ko, "remedy_en": self.remedy_en}


@cache
def texts() -> dict[str, dict[str, str]]:
    """Every diagnosis text by code."""
    raw = resources.files(__package__).joinpath("diagnoses.toml").read_text(encoding="utf-8")
    return tomllib.loads(raw)


def diagnose(code: str, facts: Mapping[str, Any] | None = None, *, outbound: bool = False) -> Diagnosis:
    """The diagnosis ``code`` for this case; ``outbound`` picks the clinic-side remedy where there is one."""
    entry = texts()[code]
    values = _Facts({k: _shown(v) for k, v in (facts or {}).items() if v is not None})
    remedy_ko = entry.get("outbound_ko", entry["remedy_ko"]) if outbound else entry["remedy_ko"]
    remedy_en = entry.get("outbound_en", entry["remedy_en"]) if outbound else entry["remedy_en"]
    return Diagnosis(code, entry["title_ko"].format_map(values), entry["title_en"].format_map(values),
                     remedy_ko.format_map(values), remedy_en.format_map(values))


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
