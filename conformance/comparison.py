"""How the suite compares what a connector sent with what it expected (docs/comparison.md is the contract).

The rules come from the kit-v1 schemas, read once into a :class:`Shape` per schema:

- an object member the schema requires is always compared; an optional one only when both sides carry it
  (``null`` and a left-out member are one thing, and a member equal to its schema ``default`` is the same as
  one left out);
- an array with ``x-key`` is a collection whose items are identified by those members: items are paired by
  key, whatever their order; an array with ``"x-ordered": false`` is a set; any other array is ordered;
- text is compared after NFC normalisation; a ``number`` field compares numerically (``2`` = ``2.0``), while
  integers, booleans and every other type must have the same JSON type (money is integer won).

:func:`compare` yields a :class:`Difference` per disagreement; :func:`canonical` puts an answer in a form where
two equal answers are equal under ``==`` (unordered collections sorted by key).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from ..schemas.loader import DOCUMENT_SCHEMAS, schemas

#: value: both sides hold different values; missing: a required member left out; item_missing / item_extra: an
#: item of a keyed collection on one side only; count: an ordered list of another length.
Kind = Literal["value", "missing", "item_missing", "item_extra", "count"]
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT", "__bool__": lambda self: False})()


@dataclass
class Shape:
    """What the schema says about one value: members, which are required, defaults, items and their identity."""

    type: str | None = None  # the schema's "type" when it is one word ("number", "integer", "object" …)
    properties: dict[str, Shape] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    defaults: dict[str, Any] = field(default_factory=dict)
    items: Shape | None = None
    key: tuple[str, ...] | None = None  # x-key: the members that identify an item
    ordered: bool = True
    by_document_type: bool = False  # document.schema.json: the shape depends on document_type

    def member(self, name: str, value: Any) -> Shape:
        if self.by_document_type:
            return document_shape(value.get("document_type") if isinstance(value, dict) else None).member(name, value)
        return self.properties.get(name) or _ANY


_ANY = Shape()


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement: where, what kind, and the two sides (:data:`ABSENT` for a member left out)."""

    pointer: str
    kind: Kind
    expected: Any
    actual: Any


_REFERENCE_ONLY = {"$ref", "title", "description", "examples"}


def _resolve(node: dict[str, Any], file: str) -> tuple[dict[str, Any], str]:
    """Follow a pure ``$ref`` (titles beside it allowed) within the profile, to the node it names."""
    while "$ref" in node and set(node) <= _REFERENCE_ONLY:
        target, _, pointer = node["$ref"].partition("#")
        file = target.removesuffix(".schema.json") if target else file
        node = schemas()[file]
        for part in filter(None, pointer.split("/")):
            node = node[part]
    return node, file


def _build(node: dict[str, Any], file: str) -> Shape:
    node, file = _resolve(node, file)
    if node.get("$id", "").endswith("/document.schema.json"):
        return Shape("object", by_document_type=True)
    shape = Shape(node.get("type") if isinstance(node.get("type"), str) else None)
    for name, member in node.get("properties", {}).items():
        shape.properties[name] = _build(member, file)
        if "default" in (resolved := _resolve(member, file)[0]):
            shape.defaults[name] = resolved["default"]
    shape.required = set(node.get("required", ()))
    # Conditional parts (if/then) only make a member required for some documents: the schema checks judge that.
    parts = [p for p in node.get("allOf", ()) if "if" not in p]
    if "$ref" in node:  # a reference beside other keywords: its members count too
        parts.append({"$ref": node["$ref"]})
    for part in parts:
        sub = _build(part, file)
        shape.properties = {**sub.properties, **shape.properties}
        shape.defaults = {**sub.defaults, **shape.defaults}
        shape.required |= sub.required
        shape.type = shape.type or sub.type
    if isinstance(node.get("items"), dict):
        shape.items = _build(node["items"], file)
    if "x-key" in node:
        shape.key, shape.ordered = tuple(node["x-key"]), False
    elif node.get("x-ordered") is False:
        shape.ordered = False
    return shape


@cache
def shape_of(name: str) -> Shape:
    """The shape of schema ``name`` or ``name#/pointer`` (``visit-search#/$defs/response``)."""
    file, _, pointer = name.partition("#")
    node: Any = schemas()[file]
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return _build(node, file)


def document_shape(document_type: Any) -> Shape:
    """The shape of one document type (an open shape for an unknown type: compared value by value)."""
    name = DOCUMENT_SCHEMAS.get(document_type) if isinstance(document_type, str) else None
    return shape_of(name) if name else _ANY


def compare(expected: Any, actual: Any, shape: Shape = _ANY, pointer: str = "") -> Iterator[Difference]:
    """Every :class:`Difference` between ``expected`` and ``actual`` under the comparison contract."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        yield from _objects(expected, actual, shape, pointer)
    elif isinstance(expected, list) and isinstance(actual, list):
        if shape.key is not None:
            yield from _keyed(expected, actual, shape, pointer)
        elif not shape.ordered:
            yield from _sets(expected, actual, pointer)
        else:
            item = shape.items or _ANY
            for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
                yield from compare(e, a, item, f"{pointer}/{i}")
            if len(expected) != len(actual):
                yield Difference(pointer or "/", "count", len(expected), len(actual))
    elif not same_value(expected, actual, shape):
        yield Difference(pointer or "/", "value", expected, actual)


def same_value(expected: Any, actual: Any, shape: Shape = _ANY) -> bool:
    """Leaf equality: NFC text, numeric ``number`` fields, otherwise same JSON type and value."""
    if isinstance(expected, str) and isinstance(actual, str):
        return expected == actual or unicodedata.normalize("NFC", expected) == unicodedata.normalize("NFC", actual)
    if shape.type == "number" and _numeric(expected) and _numeric(actual):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _objects(expected: dict[str, Any], actual: dict[str, Any], shape: Shape, pointer: str) -> Iterator[Difference]:
    owner = document_shape(expected.get("document_type")) if shape.by_document_type else shape
    for name in [*expected, *(k for k in actual if k not in expected)]:
        sub = f"{pointer}/{escape(name)}"
        want, got = _present(expected, name, owner), _present(actual, name, owner)
        if want is ABSENT or got is ABSENT:
            # A member on one side only is a disagreement when the schema requires it; an optional one the
            # target adds or leaves out is not (docs/comparison.md).
            if got is ABSENT and want is not ABSENT and name in owner.required:
                yield Difference(sub, "missing", want, ABSENT)
            continue
        yield from compare(want, got, owner.properties.get(name) or _ANY, sub)


def _present(value: dict[str, Any], name: str, shape: Shape) -> Any:
    """The member's value; when null or left out, its schema default, else :data:`ABSENT`."""
    got = value.get(name)
    return shape.defaults.get(name, ABSENT) if got is None else got


def _keyed(expected: list[Any], actual: list[Any], shape: Shape, pointer: str) -> Iterator[Difference]:
    """Items paired by their key (``x-key``), whatever their order; a key held twice pairs in turn."""
    key = shape.key or ()
    item = shape.items or _ANY
    theirs: dict[Any, list[tuple[int, Any]]] = {}
    for i, a in enumerate(actual):
        theirs.setdefault(identity(a, key), []).append((i, a))
    for e in expected:
        if pairs := theirs.get(identity(e, key)):
            j, a = pairs.pop(0)
            yield from compare(e, a, item, f"{pointer}/{j}")
        else:
            yield Difference(pointer or "/", "item_missing", e, ABSENT)
    for rest in theirs.values():
        for j, a in rest:
            yield Difference(f"{pointer}/{j}", "item_extra", ABSENT, a)


def _sets(expected: list[Any], actual: list[Any], pointer: str) -> Iterator[Difference]:
    if sorted(map(_sort_key, expected)) != sorted(map(_sort_key, actual)):
        yield Difference(pointer or "/", "value", expected, actual)


def identity(item: Any, key: tuple[str, ...]) -> tuple[Any, ...]:
    """The key of a collection item (text NFC-normalised), hashable whatever the members hold."""
    if not isinstance(item, dict):
        return ("", _sort_key(item))
    return tuple(_sort_key(item.get(k)) for k in key)


def _sort_key(value: Any) -> str:
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def canonical(value: Any, shape: Shape = _ANY) -> Any:
    """``value`` with every unordered collection sorted by key and null members dropped: equal answers compare equal."""
    if isinstance(value, dict):
        owner = document_shape(value.get("document_type")) if shape.by_document_type else shape
        return {k: canonical(v, owner.properties.get(k) or _ANY) for k, v in sorted(value.items())
                if v is not None and not (k in owner.defaults and v == owner.defaults[k])}
    if isinstance(value, list):
        item = shape.items or _ANY
        items = [canonical(v, item) for v in value]
        if shape.key is not None:
            return sorted(items, key=lambda v: (identity(v, shape.key or ()), _sort_key(v)))
        return sorted(items, key=_sort_key) if not shape.ordered else items
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    return value


def escape(name: Any) -> str:
    """A JSON Pointer reference token (RFC 6901)."""
    return str(name).replace("~", "~0").replace("/", "~1")
