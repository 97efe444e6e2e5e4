"""Shared fixtures: settings with cheap KDF parameters and a real database per test.

Every database test runs on SQLite (a fresh file) and, when `PROBITY_TEST_DATABASE_URL` points at a
PostgreSQL server, also on a fresh PostgreSQL database created for the test and dropped after it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service.config import KdfSettings, Settings
from service.db import make_engine, normalise_url
from service.migrations import upgrade
from tests.clock import MovableClock
from tests.factories import Border, seed_border
from tests.service.access_util import Cast, World, make_cast, world

PG_ENV = "PROBITY_TEST_DATABASE_URL"
PG_SKIP = (
    f"PostgreSQL tests need {PG_ENV}, e.g. "
    "postgresql://postgres@127.0.0.1:5432/probity_test (.ci/run sets it)"
)
# No 64 MiB disk-full reserve file in every test's data directory (tests/routes/test_disk_full.py
# sets its own); inherited by the servers that tests start.
os.environ["PROBITY_STORAGE_BALLAST_MB"] = "0"
# Cheap Argon2id for tests only; production defaults live in service.config.
CHEAP_KDF = KdfSettings(time_cost=1, memory_kib=64, lanes=1, recovery_work_factor=10)


def _pg_base() -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    return base


@contextmanager
def _pg_database(base: str, template: str | None = None) -> Iterator[str]:
    url = make_url(normalise_url(base))
    name = f"probity_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    clause = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated to head once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    base = _pg_base()
    with _pg_database(base) as url:
        _migrate(url)
        yield make_url(url).database or ""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest schema, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "probity.db")
        yield f"sqlite:///{tmp_path / 'probity.db'}"
        return
    pg_template = request.getfixturevalue("pg_template")
    with _pg_database(_pg_base(), pg_template) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no schema at all (for migration and readiness tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with _pg_database(_pg_base()) as url:
        yield url


@pytest.fixture
def pg_database_url(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database at the newest schema, for faults only a server has."""
    with _pg_database(_pg_base(), pg_template) as url:
        yield url


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, for what only a database server can do."""
    with _pg_database(_pg_base()) as url:
        yield url


@pytest.fixture
def empty_engine(empty_database_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "var", database_url=database_url, kdf=CHEAP_KDF, clock=MovableClock()
    )


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
    monkeypatch.setenv("PROBITY_KDF__RECOVERY_WORK_FACTOR", str(CHEAP_KDF.recovery_work_factor))
    return settings


@pytest.fixture
def border(engine: Engine, settings: Settings) -> Border:
    """An initialised instance on both backends, with agencies and staff on both sides."""
    return seed_border(engine, settings)


@pytest.fixture
def w(engine: Engine, settings: Settings, border: Border) -> World:
    """The border instance with two members in no compartment yet and two tips (access changes)."""
    return world(engine, settings, border)


@pytest.fixture
def cast(engine: Engine, settings: Settings, w: World) -> Cast:
    """That world with enough supervisors for every four-eyes decision on conflicts."""
    return make_cast(engine, settings, w)
