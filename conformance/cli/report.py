"""``s24kit report``: verify an evidence bundle, or render a JSON report as HTML or JUnit XML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import files
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


class RawKey(bytes):
    """``--key`` given as the base64 of a raw Ed25519 public key (a record's ``public_key``), not a file."""


class KeyFileOrBase64(InputFile):
    """A key file to read, or — when no such file exists and the value is the base64 of 32 bytes — the raw
    Ed25519 public key itself (:class:`RawKey`). Anything else is the file's error."""

    name = "file|base64"

    def __init__(self) -> None:
        super().__init__("text")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import base64
        import binascii

        if isinstance(value, str) and not Path(value).exists():
            try:
                raw = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) == 32:
                return RawKey(raw)
        return super().convert(value, param, ctx)


@report.command("verify")
@click.argument("bundle", metavar="BUNDLE.zip|RECORD.json", type=InputFile("binary"))
@click.option("--key", "key_file", type=KeyFileOrBase64(), metavar="FILE|BASE64",
              help="Record: the console's public key (PEM, its key file, or the base64 raw key of a record's "
                   "public_key); the record must be signed with it.")
@click.option("--evidence", type=InputFile("binary"),
              help="Record: the evidence.zip the decision must rest on (its SHA-256 is compared).")
@click.option("--lang", type=LANGS, default="ko", show_default=True, help="Language of the table.")
def verify(bundle: Path, key_file: Path | RawKey | None, evidence: Path | None, lang: str) -> None:
    """증거 묶음 또는 서명된 결정 기록을 검증합니다 / check an evidence bundle or a signed decision record.

    An evidence bundle is checked against its manifest (SHA-256 of every file). A decision record of the
    acceptance console is checked against its Ed25519 signature offline; --key pins whose key, --evidence the
    bundle it names.

    Exit 0: intact (record: signature good, and the key and evidence asked for); 1: a file altered, added or
    missing, the manifest edited, a record changed after signing, signed with another key or naming other
    evidence; 2: not a bundle nor a record.
    """
    from ..reports import check_bundle  # here, not at the top: `--help` loads no report machinery

    with bundle.open("rb") as stream:
        is_zip = stream.read(4) == b"PK\x03\x04" or bundle.suffix.lower() == ".zip"
    if not is_zip:
        _verify_record(bundle, key_file, evidence, lang)
        return
    if key_file is not None or evidence is not None:
        raise OneLineError("--key 와 --evidence 는 결정 기록(RECORD.json)에만 씁니다",
                           "--key and --evidence apply to a decision record (RECORD.json) only")
    check = check_bundle(bundle)
    if check.exit_code == 2:
        first = next(p for p in check.problems if p.kind == "unusable")
        raise OneLineError(first.message_ko, first.message_en)
    _print_check(check, lang)
    sys.exit(check.exit_code)


def _verify_record(path: Path, key_file: Path | RawKey | None, evidence: Path | None, lang: str) -> None:
    import base64

    from cryptography.exceptions import UnsupportedAlgorithm

    from ..reports.record import check_record, file_sha256, public_key_from_file

    try:
        value = files.parse_json(files.read_text(path))
    except files.FileProblem as problem:
        raise OneLineError(f"{path}: 증거 묶음(zip)도 결정 기록도 아닙니다 — {problem.message_ko}",
                           f"{path}: neither an evidence bundle (zip) nor a decision record — {problem.message_en}"
                           ) from None
    trusted = None
    if key_file is not None:
        try:
            trusted = public_key_from_file(base64.b64encode(key_file) if isinstance(key_file, RawKey)
                                           else key_file.read_bytes())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            key_file = "(base64)" if isinstance(key_file, RawKey) else key_file
            raise OneLineError(f"--key {key_file}: Ed25519 공개 키(PEM)나 콘솔 키 파일이 아닙니다",
                               f"--key {key_file}: not an Ed25519 public key (PEM) nor the console's key file"
                               ) from None
    check = check_record(value, trusted_key=trusted,
                         evidence_sha256=None if evidence is None else file_sha256(evidence))
    if check.exit_code == 2:
        first = next(p for p in check.problems if p.kind == "unusable")
        raise OneLineError(f"{path}: {first.message_ko}", f"{path}: {first.message_en}")
    ko = lang == "ko"
    record = check.record or {}
    subject = record.get("subject") or {}
    product = subject.get("product") or {}
    what = subject.get("provider_code") or "/".join(str(product.get(k, "")) for k in ("vendor", "name", "version"))
    run = record.get("run") or {}
    click.echo(f"{'결정 기록' if ko else 'Decision record'} {path}: {subject.get('kind')} {what} — "
               f"{record.get('decision')} by {record.get('decided_by')} at {record.get('decided_at')}"
               + (f", run {run.get('id')} ({run.get('verdict')}), evidence {str(run.get('evidence_sha256'))[:16]}…"
                  if run else ""))
    for problem in check.problems:  # Korean / English, as the summary line below
        click.echo(f"문제 / problem: {problem.message_ko} / {problem.message_en}")
    if check.problems:
        click.echo(f"기록 검증 실패 / record NOT verified: {len(check.problems)} problem(s)")
    else:
        key = (record.get("signature") or {}).get("key_id", "")
        pinned = "" if trusted is None else (" (주어진 키 / the given key)")
        click.echo(f"기록 검증 통과: 서명이 맞습니다, 키 {key[:16]}…{pinned} / record verified: the signature holds, "
                   f"key {key[:16]}…{pinned}")
    sys.exit(check.exit_code)


def _print_check(check: BundleCheck, lang: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..reports.html import in_kst

    console = wide_console()
    ko = lang == "ko"
    m = check.manifest or {}
    console.print(f"{'증거 묶음' if ko else 'Evidence bundle'} {check.path}: silson24-kit {m.get('kit_version')}, "
                  f"{m.get('profile')} ({m.get('suite_version')}), {m.get('rule_pack_digest')}, "
                  f"{in_kst(str(m.get('created_at')))}", highlight=False, soft_wrap=True)
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
        console.print(f"[bold red]문제 / problem[/] {escape(problem.message_ko)} / {escape(problem.message_en)}",
                      highlight=False, soft_wrap=True)
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
