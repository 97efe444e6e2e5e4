from __future__ import annotations

import time
from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import (
    PipelinedWrites,
    checkpoint,
    make_engine,
    make_session_factory,
    normalise_url,
    pipelined,
)

insert_many = text("INSERT INTO piped (k, v) VALUES (:k, 'y')")


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


def _table(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE piped (k INTEGER PRIMARY KEY, v VARCHAR(10))"))


def test_pipelined_writes_land_and_commit(empty_engine: Engine) -> None:
    _table(empty_engine)
    with Session(empty_engine) as session:
        with pipelined(session):
            for k in range(5):
                session.execute(text("INSERT INTO piped VALUES (:k, 'x')"), {"k": k})
            session.execute(insert_many, [{"k": k} for k in range(5, 9)])
        session.commit()
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM piped")).scalar() == 9


def _insert_in_pipeline(session: Session, rows: list[tuple[int, str]]) -> None:
    with pipelined(session):
        for k, v in rows:
            session.execute(text("INSERT INTO piped VALUES (:k, :v)"), {"k": k, "v": v})


def test_an_error_in_a_pipelined_block_is_a_sqlalchemy_error_and_nothing_lands(
    empty_engine: Engine,
) -> None:
    _table(empty_engine)
    with Session(empty_engine) as session:
        with pytest.raises(IntegrityError):
            _insert_in_pipeline(session, [(1, "a"), (1, "b"), (2, "c")])  # 1 twice
        session.rollback()
        session.execute(text("INSERT INTO piped VALUES (3, 'd')"))  # the session still works
        session.commit()
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT k FROM piped")).scalars().all() == [3]


def _driver_in_pipeline(session: Session) -> bool:
    driver = session.connection().connection.driver_connection
    return getattr(driver, "_pipeline", None) is not None


@pytest.mark.parametrize("fails", [False, True])
def test_a_pipeline_left_open_is_ended_before_the_connection_is_reused(
    empty_database_url: str, fails: bool
) -> None:
    engine = make_engine(empty_database_url, pool_size=1, max_overflow=0)
    _table(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        writes = PipelinedWrites(session)
        session.execute(text("INSERT INTO piped VALUES (1, 'a')"))
        if fails:  # PostgreSQL: fails unseen until the pipeline syncs; SQLite: at once
            with suppress(IntegrityError):
                session.execute(text("INSERT INTO piped VALUES (1, 'b')"))
        # The request fails here: `end()` is never called.
        del writes
        session.rollback()
    with factory() as session:  # the same (only) connection
        assert not _driver_in_pipeline(session)
        with pytest.raises(IntegrityError):  # errors are immediate again, not deferred
            session.execute(text("INSERT INTO piped VALUES (2, 'x'), (2, 'y')"))
        session.rollback()
        session.execute(text("INSERT INTO piped VALUES (3, 'c')"))
        session.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT k FROM piped")).scalars().all() == [3]
    engine.dispose()


def _write_twice_and_end(session: Session) -> None:
    writes = PipelinedWrites(session)
    session.execute(text("INSERT INTO piped VALUES (1, 'a')"))
    session.execute(text("INSERT INTO piped VALUES (1, 'b')"))  # PostgreSQL: seen only at end()
    writes.end()


def test_pipelined_writes_raise_the_first_error_by_their_end(empty_engine: Engine) -> None:
    _table(empty_engine)
    with Session(empty_engine) as session:
        with pytest.raises(IntegrityError):
            _write_twice_and_end(session)
        session.rollback()
        assert not _driver_in_pipeline(session)


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
