"""Insider and stranger attacks on issue 10's new paths (security review): each test drives one
sequence through the real API and pages and shows it refused or harmless."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.access import memberships
from service.access.changes import decide_change
from service.agencies import service as agencies
from service.agencies.models import Agency
from service.compartments import service as compartments
from service.config import Settings
from service.errors import Conflict
from service.staff import admin
from service.staff.models import Role
from tests.factories import add_staff, file_tip, in_tx, principal
from tests.service.access_util import Cast, audience, can_open, readable
from tests.staff_util import api_login


def _variant_tip(engine: Engine, settings: Settings, unit: str) -> uuid.UUID:
    return file_tip(engine, settings, subjects=[{"rank": "Sgt", "unit": unit}])


def test_an_approved_conflict_request_matches_spelling_variants(
    web: TestClient, engine: Engine, settings: Settings, cast: Cast
) -> None:
    """A conflict a second supervisor approved for a colleague must match like one the member
    registers: "Unit 3 Bridge" and later "Bridge Unit No. 03" are both out of ana's reach."""
    ana = cast.w.border.reviewer_us
    before = _variant_tip(engine, settings, "Unit 3 Bridge")
    assert ana.id in audience(engine, before)
    sam = api_login(web, cast.w.border.supervisor_us)
    body = {"username": "ana", "kind": "unit", "value": "Bridge Unit 3"}
    assert web.post("/api/v1/conflicts", json=body, headers=sam).status_code == 202
    otto = api_login(web, cast.otto)
    [item] = web.get("/api/v1/access/conflicts", headers=otto).json()["conflicts"]
    url = f"/api/v1/access/conflicts/{item['id']}/decision"
    assert web.post(url, json={"approve": True}, headers=otto).status_code == 200
    assert ana.id not in audience(engine, before)
    after = _variant_tip(engine, settings, "Bridge Unit No. 03")
    assert ana.id not in audience(engine, after)
    assert not can_open(engine, after, "staff", ana.identity)


def test_one_admin_cannot_leave_a_tip_with_only_deactivated_readers(
    engine: Engine, settings: Settings, cast: Cast
) -> None:
    """Deactivate the supervisor (the reviewer still reads), then remove the reviewer (the
    deactivated supervisor's row still counted as a reader): nobody active could read the tip,
    and the reader-less list would not show it. The removal must be refused."""
    adam = add_staff(engine, settings, "adam", Role.ADMIN, [])
    tip = cast.w.tip
    assert set(audience(engine, tip)) == {
        cast.w.border.reviewer_us.id,
        cast.w.border.supervisor_us.id,
    }
    in_tx(engine, lambda s: admin.deactivate_staff(s, adam.id, username="sam"))
    with pytest.raises(Conflict):
        in_tx(
            engine,
            lambda s: memberships.remove_member_as(s, adam.id, compartment="us", username="ana"),
        )
    assert readable(engine, cast.w.border.reviewer_us.id, tip)


def test_a_tip_left_with_only_deactivated_readers_is_listed_as_readerless(
    web: TestClient, engine: Engine, settings: Settings, cast: Cast
) -> None:
    """sam is deactivated (ana still reads); a conflict request for ana is approved: nobody
    active reads the tip now, so oversight must see it on the reader-less list."""
    adam = add_staff(engine, settings, "adam", Role.ADMIN, [])
    sid = api_login(web, cast.sid)
    in_tx(engine, lambda s: admin.deactivate_staff(s, adam.id, username="sam"))
    body = {"username": "ana", "kind": "unit", "value": "Bridge Unit 3"}
    tip = cast.w.tip  # names Bridge Unit 3; read by ana and sam only
    assert web.post("/api/v1/conflicts", json=body, headers=sid).status_code == 202
    otto = api_login(web, cast.otto)
    [item] = web.get("/api/v1/access/conflicts", headers=otto).json()["conflicts"]
    url = f"/api/v1/access/conflicts/{item['id']}/decision"
    assert web.post(url, json={"approve": True}, headers=otto).status_code == 200
    listed = web.get("/api/v1/access/readerless", headers=otto).json()["tips"]
    assert str(tip) in {t["tip_id"] for t in listed}


def test_a_new_agency_routed_elsewhere_while_pending_is_not_activated_by_the_old_approval(
    engine: Engine, settings: Settings, cast: Cast
) -> None:
    """The admin adds agency "ag" for "us" (sam decides) and, while that waits, asks to route it
    to a fresh compartment (oversight decides). Once the route is approved, sam's approval of
    "add ag to us" must not switch on an agency that now feeds another compartment."""
    adam = add_staff(engine, settings, "adam", Role.ADMIN, [])
    fields = {"slug": "ag", "name_en": "Ag", "name_es": "Ag", "compartment": "us"}
    add = in_tx(engine, lambda s: agencies.add_agency_as(s, adam.id, **fields))
    in_tx(engine, lambda s: compartments.add_compartment_as(s, adam.id, name="evil"))
    route = in_tx(
        engine, lambda s: agencies.route_agency(s, adam.id, slug="ag", compartment="evil")
    )
    assert add is not None
    assert route is not None
    add_id, route_id = add.id, route.id
    otto = principal(cast.otto, Role.SUPERVISOR)
    in_tx(engine, lambda s: decide_change(s, otto, request_id=route_id, approve=True))
    with pytest.raises(Conflict):
        in_tx(engine, lambda s: decide_change(s, cast.w.sam, request_id=add_id, approve=True))
    with engine.connect() as connection:
        assert connection.scalar(select(Agency.active).where(Agency.slug == "ag")) is False


def test_an_own_conflict_does_not_tell_oversight_what_an_unread_tip_names(
    web: TestClient, cast: Cast
) -> None:
    luis = api_login(web, cast.w.border.reviewer_mx)  # the mx tip's only reader
    tip = cast.w.mx_tip
    assert web.post(f"/api/v1/tips/{tip}/transitions", json={"to": "triage"}, headers=luis)
    body = {"to": "closed", "reason": "spam"}
    filed = web.post(f"/api/v1/tips/{tip}/transitions", json=body, headers=luis)
    assert filed.status_code == 202, filed.text
    otto = api_login(web, cast.otto)
    assert web.get(f"/api/v1/tips/{tip}", headers=otto).status_code == 404  # cannot read it

    def listed() -> set[str]:
        approvals = web.get("/api/v1/approvals", headers=otto).json()["approvals"]
        return {a["tip_id"] for a in approvals}

    assert str(tip) in listed()
    guess = {"username": "otto", "kind": "name", "value": "Juan Ramírez"}
    assert web.post("/api/v1/conflicts", json=guess, headers=otto).status_code == 201
    assert str(tip) in listed()  # was gone: otto learnt the tip names Juan Ramírez
