"""HTTP-layer fixtures: an app on a fresh SQLite file, and a client that runs its lifespan."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from routes.app import create_app
from service.config import Settings
from tests.clock import MovableClock
from tests.factories import Border, submit
from tests.routes.export_util import export_team  # noqa: F401 - a fixture of the export tests
from tests.staff_util import page_login


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    # database_url="" wins over any PROBITY_DATABASE_URL in the environment: always the tmp file.
    return Settings(data_dir=tmp_path, database_url="", clock=MovableClock())


@pytest.fixture
def app(app_settings: Settings) -> FastAPI:
    return create_app(app_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def web(settings: Settings, border: Border) -> Iterator[TestClient]:
    """A client of the app on the seeded instance (lifespan running)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def ana_tip(web: TestClient, engine: Engine, settings: Settings, border: Border) -> uuid.UUID:
    """A tip filed through intake, with ana (a US reviewer, so one of its readers) signed in on
    `web`'s pages."""
    tip_id, _ = submit(engine, settings)
    page_login(web, border.reviewer_us)
    return tip_id
