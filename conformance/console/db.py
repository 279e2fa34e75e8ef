"""The console's one database layer: SQLAlchemy Core over SQLite (default, in the state directory) or
PostgreSQL (``postgresql://…``, driver psycopg 3), with the schema kept by Alembic revisions run at start-up.

SQLite gets WAL, foreign keys and a busy timeout on every connection, and its file is private to the user
(0600, like every file of the state directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ...simulator.private import private_file, private_state_directory

MIGRATIONS = Path(__file__).with_name("migrations")
DATABASE_FILE = "console.sqlite3"
SQLITE_BUSY_MS = 10_000


class DatabaseError(Exception):
    """The database cannot be used: a bad URL, an unreachable server, a schema newer than this kit."""

    def __init__(self, message_ko: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_ko, self.message_en = message_ko, message_en


@dataclass(frozen=True)
class Database:
    """Where the console keeps its register, and the engine to reach it."""

    url: str
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def now() -> datetime:
    """The time stored in every timestamp column: UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp read back: SQLite returns it without its zone, and it was written in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def default_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / DATABASE_FILE}"


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={SQLITE_BUSY_MS}", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # pysqlite's own transaction handling is off (see open_database), so SQLAlchemy's BEGIN is the only one,
    # and a writer takes the lock at BEGIN instead of failing half-way on a busy database.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def open_database(url: str, *, state_dir: Path | None = None) -> Database:
    """An engine for ``url`` (``sqlite:///…`` or ``postgresql://…``); nothing is created or migrated yet.
    A plain ``postgresql://`` URL uses psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"--database {url!r}: 데이터베이스 URL 이 아닙니다 (sqlite:///파일 또는 "
                            "postgresql://사용자@호스트/이름)",
                            f"--database {url!r}: not a database URL (sqlite:///FILE or "
                            "postgresql://user@host/name)") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10)
    elif backend == "sqlite":
        file = parsed.database
        if not file or file == ":memory:":
            raise DatabaseError("--database: SQLite 는 파일이어야 합니다 (sqlite:///경로)",
                                "--database: SQLite needs a file (sqlite:///PATH)")
        folder = Path(file).parent
        if state_dir is not None and folder.resolve() == state_dir.resolve():
            private_state_directory(folder)
        elif not folder.is_dir():
            raise DatabaseError(f"--database: 폴더 {folder} 가 없습니다", f"--database: folder {folder} does not exist")
        private_file(file)
        engine = create_engine(parsed.set(drivername="sqlite+pysqlite"),
                               connect_args={"check_same_thread": False, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        raise DatabaseError(f"--database: {backend} 는 지원하지 않습니다 (sqlite 또는 postgresql)",
                            f"--database: {backend} is not supported (sqlite or postgresql)")
    return Database(parsed.render_as_string(hide_password=True), engine)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (all revisions by default), in one transaction per run."""
    config = _alembic_config()
    try:
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        found = current_revision(database)
        if found is not None and found not in known:
            raise DatabaseError(f"데이터베이스의 스키마 {found} 는 이 도구보다 새 버전입니다 — s24kit 을 올리십시오",
                                f"the database schema {found} is newer than this kit — upgrade s24kit")
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"데이터베이스 {database.url}을(를) 쓸 수 없습니다: {type(exc).__name__}",
                            f"cannot use the database {database.url}: {type(exc).__name__}: "
                            f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0][:200]}") from None


def prepare(url: str, *, state_dir: Path | None = None) -> Database:
    """:func:`open_database` then :func:`upgrade`: what the console and its workers do at start-up."""
    database = open_database(url, state_dir=state_dir)
    try:
        upgrade(database)
    except DatabaseError:
        database.engine.dispose()  # no connection of a refused database stays open
        raise
    return database
