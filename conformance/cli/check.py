"""``s24kit check``: run the conformance suite against a provider and write the reports.

It goes through :class:`~.runner.Suite` exactly like the pytest plugin does (one check at a time, same
contexts, same verdicts). Exit codes: 0 every MUST requirement passed, 1 failures, 2 usage or configuration
error (one line in Korean and English), 3 target unreachable (for an agent: it never polled). A server certificate
that does not verify is no reason for 3 when the TLS handshake itself completes: the TLS checks judge it, the
HTTP checks fail with the verification error, the reports are written (exit 1).

``--role provider_agent``: the suite plays the relay for an outbound-only agent. It listens on ``--listen``
(mutual TLS), prints where the agent must point, waits for its first poll and queues the checks' requests
for it to answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..language import as_json, localised
from .params import DEFAULT_STATE, InputFile, InputFolder, OutputFolder, Seconds
from .usage import OneLineCommand, OneLineError, wide_console

if TYPE_CHECKING:
    from rich.console import Console

    from ..checks import Result
    from ..runner import Suite, SuiteRun
    from ..session import Target

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}
LABEL = {"ko": {"pass": "적합", "fail": "부적합", "warn": "경고", "skip": "건너뜀"},
         "en": {"pass": "pass", "fail": "FAIL", "warn": "warn", "skip": "skip"}}


@click.command("check", cls=OneLineCommand)
@click.option("--target", "url", metavar="URL", help="Provider under test, e.g. https://host:8443 (provider_pull).")
@click.option("--scenario", required=True, metavar="DIR", type=InputFolder(),
              help="Scenario written by s24kit generate (the ground truth).")
@click.option("--select", "select", multiple=True, metavar="PATTERNS",
              help="Requirement ids, families or globs, comma-separated: API, S24-DOC-1*, S24-API-003.")
@click.option("--role", default="provider_pull", show_default=True,
              type=click.Choice(["provider_pull", "provider_agent"]), help="Role of the target.")
@click.option("--provider", "provider_code", metavar="CODE", help="Provider code in the scenario (default: largest).")
@click.option("--lang", default="ko", show_default=True, type=click.Choice(["ko", "en"]), help="Language.")
@click.option("--out", default=Path("s24kit-report"), show_default=True, type=OutputFolder(), metavar="DIR",
              help="Directory for report.json, junit.xml, report.html, evidence.zip and requests/ (the masked "
                   "bodies the reproduction lines send; `s24kit report body` rebuilds one with the patient).")
@click.option("--listen", metavar="HOST:PORT", help="provider_agent: where the suite serves the relay's agent "
              "endpoints [default: 127.0.0.1:18443].")
@click.option("--agent-cert-sha256", "agent_cert_sha256", metavar="HEX",
              help="provider_agent: accept only this agent certificate (SHA-256 of its DER, 64 hex digits).")
@click.option("--agent-wait", default=60.0, show_default=True, type=Seconds(min=0), metavar="SECONDS",
              help="provider_agent: how long to wait for the agent's first poll.")
@click.option("--ca", type=InputFile(), metavar="FILE",
              help="CA of the target's server certificate; for an agent, of its client certificate "
                   "[default: the kit's test CA].")
@click.option("--cert", type=InputFile(), metavar="FILE",
              help="Relay client certificate (PEM); for an agent, the relay's server certificate "
                   "[default: the kit's relay-client / relay-server].")
@click.option("--key", type=InputFile(), metavar="FILE", help="Its private key (PEM).")
@click.option("--timeout", default=5.0, show_default=True, type=Seconds(min=0, min_open=True), metavar="SECONDS",
              help="Answer timeout the target must meet.")
@click.option("--state", default=DEFAULT_STATE, show_default=True, type=OutputFolder(), metavar="DIR",
              help="Kit state directory (its pki/ supplies default certificates).")
@click.option("--profile", default="full", show_default=True, type=click.Choice(["full", "site"]),
              help="full: the whole suite (product certification); site: the short site check of a site running a "
                   "certified product version (TLS, mutual TLS, reachability, health, one fetch; docs/console.md §2).")
@click.option("--product", metavar="VENDOR/NAME/VERSION",
              help="The product version the site is registered with; its health must name it (S24-API-017).")
@click.option("--certified", multiple=True, metavar="VENDOR/NAME/VERSION",
              help="A certified product version (repeatable); the site's must be one of them (S24-API-017).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def check(url: str | None, scenario: Path, select: tuple[str, ...], role: str, provider_code: str | None, lang: str,
          out: Path, listen: str | None, agent_cert_sha256: str | None, agent_wait: float, ca: Path | None,
          cert: Path | None, key: Path | None, timeout: float, state: Path, profile: str, product: str | None,
          certified: tuple[str, ...], quiet: bool) -> None:
    """적합성 시험: 공급자 연계 모듈을 중계기관 입장에서 검사 / run the conformance suite against a provider.

    Exit 0: every MUST requirement passed; 1: failures; 2: usage or configuration error; 3: target unreachable
    (an agent that never polled). With --profile site an unreachable site is a finding (exit 1), not 3.
    """
    # here, not at the top: `s24kit check --help` loads neither the suite nor rich (tests/test_cli_startup.py)
    from rich.markup import escape

    from ..reproduction import REQUESTS
    from ..runner import ConfigError, Suite, TargetUnreachable, make_target, write_reports

    console = wide_console()
    if profile == "site" and (select or role != "provider_pull"):
        raise OneLineError("--profile site: --select, --role provider_agent 와 함께 쓸 수 없습니다 (정해진 요구사항)",
                           "--profile site: not with --select or --role provider_agent (its requirements are fixed)")
    try:
        target = make_target(url, scenario, role=role, provider_code=provider_code, ca=ca, cert=cert, key=key,
                             timeout=timeout, state=state, listen=listen, agent_cert_sha256=agent_cert_sha256,
                             agent_wait=agent_wait, product=product, certified=list(certified) or None)
        if profile == "site":
            _print_banner(console, target, lang)
            _site(console, target, out, lang, quiet)
        suite = Suite(target, select=list(select) or None, lang=lang, requests_dir=out / REQUESTS,
                      announce=lambda text: console.print(text, highlight=False, soft_wrap=True))
        _print_banner(console, target, lang)
        suite.open()
        if suite.rejected is not None:  # a TLS finding, not unreachable: the run goes on and says why first
            message = suite.rejected.message_ko if lang == "ko" else suite.rejected.message_en
            console.print(f"[yellow]![/] {escape(message)}", highlight=False, soft_wrap=True)
    except ConfigError as exc:
        raise OneLineError(exc.message_ko, exc.message_en) from None
    except TargetUnreachable as exc:
        raise OneLineError(exc.message_ko, exc.message_en, exit_code=EXIT_UNREACHABLE) from None
    try:
        results = _run(suite, console, lang, quiet)
        run = suite.finish(results)
    finally:
        suite.close()
    try:
        paths = write_reports(run, out, lang=lang)
    except OSError as exc:
        raise OneLineError(f"--out {out}: 보고서를 쓸 수 없습니다 ({exc.strerror})",
                           f"--out {out}: cannot write the reports ({exc.strerror})") from None
    _print_summary(console, run, paths, lang)
    raise SystemExit(EXIT_FAILED if run.failed_must() else EXIT_OK)


def _print_banner(console: Console, target: Target, lang: str) -> None:
    """Which CA and certificate the suite uses and where they came from; a fresh PKI is a loud warning."""
    from rich.markup import escape

    from ..runner import credentials_banner

    for ko, en in credentials_banner(target):
        line = escape(ko if lang == "ko" else en)
        warning = ko.startswith("경고")
        console.print(f"[bold yellow]{line}[/]" if warning else line, highlight=False, soft_wrap=True)


def _site(console: Console, target: Target, out: Path, lang: str, quiet: bool) -> None:
    """The site profile: run it, print the table and where the reports are, exit 0 or 1."""
    from rich.markup import escape
    from rich.table import Table

    from ..catalogue import requirements
    from ..sitecheck import run_site_check

    def shown(result: Result, index: int, total: int) -> None:
        if result.verdict == "fail" and not quiet:
            console.print(f"[bold red]✗[/] {result.requirement} {escape(localised(result.outcome.reason, lang))}",
                          highlight=False, soft_wrap=True)

    try:
        result = run_site_check(target, out, lang=lang, progress=shown)
    except OSError as exc:
        raise OneLineError(f"--out {out}: 보고서를 쓸 수 없습니다 ({exc.strerror})",
                           f"--out {out}: cannot write the reports ({exc.strerror})") from None
    reqs = requirements()
    table = Table(title=f"{'사이트 점검' if lang == 'ko' else 'Site check'} — {target.url}")
    for header in ("requirement", "verdict", "title"):
        table.add_column(header)
    for finding in result.findings:
        table.add_row(finding.requirement, f"[{STYLE[finding.verdict]}]{LABEL[lang][finding.verdict]}[/]",
                      reqs[finding.requirement].title(lang))
    console.print(table)
    console.print(f"{'판정' if lang == 'ko' else 'verdict'}: {LABEL[lang][result.verdict]} — {result.report_dir} "
                  f"(evidence.zip sha256 {result.evidence_sha256})", highlight=False, soft_wrap=True)
    raise SystemExit(EXIT_FAILED if result.verdict == "fail" else EXIT_OK)


def _run(suite: Suite, console: Console, lang: str, quiet: bool) -> list[Result]:
    """Every planned check in order, with a progress bar; failures are shown as they come."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    results: list[Result] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal) as bar:
        task = bar.add_task("검사 중" if lang == "ko" else "checking", total=len(suite.planned))
        for planned in suite.planned:
            bar.update(task, description=planned.requirement)
            result = suite.run(planned)
            results.append(result)
            if result.verdict == "fail" and not quiet:
                console.print(f"[bold red]✗[/] {result.requirement} {escape(localised(result.outcome.reason, lang))}",
                              highlight=False,
                              soft_wrap=True)
            bar.advance(task)
    return results


def _why(result: Result, lang: str) -> str:
    """The reason of a verdict other than pass, with the first piece of evidence, in ``lang`` only.

    Values are written as JSON; a side the evidence leaves out is a member that was not there ("absent").
    """
    if result.verdict == "pass":
        return ""
    ko = lang == "ko"
    outcome = result.outcome
    lines = [localised(outcome.reason, lang)]
    if outcome.evidence:
        first = outcome.evidence[0].as_json()
        if first.get("message"):
            lines.append(localised(first["message"], lang))
        if "expected" in first or "actual" in first:
            absent = "없음" if ko else "absent"
            expected = as_json(first["expected"]) if "expected" in first else absent
            actual = as_json(first["actual"]) if "actual" in first else absent
            where = f"{first['pointer']}: " if first.get("pointer") else ""
            lines.append(f"{where}{'기대' if ko else 'expected'} {expected} → {'실제' if ko else 'actual'} {actual}")
        lines.append(_more(len(outcome.evidence), outcome.unlisted, ko))
    return "\n".join(line for line in lines if line)


def _more(listed: int, unlisted: int, ko: bool) -> str:
    """Where the evidence not shown is: the rest of the list in the report, and how many the report leaves out."""
    parts = []
    if listed > 1:
        parts.append(f"보고서에 {listed - 1}건 더" if ko else f"+{listed - 1} more in the report")
    if unlisted:
        parts.append(f"나머지 {unlisted}건은 보고서에도 없음 (처음 {listed}건만 기록)" if ko
                     else f"{unlisted} more not listed (the report keeps the first {listed})")
    return f"({'; '.join(parts)})" if parts else ""


def _print_summary(console: Console, run: SuiteRun, paths: dict[str, Path], lang: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..catalogue import requirements

    ko = lang == "ko"
    reqs = requirements()
    table = Table(title=f"{'적합성 시험 결과' if ko else 'Conformance results'} — {run.target.url}")
    for header in (("요구사항", "requirement"), ("수준", "level"), ("판정", "verdict"), ("제목", "title"),
                   ("사유", "reason")):
        table.add_column(header[0] if ko else header[1], overflow="fold")
    for result in run.results:
        req = reqs[result.requirement]
        verdict = f"[{STYLE[result.verdict]}]{LABEL[lang][result.verdict]}[/]"
        table.add_row(req.id, req.level, verdict, req.title(lang), escape(_why(result, lang)))
    console.print(table)
    counts = run.counts()
    must = len(run.failed_must())
    if ko:
        console.print(f"적합 {counts['pass']}, 부적합 {counts['fail']} (필수 {must}), 경고 {counts['warn']}, "
                      f"건너뜀 {counts['skip']} — 판정: {'[red]부적합[/]' if must else '[green]적합[/]'}")
    else:
        console.print(f"{counts['pass']} passed, {counts['fail']} failed ({must} MUST), {counts['warn']} warnings, "
                      f"{counts['skip']} skipped — verdict: {'[red]FAIL[/]' if must else '[green]PASS[/]'}")
    for kind, path in paths.items():
        console.print(f"{'보고서' if ko else 'report'} {kind}: {path}", highlight=False, soft_wrap=True)
