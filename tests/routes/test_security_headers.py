"""Every response of every zone carries the hardening headers, checked on real responses against
the policy spelled out here: a change to the policy is a security review, not a refactor."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine

from service.config import Settings
from service.staff.models import Role
from tests.factories import Border, add_staff, tip_json
from tests.staff_util import api_login, page_login

EXPECTED = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")


def assert_hardened(response: Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get_list(name) == [value], (response.url, name)
    features = response.headers["permissions-policy"].split(", ")
    assert all(feature.endswith("=()") for feature in features), features
    assert {f"{feature}=()" for feature in DENIED_FEATURES} <= set(features)
    assert "server" not in response.headers


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/?lang=es", 200),
        ("/staff/queue", 303),  # anonymous: to the sign-in page
        ("/audit", 303),
        ("/healthz", 200),
        ("/readyz", 503),
        ("/openapi.json", 200),
        ("/api/v1/intake/form", 503),  # no instance initialised
        ("/api/v1/staff/me", 401),
        ("/api/v1/audit/checkpoint", 401),
        ("/api/v1/does-not-exist", 404),
        ("/does-not-exist", 404),
        ("/static/style.css", 200),
        ("/static/missing.css", 404),
    ],
)
def test_every_anonymous_response_is_hardened(client: TestClient, path: str, status: int) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == status
    assert_hardened(response)


def test_reporter_zone_responses_are_hardened(web: TestClient) -> None:
    filed = web.post("/api/v1/tips", json=tip_json())
    assert filed.status_code == 201
    assert_hardened(filed)
    signed_in = web.post("/api/v1/reporter/session", json={"receipt": filed.json()["receipt"]})
    assert signed_in.status_code in (200, 201), signed_in.text
    assert_hardened(signed_in)
    token = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    pages = (web.get("/report"), web.get("/status"), web.get("/staff/login"))
    for response in (web.get("/api/v1/reporter/tip", headers=token), *pages):
        assert response.status_code == 200
        assert_hardened(response)


def test_staff_zone_responses_are_hardened(web: TestClient, border: Border) -> None:
    headers = api_login(web, border.reviewer_us)
    for response in (
        web.get("/api/v1/staff/me", headers=headers),
        web.get("/api/v1/queue", headers=headers),
    ):
        assert response.status_code == 200
        assert_hardened(response)
    page_login(web, border.reviewer_us)
    for path, status in (("/staff/queue", 200), ("/staff/password", 200), ("/audit", 403)):
        response = web.get(path, follow_redirects=False)
        assert response.status_code == status, path
        assert_hardened(response)


def test_audit_and_admin_zone_responses_are_hardened(
    web: TestClient, engine: Engine, settings: Settings
) -> None:
    auditor = add_staff(engine, settings, "audrey", Role.AUDITOR, [])
    admin = add_staff(engine, settings, "adam", Role.ADMIN, [])
    headers = api_login(web, auditor)
    response = web.get("/api/v1/audit/checkpoint", headers=headers)
    assert response.status_code == 200
    assert_hardened(response)
    for who, path in ((auditor, "/audit"), (admin, "/staff/admin")):
        page_login(web, who)
        response = web.get(path)
        assert response.status_code == 200, path
        assert_hardened(response)


def test_method_not_allowed_is_hardened(client: TestClient) -> None:
    response = client.post("/")
    assert response.status_code == 405
    assert_hardened(response)


def _boom() -> None:
    raise RuntimeError("kaboom")


def _leaky() -> PlainTextResponse:
    return PlainTextResponse("x", headers={"Server": "leaky/1.0", "Cache-Control": "max-age=60"})


def test_unexpected_errors_are_hardened(app: FastAPI) -> None:
    app.add_api_route("/api/v1/boom", _boom)
    app.add_api_route("/boom", _boom)
    with TestClient(app) as client:
        for path in ("/api/v1/boom", "/boom"):
            response = client.get(path)
            assert response.status_code == 500
            assert_hardened(response)


def test_a_server_header_or_caching_set_by_a_handler_is_replaced(app: FastAPI) -> None:
    app.add_api_route("/api/v1/leaky", _leaky)
    with TestClient(app) as client:
        response = client.get("/api/v1/leaky")
    assert_hardened(response)
