"""No supervisor strands a tip (issue 10): a conflict registered for someone else waits for a second
supervisor; a member who registers their own conflict hands their last-reader tips to oversight;
a tip left with no reader is listed for oversight supervisors until the recovery key reroutes it.
Through the real API and pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.access.models import ConflictRequest
from service.audit.models import AuditEntry
from service.config import Settings
from service.staff.models import Role, StaffConflict
from tests.factories import add_conflict, add_staff
from tests.routes.test_access_api import file_badge_conflict
from tests.service.access_util import Cast, audience, can_open
from tests.staff_util import api_login, csrf_of, page_login

UNIT = "Bridge Unit 3"


def _count(engine: Engine, model: type[object]) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model)) or 0


def _audit(engine: Engine, action: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).where(AuditEntry.action == action)
        return connection.scalar(query) or 0


def _request(web: TestClient, headers: dict[str, str], username: str) -> str:
    body = {"username": username, "kind": "unit", "value": UNIT}
    response = web.post("/api/v1/conflicts", json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"registered": False, "pending": True}
    listed = web.get("/api/v1/access/conflicts", headers=headers)
    assert all(item["username"] != username for item in listed.json()["conflicts"])
    return username


def _sam_requests(web: TestClient, cast: Cast, username: str) -> dict[str, str]:
    """sam (a US supervisor) signs in over the API and asks for a conflict for `username`;
    returns his headers."""
    sam = api_login(web, cast.w.border.supervisor_us)
    _request(web, sam, username)
    return sam


def _pending_id(web: TestClient, headers: dict[str, str], username: str) -> str:
    listed = web.get("/api/v1/access/conflicts", headers=headers)
    assert listed.status_code == 200, listed.text
    [item] = [i for i in listed.json()["conflicts"] if i["username"] == username]
    return str(item["id"])


def test_the_reviews_sequence_leaves_the_tip_readable_by_oversight(
    web: TestClient, engine: Engine, cast: Cast
) -> None:
    w = cast.w
    ana_id, sam_id = w.border.reviewer_us.id, w.border.supervisor_us.id
    sam = api_login(web, w.border.supervisor_us)
    ana = api_login(web, w.border.reviewer_us)
    _request(web, sam, "ana")
    # Pending: nothing changed yet, whatever matched.
    assert web.get(f"/api/v1/tips/{w.tip}", headers=ana).status_code == 200
    assert _count(engine, StaffConflict) == 0
    otto = api_login(web, cast.otto)
    request_id = _pending_id(web, otto, "ana")
    decided = web.post(
        f"/api/v1/access/conflicts/{request_id}/decision", json={"approve": True}, headers=otto
    )
    assert decided.status_code == 200, decided.text
    assert decided.json() == {"approved": True}
    assert web.get(f"/api/v1/tips/{w.tip}", headers=ana).status_code == 404
    assert ana_id not in audience(engine, w.tip)
    # Now sam, the last reader, registers the same conflict for himself.
    own = {"username": "sam", "kind": "unit", "value": UNIT}
    response = web.post("/api/v1/conflicts", json=own, headers=sam)
    assert response.status_code == 201, response.text
    assert response.json() == {"registered": True}
    assert web.get(f"/api/v1/tips/{w.tip}", headers=sam).status_code == 404
    readers = audience(engine, w.tip)
    assert sam_id not in readers
    assert cast.otto.id in readers
    assert web.get(f"/api/v1/tips/{w.tip}", headers=otto).status_code == 200
    assert can_open(engine, w.tip, "staff", cast.otto.identity)
    assert not can_open(engine, w.tip, "staff", w.border.supervisor_us.identity)
    listed = web.get("/api/v1/access/readerless", headers=otto)
    assert listed.status_code == 200
    assert listed.json() == {"tips": []}  # nothing stranded
    assert _audit(engine, "conflict.requested") == 1
    assert _audit(engine, "conflict.approved") == 1
    assert _audit(engine, "tip.rerouted") == 1


def test_neither_the_registrar_nor_the_conflicted_member_may_approve(
    web: TestClient, engine: Engine, cast: Cast
) -> None:
    sam = _sam_requests(web, cast, "sid")
    otto = api_login(web, cast.otto)
    url = f"/api/v1/access/conflicts/{_pending_id(web, otto, 'sid')}/decision"
    sid = api_login(web, cast.sid)
    assert web.get("/api/v1/access/conflicts", headers=sid).json() == {"conflicts": []}
    for headers in (sam, sid):
        response = web.post(url, json={"approve": True}, headers=headers)
        assert response.status_code == 403, response.text
    ana = api_login(web, cast.w.border.reviewer_us)
    assert web.post(url, json={"approve": True}, headers=ana).status_code == 403
    assert web.get("/api/v1/access/conflicts", headers=ana).status_code == 403
    assert _count(engine, StaffConflict) == 0
    assert _count(engine, ConflictRequest) == 1


def test_replays_and_bad_input_change_nothing(web: TestClient, engine: Engine, cast: Cast) -> None:
    sam = _sam_requests(web, cast, "ana")
    _request(web, sam, "ana")  # the same request again: one row, one audit entry
    assert _count(engine, ConflictRequest) == 1
    assert _audit(engine, "conflict.requested") == 1
    bad = {"username": "ana", "kind": "rank", "value": UNIT}
    assert web.post("/api/v1/conflicts", json=bad, headers=sam).status_code == 422
    blank = {"username": "ana", "kind": "unit", "value": " .. "}
    assert web.post("/api/v1/conflicts", json=blank, headers=sam).status_code == 422
    assert _count(engine, ConflictRequest) == 1
    otto = api_login(web, cast.otto)
    url = f"/api/v1/access/conflicts/{_pending_id(web, otto, 'ana')}/decision"
    assert web.post(url, json={"approve": "yes"}, headers=otto).status_code == 422
    assert web.post(url, content=b"{", headers=otto).status_code == 422
    bogus = "/api/v1/access/conflicts/not-an-id/decision"
    assert web.post(bogus, json={"approve": True}, headers=otto).status_code == 404
    assert _count(engine, ConflictRequest) == 1
    assert _count(engine, StaffConflict) == 0
    assert web.post(url, json={"approve": True}, headers=otto).status_code == 200
    entries = _count(engine, AuditEntry)
    assert web.post(url, json={"approve": True}, headers=otto).status_code == 404
    assert web.post(url, json={"approve": False}, headers=otto).status_code == 404
    assert _count(engine, AuditEntry) == entries
    assert _count(engine, StaffConflict) == 1
    _request(web, sam, "ana")  # already registered: the same answer, and no new request
    assert _count(engine, ConflictRequest) == 0


def test_rejecting_a_request_deletes_it_and_changes_no_access(
    web: TestClient, engine: Engine, cast: Cast
) -> None:
    _sam_requests(web, cast, "ana")
    sid = api_login(web, cast.sid)  # another us supervisor has standing too
    url = f"/api/v1/access/conflicts/{_pending_id(web, sid, 'ana')}/decision"
    response = web.post(url, json={"approve": False}, headers=sid)
    assert response.status_code == 200, response.text
    assert response.json() == {"approved": False}
    assert _count(engine, ConflictRequest) == 0
    assert _count(engine, StaffConflict) == 0
    assert cast.w.border.reviewer_us.id in audience(engine, cast.w.tip)
    assert _audit(engine, "conflict.rejected") == 1


def test_a_supervisor_without_standing_sees_and_decides_nothing(
    web: TestClient, engine: Engine, settings: Settings, cast: Cast
) -> None:
    mara = add_staff(engine, settings, "mara", Role.SUPERVISOR, ["mx"])
    _sam_requests(web, cast, "ana")
    otto = api_login(web, cast.otto)
    url = f"/api/v1/access/conflicts/{_pending_id(web, otto, 'ana')}/decision"
    other = api_login(web, mara)
    assert web.get("/api/v1/access/conflicts", headers=other).json() == {"conflicts": []}
    assert web.post(url, json={"approve": True}, headers=other).status_code == 404
    assert _count(engine, StaffConflict) == 0


def test_a_last_reader_with_no_eligible_oversight_reader_leaves_a_listed_tip(
    web: TestClient, engine: Engine, settings: Settings, cast: Cast
) -> None:
    w = cast.w
    for who in (w.border.oversight, cast.otto):  # nobody in oversight may read this tip
        add_conflict(engine, settings, who.id, "unit", UNIT)
    luis = api_login(web, w.border.reviewer_mx)
    own = {"username": "luis", "kind": "unit", "value": UNIT}
    response = web.post("/api/v1/conflicts", json=own, headers=luis)
    assert response.status_code == 201, response.text  # the conflict takes effect all the same
    assert audience(engine, w.mx_tip) == {}
    otto = api_login(web, cast.otto)
    listed = web.get("/api/v1/access/readerless", headers=otto)
    assert listed.status_code == 200
    [item] = listed.json()["tips"]
    assert item["tip_id"] == str(w.mx_tip)
    assert item["compartment"] == "mx"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", item["received_on"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", item["readerless_since"])
    assert set(item) == {"tip_id", "compartment", "received_on", "readerless_since"}
    sam = api_login(web, w.border.supervisor_us)  # not an oversight supervisor
    assert web.get("/api/v1/access/readerless", headers=sam).status_code == 403
    assert _audit(engine, "tip.readerless") == 1
    page_login(web, cast.otto)
    page = web.get("/staff/access")
    assert page.status_code == 200
    assert str(w.mx_tip) in page.text
    assert "Reports without a reader" in page.text


def test_access_page_lists_conflict_requests_and_decides_with_csrf(
    web: TestClient, engine: Engine, cast: Cast
) -> None:
    page_login(web, cast.w.border.supervisor_us)
    _, done = file_badge_conflict(web)
    assert "another supervisor approves" in done.text
    assert _count(engine, ConflictRequest) == 1
    web.cookies.clear()
    page_login(web, cast.otto)
    page = web.get("/staff/access?lang=es")
    assert page.status_code == 200
    assert "ana" in page.text
    assert "sam" in page.text
    assert "4471" not in page.text
    token = csrf_of(page.text, 0)
    otto = api_login(web, cast.otto)
    request_id = _pending_id(web, otto, "ana")
    decision = {"request_id": request_id, "decision": "approve"}
    assert web.post("/staff/access/conflicts", data=decision).status_code == 403
    bad = {**decision, "csrf": token, "decision": "maybe"}
    assert web.post("/staff/access/conflicts", data=bad).status_code == 422
    assert _count(engine, StaffConflict) == 0
    approved = web.post(
        "/staff/access/conflicts", data={**decision, "csrf": token}, follow_redirects=True
    )
    assert approved.status_code == 200
    assert "The conflict is registered" in approved.text
    assert _count(engine, StaffConflict) == 1
    assert cast.w.border.reviewer_us.id not in audience(engine, cast.w.tip)


def test_a_last_readers_own_conflict_hands_the_tip_to_oversight_with_their_keys(
    web: TestClient, engine: Engine, cast: Cast
) -> None:
    w = cast.w
    luis = api_login(web, w.border.reviewer_mx)  # the mx tip's only reader
    own = {"username": "luis", "kind": "name", "value": "Juan Ramírez"}
    response = web.post("/api/v1/conflicts", json=own, headers=luis)
    assert response.status_code == 201, response.text
    assert response.json() == {"registered": True}
    assert web.get(f"/api/v1/tips/{w.mx_tip}", headers=luis).status_code == 404
    assert audience(engine, w.mx_tip) == {w.border.oversight.id: False, cast.otto.id: True}
    assert not can_open(engine, w.mx_tip, "staff", w.border.reviewer_mx.identity)
    olga = api_login(web, w.border.oversight)
    assert web.get(f"/api/v1/tips/{w.mx_tip}", headers=olga).status_code == 200
    with engine.connect() as connection:
        [canonical] = connection.scalars(
            select(AuditEntry.canonical).where(AuditEntry.action == "tip.rerouted")
        ).all()
    assert b'"handover":true' in canonical
    assert b"Ram" not in canonical
    assert _audit(engine, "tip.readerless") == 0


def test_registering_ones_own_conflict_settles_a_pending_request_for_it(
    web: TestClient, engine: Engine, cast: Cast
) -> None:
    _sam_requests(web, cast, "ana")
    ana = api_login(web, cast.w.border.reviewer_us)
    own = {"username": "ana", "kind": "unit", "value": "bridge  unit 3"}
    assert web.post("/api/v1/conflicts", json=own, headers=ana).status_code == 201
    assert _count(engine, ConflictRequest) == 0
    assert _count(engine, StaffConflict) == 1
    assert cast.w.border.reviewer_us.id not in audience(engine, cast.w.tip)
    assert cast.w.border.supervisor_us.id in audience(engine, cast.w.tip)  # not the last reader
