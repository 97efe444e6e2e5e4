"""Control characters in text: a clear 422 naming the field, never a 500 (PostgreSQL refuses NUL
in text with a DataError) and never a stored value."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Border, tip_json
from tests.staff_util import api_login


def test_nul_in_staff_username_is_a_422_naming_the_field(web: TestClient) -> None:
    body = {"username": "ana\x00", "password": "x" * 12, "totp": "123456"}
    response = web.post("/api/v1/staff/session", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert "username" in response.json()["detail"]


def test_nul_in_tip_agency_is_a_422(web: TestClient) -> None:
    response = web.post("/api/v1/tips", json=tip_json(agency="us-cbp\x00"))
    assert response.status_code == 422, response.text
    assert "agency" in response.json()["detail"]


def test_newline_in_a_single_line_field_is_refused_but_kept_in_the_narrative(
    web: TestClient,
) -> None:
    narrative = "Line one of what happened.\r\n\tLine two, indented, of what happened."
    assert web.post("/api/v1/tips", json=tip_json(narrative=narrative)).status_code == 201
    subject = {"name": "Juan\nPerez"}
    response = web.post("/api/v1/tips", json=tip_json(subjects=[subject]))
    assert response.status_code == 422, response.text
    assert "subjects.0.name" in response.json()["detail"]


def test_nul_in_the_queue_filter_is_a_422(web: TestClient, border: Border) -> None:
    headers = api_login(web, border.reviewer_us)
    response = web.get("/api/v1/queue?compartment=%00", headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"


def test_nul_in_the_staff_login_page_is_a_422(web: TestClient) -> None:
    response = web.post("/staff/login", data={"username": "a\x00", "password": "p", "csrf": "x"})
    assert response.status_code == 422, response.text
