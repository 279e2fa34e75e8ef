"""Batches of site checks: select sites (a filter of the register, or a list of provider codes), queue one job
per site, follow the board, stop and resume (docs/console.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, func, insert, or_, select

from . import audit
from .audit import Actor
from .db import as_utc, now
from .jobs import enqueue, resume_batch, stop_batch
from .register import SiteFilter, _where
from .tables import batches, jobs, runs, sites
from .validation import FieldError, NotFound, check

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64


class BatchError(ValueError):
    """A batch that cannot be made: names the field, in Korean and English."""

    def __init__(self, field: str, message_ko: str, message_en: str) -> None:
        super().__init__(f"{field}: {message_en}")
        self.field, self.message_ko, self.message_en = field, message_ko, message_en


@dataclass(frozen=True)
class Selection:
    """Which sites a batch checks: the register's filter, or exactly the listed provider codes."""

    filter: SiteFilter
    provider_codes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        if self.provider_codes:
            return {"provider_codes": list(self.provider_codes)}
        return self.filter.query_args()


def selected_sites(connection: Connection, selection: Selection) -> list[int]:
    """Ids of the selected pull-mode sites, by provider code; :class:`BatchError` for listed codes not registered."""
    query = select(sites.c.id, sites.c.provider_code).where(sites.c.mode == "pull")
    if selection.provider_codes:
        rows = connection.execute(query.where(sites.c.provider_code.in_(selection.provider_codes))).all()
        missing = sorted(set(selection.provider_codes) - {r.provider_code for r in rows})
        if missing:
            shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
            raise BatchError("provider_codes", f"등록되지 않았거나 pull 방식이 아닌 기관: {shown}",
                             f"not registered or not in pull mode: {shown}")
    else:
        rows = connection.execute(_where(query, selection.filter)).all()
    return [r.id for r in sorted(rows, key=lambda r: r.provider_code)]


def create_batch(connection: Connection, selection: Selection, *, label: str, concurrency: int = DEFAULT_CONCURRENCY,
                 created_by: str | None = None) -> int:
    """The batch and one queued site-check job per selected site (in the caller's transaction)."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise BatchError("concurrency", f"1~{MAX_CONCURRENCY} 사이여야 합니다", f"must be 1 to {MAX_CONCURRENCY}")
    chosen = selected_sites(connection, selection)
    if not chosen:
        raise BatchError("selection", "선택한 조건에 맞는 pull 방식 기관이 없습니다",
                         "no pull-mode site matches the selection")
    batch_id = connection.execute(insert(batches).values(
        label=label[:200] or "batch", selection=selection.as_json(), concurrency=concurrency, state="running",
        total=len(chosen), created_by=created_by, created_at=now())).inserted_primary_key[0]
    for site_id in chosen:
        enqueue(connection, kind="site_check", parameters={}, site_id=site_id, batch_id=batch_id,
                created_by=created_by)
    return int(batch_id)


def board(connection: Connection, batch_id: int) -> dict[str, Any] | None:
    """The batch with its job counts and verdict counts: what the live board shows."""
    batch = connection.execute(select(batches).where(batches.c.id == batch_id)).first()
    if batch is None:
        return None
    states = dict(connection.execute(select(jobs.c.state, func.count()).where(jobs.c.batch_id == batch_id)
                                     .group_by(jobs.c.state)).all())
    verdicts = dict(connection.execute(select(runs.c.verdict, func.count()).where(
        runs.c.batch_id == batch_id, runs.c.verdict.is_not(None)).group_by(runs.c.verdict)).all())
    return {"id": batch.id, "label": batch.label, "state": batch.state, "concurrency": batch.concurrency,
            "total": batch.total, "selection": batch.selection, "created_by": batch.created_by,
            "created_at": as_utc(batch.created_at).isoformat(),
            "finished_at": as_utc(batch.finished_at).isoformat() if batch.finished_at else None,
            "jobs": {state: states.get(state, 0) for state in ("queued", "running", "done", "failed")},
            "verdicts": {v: verdicts.get(v, 0) for v in ("pass", "fail")}}


#: A failed site check and a job that failed to run (no verdict) both come first, on every database (a bare
#: ``verdict = 'fail'`` is NULL for the latter, which PostgreSQL and SQLite order differently).
_failures_first = case((or_(runs.c.verdict == "fail", runs.c.state == "failed"), 0), else_=1)


def batch_runs(connection: Connection, batch_id: int, *, limit: int = 500) -> list[dict[str, Any]]:
    """The batch's runs with their sites, failures first (what the board lists)."""
    rows = connection.execute(
        select(runs.c.id, runs.c.state, runs.c.verdict, runs.c.progress_done, runs.c.progress_total,
               runs.c.summary, sites.c.provider_code, sites.c.name)
        .join(sites, sites.c.id == runs.c.site_id).where(runs.c.batch_id == batch_id)
        .order_by(_failures_first, sites.c.provider_code).limit(limit)).all()
    return [{"run_id": r.id, "state": r.state, "verdict": r.verdict, "done": r.progress_done,
             "total": r.progress_total, "provider_code": r.provider_code, "name": r.name,
             "failed": sorted(k for k, v in ((r.summary or {}).get("verdicts") or {}).items() if v == "fail")}
            for r in rows]


def new_batch(connection: Connection, actor: Actor, data: Any) -> dict[str, Any]:
    """A batch from the page's form or the API's body (``BatchNew``), audited; its board."""
    values = check("BatchNew", data)
    codes = tuple(dict.fromkeys(values.get("provider_codes") or ()))
    selection = Selection(SiteFilter.of(values), codes)
    try:
        batch_id = create_batch(connection, selection, label=values.get("label") or "batch",
                                concurrency=values["concurrency"], created_by=actor.username)
    except BatchError as error:
        raise FieldError(error.field, f"{error.field}: {error.message_ko}", f"{error.field}: {error.message_en}") \
            from None
    made = board(connection, batch_id)
    audit.record(connection, actor, "create_batch", "batch", batch_id, None,
                 {"selection": made["selection"], "concurrency": made["concurrency"], "total": made["total"]})
    return made


def change_batch(connection: Connection, actor: Actor, batch_id: int, action: str) -> dict[str, Any]:
    """``stop`` or ``resume`` a batch, audited; 409 when it is not in a state that allows it."""
    before = board(connection, batch_id)
    if before is None:
        raise NotFound("batch", batch_id)
    done = stop_batch(connection, batch_id) is not None if action == "stop" else resume_batch(connection, batch_id)
    if not done:
        raise FieldError("state", f"state: {before['state']} 상태의 묶음은 {action} 할 수 없습니다",
                         f"state: a {before['state']} batch cannot {action}", status=409)
    after = board(connection, batch_id)
    audit.record(connection, actor, f"{action}_batch", "batch", batch_id, {"state": before["state"]},
                 {"state": after["state"]})
    return after


def list_batches(connection: Connection, limit: int = 100) -> list[dict[str, Any]]:
    ids = connection.execute(select(batches.c.id).order_by(batches.c.id.desc()).limit(limit)).scalars().all()
    return [board(connection, batch_id) for batch_id in ids]
