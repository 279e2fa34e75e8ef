"""A generated population as a claims handler sees it: the targets of docs/domain.md §6, on a fixed seed."""

from __future__ import annotations

import json
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from s24kit.schemas.kr_calendar import is_holiday, is_lunar_holiday, is_night

from .conftest import generated_scenario

PATIENTS = 1000
SEED = 20_261_101


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", str(PATIENTS), "--seed", str(SEED))


def test_night_and_holiday_flags_follow_the_visit_date_and_time(scenario_dir: Path) -> None:
    times = {e["visit_id"]: e["start_time"] for e in jsonl(scenario_dir / "expected/index.jsonl")}
    checked = 0
    for doc in jsonl(scenario_dir / "expected/documents.jsonl"):
        kind = doc["document_type"]
        if kind == "medical_receipt" and doc["setting"] == "outpatient" and times[doc["visit_id"]]:
            day = date.fromisoformat(doc["treatment_period"]["start"])
        elif kind == "pharmacy_receipt":
            day = date.fromisoformat(doc["dispensing_date"])
        else:
            continue
        at = time.fromisoformat(times[doc["visit_id"]])
        assert doc["night_or_holiday"] == (is_night(day, at) or is_holiday(day)), (doc["visit_id"], day, at)
        checked += 1
    assert checked > 1000


def test_clinics_are_closed_on_seollal_and_chuseok(scenario_dir: Path) -> None:
    providers = {p["provider_code"]: p for p in jsonl(scenario_dir / "emr-seed/providers.jsonl")}
    clinic = [v for v in jsonl(scenario_dir / "emr-seed/visits.jsonl")
              if v["setting"] == "outpatient" and providers[v["provider_code"]]["facility_type"] in ("31", "51", "93")]
    on_lunar = [v for v in clinic if is_lunar_holiday(date.fromisoformat(v["start_date"]))]
    assert len(clinic) > 3000
    assert len(on_lunar) / len(clinic) < 0.002  # six days of 365 would be 1.6% if clinics never closed
    sundays = [v for v in clinic if date.fromisoformat(v["start_date"]).weekday() == 6]
    assert len(sundays) / len(clinic) < 0.05  # one day in seven would be 14%
