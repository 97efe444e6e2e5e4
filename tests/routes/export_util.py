"""Helpers for the referral-export tests: a tip with evidence, a conversation and notes; an
approved export; decrypting with the stock `age` CLI and unpacking."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from crypto.age import generate_identity
from service.config import Settings
from service.db import make_session_factory
from service.staff.models import Role
from service.tips.models import Tip
from tests.factories import Border, StaffHandle, add_staff, tip_json
from tests.staff_util import api_login

AGE = "/usr/bin/age"
TAR = "/usr/bin/tar"
CONTACT = "Call Maria on +52 664 555 0101 after 8pm"
FILE_NAME = "ramirez-cash-photo.jpg"


@dataclass(frozen=True)
class Recipient:
    identity: str
    recipient: str
    key_file: Path


def new_recipient(tmp: Path, name: str = "prosecutor") -> Recipient:
    identity, recipient = generate_identity()
    key = tmp / f"{name}.key"
    key.write_text(identity + "\n")
    return Recipient(identity, recipient, key)


def file_tip(web: TestClient, engine: Engine, data: bytes) -> uuid.UUID:
    """A tip with contact details and one evidence file, filed through the API."""
    body = tip_json(contact=CONTACT, incident_date="2026-10-14")
    response = web.post(
        "/api/v1/tips",
        files=[
            ("tip", (None, json.dumps(body).encode(), "application/json")),
            ("files", (FILE_NAME, data, "application/octet-stream")),
        ],
    )
    assert response.status_code == 201, response.text
    with make_session_factory(engine)() as session:
        return session.scalars(select(Tip.id)).one()


def request_export(
    web: TestClient,
    who: dict[str, str],
    tip_id: uuid.UUID,
    recipient: str,
    *,
    redacted: bool = False,
    notes: list[str] | None = None,
) -> str:
    body: dict[str, object] = {"kind": "export", "recipient": recipient, "redacted": redacted}
    if notes is not None:
        body["notes"] = notes
    asked = web.post(f"/api/v1/tips/{tip_id}/approvals", json=body, headers=who)
    assert asked.status_code == 202, asked.text
    return str(asked.json()["approval_id"])


def approve(web: TestClient, who: dict[str, str], approval_id: str) -> None:
    decided = web.post(
        f"/api/v1/approvals/{approval_id}/decision", json={"approve": True}, headers=who
    )
    assert decided.status_code == 200, decided.text


def decrypt_and_unpack(bundle: Path, key: Path, into: Path) -> Path:
    """`age -d -i KEY bundle | tar -x`, with the stock tools."""
    plain = subprocess.run(
        [AGE, "-d", "-i", str(key), str(bundle)], capture_output=True, check=True
    ).stdout
    into.mkdir()
    subprocess.run([TAR, "-x", "-C", str(into)], input=plain, check=True)
    with tarfile.open(fileobj=io.BytesIO(plain)) as archive:  # no dates, owners or odd types
        for member in archive.getmembers():
            assert member.isfile(), member.name
            assert (member.mtime, member.uname, member.gname) == (0, "", ""), member.name
    return into


def log_key(web: TestClient, who: dict[str, str], tmp: Path) -> Path:
    key = tmp / "log.pub"
    key.write_text(web.get("/api/v1/audit/key", headers=who).text)
    return key


def newest_checkpoint(web: TestClient, who: dict[str, str], tmp: Path, name: str) -> Path:
    cp = tmp / name
    cp.write_text(web.get("/api/v1/audit/checkpoint", headers=who).text)
    return cp


@dataclass(frozen=True)
class Team:
    ana: dict[str, str]  # reviewer, us
    sam: dict[str, str]  # supervisor, us (an identity custodian)
    sue: dict[str, str]  # supervisor, us
    rita: dict[str, str]  # reviewer, us: neither requester nor approver
    luis: dict[str, str]  # reviewer, mx: not in the audience


@pytest.fixture
def export_team(web: TestClient, engine: Engine, settings: Settings, border: Border) -> Team:
    sue: StaffHandle = add_staff(engine, settings, "sue", Role.SUPERVISOR, ["us"])
    rita = add_staff(engine, settings, "rita", Role.REVIEWER, ["us"])
    return Team(
        api_login(web, border.reviewer_us),
        api_login(web, border.supervisor_us),
        api_login(web, sue),
        api_login(web, rita),
        api_login(web, border.reviewer_mx),
    )
