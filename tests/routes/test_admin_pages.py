"""The admin area: staff accounts, compartments and members, agencies and routing."""

from __future__ import annotations

import re

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.agencies.models import Agency
from service.audit.canonical import AuditRecord, decode_entry
from service.audit.models import AuditEntry
from service.compartments.models import Compartment, Membership
from service.config import Settings
from service.staff.models import Role, StaffUser
from service.tips.models import TipAudience
from tests.factories import JUAREZ_AGENCY, Border, StaffHandle, add_staff, tip_json
from tests.staff_util import api_login, csrf_of, page_login


@pytest.fixture
def adam(web: TestClient, engine: Engine, settings: Settings) -> StaffHandle:
    """An admin, signed in on `web` through the sign-in page."""
    who = add_staff(engine, settings, "adam", Role.ADMIN, [])
    page_login(web, who)
    return who


def csrf(web: TestClient) -> str:
    return csrf_of(web.get("/staff/admin/staff").text)


def audit(engine: Engine, action: str) -> list[AuditRecord]:
    with engine.connect() as connection:
        rows = connection.scalars(select(AuditEntry.canonical).order_by(AuditEntry.index))
        return [r for r in map(decode_entry, rows) if r.action == action]


def members(engine: Engine, compartment: str) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.scalars(
                select(StaffUser.username)
                .join(Membership, Membership.staff_id == StaffUser.id)
                .join(Compartment, Compartment.id == Membership.compartment_id)
                .where(Compartment.name == compartment)
            )
        )


@pytest.mark.parametrize("lang", ["en", "es"])
def test_admin_pages_list_staff_compartments_and_agencies(
    web: TestClient, border: Border, adam: StaffHandle, lang: str
) -> None:
    home = web.get(f"/staff/admin?lang={lang}")
    assert home.status_code == 200
    assert "Administración" in home.text if lang == "es" else "Administration" in home.text
    staff = web.get(f"/staff/admin/staff?lang={lang}").text
    for username in ("ana", "sam", "luis", "olga", "adam"):
        assert f"<td>{username}</td>" in staff
    assert "El Paso" in web.get(f"/staff/admin/agencies?lang={lang}").text
    assert "<td>us" in web.get(f"/staff/admin/compartments?lang={lang}").text


def test_admin_adding_a_member_sees_only_an_enrolment_link_never_a_secret(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    form = {"csrf": csrf(web), "username": "rosa", "role": "reviewer", "compartment": "mx"}
    created = web.post("/staff/admin/staff", data=form)
    assert created.status_code == 201
    link = re.search(r"<code>(http://testserver/staff/enrol\?token=([\w-]+))</code>", created.text)
    assert link is not None
    for shown_before in ("First password", "Authenticator secret", "otpauth://"):
        assert shown_before not in created.text
    with engine.connect() as connection:
        row = connection.execute(
            select(
                StaffUser.recipient,
                StaffUser.sealed_secrets,
                StaffUser.enrolled_at,
                StaffUser.enrolment_hash,
            ).where(StaffUser.username == "rosa")
        ).one()
    # No keys, no password: nothing an admin could use; only the link's hash is stored.
    assert (row.recipient, row.sealed_secrets, row.enrolled_at) == ("", None, None)
    assert row.enrolment_hash is not None
    assert link.group(2).encode() not in row.enrolment_hash
    assert members(engine, "mx") == {"luis", "rosa"}
    [entry] = audit(engine, "staff.created")
    assert entry.actor == str(adam.id)
    assert entry.details == {"role": "reviewer"}
    [issued] = audit(engine, "staff.enrolment_issued")
    assert issued.actor == str(adam.id)
    assert issued.details == {"hours": 72}
    # An account that never enrolled cannot sign in, whatever is tried.
    body = {"username": "rosa", "password": "", "totp": pyotp.TOTP(pyotp.random_base32()).now()}
    assert web.post("/api/v1/staff/session", json=body).status_code == 401
    listing = web.get("/staff/admin/staff").text
    assert "waiting for enrolment" in listing
    assert 'action="/staff/admin/staff/enrolment?lang=en"' in listing


def test_an_admin_or_auditor_can_never_join_a_compartment(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    token = csrf(web)
    form = {"csrf": token, "username": "boss", "role": "admin", "compartment": "us"}
    refused = web.post("/staff/admin/staff", data=form)
    assert refused.status_code == 422
    assert "The change was not made" in refused.text
    with engine.connect() as connection:
        assert connection.scalar(select(StaffUser.id).where(StaffUser.username == "boss")) is None
    join = {"csrf": token, "action": "add", "compartment": "us", "username": "adam"}
    assert web.post("/staff/admin/compartments/members", data=join).status_code == 422
    assert "adam" not in members(engine, "us")
    # And so an admin is in no tip's audience.
    web.post("/api/v1/tips", json=tip_json())
    with engine.connect() as connection:
        audience = set(connection.scalars(select(TipAudience.staff_id)))
    assert audience
    assert adam.id not in audience


def test_duplicate_or_invalid_staff_is_refused_whole(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    token = csrf(web)
    duplicate = {"csrf": token, "username": "ana", "role": "reviewer", "compartment": ""}
    assert web.post("/staff/admin/staff", data=duplicate).status_code == 409
    bad_role = {"csrf": token, "username": "newbie", "role": "root", "compartment": ""}
    assert web.post("/staff/admin/staff", data=bad_role).status_code == 422
    no_room = {"csrf": token, "username": "newbie", "role": "reviewer", "compartment": "nowhere"}
    assert web.post("/staff/admin/staff", data=no_room).status_code == 404
    with engine.connect() as connection:
        assert connection.scalar(select(StaffUser.id).where(StaffUser.username == "newbie")) is None
    assert audit(engine, "staff.created") == []


def test_deactivation_ends_sessions_and_sign_ins_but_not_ones_own(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    ana = api_login(web, border.reviewer_us)
    token = csrf(web)
    done = web.post(
        "/staff/admin/staff/deactivate",
        data={"csrf": token, "username": "ana"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/staff/admin/staff?notice=deactivated&lang=en"
    assert web.get("/api/v1/staff/me", headers=ana).status_code == 401
    other = TestClient(web.app)
    again = other.post(
        "/api/v1/staff/session",
        json={"username": "ana", "password": border.reviewer_us.password, "totp": "000000"},
    )
    assert again.status_code == 401
    [entry] = audit(engine, "staff.deactivated")
    assert entry.details == {"sessions_ended": 1}
    self_off = web.post("/staff/admin/staff/deactivate", data={"csrf": token, "username": "adam"})
    assert self_off.status_code == 422
    assert web.get("/staff/admin").status_code == 200


def test_compartments_and_members_are_managed_and_audited(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    token = csrf(web)
    added = web.post("/staff/admin/compartments", data={"csrf": token, "name": "tijuana"})
    assert added.status_code == 200  # after the redirect
    assert "recorded in the audit log" in added.text
    assert (
        web.post("/staff/admin/compartments", data={"csrf": token, "name": "tijuana"}).status_code
        == 409
    )
    join = {"csrf": token, "action": "add", "compartment": "tijuana", "username": "luis"}
    assert web.post("/staff/admin/compartments/members", data=join).status_code == 200
    assert members(engine, "tijuana") == {"luis"}
    leave = {**join, "action": "remove"}
    assert web.post("/staff/admin/compartments/members", data=leave).status_code == 200
    assert members(engine, "tijuana") == set()
    odd = {**join, "action": "promote"}
    assert web.post("/staff/admin/compartments/members", data=odd).status_code == 422
    assert [e.actor for e in audit(engine, "compartment.created")] == [str(adam.id)]
    assert len(audit(engine, "compartment.member_removed")) == 1


def test_agencies_and_routing_changes_wait_for_a_supervisor(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    token = csrf(web)
    form = {"csrf": token, **JUAREZ_AGENCY, "country": "mx"}
    added = web.post("/staff/admin/agencies", data=form)
    assert added.status_code == 200
    assert "waiting for approval" in added.text
    assert web.post("/staff/admin/agencies", data=form).status_code == 409
    route = {"csrf": token, "slug": "el-paso-pd", "compartment": "oversight"}
    routed = web.post("/staff/admin/agencies/route", data=route)
    assert routed.status_code == 200
    assert "Send new reports about el-paso-pd to oversight instead of us." in routed.text
    with engine.connect() as connection:
        compartment = connection.scalar(
            select(Compartment.name)
            .join(Agency, Agency.compartment_id == Compartment.id)
            .where(Agency.slug == "el-paso-pd")
        )
    assert compartment == "us"
    nowhere = {**route, "compartment": "atlantis"}
    assert web.post("/staff/admin/agencies/route", data=nowhere).status_code == 404
    [created] = audit(engine, "agency.created")
    assert created.details == {"slug": "juarez-municipal", "active": False}
    kinds = [e.details["kind"] for e in audit(engine, "admin_request.filed")]
    assert kinds == ["agency_add", "agency_route"]
    assert audit(engine, "agency.routed") == []


def test_admin_forms_refuse_a_missing_token(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    form = {"username": "rosa", "role": "reviewer", "compartment": ""}
    assert web.post("/staff/admin/staff", data=form).status_code == 403
    with engine.connect() as connection:
        assert connection.scalar(select(StaffUser.id).where(StaffUser.username == "rosa")) is None


def test_the_last_active_reader_of_a_tip_cannot_be_deactivated(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201  # to ana and sam
    token = csrf(web)
    first = web.post("/staff/admin/staff/deactivate", data={"csrf": token, "username": "ana"})
    assert first.status_code == 200  # sam still reads it
    last = web.post("/staff/admin/staff/deactivate", data={"csrf": token, "username": "sam"})
    assert last.status_code == 409
    assert "would leave 1 tip(s) with no active reader" in last.text
    assert "reroute" in last.text
    with engine.connect() as connection:
        active = connection.scalar(select(StaffUser.active).where(StaffUser.username == "sam"))
    assert active is True
    assert [e.objects["staff"] for e in audit(engine, "staff.deactivated")] == [
        str(border.reviewer_us.id)
    ]
