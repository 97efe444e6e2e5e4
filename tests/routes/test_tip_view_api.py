"""GET /api/v1/tips/{id}, its related tips and evidence downloads, over real HTTP.

Tips are filed through the real intake API (JSON and multipart); staff sign in through the real
session API. Each read is audited before content leaves; outsiders get 404, admins 403.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from crypto.age import decrypt_bytes
from crypto.errors import DecryptionError
from routes.api import queue as queue_api
from routes.api import tips as tips_api
from routes.staff_auth import READERS
from service.audit.log import history
from service.blobs.models import BlobChunk
from service.blobs.store import read_blob
from service.config import Settings
from service.db import make_session_factory
from service.staff.models import Role
from service.tips.models import Attachment
from tests.factories import Border, StaffHandle, add_conflict, add_staff, tip_json
from tests.service.access_util import envelopes
from tests.service.evidence_samples import SECRET, jpeg_file
from tests.staff_util import api_login

PHOTO_NAME = "Foto de Ramírez (1).jpg"


def file(web: TestClient, *, photo: bool = False, **overrides: object) -> None:
    if not photo:
        response = web.post("/api/v1/tips", json=tip_json(**overrides))
    else:
        response = web.post(
            "/api/v1/tips",
            files=[
                ("tip", (None, json.dumps(tip_json(**overrides)).encode(), "application/json")),
                ("files", (PHOTO_NAME, jpeg_file(), "image/jpeg")),
            ],
        )
    assert response.status_code == 201, response.text


def only_tip(web: TestClient, headers: dict[str, str]) -> str:
    (tip,) = web.get("/api/v1/queue", headers=headers).json()["tips"]
    return str(tip["id"])


def only_evidence(web: TestClient, who: StaffHandle) -> tuple[dict[str, str], str, dict[str, Any]]:
    """`who` signs in over the API: (headers, the only tip's id, its one piece of evidence)."""
    headers = api_login(web, who)
    tip_id = only_tip(web, headers)
    (evidence,) = view(web, tip_id, headers)["evidence"]
    return headers, tip_id, evidence


def actions(engine: Engine, tip_id: str, action: str) -> int:
    with make_session_factory(engine)() as session:
        return sum(1 for e in history(session, uuid.UUID(tip_id)) if e.action == action)


def view(web: TestClient, tip_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = web.get(f"/api/v1/tips/{tip_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_reader_gets_the_whole_tip_and_one_audit_entry_per_view(
    web: TestClient, engine: Engine, border: Border
) -> None:
    file(web, photo=True, contact="Signal +52 664 000 0000", threat_to_life=True)
    headers = api_login(web, border.reviewer_us)
    tip_id = only_tip(web, headers)
    assert actions(engine, tip_id, "tip.viewed") == 0
    body = view(web, tip_id, headers)
    assert body["report"]["narrative"].startswith("Sergeant Ramirez takes cash")
    assert body["report"]["subjects"][0]["name"] == "Juan Ramírez"
    assert body["urgent"]
    assert "threat_to_life" in body["priority_reasons"]
    (evidence,) = body["evidence"]
    assert evidence["cleaned"]
    assert evidence["removed"]
    assert evidence["size"] > 0
    assert body["contact_on_file"] is None
    assert "Signal" not in json.dumps(body)
    assert body["history"][-1]["action"] == "tip.viewed"
    assert actions(engine, tip_id, "tip.viewed") == 1
    view(web, tip_id, headers)
    assert actions(engine, tip_id, "tip.viewed") == 2
    custodian = view(web, tip_id, api_login(web, border.supervisor_us))
    assert custodian["contact_on_file"] is True
    assert "Signal" not in json.dumps(custodian)


def test_a_download_is_the_cleaned_file_with_strict_headers(
    web: TestClient, engine: Engine, border: Border
) -> None:
    file(web, photo=True)
    headers, tip_id, evidence = only_evidence(web, border.reviewer_us)
    url = f"/api/v1/tips/{tip_id}/attachments/{evidence['id']}"
    response = web.get(url, headers=headers)
    assert response.status_code == 200
    name = evidence["name"]
    assert name.endswith(".jpg")
    assert "Ram" in name
    assert response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''" + quote(name, safe="!#$&+-.^_`|~")
    )
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert response.headers["cache-control"] == "no-store"
    # The bytes are what intake stored after cleaning, read back with the recovery key.
    with make_session_factory(engine)() as session:
        attachment = session.get(Attachment, uuid.UUID(evidence["id"]))
        assert attachment is not None
        staff = envelopes(engine, uuid.UUID(tip_id))["staff"]
        keys = json.loads(decrypt_bytes(staff, [border.recovery_identity]))
        stored = read_blob(session, attachment.blob_id, [keys["conversation"]])
    assert response.content == stored
    assert response.content[:2] == b"\xff\xd8"
    assert SECRET.encode() not in response.content
    assert response.content != jpeg_file()
    assert actions(engine, tip_id, "attachment.downloaded") == 1


def test_the_download_audit_entry_is_committed_before_any_byte(
    web: TestClient, engine: Engine, border: Border
) -> None:
    """Break the stored file: the stream fails, yet the download is on record."""
    file(web, photo=True)
    headers, tip_id, evidence = only_evidence(web, border.reviewer_us)
    with make_session_factory(engine)() as session:
        attachment = session.get(Attachment, uuid.UUID(evidence["id"]))
        assert attachment is not None
        session.execute(
            update(BlobChunk).where(BlobChunk.blob_id == attachment.blob_id).values(data=b"junk")
        )
        session.commit()
    url = f"/api/v1/tips/{tip_id}/attachments/{evidence['id']}"
    response = web.get(url, headers=headers)
    assert response.content == b""  # the broken header: not one byte of plaintext goes out
    assert actions(engine, tip_id, "attachment.downloaded") == 1


def test_a_conflicted_reviewer_gets_404_everywhere_and_holds_no_key(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    add_conflict(engine, settings, border.reviewer_us.id, "badge", "4471")
    file(web, photo=True, contact="Signal +52 664 000 0000")
    supervisor = api_login(web, border.supervisor_us)
    tip_id = only_tip(web, supervisor)
    (evidence,) = view(web, tip_id, supervisor)["evidence"]
    ana = api_login(web, border.reviewer_us)
    for path in (
        f"/api/v1/tips/{tip_id}",
        f"/api/v1/tips/{tip_id}/related",
        f"/api/v1/tips/{tip_id}/attachments/{evidence['id']}",
    ):
        response = web.get(path, headers=ana)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert web.get("/api/v1/queue", headers=ana).json()["tips"] == []
    opened = envelopes(engine, uuid.UUID(tip_id))
    assert len(opened) == 3
    for data in opened.values():
        with pytest.raises(DecryptionError):
            decrypt_bytes(data, [border.reviewer_us.identity])
    assert actions(engine, tip_id, "tip.viewed") == 1  # the supervisor's only
    assert actions(engine, tip_id, "attachment.downloaded") == 0


def test_staff_outside_the_audience_and_admins_read_nothing(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    file(web, photo=True)
    tip_id = only_tip(web, api_login(web, border.reviewer_us))
    with make_session_factory(engine)() as session:
        attachment_id = session.scalars(select(Attachment.id)).one()
    paths = [
        f"/api/v1/tips/{tip_id}",
        f"/api/v1/tips/{tip_id}/related",
        f"/api/v1/tips/{tip_id}/attachments/{attachment_id}",
    ]
    mx = api_login(web, border.reviewer_mx)
    admin = api_login(web, add_staff(engine, settings, "root2", Role.ADMIN, []))
    for path in paths:
        assert web.get(path, headers=mx).status_code == 404
        assert web.get(path, headers=admin).status_code == 403
        assert web.get(path).status_code == 401
    assert web.get("/api/v1/queue", headers=admin).status_code == 403
    assert actions(engine, tip_id, "tip.viewed") == 0


def test_ids_that_name_nothing_are_404(web: TestClient, border: Border) -> None:
    file(web, photo=True)
    file(web, agency="el-paso-pd", subjects=[{"unit": "Harbour"}])
    headers = api_login(web, border.reviewer_us)
    tips = [t["id"] for t in web.get("/api/v1/queue", headers=headers).json()["tips"]]
    with_photo = next(t for t in tips if view(web, t, headers)["evidence"])
    without = next(t for t in tips if t != with_photo)
    (evidence,) = view(web, with_photo, headers)["evidence"]
    for path in (
        f"/api/v1/tips/{uuid.uuid4()}",
        "/api/v1/tips/not-a-uuid",
        f"/api/v1/tips/{without}/attachments/{evidence['id']}",  # another tip's file
        f"/api/v1/tips/{with_photo}/attachments/{uuid.uuid4()}",
        f"/api/v1/tips/{with_photo}/attachments/nope",
    ):
        assert web.get(path, headers=headers).status_code == 404, path


def test_related_tips_are_listed_only_when_readable(web: TestClient, border: Border) -> None:
    file(web)
    file(web, subjects=[{"name": "JUAN  RAMIREZ", "unit": "Another Unit"}])
    file(web, agency="tijuana-municipal")  # same subjects, but the Mexican compartment
    headers = api_login(web, border.reviewer_us)
    tips = web.get("/api/v1/queue", headers=headers).json()["tips"]
    first, second = sorted(tips, key=lambda t: t["id"])
    related = web.get(f"/api/v1/tips/{first['id']}/related", headers=headers).json()["related"]
    assert [(r["id"], r["matches"]) for r in related] == [(second["id"], ["name"])]
    in_view = view(web, first["id"], headers)["related"]
    assert in_view == related
    mx = api_login(web, border.reviewer_mx)
    (mx_tip,) = web.get("/api/v1/queue", headers=mx).json()["tips"]
    assert web.get(f"/api/v1/tips/{mx_tip['id']}/related", headers=mx).json() == {"related": []}


def test_every_route_carries_the_readers_dependency() -> None:
    for router in (queue_api.router, tips_api.router):
        roles = [getattr(d.dependency, "roles", None) for d in router.dependencies]
        assert roles == [READERS]
