"""``s24kit validate``: check kit-v1 documents and bundles against the schemas and the document rules."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ...schemas.profile import PROFILE
from .inputs import DEFAULT_MAX_BYTES, Item, Unusable, read_argument
from .params import InputPaths
from .usage import OneLineCommand, OneLineError, wide_console

if TYPE_CHECKING:
    from ...schemas.validation import Finding

LANGS = click.Choice(["ko", "en"])
FORMATS = click.Choice(["table", "json"])
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


@click.command("validate", cls=OneLineCommand)
@click.argument("paths", nargs=-1, required=True, type=InputPaths())
@click.option("--lang", type=LANGS, default="ko", show_default=True, help="Language of messages.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True,
              help="Refuse files larger than this.")
@click.option("--strict", is_flag=True, help="Treat warnings as findings (exit 1).")
@click.option("--schema", "schema_name", metavar="NAME",
              help="Check other kit-v1 messages against schema NAME (e.g. visit-search, problem, report).")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="The date rules about 'today' compare with (default: today in Korea).")
def validate_command(paths: tuple[Path, ...], lang: str, fmt: str, max_bytes: int, strict: bool,
                     schema_name: str | None, today: datetime | None) -> None:
    """서류 검사 / check kit-v1 documents or bundles (JSON, JSON Lines, or directories of them).

    서류(또는 서류 묶음)를 스키마와 규칙(S24-DOC-nnn)으로 검사합니다. 한 JSON Lines 파일이나 한 폴더의 서류는
    배열처럼 함께 보낸 서류로 보고 서류 사이 규칙도 검사합니다; 시나리오의 expected/ 폴더는 index.jsonl에
    따라 환자별로 나눕니다.

    Documents of one JSON Lines file or one folder are checked together, like an array: the rules between
    documents apply to them. A scenario's expected/ folder is split by patient with its index.jsonl.
    Exit 0: all valid; 1: findings; 2: unusable input.
    """
    # here, not at the top: `s24kit validate --help` must not load the validators (tests/test_cli_startup.py)
    from ...schemas.loader import is_valid, schemas
    from ...schemas.rules import today_in_korea
    from ...schemas.validation import schema_findings, validate, validate_together

    if schema_name is not None and schema_name not in schemas():
        known = ", ".join(schemas())
        raise OneLineError(f"--schema {schema_name!r}: 알 수 없는 스키마입니다 — {known} 중 하나를 쓰십시오",
                           f"--schema {schema_name!r}: unknown schema — use one of {known}")
    day = today.date() if today else today_in_korea()
    results: list[tuple[Item, list[Finding]]] = []
    unusable: list[Unusable] = []
    indexed = 0
    for path in paths:
        read_in = read_argument(path, max_bytes)
        unusable += read_in.unusable
        indexed += read_in.index_entries
        loose: list[Item] = []
        for item in read_in.items:
            if schema_name:
                found = [] if is_valid(schema_name, item.value) else schema_findings(schema_name, item.value)
                results.append((item, found))
            elif (problem := _not_a_document(item)) is not None:
                unusable.append(problem)
            elif _is_single_document(item.value) and read_in.together:
                loose.append(item)
            else:
                results.append((item, validate(item.value, day)))
        for group in read_in.groups(loose):
            results += zip(group, validate_together([item.value for item in group], day), strict=True)

    for u in unusable:  # one line each on stderr, like every command's errors; the reports below list them too
        click.echo(f"오류: {u.where}: {u.message_ko} / error: {u.where}: {u.message_en}", err=True)
    failing = [f for _, found in results for f in found if strict or f.severity == "error"]
    code = EXIT_USAGE if unusable else EXIT_FINDINGS if failing else EXIT_OK
    if fmt == "json":
        _print_json(results, unusable, indexed)
    else:
        _print_table(results, unusable, lang, indexed)
    sys.exit(code)


def _is_single_document(value: object) -> bool:
    from ...schemas.loader import DOCUMENT_SCHEMAS

    return isinstance(value, dict) and value.get("document_type") in DOCUMENT_SCHEMAS


def _not_a_document(item: Item) -> Unusable | None:
    """Inputs that are neither a document, a bundle nor an array of documents are unusable, not findings."""
    from ...schemas.loader import DOCUMENT_SCHEMAS

    value = item.value
    if isinstance(value, list) or (isinstance(value, dict) and isinstance(value.get("documents"), list)):
        return None
    kind = value.get("document_type") if isinstance(value, dict) else None
    if kind in DOCUMENT_SCHEMAS:
        return None
    known = ", ".join(DOCUMENT_SCHEMAS)
    shown = f"document_type {kind!r}" if kind is not None else "no document_type"
    return Unusable(item.path, f"알 수 없는 서류 종류 ({shown}): {known} 중 하나이거나 서류 묶음이어야 합니다. "
                               "다른 kit-v1 메시지는 --schema NAME 으로 검사하십시오",
                    f"unknown document type ({shown}): expected one of {known} or a bundle; check other kit-v1 "
                    "messages with --schema NAME", item.line)


def _print_json(results: list[tuple[Item, list[Finding]]], unusable: list[Unusable], indexed: int) -> None:
    from ...schemas.validation import document_label

    out = {
        "profile": PROFILE,
        "index_entries": indexed,
        "results": [{"file": str(item.path), "line": item.line, "document": document_label(item.value),
                     "valid": not any(f.severity == "error" for f in found),
                     "findings": [f.as_dict() for f in found]} for item, found in results],
        "unusable": [{"file": str(u.path), "line": u.line, "message_ko": u.message_ko, "message_en": u.message_en}
                     for u in unusable],
    }
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))


def _print_table(results: list[tuple[Item, list[Finding]]], unusable: list[Unusable], lang: str,
                 indexed: int) -> None:
    from rich.table import Table

    from ...schemas.validation import document_label

    console = wide_console()
    ko = lang == "ko"
    if results and len(results) <= 50:
        checked = Table(title="검사한 서류" if ko else "Documents checked")
        for header in (("파일", "file"), ("서류", "document"), ("결과", "result")):
            checked.add_column(header[0] if ko else header[1], overflow="fold")
        for item, found in results:
            errors = sum(1 for f in found if f.severity == "error")
            verdict = (f"[red]{'부적합' if ko else 'invalid'} ({errors})[/]" if errors
                       else f"[green]{'적합' if ko else 'valid'}[/]")
            checked.add_row(item.where, document_label(item.value), verdict)
        console.print(checked)
    rows = [(item, f) for item, found in results for f in found]
    if rows:
        table = Table(title="검사 결과" if ko else "Findings", show_lines=False, expand=False)
        headers = (("파일", "file"), ("서류", "document"), ("규칙", "rule"), ("위치", "field"), ("내용", "message"))
        for header in headers:
            table.add_column(header[0] if ko else header[1], overflow="fold")
        for item, f in rows:
            rule = f.rule if f.severity == "error" else f"{f.rule} ({'권고' if ko else 'warning'})"
            table.add_row(item.where, document_label(item.value), rule, f.pointer, f.message(lang))
        console.print(table)
    bad = sum(1 for _, found in results if any(f.severity == "error" for f in found))
    errors = sum(1 for _, f in rows if f.severity == "error")
    warnings = len(rows) - errors
    if ko:
        index = f"; 시나리오 색인(index.jsonl) 항목 {indexed}건으로 환자별 검사" if indexed else ""
        console.print(f"서류 {len(results)}건: 적합 {len(results) - bad}, 부적합 {bad} "
                      f"(오류 {errors}, 권고 {warnings}); "
                      f"사용 불가 입력 {len(unusable)}{index}", highlight=False)
    else:
        index = f"; grouped by patient with {indexed} scenario index entries (index.jsonl)" if indexed else ""
        console.print(f"{len(results)} documents: {len(results) - bad} valid, {bad} with errors ({errors} errors, "
                      f"{warnings} warnings); {len(unusable)} unusable inputs{index}", highlight=False)
