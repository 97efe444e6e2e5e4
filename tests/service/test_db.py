from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from service.config import Settings
from service.db import checkpoint, lock_for_write, lock_rows, make_engine, normalise_url


def test_sqlite_runs_wal_with_foreign_keys_and_full_sync(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'p.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    engine.dispose()


def test_default_database_is_sqlite_under_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROBITY_DATABASE_URL", raising=False)
    monkeypatch.setenv("PROBITY_DATA_DIR", str(tmp_path / "d"))
    settings = Settings()
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'd' / 'probity.db')}"
    assert settings.effective_keys_dir == tmp_path / "d" / "keys"


def test_nested_kdf_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBITY_KDF__TIME_COST", "7")
    assert Settings().kdf.time_cost == 7


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_manual_checkpoints_leave_the_wal_to_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{path}", manual_checkpoints=True)
    with engine.begin() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        conn.execute(text("CREATE TABLE t (b BLOB)"))
    before = path.stat().st_size
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (randomblob(4194304))"))
    assert path.stat().st_size == before  # committed, durable in the WAL, not yet copied
    checkpoint(engine)
    assert path.stat().st_size >= before + (4 << 20)
    engine.dispose()


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "locked"
    k: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


def _kept_out(engine: Engine) -> bool:
    """Whether another connection is kept, right now, from writing row 1 of `locked`."""
    with engine.connect() as other:
        try:
            if engine.dialect.name == "sqlite":
                other.exec_driver_sql("PRAGMA busy_timeout=0")
                other.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                other.execute(text("SELECT k FROM locked WHERE k = 1 FOR UPDATE NOWAIT"))
        except OperationalError:
            return True
        other.rollback()
    return False


def test_the_write_lock_and_row_locks_are_safe_to_take_twice(empty_engine: Engine) -> None:
    _Base.metadata.create_all(empty_engine)
    with Session(empty_engine) as session:
        session.add(_Row(k=1))
        session.commit()
    with Session(empty_engine) as session:
        lock_for_write(session)
        lock_for_write(session)
        session.add(_Row(k=2))  # pending: the lock flushes it rather than BEGIN under it
        lock_for_write(session)
        first = lock_rows(session, select(_Row).where(_Row.k == 1)).scalar_one()
        again = lock_rows(session, select(_Row).where(_Row.k == 1)).scalar_one()
        assert first is again
        assert _kept_out(empty_engine)
        session.commit()
    assert not _kept_out(empty_engine)  # released with the transaction
    with Session(empty_engine) as session:
        assert session.scalars(select(_Row.k).order_by(_Row.k)).all() == [1, 2]


def _kill_backends(engine: Engine) -> None:
    admin = create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (engine.url.database,),
        )
    admin.dispose()


def test_a_dead_idle_connection_is_replaced_before_a_request_uses_it(empty_pg_url: str) -> None:
    engine = make_engine(empty_pg_url, pool_size=1, max_overflow=0, ping_after_idle=0.05)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    _kill_backends(engine)  # e.g. the database restarted while the pool was idle
    time.sleep(0.1)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert after != before
    engine.dispose()
