"""The console's database layer: migrations create exactly the tables of tables.py, run twice harmlessly,
refuse a schema newer than the kit, and keep the SQLite file private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from s24kit.conformance.console.db import (
    DatabaseError,
    current_revision,
    default_url,
    head_revision,
    open_database,
    prepare,
)
from s24kit.conformance.console.tables import metadata

REGISTER_TABLES = {"vendors", "products", "product_versions", "sites", "accounts", "api_tokens", "audit_log",
                   "decisions"}


def test_migrations_create_the_tables_of_tables_py(console_database: str) -> None:
    database = prepare(console_database)
    assert current_revision(database) == head_revision()
    assert set(inspect(database.engine).get_table_names()) >= REGISTER_TABLES
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    database.engine.dispose()  # the fixture drops the database after the test; no connection may stay open


def test_first_revision_has_its_fixed_id(console_database: str) -> None:
    from s24kit.conformance.console import db

    database = open_database(console_database)
    db.upgrade(database, "0001_register")
    assert current_revision(database) == "0001_register"
    database.engine.dispose()


def test_a_second_start_changes_nothing(console_database: str) -> None:
    prepare(console_database).engine.dispose()
    database = prepare(console_database)
    assert current_revision(database) == head_revision()
    database.engine.dispose()


def test_the_sqlite_file_and_state_folder_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    prepare(default_url(state), state_dir=state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "console.sqlite3").stat().st_mode) == 0o600


def test_a_schema_newer_than_the_kit_is_refused(console_database: str) -> None:
    database = prepare(console_database)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    database.engine.dispose()
    with pytest.raises(DatabaseError) as refused:
        prepare(console_database)
    assert "9999_future" in refused.value.message_en and "9999_future" in refused.value.message_ko


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/d", "sqlite://", "sqlite:///:memory:",
                                 "sqlite:////no/such/folder/console.sqlite3"])
def test_an_unusable_url_is_refused_with_a_message(url: str) -> None:
    with pytest.raises(DatabaseError) as refused:
        open_database(url)
    assert "--database" in refused.value.message_en and "--database" in refused.value.message_ko


def test_an_unreachable_postgresql_server_is_a_message_not_a_traceback() -> None:
    with pytest.raises(DatabaseError) as refused:
        prepare("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert "127.0.0.1:1" in refused.value.message_en
