"""GET /api/v1/queue over HTTP: readers only, their audience only, filters, cursor pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Border, tip_json
from tests.staff_util import api_login


def file(web: TestClient, **overrides: object) -> None:
    response = web.post("/api/v1/tips", json=tip_json(**overrides))
    assert response.status_code == 201, response.text


def test_a_reviewer_sees_only_the_tips_of_their_audience(web: TestClient, border: Border) -> None:
    file(web)
    file(web, threat_to_life=True)
    file(web, agency="tijuana-municipal")
    us = web.get("/api/v1/queue", headers=api_login(web, border.reviewer_us))
    assert us.status_code == 200, us.text
    tips = us.json()["tips"]
    assert [t["compartment"] for t in tips] == ["us", "us"]
    assert tips[0]["urgent"]
    assert not tips[1]["urgent"]
    assert set(tips[0]) == {
        "id",
        "short_id",
        "status",
        "urgent",
        "priority",
        "compartment",
        "received_on",
        "ack_due",
        "feedback_due",
        "ack_overdue",
        "feedback_overdue",
        "overdue",
        "assignee",
    }
    assert "Ramirez" not in us.text
    mx = web.get("/api/v1/queue", headers=api_login(web, border.reviewer_mx)).json()["tips"]
    assert [t["compartment"] for t in mx] == ["mx"]
    oversight = web.get("/api/v1/queue", headers=api_login(web, border.oversight))
    assert oversight.json() == {"tips": [], "next_cursor": None}


def test_filters_and_pages_over_http(web: TestClient, border: Border) -> None:
    for n in range(5):
        file(web, threat_to_life=n == 0)
    headers = api_login(web, border.reviewer_us)
    urgent = web.get("/api/v1/queue", params={"urgent": "true"}, headers=headers).json()
    assert len(urgent["tips"]) == 1
    assert (
        web.get("/api/v1/queue", params={"overdue": "true"}, headers=headers).json()["tips"] == []
    )
    assert (
        len(
            web.get(
                "/api/v1/queue?status=received&assignee=none&compartment=us", headers=headers
            ).json()["tips"]
        )
        == 5
    )
    assert web.get("/api/v1/queue?assignee=me", headers=headers).json()["tips"] == []
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = web.get("/api/v1/queue", params=params, headers=headers).json()
        seen += [t["id"] for t in body["tips"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    whole = [t["id"] for t in web.get("/api/v1/queue", headers=headers).json()["tips"]]
    assert seen == whole
    assert len(set(seen)) == 5


def test_bad_queue_parameters_are_clear_4xx(web: TestClient, border: Border) -> None:
    headers = api_login(web, border.reviewer_us)
    for query, status in [
        ("cursor=not-a-cursor", 400),
        ("cursor=MTo1OjIwMjYtMDEtMDE6eHh4", 400),
        ("limit=101", 422),
        ("limit=0", 422),
        ("status=lost", 422),
        ("assignee=somebody", 422),
        ("urgent=perhaps", 422),
    ]:
        response = web.get(f"/api/v1/queue?{query}", headers=headers)
        assert response.status_code == status, (query, response.text)
        assert set(response.json()) == {"error", "detail"}


def test_the_queue_needs_a_reader(web: TestClient, border: Border, engine: object) -> None:
    assert web.get("/api/v1/queue").status_code == 401
    assert web.get("/api/v1/queue", headers={"Authorization": "Bearer nonsense"}).status_code == 401
