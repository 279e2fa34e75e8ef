"""benchmarks/realism.py measures a scenario against the targets of docs/domain.md §6."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

from .conftest import ROOT, generated_scenario


def _report_module():
    spec = importlib.util.spec_from_file_location("realism_report", ROOT / "benchmarks" / "realism.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_measures_every_target(tmp_path_factory):
    realism = _report_module()
    out: Path = generated_scenario(tmp_path_factory, "--patients", "120", "--seed", "21")
    found = realism.measure(out)
    policies = [json.loads(line) for line in (out / "policies.jsonl").read_text().splitlines()]
    holders = Counter(p["patient_id"] for p in policies)
    assert found["duplicate_cover"] == sum(1 for n in holders.values() if n > 1) / len(holders)
    patients = [json.loads(line) for line in (out / "emr-seed/patients.jsonl").read_text().splitlines()]
    citizens = [p for p in patients if p["resident_number_masked"][7] in "1234"]  # census surnames are citizens'
    kim = sum(1 for p in citizens if p["name"][0] == "김") / len(citizens)
    assert found["surnames"]["김"] == (kim, 0.215)
    assert found["obstetrics_women"] in (None, 1.0)  # 산부인과 sees women only
    text = "\n".join(realism.report(found))
    for measure in realism.TARGETS:
        assert measure in text
    assert set(realism.TARGETS) <= set(found)
