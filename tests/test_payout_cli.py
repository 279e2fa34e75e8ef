"""``s24kit payout explain``: the table ends in the total, JSON is a valid payout, bad input exits 2 in both
languages without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from s24kit.conformance.cli.payout import payout
from s24kit.schemas.loader import is_valid
from s24kit.simulator.payout.claims import ClaimFactory

from .conftest import ROOT

EXAMPLES = ROOT / "fixtures" / "rules" / "examples"
POLICY = str(EXAMPLES / "policy-gen4.json")
CLAIM = str(EXAMPLES / "claim-w5.json")


def invoke(*args: str):
    result = CliRunner().invoke(payout, ["explain", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_table_ends_in_the_total() -> None:
    result = invoke(CLAIM, "--policy", POLICY, "--history", str(EXAMPLES / "history-empty.json"))
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "지급액 합계: 135,000원"
    assert "보험금 산정 내역" in result.output and "최저 공제" in result.output


def test_english_table() -> None:
    result = invoke(str(EXAMPLES / "claim-w10-submission.json"), "--policy", POLICY, "--lang", "en")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "Total payout: 500 won"


def test_json_is_a_valid_payout_with_the_history_after() -> None:
    result = invoke(CLAIM, "--policy", POLICY, "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert is_valid("payout", out["payout"]) and out["payout"]["total"] == 135_000
    assert out["history"]["format"] == "s24kit-payout-history/1"


def test_history_carries_over(tmp_path: Path) -> None:
    first = json.loads(invoke(CLAIM, "--policy", POLICY, "--format", "json").output)
    history = tmp_path / "history.json"
    history.write_text(json.dumps(first["history"]), encoding="utf-8")
    again = invoke(CLAIM, "--policy", POLICY, "--history", str(history), "--format", "json")
    assert json.loads(again.output)["payout"]["total"] == 0  # the same receipt is paid once


def test_bundle_and_claim_date_default(tmp_path: Path) -> None:
    docs = ClaimFactory().outpatient("2026-04-06", covered=15_000)
    bundle = {"profile": "kit-v1", "request_id": "req-20260406-0001", "provider_code": "99300001", "documents": docs}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    result = invoke(str(path), "--policy", POLICY)
    assert result.exit_code == 0, result.output
    assert "2026-04-06로 가정" in result.output and result.output.strip().endswith("5,000원")


def _one_error(result) -> None:
    assert result.exit_code == 2
    first = result.output.strip().splitlines()[0]
    assert first.startswith("오류: ") and " / error: " in first


@pytest.mark.parametrize("args", [
    ["missing.json", "--policy", POLICY],
    [CLAIM, "--policy", "missing-policy.json"],
    [CLAIM],
])
def test_missing_files_and_policy(args: list[str]) -> None:
    _one_error(invoke(*args))


def test_invalid_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{\"documents\": [", encoding="utf-8")
    result = invoke(str(bad), "--policy", POLICY)
    _one_error(result)
    assert "JSON" in result.output


def test_invalid_documents_show_the_validator_findings(tmp_path: Path) -> None:
    claim = json.loads(Path(CLAIM).read_text(encoding="utf-8"))
    claim["documents"][0]["totals"]["copay"] += 1
    del claim["documents"][1]["issue_date"]
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(claim, ensure_ascii=False), encoding="utf-8")
    result = invoke(str(path), "--policy", POLICY)
    _one_error(result)
    assert "S24-DOC-001" in result.output and "/documents/0/totals/copay" in result.output
    assert "issue_date" in result.output


@pytest.mark.parametrize(("change", "field"), [
    ({"generation": "gen9"}, "generation"),
    ({"contract_date": "2030-01-01", "generation": "gen4"}, "contract_date"),
    ({"riders": ["dental"]}, "riders"),
    ({"contract_date": "yesterday"}, "contract_date"),
])
def test_bad_policy_names_the_field(tmp_path: Path, change: dict, field: str) -> None:
    policy = json.loads(Path(POLICY).read_text(encoding="utf-8")) | change
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy), encoding="utf-8")
    result = invoke(CLAIM, "--policy", str(path))
    _one_error(result)
    assert f"policy.{field}" in result.output


def test_bad_history_and_claim_date(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"format": "other"}), encoding="utf-8")
    _one_error(invoke(CLAIM, "--policy", POLICY, "--history", str(path)))
    result = invoke(CLAIM, "--policy", POLICY, "--claim-date", "2026-13-01")
    _one_error(result)
    assert "claim_date" in result.output
    _one_error(invoke(CLAIM, "--policy", POLICY, "--claim-date", "2026-10-01"))  # before the treatment


def test_no_documents(tmp_path: Path) -> None:
    path = tmp_path / "claim.json"
    path.write_text(json.dumps({"claim_date": "2026-10-20", "documents": []}), encoding="utf-8")
    _one_error(invoke(str(path), "--policy", POLICY))
    path.write_text(json.dumps({"claim_date": "2026-10-20"}), encoding="utf-8")
    _one_error(invoke(str(path), "--policy", POLICY))


def test_review_gate_flag_from_option_or_claim(tmp_path: Path) -> None:
    from s24kit.simulator.payout import adjudicate

    policy = json.loads(Path(POLICY).read_text(encoding="utf-8"))
    f = ClaimFactory()
    history = None
    for i in range(10):
        docs = f.outpatient(f"2026-04-{i + 1:02d}", big_three=[("manual_therapy", 100_000)])
        history = adjudicate(docs, policy, history, claim_date="2026-04-30").history
    history_path = tmp_path / "history.json"
    history_path.write_text(json.dumps(history.to_json()), encoding="utf-8")
    claim = {"claim_date": "2026-04-30", "accident_type": "disease",
             "documents": f.outpatient("2026-04-20", big_three=[("manual_therapy", 100_000)])}
    claim_path = tmp_path / "claim.json"
    claim_path.write_text(json.dumps(claim, ensure_ascii=False), encoding="utf-8")

    def total(*extra: str) -> int:
        result = invoke(str(claim_path), "--policy", POLICY, "--history", str(history_path), "--format", "json",
                        *extra)
        return json.loads(result.output)["payout"]["total"]

    assert total() == 0
    assert total("--improvement-documented") == 70_000
    claim_path.write_text(json.dumps({**claim, "improvement_documented": True}, ensure_ascii=False), encoding="utf-8")
    assert total() == 70_000


def test_claim_for_another_policy() -> None:
    result = invoke(str(EXAMPLES / "claim-w10-submission.json"), "--policy", str(EXAMPLES / "policy-gen3.json"))
    _one_error(result)
    assert "CLAIM.policy_number" in result.output


# -- duplicate cover: --other-policy shares the claim (docs/domain.md §4; amounts worked by hand) -------------

GEN4 = {"format": "s24kit-policy/1", "policy_number": "A-4", "insurer_code": "INSA", "contract_date": "2022-03-01",
        "generation": "gen4"}
GEN3_SELECTIVE = {"format": "s24kit-policy/1", "policy_number": "B-3", "insurer_code": "INSB",
                  "contract_date": "2018-03-01", "generation": "gen3", "variant": "selective"}
GEN2_EARLY = {"format": "s24kit-policy/1", "policy_number": "C-2", "insurer_code": "INSC",
              "contract_date": "2011-03-01", "generation": "gen2", "table": "gen2-early"}


def _files(tmp_path: Path, covered: int, *policies: dict) -> list[str]:
    claim = tmp_path / "claim.json"
    claim.write_text(json.dumps({"claim_date": "2026-04-10", "accident_type": "disease",
                                 "documents": ClaimFactory().outpatient("2026-04-06", covered=covered)}))
    paths = [str(claim)]
    for policy in policies:
        path = tmp_path / f"{policy['policy_number']}.json"
        path.write_text(json.dumps(policy))
        paths.append(str(path))
    return paths


def test_two_insurers_of_different_generations_share(tmp_path) -> None:
    # 의원, covered 100,000: 4세대 owes 80,000 (max(20%, 1만) = 20,000 off), 2세대 early 90,000 (1만 off).
    # Limit 100,000 − 10,000 = 90,000 < 170,000: 80,000 × 90,000 / 170,000 = 42,352.94 → 42,353; 47,647.
    claim, own, other = _files(tmp_path, 100_000, GEN4, GEN2_EARLY)
    shown = invoke(claim, "--policy", own, "--other-policy", other, "--format", "json")
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["shared"] == {"INSA": 42_353, "INSC": 47_647}
    assert body["payout"]["total"] == 42_353 and is_valid("payout", body["payout"])
    assert any(line["code"] == "shared.apportionment" and line["amount"] == 42_353 - 80_000
               for line in body["payout"]["lines"])
    table = invoke(claim, "--policy", other, "--other-policy", own, "--lang", "en")
    assert "Duplicate cover, shared" in table.output and "42,353" in table.output
    assert table.output.strip().splitlines()[-1] == "Duplicate cover shared: INSC 47,647 won, INSA 42,353 won " \
                                                    "(together 90,000 won)"


def test_three_insurers_of_three_generations_share(tmp_path) -> None:
    # 의원, covered 80,000: 4세대 64,000; 3세대 선택형 max(1만, 10%) → 70,000; 2세대 early 70,000. Sum 204,000 >
    # 70,000: 21,960.78 / 24,019.61 / 24,019.61 → 21,960 + 24,019 + 24,019, the 2 won left to INSA and INSB.
    claim, a, b, c = _files(tmp_path, 80_000, GEN4, GEN3_SELECTIVE, GEN2_EARLY)
    shown = invoke(claim, "--policy", b, "--other-policy", a, "--other-policy", c, "--format", "json")
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["shared"] == {"INSB": 24_020, "INSA": 21_961, "INSC": 24_019}
    assert body["payout"]["total"] == 24_020


def test_a_second_policy_of_the_same_insurer_is_refused(tmp_path) -> None:
    claim, own = _files(tmp_path, 50_000, GEN4)
    refused = invoke(claim, "--policy", own, "--other-policy", own)
    assert refused.exit_code == 2 and "--other-policy" in refused.output and "INSA" in refused.output
