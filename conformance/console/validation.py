"""Input of the console, from a form or a JSON body, checked against the request schemas of the console's
OpenAPI description (``openapi.yaml``, components/schemas): one definition of what each action takes, for
the pages and the API alike. A refusal names the field, in Korean and English (400, never a 500)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI = Path(__file__).with_name("openapi.yaml")
UNKNOWN_FIELDS = ("additionalProperties", "unevaluatedProperties")


class FieldError(Exception):
    """Bad input: which field, what is wrong and the fix (400), or a conflict with what is recorded (409)."""

    def __init__(self, field: str, message_ko: str, message_en: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message_en}")
        self.field, self.message_ko, self.message_en, self.status = field, message_ko, message_en, status


class NotFound(Exception):
    """The object a path names does not exist (404)."""

    def __init__(self, kind: str, object_id: Any) -> None:
        super().__init__(f"no {kind} {object_id}")
        self.kind, self.object_id = kind, object_id


@cache
def openapi() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


@cache
def _validator(component: str) -> Draft202012Validator:
    document = openapi()
    registry = Registry().with_resource("urn:console", Resource(contents=document, specification=DRAFT202012))
    schema = {"$ref": f"urn:console#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry)


def _field(error: ValidationError) -> str:
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return ".".join([*map(str, error.absolute_path), missing]).strip(".")
    if error.validator in UNKNOWN_FIELDS:
        extra = re.findall(r"'([^']*)'", error.message)
        return ".".join([*map(str, error.absolute_path), *extra[:1]]) or "body"
    return ".".join(map(str, error.absolute_path)) or "body"


def _messages(error: ValidationError) -> tuple[str, str]:
    schema, kind = error.schema, error.validator
    if kind == "required":
        return "필수 항목입니다", "is required"
    if kind in UNKNOWN_FIELDS:
        return "알 수 없는 항목입니다", "is not a known field"
    if kind == "enum":
        choices = ", ".join(map(str, schema["enum"]))
        return f"다음 중 하나여야 합니다: {choices}", f"must be one of: {choices}"
    if kind in ("maxLength", "minLength"):
        return (f"길이는 {schema.get('minLength', 0)}–{schema.get('maxLength', '∞')}자입니다",
                f"length must be {schema.get('minLength', 0)}–{schema.get('maxLength', '∞')} characters")
    if kind in ("minimum", "maximum"):
        return (f"{schema.get('minimum', '-∞')}–{schema.get('maximum', '∞')} 사이의 정수여야 합니다",
                f"must be an integer from {schema.get('minimum', '-∞')} to {schema.get('maximum', '∞')}")
    if kind == "pattern":  # what the pattern asks, in words (x-pattern-ko, x-pattern-en): never the regex itself
        return (schema.get("x-pattern-ko", "형식이 맞지 않습니다"),
                schema.get("x-pattern-en", f"has the wrong form ({schema.get('description', 'see openapi.yaml')})"))
    if kind == "type":
        return f"형식은 {schema['type']} 이어야 합니다", f"must be of type {schema['type']}"
    if kind in ("minProperties", "anyOf", "oneOf"):
        return "바꿀 항목이 하나 이상 있어야 합니다", "needs at least one field to change"
    return f"값이 맞지 않습니다 ({kind})", f"is not valid ({kind})"


def check(component: str, value: Any) -> dict[str, Any]:
    """``value`` when it is valid for ``components/schemas/<component>``, else :class:`FieldError` for the
    first problem (the most specific one)."""
    # An unknown field is reported last: a field that fails its own schema also counts as "unevaluated".
    errors = sorted(_validator(component).iter_errors(value),
                    key=lambda e: (e.validator in UNKNOWN_FIELDS, len(e.absolute_path), str(e.path)))
    if errors:
        error = errors[0]
        field = _field(error)
        message_ko, message_en = _messages(error)
        raise FieldError(field, f"{field}: {message_ko}", f"{field}: {message_en}")
    return value


def value_refusal(component: str, name: str, value: Any, field: str | None = None) -> tuple[str, str] | None:
    """Why ``value`` is refused as the property ``name`` of ``components/schemas/<component>``, in Korean and
    English and naming ``field`` (default ``name``), or None: the API's rule for one value, for other inputs of
    the same thing (the sites CSV import's vendor, product and product_version)."""
    field = field or name
    errors = sorted(_validator(f"{component}/properties/{name}").iter_errors(value),
                    key=lambda e: (len(e.absolute_path), str(e.path)))
    if not errors:
        return None
    message_ko, message_en = _messages(errors[0])
    return f"{field}: {message_ko}", f"{field}: {message_en}"


def form_values(component: str, form: dict[str, str]) -> dict[str, Any]:
    """A form's strings as the schema's types: empty fields left out (or ``None`` when the schema allows
    null), integers and booleans converted; the form's CSRF field is not part of the input."""
    properties = _properties(component)
    values: dict[str, Any] = {}
    for key, raw in form.items():
        if key == "csrf_token":
            continue
        text = raw.strip() if isinstance(raw, str) else raw
        kinds = _types(properties.get(key, {}))
        if text == "":
            if "null" in kinds:
                values[key] = None
            continue
        if "integer" in kinds and isinstance(text, str) and text.lstrip("-").isdigit() and len(text) < 19:
            values[key] = int(text)
        elif "boolean" in kinds and text in ("true", "false", "on"):
            values[key] = text != "false"
        else:
            values[key] = text
    return values


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return openapi()["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


def _properties(component: str) -> dict[str, Any]:
    """The properties of a component, with those of the components it extends (``allOf``)."""
    schema = openapi()["components"]["schemas"][component]
    found: dict[str, Any] = {}
    for part in schema.get("allOf", []):
        found.update(_resolve(part).get("properties", {}))
    found.update(schema.get("properties", {}))
    return found


def _types(schema: dict[str, Any]) -> set[str]:
    schema = _resolve(schema)
    if "anyOf" in schema:
        return set().union(*(_types(part) for part in schema["anyOf"]))
    kinds = schema.get("type", "string")
    return set(kinds if isinstance(kinds, list) else [kinds])
