"""Accounts count their ended sessions: logging out raises ``session_epoch``, which every session names.

Revision ID: 0003_session_epoch
Revises: 0002_runs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_session_epoch"
down_revision = "0002_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("session_epoch")
