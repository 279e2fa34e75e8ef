"""The kit-v1 schema files: meta-valid, their examples valid, the OpenAPI description valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.readers import read_from_filename
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from s24kit.schemas import loader

from .conftest import EXAMPLES, ROOT

SCHEMA_DIR = ROOT / "schemas" / "kit-v1"
NAMES = sorted(loader.schemas())
#: example file stem → (schema name, JSON Pointer of the definition it exemplifies)
EXAMPLE_TARGETS = {
    "visit-search.request": ("visit-search", "/$defs/request"),
    "visit-search.response": ("visit-search", "/$defs/response"),
    "agent.poll": ("agent", "/$defs/poll"),
    "agent.work": ("agent", "/$defs/work"),
    "agent.reply": ("agent", "/$defs/reply"),
    "insurer-claim.acknowledgement": ("insurer-claim", "/$defs/acknowledgement"),
    "register-lookup.request": ("register-lookup", "/$defs/request"),
    "register-lookup.response": ("register-lookup", "/$defs/response"),
    "medical-receipt.outpatient": ("medical-receipt", ""),
    "medical-receipt.inpatient": ("medical-receipt", ""),
}


#: The schemas for Python's jsonschema, a second opinion beside the kit's compiled jsonschema-rs validators.
PY_REGISTRY = Registry().with_resources(
    (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in loader.schemas().values())


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json"))


def _target(path: Path) -> tuple[str, str]:
    return EXAMPLE_TARGETS.get(path.stem, (path.stem, ""))


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_meta_valid(name):
    Draft202012Validator.check_schema(loader.schema(name))


@pytest.mark.parametrize("name", NAMES)
def test_schema_has_id_title_and_profile_disclaimer(name):
    schema = loader.schema(name)
    assert schema["$id"] == f"{loader.BASE_URI}{name}.schema.json"
    assert "not the official" in schema["description"]


@pytest.mark.parametrize("name", [n for n in NAMES if n != "common"])
def test_every_schema_has_an_example(name):
    assert any(_target(p)[0] == name for p in _examples()), f"no example for {name} in {EXAMPLES}"


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.stem)
def test_example_validates_in_both_validators(path):
    name, pointer = _target(path)
    instance = json.loads(path.read_text(encoding="utf-8"))
    wrapper = {"$ref": f"{name}.schema.json#{pointer}", "$id": f"{loader.BASE_URI}example-{path.stem}"}
    errors = list(Draft202012Validator(wrapper, registry=PY_REGISTRY).iter_errors(instance))
    assert errors == [], [e.message for e in errors]
    assert loader.is_valid(f"{name}#{pointer}" if pointer else name, instance)


def test_common_definitions_have_examples_that_validate():
    defs = loader.schema("common")["$defs"]
    for name, definition in defs.items():
        examples = definition.get("examples")
        assert examples, f"common $defs/{name} has no examples"
        validator = Draft202012Validator({"$ref": f"common.schema.json#/$defs/{name}", "$id": loader.BASE_URI + "x"},
                                         registry=PY_REGISTRY)
        for value in examples:
            assert validator.is_valid(value), (name, value)


def test_every_property_is_labelled_in_korean_and_english():
    def walk(node, where):
        if isinstance(node, dict):
            for key, prop in node.get("properties", {}).items():
                if "$ref" not in prop and "allOf" not in prop:
                    assert prop.get("title") and prop.get("description"), f"{where}/properties/{key}"
            for key, value in node.items():
                if key != "if":  # properties under "if" are conditions, not declarations
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    for name in NAMES:
        walk(loader.schema(name), name)


def test_money_is_integer_won():
    money = loader.schema("common")["$defs"]["money"]
    assert money["type"] == "integer" and money["minimum"] == 0
    validator = Draft202012Validator({"$ref": "common.schema.json#/$defs/money", "$id": loader.BASE_URI + "m"},
                                     registry=PY_REGISTRY)
    assert validator.is_valid(1000) and not validator.is_valid(-1) and not validator.is_valid(10.5)


@pytest.mark.parametrize("name", ["openapi.yaml", "admin-relay.openapi.yaml", "admin-insurer.openapi.yaml",
                                  "register.openapi.yaml"])
def test_openapi_description_is_valid_and_resolves_every_reference(name):
    path = SCHEMA_DIR / name
    spec, _ = read_from_filename(str(path))
    validate_openapi(spec, base_uri=path.as_uri())
    refs = set()

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"].split("#")[0])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(spec)
    for ref in refs - {""}:
        assert (SCHEMA_DIR / ref).is_file(), ref


def test_document_schema_reports_errors_of_the_chosen_type_only():
    errors = list(loader.iter_schema_errors("document", {"document_type": "prescription"}))
    assert errors and all("issue" in e.message or "required" in e.message for e in errors)


class _UniqueKeys(yaml.SafeLoader):
    """A YAML loader that refuses a mapping naming one key twice (PyYAML keeps the last one silently)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    keys = [loader.construct_object(key, deep=deep) for key, _ in node.value]
    twice = sorted({str(k) for k in keys if keys.count(k) > 1})
    if twice:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {twice}", node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


@pytest.mark.parametrize("path", sorted(p for pattern in ("schemas/**/*.yaml", "docs/**/*.yml", "fixtures/**/*.yaml")
                                        for p in ROOT.glob(pattern)), ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_files_name_each_key_once(path):
    yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys)


def test_the_duplicate_key_loader_refuses_a_duplicate():
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate keys"):
        yaml.load('a: 1\nb: {"409": x, "409": y}\n', Loader=_UniqueKeys)
