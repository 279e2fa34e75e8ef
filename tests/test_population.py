"""A generated population as a claims handler sees it: the targets of docs/domain.md §6, on a fixed seed."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from s24kit.schemas.kr_calendar import is_holiday, is_lunar_holiday, is_night
from s24kit.simulator.generator.claims import UNPAID_FILED_SHARE

from .conftest import ROOT, generated_scenario

PATIENTS = 2000  # enough that every share sits well inside its target band, not only for this seed
SEED = 20_261_101


def _realism():
    spec = importlib.util.spec_from_file_location("realism_report", ROOT / "benchmarks" / "realism.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REALISM = _realism()


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_scenario(tmp_path_factory, "--patients", str(PATIENTS), "--seed", str(SEED))


@pytest.fixture(scope="module")
def found(scenario_dir: Path) -> dict[str, Any]:
    return REALISM.measure(scenario_dir)


@pytest.mark.parametrize("measure", sorted(REALISM.TARGETS))
def test_each_target_of_the_realism_report_is_met(found: dict[str, Any], measure: str) -> None:
    low, high = REALISM.TARGETS[measure]
    assert found[measure] is not None and low <= found[measure] <= high, (measure, found[measure])


def test_the_realism_report_prints_every_measure_met(found: dict[str, Any]) -> None:
    text = "\n".join(REALISM.report(found))
    assert "MISSED" not in text.split("surname (census 2015)")[0], text
    assert found["counts"]["distinct_given_names"] > 400  # the popular-name tables alone hold 265 names


def test_patients_live_where_the_network_is(scenario_dir: Path) -> None:
    providers = jsonl(scenario_dir / "emr-seed/providers.jsonl")
    patients = jsonl(scenario_dir / "emr-seed/patients.jsonl")
    clinic_places = {(p["sido"], p["sigungu"]) for p in providers if p["facility_type"] == "31"}
    pharmacy_places = {(p["sido"], p["sigungu"]) for p in providers if p["facility_type"] == "81"}
    homes = Counter((p["sido"], p["sigungu"]) for p in patients)
    assert set(homes) <= clinic_places <= pharmacy_places | clinic_places
    assert clinic_places <= pharmacy_places  # every 시군구 with a 의원 has a pharmacy
    assert len(homes) >= 3  # a catchment of several 시군구, not one town
    for place in homes:  # each has a 의원 of every common speciality
        depts = {d for p in providers if p["facility_type"] == "31" and (p["sido"], p["sigungu"]) == place
                 for d in p["departments"]}
        assert {"01", "05", "11", "12", "13", "14", "10"} <= depts, place


def test_adults_seldom_see_a_paediatrician_and_children_mostly_do(scenario_dir: Path) -> None:
    patients = {p["patient_id"]: p for p in jsonl(scenario_dir / "emr-seed/patients.jsonl")}
    respiratory = [v for v in jsonl(scenario_dir / "emr-seed/visits.jsonl")
                   if v["setting"] == "outpatient" and v["diagnosis_codes"] and v["diagnosis_codes"][0][0] == "J"]

    def age(v: dict[str, Any]) -> int:
        return REALISM.age_on(patients[v["patient_id"]]["birth_date"], v["start_date"])

    children = [v for v in respiratory if age(v) < 15]
    adults = [v for v in respiratory if age(v) >= 18]
    assert sum(1 for v in children if v["department"] == "11") / len(children) > 0.5
    assert sum(1 for v in adults if v["department"] == "11") / len(adults) < 0.02


def test_claims_that_pay_nothing_are_tagged_hard_cases_in_the_stated_share(scenario_dir: Path) -> None:
    claims = jsonl(scenario_dir / "claims.jsonl")
    zero = [c for c in claims if not any(p and p["total"] for p in c["expected"].values())]
    reasons = Counter(next(t for t in ("abroad", "older_than_3_years", "rider_not_held", "below_deductible")
                           if t in c["tags"]) for c in zero)
    assert sum(reasons.values()) == len(zero)  # every one says why
    assert reasons["abroad"] and reasons["older_than_3_years"] and reasons["below_deductible"]
    # below the deductible: what was filed anyway (UNPAID_FILED_SHARE of what would pay nothing), the same-day
    # hard cases and the first claim of those who had nothing else to claim: a minority
    assert UNPAID_FILED_SHARE < 0.1 and reasons["below_deductible"] / len(claims) < 0.25


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
        assert (doc["night"], doc["holiday"]) == (is_night(day, at), is_holiday(day)), (doc["visit_id"], day, at)
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
