"""The audit log: every change the console makes is written with who, when, what and a before/after
summary, in the same transaction as the change (a change without its record cannot happen)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from ...simulator.masking import mask_name
from .db import as_utc, now
from .tables import audit_log

#: Columns that hold a person (a site's contact) or a secret: the summary keeps only a masked form.
PERSON_COLUMNS = {"contact_name": mask_name, "contact_phone": lambda phone: phone[:3] + "-****-" + phone[-2:]
                  if len(phone) >= 7 else "***"}
SECRET_COLUMNS = ("password_hash", "token_sha256")


@dataclass(frozen=True)
class Actor:
    """Who makes a change: an account (``account_id``) or the console itself (``None``, e.g. ``--init``)."""

    account_id: int | None
    username: str


SYSTEM = Actor(None, "(console)")


def masked(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A row as the audit log may keep it: persons masked, secrets left out, values as JSON text."""
    if row is None:
        return None
    kept: dict[str, Any] = {}
    for key, value in row.items():
        if key in SECRET_COLUMNS:
            continue
        if key in PERSON_COLUMNS and isinstance(value, str) and value:
            value = PERSON_COLUMNS[key](value)
        kept[key] = _text(value)
    return kept


def _text(value: Any) -> Any:
    """A value as JSON text: a timestamp in one form, UTC ISO 8601 with its zone, whether the database gave it
    back without its zone (SQLite) or it was just made (``2026-03-02T00:30:00+00:00`` both ways)."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else value


def record(connection: Connection, actor: Actor, action: str, kind: str, object_id: Any,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """Write one audit entry; only the columns that changed are kept when both sides are given."""
    before, after = masked(before), masked(after)
    if before is not None and after is not None:
        changed = {key for key in after if before.get(key) != after.get(key)}
        before = {key: before.get(key) for key in sorted(changed)}
        after = {key: after[key] for key in sorted(changed)}
    connection.execute(insert(audit_log).values(
        at=now(), account_id=actor.account_id, actor=actor.username, action=action, object_kind=kind,
        object_id=str(object_id), summary={"before": before, "after": after}))


def list_entries(connection: Connection, page: int = 1, per_page: int = 50, object_kind: str | None = None,
                 object_id: str | None = None) -> dict[str, Any]:
    """One page of the audit log, newest first."""
    where = []
    if object_kind:
        where.append(audit_log.c.object_kind == object_kind)
    if object_id:
        where.append(audit_log.c.object_id == object_id)
    total = connection.execute(select(func.count()).select_from(audit_log).where(*where)).scalar_one()
    pages = math.ceil(total / per_page)
    page = max(1, page)  # past the last page: an empty page with the number asked for
    rows = connection.execute(select(audit_log.c.id, audit_log.c.at, audit_log.c.actor, audit_log.c.action,
                                     audit_log.c.object_kind, audit_log.c.object_id, audit_log.c.summary)
                              .where(*where).order_by(audit_log.c.id.desc()).limit(per_page)
                              .offset((page - 1) * per_page))
    items = [{**dict(row._mapping), "at": as_utc(row.at).isoformat()} for row in rows]
    return {"items": items, "total": total, "page": page, "per_page": per_page, "pages": pages}
