"""Labels the pages show for codes: 시도 (region) names and 요양기관 종별 (facility type) names, read from the
kit's shipped code lists."""

from __future__ import annotations

import json
from functools import cache

from ...fixtures import fixture_path
from ...schemas.codes import code_list

STATE_LABELS = {"applied": ("신청", "applied"), "testing": ("시험 중", "testing"), "passed": ("통과", "passed"),
                "accepted": ("승인", "accepted"), "rejected": ("반려", "rejected"),
                "suspended": ("중지", "suspended"), "uncertified": ("미인증", "uncertified"),
                "certified": ("인증", "certified")}


@cache
def regions() -> dict[str, str]:
    """시도 code → name, in the order of the code list."""
    document = json.loads(fixture_path("people", "addresses.json").read_text(encoding="utf-8"))
    return {entry["code"]: entry["sido"] for entry in sorted(document["data"], key=lambda e: e["code"])}


@cache
def facility_types() -> dict[str, tuple[str, str]]:
    return {code: (entry["ko"], entry["en"]) for code, entry in code_list("facility-types").items()}


def kst(value: object) -> str:
    """A time as the console's pages show it: in KST with the zone written out, as the reports do
    (``2026-03-02 09:30:00 KST (UTC+09:00)``); a timestamp the database gave back without its zone was written
    in UTC. Nothing: "—"."""
    import datetime as dt

    from ..reports.html import in_kst
    from .db import as_utc

    if value is None or value == "":
        return "—"
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    return in_kst(as_utc(moment).isoformat())  # type: ignore[union-attr]
