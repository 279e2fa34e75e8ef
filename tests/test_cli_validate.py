"""``s24kit validate``: tables, JSON, exit codes, and one clear line per unusable input."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

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
    (b'{"document_type": ', "JSON syntax error"),
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


def test_other_messages_with_schema_option(run, tmp_path):
    assert run("validate", "--schema", "visit-search", str(EXAMPLES / "visit-search.request.json")).exit_code == 0
    (tmp_path / "p.json").write_text('{"status": 200}', encoding="utf-8")
    result = run("validate", "--schema", "problem", "--lang", "en", str(tmp_path / "p.json"))
    assert result.exit_code == 1 and "required field 'type'" in result.output
    assert CliRunner().invoke(main, ["validate", "--schema", "nope", "x.json"]).exit_code == 2


def _claim_documents() -> list[dict]:
    """A clinic's bundle and the pharmacy receipt of the same visit: one patient, two providers."""
    return load_example("bundle")["documents"] + [load_example("pharmacy-receipt")]


def _write_lines(path, documents: list[dict]) -> None:
    path.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in documents) + "\n", encoding="utf-8")


def test_json_lines_files_and_folders_are_checked_together(run, tmp_path):
    documents = _claim_documents()
    documents[3]["prescription_issue_number"] = "20261005-00099"  # no such prescription among them
    _write_lines(tmp_path / "claim.jsonl", documents)
    folder = tmp_path / "exports"
    folder.mkdir()
    for i, doc in enumerate(documents):
        (folder / f"{i}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    for target, where in ((tmp_path / "claim.jsonl", "claim.jsonl:4"), (folder, "3.json")):
        out = json.loads(run("validate", "--format", "json", str(target)).output)
        findings = [(r["file"], r["line"], f["rule"], f["pointer"]) for r in out["results"] for f in r["findings"]]
        assert len(findings) == 1, findings
        file, line, rule, pointer = findings[0]
        assert (f"{Path(file).name}:{line}" if line else Path(file).name) == where
        assert (rule, pointer) == ("S24-DOC-022", "/prescription_issue_number")


def test_documents_of_two_patients_in_one_file_are_told_apart(run, tmp_path):
    documents = _claim_documents()
    documents[2]["patient"]["name"] = "이서연"
    _write_lines(tmp_path / "docs.jsonl", documents)
    result = run("validate", "--lang", "en", str(tmp_path / "docs.jsonl"))
    assert result.exit_code == 1 and "S24-DOC-017" in result.output
    assert "이서연" not in result.output  # findings name the document, not the person


def test_a_scenario_expected_folder_is_split_by_patient_with_its_index(run, tmp_path):
    from s24kit.simulator.generator.context import Options
    from s24kit.simulator.generator.scenario import write_scenario

    write_scenario(tmp_path / "s", Options(patients=12, seed=3).resolved(), workers=1, progress=None)
    expected = tmp_path / "s" / "expected"
    for target in (expected, expected / "documents.jsonl"):
        result = run("validate", "--today", "2026-11-01", "--format", "json", str(target))
        out = json.loads(result.output)
        assert result.exit_code == 0, [f for r in out["results"] for f in r["findings"]][:3]
        assert out["unusable"] == [] and out["index_entries"] > 0 and out["results"]
    # Without the index the documents of twelve patients are one set, and S24-DOC-017 says so.
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "documents.jsonl").write_bytes((expected / "documents.jsonl").read_bytes())
    result = run("validate", "--today", "2026-11-01", str(tmp_path / "loose"))
    assert result.exit_code == 1 and "S24-DOC-017" in result.output


def test_today_can_be_given(run, tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(load_example("medical-receipt.outpatient")), encoding="utf-8")
    assert run("validate", "--today", "2026-11-01", str(tmp_path / "r.json")).exit_code == 0
    result = run("validate", "--lang", "en", "--today", "2026-10-01", str(tmp_path / "r.json"))
    assert result.exit_code == 1 and "S24-DOC-035" in result.output


def test_schema_backed_rules_are_listed_like_every_other(run):
    listed = {r["id"]: r for r in json.loads(run("rules", "--format", "json").output)}
    assert {"S24-DOC-041", "S24-DOC-042", "S24-DOC-043"} <= set(listed)
    assert listed["S24-DOC-042"]["scope"] == "schema"
    catalogue = json.loads(run("catalogue", "--family", "DOC", "--format", "json").output)
    assert {"S24-DOC-041", "S24-DOC-042", "S24-DOC-043"} <= {r["id"] for r in catalogue["requirements"]}


def test_catalogue_lock_rewrites_the_packaged_lock_file(run):
    from s24kit.conformance.catalogue import lock_path, lock_text

    before = lock_path().read_text(encoding="utf-8")
    assert before == lock_text(), "relock with: s24kit catalogue --lock"
    result = run("catalogue", "--lock")
    assert result.exit_code == 0 and str(lock_path()) in result.output
    assert lock_path().read_text(encoding="utf-8") == before
