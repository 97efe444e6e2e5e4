"""The staff queue and tip pages: no JavaScript, en/es, audience only, audited like the API."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from routes.pages import staff_queue
from service.audit.log import history
from service.db import make_session_factory
from tests.factories import Border, tip_json
from tests.service.evidence_samples import jpeg_file
from tests.staff_util import page_login


def file(web: TestClient, *, photo: bool = False, **overrides: object) -> None:
    files: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("tip", (None, json.dumps(tip_json(**overrides)).encode(), "application/json"))
    ]
    if photo:
        files.append(("files", ("photo.jpg", jpeg_file(), "image/jpeg")))
    assert web.post("/api/v1/tips", files=files).status_code == 201


def count(engine: Engine, tip_id: str, action: str) -> int:
    with make_session_factory(engine)() as session:
        return [e.action for e in history(session, uuid.UUID(tip_id))].count(action)


def tip_links(html: str) -> list[str]:
    return re.findall(r'href="/staff/tips/([0-9a-f-]{36})', html)


def test_the_queue_page_lists_marks_and_filters(web: TestClient, border: Border) -> None:
    file(web, threat_to_life=True)
    file(web)
    file(web, agency="tijuana-municipal")
    page_login(web, border.reviewer_us)
    page = web.get("/staff/queue")
    assert page.status_code == 200
    assert "<script" not in page.text
    assert len(tip_links(page.text)) == 2
    assert 'class="flag flag-urgent"' in page.text
    assert "Acknowledgement due" in page.text
    urgent_only = web.get("/staff/queue?urgent=yes&status=received&assignee=none")
    assert len(tip_links(urgent_only.text)) == 1
    assert 'value="yes" selected' in urgent_only.text
    assert "No tips match." in web.get("/staff/queue?overdue=yes").text
    spanish = web.get("/staff/queue?lang=es")
    assert "Vencimiento del acuse" in spanish.text
    assert "Urgente" in spanish.text
    assert web.get("/staff/queue?urgent=maybe").status_code == 422
    assert web.get("/staff/queue?cursor=nonsense").status_code == 400


def test_the_queue_page_has_a_next_page_link(
    web: TestClient, border: Border, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        file(web)
    page_login(web, border.reviewer_us)
    monkeypatch.setattr(staff_queue, "PAGE_SIZE", 2)
    first = web.get("/staff/queue?status=received")
    match = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert match is not None
    second = web.get(match.group(1).replace("&amp;", "&"))
    assert "status=received" in match.group(1)
    seen = tip_links(first.text) + tip_links(second.text)
    assert len(seen) == len(set(seen)) == 3
    assert 'rel="next"' not in second.text


def test_the_tip_page_shows_everything_and_is_audited(
    web: TestClient, engine: Engine, border: Border
) -> None:
    file(web, photo=True, contact="Signal +52 664 000 0000")
    file(web, subjects=[{"badge": "4471"}])
    page_login(web, border.supervisor_us)
    queue = web.get("/staff/queue").text
    tip_id = next(t for t in tip_links(queue) if "photo.jpg" in web.get(f"/staff/tips/{t}").text)
    viewed = count(engine, tip_id, "tip.viewed")
    page = web.get(f"/staff/tips/{tip_id}")
    assert page.status_code == 200
    assert count(engine, tip_id, "tip.viewed") == viewed + 1
    text = page.text
    assert "Sergeant Ramirez takes cash" in text
    assert "Bridge Unit 3" in text
    assert f'href="/api/v1/tips/{tip_id}/attachments/' in text
    assert "Confidential contact on file." in text
    assert "Signal" not in text
    assert "same badge" in text
    assert "<script" not in text
    assert "Bribery" in text
    download = re.search(r'href="(/api/v1/tips/[^"]+/attachments/[^"]+)"', text)
    assert download is not None
    assert web.get(download.group(1)).status_code == 200  # the cookie serves API reads
    assert count(engine, tip_id, "attachment.downloaded") == 1
    spanish = web.get(f"/staff/tips/{tip_id}?lang=es").text
    assert "Soborno" in spanish
    assert "Conversación con quien denuncia" in spanish


def test_the_tip_page_is_404_outside_the_audience(web: TestClient, border: Border) -> None:
    file(web)
    page_login(web, border.reviewer_us)
    (tip_id,) = tip_links(web.get("/staff/queue").text)
    web.cookies.clear()
    page_login(web, border.reviewer_mx)
    assert web.get(f"/staff/tips/{tip_id}").status_code == 404
    assert web.get("/staff/tips/not-an-id").status_code == 404
    web.cookies.clear()
    signed_out = web.get(f"/staff/tips/{tip_id}", follow_redirects=False)
    assert signed_out.status_code == 303
    assert "/staff/login" in signed_out.headers["location"]
