"""Access changes over HTTP: the pending list and apply (supervisors), four-eyes on memberships,
the conflicts register (oneself, or a supervisor of one's compartment; never an admin), through the
real API and the real pages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select

from service.access.memberships import decide_membership
from service.config import Settings
from service.staff.models import Role, StaffConflict
from service.tips.models import TipAudience
from tests.factories import StaffHandle, add_staff, in_tx
from tests.service.access_util import (
    World,
    audience,
    can_open,
    envelopes,
    request_membership,
)
from tests.staff_util import api_login, csrf_of, page_login

SECRET_VALUE = "Juan Ramírez"


@pytest.fixture
def admin(engine: Engine, settings: Settings, w: World) -> StaffHandle:
    return add_staff(engine, settings, "root2", Role.ADMIN, [])


def _request_rita(engine: Engine, w: World) -> None:
    request_membership(engine, w.rita, "us")


def _add_rita(engine: Engine, w: World) -> None:
    """An admin's request approved by sam (us supervisor): one key add queued."""
    _request_rita(engine, w)
    in_tx(
        engine,
        lambda s: decide_membership(s, w.sam, compartment="us", staff_id=w.rita.id, approve=True),
    )


def _conflicts(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(StaffConflict)) or 0


def test_supervisor_lists_and_applies_pending_changes(
    web: TestClient, engine: Engine, w: World
) -> None:
    _add_rita(engine, w)
    sam = api_login(web, w.border.supervisor_us)
    pending = web.get("/api/v1/access/pending", headers=sam)
    assert pending.status_code == 200
    assert pending.json() == {"tips": [{"tip_id": str(w.tip), "adds": 1, "removes": 0}]}
    applied = web.post("/api/v1/access/apply", headers=sam)
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"rewritten": 1}
    assert can_open(engine, w.tip, "staff", w.rita.identity)
    assert web.get("/api/v1/access/pending", headers=sam).json() == {"tips": []}


def test_reviewers_may_not_use_access_nor_register_anothers_conflict(
    web: TestClient, engine: Engine, w: World
) -> None:
    _add_rita(engine, w)
    ana = api_login(web, w.border.reviewer_us)
    assert web.get("/api/v1/access/pending", headers=ana).status_code == 403
    assert web.post("/api/v1/access/apply", headers=ana).status_code == 403
    assert web.get("/api/v1/access/memberships", headers=ana).status_code == 403
    body = {"username": "sam", "kind": "name", "value": SECRET_VALUE}
    assert web.post("/api/v1/conflicts", json=body, headers=ana).status_code == 403
    assert not can_open(engine, w.tip, "staff", w.rita.identity)
    assert _conflicts(engine) == 0
    own = {"username": "ana", "kind": "name", "value": SECRET_VALUE}
    assert web.post("/api/v1/conflicts", json=own, headers=ana).status_code == 201
    assert _conflicts(engine) == 1


def test_apply_that_cannot_open_an_envelope_is_409_and_changes_nothing(
    web: TestClient, engine: Engine, w: World
) -> None:
    _add_rita(engine, w)
    in_tx(
        engine,
        lambda s: s.add(TipAudience(tip_id=w.tip, staff_id=w.sue.id, identity_custodian=True)),
    )
    before = (envelopes(engine, w.tip), audience(engine, w.tip))
    sue = api_login(web, w.sue)
    response = web.post("/api/v1/access/apply", json={"tip_ids": [str(w.tip)]}, headers=sue)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert (envelopes(engine, w.tip), audience(engine, w.tip)) == before


def test_a_supervisors_conflict_for_a_reviewer_waits_for_a_second_supervisor(
    web: TestClient, engine: Engine, w: World
) -> None:
    ana = api_login(web, w.border.reviewer_us)
    assert web.get(f"/api/v1/tips/{w.tip}", headers=ana).status_code == 200
    sam = api_login(web, w.border.supervisor_us)
    body = {"username": "ana", "kind": "name", "value": SECRET_VALUE}
    response = web.post("/api/v1/conflicts", json=body, headers=sam)
    assert response.status_code == 202, response.text
    # no count: that would say who is named; pending whatever matched
    assert response.json() == {"registered": False, "pending": True}
    assert web.get(f"/api/v1/tips/{w.tip}", headers=ana).status_code == 200
    assert _conflicts(engine) == 0


def test_an_admin_can_no_longer_register_conflicts_nor_see_backlog_counts(
    web: TestClient, engine: Engine, w: World, admin: StaffHandle
) -> None:
    root = api_login(web, admin)
    body = {"username": "ana", "kind": "name", "value": SECRET_VALUE}
    assert web.post("/api/v1/conflicts", json=body, headers=root).status_code == 403
    assert _conflicts(engine) == 0
    page_login(web, admin)
    assert web.get("/staff/admin/conflicts").status_code == 403
    access = web.get("/staff/access")
    assert access.status_code == 200
    assert "Reports waiting for a key rewrite" not in access.text
    assert "/staff/access/apply" not in access.text


def test_a_supervisor_registers_conflicts_only_within_their_compartments(
    web: TestClient, engine: Engine, w: World
) -> None:
    sam = api_login(web, w.border.supervisor_us)
    body = {"username": "luis", "kind": "name", "value": SECRET_VALUE}  # mx reviewer
    response = web.post("/api/v1/conflicts", json=body, headers=sam)
    assert response.status_code == 403
    assert "Ram" not in response.text
    assert _conflicts(engine) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "ana", "kind": "rank", "value": SECRET_VALUE}, 422),
        ({"username": "ana", "kind": "name", "value": " ,. "}, 422),
        ({"username": "ana", "kind": "name", "value": "x" * 201}, 422),
        ({"username": "ana", "kind": "name", "value": SECRET_VALUE, "extra": 1}, 422),
        ({"username": "ana", "kind": "name"}, 422),
        ({"username": "nobody", "kind": "name", "value": SECRET_VALUE}, 404),
    ],
)
def test_bad_conflict_requests_are_refused_without_echo_or_rows(
    web: TestClient, engine: Engine, w: World, body: dict[str, object], status: int
) -> None:
    root = api_login(web, w.border.supervisor_us)
    response = web.post("/api/v1/conflicts", json=body, headers=root)
    assert response.status_code == status, response.text
    assert "Ram" not in response.text
    assert _conflicts(engine) == 0


def test_malformed_conflict_json_is_a_clear_4xx(web: TestClient, w: World) -> None:
    root = api_login(web, w.border.supervisor_us)
    headers = {**root, "content-type": "application/json"}
    response = web.post("/api/v1/conflicts", content=b"{not json", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


def test_access_page_lists_counts_and_applies_with_csrf(
    web: TestClient, engine: Engine, w: World
) -> None:
    _add_rita(engine, w)
    page_login(web, w.border.supervisor_us)
    page = web.get("/staff/access?lang=es")
    assert page.status_code == 200
    assert str(w.tip)[:8] in page.text
    assert "Reescribir las llaves ahora" in page.text
    token = csrf_of(page.text, -1)
    assert web.post("/staff/access/apply", data={"x": "1"}).status_code == 403
    assert not can_open(engine, w.tip, "staff", w.rita.identity)
    done = web.post("/staff/access/apply", data={"csrf": token}, follow_redirects=True)
    assert done.status_code == 200
    assert "Reports whose keys were rewritten: 1" in done.text
    assert can_open(engine, w.tip, "staff", w.rita.identity)


def file_badge_conflict(web: TestClient) -> tuple[dict[str, str], Response]:
    """The signed-in supervisor files ana's badge 4471 on the conflicts page: (the form sent, the
    page after the redirect, which never shows the value)."""
    page = web.get("/staff/admin/conflicts")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text, -1), "username": "ana", "kind": "badge", "value": "4471"}
    done = web.post("/staff/admin/conflicts", data=form, follow_redirects=True)
    assert done.status_code == 200
    assert "4471" not in done.text
    return form, done


def test_conflicts_page_registers_without_showing_the_value(
    web: TestClient, engine: Engine, w: World
) -> None:
    page_login(web, w.border.supervisor_us)
    form, done = file_badge_conflict(web)
    assert "The conflict request was filed" in done.text
    bad = web.post("/staff/admin/conflicts", data={**form, "kind": "rank", "value": "Sgt X"})
    assert bad.status_code == 422
    assert "Sgt X" not in bad.text
    unknown = web.post("/staff/admin/conflicts", data={**form, "username": "nobody"})
    assert unknown.status_code == 404
    foreign = web.post("/staff/admin/conflicts", data={**form, "username": "luis"})
    assert foreign.status_code == 403
    own = web.post(
        "/staff/admin/conflicts", data={**form, "username": "sam"}, follow_redirects=True
    )
    assert "The conflict was registered" in own.text
    assert _conflicts(engine) == 1
    access = web.get("/staff/access")  # counts over sam's own tips only
    assert access.status_code == 200
    assert "In the reports you can open" in access.text


def test_membership_requests_are_decided_over_the_api_by_another_supervisor(
    web: TestClient, engine: Engine, w: World
) -> None:
    _request_rita(engine, w)
    sam = api_login(web, w.border.supervisor_us)
    listed = web.get("/api/v1/access/memberships", headers=sam)
    assert listed.status_code == 200
    [item] = listed.json()["memberships"]
    assert (item["username"], item["role"], item["compartment"]) == ("rita", "reviewer", "us")
    url = f"/api/v1/access/memberships/us/{w.rita.id}/decision"
    assert web.post(url, json={"approve": "yes"}, headers=sam).status_code == 422
    assert web.post(url, content=b"{", headers=sam).status_code == 422
    bogus = "/api/v1/access/memberships/us/not-an-id/decision"
    assert web.post(bogus, json={"approve": True}, headers=sam).status_code == 404
    assert web.get("/api/v1/access/pending", headers=sam).json() == {"tips": []}
    done = web.post(url, json={"approve": True}, headers=sam)
    assert done.status_code == 200, done.text
    assert done.json() == {"approved": True, "tips_queued": 1}
    assert web.post(url, json={"approve": False}, headers=sam).status_code == 409
    assert web.post("/api/v1/access/apply", headers=sam).json() == {"rewritten": 1}
    assert can_open(engine, w.tip, "staff", w.rita.identity)


def test_a_supervisor_cannot_approve_their_own_membership_over_http(
    web: TestClient, engine: Engine, w: World
) -> None:
    request_membership(engine, w.sue, "us")
    sue = api_login(web, w.sue)
    url = f"/api/v1/access/memberships/us/{w.sue.id}/decision"
    assert web.post(url, json={"approve": True}, headers=sue).status_code == 403
    assert web.get("/api/v1/access/memberships", headers=sue).json() == {"memberships": []}


def test_access_page_shows_who_is_being_added_and_approves_with_csrf(
    web: TestClient, engine: Engine, w: World
) -> None:
    _request_rita(engine, w)
    page_login(web, w.border.supervisor_us)
    page = web.get("/staff/access?lang=es")
    assert page.status_code == 200
    assert "rita" in page.text
    assert "Revisor" in page.text
    token = csrf_of(page.text, 0)
    form = {"compartment": "us", "staff_id": str(w.rita.id), "decision": "approve"}
    assert web.post("/staff/access/memberships", data=form).status_code == 403
    assert (
        web.post(
            "/staff/access/memberships", data={**form, "csrf": token, "decision": "maybe"}
        ).status_code
        == 422
    )
    done = web.post(
        "/staff/access/memberships", data={**form, "csrf": token}, follow_redirects=True
    )
    assert done.status_code == 200
    assert "The membership is approved" in done.text
    assert "rita" not in done.text


def test_a_too_broad_conflict_is_refused_with_its_reason(
    web: TestClient, engine: Engine, w: World
) -> None:
    sam = api_login(web, w.border.supervisor_us)
    body = {"username": "ana", "kind": "unit", "value": "No. 03"}
    response = web.post("/api/v1/conflicts", json=body, headers=sam)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert "too broad" in response.json()["detail"]
    page_login(web, w.border.supervisor_us)
    token = csrf_of(web.get("/staff/admin/conflicts").text, -1)
    form = {"csrf": token, "username": "ana", "kind": "unit", "value": "3"}
    page = web.post("/staff/admin/conflicts?lang=es", data=form)
    assert page.status_code == 422
    assert "demasiado amplio" in page.text
    assert _conflicts(engine) == 0
    ok = web.post(
        "/staff/admin/conflicts",
        data={**form, "username": "sam", "value": "Unit 3"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert _conflicts(engine) == 1
