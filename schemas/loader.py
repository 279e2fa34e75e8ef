"""Load the kit-v1 schema files and compile validators once (jsonschema-rs).

One compiled validator per schema answers "valid?" fast and, for invalid input only, lists its errors with
where they are in the instance and which schema keyword failed (:mod:`.explanations` puts them in words).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs

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
    """Compiled validator for schema ``name`` (or ``file#/pointer``), format assertions on.

    Its error messages never quote the instance (``mask``): a value may be a person's, and writing the whole
    object at an error into the message is most of what an error costs."""
    return jsonschema_rs.validator_for(_target(name), registry=_rs_registry(), validate_formats=True, mask="…")


def is_valid(name: str, instance: Any) -> bool:
    return fast_validator(name).is_valid(instance)


def iter_schema_errors(name: str, instance: Any) -> Iterator[jsonschema_rs.ValidationError]:
    """The innermost errors of ``instance`` against schema ``name``, in the instance's order."""
    leaves = [leaf for error in fast_validator(name).iter_errors(instance) for leaf in _leaves(error)]
    # A path holds one type of step at each depth below a common prefix, so paths always compare.
    return iter(sorted(leaves, key=lambda e: e.instance_path))


_ALTERNATIVES = (jsonschema_rs.ValidationErrorKind.AnyOf, jsonschema_rs.ValidationErrorKind.OneOfNotValid)


def _leaves(error: jsonschema_rs.ValidationError) -> Iterator[jsonschema_rs.ValidationError]:
    """anyOf/oneOf failing as a whole say nothing useful: report the errors of the alternative the instance
    came closest to, one per place."""
    if not isinstance(error.kind, _ALTERNATIVES):
        yield error
        return
    here = error.instance_path
    branches = [[leaf for sub in branch for leaf in _leaves(sub)] for branch in error.kind.context]

    def distance(branch: list[jsonschema_rs.ValidationError]) -> tuple[int, int]:
        # Errors at the alternative's own level (a missing or unexpected field, another type) mean the instance
        # is not of that kind; errors deeper down mean it is, with a defect inside.
        return sum(leaf.instance_path == here for leaf in branch), len(branch)

    ranked = sorted((distance(b), i) for i, b in enumerate(branches) if b)
    if not ranked:
        yield error
        return
    first: dict[tuple, jsonschema_rs.ValidationError] = {}
    for score, i in ranked:
        if score == ranked[0][0]:
            for leaf in branches[i]:
                first.setdefault(tuple(leaf.instance_path), leaf)
    yield from first.values()


@cache
def _schemas_by_uri() -> dict[str, dict[str, Any]]:
    return {s["$id"]: s for s in schemas().values()}


def schema_node(uri: str, tokens: list[str]) -> Any:
    """The node of schema file ``uri`` (its ``$id``) at JSON Pointer ``tokens`` (``None`` when absent)."""
    node: Any = _schemas_by_uri().get(uri)
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node
