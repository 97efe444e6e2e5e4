"""Shared fixtures: settings with cheap KDF parameters and a real database per test.

Every database test runs on SQLite (a fresh file) and, when `PROBITY_TEST_DATABASE_URL` points at a
PostgreSQL server, also on a fresh PostgreSQL database created for the test and dropped after it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service.config import KdfSettings, Settings
from service.db import make_engine, normalise_url

PG_ENV = "PROBITY_TEST_DATABASE_URL"
PG_SKIP = (
    f"PostgreSQL tests need {PG_ENV}, e.g. "
    "postgresql://postgres@127.0.0.1:5432/probity_test (.ci/run sets it)"
)
# Cheap Argon2id for tests only; production defaults live in service.config.
CHEAP_KDF = KdfSettings(time_cost=1, memory_kib=64, lanes=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'probity.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    yield from _fresh_pg_database(base)


def _fresh_pg_database(base: str) -> Iterator[str]:
    url = make_url(normalise_url(base))
    name = f"probity_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "var", database_url=database_url, kdf=CHEAP_KDF)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.effective_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cheap_kdf_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    """The same settings, exported as PROBITY_* variables for code that reads the environment."""
    monkeypatch.setenv("PROBITY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PROBITY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PROBITY_KDF__TIME_COST", str(CHEAP_KDF.time_cost))
    monkeypatch.setenv("PROBITY_KDF__MEMORY_KIB", str(CHEAP_KDF.memory_kib))
    monkeypatch.setenv("PROBITY_KDF__LANES", str(CHEAP_KDF.lanes))
    return settings
