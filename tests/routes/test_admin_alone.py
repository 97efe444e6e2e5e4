"""The review's one-admin path, driven through the real pages and API: an admin alone must not
change who reads future tips. Removing oversight supervisors, routing an agency and a new
compartment's first member all wait for a supervisor; the puppet never reads the next tip."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, select

from routes.app import create_app
from service.agencies.models import Agency
from service.audit.canonical import decode_entry
from service.audit.models import AuditEntry
from service.compartments.models import Compartment, Membership
from service.config import Settings
from service.db import utcnow
from service.staff.models import Role, StaffUser
from service.tips.models import Tip, TipAudience
from tests.factories import JUAREZ_AGENCY, Border, StaffHandle, add_staff, seed_border, tip_json
from tests.staff_util import api_login, csrf_of, page_login

_LINK = re.compile(r"<code>http://testserver(/staff/enrol\?token=([\w-]+))</code>")
_SECRET = re.compile(r"Authenticator secret</dt><dd><code>([A-Z2-7]+)</code>")
PUPPET_PASSWORD = "puppet strings attached"


@dataclass(frozen=True)
class Demo:
    border: Border
    supervisors: dict[str, StaffHandle]


@pytest.fixture
def demo(engine: Engine, settings: Settings) -> Demo:
    """Like `probity demo`: a supervisor in each country's compartment and two in oversight."""
    border = seed_border(engine, settings)
    extra = {"marta": "mx", "victor": "oversight", "vera": "oversight"}
    supervisors = {
        name: add_staff(engine, settings, name, Role.SUPERVISOR, [compartment])
        for name, compartment in extra.items()
    }
    return Demo(border, {"sam": border.supervisor_us, **supervisors})


@pytest.fixture
def web(settings: Settings, demo: Demo) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def adam(web: TestClient, engine: Engine, settings: Settings) -> StaffHandle:
    who = add_staff(engine, settings, "adam", Role.ADMIN, [])
    page_login(web, who)
    return who


def _memberships(engine: Engine, compartment: str) -> dict[str, bool]:
    """username -> approved, for one compartment."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(StaffUser.username, Membership.approved_at)
            .join(Membership, Membership.staff_id == StaffUser.id)
            .join(Compartment, Compartment.id == Membership.compartment_id)
            .where(Compartment.name == compartment)
        )
        return {username: approved is not None for username, approved in rows}


def _routed_to(engine: Engine, slug: str) -> str:
    with engine.connect() as connection:
        name = connection.scalar(
            select(Compartment.name)
            .join(Agency, Agency.compartment_id == Compartment.id)
            .where(Agency.slug == slug)
        )
    assert name is not None
    return name


def _enrol(web: TestClient, link: str, token: str) -> pyotp.TOTP:
    member = TestClient(web.app)

    def step(page: Response, name: str, **fields: str) -> Response:
        """Send the enrolment form's `name` step from `page`."""
        form = {"csrf": csrf_of(page.text), "token": token, "step": name}
        return member.post("/staff/enrol", data={**form, "password": PUPPET_PASSWORD, **fields})

    chosen = step(member.get(link), "password", repeat=PUPPET_PASSWORD)
    secret = _SECRET.search(chosen.text)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1))
    done = step(chosen, "confirm", code=totp.now())
    assert done.status_code == 200, done.text[:300]
    return totp


def _puppet_token(web: TestClient, totp: pyotp.TOTP) -> dict[str, str]:
    client = TestClient(web.app)
    code = totp.at(utcnow() + timedelta(seconds=30))  # the enrolment code is spent
    body = {"username": "puppet", "password": PUPPET_PASSWORD, "totp": code}
    response = client.post("/api/v1/staff/session", json=body)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_one_admin_alone_never_gets_a_puppet_reading_the_next_tip(
    web: TestClient, adam: StaffHandle, engine: Engine
) -> None:
    token = csrf_of(web.get("/staff/admin/compartments").text)
    # 1. Take the supervisors out of oversight: only a request now.
    for supervisor in ("victor", "vera"):
        leave = {"csrf": token, "action": "remove", "compartment": "oversight"}
        removed = web.post(
            "/staff/admin/compartments/members", data={**leave, "username": supervisor}
        )
        assert removed.status_code == 200
        assert "waiting for approval" in removed.text
    assert _memberships(engine, "oversight") == {"olga": True, "victor": True, "vera": True}
    # 2. A new compartment: allowed alone (it receives nothing yet).
    made = web.post("/staff/admin/compartments", data={"csrf": token, "name": "evil"})
    assert made.status_code == 200
    # 3. A reviewer in it: requested, not approved at once (no bootstrap any more).
    form = {"csrf": token, "username": "puppet", "role": "reviewer", "compartment": "evil"}
    created = web.post("/staff/admin/staff", data=form)
    assert created.status_code == 201
    assert _memberships(engine, "evil") == {"puppet": False}
    # 4. The puppet enrols with the link the admin was shown.
    link = _LINK.search(created.text)
    assert link is not None
    totp = _enrol(web, link.group(1), link.group(2))
    # 5. Route an agency to "evil": a request, the agency still routes where it did.
    route = {"csrf": token, "slug": "el-paso-pd", "compartment": "evil"}
    routed = web.post("/staff/admin/agencies/route", data=route)
    assert routed.status_code == 200
    assert "waiting for approval" in routed.text
    assert _routed_to(engine, "el-paso-pd") == "us"
    # 6. The next tip from that agency.
    assert web.post("/api/v1/tips", json=tip_json(agency="el-paso-pd")).status_code == 201
    # 7. The puppet reads nothing.
    puppet = _puppet_token(web, totp)
    queue = web.get("/api/v1/queue", headers=puppet)
    assert queue.status_code == 200
    assert queue.json()["tips"] == []
    with engine.connect() as connection:
        tips = list(connection.scalars(select(Tip.id)))
        puppet_id = connection.scalar(select(StaffUser.id).where(StaffUser.username == "puppet"))
        readers = set(connection.scalars(select(TipAudience.staff_id)))
    assert puppet_id not in readers
    for tip_id in tips:
        assert web.get(f"/api/v1/tips/{tip_id}", headers=puppet).status_code == 404


def _audit_actions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.scalars(select(AuditEntry.canonical).order_by(AuditEntry.index))
        return [decode_entry(r).action for r in rows]


def test_a_supervisor_of_the_target_decides_a_route_and_others_cannot(
    web: TestClient, adam: StaffHandle, engine: Engine, demo: Demo
) -> None:
    token = csrf_of(web.get("/staff/admin/agencies").text)
    route = {"csrf": token, "slug": "tijuana-municipal", "compartment": "us"}
    assert "waiting for approval" in web.post("/staff/admin/agencies/route", data=route).text
    again = web.post("/staff/admin/agencies/route", data=route)
    assert again.status_code == 409  # the same request is already pending
    sam = api_login(web, demo.supervisors["sam"])
    [change] = web.get("/api/v1/access/changes", headers=sam).json()["changes"]
    assert change | {"id": None, "requested_at": None} == {
        "id": None,
        "kind": "agency_route",
        "compartment": "us",
        "previous_compartment": "mx",
        "agency": "tijuana-municipal",
        "agency_name": "Tijuana Municipal Police",
        "username": None,
        "requested_by": "adam",
        "requested_at": None,
    }
    decision = f"/api/v1/access/changes/{change['id']}/decision"
    for outsider in ("marta", "victor"):  # mx; oversight (us has its own supervisor)
        headers = api_login(web, demo.supervisors[outsider])
        assert web.get("/api/v1/access/changes", headers=headers).json()["changes"] == []
        assert web.post(decision, json={"approve": True}, headers=headers).status_code == 404
    assert _routed_to(engine, "tijuana-municipal") == "mx"
    assert web.post(decision, json={"approve": "yes"}, headers=sam).status_code == 422
    assert web.post(decision, json={"approve": True}, headers=sam).status_code == 200
    assert _routed_to(engine, "tijuana-municipal") == "us"
    assert web.post(decision, json={"approve": False}, headers=sam).status_code == 409
    actions = _audit_actions(engine)
    assert actions.index("admin_request.filed") < actions.index("admin_request.approved")
    assert actions[-2:] == ["agency.routed", "admin_request.approved"]
    assert web.post("/api/v1/tips", json=tip_json(agency="tijuana-municipal")).status_code == 201
    with engine.connect() as connection:
        routed = connection.scalars(select(Compartment.name).join(Tip)).all()
    assert routed == ["us"]


def test_oversight_decides_a_supervisor_removal_never_the_supervisor_removed(
    web: TestClient, adam: StaffHandle, engine: Engine, demo: Demo
) -> None:
    token = csrf_of(web.get("/staff/admin/compartments").text)
    leave = {"csrf": token, "action": "remove", "compartment": "oversight", "username": "victor"}
    assert web.post("/staff/admin/compartments/members", data=leave).status_code == 200
    listed = web.get("/staff/access").text  # the admin's view
    assert "Remove the supervisor victor from oversight." in listed
    assert "Waiting for approval" in listed
    victor = api_login(web, demo.supervisors["victor"])
    assert web.get("/api/v1/access/changes", headers=victor).json()["changes"] == []
    vera_web = TestClient(web.app)
    page_login(vera_web, demo.supervisors["vera"])
    page = vera_web.get("/staff/access?lang=es").text
    assert "Quitar al supervisor victor de oversight." in page
    change_id = re.search(r'name="request_id" value="([^"]+)"', page)
    assert change_id is not None
    own = f"/api/v1/access/changes/{change_id.group(1)}/decision"
    assert web.post(own, json={"approve": True}, headers=victor).status_code == 403
    form = {"csrf": csrf_of(page), "request_id": change_id.group(1), "decision": "approve"}
    done = vera_web.post("/staff/access/changes", data=form, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/staff/access?notice=change_approved&lang=en"
    assert _memberships(engine, "oversight") == {"olga": True, "vera": True}
    # vera is oversight's last supervisor now: her removal is refused outright.
    last = web.post("/staff/admin/compartments/members", data={**leave, "username": "vera"})
    assert last.status_code == 409
    off = web.post("/staff/admin/staff/deactivate", data={"csrf": token, "username": "vera"})
    assert off.status_code == 409


def test_a_new_agency_stays_off_the_report_form_until_approved(
    web: TestClient, adam: StaffHandle, engine: Engine, demo: Demo
) -> None:
    token = csrf_of(web.get("/staff/admin/agencies").text)
    new = {"csrf": token, **JUAREZ_AGENCY, "country": "MX"}
    added = web.post("/staff/admin/agencies", data=new)
    assert added.status_code == 200
    assert "not on the report form: waiting for approval" in added.text

    def offered() -> bool:
        agencies = web.get("/api/v1/intake/form").json()["agencies"]
        return "juarez-municipal" in {a["slug"] for a in agencies}

    assert not offered()
    assert web.post("/api/v1/tips", json=tip_json(agency="juarez-municipal")).status_code == 422
    marta = api_login(web, demo.supervisors["marta"])
    [change] = web.get("/api/v1/access/changes", headers=marta).json()["changes"]
    assert (change["kind"], change["compartment"]) == ("agency_add", "mx")
    decision = f"/api/v1/access/changes/{change['id']}/decision"
    assert web.post(decision, json={"approve": True}, headers=marta).status_code == 200
    assert offered()
    assert web.post("/api/v1/tips", json=tip_json(agency="juarez-municipal")).status_code == 201
    # A rejected one is gone, and its short name is free again.
    web.post("/staff/admin/agencies", data={**new, "slug": "nogales-pd"})
    [change] = web.get("/api/v1/access/changes", headers=marta).json()["changes"]
    decision = f"/api/v1/access/changes/{change['id']}/decision"
    assert web.post(decision, json={"approve": False}, headers=marta).status_code == 200
    with engine.connect() as connection:
        assert connection.scalar(select(Agency.id).where(Agency.slug == "nogales-pd")) is None
    assert _audit_actions(engine)[-1] == "admin_request.rejected"
