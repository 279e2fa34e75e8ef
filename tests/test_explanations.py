"""Schema errors explained from jsonschema-rs's own errors: the field, the fix, both languages, no person quoted."""

from __future__ import annotations

import copy
import re

import pytest

from s24kit.schemas.loader import is_valid, schemas
from s24kit.schemas.validation import schema_findings, validate_document

from .conftest import EXAMPLES, load_example

#: Example file → the schema (or definition) it exemplifies, for the examples whose name does not say it.
TARGETS = {"visit-search.request": "visit-search#/$defs/request", "agent.reply": "agent#/$defs/reply",
           "insurer-claim.acknowledgement": "insurer-claim#/$defs/acknowledgement",
           "register-lookup.request": "register-lookup#/$defs/request",
           "register-lookup.response": "register-lookup#/$defs/response"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _breakages(value, path=()):
    """One defect at a time: every member left out, and every scalar given a value of the wrong kind."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), None
            yield from _breakages(item, (*path, key))
    elif isinstance(value, list) and value:
        yield from _breakages(value[0], (*path, 0))
    elif path:
        yield path, {"kind": "wrong"} if isinstance(value, str) else "wrong"


def _broken(doc, path, replacement):
    broken = copy.deepcopy(doc)
    parent = broken
    for step in path[:-1]:
        parent = parent[step]
    if replacement is None and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return broken


@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("*.json")))
def test_every_invalid_instance_gets_findings_that_name_a_place_in_both_languages(example):
    schema = TARGETS.get(example, example.split(".")[0])
    if schema.split("#")[0] not in schemas():
        pytest.skip(f"{example} exemplifies no schema of its own")
    doc = load_example(example)
    judged = 0
    for path, replacement in _breakages(doc):
        broken = _broken(doc, path, replacement)
        if is_valid(schema, broken):
            continue
        judged += 1
        findings = schema_findings(schema, broken)
        assert findings, (example, path)
        for f in findings:
            assert f.pointer.startswith("/") and f.message_ko and f.message_en
            assert HANGUL.search(f.message_ko) and not HANGUL.search(f.message_en.split(":")[-1]), f
            assert '"kind"' not in f.message_ko + f.message_en, f"an object is quoted: {f}"
            assert "{'" not in f.message_ko + f.message_en and "None" not in f.message_en, f
    assert judged


def test_a_field_allowed_only_under_a_condition_is_named_with_the_condition():
    receipt = load_example("medical-receipt.outpatient")
    receipt["inpatient_status"] = "discharge"
    [finding] = schema_findings("medical-receipt", receipt)
    assert finding.pointer == "/inpatient_status"
    assert 'setting = "inpatient"' in finding.message_en and "left out" in finding.message_en
    assert 'setting = "inpatient"' in finding.message_ko
    assert receipt["patient"]["name"] not in finding.message_ko + finding.message_en


def test_a_body_of_one_kind_is_judged_as_that_kind_only():
    reply = load_example("agent.reply")
    del reply["request_id"]
    assert [(f.pointer, f.message_en) for f in schema_findings("agent", reply)] == [
        ("/request_id", "required field 'request_id' is missing")]


def test_an_alternative_with_a_defect_deep_inside_wins_over_one_of_another_kind():
    claim = load_example("insurer-claim")
    claim["documents"][0]["totals"] = {}
    findings = schema_findings("insurer-claim", claim)
    assert findings and all(f.pointer.startswith("/documents/0/totals/") for f in findings), findings


def test_empty_text_and_empty_lists_are_explained_in_korean():
    receipt = load_example("medical-receipt.outpatient")
    receipt["patient"]["name"] = ""
    receipt["rows"] = []
    by_pointer = {f.pointer: f for f in schema_findings("medical-receipt", receipt)}
    assert "비어 있으면 안 됩니다" in by_pointer["/patient/name"].message_ko
    assert "must not be empty" in by_pointer["/rows"].message_en
    assert "should be non-empty" not in by_pointer["/rows"].message_en


def test_a_format_is_explained_even_where_only_the_compiled_validator_checks_it():
    problem = load_example("problem")
    problem["type"] = "가 나"
    [finding] = schema_findings("problem", problem)
    assert finding.pointer == "/type" and "uri-reference" in finding.message_en


def test_the_english_title_is_a_whole_sentence():
    receipt = load_example("medical-receipt.outpatient")
    receipt["department"] = 5
    [finding] = [f for f in schema_findings("medical-receipt", receipt) if f.pointer == "/department"]
    assert "(fixtures/codes/departments.json)" in finding.message_en


@pytest.mark.parametrize("document_type", [["medical_receipt"], {"a": 1}, 42, None])
def test_a_document_type_of_the_wrong_kind_is_one_finding(document_type):
    [finding] = validate_document({"document_type": document_type})
    assert finding.pointer == "/document_type" and "medical_receipt" in finding.message_en
