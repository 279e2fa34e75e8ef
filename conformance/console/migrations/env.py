"""Alembic's environment for the console: always given an open connection by :func:`..db.upgrade`."""

from __future__ import annotations

from alembic import context

from s24kit.conformance.console.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
