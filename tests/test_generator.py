"""The scenario generator (s24kit.simulator.generator) and ``s24kit generate``: bytes, validity, distributions."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli.generate import generate
from s24kit.fixtures import fixture_path
from s24kit.schemas.identifiers import FULL_RRN, MASKED_RRN
from s24kit.schemas.loader import is_valid
from s24kit.schemas.validation import validate_documents
from s24kit.simulator.generator import hardcases
from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import Generator, chunks
from s24kit.simulator.people import _AGE_BANDS

PATIENTS = 240
SEED = 20_261_101


def run(*args: str) -> Any:
    return CliRunner().invoke(generate, list(args))


def make(out: Path, *extra: str, patients: int = PATIENTS, seed: int = SEED) -> Path:
    result = run("--patients", str(patients), "--seed", str(seed), "--out", str(out), "--quiet", *extra)
    assert result.exit_code == 0, result.output
    return out


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scenario rich in hard cases, written by the command."""
    return make(tmp_path_factory.mktemp("gen") / "scenario", "--hard-cases", "0.4")


def bundles(documents: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each visit's documents, plus (for a pharmacy visit) the prescription it dispensed."""
    by_visit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    prescriptions = {}
    for doc in documents:
        by_visit[doc["visit_id"]].append(doc)
        if doc["document_type"] == "prescription":
            prescriptions[doc["issue_number"]] = doc
    for docs in by_visit.values():
        docs += [prescriptions[d["prescription_issue_number"]] for d in list(docs)
                 if d["document_type"] == "pharmacy_receipt"]
    return by_visit


def findings(by_visit: dict[str, list[dict[str, Any]]]) -> list[tuple[str, Any]]:
    found = []
    for visit_id, docs in by_visit.items():
        # Sent together as a claim does (a pharmacy visit with its prescription comes from two providers).
        found += [(visit_id, f) for f in validate_documents(docs)]
    return found


# -- determinism -------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    one = files(make(tmp_path / "a", patients=150))
    again = files(make(tmp_path / "b", patients=150))
    two_workers = files(make(tmp_path / "c", "--workers", "2", patients=150))
    assert one == again
    assert one == two_workers
    other_seed = files(make(tmp_path / "d", patients=150, seed=SEED + 1))
    assert other_seed["expected/documents.jsonl"] != one["expected/documents.jsonl"]


def test_chunking_does_not_change_the_output() -> None:
    options = Options(patients=40, seed=5).resolved()
    small = [c.data for c in chunks(options, size=3)]
    large = [c.data for c in chunks(options, size=40)]
    for name in large[0]:
        assert b"".join(d[name] for d in small) == large[0][name], name


def test_manifest_lists_every_other_file_with_its_hash(scenario: Path) -> None:
    manifest = json.loads((scenario / "manifest.json").read_text(encoding="utf-8"))
    on_disk = {k: v for k, v in files(scenario).items() if k != "manifest.json"}
    assert set(manifest["files"]) == set(on_disk)
    for name, data in on_disk.items():
        assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest(), name
    assert manifest["profile"] == "kit-v1"
    assert manifest["seed"] == SEED and manifest["options"]["patients"] == PATIENTS
    assert "workers" not in manifest["options"]
    counts = manifest["counts"]
    assert counts["patients"] == PATIENTS == len(jsonl(scenario / "emr-seed/patients.jsonl"))
    assert counts["visits"] == len(jsonl(scenario / "expected/index.jsonl"))
    assert sum(counts["documents"].values()) == len(jsonl(scenario / "expected/documents.jsonl"))
    assert counts["claims"] == len(jsonl(scenario / "claims.jsonl"))
    unpaid = [c for c in jsonl(scenario / "claims.jsonl") if not any(p and p["total"] for p in c["expected"].values())]
    assert sum(counts["claims_paying_nothing"].values()) == len(unpaid)
    assert "unexplained" not in counts["claims_paying_nothing"]
    assert counts["policies"] == len(jsonl(scenario / "policies.jsonl"))


# -- validity ----------------------------------------------------------------------------------------------


def test_every_written_document_is_valid(scenario: Path) -> None:
    documents = jsonl(scenario / "expected/documents.jsonl")
    by_visit = bundles(documents)
    assert len(by_visit) == len(jsonl(scenario / "expected/index.jsonl"))
    assert findings(by_visit) == []


def test_twenty_thousand_generated_visits_are_valid() -> None:
    """At least 20,000 visits (every document, every bundle rule), generated and checked in-process."""
    options = Options(patients=2600, seed=77, hard_cases=0.2).resolved()
    generator = Generator(options, payouts=False)
    documents = [json.loads(line) for chunk in chunks(options, generator=generator, size=100)
                 for line in chunk.data["expected/documents.jsonl"].splitlines()]
    by_visit = bundles(documents)
    assert len(by_visit) >= 20_000
    assert findings(by_visit) == []


def test_every_visit_has_its_documents(scenario: Path) -> None:
    documents = jsonl(scenario / "expected/documents.jsonl")
    types = defaultdict(list)
    for doc in documents:
        types[doc["visit_id"]].append(doc["document_type"])
    for entry in jsonl(scenario / "expected/index.jsonl"):
        assert types[entry["visit_id"]] == entry["document_types"]
        if entry["setting"] == "pharmacy":
            assert entry["document_types"] == ["pharmacy_receipt"]
        else:
            assert entry["document_types"][:2] == ["medical_receipt", "itemised_statement"]


def test_numbers_are_unique_in_the_scenario(scenario: Path) -> None:
    documents = jsonl(scenario / "expected/documents.jsonl")
    numbers = {
        "receipt": [d["receipt_number"] for d in documents if d["document_type"].endswith("_receipt")],
        "statement": [d["statement_number"] for d in documents if d["document_type"] == "itemised_statement"],
        "prescription": [d["issue_number"] for d in documents if d["document_type"] == "prescription"],
    }
    for kind, values in numbers.items():
        assert values and len(values) == len(set(values)), kind
    visit_ids = [e["visit_id"] for e in jsonl(scenario / "expected/index.jsonl")]
    assert len(visit_ids) == len(set(visit_ids))
    requests = [c["claim"]["request_id"] for c in jsonl(scenario / "claims.jsonl")]
    assert len(requests) == len(set(requests))


def test_big_three_and_inpatient_rows_are_present() -> None:
    options = Options(patients=600, seed=3).resolved()
    lines = Counter()
    rows = Counter()
    for chunk in chunks(options, generator=Generator(options, payouts=False)):
        for line in chunk.data["expected/documents.jsonl"].splitlines():
            doc = json.loads(line)
            if doc["document_type"] == "itemised_statement":
                lines.update(line["big_three"] for line in doc["lines"] if line["big_three"])
            if doc["document_type"] == "medical_receipt" and doc["setting"] == "inpatient":
                rows.update(r["code"] for r in doc["rows"])
                rows[doc["inpatient_status"]] += 1
    assert set(lines) == {"manual_therapy", "eswt", "prolotherapy", "injection", "mri"}
    assert {"FOEP", "INAMT_BDM1", "INAMT_BDM2", "INAMT_BDM4", "discharge", "interim"} <= set(rows)


# -- claims and policies -----------------------------------------------------------------------------------


def test_claims_and_policies_follow_their_formats(scenario: Path) -> None:
    claims = jsonl(scenario / "claims.jsonl")
    index = {e["visit_id"]: e for e in jsonl(scenario / "expected/index.jsonl")}
    for record in claims:
        assert is_valid("patient-claim", record["claim"]), record["claim"]["request_id"]
        claim = record["claim"]
        assert set(record["policies"]) == set(claim["insurers"]) == set(record["expected"])
        assert {index[v]["provider_code"] for v in claim["visit_ids"]} == {claim["provider_code"]}
        visit_tags = {t for v in claim["visit_ids"] for t in index[v]["tags"]}
        assert record["tags"] == sorted(set(record["tags"])) and visit_tags <= set(record["tags"])
        # a claim that pays nothing says why: a hard case that pays nothing by design, or its own reason tag
        reasons = set(record["tags"]) - visit_tags
        adjudicated = all(p is not None for p in record["expected"].values())
        pays = any(p and p["total"] for p in record["expected"].values())
        by_design = bool(visit_tags & {"abroad", "older_than_3_years"})
        assert len(reasons) == (1 if adjudicated and not pays and not by_design else 0), record["tags"]
        assert reasons <= {"below_deductible", "rider_not_held"}
    for record in jsonl(scenario / "policies.jsonl"):
        policy = record["policy"]
        assert policy["format"] == "s24kit-policy/1"
        assert fixture_path("rules", f"{policy['table']}.json").is_file()
    insurers = {p["insurer_code"] for p in jsonl(scenario / "policies.jsonl")}
    assert insurers <= {"INSA", "INSB", "INSC"}


def test_expected_payouts_come_from_the_written_documents(scenario: Path) -> None:
    """Where the payout engine exists, the claims carry its answer on exactly the documents in expected/."""
    from s24kit.simulator.generator.claims import payout_engine
    from s24kit.simulator.payout.shared import share

    adjudicate = payout_engine()
    claims = jsonl(scenario / "claims.jsonl")
    manifest = json.loads((scenario / "manifest.json").read_text(encoding="utf-8"))
    if adjudicate is None:
        assert all(v is None for c in claims for v in c["expected"].values())
        return
    assert manifest["counts"]["payout_failures"] == 0
    documents = defaultdict(list)
    for doc in jsonl(scenario / "expected/documents.jsonl"):
        documents[doc["visit_id"]].append(doc)
    history: dict[tuple[str, str], Any] = {}
    for record in claims:  # a patient's claims are in adjudication order
        docs = [d for v in record["claim"]["visit_ids"] for d in documents[v]]
        alone = {}
        for insurer, policy in record["policies"].items():
            key = (record["patient_id"], insurer)
            alone[insurer] = adjudicate(docs, policy, history.get(key), claim_date=record["claim_date"],
                                        accident_type=record["claim"]["accident_type"])
            history[key] = alone[insurer].history
        for insurer, result in share(alone).items():  # a person insured twice: the policies share the loss
            assert result.as_payout() == record["expected"][insurer]
            assert is_valid("payout", record["expected"][insurer])
    abroad = [c for c in claims if "abroad" in c["tags"]]
    assert abroad and all(p["total"] == 0 for c in abroad for p in c["expected"].values())


# -- dates and identities ----------------------------------------------------------------------------------


def test_no_impossible_dates(scenario: Path) -> None:
    manifest = json.loads((scenario / "manifest.json").read_text(encoding="utf-8"))
    first, last = (date.fromisoformat(manifest["options"][k]) for k in ("from", "to"))
    claim_day = date.fromisoformat(manifest["claim_date"])
    assert claim_day == last + timedelta(days=1)
    patients = jsonl(scenario / "emr-seed/patients.jsonl")
    births = {p["patient_id"]: date.fromisoformat(p["birth_date"]) for p in patients}
    mix = json.loads(fixture_path("population", "generation-mix.json").read_text(encoding="utf-8"))
    contracts: dict[str, list[date]] = defaultdict(list)
    for record in jsonl(scenario / "policies.jsonl"):
        start = date.fromisoformat(record["policy"]["contract_date"])
        periods = mix["generations"][str(record["generation"])]["periods"]
        period = next(p for p in periods if p["id"] == record["period"])
        assert date.fromisoformat(period["sale_from"]) <= start
        assert period["sale_to"] is None or start <= date.fromisoformat(period["sale_to"])
        assert births[record["patient_id"]] <= start < last
        contracts[record["patient_id"]].append(start)
    for birth in births.values():
        assert claim_day - timedelta(days=366 * 96) < birth <= claim_day
    for entry in jsonl(scenario / "expected/index.jsonl"):
        start, end = date.fromisoformat(entry["start_date"]), date.fromisoformat(entry["end_date"])
        assert births[entry["patient_id"]] <= start <= end <= last
        assert max(contracts[entry["patient_id"]]) < start
        if "older_than_3_years" not in entry["tags"]:
            assert first <= start
    for doc in jsonl(scenario / "expected/documents.jsonl"):
        if doc["document_type"] in ("medical_receipt", "itemised_statement"):
            assert doc["treatment_period"]["start"] <= doc["treatment_period"]["end"] <= doc["issue_date"]
    for record in jsonl(scenario / "claims.jsonl"):
        consent = record["claim"]["consent"]
        assert consent["granted_at"] < consent["expires_at"]
        assert consent["granted_at"].startswith(record["claim_date"])
        assert date.fromisoformat(record["claim_date"]) <= claim_day


def test_no_full_resident_number_anywhere(scenario: Path) -> None:
    seen_masked = 0
    for name, data in files(scenario).items():
        text = data.decode("utf-8")
        if name == "manifest.json":  # SHA-256 digests are hex: they may hold 13 digits in a row by chance
            text = re.sub(r'"sha256": "[0-9a-f]{64}"', "", text)
        assert not FULL_RRN.search(text), (name, FULL_RRN.search(text))
        seen_masked += len(re.findall(r"[0-9]{6}-[1-8]\*{6}", text))
    assert seen_masked > PATIENTS
    for patient in jsonl(scenario / "emr-seed/patients.jsonl"):
        assert MASKED_RRN.match(patient["resident_number_masked"])


# -- distributions -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def population() -> tuple[list[Any], list[dict[str, Any]]]:
    options = Options(patients=8000, seed=99).resolved()
    generator = Generator(options, payouts=False)
    patients, policies = [], []
    for index in range(options.patients):
        _, patient, drawn = generator.insured(index)
        patients.append(patient)
        policies += drawn
    return patients, policies


def _close(observed: int, expected_share: float, n: int, sigmas: float = 4.5) -> bool:
    return abs(observed / n - expected_share) <= sigmas * math.sqrt(expected_share * (1 - expected_share) / n) + 1e-3


def test_surnames_follow_the_census(population: tuple[list[Any], list[dict[str, Any]]]) -> None:
    patients, _ = population
    table = json.loads(fixture_path("people", "surnames.json").read_text(encoding="utf-8"))["data"]
    total = sum(n for _, n in table)
    counts = Counter(p.record["name"][0] for p in patients)
    for surname, n in sorted(table, key=lambda row: -row[1])[:10]:
        assert _close(counts[surname], n / total, len(patients)), (surname, counts[surname] / len(patients), n / total)


def test_sex_ratio_and_age_bands(population: tuple[list[Any], list[dict[str, Any]]]) -> None:
    patients, _ = population
    n = len(patients)
    assert _close(sum(p.sex == "M" for p in patients), 0.5, n)
    weights: Counter[int] = Counter()
    for low, high, thousands in _AGE_BANDS:
        for age in range(low, min(high, 95) + 1):
            weights[age] = thousands / (high - low + 1)
    total = sum(weights.values())
    for low, high in ((0, 19), (20, 39), (40, 59), (60, 79), (80, 95)):
        expected = sum(w for age, w in weights.items() if low <= age <= high) / total
        observed = sum(low <= p.age <= high for p in patients)
        assert _close(observed, expected, n), (low, high, observed / n, expected)


def test_generation_mix_matches_the_fixture(population: tuple[list[Any], list[dict[str, Any]]]) -> None:
    _, policies = population
    shares = json.loads(fixture_path("population", "generation-mix.json").read_text(encoding="utf-8"))
    # the in-force mix is that of individual policies; a group policy (단체실손) is of the generation on sale now
    individual = [p for p in policies if p["kind"] == "individual"]
    counts = Counter(p["generation"] for p in individual)
    for generation, entry in shares["generations"].items():
        observed = counts[int(generation)] / len(individual)
        assert abs(observed - entry["share"]) <= 0.015, (generation, observed, entry["share"])
    variants = Counter(p["variant"] for p in policies if p["period"] in ("gen2.late", "gen3"))
    assert variants["standard"] and variants["selective"]
    riders = Counter(r for p in policies for r in p["policy"]["riders"])
    assert {"big_three_manual", "non_covered", "severe", "non_severe"} <= set(riders)
    assert 1 < len(policies) / len(population[0]) < 1.3


# -- hard cases --------------------------------------------------------------------------------------------


def test_every_hard_case_is_present_and_true(scenario: Path) -> None:
    manifest = json.loads((scenario / "manifest.json").read_text(encoding="utf-8"))
    assert all(manifest["counts"]["hard_cases"][tag] > 0 for tag in hardcases.TAGS), manifest["counts"]["hard_cases"]
    index = jsonl(scenario / "expected/index.jsonl")
    documents = {d["visit_id"]: d for d in jsonl(scenario / "expected/documents.jsonl")
                 if d["document_type"] in ("medical_receipt", "pharmacy_receipt")}
    emr_visits = {v["visit_id"] for v in jsonl(scenario / "emr-seed/visits.jsonl")}
    claim_days = {v: c["claim_date"] for c in jsonl(scenario / "claims.jsonl") for v in c["claim"]["visit_ids"]}
    same_day = defaultdict(list)
    for entry in index:
        if entry["setting"] == "outpatient" and entry["source"] == "emr":
            doc = documents[entry["visit_id"]]
            same_day[(entry["patient_id"], entry["start_date"])].append(doc["diagnosis_codes"][0][:3])
    for entry in index:
        tags, visit_id = set(entry["tags"]), entry["visit_id"]
        doc = documents[visit_id]
        purposes = same_day.get((entry["patient_id"], entry["start_date"]), [])
        if "same_day_same_purpose" in tags:
            assert purposes.count(doc["diagnosis_codes"][0][:3]) >= 2
        if "same_day_different_purpose" in tags:
            assert len(set(purposes)) >= 2
        assert ("abroad" in tags) == (doc["provider"].get("country", "KR") != "KR") == (visit_id not in emr_visits)
        if "older_than_3_years" in tags:
            end = date.fromisoformat(entry["end_date"])
            assert date.fromisoformat(claim_days[visit_id]) > hardcases.add_years(end, 3)
        if "abroad" not in tags:  # a receipt from abroad says 일반 whatever the patient's category at home
            assert ("medical_aid" in tags) == doc["patient_category"].startswith("medical_aid")
        if "outpatient_and_pharmacy_same_day" in tags and entry["setting"] == "pharmacy":
            assert doc["dispensing_date"] == entry["start_date"]


def test_without_hard_cases_only_natural_ones_occur(tmp_path: Path) -> None:
    manifest = json.loads((make(tmp_path / "s", "--hard-cases", "0", patients=120) / "manifest.json").read_text())
    hard = manifest["counts"]["hard_cases"]
    assert hard["abroad"] == 0 and hard["older_than_3_years"] == 0
    assert hard["outpatient_and_pharmacy_same_day"] > 0


# -- the EMR seed and the target provider ------------------------------------------------------------------


def test_emr_seed_csv_and_jsonl_agree_and_add_up(scenario: Path) -> None:
    seed = scenario / "emr-seed"
    for table in ("patients", "providers", "visits", "line_items", "prescriptions", "prescription_items"):
        rows = jsonl(seed / f"{table}.jsonl")
        with (seed / f"{table}.csv").open(encoding="utf-8", newline="") as handle:
            table_rows = list(csv.DictReader(handle))
        assert len(rows) == len(table_rows) > 0, table
        for row, text in zip(rows, table_rows, strict=True):
            assert list(row) == list(text), table
            for key, value in row.items():
                shown = ("" if value is None else "|".join(value) if isinstance(value, list)
                         else str(value).lower() if isinstance(value, bool) else str(value))
                assert text[key] == shown, (table, key)
    receipts = {d["visit_id"]: d for d in jsonl(scenario / "expected/documents.jsonl")
                if d["document_type"] in ("medical_receipt", "pharmacy_receipt")}
    sums: Counter[str] = Counter()
    covered: Counter[str] = Counter()
    for item in jsonl(seed / "line_items.jsonl"):
        sums[item["visit_id"]] += item["total"]
        covered[item["visit_id"]] += item["copay"] + item["insurer"]
    for visit in jsonl(seed / "visits.jsonl"):
        totals = receipts[visit["visit_id"]]["totals"]
        assert (visit["copay_total"], visit["insurer_total"]) == (totals["copay"], totals["insurer"])
        adjustment = visit["copay_total"] + visit["insurer_total"] - covered[visit["visit_id"]]
        assert -10 < adjustment <= 0  # 요양급여비용총액 truncated below 10 won
        assert sums[visit["visit_id"]] + adjustment == totals["total_amount"]


def test_target_provider_holds_every_medical_visit(tmp_path: Path) -> None:
    root = make(tmp_path / "t", "--provider", "99312345", "--provider-type", "31", patients=60)
    visits = jsonl(root / "emr-seed/visits.jsonl")
    assert {v["provider_code"] for v in visits if v["setting"] != "pharmacy"} == {"99312345"}
    assert json.loads((root / "manifest.json").read_text())["target_provider"] == "99312345"
    pharmacy = make(tmp_path / "p", "--provider", "99812345", "--provider-type", "81", patients=60)
    visits = jsonl(pharmacy / "emr-seed/visits.jsonl")
    assert {v["provider_code"] for v in visits if v["setting"] == "pharmacy"} == {"99812345"}


def claim_date(root: Path) -> date:
    return date.fromisoformat(json.loads((root / "manifest.json").read_text())["claim_date"])


def test_provider_type_follows_the_code_and_documents_pass_every_rule(tmp_path: Path) -> None:
    """A pharmacy's code (third digit 8) makes a pharmacy without --provider-type; the validator agrees."""
    root = make(tmp_path / "p", "--provider", "99812345", "--hard-cases", "0.5", patients=80)
    assert json.loads((root / "manifest.json").read_text())["options"]["provider_type"] == "81"
    documents = jsonl(root / "expected/documents.jsonl")
    patient_of = {v["visit_id"]: v["patient_id"] for v in jsonl(root / "expected/index.jsonl")}
    by_patient: dict[str, list[dict]] = {}
    for doc in documents:
        by_patient.setdefault(patient_of[doc["visit_id"]], []).append(doc)
    findings = [f for docs in by_patient.values() for f in validate_documents(docs, claim_date(root))]
    assert findings == []


# -- the command line --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("--patients", "0"), ("--patients", "-5"), ("--patients", "ten"), ("--workers", "0"),
    ("--provider-type", "99"), ("--provider-type", "93"), ("--provider", "1234"),
    ("--provider", "99310001", "--provider-type", "81"), ("--provider", "99610001"),
    ("--from", "2026-05-01", "--to", "2026-01-01"), ("--from", "2026-02-30"), ("--hard-cases", "1.5"),
    ("--bogus",),
])
def test_bad_options_give_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run("--out", str(tmp_path / "x"), *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("오류: ") and " / error: " in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_out_must_be_new_or_forced(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run("--patients", "3", "--out", str(out))
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "keep.txt").exists()
    assert run("--patients", "3", "--out", str(out), "--force", "--quiet").exit_code == 0
    assert not (out / "keep.txt").exists() and (out / "manifest.json").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("--patients", "3", "--out", str(blocker / "sub"))
    assert result.exit_code == 2 and "cannot write" in result.output


@pytest.mark.parametrize("failure, code", [(KeyboardInterrupt, 130), (OSError, 1)])
def test_a_failed_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: type, code: int
                                     ) -> None:
    original = Generator.chunk
    calls = []

    def failing(self: Generator, start: int, stop: int) -> Any:
        calls.append(start)
        if len(calls) > 1:
            raise failure("disk full")
        return original(self, start, stop)

    monkeypatch.setattr(Generator, "chunk", failing)
    result = run("--patients", "200", "--out", str(tmp_path / "half"), "--quiet")
    assert result.exit_code == code, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_fixed_copays_are_spread_exactly() -> None:
    from s24kit.simulator.documents import Billed, statement_lines

    items = [Billed("ENAMT", "AA154", "초진", 19180, "2026-10-05"), Billed("EXAMT", "B1010", "CBC", 4450, "2026-10-05"),
             Billed("PTR", "NC001", "도수", 100000, "2026-10-05", covered=False, code_kind="provider")]
    lines = statement_lines(items, 0.3, fixed_copay=1500)
    assert sum(line["copay"] for line in lines) == 1500
    assert all(line["copay"] + line["insurer"] + line["non_covered"] == line["total"] for line in lines)
    assert lines[2]["copay"] == 0 and lines[2]["non_covered"] == 100000
