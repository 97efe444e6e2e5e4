from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from routes.app import create_app
from service.config import Settings


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_does_not_need_the_database(tmp_path: Path) -> None:
    # Nothing listens on port 1: any database access would fail.
    settings = Settings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"error": "not_ready", "detail": "database unreachable"}


def test_readyz_is_503_with_a_reason_on_an_uninitialised_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert isinstance(body["detail"], str)
    assert body["detail"]


def test_nothing_connects_before_startup_and_the_lifespan_fills_app_state(
    app_settings: Settings,
) -> None:
    app = create_app(app_settings)
    database = app_settings.data_dir / "probity.db"
    assert not database.exists()
    assert not hasattr(app.state, "engine")
    with TestClient(app) as client:
        assert isinstance(app.state.engine, Engine)
        assert isinstance(app.state.session_factory, sessionmaker)
        assert app.state.settings is app_settings
        client.get("/readyz")
    assert database.exists()


def test_the_factory_reads_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBITY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PROBITY_DATABASE_URL", raising=False)
    app: FastAPI = create_app()
    assert app.state.settings.data_dir == tmp_path


def test_readyz_is_200_once_initialised_and_503_when_a_key_file_goes(
    engine: Engine, settings: Settings
) -> None:
    from service.instance.keys import BLIND_INDEX_FILE
    from tests.factories import init_instance

    init_instance(engine, settings)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        (settings.effective_keys_dir / BLIND_INDEX_FILE).unlink()
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "key files" in response.json()["detail"]
