"""Database failures at the engine: bounded waits on PostgreSQL (service.pg_deadline), a lost
connection that rolls back cleanly, and which errors mean "unavailable" (service.db_errors)."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import (
    IntegrityError,
    InternalError,
    OperationalError,
    PendingRollbackError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from service.config import DatabaseSettings
from service.db import make_engine
from service.db_errors import unavailable_error
from service.errors import InsufficientStorage, Unavailable
from service.pg_deadline import connect_args
from tests.pg_faults import backend_terminator, faulty_proxy

QUICK = DatabaseSettings(
    connect_timeout_seconds=2,
    statement_timeout_seconds=0.3,
    lock_timeout_seconds=0.3,
    answer_timeout_seconds=0.5,
    pool_timeout_seconds=1,
)


def test_a_stalled_network_fails_the_call_within_the_answer_timeout(empty_pg_url: str) -> None:
    with faulty_proxy(empty_pg_url) as proxy:
        engine = make_engine(proxy.url_for(empty_pg_url), limits=QUICK)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            proxy.stall()  # accepts bytes, forwards nothing, never resets
            started = time.monotonic()
            with pytest.raises(OperationalError, match=r"did not answer within 0\.5 s") as caught:
                conn.execute(text("SELECT 2"))
            assert time.monotonic() - started < 1.5
            assert caught.value.connection_invalidated  # the pool drops it
        proxy.resume()
        with engine.connect() as conn:  # a new connection, no restart
            assert conn.execute(text("SELECT 3")).scalar() == 3
        engine.dispose()


def test_a_slow_statement_is_cancelled_by_the_server_and_its_connection_kept(
    empty_pg_url: str,
) -> None:
    engine = make_engine(empty_pg_url, limits=QUICK, pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with pytest.raises(OperationalError, match="statement timeout") as caught:
            conn.execute(text("SELECT pg_sleep(5)"))
        assert not caught.value.connection_invalidated
        assert isinstance(unavailable_error(caught.value), Unavailable)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid
    engine.dispose()


def test_the_pool_gives_up_after_its_timeout(empty_pg_url: str) -> None:
    engine = make_engine(empty_pg_url, limits=QUICK, pool_size=1, max_overflow=0)
    with engine.connect():
        started = time.monotonic()
        with pytest.raises(PoolTimeout) as caught:
            engine.connect()
        assert time.monotonic() - started < 2
    assert isinstance(unavailable_error(caught.value), Unavailable)
    engine.dispose()


def test_a_session_whose_connection_died_rolls_back_cleanly(empty_pg_url: str) -> None:
    """Not PendingRollbackError from the rollback itself (the pipeline clean-up used to ask an
    invalidated connection for its state, which SQLAlchemy refuses)."""
    engine = make_engine(empty_pg_url, limits=QUICK)
    with Session(engine) as session, backend_terminator(empty_pg_url) as terminate:
        session.execute(text("SELECT 1"))
        terminate()
        with pytest.raises(OperationalError) as caught:
            session.execute(text("SELECT 2"))
        assert caught.value.connection_invalidated
        session.rollback()
        assert session.execute(text("SELECT 3")).scalar() == 3  # a fresh connection
    engine.dispose()


def _dbapi_error(kind: type[OperationalError] | type[IntegrityError], message: str) -> Exception:
    return kind("SELECT 1", {}, Exception(message))


def test_outages_are_unavailable_and_bugs_are_not() -> None:
    assert isinstance(unavailable_error(_dbapi_error(OperationalError, "gone")), Unavailable)
    disk_full = psycopg.errors.DiskFull("could not extend file")  # told by SQLSTATE 53100
    full = unavailable_error(OperationalError("INSERT", {}, disk_full))
    assert isinstance(full, InsufficientStorage)
    assert isinstance(unavailable_error(PendingRollbackError("rolled back")), Unavailable)
    standby = InternalError("INSERT", {}, psycopg.errors.ReadOnlySqlTransaction("read-only"))
    assert isinstance(unavailable_error(standby), Unavailable)  # a failover left us on a standby
    assert unavailable_error(_dbapi_error(IntegrityError, "duplicate key")) is None
    assert unavailable_error(ValueError("x")) is None


def test_connect_args_keep_what_the_url_sets() -> None:
    args = connect_args(QUICK, {"options": "-c search_path=probity", "connect_timeout": "9"})
    assert "connect_timeout" not in args  # the URL's own value is used
    assert args["options"].startswith("-c search_path=probity -c statement_timeout=300 ")
    assert "-c lock_timeout=300" in args["options"]
    assert args["tcp_user_timeout"] == 500
