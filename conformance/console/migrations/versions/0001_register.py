"""The register: vendors, products, versions, sites, accounts, API tokens, the audit log and decisions.

Revision ID: 0001_register
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_register"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str = "created_at", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _one_of(column: str, *values: str) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "vendors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("business_number", sa.String(12)),
        _when(),
        sa.PrimaryKeyConstraint("id", name="pk_vendors"),
        sa.UniqueConstraint("name", name="uq_vendors_name"))
    op.create_table(
        "products",
        sa.Column("id", sa.Integer),
        sa.Column("vendor_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _when(),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name="fk_products_vendor_id_vendors"),
        sa.UniqueConstraint("vendor_id", "name", name="uq_products_vendor_name"))
    op.create_index("ix_products_vendor_id", "products", ["vendor_id"])
    op.create_table(
        "product_versions",
        sa.Column("id", sa.Integer),
        sa.Column("product_id", sa.Integer, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="uncertified"),
        sa.Column("certified_run_id", sa.Integer),
        _when("certified_at", nullable=True),
        _when(),
        sa.PrimaryKeyConstraint("id", name="pk_product_versions"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_product_versions_product_id_products"),
        sa.UniqueConstraint("product_id", "version", name="uq_product_versions_product_version"),
        sa.CheckConstraint(_one_of("state", "uncertified", "certified", "rejected", "suspended"),
                           name="ck_product_versions_state"))
    op.create_index("ix_product_versions_product_id", "product_versions", ["product_id"])
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer),
        sa.Column("provider_code", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("facility_type", sa.String(2), nullable=False),
        sa.Column("region", sa.String(2), nullable=False),
        sa.Column("product_version_id", sa.Integer),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("pull_url", sa.String(500)),
        sa.Column("server_cert_sha256", sa.String(64)),
        sa.Column("agent_source_ip", sa.String(45)),
        sa.Column("agent_cert_sha256", sa.String(64)),
        sa.Column("contact_name", sa.String(100)),
        sa.Column("contact_phone", sa.String(20)),
        sa.Column("state", sa.String(16), nullable=False, server_default="applied"),
        _when("state_changed_at"),
        _when(),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.ForeignKeyConstraint(["product_version_id"], ["product_versions.id"],
                                name="fk_sites_product_version_id_product_versions"),
        sa.UniqueConstraint("provider_code", name="uq_sites_provider_code"),
        sa.CheckConstraint(_one_of("state", "applied", "testing", "passed", "accepted", "rejected", "suspended"),
                           name="ck_sites_state"),
        sa.CheckConstraint(_one_of("mode", "pull", "agent"), name="ck_sites_mode"))
    op.create_index("ix_sites_state_code", "sites", ["state", "provider_code"])
    op.create_index("ix_sites_region_code", "sites", ["region", "provider_code"])
    op.create_index("ix_sites_version_code", "sites", ["product_version_id", "provider_code"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
        _when("password_changed_at"),
        _when("last_login_at", nullable=True),
        _when(),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("username", name="uq_accounts_username"),
        sa.CheckConstraint(_one_of("role", "viewer", "operator", "approver", "admin"), name="ck_accounts_role"))
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        _when(),
        _when("last_used_at", nullable=True),
        _when("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_api_tokens_account_id_accounts"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"))
    op.create_index("ix_api_tokens_account_id", "api_tokens", ["account_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer),
        _when("at"),
        sa.Column("account_id", sa.Integer),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_kind", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_audit_log_account_id_accounts"))
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_object", "audit_log", ["object_kind", "object_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.Integer, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        _when("decided_at"),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer),
        sa.Column("evidence_digest", sa.String(100)),
        sa.Column("signed_record", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_decisions_account_id_accounts"),
        sa.CheckConstraint(_one_of("subject_kind", "site", "product_version"), name="ck_decisions_subject_kind"),
        sa.CheckConstraint(_one_of("decision", "accepted", "rejected", "suspended", "certified"),
                           name="ck_decisions_decision"))
    op.create_index("ix_decisions_subject", "decisions", ["subject_kind", "subject_id"])


def downgrade() -> None:
    for table in ("decisions", "audit_log", "api_tokens", "accounts", "sites", "product_versions", "products",
                  "vendors"):
        op.drop_table(table)
