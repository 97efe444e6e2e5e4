"""No single person ends a tip, over real HTTP on both backends (issue 10): the review's exact
sequence, oversight deciding when nobody else can, a reporter contesting the closure, and
oversight asking for a reroute of the contested tip."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select

from service.approvals.models import Approval
from service.audit.models import PendingAuditEntry
from service.config import Settings
from service.db import make_session_factory
from service.staff.models import Role
from service.tips.models import Message
from tests.factories import Border, StaffHandle, add_staff, submit, tip_row
from tests.staff_util import api_login

MX = {"agency": "tijuana-municipal"}


def _move(web: TestClient, who: dict[str, str], tip_id: uuid.UUID, **body: object) -> Response:
    return web.post(f"/api/v1/tips/{tip_id}/transitions", json=body, headers=who)


def _decide(web: TestClient, who: dict[str, str], approval_id: str, approve: bool = True) -> Any:
    return web.post(
        f"/api/v1/approvals/{approval_id}/decision", json={"approve": approve}, headers=who
    )


def _reporter(web: TestClient, receipt: str) -> dict[str, str]:
    token = web.post("/api/v1/reporter/session", json={"receipt": receipt}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _closed(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> tuple[uuid.UUID, str]:
    """A US tip closed as spam the only way there is now: asked by ana, approved by sam."""
    tip_id, receipt = submit(engine, settings)
    ana, sam = api_login(web, border.reviewer_us), api_login(web, border.supervisor_us)
    assert _move(web, ana, tip_id, to="triage").status_code == 200
    asked = _move(web, ana, tip_id, to="closed", reason="spam")
    assert _decide(web, sam, asked.json()["approval_id"]).status_code == 200
    return tip_id, receipt


@pytest.fixture
def otto(engine: Engine, settings: Settings, border: Border) -> StaffHandle:
    return add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"])


def test_received_triage_closed_spam_is_202_and_the_tip_stays_open_until_approved(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, receipt = submit(engine, settings)
    ana, sam = api_login(web, border.reviewer_us), api_login(web, border.supervisor_us)
    assert _move(web, ana, tip_id, to="triage").status_code == 200
    asked = _move(web, ana, tip_id, to="closed", reason="spam")
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "triage"
    approval_id = asked.json()["approval_id"]
    assert tip_row(engine, tip_id).status == "triage"
    seen = web.get("/api/v1/reporter/tip", headers=_reporter(web, receipt)).json()
    assert seen["status"] != "closed"
    assert _decide(web, ana, approval_id).status_code == 403  # reviewers never decide
    assert _decide(web, sam, approval_id).status_code == 200
    closed = tip_row(engine, tip_id)
    assert (closed.status, closed.closure_reason) == ("closed", "spam")


def test_a_supervisor_cannot_approve_the_closure_they_asked_for(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, _ = submit(engine, settings)
    sam = api_login(web, border.supervisor_us)
    assert _move(web, sam, tip_id, to="triage").status_code == 200
    approval_id = _move(web, sam, tip_id, to="closed", reason="spam").json()["approval_id"]
    assert web.get("/api/v1/approvals", headers=sam).json()["approvals"] == []
    assert _decide(web, sam, approval_id).status_code == 403
    assert tip_row(engine, tip_id).status == "triage"


def test_oversight_decides_content_free_when_nobody_else_can(
    web: TestClient, engine: Engine, settings: Settings, border: Border, otto: StaffHandle
) -> None:
    tip_id, _ = submit(engine, settings, **MX)  # mx: reviewer luis, no supervisor
    luis, over = api_login(web, border.reviewer_mx), api_login(web, otto)
    assert _move(web, luis, tip_id, to="triage").status_code == 200
    approval_id = _move(web, luis, tip_id, to="closed", reason="spam").json()["approval_id"]
    [item] = web.get("/api/v1/approvals", headers=over).json()["approvals"]
    assert (item["id"], item["decider"], item["payload"]) == (
        approval_id,
        "oversight",
        {"reason": "spam"},
    )
    assert web.get(f"/api/v1/tips/{tip_id}", headers=over).status_code == 404
    assert _decide(web, over, approval_id).status_code == 200
    assert tip_row(engine, tip_id).status == "closed"
    assert web.get(f"/api/v1/tips/{tip_id}", headers=over).status_code == 404


def test_a_reporter_contests_a_closure_once_with_a_message(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, receipt = _closed(web, engine, settings, border)
    me = _reporter(web, receipt)
    before = _pending_entries(engine)
    answer = web.post("/api/v1/reporter/contest", json={"message": "It was not spam."}, headers=me)
    assert answer.status_code == 200, answer.text
    tip = tip_row(engine, tip_id)
    assert tip.contested_on is not None
    assert tip.status == "closed"
    assert _pending_entries(engine) - before == {"tip.contested", "message.from_reporter"}
    view = web.get("/api/v1/reporter/tip", headers=me).json()
    assert view["contested_on"] == tip.contested_on.isoformat()
    assert [m["body"] for m in view["messages"]] == ["It was not spam."]
    again = web.post("/api/v1/reporter/contest", json={"message": "Again"}, headers=me)
    assert (again.status_code, again.json()["error"]) == (409, "already_contested")
    assert _messages(engine, tip_id) == 1


def test_contesting_an_open_tip_or_without_a_session_or_badly_changes_nothing(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, receipt = submit(engine, settings)
    me = _reporter(web, receipt)
    refused = web.post("/api/v1/reporter/contest", json={"message": "Hello"}, headers=me)
    assert (refused.status_code, refused.json()["error"]) == (409, "not_closed")
    assert web.post("/api/v1/reporter/contest", json={}).status_code == 401
    forged = {"Authorization": "Bearer not-a-token"}
    assert web.post("/api/v1/reporter/contest", json={}, headers=forged).status_code == 401
    closed_id, closed_receipt = _closed(web, engine, settings, border)
    mine = _reporter(web, closed_receipt)
    for bad in ({"message": "x" * 20_001}, {"note": "x"}, {"message": 3}):
        assert web.post("/api/v1/reporter/contest", json=bad, headers=mine).status_code == 422
    assert (
        web.post(
            "/api/v1/reporter/contest", json={"message": "x" * 10_001}, headers=mine
        ).status_code
        == 422
    )
    for tip in (tip_id, closed_id):
        assert tip_row(engine, tip).contested_on is None
        assert _messages(engine, tip) == 0
    assert web.post("/api/v1/reporter/contest", headers=mine).status_code == 200  # no body: fine


def test_oversight_lists_contested_tips_and_asks_for_a_reroute_an_audience_supervisor_approves(
    web: TestClient, engine: Engine, settings: Settings, border: Border, otto: StaffHandle
) -> None:
    tip_id, receipt = _closed(web, engine, settings, border)
    over, sam = api_login(web, otto), api_login(web, border.supervisor_us)
    assert web.get("/api/v1/approvals/contested", headers=over).json()["tips"] == []
    web.post("/api/v1/reporter/contest", json={}, headers=_reporter(web, receipt))
    [row] = web.get("/api/v1/approvals/contested", headers=over).json()["tips"]
    assert row["tip_id"] == str(tip_id)
    assert (row["compartment"], row["closure_reason"]) == ("us", "spam")
    assert row["reroute_pending"] is False
    assert set(row) == {
        "tip_id",
        "compartment",
        "closure_reason",
        "closed_on",
        "contested_on",
        "in_oversight",
        "reroute_pending",
    }
    assert web.get("/api/v1/approvals/contested", headers=sam).status_code == 403
    assert web.post(f"/api/v1/approvals/contested/{tip_id}/reroute", headers=sam).status_code == 403
    asked = web.post(f"/api/v1/approvals/contested/{tip_id}/reroute", headers=over)
    assert asked.status_code == 202, asked.text
    again = web.post(f"/api/v1/approvals/contested/{tip_id}/reroute", headers=over)
    assert again.status_code == 409
    [waiting] = web.get("/api/v1/approvals", headers=sam).json()["approvals"]
    assert (waiting["kind"], waiting["payload"]["compartment"]) == ("reroute", "oversight")
    assert _decide(web, sam, asked.json()["approval_id"]).status_code == 200
    rerouted = web.get(f"/api/v1/tips/{tip_id}", headers=over)
    assert rerouted.status_code == 200
    assert rerouted.json()["contested_on"] == row["contested_on"]
    [row] = web.get("/api/v1/approvals/contested", headers=over).json()["tips"]
    assert row["in_oversight"] is True


def test_only_contested_tips_can_be_rerouted_by_oversight(
    web: TestClient, engine: Engine, settings: Settings, border: Border, otto: StaffHandle
) -> None:
    tip_id, _ = _closed(web, engine, settings, border)
    over = api_login(web, otto)
    for target in (str(tip_id), str(uuid.uuid4()), "not-an-id"):
        response = web.post(f"/api/v1/approvals/contested/{target}/reroute", headers=over)
        assert response.status_code == 404
    with make_session_factory(engine)() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Approval).where(Approval.kind == "reroute")
            )
            == 0
        )


def _pending_entries(engine: Engine) -> set[str]:
    with make_session_factory(engine)() as session:
        return set(session.scalars(select(PendingAuditEntry.action)))


def _messages(engine: Engine, tip_id: uuid.UUID) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).where(Message.tip_id == tip_id)) or 0
