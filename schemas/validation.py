"""Validate documents and bundles: the schema first, then the rules, with findings a person can act on.

Rules about "today" take the date in Korea unless a date is given (``today=``), so a run can be repeated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from functools import cache
from typing import Any

from .loader import DOCUMENT_SCHEMAS, is_valid, iter_schema_errors
from .rules import Finding, Rule, active_rules, today_in_korea
from .rules.common import scanning

__all__ = ["Finding", "document_label", "validate", "validate_bundle", "validate_document", "validate_documents",
           "validate_together"]


@cache
def _document_rules(document_type: str, shape_valid: bool) -> tuple[Rule, ...]:
    return tuple(r for r in active_rules()
                 if r.scope == "document" and document_type in r.applies_to
                 and (shape_valid or not r.needs_valid_shape))


@cache
def _rules_of(scope: str) -> tuple[Rule, ...]:
    return tuple(r for r in active_rules() if r.scope == scope)


def _run(rules: Iterable[Rule], subject: Any, today: date, prefix: str = "") -> list[Finding]:
    return [Finding(r.id, prefix + v.pointer, v.message_ko, v.message_en, r.severity)
            for r in rules for v in r.run(subject, today)]


def validate_document(doc: Any, prefix: str = "", today: date | None = None) -> list[Finding]:
    """Findings for one document (empty when valid). Pointers are prefixed with ``prefix``."""
    if not isinstance(doc, dict):
        return [Finding("schema", prefix or "/", "서류는 JSON 객체여야 합니다", "a document must be a JSON object")]
    document_type = doc.get("document_type")
    if document_type not in DOCUMENT_SCHEMAS:
        known = ", ".join(DOCUMENT_SCHEMAS)
        return [Finding("schema", f"{prefix}/document_type",
                        f"알 수 없는 서류 종류 {_json(document_type)}: {known} 중 하나여야 합니다",
                        f"unknown document_type {_json(document_type)}; use one of {known}")]
    today = today or today_in_korea()
    name = DOCUMENT_SCHEMAS[document_type]
    with scanning(doc):
        if is_valid(name, doc):
            return _run(_document_rules(document_type, True), doc, today, prefix)
        return schema_findings(name, doc, prefix) + _run(_document_rules(document_type, False), doc, today, prefix)


def _checked(documents: list[Any], today: date) -> tuple[list[Finding], list[dict]]:
    """Each document's findings, and the documents as bundle rules see them (``{}`` for a shape-invalid one)."""
    findings: list[Finding] = []
    valid: list[dict] = []
    for i, doc in enumerate(documents):
        found = validate_document(doc, f"/documents/{i}", today)
        findings += found
        # Bundle rules read fields of each document, so only shape-valid documents take part.
        valid.append(doc if isinstance(doc, dict) and not any(f.rule == "schema" for f in found) else {})
    return findings, valid


def validate_documents(documents: list[Any], today: date | None = None) -> list[Finding]:
    """Findings for documents sent together: each one, and the links between them (bundle rules)."""
    today = today or today_in_korea()
    findings, valid = _checked(documents, today)
    return findings + _run(_rules_of("bundle"), valid, today)


_DOCUMENT_POINTER = re.compile(r"^/documents/([0-9]+)")


def validate_together(documents: list[Any], today: date | None = None) -> list[list[Finding]]:
    """Findings of documents read together (a JSON Lines file, a folder), each with pointers into itself.

    The same rules as :func:`validate_documents`, split back to the document each finding is about.
    """
    per_document: list[list[Finding]] = [[] for _ in documents]
    for f in validate_documents(documents, today):
        match = _DOCUMENT_POINTER.match(f.pointer)
        index = int(match.group(1))
        per_document[index].append(Finding(f.rule, f.pointer[match.end():] or "/", f.message_ko, f.message_en,
                                           f.severity))
    return per_document


def validate_bundle(bundle: Any, today: date | None = None) -> list[Finding]:
    """Findings for a document bundle: its envelope, each document, and the links between documents."""
    if not isinstance(bundle, dict):
        return [Finding("schema", "/", "서류 묶음은 JSON 객체여야 합니다", "a bundle must be a JSON object")]
    documents = bundle.get("documents")
    if not isinstance(documents, list):
        return schema_findings("bundle", bundle)
    today = today or today_in_korea()
    envelope = {k: v for k, v in bundle.items() if k != "documents"} | {"documents": []}
    findings = [] if is_valid("bundle", envelope) else schema_findings("bundle", envelope)
    found, valid = _checked(documents, today)
    return (findings + found + _run(_rules_of("bundle"), valid, today)
            + _run(_rules_of("envelope"), envelope | {"documents": valid}, today))


def validate(value: Any, today: date | None = None) -> list[Finding]:
    """Validate a document, a bundle, an insurer claim submission, or a JSON array of documents."""
    if isinstance(value, list):
        return validate_documents(value, today)
    if isinstance(value, dict) and "claim_id" in value and isinstance(value.get("documents"), list):
        return validate_documents(value["documents"], today)  # an insurer claim submission
    if isinstance(value, dict) and "documents" in value and "document_type" not in value:
        return validate_bundle(value, today)
    return validate_document(value, today=today)


def document_label(value: Any) -> str:
    """A short human name for a document: its type and number."""
    if not isinstance(value, dict):
        return "?"
    for key in ("receipt_number", "statement_number", "issue_number"):
        if key in value:
            return f"{value.get('document_type', '?')} {value[key]}"
    if "claim_id" in value:
        return f"claim {value['claim_id']}"
    if "documents" in value:
        return f"bundle {value.get('request_id', '')}".strip()
    return str(value.get("document_type", "?"))


# -- schema errors, explained ---------------------------------------------------------------------------

def schema_findings(name: str, instance: Any, prefix: str = "") -> list[Finding]:
    return [_explain(error, prefix) for error in iter_schema_errors(name, instance)]


_KEYWORDS = frozenset({"properties", "$defs", "allOf", "anyOf", "oneOf", "items", "then", "else", "if", "not"})


@cache
def _titles() -> dict[tuple[str | None, str], str]:
    """Korean titles of properties by (owning object's name, property name), from every schema.

    Needed where a ``required`` keyword sits apart from the properties it names (``allOf`` branches).
    """
    from .loader import schemas

    index: dict[tuple[str | None, str], str] = {}

    def walk(node: Any, owner: str | None) -> None:
        if isinstance(node, dict):
            for prop, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and "title" in sub:
                    index.setdefault((owner, prop), sub["title"])
                    index.setdefault((None, prop), sub["title"])
            for key, sub in node.items():
                walk(sub, owner if key in _KEYWORDS else key)
        elif isinstance(node, list):
            for sub in node:
                walk(sub, owner)

    for document in schemas().values():
        walk(document, None)
    return index


def _property_title(owner: Any, prop: str) -> str:
    titles = _titles()
    return titles.get((str(owner), prop)) or titles.get((None, prop)) or prop


def _pointer(path: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _json(value: Any) -> str:
    """A value as JSON writes it (``null``, ``"KR"``, ``["S62.6"]``): findings speak JSON, not Python."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _explain(error, prefix: str) -> Finding:
    schema = error.schema if isinstance(error.schema, dict) else {}
    pointer = prefix + _pointer(error.absolute_path)
    keyword, value = error.validator, error.validator_value
    title_ko = schema.get("title", "")
    title_en = schema.get("description", "").split(".")[0] or title_ko
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(value)
        owner = error.absolute_path[-1] if error.absolute_path else None
        title = schema.get("properties", {}).get(missing, {}).get("title") or _property_title(owner, missing)
        ko = f"필수 항목 '{missing}'({title})이(가) 없습니다"
        en = f"required field '{missing}' is missing"
        pointer += f"/{missing}"
    elif keyword in ("additionalProperties", "unevaluatedProperties"):
        given = set(error.instance) if isinstance(error.instance, dict) else set()
        extra = sorted(given - set(schema.get("properties", {})))
        ko = f"정의되지 않은 항목 {', '.join(extra) or '?'}이(가) 있습니다: kit-v1 스키마의 필드 이름을 쓰십시오"
        en = f"unexpected field(s) {', '.join(extra) or '?'}; use the field names of the kit-v1 schema"
    elif keyword == "type":
        ko = f"{title_ko or '값'}: {_json(value)} 형식이어야 하는데 {_json_type(error.instance)}입니다"
        en = f"{title_en or 'value'}: must be of type {_json(value)}, not {_json_type(error.instance)}"
    elif keyword == "pattern":
        ko = f"{title_ko or '값'} 형식이 맞지 않습니다: {_json(error.instance)} (형식 {value})"
        en = f"{title_en or 'value'} has the wrong format: {_json(error.instance)} (expected {value})"
    elif keyword in ("enum", "const"):
        allowed = ", ".join(map(_json, value if isinstance(value, list) else [value]))
        ko = f"{title_ko or '값'}: 허용되지 않는 값 {_json(error.instance)}; 허용 값: {allowed}"
        en = f"{title_en or 'value'}: {_json(error.instance)} is not allowed; use one of {allowed}"
    elif keyword == "format":
        ko = f"{title_ko or '값'}: {value} 형식이 아닙니다 ({_json(error.instance)})"
        en = f"{title_en or 'value'}: {_json(error.instance)} is not a valid {value}"
    elif keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        ko = f"{title_ko or '값'}: {_json(error.instance)}은(는) 허용 범위를 벗어납니다 ({keyword} {value})"
        en = f"{title_en or 'value'}: {_json(error.instance)} is out of range ({keyword} {value})"
    else:
        ko = f"{title_ko or '값'}: 스키마 위반 ({keyword}): {error.message}"
        en = f"{title_en or 'value'}: {error.message}"
    return Finding(schema.get("x-rule", "schema"), pointer or "/", ko, en)
