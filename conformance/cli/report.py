"""``s24kit report``: verify an evidence bundle, or render a JSON report as HTML or JUnit XML."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..reports import check_bundle, report_problems, write_html, write_junit
from ..reports.bundle import BundleCheck
from .report_body import body
from .usage import OneLineCommand, OneLineError

MAX_REPORT_BYTES = 64 << 20
LANGS = click.Choice(["ko", "en"])


class OneLineGroup(click.Group):
    """A group whose own usage errors (unknown subcommand, bad option) are one line too."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _usage(exc) from None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise _usage(exc) from None


def _usage(exc: click.UsageError) -> OneLineError:
    return OneLineError(f"명령행이 잘못되었습니다: {exc.format_message()} (도움말: s24kit report --help)",
                        f"{exc.format_message()} (see s24kit report --help)")


@click.group("report", cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
def report() -> None:
    """보고서 검증과 변환 / verify evidence bundles, render reports, rebuild a reproduction's request body."""


report.add_command(body)


@report.command("verify", cls=OneLineCommand)
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--lang", type=LANGS, default="ko", show_default=True, help="Language of the table.")
def verify(bundle: Path, lang: str) -> None:
    """증거 묶음의 파일과 목록(SHA-256)을 검증합니다 / check an evidence bundle against its manifest.

    Exit 0: intact; 1: a file altered, added or missing, or the manifest edited; 2: not a bundle.
    """
    check = check_bundle(bundle)
    if check.exit_code == 2:
        first = next(p for p in check.problems if p.kind == "unusable")
        raise OneLineError(first.message_ko, first.message_en)
    _print_check(check, lang)
    sys.exit(check.exit_code)


def _print_check(check: BundleCheck, lang: str) -> None:
    console = Console() if Console().is_terminal else Console(width=200)
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


@report.command("render", cls=OneLineCommand)
@click.argument("report_path", metavar="REPORT.json", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["html", "junit"]), default="html", show_default=True)
@click.option("--lang", type=LANGS, default="ko", show_default=True, help="Language of titles and labels.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="File to write.")
def render(report_path: Path, fmt: str, lang: str, out: Path) -> None:
    """JSON 보고서를 HTML 또는 JUnit XML로 변환 / render a JSON report as HTML or JUnit XML."""
    data = _load_report(report_path)
    try:
        written = (write_html if fmt == "html" else write_junit)(data, out, lang=lang)
    except OSError as exc:
        raise OneLineError(f"{out}: 쓸 수 없습니다 ({exc.strerror})", f"{out}: cannot write ({exc.strerror})") from None
    click.echo(str(written))


def _load_report(path: Path) -> dict[str, Any]:
    """A report from disk, or one line saying which file and field is wrong."""
    try:
        size = path.stat().st_size
        if size > MAX_REPORT_BYTES:
            raise OneLineError(f"{path}: 보고서가 너무 큽니다 ({size}바이트)",
                               f"{path}: report too large ({size} bytes)")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise OneLineError(f"{path}: 파일이 없습니다", f"{path}: no such file") from None
    except IsADirectoryError:
        raise OneLineError(f"{path}: 디렉터리입니다. JSON 보고서 파일을 주십시오",
                           f"{path}: is a directory; give a JSON report file") from None
    except UnicodeDecodeError as exc:
        raise OneLineError(f"{path}: UTF-8이 아닙니다 (바이트 {exc.start})",
                           f"{path}: not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise OneLineError(f"{path}: 읽을 수 없습니다 ({exc.strerror})",
                           f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OneLineError(f"{path}: JSON이 아닙니다 ({exc.lineno}행 {exc.colno}열: {exc.msg})",
                           f"{path}: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    problems = report_problems(data, "en")
    if problems:
        more = f" (+{len(problems) - 1})" if len(problems) > 1 else ""
        raise OneLineError(f"{path}: kit-v1 보고서가 아닙니다 — {report_problems(data, 'ko')[0]}{more}",
                           f"{path}: not a kit-v1 report — {problems[0]}{more}")
    return data
