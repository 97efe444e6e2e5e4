"""The workflow and approvals API over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, select

from service.approvals.models import Approval
from service.config import Settings
from service.db import make_session_factory
from service.retention.sweep import purge_job
from service.staff.models import Role
from service.tips.models import Envelope, Note
from tests.factories import (
    REFERRAL_RECIPIENT,
    Border,
    StaffHandle,
    add_conflict,
    add_staff,
    submit,
    tip_row,
)
from tests.service.workflow_util import actions
from tests.staff_util import api_login

FINDINGS = {"bribery": "sustained", "leaking": "unfounded"}
ASK = "Which night was it?"
EXPORT = {"kind": "export", "recipient": REFERRAL_RECIPIENT}


@dataclass(frozen=True)
class Team:
    ana: dict[str, str]  # reviewer, us
    sam: dict[str, str]  # supervisor, us
    sue: dict[str, str]  # supervisor, us
    carl: dict[str, str]  # reviewer, us, conflicted with the tip's subject
    carl_id: uuid.UUID


@pytest.fixture
def staff(engine: Engine, settings: Settings, border: Border) -> dict[str, StaffHandle]:
    sue = add_staff(engine, settings, "sue", Role.SUPERVISOR, ["us"])
    carl = add_staff(engine, settings, "carl", Role.REVIEWER, ["us"])
    add_conflict(engine, settings, carl.id, "name", "Juan Ramírez")
    return {"ana": border.reviewer_us, "sam": border.supervisor_us, "sue": sue, "carl": carl}


def _team(web: TestClient, staff: dict[str, StaffHandle]) -> Team:
    headers = {name: api_login(web, who) for name, who in staff.items()}
    return Team(headers["ana"], headers["sam"], headers["sue"], headers["carl"], staff["carl"].id)


def _reporter(web: TestClient, receipt: str) -> dict[str, object]:
    token = web.post("/api/v1/reporter/session", json={"receipt": receipt}).json()["token"]
    tip = web.get("/api/v1/reporter/tip", headers={"Authorization": f"Bearer {token}"})
    assert tip.status_code == 200
    body: dict[str, object] = tip.json()
    return body


def _move(web: TestClient, who: dict[str, str], tip_id: uuid.UUID, **body: object) -> Response:
    return web.post(f"/api/v1/tips/{tip_id}/transitions", json=body, headers=who)


def test_a_tip_goes_from_triage_to_closed_with_four_eyes(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, receipt = submit(engine, settings)
    assert _reporter(web, receipt)["status"] == "received"
    response = _move(web, team.ana, tip_id, to="triage")
    assert response.status_code == 200
    assert response.json() == {"outcome": "applied", "status": "triage"}
    assert _reporter(web, receipt)["status"] == "acknowledged"
    for step in ("investigating", "decision_review"):
        assert _move(web, team.ana, tip_id, to=step).status_code == 200
    asked = _move(web, team.ana, tip_id, to="closed", findings=FINDINGS)
    assert asked.status_code == 202, asked.text
    approval_id = asked.json()["approval_id"]
    assert asked.json()["status"] == "decision_review"

    listed = web.get("/api/v1/approvals", headers=team.sam)
    assert listed.status_code == 200
    [item] = listed.json()["approvals"]
    assert (item["id"], item["tip_id"], item["kind"], item["requested_by"]) == (
        approval_id,
        str(tip_id),
        "close_with_findings",
        "ana",
    )
    assert item["payload"] == {"findings": FINDINGS}
    decided = web.post(
        f"/api/v1/approvals/{approval_id}/decision", json={"approve": True}, headers=team.sam
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    assert tip_row(engine, tip_id).status == "closed"
    assert _reporter(web, receipt)["status"] == "closed"
    again = web.post(
        f"/api/v1/approvals/{approval_id}/decision", json={"approve": False}, headers=team.sue
    )
    assert again.status_code == 409
    assert web.get("/api/v1/approvals", headers=team.sue).json() == {"approvals": []}
    assert actions(engine, tip_id)[-3:] == [
        "approval.requested",
        "approval.decided",
        "tip.transitioned",
    ]


def test_illegal_transition_is_409_and_changes_nothing(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, _ = submit(engine, settings)
    for to in ("closed", "investigating", "decision_review", "received"):
        response = _move(web, team.ana, tip_id, to=to, reason="spam")
        assert response.status_code == 409
        assert response.json()["error"] == "invalid_transition"
    assert tip_row(engine, tip_id).status == "received"
    assert actions(engine, tip_id) == []


def test_needs_info_needs_a_message_which_the_reporter_reads(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, receipt = submit(engine, settings)
    _move(web, team.ana, tip_id, to="triage")
    assert _move(web, team.ana, tip_id, to="needs_info").status_code == 422
    assert _move(web, team.ana, tip_id, to="needs_info", message=ASK).status_code == 200
    messages = _reporter(web, receipt)["messages"]
    assert [m["body"] for m in messages] == [ASK]  # type: ignore[attr-defined]
    sent = web.post(f"/api/v1/tips/{tip_id}/messages", json={"body": "Thanks"}, headers=team.sam)
    assert sent.status_code == 201
    assert len(_reporter(web, receipt)["messages"]) == 2  # type: ignore[arg-type]


def test_only_another_supervisor_decides(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, _ = submit(engine, settings)
    asked = web.post(
        f"/api/v1/tips/{tip_id}/approvals",
        json=EXPORT,
        headers=team.sam,
    )
    assert asked.status_code == 202, asked.text
    url = f"/api/v1/approvals/{asked.json()['approval_id']}/decision"
    own = web.post(url, json={"approve": True}, headers=team.sam)
    assert own.status_code == 403
    assert own.json()["detail"] == "you cannot approve your own request"
    assert web.post(url, json={"approve": True}, headers=team.ana).status_code == 403
    assert web.get("/api/v1/approvals", headers=team.ana).status_code == 403
    done = web.post(url, json={"approve": True, "reason": "Prosecutor asked"}, headers=team.sue)
    assert done.status_code == 200
    assert "probity export" in done.json()["detail"]


def test_purge_is_refused_under_legal_hold_and_shreds_keys_once_approved(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, _ = submit(engine, settings)
    hold = web.post(f"/api/v1/tips/{tip_id}/flags", json={"legal_hold": True}, headers=team.ana)
    assert hold.json() == {"urgent": False, "legal_hold": True}
    refused = web.post(f"/api/v1/tips/{tip_id}/approvals", json={"kind": "purge"}, headers=team.ana)
    assert refused.status_code == 409
    lift = web.post(f"/api/v1/tips/{tip_id}/flags", json={"legal_hold": False}, headers=team.ana)
    assert lift.status_code == 202
    decide = f"/api/v1/approvals/{lift.json()['approval_id']}/decision"
    assert web.post(decide, json={"approve": True}, headers=team.sam).status_code == 200
    purge = web.post(f"/api/v1/tips/{tip_id}/approvals", json={"kind": "purge"}, headers=team.ana)
    assert purge.status_code == 202
    decide = f"/api/v1/approvals/{purge.json()['approval_id']}/decision"
    assert web.post(decide, json={"approve": True}, headers=team.sue).status_code == 200
    assert purge_job(make_session_factory(engine), settings) == 1  # the worker carries it out
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Envelope).where(Envelope.tip_id == tip_id)).all() == []
    assert tip_row(engine, tip_id).purged
    after = web.post(f"/api/v1/tips/{tip_id}/notes", json={"body": "late"}, headers=team.ana)
    assert after.status_code == 409


def test_assignment_notes_flags_and_priority_each_leave_their_entry(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, _ = submit(engine, settings)
    base = f"/api/v1/tips/{tip_id}"
    sam_id = str(staff["sam"].id)
    assert web.put(f"{base}/assignee", json={"staff_id": sam_id}, headers=team.ana).json() == {
        "assignee": sam_id
    }
    outside = web.put(f"{base}/assignee", json={"staff_id": str(team.carl_id)}, headers=team.ana)
    assert outside.status_code == 422
    assert (
        web.post(f"{base}/notes", json={"body": "Call the union rep"}, headers=team.ana).status_code
        == 201
    )
    assert web.post(f"{base}/flags", json={"urgent": True}, headers=team.ana).status_code == 200
    prio = web.post(
        f"{base}/priority", json={"priority": 80, "reason": "Raid Friday"}, headers=team.ana
    )
    assert prio.status_code == 200
    assert prio.json()["priority"] == 80
    assert actions(engine, tip_id) == [
        "tip.assigned",
        "note.added",
        "tip.flagged",
        "tip.priority_overridden",
    ]
    with make_session_factory(engine)() as session:
        blobs = session.scalars(select(Note.blob_id)).all()
        assert len(blobs) == 2


def test_a_conflicted_reviewer_gets_404_on_every_workflow_route(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, _ = submit(engine, settings)
    base = f"/api/v1/tips/{tip_id}"
    calls = [
        ("post", f"{base}/transitions", {"to": "triage"}),
        ("put", f"{base}/assignee", {"staff_id": str(team.carl_id)}),
        ("post", f"{base}/messages", {"body": "hello"}),
        ("post", f"{base}/notes", {"body": "hello"}),
        ("post", f"{base}/flags", {"urgent": True}),
        ("post", f"{base}/priority", {"priority": 1, "reason": "r"}),
        ("post", f"{base}/approvals", EXPORT),
    ]
    for method, url, body in calls:
        response = web.request(method, url, json=body, headers=team.carl)
        assert response.status_code == 404, (url, response.status_code)
        assert response.json()["error"] == "not_found"
        missing = web.request(
            method, url.replace(str(tip_id), str(uuid.uuid4())), json=body, headers=team.carl
        )
        assert missing.json() == response.json()  # the same as a tip that does not exist
    asked = web.post(
        f"{base}/approvals",
        json=EXPORT,
        headers=team.ana,
    )
    carl_supervisor = web.post(
        f"/api/v1/approvals/{asked.json()['approval_id']}/decision",
        json={"approve": True},
        headers=team.carl,
    )
    assert carl_supervisor.status_code == 403  # a reviewer is refused before the tip is looked up
    assert actions(engine, tip_id) == ["approval.requested"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("transitions", {"to": "triage", "extra": 1}),
        ("transitions", {}),
        ("transitions", {"to": "triage", "findings": ["bribery"]}),
        ("transitions", {"to": "x" * 33}),
        ("transitions", {"to": "nowhere"}),
        ("assignee", {"staff_id": "not-a-uuid"}),
        ("assignee", {}),
        ("messages", {"body": ""}),
        ("messages", {"body": 5}),
        ("notes", {"body": "x" * 10_001}),
        ("flags", {}),
        ("flags", {"urgent": "yes"}),
        ("priority", {"priority": "high", "reason": "r"}),
        ("priority", {"priority": 5000, "reason": "r"}),
        ("priority", {"priority": 5}),
        ("approvals", {"kind": "coffee"}),
        ("approvals", {"kind": "reroute", "compartment": "atlantis"}),
    ],
)
def test_malformed_bodies_are_422_and_change_nothing(
    web: TestClient,
    engine: Engine,
    settings: Settings,
    border: Border,
    path: str,
    body: dict[str, object],
) -> None:
    ana = api_login(web, border.reviewer_us)
    tip_id, _ = submit(engine, settings)
    method = "put" if path == "assignee" else "post"
    response = web.request(method, f"/api/v1/tips/{tip_id}/{path}", json=body, headers=ana)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert actions(engine, tip_id) == []
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Approval)).all() == []


def test_broken_and_oversized_bodies_are_refused(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    ana = api_login(web, border.reviewer_us)
    sam = api_login(web, border.supervisor_us)
    tip_id, _ = submit(engine, settings)
    url = f"/api/v1/tips/{tip_id}/notes"
    broken = web.post(
        url, content=b"{not json", headers={**ana, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    huge = web.post(url, content=b"x" * (65 << 10), headers=ana)
    assert huge.status_code == 413
    decision = web.post(
        f"/api/v1/approvals/{uuid.uuid4()}/decision", json={"approve": "yes"}, headers=sam
    )
    assert decision.status_code == 422
    unknown = web.post(
        f"/api/v1/approvals/{uuid.uuid4()}/decision", json={"approve": True}, headers=sam
    )
    assert unknown.status_code == 404
    assert web.post(url, json={"body": "anonymous"}).status_code == 401
    assert actions(engine, tip_id) == []


@pytest.mark.parametrize("reason", ["has a space", "spam", "Stolen from evidence"])
def test_a_reason_on_a_move_that_takes_none_is_422_not_500_and_writes_nothing(
    web: TestClient,
    engine: Engine,
    settings: Settings,
    staff: dict[str, StaffHandle],
    reason: str,
) -> None:
    team = _team(web, staff)
    tip_id, _ = submit(engine, settings)
    response = _move(web, team.ana, tip_id, to="triage", reason=reason)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert reason not in response.text
    assert tip_row(engine, tip_id).status == "received"
    assert actions(engine, tip_id) == []


def test_the_reported_close_bypass_is_refused_over_the_api(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, _ = submit(engine, settings)
    for step in ("triage", "investigating", "decision_review", "investigating"):
        assert _move(web, team.ana, tip_id, to=step).status_code == 200
    assert _move(web, team.ana, tip_id, to="needs_info", message=ASK).status_code == 200
    assert _move(web, team.ana, tip_id, to="triage").status_code == 409
    assert tip_row(engine, tip_id).status == "needs_info"


def test_a_referral_from_triage_waits_for_another_supervisor(
    web: TestClient, engine: Engine, settings: Settings, staff: dict[str, StaffHandle]
) -> None:
    team = _team(web, staff)
    tip_id, _ = submit(engine, settings)
    assert _move(web, team.ana, tip_id, to="triage").status_code == 200
    asked = _move(web, team.ana, tip_id, to="closed", reason="referred_out")
    assert asked.status_code == 202, asked.text
    approval_id = asked.json()["approval_id"]
    [item] = web.get("/api/v1/approvals", headers=team.sam).json()["approvals"]
    assert (item["kind"], item["payload"]) == ("close_with_reason", {"reason": "referred_out"})
    decided = web.post(
        f"/api/v1/approvals/{approval_id}/decision", json={"approve": True}, headers=team.sam
    )
    assert decided.status_code == 200, decided.text
    tip = tip_row(engine, tip_id)
    assert (tip.status, tip.closure_reason) == ("closed", "referred_out")
