"""Runs and their progress, batches, jobs (claimed with SELECT … FOR UPDATE SKIP LOCKED), the monitoring schedule.

Revision ID: 0002_runs
Revises: 0001_register
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_runs"
down_revision = "0001_register"
branch_labels = None
depends_on = None


def _when(name: str = "created_at", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _one_of(column: str, *values: str) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("selection", sa.JSON, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(64)),
        _when(),
        _when("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.CheckConstraint(_one_of("state", "running", "stopping", "stopped", "done"), name="ck_batches_state"),
        sa.CheckConstraint("concurrency >= 1", name="ck_batches_concurrency"))
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("site_id", sa.Integer),
        sa.Column("product_version_id", sa.Integer),
        sa.Column("batch_id", sa.Integer),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("progress_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("verdict", sa.String(8)),
        sa.Column("report_dir", sa.String(500)),
        sa.Column("evidence_sha256", sa.String(64)),
        sa.Column("summary", sa.JSON),
        _when("certificate_not_after", nullable=True),
        sa.Column("error", sa.Text),
        sa.Column("created_by", sa.String(64)),
        _when(),
        _when("started_at", nullable=True),
        _when("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_runs_site_id_sites"),
        sa.ForeignKeyConstraint(["product_version_id"], ["product_versions.id"],
                                name="fk_runs_product_version_id_product_versions"),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name="fk_runs_batch_id_batches"),
        sa.CheckConstraint(_one_of("kind", "certification", "site_check"), name="ck_runs_kind"),
        sa.CheckConstraint(_one_of("state", "queued", "running", "done", "failed", "cancelled"), name="ck_runs_state"))
    op.create_index("ix_runs_site_id", "runs", ["site_id"])
    op.create_index("ix_runs_product_version_id", "runs", ["product_version_id"])
    op.create_index("ix_runs_batch_id", "runs", ["batch_id"])
    op.create_index("ix_runs_site_finished", "runs", ["site_id", "finished_at"])
    op.create_table(
        "run_progress",
        sa.Column("id", sa.Integer),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("requirement", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text),
        _when("at"),
        sa.PrimaryKeyConstraint("id", name="pk_run_progress"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_progress_run_id_runs", ondelete="CASCADE"))
    op.create_index("ix_run_progress_run_seq", "run_progress", ["run_id", "seq"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer),
        sa.Column("batch_id", sa.Integer),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_by", sa.String(100)),
        _when("heartbeat", nullable=True),
        _when(),
        _when("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name="fk_jobs_batch_id_batches"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_jobs_run_id_runs"),
        sa.UniqueConstraint("run_id", name="uq_jobs_run_id"),
        sa.CheckConstraint(_one_of("state", "queued", "running", "done", "failed", "cancelled"), name="ck_jobs_state"))
    op.create_index("ix_jobs_batch_state", "jobs", ["batch_id", "state"])
    op.create_index("ix_jobs_state_id", "jobs", ["state", "id"])
    op.create_table(
        "monitoring",
        sa.Column("id", sa.Integer),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("interval_hours", sa.Integer, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        _when("next_due_at", nullable=True),
        sa.Column("last_batch_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring"),
        sa.ForeignKeyConstraint(["last_batch_id"], ["batches.id"], name="fk_monitoring_last_batch_id_batches"),
        sa.CheckConstraint("interval_hours >= 1", name="ck_monitoring_interval"))


def downgrade() -> None:
    for table in ("monitoring", "jobs", "run_progress", "runs", "batches"):
        op.drop_table(table)
