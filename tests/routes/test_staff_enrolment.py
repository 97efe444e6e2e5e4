"""Enrolment: an admin creates an account and hands over a one-time link; the member alone
chooses the password and gets the keys and the TOTP secret."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes
from service.access.models import PendingAccessChange
from service.audit.canonical import AuditRecord, decode_entry
from service.audit.models import AuditEntry
from service.compartments.models import Membership
from service.config import Settings
from service.db import utcnow
from service.staff.models import Role, StaffUser
from service.tips.models import Envelope, TipAudience
from tests.factories import Border, StaffHandle, add_staff, tip_json
from tests.service.access_util import envelopes
from tests.staff_util import csrf_of, page_login

_LINK = re.compile(r"<code>http://testserver(/staff/enrol\?token=([\w-]+))</code>")
_SECRET = re.compile(r"Authenticator secret</dt><dd><code>([A-Z2-7]+)</code>")
PASSWORD = "my very own passphrase"


@pytest.fixture
def adam(web: TestClient, engine: Engine, settings: Settings) -> StaffHandle:
    who = add_staff(engine, settings, "adam", Role.ADMIN, [])
    page_login(web, who)
    return who


def audit(engine: Engine, action: str) -> list[AuditRecord]:
    with engine.connect() as connection:
        rows = connection.scalars(select(AuditEntry.canonical).order_by(AuditEntry.index))
        return [r for r in map(decode_entry, rows) if r.action == action]


def create(web: TestClient, username: str, compartment: str = "us") -> tuple[str, str]:
    """(link path, token) shown once to the admin signed in on `web`."""
    token = csrf_of(web.get("/staff/admin/staff").text)
    form = {"csrf": token, "username": username, "role": "reviewer", "compartment": compartment}
    created = web.post("/staff/admin/staff", data=form)
    assert created.status_code == 201, created.text[:300]
    match = _LINK.search(created.text)
    assert match is not None
    return match.group(1), match.group(2)


def choose(
    member: TestClient, link: str, password: str = PASSWORD, repeat: str | None = None
) -> Response:
    page = member.get(link)
    assert page.status_code == 200, page.text[:300]
    token = link.split("token=")[1]
    form = {
        "csrf": csrf_of(page.text),
        "token": token,
        "step": "password",
        "password": password,
        "repeat": password if repeat is None else repeat,
    }
    return member.post("/staff/enrol", data=form)


def confirm(
    member: TestClient, page: str, token: str, code: str, password: str = PASSWORD
) -> Response:
    form = {
        "csrf": csrf_of(page),
        "token": token,
        "step": "confirm",
        "password": password,
        "code": code,
    }
    return member.post("/staff/enrol", data=form)


def sign_in(client: TestClient, username: str, password: str, code: str) -> int:
    body = {"username": username, "password": password, "totp": code}
    status = client.post("/api/v1/staff/session", json=body).status_code
    client.cookies.delete("probity_staff")
    return status


def test_the_member_chooses_the_password_and_gets_keys_and_code_only_then(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    link, token = create(web, "rosa")
    member = TestClient(web.app)
    assert choose(member, link, repeat="something else").status_code == 422
    assert choose(member, link, password="short").status_code == 422
    chosen = choose(member, link)
    assert chosen.status_code == 200
    secret = _SECRET.search(chosen.text)
    assert secret is not None
    assert "otpauth://totp/Probity:rosa?" in chosen.text
    totp = pyotp.TOTP(secret.group(1))
    # Keys exist now, but until a code is confirmed the account cannot sign in.
    assert sign_in(member, "rosa", PASSWORD, totp.now()) == 401
    wrong = confirm(member, chosen.text, token, "000000" if totp.now() != "000000" else "111111")
    assert wrong.status_code == 401
    assert (
        confirm(member, chosen.text, token, totp.now(), password="not my password").status_code
        == 401
    )
    done = confirm(member, chosen.text, token, totp.now())
    assert done.status_code == 200
    assert 'href="/staff/login?lang=en"' in done.text
    assert member.get(link).status_code == 404  # single use
    code = totp.at(utcnow() + timedelta(seconds=30))  # the confirmed code is spent
    assert sign_in(member, "rosa", PASSWORD, code) == 201
    [started] = audit(engine, "staff.enrolment_started")
    [enrolled] = audit(engine, "staff.enrolled")
    with Session(engine) as session:
        rosa = session.scalars(select(StaffUser).where(StaffUser.username == "rosa")).one()
    assert started.actor == enrolled.actor == str(rosa.id)
    assert rosa.enrolment_hash is None
    assert rosa.enrolled_at is not None
    assert rosa.recipient.startswith("age1")


def test_enrolment_pages_speak_spanish_and_a_bad_link_says_so(
    web: TestClient, border: Border, adam: StaffHandle
) -> None:
    link, _ = create(web, "rosa")
    member = TestClient(web.app)
    page = member.get(link + "&lang=es")
    assert page.status_code == 200
    assert "Configure su cuenta" in page.text
    assert "<script" not in page.text
    switch = re.search(r'<a href="([^"]+)" hreflang="en"', page.text)
    assert switch is not None
    assert member.get(switch.group(1).replace("&amp;", "&")).status_code == 200  # token kept
    assert page.headers["cache-control"] == "no-store"
    for bad in ("/staff/enrol", "/staff/enrol?token=forged", "/staff/enrol?token=" + "x" * 500):
        refused = member.get(bad + ("&" if "?" in bad else "?") + "lang=es")
        assert refused.status_code == 404
        assert "no se puede usar" in refused.text


def test_an_expired_link_is_refused(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    link, _ = create(web, "rosa")
    with engine.begin() as connection:
        connection.execute(
            update(StaffUser)
            .where(StaffUser.username == "rosa")
            .values(enrolment_expires_at=utcnow() - timedelta(seconds=1))
        )
    member = TestClient(web.app)
    assert member.get(link).status_code == 404


def test_enrolment_forms_refuse_forged_tokens_other_links_and_other_sites(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    link, token = create(web, "rosa")
    other_link, _ = create(web, "tomas")
    member = TestClient(web.app)
    form = {"token": token, "step": "password", "password": PASSWORD, "repeat": PASSWORD}
    assert member.post("/staff/enrol", data=form).status_code == 403
    foreign = csrf_of(member.get(other_link).text)
    assert member.post("/staff/enrol", data={**form, "csrf": foreign}).status_code == 403
    good = csrf_of(member.get(link).text)
    cross = member.post(
        "/staff/enrol", data={**form, "csrf": good}, headers={"sec-fetch-site": "cross-site"}
    )
    assert cross.status_code == 403
    odd = member.post("/staff/enrol", data={**form, "csrf": good, "step": "skip"})
    assert odd.status_code == 422
    early = {**form, "csrf": good, "step": "confirm", "code": "123456"}
    assert member.post("/staff/enrol", data=early).status_code == 409
    with engine.connect() as connection:
        sealed = connection.scalar(
            select(StaffUser.sealed_secrets).where(StaffUser.username == "rosa")
        )
    assert sealed is None
    assert audit(engine, "staff.enrolment_started") == []


def test_a_new_link_only_for_accounts_that_never_enrolled_and_the_old_one_dies(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    old_link, _ = create(web, "rosa")
    token = csrf_of(web.get("/staff/admin/staff").text)
    again = web.post("/staff/admin/staff/enrolment", data={"csrf": token, "username": "rosa"})
    assert again.status_code == 200
    match = _LINK.search(again.text)
    assert match is not None
    member = TestClient(web.app)
    assert member.get(old_link).status_code == 404
    assert member.get(match.group(1)).status_code == 200
    enrolled = web.post("/staff/admin/staff/enrolment", data={"csrf": token, "username": "ana"})
    assert enrolled.status_code == 409
    assert "already enrolled" in enrolled.text
    unknown = web.post("/staff/admin/staff/enrolment", data={"csrf": token, "username": "zed"})
    assert unknown.status_code == 404
    assert len(audit(engine, "staff.enrolment_issued")) == 2


def test_a_member_who_has_not_enrolled_gets_no_tip_keys_until_enrolled(
    web: TestClient, border: Border, adam: StaffHandle, engine: Engine
) -> None:
    link, token = create(web, "rosa", compartment="us")
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201
    with engine.connect() as connection:
        rosa_id = connection.scalar(select(StaffUser.id).where(StaffUser.username == "rosa"))
        audience = set(connection.scalars(select(TipAudience.staff_id)))
        tip_id = connection.scalar(select(Envelope.tip_id).where(Envelope.kind == "staff"))
    assert tip_id is not None
    envelope = envelopes(engine, tip_id).get("staff")
    assert audience == {border.reviewer_us.id, border.supervisor_us.id}
    assert rosa_id not in audience
    assert envelope is not None
    assert decrypt_bytes(bytes(envelope), [border.reviewer_us.identity])  # addressed as before
    with engine.begin() as connection:  # a supervisor approved the membership meanwhile
        connection.execute(
            update(Membership).where(Membership.staff_id == rosa_id).values(approved_at=utcnow())
        )
    member = TestClient(web.app)
    chosen = choose(member, link)
    secret = _SECRET.search(chosen.text)
    assert secret is not None
    assert confirm(member, chosen.text, token, pyotp.TOTP(secret.group(1)).now()).status_code == 200
    with engine.connect() as connection:
        queued = connection.scalar(
            select(func.count())
            .select_from(PendingAccessChange)
            .where(PendingAccessChange.staff_id == rosa_id, PendingAccessChange.op == "add")
        )
    assert queued == 1  # a supervisor applies it, as for any new member
    [enrolled] = audit(engine, "staff.enrolled")
    assert enrolled.details == {"tips_queued": 1}


def test_a_guessable_password_is_refused_on_the_page_with_a_clear_error(
    web: TestClient, adam: StaffHandle
) -> None:
    link, _ = create(web, "rosa")
    member = TestClient(web.app)
    refused = choose(member, link, password="aaaaaaaaaaaa")
    assert refused.status_code == 422
    assert "easy to guess" in refused.text
    assert choose(member, link).status_code == 200
