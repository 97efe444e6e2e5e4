from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from httpx2 import Response

from routes.security import SECURITY_HEADERS

# The policy as specified; a change here is a security review, not a refactor.
EXPECTED_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def assert_hardened(response: Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["content-security-policy"] == EXPECTED_CSP
    assert "server" not in response.headers
    assert len(response.headers.get_list("cache-control")) == 1


def test_headers_say_what_the_brief_says() -> None:
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"
    assert SECURITY_HEADERS["Cache-Control"] == "no-store"
    assert "script-src" not in SECURITY_HEADERS["Content-Security-Policy"]
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in SECURITY_HEADERS["Permissions-Policy"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/?lang=es", 200),
        ("/healthz", 200),
        ("/readyz", 503),
        ("/openapi.json", 200),
        ("/api/v1/does-not-exist", 404),
        ("/does-not-exist", 404),
        ("/static/style.css", 200),
        ("/static/missing.css", 404),
    ],
)
def test_every_response_is_hardened(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert_hardened(response)


def test_method_not_allowed_is_hardened(client: TestClient) -> None:
    response = client.post("/")
    assert response.status_code == 405
    assert_hardened(response)


def test_unexpected_errors_are_hardened(app: FastAPI) -> None:
    def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/api/v1/boom", boom)
    app.add_api_route("/boom", boom)
    with TestClient(app) as client:
        for path in ("/api/v1/boom", "/boom"):
            response = client.get(path)
            assert response.status_code == 500
            assert_hardened(response)


def test_a_server_header_set_by_a_handler_is_dropped(app: FastAPI) -> None:
    def leaky() -> PlainTextResponse:
        return PlainTextResponse(
            "x", headers={"Server": "leaky/1.0", "Cache-Control": "max-age=60"}
        )

    app.add_api_route("/api/v1/leaky", leaky)
    with TestClient(app) as client:
        response = client.get("/api/v1/leaky")
    assert_hardened(response)
    assert response.headers["cache-control"] == "no-store"
