"""The console's tables as SQLAlchemy Core objects: the code reads and writes through these, the Alembic
revisions under ``migrations/versions/`` create them (a test checks both agree)."""

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
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

#: Constraint names follow one convention, so that migrations name them the same on SQLite and PostgreSQL.
metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s"})

ROLES = ("viewer", "operator", "approver", "admin")
SITE_STATES = ("applied", "testing", "passed", "accepted", "rejected", "suspended")
VERSION_STATES = ("uncertified", "certified", "rejected", "suspended")
SITE_MODES = ("pull", "agent")
DECISIONS = ("accepted", "rejected", "suspended", "certified")
SUBJECT_KINDS = ("site", "product_version")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _when() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False)


vendors = Table(
    "vendors", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("business_number", String(12)),  # 사업자등록번호 000-00-00000
    _when())

products = Table(
    "products", metadata,
    Column("id", Integer, primary_key=True),
    Column("vendor_id", Integer, ForeignKey("vendors.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    _when(),
    UniqueConstraint("vendor_id", "name", name="uq_products_vendor_name"))

product_versions = Table(
    "product_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("product_id", Integer, ForeignKey("products.id"), nullable=False, index=True),
    Column("version", String(64), nullable=False),
    Column("state", String(16), nullable=False, server_default="uncertified"),
    Column("certified_run_id", Integer),  # the run that certified it; the runs table comes with 0002_runs
    Column("certified_at", DateTime(timezone=True)),
    _when(),
    UniqueConstraint("product_id", "version", name="uq_product_versions_product_version"),
    CheckConstraint(_one_of("state", VERSION_STATES), name="state"))

sites = Table(
    "sites", metadata,
    Column("id", Integer, primary_key=True),
    Column("provider_code", String(8), nullable=False, unique=True),  # 요양기관기호
    Column("name", String(200), nullable=False),
    Column("facility_type", String(2), nullable=False),  # 종별코드, fixtures/codes/facility-types.json
    Column("region", String(2), nullable=False),  # 시도 code, fixtures/people/addresses.json
    Column("product_version_id", Integer, ForeignKey("product_versions.id")),
    Column("mode", String(8), nullable=False),
    Column("pull_url", String(500)),
    Column("server_cert_sha256", String(64)),
    Column("agent_source_ip", String(45)),
    Column("agent_cert_sha256", String(64)),
    Column("contact_name", String(100)),  # a person: masked in the audit log
    Column("contact_phone", String(20)),  # a person: masked in the audit log
    Column("state", String(16), nullable=False, server_default="applied"),
    Column("state_changed_at", DateTime(timezone=True), nullable=False),
    _when(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(_one_of("state", SITE_STATES), name="state"),
    CheckConstraint(_one_of("mode", SITE_MODES), name="mode"),
    # The register page filters on one of these and orders by provider code: each index serves both.
    Index("ix_sites_state_code", "state", "provider_code"),
    Index("ix_sites_region_code", "region", "provider_code"),
    Index("ix_sites_version_code", "product_version_id", "provider_code"))

accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),  # argon2id, see auth.py
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("must_change_password", Boolean, nullable=False, server_default=false()),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    # Raised by every logout: a session names the epoch it was opened in (see accounts.Account.password_stamp).
    Column("session_epoch", Integer, nullable=False, server_default="0"),
    Column("last_login_at", DateTime(timezone=True)),
    _when(),
    CheckConstraint(_one_of("role", ROLES), name="role"))

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),  # the token itself is shown once, never kept
    Column("prefix", String(12), nullable=False),  # the first characters, to recognise a token in a list
    _when(),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)))

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id")),
    Column("actor", String(64), nullable=False),  # the username then (accounts may be renamed or disabled)
    Column("action", String(64), nullable=False),
    Column("object_kind", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("summary", JSON, nullable=False),  # {"before": …, "after": …}, persons masked
    Index("ix_audit_log_object", "object_kind", "object_id"))

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True),
    Column("subject_kind", String(16), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("run_id", Integer),
    Column("evidence_digest", String(100)),
    Column("signed_record", Text),  # the Ed25519-signed acceptance record (JSON)
    CheckConstraint(_one_of("subject_kind", SUBJECT_KINDS), name="subject_kind"),
    CheckConstraint(_one_of("decision", DECISIONS), name="decision"),
    Index("ix_decisions_subject", "subject_kind", "subject_id"))


# -- revision 0002_runs: runs and their progress, batches, jobs, the monitoring schedule ------------------------
# A *job* is the queue's side of one piece of work (state, attempts, which worker holds it, its heartbeat); its
# *run* is the outcome (verdict, reports, evidence digest, findings). One job, one run: a run interrupted with
# its worker starts again from the beginning with the next worker, never duplicated (docs/console.md §3).

RUN_KINDS = ("certification", "site_check")
RUN_STATES = ("queued", "running", "done", "failed", "cancelled")  # failed: the run itself could not complete
VERDICTS = ("pass", "fail")
BATCH_STATES = ("running", "stopping", "stopped", "done")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")


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
