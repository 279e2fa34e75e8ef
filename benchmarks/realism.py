"""Realism report: measured shares of a generated scenario against the targets of docs/domain.md §6.

Reads a scenario directory written by ``s24kit generate`` (or generates one) and prints, for each measure,
the share found, the target and whether it is met. Exit code 0 whatever the result: this is a report.

    python benchmarks/realism.py [--scenario DIR] [--patients 2000] [--seed 20261101] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any

from s24kit.fixtures import fixture_path
from s24kit.schemas.kr_calendar import is_holiday, is_lunar_holiday, is_night

#: Surnames, 2015 census top 10 (shares of the population, docs/domain.md §6).
SURNAMES = {"김": 0.215, "이": 0.147, "박": 0.084, "최": 0.047, "정": 0.043, "강": 0.023, "조": 0.021, "윤": 0.021,
            "장": 0.020, "임": 0.017}
#: (measure, target low, target high): the targets docs/domain.md §6 states.
TARGETS: dict[str, tuple[float, float]] = {
    "pediatrics_under_18": (0.80, 1.0),   # 소아청소년과 (11) visits by patients under 18
    "obstetrics_women": (0.97, 1.0),      # 산부인과 (10) visits by women
    "ophthalmology_over_50": (0.50, 1.0),  # 안과 (12) visits by patients 50 or older
    "orthopaedics_over_50": (0.45, 1.0),  # 정형외과 (05)
    "clinic_visits_own_sigungu": (0.70, 1.0),
    "pharmacy_same_sigungu_as_prescriber": (0.90, 1.0),
    "clinic_visits_on_seollal_chuseok": (0.0, 0.002),
    "night_holiday_flags_fit_date_and_time": (1.0, 1.0),  # outpatient visits and dispensings
    "two_syllable_given_names": (0.85, 0.97),
    "foreign_residents": (0.03, 0.05),
    "duplicate_cover": (0.04, 0.12),
    "zero_payout_claims": (0.0, 0.25),
}
_SURNAME_TABLE = json.loads(fixture_path("people", "surnames.json").read_text(encoding="utf-8"))["data"]
COMPOUND_SURNAMES = {surname for surname, _ in _SURNAME_TABLE if len(surname) > 1}
CLINIC_TYPES = ("31", "51", "93")


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def share(items: list[Any], test: Callable[[Any], bool]) -> float | None:
    return sum(1 for x in items if test(x)) / len(items) if items else None


def age_on(birth: str, day: str) -> int:
    b, d = date.fromisoformat(birth), date.fromisoformat(day)
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def surname_of(name: str) -> str:
    """The surname of a Korean name: two syllables for the compound surnames of the census (남궁, 황보 …)."""
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]


def flags_fit(visit: dict[str, Any], at: str) -> bool:
    """The visit's 야간 and 공휴일 flags are what its date and time make them (schemas/kr_calendar.py)."""
    day = date.fromisoformat(visit["start_date"])
    night, holiday = is_night(day, time.fromisoformat(at)), is_holiday(day)
    return (visit["night"], visit["holiday"]) == (night, holiday)  # the two facts of the form


def measure(root: Path) -> dict[str, Any]:
    seed = root / "emr-seed"
    patients = {p["patient_id"]: p for p in jsonl(seed / "patients.jsonl")}
    providers = {p["provider_code"]: p for p in jsonl(seed / "providers.jsonl")}
    visits = jsonl(seed / "visits.jsonl")
    medical = [v for v in visits if v["setting"] != "pharmacy"]
    by_dept: dict[str, list[dict[str, Any]]] = {}
    for v in medical:
        by_dept.setdefault(v["department"], []).append(v)

    def dept_share(code: str, test: Callable[[dict[str, Any]], bool]) -> float | None:
        return share(by_dept.get(code, []), test)

    def older(v: dict[str, Any], years: int) -> bool:
        return age_on(patients[v["patient_id"]]["birth_date"], v["start_date"]) >= years

    # outpatient visits and dispensings have a time of day (expected/index.jsonl); stays do not
    times = {e["visit_id"]: e["start_time"] for e in jsonl(root / "expected" / "index.jsonl") if e.get("start_time")}
    timed = [v for v in visits if v["visit_id"] in times]
    clinic = [v for v in medical if providers[v["provider_code"]]["facility_type"] in CLINIC_TYPES]
    visit_of = {v["visit_id"]: v for v in visits}
    prescribed = {v["prescription_issue_number"]: v for v in visits if v["setting"] == "pharmacy"}
    prescriptions = jsonl(seed / "prescriptions.jsonl")
    pairs = [(visit_of[rx["visit_id"]], prescribed[rx["issue_number"]]) for rx in prescriptions
             if rx["issue_number"] in prescribed and rx["visit_id"] in visit_of]
    # census surnames and Korean given names are those of citizens (7th digit 1–4), not of foreign residents
    names = [p["name"] for p in patients.values() if p["resident_number_masked"][7] in "1234"]
    surnames = Counter(surname_of(name) for name in names)
    policies = jsonl(root / "policies.jsonl")
    holders = Counter(p["patient_id"] for p in policies)
    claims = jsonl(root / "claims.jsonl")
    totals = [sum((payout or {}).get("total", 0) for payout in c["expected"].values()) for c in claims]
    found: dict[str, Any] = {
        "pediatrics_under_18": dept_share("11", lambda v: not older(v, 18)),
        "obstetrics_women": dept_share("10", lambda v: patients[v["patient_id"]]["sex"] == "F"),
        "ophthalmology_over_50": dept_share("12", lambda v: older(v, 50)),
        "orthopaedics_over_50": dept_share("05", lambda v: older(v, 50)),
        "clinic_visits_own_sigungu": share(clinic, lambda v: providers[v["provider_code"]]["sigungu"]
                                           == patients[v["patient_id"]]["sigungu"]),
        "pharmacy_same_sigungu_as_prescriber": share(pairs, lambda pr: providers[pr[0]["provider_code"]]["sigungu"]
                                                     == providers[pr[1]["provider_code"]]["sigungu"]),
        "clinic_visits_on_seollal_chuseok": share(clinic, lambda v: is_lunar_holiday(date.fromisoformat(
                                                  v["start_date"]))),
        "night_holiday_flags_fit_date_and_time": share(timed, lambda v: flags_fit(v, times[v["visit_id"]])),
        "two_syllable_given_names": share(names, lambda n: len(n) - len(surname_of(n)) == 2),
        "foreign_residents": share(list(patients.values()), lambda p: p["resident_number_masked"][7] in "5678"),
        "duplicate_cover": share(list(holders.values()), lambda n: n > 1),
        "zero_payout_claims": share(totals, lambda t: t == 0),
    }
    n = len(names)
    found["surnames"] = {s: (surnames.get(s, 0) / n if n else None, target) for s, target in SURNAMES.items()}
    found["counts"] = {"patients": len(patients), "citizens": n,
                       "distinct_given_names": len({name[len(surname_of(name)):] for name in names}),
                       "visits": len(visits), "claims": len(claims), "policies": len(policies)}
    return found


def report(found: dict[str, Any]) -> list[str]:
    out = [f"{'measure':<38}{'found':>9}  target", "-" * 64]
    for key, (low, high) in TARGETS.items():
        value = found[key]
        shown = "   n/a" if value is None else f"{value:8.1%}"
        ok = "" if value is None else ("ok" if low <= value <= high else "MISSED")
        out.append(f"{key:<38}{shown:>9}  {low:.1%}–{high:.1%}  {ok}")
    out.append("")
    out.append("surname (census 2015)      found   target  (within 1 point?)")
    for surname, (value, target) in found["surnames"].items():
        ok = "ok" if value is not None and abs(value - target) <= 0.01 else "MISSED"
        out.append(f"  {surname:<24}{value:7.1%}  {target:6.1%}  {ok}")
    out.append("")
    out.append("counts: " + ", ".join(f"{k} {v}" for k, v in found["counts"].items()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, help="a scenario directory (default: generate one)")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20_261_101)
    parser.add_argument("--json", action="store_true", help="print the measures as JSON")
    args = parser.parse_args()
    root = args.scenario
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="s24kit-realism-")) / "scenario"
        subprocess.run([sys.executable, "-m", "s24kit.conformance.cli", "generate", "--patients",
                        str(args.patients), "--seed", str(args.seed), "--out", str(root), "--quiet"], check=True)
    found = measure(root)
    print(json.dumps(found, ensure_ascii=False, indent=2) if args.json else "\n".join(report(found)))


if __name__ == "__main__":
    main()
