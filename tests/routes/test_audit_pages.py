"""The auditor's pages and the statistics API, over real HTTP on both backends.

Tips come in through the intake API and move through the workflow service (tests/service/
stats_util.py); checkpoints are signed by the audit service; forgeries are inserted straight into
`audit_checkpoints`, behind the app's back.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.note import generate_signer
from service.audit.checkpoints import sign_new_checkpoint
from service.audit.log import flush_pending, log_size, record
from service.audit.models import AuditCheckpoint, AuditEntry
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.instance.keys import load_log_signer
from service.staff.models import Role
from tests.factories import Border, StaffHandle, add_staff, tip_json
from tests.service.stats_util import NARRATIVE, SUBJECT, build_history
from tests.staff_util import api_login, page_login

AUDIT_PAGES = ("/audit", "/audit/entries", "/audit/stats")


@pytest.fixture
def auditor(engine: Engine, settings: Settings, border: Border) -> StaffHandle:
    return add_staff(engine, settings, "audrey", Role.AUDITOR, [])


def submit(web: TestClient, **overrides: object) -> str:
    response = web.post("/api/v1/tips", json=tip_json(**overrides))
    assert response.status_code == 201, response.text
    return str(response.json()["receipt"])


def sign(engine: Engine, settings: Settings) -> None:
    """What the worker does: move reporter events into the log, then sign a checkpoint."""
    with session_scope(make_session_factory(engine)) as session:
        flush_pending(session, rng=random.Random(7))
        sign_new_checkpoint(session, settings)


def entries_count(engine: Engine, action: str | None = None) -> int:
    query = select(func.count()).select_from(AuditEntry)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)


# ---- Who may see what ----


@pytest.mark.parametrize("path", AUDIT_PAGES)
def test_reviewer_gets_403_on_audit_pages(web: TestClient, border: Border, path: str):
    page_login(web, border.reviewer_us)
    assert web.get(path).status_code == 403


def test_reviewer_gets_403_on_stats_api(web: TestClient, border: Border):
    headers = api_login(web, border.reviewer_us)
    assert web.get("/api/v1/stats", headers=headers).status_code == 403


def test_anonymous_is_sent_to_sign_in_and_api_says_401(web: TestClient, border: Border):
    response = web.get("/audit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login")
    assert web.get("/api/v1/stats").status_code == 401


def test_supervisor_reads_statistics_but_not_the_log(web: TestClient, border: Border):
    page_login(web, border.supervisor_us)
    assert web.get("/audit/stats").status_code == 200
    assert web.get("/audit").status_code == 403
    assert web.get("/audit/entries").status_code == 403
    headers = api_login(web, border.supervisor_us)
    assert web.get("/api/v1/stats", headers=headers).status_code == 200


# ---- Checkpoint status ----


def test_checkpoint_status_is_verified_for_an_honest_log(
    web: TestClient, engine: Engine, settings: Settings, auditor: StaffHandle
):
    submit(web)
    sign(engine, settings)
    submit(web, agency="tijuana-municipal")
    sign(engine, settings)  # a second checkpoint: the page checks consistency between the two
    page_login(web, auditor)
    page = web.get("/audit")
    assert page.status_code == 200
    assert "Verified" in page.text
    assert "NOT verified" not in page.text
    assert "consistent with the previous checkpoint" in page.text


def test_no_checkpoint_yet_is_said_plainly(web: TestClient, auditor: StaffHandle):
    page_login(web, auditor)
    page = web.get("/audit")
    assert "No checkpoint has been signed yet" in page.text
    assert "Verified" not in page.text


def _forge(engine: Engine, settings: Settings, kind: str) -> None:
    real = load_log_signer(settings.effective_keys_dir)
    with session_scope(make_session_factory(engine)) as session:
        record(session, actor="system", action="test.grew")  # an honest append after the last
        size = log_size(session)
        if kind == "beyond_log":
            # The real key over a size the log does not reach: entries were cut off.
            note = sign_checkpoint(Checkpoint(real.name, size + 5, b"\x07" * 32), real)
            size += 5
        elif kind == "wrong_key":
            # Same log name, another key: what someone without the key file could write.
            signer = generate_signer(real.name)
            note = sign_checkpoint(Checkpoint(real.name, size, b"\x07" * 32), signer)
        else:
            # The real key, but a root that is not the stored entries' root.
            note = sign_checkpoint(Checkpoint(real.name, size, b"\x07" * 32), real)
        session.execute(
            insert(AuditCheckpoint).values(size=size, note=note, created_at=datetime.now(UTC))
        )


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("wrong_key", "newest stored checkpoint is not signed by this log"),
        ("wrong_root", "do not add up to the newest checkpoint"),
        ("beyond_log", "covers more entries than the log holds"),
    ],
)
def test_forged_checkpoint_is_reported_not_verified(
    web: TestClient,
    engine: Engine,
    settings: Settings,
    auditor: StaffHandle,
    kind: str,
    reason: str,
):
    submit(web)
    sign(engine, settings)
    submit(web)
    _forge(engine, settings, kind)
    page_login(web, auditor)
    page = web.get("/audit")
    assert page.status_code == 200
    assert "NOT verified" in page.text
    assert reason in page.text


def test_reading_the_overview_is_itself_audited(web: TestClient, engine: Engine, auditor):
    page_login(web, auditor)
    before = entries_count(engine, "audit.read")
    web.get("/audit")
    assert entries_count(engine, "audit.read") == before + 1


# ---- Entries ----


def _fill(engine: Engine, actor: StaffHandle, count: int) -> None:
    with session_scope(make_session_factory(engine)) as session:
        for i in range(count):
            record(session, actor=actor.id, action="tip.viewed", details={"n": i})


def test_entries_filter_by_action_and_actor_with_next_link(
    web: TestClient, engine: Engine, border: Border, auditor: StaffHandle
):
    _fill(engine, border.reviewer_us, 7)
    page_login(web, auditor)
    first = web.get("/audit/entries", params={"action": "tip.viewed", "actor": "ana", "limit": 5})
    assert first.status_code == 200
    assert first.text.count("<code>tip.viewed</code>") == 5
    assert "n=<code>6</code>" in first.text  # newest first
    match = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert match is not None
    second = web.get(match.group(1).replace("&amp;", "&"))
    assert second.text.count("<code>tip.viewed</code>") == 2
    assert 'rel="next"' not in second.text
    assert "n=<code>0</code>" in second.text


def test_entries_filter_by_tip_id_finds_that_tips_entries(
    web: TestClient, engine: Engine, settings: Settings, border: Border, auditor: StaffHandle
):
    submit(web)
    submit(web)
    sign(engine, settings)
    with engine.connect() as conn:
        tip_ids = [r for r in conn.scalars(select(AuditEntry.tip_id).distinct()) if r]
    target = tip_ids[0]
    page_login(web, auditor)
    page = web.get("/audit/entries", params={"object": str(target).upper()})
    assert page.status_code == 200
    cell = r'<td><a href="[^"]+" title="([0-9a-f-]{36})"><code class="id">'
    shown = set(re.findall(cell, page.text))
    assert shown == {str(target)}


def test_reading_entries_records_the_filters(web: TestClient, engine: Engine, auditor):
    page_login(web, auditor)
    web.get("/audit/entries", params={"action": "tip.", "from": "2026-01-01"})
    with engine.connect() as conn:
        last = conn.scalar(select(AuditEntry.canonical).order_by(AuditEntry.index.desc()))
    assert last is not None
    assert b'"action":"audit.read"' in last
    assert b'"date_from":"2026-01-01"' in last
    assert b'"view":"entries"' in last


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"action": "Tip Viewed"},
        {"actor": "a b"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"object": "x" * 200},
    ],
)
def test_bad_filter_is_422_and_records_nothing(web: TestClient, engine: Engine, auditor, params):
    page_login(web, auditor)
    before = entries_count(engine)
    response = web.get("/audit/entries", params=params)
    assert response.status_code == 422
    assert entries_count(engine) == before


# ---- Statistics ----


def test_statistics_page_has_charts_tables_and_the_suppression_notice(
    web: TestClient, engine: Engine, settings: Settings, border: Border, auditor: StaffHandle
):
    build_history(engine, settings, border)
    page_login(web, auditor)
    page = web.get("/audit/stats")
    assert page.status_code == 200
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2 + 3  # 3 compartments
    assert 'role="img"' in page.text
    assert "is shown as &#34;&lt;3&#34;" in page.text or 'is shown as "&lt;3"' in page.text
    assert "<script" not in page.text
    assert 'style="' not in page.text  # the CSP forbids inline styles


def test_statistics_page_in_spanish(web: TestClient, engine, settings, border, auditor):
    page_login(web, auditor)
    page = web.get("/audit/stats", params={"lang": "es"})
    assert page.status_code == 200
    assert "Estadísticas" in page.text


def test_stats_json_has_the_figures(
    web: TestClient, engine: Engine, settings: Settings, border: Border, auditor: StaffHandle
):
    build_history(engine, settings, border)
    headers = api_login(web, auditor)
    body = web.get("/api/v1/stats", headers=headers).json()
    assert body["overall"]["tips"] == 9
    assert body["overall"]["ack_times"] == {"count": 6, "median": 2.5, "p90": 9}
    assert body["overall"]["closures_by_reason"]["findings"] == 1
    assert body["overall"]["findings"]["sustained"] == 1
    us = next(c for c in body["compartments"] if c["name"] == "us")
    assert us["figures"]["acknowledgement"]["late"] == 1
    assert len(body["weekly"]) == 26
    closures = body["closures"]  # one contested closure, by ana: small cells hidden
    [ana] = closures["by_reviewer"]
    assert ana["reviewer"] == "ana"
    assert ana["closures"] == {"count": None, "label": "*"}  # it would give the other away
    assert ana["contested"] == {"count": None, "label": "<3"}
    assert closures["total"]["contested"] == {"count": None, "label": "<3"}
    page_login(web, auditor)
    page = web.get("/audit/stats").text
    assert "Closures by closing reviewer" in page
    assert "<td>&lt;3</td>" in page
    assert web.get("/api/v1/stats?weeks=0", headers=headers).status_code == 422
    assert web.get("/api/v1/stats?weeks=1000", headers=headers).status_code == 422


def test_auditor_sees_no_content_anywhere(
    web: TestClient, engine: Engine, settings: Settings, border: Border, auditor: StaffHandle
):
    receipts = [submit(web), submit(web, agency="tijuana-municipal")]
    history = build_history(engine, settings, border)
    receipts += history.receipts
    sign(engine, settings)
    headers = api_login(web, auditor)
    page_login(web, auditor)
    texts = [web.get(path).text for path in AUDIT_PAGES]
    texts.append(web.get("/audit/entries", params={"limit": 200}).text)
    texts.append(web.get("/api/v1/stats", headers=headers).text)
    secrets = [NARRATIVE, SUBJECT, "Ramirez", "Bridge Unit 3", "Ysleta", *receipts]
    for text in texts:
        for secret in secrets:
            assert secret not in text
            assert secret.replace("-", "") not in text
