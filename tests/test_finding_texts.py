"""Findings a vendor in any language can act on: one language at a time, values as JSON, counts that are true."""

from __future__ import annotations

import re

import pytest

from s24kit.conformance.checks import CHECKS, Evidence, Outcome, Result
from s24kit.conformance.cli.check import _why
from s24kit.conformance.language import localised, split
from s24kit.schemas.validation import validate
from s24kit.simulator.provider import Scenario

from .conftest import load_example
from .test_checks import BROKEN, MINE, _busiest, judged
from .test_checks import scenario_dir as scenario_dir  # the module's scenario, shared (pki: conftest)

HANGUL = re.compile(r"[\uac00-\ud7a3]")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}')
#: Defects whose findings between them use most of the suite's messages.
NOISY = ("breaks-every-rule", "wrong-department", "other-patients-document", "no-missing-list", "health-degraded",
         "unknown-visit-skipped", "wrong-visit-dates", "delivers-once", "visit-listed-twice", "foreign-provider-code")


def test_a_bilingual_message_splits_into_two_whole_sentences():
    assert split("V-1 medical_receipt: 값이 다릅니다 / V-1 medical_receipt: value differs") == (
        "V-1 medical_receipt: 값이 다릅니다", "V-1 medical_receipt: value differs")
    assert split('이름 "김하늘"이 NFC가 아닙니다 / name "김하늘" is not NFC') == (
        '이름 "김하늘"이 NFC가 아닙니다', 'name "김하늘" is not NFC')
    assert split("expected 200 / 404") is None and localised("only English", "ko") == "only English"


@pytest.fixture(scope="module")
def findings(scenario_dir, pki) -> list[Result]:
    scenario = Scenario.load(scenario_dir, _busiest(scenario_dir, "medical_receipt"))
    results = []
    for case in (c for c in BROKEN if c.name in NOISY):
        with judged(case.build(scenario), scenario, pki) as session:
            results += [r for rid in MINE if (r := CHECKS[rid].run(session)).verdict != "pass"]
    return results


def test_every_finding_reads_in_one_language(findings):
    texts = [text for r in findings for text in (r.outcome.reason, *(e.message for e in r.outcome.evidence))]
    assert len(texts) > 100
    for text in texts:
        if HANGUL.search(QUOTED.sub("", text)):
            assert split(text) is not None, f"not 'Korean / English': {text}"
    for result in findings:
        english, korean = _why(result, "en"), _why(result, "ko")
        assert not HANGUL.search(QUOTED.sub("", english.replace("\n", " "))), english
        assert " / " not in korean.split("\n")[0] or split(korean.split("\n")[0]) is None, korean


def test_values_in_findings_are_json(findings):
    for result in findings:
        for text in (_why(result, "en"), _why(result, "ko")):
            assert not re.search(r"\bNone\b|NoneType|\bTrue\b|\bFalse\b", text), text
            assert "expected null → actual null" not in text


def test_validation_findings_write_values_as_json():
    receipt = load_example("medical-receipt.outpatient")
    receipt["provider"]["country"] = None
    receipt["setting"] = "day_care"
    messages = " ".join(f"{f.message_ko} {f.message_en}" for f in validate(receipt))
    assert "null" in messages and '"day_care"' in messages
    assert "None" not in messages and "'day_care'" not in messages


def test_an_absent_side_is_named_and_never_shown_as_null():
    result = Result("S24-DOC-103", Outcome("fail", "1건 위반 / 1 violation(s) in returned documents", (
        Evidence("V-1 medical_receipt: 필수 필드가 없습니다 / V-1 medical_receipt: required field left out",
                 pointer="/documents/0/issue_date", expected="2026-10-05"),)))
    assert '/documents/0/issue_date: expected "2026-10-05" → actual absent' in _why(result, "en")
    assert "필수 필드가 없습니다" in _why(result, "ko") and "required field" not in _why(result, "ko")


def test_a_count_says_truly_where_the_rest_is():
    evidence = tuple(Evidence(f"문제 {i} / problem {i}") for i in range(20))
    many = Result("S24-DOC-103", Outcome("fail", "696건 위반 / 696 violation(s)", evidence, found=696))
    assert "(+19 more in the report; 676 more not listed (the report keeps the first 20))" in _why(many, "en")
    few = Result("S24-DOC-103", Outcome("fail", "3건 위반 / 3 violation(s)", evidence[:3], found=3))
    assert _why(few, "en").endswith("(+2 more in the report)")


def test_a_level_bound_verdict_keeps_both_languages_whole():
    from s24kit.conformance.catalogue import requirements
    from s24kit.conformance.checks.registry import failed, within_level

    should = within_level(failed("배너가 있습니다 / a banner is shown"), requirements()["S24-SEC-003"])
    assert should.verdict == "warn" and should.reason == "배너가 있습니다 (SHOULD) / a banner is shown (SHOULD)"
    assert localised(should.reason, "ko") == "배너가 있습니다 (SHOULD)"
