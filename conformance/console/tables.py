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

# Revision 0002_runs's tables (runs, progress, batches, jobs, monitoring) register on the same metadata.
from . import run_tables  # noqa: E402, F401
