"""After a key rotation, over real HTTP: the remaining audience reads the tip, its evidence and
its conversation (old and new); the removed reviewer gets 404; the reporter's old session gets
401 on the API and back to the sign-in page on the status pages, and the receipt opens
everything again."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.access.service import remove_member_with_access
from service.audit.log import history
from service.config import Settings
from tests.factories import Border, in_tx, submit
from tests.routes.reporter_pages_util import forms
from tests.routes.test_reporter_status_pages import sign_in
from tests.service.access_util import staff_row
from tests.staff_util import api_login

EVIDENCE = b"ledger page, photographed " * 100


def _reporter(web: TestClient, receipt: str) -> dict[str, str]:
    response = web.post("/api/v1/reporter/session", json={"receipt": receipt})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _view(web: TestClient, tip_id: uuid.UUID, headers: dict[str, str]) -> dict[str, Any]:
    response = web.get(f"/api/v1/tips/{tip_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _staff_writes(web: TestClient, tip_id: uuid.UUID, headers: dict[str, str], text: str) -> None:
    for kind in ("messages", "notes"):
        body = {"body": f"{kind} {text}"}
        response = web.post(f"/api/v1/tips/{tip_id}/{kind}", json=body, headers=headers)
        assert response.status_code == 201, response.text


def _reporter_writes(web: TestClient, headers: dict[str, str], text: str) -> None:
    sent = web.post("/api/v1/reporter/messages", json={"body": text}, headers=headers)
    assert sent.status_code == 201, sent.text
    files = {"files": (f"{text}.txt", EVIDENCE, "text/plain")}
    stored = web.post("/api/v1/reporter/attachments", files=files, headers=headers)
    assert stored.status_code == 201, stored.text


def _remove_ana(engine: Engine, border: Border) -> None:
    def remove(session: Session) -> int:
        staff = staff_row(session, border.reviewer_us)
        return remove_member_with_access(session, compartment="us", staff=staff, actor="system")

    in_tx(engine, remove)


def test_the_remaining_audience_and_the_reporter_read_everything_after_a_rotation(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, receipt = submit(engine, settings)
    sam, ana = api_login(web, border.supervisor_us), api_login(web, border.reviewer_us)
    reporter = _reporter(web, receipt)
    _staff_writes(web, tip_id, sam, "before")
    _reporter_writes(web, reporter, "before")
    sign_in(web, receipt)  # a status-page session too, from before the rotation

    _remove_ana(engine, border)
    applied = web.post("/api/v1/access/apply", json={}, headers=sam)
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"rewritten": 1}
    actions = [e.action for e in in_tx(engine, lambda s: history(s, tip_id))]
    assert actions[-2:] == ["tip.access_rewritten", "tip.keys_rotated"]

    assert web.get(f"/api/v1/tips/{tip_id}", headers=ana).status_code == 404
    assert web.get("/api/v1/reporter/tip", headers=reporter).status_code == 401
    refused = web.post("/api/v1/reporter/messages", json={"body": "late"}, headers=reporter)
    assert refused.status_code == 401
    files = {"files": ("late.txt", EVIDENCE, "text/plain")}
    refused = web.post("/api/v1/reporter/attachments", files=files, headers=reporter)
    assert refused.status_code == 401
    page = web.get("/status/tip", follow_redirects=False)  # the old page session
    assert page.status_code in (302, 303)
    assert "/status" in page.headers["location"]

    _staff_writes(web, tip_id, sam, "after")
    again = _reporter(web, receipt)
    _reporter_writes(web, again, "after")

    view = _view(web, tip_id, sam)
    conversation = [m["body"] for m in view["conversation"]]
    assert conversation == ["messages before", "before", "messages after", "after"]
    assert [n["body"] for n in view["notes"]] == ["notes before", "notes after"]
    assert view["report"]["narrative"]
    assert len(view["evidence"]) == 2
    for evidence in view["evidence"]:
        url = f"/api/v1/tips/{tip_id}/attachments/{evidence['id']}"
        download = web.get(url, headers=sam)
        assert download.status_code == 200
        assert download.content == EVIDENCE
    shown = web.get("/api/v1/reporter/tip", headers=again).json()
    assert [m["body"] for m in shown["messages"]] == conversation
    assert [a["name"] for a in shown["attachments"]] == ["before.txt", "after.txt"]
    sign_in(web, receipt)
    page = web.get("/status/tip")
    assert page.status_code == 200
    assert "messages after" in page.text
    assert forms(page.text)
