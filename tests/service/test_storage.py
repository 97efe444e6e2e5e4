"""service.storage: which database errors mean a full disk, and what a request answers with."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from service.config import Settings
from service.db_errors import unavailable_error
from service.errors import InsufficientStorage, Unavailable
from service.storage import StorageWatch, is_storage_full


def _sqlite_error(tmp_path: Path, *statements: str) -> OperationalError:
    engine = create_engine(f"sqlite:///{tmp_path / 'small.db'}")
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    except OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    pytest.fail("no error")


def test_sqlite_full_is_507_and_its_message_says_come_back_later(tmp_path: Path) -> None:
    exc = _sqlite_error(
        tmp_path,
        "CREATE TABLE t (x BLOB)",
        "PRAGMA max_page_count = 3",
        "INSERT INTO t VALUES (zeroblob(100000))",
    )
    assert is_storage_full(exc)
    error = unavailable_error(exc)
    assert isinstance(error, InsufficientStorage)
    assert error.status == 507
    assert "try again later" in error.detail


def test_postgresql_disk_full_53100_is_507() -> None:
    orig = psycopg.errors.DiskFull("could not extend file: No space left on device")
    exc = OperationalError("INSERT INTO blob_chunks ...", {}, orig)
    assert isinstance(unavailable_error(exc), InsufficientStorage)


def test_a_lock_wait_is_503_busy_unless_the_disk_is_known_full(tmp_path: Path) -> None:
    exc = OperationalError("BEGIN IMMEDIATE", {}, _locked(tmp_path))
    error = unavailable_error(exc)
    assert isinstance(error, Unavailable)
    assert "busy" in error.detail
    engine = create_engine(f"sqlite:///{tmp_path / 'watched.db'}")
    watch = StorageWatch(engine, Settings(data_dir=tmp_path))
    watch.note_full()
    # Behind a writer that failed for lack of space, the wait is the full disk's doing.
    assert watch.explains(exc)
    engine.dispose()


def _locked(tmp_path: Path) -> Exception:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        waiter.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        waiter.close()
        holder.close()
    pytest.fail("no lock error")


def test_message_text_alone_never_means_a_full_disk() -> None:
    # A PostgreSQL error can quote what a client sent: only SQLSTATE 53100 counts.
    orig = psycopg.errors.RaiseException("database or disk is full (locked)")
    exc = OperationalError("SELECT ...", {}, orig)
    assert not is_storage_full(exc)
    error = unavailable_error(exc)
    assert isinstance(error, Unavailable)
    assert "busy" not in error.detail
