"""PostgreSQL pipeline mode for writes nobody reads back: the blob and intake fast path.

An upload's chunk rows would otherwise wait one round trip each. In pipeline mode psycopg sends
a statement without waiting for its answer, so the database stores one row while the next is
encrypted; errors surface when the pipeline ends, as SQLAlchemy errors like any other
statement's. `pipelined` wraps one block; `PipelinedWrites` holds the pipeline open across calls
(the rows of one upload arrive through several worker-thread hops). A rollback, or the pool's
reset, ends a pipeline its holder never ended: no connection is handed out in pipeline mode
(`end_forgotten_pipelines`, installed on every PostgreSQL engine by service.db.make_engine).

On SQLite, which has no round trips, all of this is a no-op. tests/service/test_blob_pipeline.py
proves the pipelined rows are exactly the rows the ORM would write.

Imports psycopg and SQLAlchemy only (service.db imports this module).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

__all__ = ["PipelinedWrites", "end_forgotten_pipelines", "pipelined"]

_OPEN_PIPELINE = "probity.open_pipeline"  # key in the pooled connection's `info`


@contextmanager
def pipelined(session: Session) -> Iterator[None]:
    """Send the block's statements to PostgreSQL without waiting for each one's answer.

    For blocks of writes whose results nobody reads (intake's inserts): one round trip at the
    end instead of one per statement. A no-op on SQLite.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
    try:
        with driver.pipeline():
            yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(
            "(pipelined writes)", None, exc, psycopg.Error, connection_invalidated=driver.closed
        ) from None


class PipelinedWrites:
    """`pipelined` held open across several calls, until `end()`.

    `end()` waits for every statement and raises the first error as a SQLAlchemy error. If the
    holder never gets there (the request failed midway), the rollback ends it, or the pool's
    reset if nobody rolled back.
    """

    def __init__(self, session: Session) -> None:
        self._record: dict[Any, Any] | None = None
        self._block: AbstractContextManager[None] | None = None
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            self._block = pipelined(session)
            self._block.__enter__()
            self._record = connection.connection.info
            self._record[_OPEN_PIPELINE] = self._block

    def end(self) -> None:
        block, self._block = self._block, None
        if block is not None and self._record is not None:
            self._record.pop(_OPEN_PIPELINE, None)
            block.__exit__(None, None, None)


def _end_forgotten_pipeline(info: dict[Any, Any]) -> None:
    block = info.pop(_OPEN_PIPELINE, None)
    if block is not None:
        # Its errors belong to the transaction being rolled back; psycopg leaves pipeline mode
        # whether or not they are raised.
        with suppress(DBAPIError):
            block.__exit__(None, None, None)


def _before_rollback(connection: Connection) -> None:
    if connection.invalidated:
        return  # the connection is gone (its pipeline with it); asking for it would reconnect
    _end_forgotten_pipeline(connection.connection.info)


def _before_pool_reset(
    _dbapi_connection: Any, record: ConnectionPoolEntry, _state: PoolResetState
) -> None:
    _end_forgotten_pipeline(record.info)


def end_forgotten_pipelines(engine: Engine) -> None:
    """End a pipeline left open when its transaction rolls back, or its connection goes back
    to the pool without a rollback."""
    event.listen(engine, "rollback", _before_rollback)  # a request that failed midway
    event.listen(engine, "reset", _before_pool_reset)  # a connection returned without a rollback
