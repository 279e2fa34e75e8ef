"""``s24kit catalogue``: list the requirements of the suite, or refresh the committed lock file."""

from __future__ import annotations

import json

import click

from ..catalogue import FAMILIES, SUITE_VERSION, Requirement, lock_path, lock_text, locked, requirements
from .usage import OneLineCommand, OneLineError


@click.command("catalogue", cls=OneLineCommand)
@click.option("--lang", type=click.Choice(["ko", "en"]), default="ko", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--family", type=click.Choice(FAMILIES, case_sensitive=False), help="Only this family.")
@click.option("--lock", "write_lock", is_flag=True,
              help="Add new ids to catalogue.lock; refuses to drop an id or change its meaning.")
def catalogue(lang: str, fmt: str, family: str | None, write_lock: bool) -> None:
    """요구사항 목록 / the requirement catalogue (suite kit-v1)."""
    reqs = [r for r in requirements().values() if family is None or r.family == family]
    if write_lock:
        _write_lock()
        return
    if fmt == "json":
        click.echo(json.dumps({"suite_version": SUITE_VERSION, "requirements": [r.as_dict() for r in reqs]},
                              ensure_ascii=False, indent=2))
        return
    from rich.console import Console  # here: `s24kit catalogue --help` does without rich
    from rich.table import Table

    table = Table(title=f"{'요구사항' if lang == 'ko' else 'Requirements'} ({SUITE_VERSION}, {len(reqs)})")
    for column in ("ID", "수준" if lang == "ko" else "Level", "제목" if lang == "ko" else "Title"):
        table.add_column(column, overflow="fold")
    for r in reqs:
        table.add_row(r.id, _level(r, lang), r.title(lang))
    Console().print(table)


def _level(req: Requirement, lang: str) -> str:
    if req.withdrawn:
        return f"철회 → {req.superseded_by}" if lang == "ko" else f"withdrawn → {req.superseded_by}"
    return req.level


def _write_lock() -> None:
    current = {rid: req.fingerprint() for rid, req in requirements().items()}
    old = locked()
    gone = sorted(set(old) - set(current))
    changed = sorted(rid for rid in set(old) & set(current) if old[rid] != current[rid])
    if gone or changed:
        ids = ", ".join(gone + changed)
        raise OneLineError(f"잠긴 ID를 지우거나 의미를 바꿀 수 없습니다: {ids} (새 ID를 쓰십시오)",
                           f"locked ids cannot be removed or change meaning: {ids} "
                           "(use a new id)")
    path = lock_path()
    try:
        path.write_text(lock_text(), encoding="utf-8")
    except OSError as exc:
        raise OneLineError(f"{path}을(를) 쓸 수 없습니다 ({exc.strerror}): "
                           "키트를 고칠 수 있는 체크아웃에서 실행하십시오",
                           f"cannot write {path} ({exc.strerror}): run it in a checkout of the kit you may edit"
                           ) from None
    click.echo(f"{path}: {len(current)} ids ({len(set(current) - set(old))} new)")
