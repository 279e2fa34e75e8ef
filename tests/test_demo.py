"""``s24kit demo`` — the end of README's first command (tests/test_readme.py) — runs the whole kit end to end with
no configuration."""

from __future__ import annotations

import json

from click.testing import CliRunner

from s24kit.conformance.cli import main
from s24kit.conformance.reports import verify_bundle
from s24kit.schemas.loader import is_valid


def test_demo_runs_the_kit_end_to_end(tmp_path):
    state, out = tmp_path / "state", tmp_path / "out"
    result = CliRunner().invoke(main, ["demo", "--state", str(state), "--out", str(out), "--patients", "12",
                                       "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output and "✓" in result.output  # every claim paid the expected amount
    reference = json.loads((out / "reference" / "report.json").read_text(encoding="utf-8"))
    faulty = json.loads((out / "faulty-wrong_total" / "report.json").read_text(encoding="utf-8"))
    assert is_valid("report", reference) and is_valid("report", faulty)
    assert reference["verdict"] == "pass" and faulty["verdict"] == "fail"
    failing = {r["requirement"] for r in faulty["results"] if r["verdict"] == "fail"}
    assert {"S24-DOC-002", "S24-DOC-103"} <= failing
    for run in ("reference", "faulty-wrong_total"):
        assert verify_bundle(out / run / "evidence.zip") == []
        assert (out / run / "report.html").stat().st_size > 1000 and (out / run / "junit.xml").is_file()


def test_a_second_demo_run_reuses_the_state(tmp_path):
    args = ["demo", "--state", str(tmp_path / "state"), "--out", str(tmp_path / "out"), "--patients", "6"]
    assert CliRunner().invoke(main, args).exit_code == 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
