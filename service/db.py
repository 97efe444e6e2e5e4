"""Engines, sessions and the declarative base for SQLite and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and `synchronous=FULL`, so a commit is on disk when it
returns; PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVarTuple

import psycopg
from sqlalchemy import (
    DateTime,
    Dialect,
    Engine,
    MetaData,
    Result,
    Select,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from service.blobs.pipeline import end_forgotten_pipelines
from service.config import DatabaseSettings
from service.pg_deadline import connect_args, install_deadline, shorter_deadline

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "UTCDateTime",
    "all_metadata",
    "checkpoint",
    "lock_for_write",
    "lock_rows",
    "make_engine",
    "make_session_factory",
    "new_id",
    "normalise_url",
    "session_scope",
    "utcnow",
]

_Ts = TypeVarTuple("_Ts")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both backends (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: use service.db.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def all_metadata() -> MetaData:
    """The metadata with every model registered (what Alembic compares against)."""
    import service.models  # noqa: F401  (registers the tables)

    return Base.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    # Random, never time-ordered: an id must not say when a reporter acted.
    return uuid.uuid4()


def normalise_url(url: str) -> str:
    """Send plain `postgresql://` URLs to psycopg 3 rather than SQLAlchemy's psycopg2 default."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Deleted rows are zeroed, not left in free pages (a purged tip's envelopes and ciphertext).
    cursor.execute("PRAGMA secure_delete=ON")
    # After a checkpoint, shrink the WAL back (a large upload would otherwise leave it large).
    cursor.execute("PRAGMA journal_size_limit=67108864")
    cursor.close()


def _manual_checkpoints(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The committing request would otherwise copy the WAL into the database before answering.
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _private_database_file(path: Path) -> None:
    """Create the database file 0600 in a 0700 directory, whatever the umask: SQLite gives its
    -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(
    url: str,
    *,
    manual_checkpoints: bool = False,
    ping_after_idle: float = 1.0,
    limits: DatabaseSettings | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine for `url`. With `manual_checkpoints` (the server), SQLite leaves WAL
    checkpoints to `checkpoint()`, called in the background, instead of the committing request.
    Durability is the same: every commit still syncs the WAL. PostgreSQL connections that sat
    in the pool longer than `ping_after_idle` seconds are checked before use; with `limits`
    (the server), every PostgreSQL wait is bounded (service.pg_deadline)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_database_file(Path(parsed.database))
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if manual_checkpoints:
            event.listen(engine, "connect", _manual_checkpoints)
        return engine
    if limits is not None:
        kwargs["connect_args"] = {
            **connect_args(limits, parsed.query),
            **kwargs.get("connect_args", {}),
        }
        kwargs.setdefault("pool_timeout", limits.pool_timeout_seconds)
    engine = create_engine(url, **kwargs)
    if limits is not None:
        install_deadline(engine, limits.answer_timeout_seconds)
    _ping_idle_connections(engine, ping_after_idle)
    end_forgotten_pipelines(engine)
    return engine


_IDLE_SINCE = "probity.idle_since"  # key in the pooled connection's `info`
_PING_SECONDS = 1.5  # a ping has no reason to take longer, whatever the answer timeout


def _ping_idle_connections(engine: Engine, after: float) -> None:
    """Like `pool_pre_ping`, but only for connections that sat idle: a database restart is
    noticed before a request uses a dead connection, while a busy server, whose connections
    never rest, spends no round trip per request on it."""

    def checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < after:
            return  # fresh, or just used
        try:
            with shorter_deadline(dbapi_connection, _PING_SECONDS):
                engine.dialect.do_ping(dbapi_connection)
        except psycopg.Error as exc:
            # The pool drops this connection and checks out another (SQLAlchemy's own recipe).
            raise DisconnectionError("idle connection is dead") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def lock_for_write(session: Session) -> None:
    """Hold SQLite's write lock from now until the transaction ends: the one write-lock
    primitive. Safe to call twice, and after the transaction wrote (which holds it already).

    A WAL transaction that reads and later writes fails at once if another writer committed
    in between; starting with BEGIN IMMEDIATE makes it wait its turn instead. PostgreSQL needs
    nothing here: row locks (`lock_rows`) and constraints settle concurrent writers.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    # Pending ORM writes first: BEGIN IMMEDIATE would flush them, opening the transaction
    # under it (SQLite refuses a BEGIN inside one).
    session.flush()
    raw: Any = session.connection().connection.driver_connection
    # The sqlite3 module opens a transaction only at the first write, which takes the lock.
    if not raw.in_transaction:
        session.execute(text("BEGIN IMMEDIATE"))


def lock_rows(session: Session, statement: Select[*_Ts], *, of: Any = None) -> Result[*_Ts]:
    """`statement`'s rows, locked until the transaction ends: the one row-lock helper.

    PostgreSQL: SELECT ... FOR UPDATE (`of`: the tables to lock, for a statement with outer
    joins). SQLite has no row locks: the write lock instead, which covers every row.
    The rows' objects are refreshed from what is read: one the session already held (read
    before the lock) would otherwise keep its old values, e.g. a request decided meanwhile
    still pending."""
    lock_for_write(session)
    locked = statement.with_for_update(of=of).execution_options(populate_existing=True)
    return session.execute(locked)


def checkpoint(engine: Engine) -> None:
    """Copy SQLite's WAL into the database without blocking anyone; a no-op on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
