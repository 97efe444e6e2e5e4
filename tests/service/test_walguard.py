"""The WAL guard on a real SQLite file: truncation, what blocks it, and its limits."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from service.config import WalSettings
from service.db import make_engine
from service.walguard import MIB, WalGuard, truncate_wal, wal_guard


@pytest.fixture
def wal_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}", manual_checkpoints=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (b BLOB)"))
    yield engine
    engine.dispose()


def _guard(engine: Engine) -> WalGuard:
    settings = WalSettings(soft_limit_mib=1, hard_limit_mib=2, checkpoint_wait_ms=50)
    guard = wal_guard(engine, settings)
    assert guard is not None
    return guard


def _write(engine: Engine, mib: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (randomblob(:n))"), {"n": mib * MIB})


def test_truncate_empties_the_wal_and_keeps_every_row_and_pragma(wal_engine: Engine) -> None:
    guard = _guard(wal_engine)
    _write(wal_engine, 3)
    assert guard.over_hard_limit()
    assert truncate_wal(wal_engine, guard)
    assert guard.size() == 0
    with wal_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL, still
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000  # as it was


def test_a_reader_on_an_old_snapshot_holds_the_wal_until_it_ends(wal_engine: Engine) -> None:
    guard = _guard(wal_engine)
    _write(wal_engine, 1)
    reader = sqlite3.connect(str(guard.wal_path).removesuffix("-wal"))
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)
        _write(wal_engine, 2)
        assert not truncate_wal(wal_engine, guard)  # gave up after checkpoint_wait_ms
        assert guard.over_hard_limit()
        # The reader still sees its snapshot, and nothing written is lost.
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        reader.rollback()
        reader.close()
    assert truncate_wal(wal_engine, guard)
    assert guard.size() == 0
    with wal_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2


def test_only_a_sqlite_file_has_a_guard_and_its_hard_limit_is_never_below_the_soft(
    tmp_path: Path,
) -> None:
    settings = WalSettings(soft_limit_mib=8, hard_limit_mib=4)
    file_engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    guard = wal_guard(file_engine, settings)
    assert guard is not None
    assert guard.wal_path == tmp_path / "g.db-wal"
    assert guard.hard_limit == guard.soft_limit == 8 * MIB
    assert guard.size() == 0  # no WAL file yet
    assert wal_guard(make_engine("sqlite://"), settings) is None
    assert wal_guard(make_engine("postgresql://probity@127.0.0.1/none"), settings) is None
    file_engine.dispose()
