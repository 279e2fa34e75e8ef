"""The console_database fixture: a fresh, empty database per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from ._databases import fresh_postgres_database, postgres_server_url, postgres_unreachable_reason
from ._require import require


def _table_names(url: str) -> list[str]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_gets_an_empty_database(console_database, attempt):
    # Run twice: the second run would see the first one's table if databases were shared.
    assert _table_names(console_database) == []
    engine = sa.create_engine(console_database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text("create table marker (attempt integer)"))
        connection.execute(sa.text("insert into marker values (:attempt)"), {"attempt": attempt})
    engine.dispose()
    assert _table_names(console_database) == ["marker"]


def test_a_postgres_database_is_dropped_after_its_test():
    require(postgres_unreachable_reason() is None, postgres_unreachable_reason() or "")
    with fresh_postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        held_open = psycopg.connect(url)  # a connection a test forgot must not keep its database alive
        held_open.execute("select 1")
    held_open.close()
    with psycopg.connect(postgres_server_url()) as connection:
        assert connection.execute("select count(*) from pg_database where datname = %s", (name,)).fetchone() == (0,)
    assert name.startswith("s24kit_test_")
