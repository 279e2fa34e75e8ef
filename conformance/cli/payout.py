"""``s24kit payout``: adjudicate a claim with the fake insurers' payout engine and explain every won.

Wire it into the main command with ``main.add_command(payout)``. Exit codes: 0 adjudicated (whatever the
amount), 2 unusable input (missing file, invalid JSON, documents that break the kit-v1 contract, unknown
generation …): one line in Korean and English naming the field and the fix, never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from .params import InputFile, Loaded
from .usage import OneLineError, OneLineGroup

EXIT_OK, EXIT_USAGE = 0, 2
EXAMPLES = "fixtures/rules/examples"


def _fail(ko: str, en: str) -> NoReturn:
    raise OneLineError(ko, en)


def _claim_parts(claim: Any) -> tuple[list[Any], dict[str, Any]]:
    """Documents and envelope of the three accepted claim forms (or a bare list of documents)."""
    if isinstance(claim, list):
        return claim, {}
    if isinstance(claim, dict) and isinstance(claim.get("documents"), list):
        return claim["documents"], {k: v for k, v in claim.items() if k != "documents"}
    _fail("CLAIM: documents 목록이 없습니다 — 보험사 청구(insurer-claim), 서류 묶음(bundle) 또는 "
          f"{{\"claim_date\", \"accident_type\", \"documents\"}} 형식을 쓰십시오 (예: {EXAMPLES}/claim-w5.json)",
          "CLAIM: no 'documents' list — use an insurer claim submission, a bundle, or "
          f"{{\"claim_date\", \"accident_type\", \"documents\"}} (e.g. {EXAMPLES}/claim-w5.json)")


def _default_claim_date(documents: list[dict[str, Any]]) -> str:
    """No claim date given: the latest issue date of the documents (the day the claim could first be made)."""
    return max(str(d.get("issue_date", "")) for d in documents if isinstance(d, dict))


@click.group("payout", cls=OneLineGroup)
def payout() -> None:
    """보험금 산정 (가상 보험사 지급 엔진) / payout engine of the fake insurers (docs/domain.md §4)."""


@payout.command("explain")
@click.argument("claim", type=InputFile("json"))
@click.option("--policy", "policy_file", type=InputFile("json"), default=None,
              help=f"Policy JSON (format s24kit-policy/1, e.g. {EXAMPLES}/policy-gen4.json); "
                   "default: the claim's 'policy' field.")
@click.option("--history", "history_file", type=InputFile("json"), default=None,
              help="History JSON (format s24kit-payout-history/1) of the insured before this claim; default: empty.")
@click.option("--claim-date", default=None, help="Date the claim was made (YYYY-MM-DD); default: the claim's "
                                                 "claim_date, else the latest issue date of its documents.")
@click.option("--lang", type=click.Choice(["ko", "en"]), default="ko", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--improvement-documented", is_flag=True, default=None,
              help="The claim documents improvement after 10 manual-therapy acts (review gate).")
def explain_command(claim: Loaded, policy_file: Loaded | None, history_file: Loaded | None, claim_date: str | None,
                    lang: str, fmt: str, improvement_documented: bool | None) -> None:
    """청구 서류를 심사해 지급액과 산정 근거를 보여 줍니다. / Adjudicate a claim and explain the payout.

    CLAIM: insurer claim submission, bundle, or {"claim_date", "accident_type", "documents"} JSON.
    """
    # here, not at the top: `s24kit payout explain --help` loads neither validators nor the engine
    from ...schemas.validation import validate
    from ...simulator.payout import PayoutInputError, adjudicate, render

    raw = claim.value
    documents, envelope = _claim_parts(raw)
    if not documents:
        _fail("CLAIM: documents가 비어 있습니다 — 심사할 서류를 넣으십시오",
              "CLAIM: 'documents' is empty — add the documents to adjudicate")
    is_bundle = isinstance(raw, dict) and "profile" in raw
    findings = [f for f in validate(raw if is_bundle else documents) if f.severity == "error"]
    if findings:
        shown = "; ".join(f"{f.rule} {f.pointer}" for f in findings[:5]) + (
            f"; +{len(findings) - 5}" if len(findings) > 5 else "")
        _fail(f"CLAIM {claim.path}: 서류가 kit-v1 계약에 맞지 않습니다 (오류 {len(findings)}건: {shown}) — 고치십시오 "
              f"(자세히: s24kit validate {claim.path})",
              f"CLAIM {claim.path}: the documents break the kit-v1 contract ({len(findings)} errors: {shown}) — "
              f"fix them (details: s24kit validate {claim.path})")
    if policy_file is not None:
        policy = policy_file.value
    elif "policy" in envelope:
        policy = envelope["policy"]
    else:
        _fail(f"--policy: 계약이 없습니다 — --policy 파일을 주십시오 (예: {EXAMPLES}/policy-gen4.json)",
              f"--policy: no policy given — pass --policy FILE (e.g. {EXAMPLES}/policy-gen4.json)")
    if isinstance(policy, dict):
        for field in ("policy_number", "insurer_code"):
            if field in envelope and field in policy and envelope[field] != policy[field]:
                _fail(f"CLAIM.{field}: 청구의 {envelope[field]!r}이(가) 계약의 {policy[field]!r}와 다릅니다 — "
                      "이 청구의 계약 파일을 주십시오",
                      f"CLAIM.{field}: the claim's {envelope[field]!r} differs from the policy's {policy[field]!r} — "
                      "give this claim's policy")
    history = history_file.value if history_file else envelope.get("history")
    notes = []
    day = claim_date or envelope.get("claim_date")
    if day is None:
        day = _default_claim_date(documents)
        notes.append((f"청구일이 없어 서류 발행일 중 가장 늦은 날 {day}로 가정했습니다 (--claim-date로 정하십시오)",
                      f"no claim date given: assumed {day}, the latest issue date of the documents (set --claim-date)"))
    improvement = improvement_documented if improvement_documented is not None else \
        bool(envelope.get("improvement_documented", False))
    try:
        result = adjudicate(documents, policy, history, claim_date=day,
                            accident_type=envelope.get("accident_type", "disease"),
                            improvement_documented=improvement)
    except PayoutInputError as exc:
        _fail(exc.message("ko"), exc.message("en"))
    except Exception as exc:  # never a traceback: report the unexpected in one line
        _fail(f"예상하지 못한 오류 {type(exc).__name__}: {exc} — 입력을 확인하고, 계속되면 키트 버그로 보고하십시오",
              f"unexpected {type(exc).__name__}: {exc} — check the input; if it persists, report a kit bug")
    if fmt == "json":
        click.echo(json.dumps({"payout": result.as_payout(), "history": result.history.to_json()},
                              ensure_ascii=False, indent=2))
    else:
        for ko, en in notes:
            click.echo(ko if lang == "ko" else en)
        click.echo(render(result, lang), nl=False)
    sys.exit(EXIT_OK)
