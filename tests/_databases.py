"""Fresh console databases for tests: a SQLite file, or a new database on the test PostgreSQL server.

The PostgreSQL server is the one `.ci/run` starts (`scripts/start-test-postgres`), reached through
`S24_TEST_POSTGRES_URL` — a role allowed to create databases. Each test gets its own database, created
under a random name and dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

POSTGRES_URL_ENV = "S24_TEST_POSTGRES_URL"
# What scripts/start-test-postgres creates; used when the variable is not set (a developer's machine).
DEFAULT_POSTGRES_URL = "postgresql://s24kit_test:s24kit_test@127.0.0.1:5432/postgres"
DATABASE_PREFIX = "s24kit_test_"


def postgres_server_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


@functools.cache
def postgres_unreachable_reason() -> str | None:
    """None when the test server answers; else why not (asked once per test process)."""
    import psycopg

    url = postgres_server_url()
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as connection:
            connection.execute("select 1")
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"no PostgreSQL test server at {_without_password(url)} ({first_line}); see scripts/start-test-postgres"
    return None


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server; yields its URL (`postgresql://…`) and drops it afterwards."""
    import psycopg
    from psycopg import sql

    server = postgres_server_url()
    name = DATABASE_PREFIX + secrets.token_hex(6)
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield _with_database(server, name)
    finally:
        _drop(server, name)


def _drop(server: str, name: str) -> None:
    """Drop a test database, waiting out an autovacuum worker the role may not end (bounded: 10 s)."""
    import psycopg
    from psycopg import sql

    # FORCE: a test that left a pooled connection open must not keep its database alive.
    statement = sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
    deadline = time.monotonic() + 10
    while True:
        try:
            with psycopg.connect(server, autocommit=True) as connection:
                connection.execute(statement)
            return
        except psycopg.errors.InsufficientPrivilege:
            # A server whose test role lacks pg_signal_backend (scripts/start-test-postgres grants it) refuses
            # to end an autovacuum worker; the worker leaves within moments.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def fresh_sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'console.sqlite3'}"


def _with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path="/" + name).geturl()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()
