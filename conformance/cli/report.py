"""``s24kit report``: verify an evidence bundle, or render a JSON report as HTML or JUnit XML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .params import InputFile, Loaded, OutputFile
from .report_body import body
from .usage import OneLineError, OneLineGroup, wide_console

if TYPE_CHECKING:
    from ..reports.bundle import BundleCheck

LANGS = click.Choice(["ko", "en"])


@click.group("report", cls=OneLineGroup)
def report() -> None:
    """보고서 검증과 변환 / verify evidence bundles, render reports, rebuild a reproduction's request body."""


report.add_command(body)


@report.command("verify")
@click.argument("bundle", type=InputFile("binary"))
@click.option("--lang", type=LANGS, default="ko", show_default=True, help="Language of the table.")
def verify(bundle: Path, lang: str) -> None:
    """증거 묶음의 파일과 목록(SHA-256)을 검증합니다 / check an evidence bundle against its manifest.

    Exit 0: intact; 1: a file altered, added or missing, or the manifest edited; 2: not a bundle.
    """
    from ..reports import check_bundle  # here, not at the top: `--help` loads no report machinery

    check = check_bundle(bundle)
    if check.exit_code == 2:
        first = next(p for p in check.problems if p.kind == "unusable")
        raise OneLineError(first.message_ko, first.message_en)
    _print_check(check, lang)
    sys.exit(check.exit_code)


def _print_check(check: BundleCheck, lang: str) -> None:
    from rich.table import Table

    console = wide_console()
    ko = lang == "ko"
    m = check.manifest or {}
    console.print(f"{'증거 묶음' if ko else 'Evidence bundle'} {check.path}: silson24-kit {m.get('kit_version')}, "
                  f"{m.get('profile')} ({m.get('suite_version')}), {m.get('rule_pack_digest')}, "
                  f"{m.get('created_at')}", highlight=False, soft_wrap=True)
    table = Table(title="묶음 파일" if ko else "Files")
    for ko_name, en_name in (("파일", "file"), ("크기", "size"), ("SHA-256", "SHA-256"), ("상태", "status")):
        table.add_column(ko_name if ko else en_name, overflow="fold")
    words = {"ok": ("[green]정상[/]", "[green]ok[/]"), "altered": ("[red]변경됨[/]", "[red]altered[/]"),
             "missing": ("[red]빠짐[/]", "[red]missing[/]"), "added": ("[red]추가됨[/]", "[red]added[/]")}
    for f in check.files:
        table.add_row(f.name, "" if f.size is None else str(f.size), (f.sha256 or "")[:16],
                      words[f.status][0 if ko else 1])
    console.print(table)
    for problem in check.problems:
        console.print(f"[bold red]{'문제' if ko else 'problem'}[/] {problem.message(lang)}", highlight=False,
                      soft_wrap=True)
    ok = sum(f.status == "ok" for f in check.files)
    if check.problems:
        click.echo(f"묶음 검증 실패: 문제 {len(check.problems)}건 / bundle NOT intact: "
                   f"{len(check.problems)} problem(s)")
    else:
        click.echo(f"묶음 검증 통과: 파일 {ok}개와 목록이 일치 / bundle intact: {ok} files match the manifest")


@report.command("render")
@click.argument("source", metavar="REPORT.json", type=InputFile("json"))
@click.option("--format", "fmt", type=click.Choice(["html", "junit"]), default="html", show_default=True)
@click.option("--lang", type=LANGS, default="ko", show_default=True, help="Language of titles and labels.")
@click.option("--out", type=OutputFile(), required=True, help="File to write.")
def render(source: Loaded, fmt: str, lang: str, out: Path) -> None:
    """JSON 보고서를 HTML 또는 JUnit XML로 변환 / render a JSON report as HTML or JUnit XML."""
    from ..reports import write_html, write_junit

    data = _kit_report(source)
    try:
        written = (write_html if fmt == "html" else write_junit)(data, out, lang=lang)
    except OSError as exc:
        raise OneLineError(f"{out}: 쓸 수 없습니다 ({exc.strerror})", f"{out}: cannot write ({exc.strerror})") from None
    click.echo(str(written))


def _kit_report(source: Loaded) -> dict[str, Any]:
    """The report, or one line saying which file and field is wrong."""
    from ..reports import report_problems

    problems = report_problems(source.value, "en")
    if problems:
        more = f" (+{len(problems) - 1})" if len(problems) > 1 else ""
        raise OneLineError(f"{source.path}: kit-v1 보고서가 아닙니다 — {report_problems(source.value, 'ko')[0]}{more}",
                           f"{source.path}: not a kit-v1 report — {problems[0]}{more}")
    return source.value
