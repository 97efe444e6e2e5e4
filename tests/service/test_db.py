from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from service.config import Settings
from service.db import make_engine, normalise_url


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
