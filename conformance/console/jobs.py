"""The work queue, kept in the console's database: enqueue a run, claim a job, beat, finish, recover.

Claiming is one short transaction. On PostgreSQL it takes row locks with ``FOR UPDATE SKIP LOCKED``: a
standalone job directly, a batch's job under its batch row's lock (which keeps the batch's concurrency bound
exact when several workers claim at once), and a worker never waits for a row another one holds. On SQLite
the transaction begins with ``BEGIN IMMEDIATE`` (docs/console.md §3): one writer at a time, same code.
A job whose worker stopped beating (killed, machine gone) is queued again by :func:`requeue_stale`; its
run starts again from the beginning, so every job ends with exactly one run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from .db import Database, now
from .tables import batches, jobs, run_progress, runs

#: A running job whose heartbeat is older than this is taken to be abandoned and queued again.
STALE_AFTER = dt.timedelta(seconds=120)


@dataclass(frozen=True, slots=True)
class Claimed:
    job_id: int
    run_id: int
    batch_id: int | None
    attempt: int


def enqueue(connection: Connection, *, kind: str, parameters: dict[str, Any], site_id: int | None = None,
            product_version_id: int | None = None, batch_id: int | None = None,
            created_by: str | None = None) -> int:
    """A queued run and its job (inside the caller's transaction); the run's id."""
    when = now()
    run_id = connection.execute(insert(runs).values(
        kind=kind, site_id=site_id, product_version_id=product_version_id, batch_id=batch_id,
        parameters=parameters, state="queued", progress_done=0, progress_total=0, created_by=created_by,
        created_at=when)).inserted_primary_key[0]
    connection.execute(insert(jobs).values(batch_id=batch_id, run_id=run_id, state="queued", attempts=0,
                                           created_at=when))
    return int(run_id)


def claim(database: Database, worker: str) -> Claimed | None:
    """The next job this worker may run, marked running and held by ``worker`` (None: nothing to do now)."""
    with database.engine.begin() as connection:
        row = connection.execute(
            select(jobs.c.id, jobs.c.run_id, jobs.c.batch_id, jobs.c.attempts)
            .where(jobs.c.state == "queued", jobs.c.batch_id.is_(None)).order_by(jobs.c.id).limit(1)
            .with_for_update(skip_locked=True)).first()
        if row is None:
            row = _claim_in_batch(connection)
        if row is None:
            return None
        when = now()
        connection.execute(update(jobs).where(jobs.c.id == row.id).values(
            state="running", locked_by=worker, heartbeat=when, attempts=jobs.c.attempts + 1))
        connection.execute(delete(run_progress).where(run_progress.c.run_id == row.run_id))  # an earlier attempt's
        connection.execute(update(runs).where(runs.c.id == row.run_id).values(
            state="running", started_at=when, progress_done=0, progress_total=0, verdict=None, error=None))
        return Claimed(row.id, row.run_id, row.batch_id, row.attempts + 1)


def _claim_in_batch(connection: Connection) -> Any:
    """A queued job of a running batch that has room under its concurrency, under that batch row's lock."""
    candidates = connection.execute(
        select(batches.c.id).where(batches.c.state == "running",
                                   select(jobs.c.id).where(jobs.c.batch_id == batches.c.id,
                                                           jobs.c.state == "queued").exists())
        .order_by(batches.c.id).limit(20)).scalars().all()
    for batch_id in candidates:
        batch = connection.execute(select(batches.c.id, batches.c.concurrency)
                                   .where(batches.c.id == batch_id, batches.c.state == "running")
                                   .with_for_update(skip_locked=True)).first()
        if batch is None:  # another worker holds it, or it was stopped meanwhile
            continue
        running = connection.execute(select(func.count()).select_from(jobs).where(
            jobs.c.batch_id == batch_id, jobs.c.state == "running")).scalar_one()
        if running >= batch.concurrency:
            continue
        row = connection.execute(
            select(jobs.c.id, jobs.c.run_id, jobs.c.batch_id, jobs.c.attempts)
            .where(jobs.c.batch_id == batch_id, jobs.c.state == "queued").order_by(jobs.c.id).limit(1)
            .with_for_update(skip_locked=True)).first()
        if row is not None:
            return row
    return None


def beat(database: Database, claimed: Claimed, worker: str) -> bool:
    """Renew the job's heartbeat; False when the job is no longer this worker's (taken back as stale)."""
    with database.engine.begin() as connection:
        return connection.execute(update(jobs).where(
            jobs.c.id == claimed.job_id, jobs.c.locked_by == worker, jobs.c.state == "running",
            jobs.c.attempts == claimed.attempt).values(heartbeat=now())).rowcount == 1


def record_progress(database: Database, claimed: Claimed, worker: str, seq: int, total: int, requirement: str,
                    verdict: str, reason: str) -> bool:
    """One progress row (what the page streams) and the heartbeat, in one transaction; False if the job was lost."""
    with database.engine.begin() as connection:
        held = connection.execute(update(jobs).where(
            jobs.c.id == claimed.job_id, jobs.c.locked_by == worker, jobs.c.state == "running",
            jobs.c.attempts == claimed.attempt).values(heartbeat=now())).rowcount == 1
        if not held:
            return False
        connection.execute(insert(run_progress).values(run_id=claimed.run_id, seq=seq, requirement=requirement,
                                                       verdict=verdict, reason=reason[:2000], at=now()))
        connection.execute(update(runs).where(runs.c.id == claimed.run_id).values(progress_done=seq,
                                                                                  progress_total=total))
        return True


def finish(database: Database, claimed: Claimed, worker: str, *, state: str, values: dict[str, Any]) -> bool:
    """Record the run's outcome and close its job (state ``done`` or ``failed``), only while the job is still
    this worker's; the batch is done (or stopped) when its last job closes. False: the job was lost."""
    with database.engine.begin() as connection:
        closed = connection.execute(update(jobs).where(
            jobs.c.id == claimed.job_id, jobs.c.locked_by == worker, jobs.c.state == "running",
            jobs.c.attempts == claimed.attempt).values(state=state, finished_at=now(), locked_by=None)).rowcount
        if closed != 1:
            return False
        connection.execute(update(runs).where(runs.c.id == claimed.run_id).values(
            state=state, finished_at=now(), **values))
        if claimed.batch_id is not None:
            settle_batch(connection, claimed.batch_id)
        return True


def settle_batch(connection: Connection, batch_id: int) -> None:
    """A running batch with no open job is done; a stopping one with no running job is stopped."""
    open_jobs = dict(connection.execute(select(jobs.c.state, func.count()).where(
        jobs.c.batch_id == batch_id, jobs.c.state.in_(("queued", "running"))).group_by(jobs.c.state)).all())
    if not open_jobs:
        connection.execute(update(batches).where(batches.c.id == batch_id,
                                                 batches.c.state.in_(("running", "stopping")))
                           .values(state="done", finished_at=now()))
    elif not open_jobs.get("running"):
        connection.execute(update(batches).where(batches.c.id == batch_id, batches.c.state == "stopping")
                           .values(state="stopped"))


def requeue_stale(database: Database, stale_after: dt.timedelta = STALE_AFTER) -> int:
    """Queue again the running jobs whose worker stopped beating; how many."""
    limit = now() - stale_after
    with database.engine.begin() as connection:
        stale = connection.execute(select(jobs.c.id, jobs.c.run_id, jobs.c.batch_id).where(
            jobs.c.state == "running", jobs.c.heartbeat <= limit).with_for_update(skip_locked=True)).all()
        for row in stale:
            connection.execute(update(jobs).where(jobs.c.id == row.id).values(state="queued", locked_by=None))
            connection.execute(update(runs).where(runs.c.id == row.run_id).values(state="queued"))
        for batch_id in {row.batch_id for row in stale if row.batch_id is not None}:
            settle_batch(connection, batch_id)
        return len(stale)


def stop_batch(connection: Connection, batch_id: int) -> str | None:
    """No new job of the batch starts; those running finish. The batch's new state (None: not stoppable)."""
    state = connection.execute(select(batches.c.state).where(batches.c.id == batch_id)).scalar_one_or_none()
    if state != "running":
        return None
    connection.execute(update(batches).where(batches.c.id == batch_id).values(state="stopping"))
    settle_batch(connection, batch_id)
    return connection.execute(select(batches.c.state).where(batches.c.id == batch_id)).scalar_one()


def resume_batch(connection: Connection, batch_id: int) -> bool:
    """A stopped (or stopping) batch runs again from its queued jobs."""
    return connection.execute(update(batches).where(
        and_(batches.c.id == batch_id, batches.c.state.in_(("stopped", "stopping")))).values(
        state="running")).rowcount == 1
