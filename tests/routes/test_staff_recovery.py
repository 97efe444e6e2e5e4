"""Recovering a member who lost their password, end to end: the request (CLI), a supervisor's
approval over the API, `probity staff recover` with the real passphrase-protected recovery file,
re-enrolment over HTTP, then the member reads the tip, its attachment and its identity envelope
again - and their old identity opens nothing rewritten. Also: the password page's new-identity
option."""

from __future__ import annotations

import json
import re
import uuid

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from crypto.age import decrypt_bytes
from crypto.errors import CryptoError
from service.access.models import AdminRequest
from service.cli import app as cli
from service.config import Settings
from service.staff.models import Role, StaffSession, StaffUser
from service.staff.service import unseal_secrets
from service.tips.keys import open_identity_key, open_tip_keys
from service.tips.models import EnvelopeKind
from tests.factories import RECOVERY_PASSPHRASE, Border, StaffHandle, add_staff, recovery_path
from tests.routes.test_tip_view_api import file, only_evidence
from tests.service.access_util import envelopes
from tests.staff_util import api_login, csrf_of, next_code, page_login

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cheap_kdf_env")
NEW_PASSWORD = "a brand new passphrase of mine"
_SECRET = re.compile(r"Authenticator secret</dt><dd><code>([A-Z2-7]+)</code>")
_LINK = re.compile(r"(/staff/enrol\?token=[\w-]+)")


def recover(username: str, passphrase: str = RECOVERY_PASSPHRASE, path: str = "") -> Result:
    settings = Settings()
    args = ["staff", "recover", username, "--recovery-file", path or str(recovery_path(settings))]
    return runner.invoke(cli, [*args, "--password-stdin"], input=passphrase + "\n")


def request(username: str) -> None:
    result = runner.invoke(cli, ["staff", "recover", username, "--request"])
    assert result.exit_code == 0, result.output
    assert "Filed a recovery request" in result.output


def approve(web: TestClient, supervisor: StaffHandle, username: str) -> int:
    headers = api_login(web, supervisor)
    listed = web.get("/api/v1/access/changes", headers=headers).json()["changes"]
    [change] = [c for c in listed if c["kind"] == "staff_recovery" and c["username"] == username]
    url = f"/api/v1/access/changes/{change['id']}/decision"
    return web.post(url, json={"approve": True}, headers=headers).status_code


def reenrol(web: TestClient, link: str, password: str = NEW_PASSWORD) -> str:
    """The member at the link: chooses a password, confirms a code; returns the TOTP secret."""
    member = TestClient(web.app)
    token = link.split("token=")[1]
    page = member.get(link)
    assert page.status_code == 200, page.text[:300]
    form = {"csrf": csrf_of(page.text), "token": token, "step": "password"}
    chosen = member.post("/staff/enrol", data={**form, "password": password, "repeat": password})
    assert chosen.status_code == 200, chosen.text[:300]
    secret = _SECRET.search(chosen.text)
    assert secret is not None
    code = pyotp.TOTP(secret.group(1)).now()
    confirm = {**form, "csrf": csrf_of(chosen.text), "step": "confirm", "code": code}
    done = member.post("/staff/enrol", data={**confirm, "password": password})
    assert done.status_code == 200, done.text[:300]
    assert member.get(link).status_code == 404  # spent
    return secret.group(1)


def sign_in_status(web: TestClient, who: StaffHandle) -> int:
    clock = web.app.state.settings.clock  # type: ignore[attr-defined]
    code = next_code(web.app.state.engine, who, clock)  # type: ignore[attr-defined]
    body = {"username": who.username, "password": who.password, "totp": code}
    status = web.post("/api/v1/staff/session", json=body).status_code
    web.cookies.delete("probity_staff")
    return status


def row(engine: Engine, username: str) -> StaffUser:
    with Session(engine) as session:
        return session.scalars(select(StaffUser).where(StaffUser.username == username)).one()


def opens(engine: Engine, tip_id: str, kind: str, identity: str) -> bool:
    try:
        decrypt_bytes(envelopes(engine, uuid.UUID(tip_id))[kind], [identity])
    except CryptoError:
        return False
    return True


@pytest.fixture
def otto(engine: Engine, settings: Settings, border: Border) -> StaffHandle:
    return add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"])


def test_a_supervisor_who_lost_their_password_regains_exactly_their_access(
    web: TestClient, engine: Engine, border: Border, otto: StaffHandle
) -> None:
    file(web, photo=True, contact="Signal +52 664 000 0000")
    sam = border.supervisor_us
    _, tip_id, _ = only_evidence(web, sam)  # sam has a live session, too
    request("sam")
    assert "no approved recovery request" in recover("sam").output  # not approved yet
    assert approve(web, otto, "sam") == 200
    result = recover("sam")
    assert result.exit_code == 0, result.output
    assert "envelopes of 1 tip(s)" in result.output
    link = _LINK.search(result.output)
    assert link is not None
    # The old password and every session stop working; the old identity opens nothing now.
    assert sign_in_status(web, sam) == 401
    with Session(engine) as session:
        open_sessions = session.scalars(
            select(StaffSession).where(
                StaffSession.staff_id == sam.id, StaffSession.revoked_at.is_(None)
            )
        ).all()
    assert open_sessions == []
    assert not opens(engine, tip_id, "staff", sam.identity)
    assert not opens(engine, tip_id, "identity", sam.identity)
    assert opens(engine, tip_id, "staff", border.reviewer_us.identity)  # ana keeps hers
    # Single use: a second run is refused, and changes nothing.
    before = envelopes(engine, uuid.UUID(tip_id))
    again = recover("sam")
    assert again.exit_code == 1
    assert "no approved recovery request" in again.output
    assert envelopes(engine, uuid.UUID(tip_id)) == before
    # The member re-enrols and reads the tip and its attachment again.
    secret = reenrol(web, link.group(1))
    renewed = StaffHandle(sam.id, "sam", "", secret, NEW_PASSWORD)
    headers, again_tip, evidence = only_evidence(web, renewed)
    assert again_tip == tip_id
    attachment = web.get(f"/api/v1/tips/{tip_id}/attachments/{evidence['id']}", headers=headers)
    assert attachment.status_code == 200
    assert len(attachment.content) == evidence["size"]
    # The identity envelope too (sam is a custodian), under the new identity only.
    user = row(engine, "sam")
    identity = unseal_secrets(user, NEW_PASSWORD).identity
    with Session(engine) as session:
        assert open_identity_key(session, uuid.UUID(tip_id), identity).startswith("AGE-SECRET")
        assert open_tip_keys(session, uuid.UUID(tip_id), identity).case.startswith("AGE-SECRET")
    assert user.recovered_identity is None
    assert user.enrolled_at is not None
    # Exactly the access sam had: not a reader of the Mexican tips.
    mx = web.get("/api/v1/queue", headers=headers).json()["tips"]
    assert [t["id"] for t in mx] == [tip_id]
    with Session(engine) as session:
        used = session.scalars(select(AdminRequest.status)).all()
    assert used == ["used"]


def test_the_password_page_can_also_replace_the_identity(
    web: TestClient, engine: Engine, border: Border
) -> None:
    file(web, photo=True, contact="Signal +52 664 000 0000")
    sam = border.supervisor_us
    headers, tip_id, evidence = only_evidence(web, sam)
    other = api_login(web, sam)  # a second session: it ends
    body = {"old": sam.password, "new": NEW_PASSWORD, "new_identity": True}
    bad = {**body, "old": "not it at all"}
    wrong = web.post("/api/v1/staff/password", json=bad, headers=headers)
    assert wrong.status_code == 401
    assert opens(engine, tip_id, "staff", sam.identity)  # nothing changed
    changed = web.post("/api/v1/staff/password", json=body, headers=headers)
    assert changed.status_code == 204, changed.text
    # This session goes on with the new identity; the other one ended.
    view = web.get(f"/api/v1/tips/{tip_id}", headers=headers)
    assert view.status_code == 200
    url = f"/api/v1/tips/{tip_id}/attachments/{evidence['id']}"
    assert web.get(url, headers=headers).status_code == 200
    assert web.get("/api/v1/staff/me", headers=other).status_code == 401
    assert not opens(engine, tip_id, "staff", sam.identity)
    assert not opens(engine, tip_id, "identity", sam.identity)
    identity = unseal_secrets(row(engine, "sam"), NEW_PASSWORD).identity
    assert identity != sam.identity
    assert opens(engine, tip_id, "identity", identity)
    with Session(engine) as session:
        keys = json.loads(decrypt_bytes(envelopes(engine, uuid.UUID(tip_id))["staff"], [identity]))
        assert set(keys) == {"conversation", "case"}
        assert open_identity_key(session, uuid.UUID(tip_id), identity)
    # ana, a reviewer, rotates too: only the staff envelope names her.
    ana = border.reviewer_us
    ana_headers = api_login(web, ana)
    body = {"old": ana.password, "new": NEW_PASSWORD, "new_identity": True}
    assert web.post("/api/v1/staff/password", json=body, headers=ana_headers).status_code == 204
    assert web.get(url, headers=ana_headers).status_code == 200
    assert not opens(engine, tip_id, "staff", ana.identity)
    assert opens(engine, tip_id, EnvelopeKind.IDENTITY.value, identity)  # sam's still opens


def test_an_admin_files_the_request_in_the_admin_pages_and_cannot_approve_it(
    web: TestClient, engine: Engine, settings: Settings, border: Border, otto: StaffHandle
) -> None:
    adam = add_staff(engine, settings, "adam", Role.ADMIN, [])
    page_login(web, adam)
    page = web.get("/staff/admin/staff")
    assert "Request recovery" in page.text
    form = {"csrf": csrf_of(page.text), "username": "ana"}
    filed = web.post("/staff/admin/staff/recovery", data=form, follow_redirects=False)
    assert filed.status_code == 303
    listed = web.get("/staff/admin/staff")
    assert "Recover ana, who lost their password" in listed.text
    forged = web.post("/staff/admin/staff/recovery", data={**form, "csrf": "x"})
    assert forged.status_code == 403
    unknown = web.post("/staff/admin/staff/recovery", data={**form, "username": "nobody"})
    assert unknown.status_code == 404
    with Session(engine) as session:
        [row_] = session.scalars(select(AdminRequest)).all()
    assert row_.requested_by == adam.id
    assert row_.status == "pending"
    # Not the admin (no supervisor), only a supervisor other than ana decides it.
    admin_headers = api_login(web, adam)
    url = f"/api/v1/access/changes/{row_.id}/decision"
    assert web.post(url, json={"approve": True}, headers=admin_headers).status_code == 403
    assert approve(web, otto, "ana") == 200


def test_the_password_page_offers_a_new_identity(
    web: TestClient, engine: Engine, border: Border
) -> None:
    file(web)
    sam = border.supervisor_us
    page_login(web, sam)
    page = web.get("/staff/password")
    assert 'name="new_identity"' in page.text
    form = {
        "csrf": csrf_of(page.text),
        "old": sam.password,
        "new": NEW_PASSWORD,
        "repeat": NEW_PASSWORD,
        "new_identity": "on",
    }
    done = web.post("/staff/password", data=form)
    assert done.status_code == 200, done.text[:300]
    [tip] = web.get("/api/v1/queue").json()["tips"]  # the same cookie session goes on
    assert not opens(engine, str(tip["id"]), "staff", sam.identity)
    identity = unseal_secrets(row(engine, "sam"), NEW_PASSWORD).identity
    assert opens(engine, str(tip["id"]), "staff", identity)
