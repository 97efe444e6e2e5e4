"""What a referral export refuses, over real HTTP on SQLite and PostgreSQL, and that a refusal
leaves nothing behind: no bundle, no used approval, no `tip.exported` entry."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.audit.alarm import clear_alarm, raise_alarm
from service.audit.models import AuditEntry
from service.config import Settings
from service.db import make_session_factory
from service.export.models import TipExport
from tests.factories import REFERRAL_RECIPIENT, submit
from tests.routes.export_util import Team, approve, file_tip, new_recipient, request_export
from tests.service.evidence_samples import jpeg_file


def _export(web: TestClient, who: dict[str, str], tip_id: object, approval: object) -> int:
    return web.post(f"/api/v1/tips/{tip_id}/exports/{approval}", headers=who).status_code


def _nothing_exported(engine: Engine) -> None:
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(TipExport)) == 0
        exported = select(func.count()).where(AuditEntry.action == "tip.exported")
        assert session.scalar(exported) == 0


def test_refusals_leave_nothing_behind(
    web: TestClient,
    engine: Engine,
    settings: object,
    export_team: Team,
    tmp_path: Path,
) -> None:
    tip_id = file_tip(web, engine, jpeg_file())
    other_tip, _ = submit(engine, settings)  # type: ignore[arg-type]
    who = new_recipient(tmp_path)
    # Without any approval, or with an id that is none.
    assert _export(web, export_team.ana, tip_id, uuid.uuid4()) == 404
    assert _export(web, export_team.ana, tip_id, "not-an-id") == 404
    approval = request_export(web, export_team.ana, tip_id, who.recipient)
    # Still pending.
    assert _export(web, export_team.ana, tip_id, approval) == 409
    # The requester cannot approve their own request; a reviewer cannot approve.
    url = f"/api/v1/approvals/{approval}/decision"
    assert web.post(url, json={"approve": True}, headers=export_team.ana).status_code == 403
    assert web.post(url, json={"approve": True}, headers=export_team.rita).status_code == 403
    approve(web, export_team.sam, approval)
    # The approval of another tip names no export of this one.
    assert _export(web, export_team.ana, other_tip, approval) == 404
    # A reader outside the audience: 404, as for a tip that does not exist.
    assert _export(web, export_team.luis, tip_id, approval) == 404
    # A reader of the tip who neither asked nor approved.
    assert _export(web, export_team.rita, tip_id, approval) == 403
    # A supervisor who did neither.
    assert _export(web, export_team.sue, tip_id, approval) == 403
    _nothing_exported(engine)
    # A rejected request gives nothing either.
    rejected = request_export(web, export_team.ana, other_tip, REFERRAL_RECIPIENT)
    decided = web.post(
        f"/api/v1/approvals/{rejected}/decision", json={"approve": False}, headers=export_team.sam
    )
    assert decided.status_code == 200
    assert _export(web, export_team.ana, other_tip, rejected) == 409
    _nothing_exported(engine)
    # The real one works once.
    assert _export(web, export_team.ana, tip_id, approval) == 200
    assert _export(web, export_team.sam, tip_id, approval) == 409


def test_malformed_requests_are_refused_and_file_nothing(
    web: TestClient,
    engine: Engine,
    export_team: Team,
    tmp_path: Path,
) -> None:
    tip_id = file_tip(web, engine, jpeg_file())
    base = f"/api/v1/tips/{tip_id}/approvals"
    bodies = [
        {"kind": "export"},
        {"kind": "export", "recipient": ""},
        {"kind": "export", "recipient": "age1qqqq"},
        {"kind": "export", "recipient": "AGE-SECRET-KEY-1QQQQ"},
        {"kind": "export", "recipient": REFERRAL_RECIPIENT.upper()[:-1] + "X"},
        {"kind": "export", "recipient": REFERRAL_RECIPIENT, "redacted": "yes"},
        {"kind": "export", "recipient": REFERRAL_RECIPIENT, "notes": [str(uuid.uuid4())]},
        {"kind": "export", "recipient": REFERRAL_RECIPIENT, "notes": "all"},
        {"kind": "purge", "recipient": REFERRAL_RECIPIENT},
    ]
    for body in bodies:
        answer = web.post(base, json=body, headers=export_team.ana)
        assert answer.status_code == 422, (body, answer.status_code, answer.text)
    outsider = web.post(
        base, json={"kind": "export", "recipient": REFERRAL_RECIPIENT}, headers=export_team.luis
    )
    assert outsider.status_code == 404
    with make_session_factory(engine)() as session:
        requested = select(func.count()).where(AuditEntry.action == "approval.requested")
        assert session.scalar(requested) == 0


def test_no_bundle_while_the_audit_log_alarm_is_on(
    web: TestClient, engine: Engine, settings: Settings, export_team: Team, tmp_path: Path
) -> None:
    tip_id = file_tip(web, engine, jpeg_file())
    approval = request_export(web, export_team.ana, tip_id, new_recipient(tmp_path).recipient)
    approve(web, export_team.sam, approval)
    raise_alarm(settings.effective_keys_dir, "entry_altered", 1)
    answer = web.post(f"/api/v1/tips/{tip_id}/exports/{approval}", headers=export_team.ana)
    assert answer.status_code == 503  # refused before the first byte: no checkpoint to sign
    assert answer.json()["error"] == "audit_log_alarm"
    _nothing_exported(engine)
    clear_alarm(settings.effective_keys_dir)
    assert _export(web, export_team.ana, tip_id, approval) == 200
