"""Monitoring: the scheduled re-check of accepted sites, and the list of what needs a person.

The schedule is one row (daily by default). A worker's housekeeping calls :func:`due_batch`: when the time
has come it queues a batch of site checks over every accepted site, under the schedule row's lock, so two
workers never start it twice. :func:`needs_a_person` reads each site's last site check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from . import audit
from .audit import Actor
from .batches import BatchError, Selection, create_batch
from .db import Database, as_utc, now
from .register import SiteFilter
from .tables import batches, monitoring, runs, sites
from .validation import check

DEFAULT_INTERVAL_HOURS = 24
DEFAULT_CONCURRENCY = 8
EXPIRING_WITHIN = dt.timedelta(days=30)
#: Why a site needs a person: code → (Korean, English).
REASONS = {
    "certificate_expiring": ("서버 인증서가 30일 안에 만료", "server certificate expires within 30 days"),
    "unreachable": ("지난 점검에서 접속 불가", "unreachable at the last check"),
    "uncertified_version": ("알린 제품 버전이 등록과 다르거나 인증되지 않음",
                            "reported product version not registered or not certified"),
    "pin_mismatch": ("서버 인증서가 등록된 고정값과 다름", "server certificate differs from the registered pin"),
}


def schedule(connection: Connection) -> Any:
    """The schedule row, made with the defaults (enabled, daily, due now) the first time."""
    row = connection.execute(select(monitoring).where(monitoring.c.id == 1)).first()
    if row is None:
        connection.execute(insert(monitoring).values(id=1, enabled=True, interval_hours=DEFAULT_INTERVAL_HOURS,
                                                     concurrency=DEFAULT_CONCURRENCY, next_due_at=now()))
        row = connection.execute(select(monitoring).where(monitoring.c.id == 1)).one()
    return row


def set_schedule(connection: Connection, *, enabled: bool, interval_hours: int, concurrency: int) -> None:
    row = schedule(connection)
    connection.execute(update(monitoring).where(monitoring.c.id == row.id).values(
        enabled=enabled, interval_hours=interval_hours, concurrency=concurrency))


def due_batch(database: Database, at: dt.datetime | None = None) -> int | None:
    """Queue the re-check of accepted sites when it is due; the batch id (None: not due, or nothing to check)."""
    at = at or now()
    with database.engine.begin() as connection:
        schedule(connection)
        row = connection.execute(select(monitoring).where(monitoring.c.id == 1)
                                 .with_for_update(skip_locked=True)).first()
        if row is None or not row.enabled or (row.next_due_at and as_utc(row.next_due_at) > at):
            return None
        if row.last_batch_id is not None:  # the previous re-check still running: not another one on top
            previous = connection.execute(select(batches.c.state).where(batches.c.id == row.last_batch_id)).scalar()
            if previous in ("running", "stopping"):
                return None
        next_due = at + dt.timedelta(hours=row.interval_hours)
        try:
            batch_id = create_batch(connection, Selection(SiteFilter(state="accepted")),
                                    label=f"monitoring {at:%Y-%m-%d %H:%M}", concurrency=row.concurrency,
                                    created_by="monitoring")
        except BatchError:  # no accepted site yet
            batch_id = None
        connection.execute(update(monitoring).where(monitoring.c.id == 1).values(
            next_due_at=next_due, **({"last_batch_id": batch_id} if batch_id else {})))
        return batch_id


def needs_a_person(connection: Connection, at: dt.datetime | None = None, *, limit: int = 1000
                   ) -> list[dict[str, Any]]:
    """Accepted sites (the ones monitoring re-checks) whose last completed site check found a reason for a
    person to act, with the reasons. A site still on its way (applied, testing, passed) fails checks as part
    of being accepted, and one rejected or suspended is not in service: neither is listed."""
    at = at or now()
    latest = (select(func.max(runs.c.id).label("id")).where(runs.c.kind == "site_check", runs.c.state == "done")
              .group_by(runs.c.site_id).subquery())
    rows = connection.execute(
        select(runs.c.id, runs.c.summary, runs.c.finished_at, runs.c.certificate_not_after, sites.c.id.label("site"),
               sites.c.provider_code, sites.c.name, sites.c.state)
        .join(latest, latest.c.id == runs.c.id).join(sites, sites.c.id == runs.c.site_id)
        .where(sites.c.state == "accepted",
               or_(runs.c.verdict == "fail", runs.c.certificate_not_after < at + EXPIRING_WITHIN))
        .order_by(sites.c.provider_code).limit(limit)).all()
    out = []
    for row in rows:
        reasons = reasons_of(row.summary or {}, as_utc(row.certificate_not_after), at)
        if reasons:
            out.append({"site_id": row.site, "provider_code": row.provider_code, "name": row.name,
                        "state": row.state, "run_id": row.id, "checked_at": as_utc(row.finished_at),
                        "reasons": reasons})
    return out


def reasons_of(summary: dict[str, Any], not_after: dt.datetime | None, at: dt.datetime) -> list[str]:
    """The :data:`REASONS` codes a site check's summary gives."""
    verdicts = summary.get("verdicts") or {}
    reasons = []
    if not_after is not None and not_after < at + EXPIRING_WITHIN:
        reasons.append("certificate_expiring")
    if verdicts.get("S24-NET-002") == "fail" or verdicts.get("S24-TLS-001") == "fail":
        reasons.append("unreachable")
    if verdicts.get("S24-API-017") == "fail":
        reasons.append("uncertified_version")
    if summary.get("pin_matches") is False:
        reasons.append("pin_mismatch")
    return reasons


def overview(connection: Connection) -> dict[str, Any]:
    """The schedule and the needs-a-person list, as the page and the API show them."""
    row = schedule(connection)
    listed = needs_a_person(connection)
    for entry in listed:
        entry["checked_at"] = entry["checked_at"].isoformat() if entry["checked_at"] else None
    return {"schedule": {"enabled": row.enabled, "interval_hours": row.interval_hours, "concurrency": row.concurrency,
                         "next_due_at": as_utc(row.next_due_at).isoformat() if row.next_due_at else None,
                         "last_batch_id": row.last_batch_id},
            "needs_a_person": listed}


def change_schedule(connection: Connection, actor: Actor, data: Any) -> dict[str, Any]:
    """Set the schedule from ``MonitoringSettings`` (audited); the new overview."""
    values = check("MonitoringSettings", data)
    before = overview(connection)["schedule"]
    set_schedule(connection, enabled=values["enabled"], interval_hours=values["interval_hours"],
                 concurrency=values["concurrency"])
    after = overview(connection)
    audit.record(connection, actor, "change_monitoring", "monitoring", 1,
                 {k: before[k] for k in ("enabled", "interval_hours", "concurrency")},
                 {k: after["schedule"][k] for k in ("enabled", "interval_hours", "concurrency")})
    return after
