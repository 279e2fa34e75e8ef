"""Load the kit-v1 schema files and compile validators once.

Two validators per schema: a compiled one (jsonschema-rs) answers "valid?" fast, and a detailed one
(jsonschema) explains why a document is not, with JSON Pointers and the schema's Korean titles.
The detailed validator runs only on invalid input, so good documents never pay for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .profile import PROFILE

BASE_URI = "https://s24kit.invalid/kit-v1/"

#: document_type → schema name
DOCUMENT_SCHEMAS = {
    "medical_receipt": "medical-receipt",
    "itemised_statement": "itemised-statement",
    "prescription": "prescription",
    "pharmacy_receipt": "pharmacy-receipt",
}


def profile_dir():
    """The folder holding the schema files of the profile."""
    return files(__package__).joinpath(PROFILE)


@cache
def schema_texts() -> dict[str, str]:
    """Raw text of every ``*.schema.json``, by schema name (``medical-receipt``)."""
    out = {}
    for entry in sorted(profile_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".schema.json"):
            out[entry.name.removesuffix(".schema.json")] = entry.read_text(encoding="utf-8")
    return out


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every schema of the profile, parsed, by name."""
    return {name: json.loads(text) for name, text in schema_texts().items()}


def schema(name: str) -> dict[str, Any]:
    """One schema by name, e.g. ``schema("bundle")``."""
    try:
        return schemas()[name]
    except KeyError:
        raise KeyError(f"no schema named {name!r} in profile {PROFILE}; known: {', '.join(schemas())}") from None


@cache
def _rs_registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(s["$id"], s) for s in schemas().values()])


@cache
def _py_registry() -> Registry:
    return Registry().with_resources(
        (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in schemas().values()
    )


def _target(name: str) -> dict[str, Any]:
    """Schema ``name``, or a reference to one of its definitions: ``"insurer-claim#/$defs/submission"``."""
    if "#" not in name:
        return schema(name)
    file, pointer = name.split("#", 1)
    schema(file)  # a clear KeyError for unknown files
    return {"$id": f"{BASE_URI}ref/{file}/{pointer.strip('/').replace('/', '.')}",
            "$ref": f"{BASE_URI}{file}.schema.json#{pointer}"}


@cache
def fast_validator(name: str):
    """Compiled validator for schema ``name`` (or ``file#/pointer``), format assertions on."""
    return jsonschema_rs.validator_for(_target(name), registry=_rs_registry(), validate_formats=True)


@cache
def detailed_validator(name: str) -> Draft202012Validator:
    """Explaining validator for schema ``name`` (or ``file#/pointer``)."""
    return Draft202012Validator(_target(name), registry=_py_registry(), format_checker=FormatChecker())


def is_valid(name: str, instance: Any) -> bool:
    return fast_validator(name).is_valid(instance)


def iter_schema_errors(name: str, instance: Any) -> Iterator[Any]:
    """jsonschema ``ValidationError`` objects, deepest first within each branch."""
    validator = detailed_validator(name)
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        yield from _leaves(error)


def _leaves(error) -> Iterator[Any]:
    # if/then and allOf wrap the useful errors; report the innermost ones.
    if error.context:
        best = {}
        for sub in error.context:
            best.setdefault(tuple(sub.absolute_path), sub)
        for sub in best.values():
            yield from _leaves(sub)
    else:
        yield error
