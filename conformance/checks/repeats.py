"""Findings about documents, each counted once though the suite asks for some documents twice.

The suite fetches every visit's documents, then a strict subset of one patient's visits again
(:meth:`~s24kit.conformance.session.Session.narrow_question`): a connector that gets a document wrong gets it
wrong in both answers. Counted per answer, a scenario of 59 receipts showed "61 violation(s)"; counted per
document, the number is the one a vendor can check against their own data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from ..session import Exchange
from .registry import Evidence

#: A pointer into one document of an answer: ``/documents/3/rows`` → 3, the rest ``/rows``.
_DOCUMENT = re.compile(r"^/documents/(\d+)(?=/|$)")


def document_key(body: Any, index: int) -> tuple[Any, Any, int] | None:
    """The document at ``index`` of an answer, named so the same document in another answer has the same name:
    (visit_id, document_type, how many of that visit and type come before it). None when there is none."""
    documents = body.get("documents") if isinstance(body, dict) else None
    if not isinstance(documents, list) or index >= len(documents) or not isinstance(documents[index], dict):
        return None
    name = _name(documents[index])
    return (*name, sum(isinstance(d, dict) and _name(d) == name for d in documents[:index]))


def _name(document: dict[str, Any]) -> tuple[Any, Any]:
    return document.get("visit_id"), document.get("document_type")


def distinct(found: Iterable[tuple[Exchange, Evidence]]) -> tuple[list[Evidence], int]:
    """The evidence in order without repeats, and how many repeats were left out.

    A repeat says the same (message, expected, actual, place inside the document) about the same document as
    an earlier finding from another answer. A finding about no one document (the bundle itself) is never a
    repeat of another answer's: each answer is its own bundle.
    """
    found = list(found)
    seen: set[tuple[Any, ...]] = set()
    kept: list[Evidence] = []
    for exchange, evidence in found:
        key = (_place(exchange, evidence.pointer or ""), evidence.message, _text(evidence.expected),
               _text(evidence.actual))
        if key not in seen:
            seen.add(key)
            kept.append(evidence)
    return kept, len(found) - len(kept)


def _place(exchange: Exchange, pointer: str) -> tuple[Any, ...]:
    match = _DOCUMENT.match(pointer)
    document = document_key(exchange.body, int(match.group(1))) if match else None
    if match is None or document is None:
        return ("answer", exchange.exchange_id or id(exchange), pointer)
    return ("document", document, pointer[match.end():])


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
