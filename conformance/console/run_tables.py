"""The tables of revision ``0002_runs``: runs and their progress, batches, jobs, the monitoring schedule.

A *job* is the queue's side of one piece of work (state, attempts, which worker holds it, its heartbeat);
its *run* is the outcome (verdict, reports, evidence digest, findings). One job, one run: a run interrupted
with its worker is started again from the beginning by the next worker, never duplicated.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from .tables import metadata

RUN_KINDS = ("certification", "site_check")
RUN_STATES = ("queued", "running", "done", "failed", "cancelled")  # failed: the run itself could not complete
VERDICTS = ("pass", "fail")
BATCH_STATES = ("running", "stopping", "stopped", "done")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


batches = Table(
    "batches", metadata,
    Column("id", Integer, primary_key=True),
    Column("label", String(200), nullable=False),
    Column("selection", JSON, nullable=False),  # the filter, or {"provider_codes": […]} of an imported list
    Column("concurrency", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("created_by", String(64)),  # username; "monitoring" for the scheduled re-check
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint(_one_of("state", BATCH_STATES), name="state"),
    CheckConstraint("concurrency >= 1", name="concurrency"))

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("site_id", Integer, ForeignKey("sites.id"), index=True),
    Column("product_version_id", Integer, ForeignKey("product_versions.id"), index=True),
    Column("batch_id", Integer, ForeignKey("batches.id"), index=True),
    Column("parameters", JSON, nullable=False),  # certification: target URL, role, provider code
    Column("state", String(16), nullable=False),
    Column("progress_done", Integer, nullable=False, server_default="0"),
    Column("progress_total", Integer, nullable=False, server_default="0"),
    Column("verdict", String(8)),
    Column("report_dir", String(500)),
    Column("evidence_sha256", String(64)),
    Column("summary", JSON),  # {"verdicts": {requirement: verdict}, "certificate": …, "product": …}
    Column("certificate_not_after", DateTime(timezone=True)),  # the site's server certificate (monitoring)
    Column("error", Text),
    Column("created_by", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint(_one_of("kind", RUN_KINDS), name="kind"),
    CheckConstraint(_one_of("state", RUN_STATES), name="state"),
    Index("ix_runs_site_finished", "site_id", "finished_at"))

run_progress = Table(
    "run_progress", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("requirement", String(16), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_run_progress_run_seq", "run_id", "seq"))

jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", Integer, ForeignKey("batches.id")),  # None: a run started on its own
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("locked_by", String(100)),
    Column("heartbeat", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint(_one_of("state", JOB_STATES), name="state"),
    Index("ix_jobs_batch_state", "batch_id", "state"),
    Index("ix_jobs_state_id", "state", "id"))

monitoring = Table(
    "monitoring", metadata,
    Column("id", Integer, primary_key=True),  # one row
    Column("enabled", Boolean, nullable=False),
    Column("interval_hours", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("next_due_at", DateTime(timezone=True)),
    Column("last_batch_id", Integer, ForeignKey("batches.id")),
    CheckConstraint("interval_hours >= 1", name="interval"))
