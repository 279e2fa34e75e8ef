"""Schema errors explained: each jsonschema-rs error as a finding that names the field and the fix, in Korean
and English, with the schema's own titles.

jsonschema-rs says where (the instance path), what (the error kind, with its limit or its expected values) and
which constraint (the keyword's absolute location in the schema files); the titles and ``x-rule`` ids are read
from the schema node that location points to. Values are written as JSON, and no message quotes a whole object
(one could hold a person).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from .loader import iter_schema_errors, schema_node
from .rules import Finding

__all__ = ["as_json", "schema_findings"]


def schema_findings(name: str, instance: Any, prefix: str = "") -> list[Finding]:
    """Findings for ``instance`` against schema ``name`` (empty when valid). Pointers are prefixed with ``prefix``."""
    return [_explain(error, prefix) for error in iter_schema_errors(name, instance)]


# -- where the failing keyword sits ------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _owner(location: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The schema object holding the failing keyword, the keyword, and the object holding that one
    (where an ``if`` sits beside the ``then``/``else`` that failed)."""
    uri, _, fragment = location.partition("#")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in fragment.split("/")[1:]]
    keyword = tokens[-1] if tokens else ""
    owner = schema_node(uri, tokens[:-1])
    above = schema_node(uri, tokens[:-2]) if len(tokens) >= 2 else {}
    return (owner if isinstance(owner, dict) else {}, keyword, above if isinstance(above, dict) else {})


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


#: The first sentence of a description: a period ends it when it follows a word and comes before a space or the
#: end, so "e.g. 2.4.1", "fixtures/codes/x.json" and "letters, digits and . _ : -" stay whole.
_SENTENCE_END = re.compile(r"(?<=\S)(?<!\be\.g)(?<!\bi\.e)\.(?=\s|$)")


@lru_cache(maxsize=1024)
def _first_sentence(description: str) -> str:
    return _SENTENCE_END.split(description, maxsplit=1)[0].strip()


# -- values as JSON writes them -----------------------------------------------------------------------------

def _pointer(path: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def as_json(value: Any) -> str:
    """A value as JSON writes it (``null``, ``"KR"``, ``["S62.6"]``): findings speak JSON, not Python."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _quoted(value: Any) -> str:
    """The instance as JSON when it is a single value; an object or array only by its type (it may hold a person)."""
    return _json_type(value) if isinstance(value, dict | list) else as_json(value)


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _condition(branch: str, above: dict[str, Any]) -> tuple[str, str]:
    """When a ``then``/``else`` failed: the ``if`` beside it in words (properties with a ``const``), else nothing."""
    condition = above.get("if") if branch in ("then", "else") else None
    props = condition.get("properties") if isinstance(condition, dict) else None
    if not isinstance(props, dict):
        return "", ""
    facts = [f"{key} = {as_json(sub['const'])}" for key, sub in props.items()
             if isinstance(sub, dict) and "const" in sub]
    if not facts:
        return "", ""
    stated = " 그리고 ".join(facts), " and ".join(facts)
    if branch == "then":
        return f" ({stated[0]}일 때)", f" (when {stated[1]})"
    return f" ({stated[0]}일 때만 허용)", f" (allowed only when {stated[1]})"


# -- the explanation of each kind of error ------------------------------------------------------------------

def _explain(error: Any, prefix: str) -> Finding:
    kind = error.kind
    keyword = kind.name
    location = error.absolute_keyword_location
    node, at, above = _owner(location) if location else ({}, keyword, {})
    pointer = prefix + _pointer(error.instance_path)
    title_ko = node.get("title", "")
    title_en = _first_sentence(node.get("description", "")) or title_ko
    what_ko, what_en = title_ko or "값", title_en or "value"
    if keyword == "required":
        missing = kind.property
        owner = error.instance_path[-1] if error.instance_path else None
        title = node.get("properties", {}).get(missing, {}).get("title") or _property_title(owner, missing)
        ko = f"필수 항목 '{missing}'({title})이(가) 없습니다"
        en = f"required field '{missing}' is missing"
        pointer += _pointer([missing])
    elif keyword in ("additionalProperties", "unevaluatedProperties"):
        extra = ", ".join(sorted(kind.unexpected)) or "?"
        ko = f"정의되지 않은 항목 {extra}이(가) 있습니다: kit-v1 스키마의 필드 이름을 쓰십시오"
        en = f"unexpected field(s) {extra}; use the field names of the kit-v1 schema"
    elif keyword == "type":
        types = node.get("type", kind.types)  # the schema's order: ["string", "null"]
        expected = as_json(types[0] if isinstance(types, list) and len(types) == 1 else types)
        actual = _json_type(error.instance)
        ko = f"{what_ko}: {expected} 형식이어야 하는데 {actual}입니다"
        en = f"{what_en}: must be of type {expected}, not {actual}"
    elif keyword == "pattern":
        ko = f"{what_ko} 형식이 맞지 않습니다: {_quoted(error.instance)} (형식 {kind.pattern})"
        en = f"{what_en} has the wrong format: {_quoted(error.instance)} (expected {kind.pattern})"
    elif keyword in ("enum", "const"):
        allowed = ", ".join(map(as_json, kind.options if keyword == "enum" else [kind.expected_value]))
        ko = f"{what_ko}: 허용되지 않는 값 {_quoted(error.instance)}; 허용 값: {allowed}"
        en = f"{what_en}: {_quoted(error.instance)} is not allowed; use one of {allowed}"
    elif keyword == "format":
        ko = f"{what_ko}: {kind.format} 형식이 아닙니다 ({_quoted(error.instance)})"
        en = f"{what_en}: {_quoted(error.instance)} is not a valid {kind.format}"
    elif keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        ko = f"{what_ko}: {_quoted(error.instance)}은(는) 허용 범위를 벗어납니다 ({keyword} {as_json(kind.limit)})"
        en = f"{what_en}: {_quoted(error.instance)} is out of range ({keyword} {as_json(kind.limit)})"
    elif keyword in ("minLength", "minItems") and kind.limit == 1:
        unit_ko, unit_en = ("글자를", "character") if keyword == "minLength" else ("항목을", "item")
        ko = f"{what_ko}: 비어 있으면 안 됩니다 ({unit_ko} 하나 이상 넣으십시오)"
        en = f"{what_en}: must not be empty (give at least one {unit_en})"
    elif keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        ko, en = _size(keyword, kind.limit, error.instance, what_ko, what_en)
    elif keyword == "uniqueItems":
        ko = f"{what_ko}: 같은 값이 두 번 이상 있습니다: 각 항목은 한 번만 쓰십시오"
        en = f"{what_en}: a value appears more than once; list each item once"
    elif keyword == "multipleOf":
        ko = f"{what_ko}: {_quoted(error.instance)}은(는) {as_json(kind.multiple_of)}의 배수여야 합니다"
        en = f"{what_en}: {_quoted(error.instance)} must be a multiple of {as_json(kind.multiple_of)}"
    elif keyword == "not" and isinstance(node.get("not"), dict) and node["not"].get("required"):
        forbidden = node["not"]["required"]
        when_ko, when_en = _condition(_branch_of(location), above)
        ko = f"항목 {_names(forbidden)}은(는) 여기에 올 수 없습니다{when_ko}: 빼고 보내십시오"
        en = f"field(s) {_names(forbidden)} must be left out here{when_en}"
        if len(forbidden) == 1:
            pointer += _pointer(forbidden)
    elif keyword == "oneOf":  # valid under several alternatives (none at all is explained by its branches)
        ko = f"{what_ko}: 스키마의 여러 형식에 동시에 맞습니다: 정확히 한 형식에 맞게 보내십시오"
        en = f"{what_en}: matches more than one alternative of the schema; it must match exactly one"
    else:
        # A keyword the kit's schemas rarely fail: name it and the schema's limit, never the instance (which may
        # be a whole object holding a person).
        limit = node.get(at)
        stated = f" {as_json(limit)}" if isinstance(limit, str | int | float) else ""
        ko = f"{what_ko}: 스키마 조건 {keyword}{stated}에 맞지 않습니다"
        en = f"{what_en}: does not meet the schema's {keyword}{stated} constraint"
    return Finding(node.get("x-rule", "schema"), pointer or "/", ko, en)


def _branch_of(location: str) -> str:
    """``then`` or ``else`` when the failing keyword sits right inside one (``…/allOf/0/else/not``)."""
    parts = location.rsplit("/", 2)
    return parts[-2] if len(parts) == 3 else ""


def _size(keyword: str, limit: int, instance: Any, what_ko: str, what_en: str) -> tuple[str, str]:
    count = len(instance) if isinstance(instance, str | list) else 0
    unit_ko, unit_en = ("자", "characters") if keyword.endswith("Length") else ("개", "items")
    if keyword.startswith("min"):
        return (f"{what_ko}: {limit}{unit_ko} 이상이어야 합니다 (지금 {count}{unit_ko})",
                f"{what_en}: needs at least {limit} {unit_en} (has {count})")
    return (f"{what_ko}: {limit}{unit_ko} 이하여야 합니다 (지금 {count}{unit_ko})",
            f"{what_en}: allows at most {limit} {unit_en} (has {count})")
