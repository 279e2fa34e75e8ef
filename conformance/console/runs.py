"""Runs as the pages and the API see them: start one, list them, read one, its progress since an event id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from ..net.address import listen_refusal
from . import audit
from .audit import Actor
from .jobs import enqueue
from .register import DEFAULT_PER_PAGE, MAX_PER_PAGE, Page
from .sitecsv import url_refusal
from .tables import jobs, product_versions, run_progress, runs, sites
from .validation import FieldError, NotFound, check

FINISHED = ("done", "failed", "cancelled")


def _time(value: Any) -> str | None:
    from .db import as_utc

    return as_utc(value).isoformat() if value is not None else None


def run_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "state": row.state, "verdict": row.verdict, "site_id": row.site_id,
            "product_version_id": row.product_version_id, "batch_id": row.batch_id,
            "progress_done": row.progress_done, "progress_total": row.progress_total,
            "evidence_sha256": row.evidence_sha256, "summary": row.summary, "error": row.error,
            "created_by": row.created_by, "created_at": _time(row.created_at), "started_at": _time(row.started_at),
            "finished_at": _time(row.finished_at), "has_report": bool(row.report_dir)}


def get_run(connection: Connection, run_id: int) -> dict[str, Any]:
    row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        raise NotFound("run", run_id)
    return run_json(row)


def report_dir(connection: Connection, run_id: int) -> str | None:
    row = connection.execute(select(runs.c.report_dir).where(runs.c.id == run_id)).first()
    if row is None:
        raise NotFound("run", run_id)
    return row.report_dir


def list_runs(connection: Connection, *, site_id: int | None = None, batch_id: int | None = None,
              page: int = 1, per_page: int = DEFAULT_PER_PAGE) -> Page:
    """One page of runs, newest first (of one site or one batch if asked), with the count of all of them —
    paged like the register (:func:`.register.list_sites`): a page past the last is empty and keeps its number."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    where = []
    if site_id is not None:
        where.append(runs.c.site_id == site_id)
    if batch_id is not None:
        where.append(runs.c.batch_id == batch_id)
    total = connection.execute(select(func.count()).select_from(runs).where(*where)).scalar_one()
    query = (select(runs, sites.c.provider_code, sites.c.name.label("site_name"))
             .outerjoin(sites, sites.c.id == runs.c.site_id).where(*where)
             .order_by(runs.c.id.desc()).limit(per_page).offset((page - 1) * per_page))
    rows = connection.execute(query).all()
    return Page([{**run_json(r), "provider_code": r.provider_code, "site_name": r.site_name} for r in rows],
                total, page, per_page)


def start_run(connection: Connection, actor: Actor, data: Any) -> dict[str, Any]:
    """Queue a site check (``site_id``) or a product certification (``product_version_id`` and the vendor's
    installation: ``target_url`` for a pull connector, ``listen`` for an agent), audited."""
    values = check("RunNew", data)
    if values["kind"] == "site_check":
        site_id = _required(values, "site_id")
        if connection.execute(select(sites.c.id).where(sites.c.id == site_id)).first() is None:
            raise NotFound("site", site_id)
        run_id = enqueue(connection, kind="site_check", parameters={}, site_id=site_id, created_by=actor.username)
    else:
        version_id = _required(values, "product_version_id")
        if connection.execute(select(product_versions.c.id).where(product_versions.c.id == version_id)).first() \
                is None:
            raise NotFound("product_version", version_id)
        role = values.get("role", "provider_pull")
        _required(values, "target_url" if role == "provider_pull" else "listen")
        if "target_url" in values and (refusal := url_refusal("target_url", values["target_url"])):
            raise FieldError("target_url", *refusal)  # refused now, not queued to fail when it runs
        if "listen" in values and (refusal := listen_refusal("listen", values["listen"])):
            raise FieldError("listen", *refusal)
        parameters = {k: values[k] for k in ("target_url", "provider_code", "role", "listen") if k in values}
        run_id = enqueue(connection, kind="certification", parameters=parameters, product_version_id=version_id,
                         created_by=actor.username)
    run = get_run(connection, run_id)
    audit.record(connection, actor, "start_run", "run", run_id, None,
                 {k: run[k] for k in ("kind", "site_id", "product_version_id")})
    return run


def _required(values: dict[str, Any], name: str) -> Any:
    if values.get(name) in (None, ""):
        raise FieldError(name, f"{name}: 이 종류의 실행에 필요합니다", f"{name}: required for this kind of run")
    return values[name]


def progress_since(connection: Connection, run_id: int, after: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Progress rows with an id above ``after`` (the SSE event id), and the run itself."""
    run = get_run(connection, run_id)
    rows = connection.execute(select(run_progress).where(run_progress.c.run_id == run_id, run_progress.c.id > after)
                              .order_by(run_progress.c.id)).all()
    return [{"id": r.id, "seq": r.seq, "requirement": r.requirement, "verdict": r.verdict, "reason": r.reason}
            for r in rows], run


def job_of(connection: Connection, run_id: int) -> dict[str, Any] | None:
    row = connection.execute(select(jobs).where(jobs.c.run_id == run_id)).first()
    return None if row is None else {"state": row.state, "attempts": row.attempts, "worker": row.locked_by}
