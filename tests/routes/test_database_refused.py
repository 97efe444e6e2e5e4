"""A database that refuses connections (nothing listens on its port): every route that needs it
answers 503 with Retry-After at once (JSON on the API, the error page on pages), never a 500."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routes.app import create_app
from service.config import Settings
from tests.conftest import CHEAP_KDF
from tests.factories import tip_json
from tests.live import free_port

# Well formed (a session id and a 32-byte key), so only the database can say it is not valid.
TOKEN = f"{uuid.uuid4()}.{base64.urlsafe_b64encode(bytes(32)).decode().rstrip('=')}"


@pytest.fixture
def refused(tmp_path: Path) -> Iterator[TestClient]:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/probity"
    settings = Settings(data_dir=tmp_path / "var", database_url=closed, kdf=CHEAP_KDF)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/tips", tip_json()),
        ("GET", "/api/v1/intake/form", None),
        ("POST", "/api/v1/staff/session", {"username": "ana", "password": "x", "totp": "123456"}),
        ("GET", "/api/v1/queue", None),
    ],
)
def test_api_routes_answer_503_json_with_retry_after(
    refused: TestClient, method: str, path: str, body: object
) -> None:
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = refused.request(method, path, json=body, headers=headers)
    assert time.monotonic() - started < 2
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "unavailable"
    assert response.headers["retry-after"].isdigit()


@pytest.mark.parametrize("path", ["/report", "/staff/queue"])
def test_pages_answer_the_503_error_page(refused: TestClient, path: str) -> None:
    refused.cookies.set("probity_staff", TOKEN)
    response = refused.get(path)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"].isdigit()


def test_readyz_says_the_database_is_unreachable(refused: TestClient) -> None:
    response = refused.get("/readyz")
    assert response.status_code == 503
    assert "database unreachable" in response.json()["detail"]
