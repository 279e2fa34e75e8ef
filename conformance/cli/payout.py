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
@click.option("--other-policy", "other_files", type=InputFile("json"), multiple=True,
              help="Another indemnity policy of the insured (중복가입), as the contract register would list it "
                   "(repeatable; same format as --policy, first claim of its year): the claim is shared "
                   "(비례보상, docs/domain.md §4) and the share shown.")
def explain_command(claim: Loaded, policy_file: Loaded | None, history_file: Loaded | None, claim_date: str | None,
                    lang: str, fmt: str, improvement_documented: bool | None, other_files: tuple[Loaded, ...]) -> None:
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
    others = [(f"--other-policy {other.path}", other.value) for other in other_files]
    try:
        kwargs = {"claim_date": day, "accident_type": envelope.get("accident_type", "disease"),
                  "improvement_documented": improvement}
        result = adjudicate(documents, policy, history, **kwargs)
        shares = _shared(result, policy, others, documents, kwargs) if others else {}
    except PayoutInputError as exc:
        _fail(exc.message("ko"), exc.message("en"))
    except Exception as exc:  # never a traceback: report the unexpected in one line
        _fail(f"예상하지 못한 오류 {type(exc).__name__}: {exc} — 입력을 확인하고, 계속되면 키트 버그로 보고하십시오",
              f"unexpected {type(exc).__name__}: {exc} — check the input; if it persists, report a kit bug")
    if fmt == "json":
        shown = {"payout": result.as_payout(), "history": result.history.to_json()}
        if shares:
            shown["shared"] = shares
        click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        for ko, en in notes:
            click.echo(ko if lang == "ko" else en)
        click.echo(render(result, lang), nl=False)
        if shares:
            unit = "원" if lang == "ko" else " won"
            parts = ", ".join(f"{key} {amount:,}{unit}" for key, amount in shares.items())
            click.echo(f"중복가입 비례보상: {parts} (합계 {sum(shares.values()):,}원)" if lang == "ko" else
                       f"Duplicate cover shared: {parts} (together {sum(shares.values()):,} won)")
    sys.exit(EXIT_OK)


def _shared(result: Any, policy: dict[str, Any], others: list[tuple[str, Any]], documents: list[Any],
            kwargs: dict[str, Any]) -> dict[str, int]:
    """Share ``result`` with the other policies (each alone first, then 비례보상); what each policy pays, by key.

    Keys are the policies' insurer codes (as the stack's insurers share), else their policy numbers; ``result``
    gets the share line of the explanation."""
    from ...simulator.payout import PayoutInputError, adjudicate
    from ...simulator.payout.shared import share

    def key(of: Any, where: str) -> str:
        if not isinstance(of, dict) or not isinstance(of.get("policy_number"), str):
            raise PayoutInputError(where, "계약에 policy_number가 없습니다", "the policy has no policy_number",
                                   "계약 파일 형식 s24kit-policy/1을 쓰십시오",
                                   "use a policy file of format s24kit-policy/1")
        return str(of.get("insurer_code") or of["policy_number"])

    adjudications = {key(policy, "--policy"): result}
    for where, other in others:
        name = key(other, where)
        if name in adjudications:
            raise PayoutInputError(where, f"{name}의 계약이 두 번 주어졌습니다", f"a second policy keyed {name}",
                                   "보험사마다 계약 하나씩 주십시오", "give one policy per insurer")
        try:
            adjudications[name] = adjudicate(documents, other, None, **kwargs)
        except PayoutInputError as exc:  # name the file the bad policy came from
            raise PayoutInputError(f"{where}: {exc.field}", exc.message_ko, exc.message_en, exc.fix_ko,
                                   exc.fix_en) from None
    return {name: adjudication.total for name, adjudication in share(adjudications).items()}
