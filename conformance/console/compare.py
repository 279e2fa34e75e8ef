"""What changed between a run and the same site's (or product version's) previous completed run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from .tables import runs


def previous_run(connection: Connection, run: Any) -> Any:
    """The last completed run of the same kind and subject before ``run`` (None: it is the first)."""
    subject = runs.c.site_id == run.site_id if run.site_id is not None else \
        runs.c.product_version_id == run.product_version_id
    return connection.execute(select(runs).where(subject, runs.c.kind == run.kind, runs.c.state == "done",
                                                 runs.c.id < run.id).order_by(runs.c.id.desc()).limit(1)).first()


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Requirement verdicts that changed (``requirement``, ``before``, ``after``; None: not judged that time),
    and the product and certificate when they changed."""
    old, new = (before or {}).get("verdicts") or {}, (after or {}).get("verdicts") or {}
    verdicts = [{"requirement": rid, "before": old.get(rid), "after": new.get(rid)}
                for rid in sorted(set(old) | set(new)) if old.get(rid) != new.get(rid)]
    out: dict[str, Any] = {"verdicts": verdicts}
    for key in ("product", "certificate"):
        if (before or {}).get(key) != (after or {}).get(key):
            out[key] = {"before": (before or {}).get(key), "after": (after or {}).get(key)}
    return out


def compare(connection: Connection, run_id: int) -> dict[str, Any] | None:
    """The run against its predecessor: ``{"previous": id or None, "verdict": …, "verdicts": [...], …}``."""
    run = connection.execute(select(runs).where(runs.c.id == run_id)).first()
    if run is None:
        return None
    previous = previous_run(connection, run)
    if previous is None:
        return {"run": run.id, "previous": None, "verdicts": []}
    out = {"run": run.id, "previous": previous.id, **changes(previous.summary, run.summary)}
    if previous.verdict != run.verdict:
        out["verdict"] = {"before": previous.verdict, "after": run.verdict}
    return out
