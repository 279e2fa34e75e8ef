"""Findings for people: one language at a time, values written as JSON.

Checks write their reasons and evidence messages once, in both languages, as ``"한국어 / English"`` (each half
a whole sentence, the same facts in both), so that report.json serves every reader. The console, the HTML
report and JUnit show only the half of the chosen language: :func:`localised`.
"""

from __future__ import annotations

import json
import re
from typing import Any

_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
#: Quoted values and JSON inside a message may hold Korean text whatever the message's language.
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}')
SEPARATOR = " / "


def split(text: str) -> tuple[str, str] | None:
    """``(korean, english)`` of a bilingual message, or None when ``text`` is in one language only.

    The split is the first separator with Korean before it and no Korean after it (quoted values aside).
    """
    start = 0
    while (at := text.find(SEPARATOR, start)) >= 0:
        ko, en = text[:at], text[at + len(SEPARATOR):]
        if _HANGUL.search(ko) and not _HANGUL.search(_QUOTED.sub("", en)):
            return ko.strip(), en.strip()
        start = at + 1
    return None


def localised(text: Any, lang: str) -> Any:
    """The half of a bilingual message in ``lang`` ("ko" or "en"); other text and values unchanged."""
    if not isinstance(text, str) or (halves := split(text)) is None:
        return text
    return halves[0] if lang == "ko" else halves[1]


def as_json(value: Any) -> str:
    """A value as JSON writes it: ``null``, ``"KR"``, ``["S62.6"]`` (never ``None`` or ``'KR'``)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def excerpt(text: str, limit: int = 200) -> str:
    """The start of a long text, marked as cut (``…``) so that nobody reads it as the whole."""
    return text if len(text) <= limit else text[:limit].rstrip() + "…"
