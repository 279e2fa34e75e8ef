"""``s24kit validate``: tables, JSON, exit codes, and one clear line per unusable input."""

from __future__ import annotations

import json
import unicodedata

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.conformance.cli.rules import rules_markdown

from .conftest import EXAMPLES, ROOT, load_example


@pytest.fixture
def run():
    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    return invoke


def test_shipped_examples_are_valid(run):
    result = run("validate", str(EXAMPLES / "bundle.json"), str(EXAMPLES / "prescription.json"))
    assert result.exit_code == 0, result.output
    assert "적합 2" in result.output


def test_findings_exit_1_with_rule_field_and_message(run, tmp_path):
    doc = load_example("medical-receipt.outpatient")
    doc["totals"]["total_amount"] += 1
    (tmp_path / "r.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = run("validate", "--lang", "en", str(tmp_path / "r.json"))
    assert result.exit_code == 1
    assert "S24-DOC-002" in result.output and "/totals/total_amount" in result.output
    assert "must equal" in result.output


def test_json_output_for_machines(run, tmp_path):
    doc = load_example("prescription")
    doc["patient"]["name"] = unicodedata.normalize("NFD", doc["patient"]["name"])
    (tmp_path / "rx.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = run("validate", "--format", "json", str(tmp_path))
    out = json.loads(result.output)
    assert result.exit_code == 1
    [entry] = out["results"]
    assert entry["valid"] is False and entry["findings"][0]["rule"] == "S24-DOC-030"


def test_json_lines_report_line_numbers(run, tmp_path):
    good = json.dumps(load_example("prescription"), ensure_ascii=False)
    lines = [good, "", "{not json", good]
    (tmp_path / "docs.jsonl").write_text("\n".join(lines), encoding="utf-8")
    result = run("validate", "--format", "json", str(tmp_path / "docs.jsonl"))
    out = json.loads(result.stdout)
    assert result.exit_code == 2
    assert [r["line"] for r in out["results"]] == [1, 4]
    assert out["unusable"][0]["line"] == 3 and "JSON" in out["unusable"][0]["message_en"]


@pytest.mark.parametrize(("content", "needle_en"), [
    ("영수증".encode("cp949"), "not UTF-8"),
    (b'{"document_type": ', "not valid JSON"),
    (b'{"document_type": "certificate"}', "unknown document type"),
])
def test_bad_inputs_get_one_line_and_others_are_still_checked(run, tmp_path, content, needle_en):
    (tmp_path / "bad.json").write_bytes(content)
    (tmp_path / "good.json").write_text(json.dumps(load_example("health") | {}), encoding="utf-8")
    (tmp_path / "rx.json").write_text(json.dumps(load_example("prescription"), ensure_ascii=False), encoding="utf-8")
    result = run("validate", "--lang", "en", str(tmp_path / "bad.json"), str(tmp_path / "rx.json"))
    assert "Traceback" not in result.output
    assert result.exit_code == 2 and needle_en in result.output
    assert "1 valid" in result.output


def test_missing_file_and_huge_file(run, tmp_path):
    big = tmp_path / "big.json"
    big.write_text("[" + "0," * 2000 + "0]")
    result = run("validate", "--max-bytes", "1000", str(big), str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "너무 큽니다" in result.output and "파일이 없습니다" in result.output


def test_utf8_bom_is_accepted(run, tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(load_example("prescription"), ensure_ascii=False).encode())
    assert run("validate", str(path)).exit_code == 0


def test_strict_turns_warnings_into_findings(run, tmp_path):
    doc = load_example("prescription")
    doc["diagnosis_codes"] = ["Z99.99"]
    (tmp_path / "rx.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert run("validate", str(tmp_path / "rx.json")).exit_code == 0
    assert run("validate", "--strict", str(tmp_path / "rx.json")).exit_code == 1


def test_usage_errors_exit_2(run):
    assert CliRunner().invoke(main, ["validate"]).exit_code == 2
    assert CliRunner().invoke(main, ["validate", "--lang", "fr", "x.json"]).exit_code == 2


def test_rules_listing_and_rules_md_in_sync(run):
    assert "S24-DOC-031" in run("rules", "--lang", "en").output
    assert (ROOT / "schemas" / "RULES.md").read_text(encoding="utf-8") == rules_markdown(), \
        "regenerate with: s24kit rules --format markdown > schemas/RULES.md"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if "pytest" in line and line.startswith("python3 -m pip"))
    assert command in ci.splitlines()


def test_other_messages_with_schema_option(run, tmp_path):
    assert run("validate", "--schema", "visit-search", str(EXAMPLES / "visit-search.request.json")).exit_code == 0
    (tmp_path / "p.json").write_text('{"status": 200}', encoding="utf-8")
    result = run("validate", "--schema", "problem", "--lang", "en", str(tmp_path / "p.json"))
    assert result.exit_code == 1 and "required field 'type'" in result.output
    assert CliRunner().invoke(main, ["validate", "--schema", "nope", "x.json"]).exit_code == 2
