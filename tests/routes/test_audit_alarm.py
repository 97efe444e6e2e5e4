"""The signer's alarm reaches the operator and the auditors (issue 10, item 4).

An entry is rewritten and `audit_nodes` recomputed behind the app's back (direct SQL); the next
signing attempt refuses: no checkpoint, `/readyz` fails with the reason code, the checkpoint API
answers 503, and every `/audit` page carries the alarm until the operator clears it.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.audit.checkpoints import sign_new_checkpoint
from service.audit.models import AuditCheckpoint
from service.config import Settings
from service.errors import HistoryMismatch
from service.staff.models import Role
from tests.factories import Border, StaffHandle, add_staff, transaction
from tests.service.audit_util import edit_entry, fill
from tests.staff_util import page_login

AUDIT_PAGES = ("/audit", "/audit/entries", "/audit/stats")
BANNER = "Audit log alarm: signing stopped"


@pytest.fixture
def auditor(engine: Engine, settings: Settings, border: Border) -> StaffHandle:
    return add_staff(engine, settings, "audrey", Role.AUDITOR, [])


def sign(engine: Engine, settings: Settings) -> None:
    with transaction(engine) as session:
        sign_new_checkpoint(session, settings)


def checkpoints(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0)


def test_a_rewritten_history_stops_signing_fails_readiness_and_alarms_auditors(
    web: TestClient, engine: Engine, settings: Settings, auditor: StaffHandle
) -> None:
    fill(engine, 10)
    sign(engine, settings)
    page_login(web, auditor)
    assert web.get("/readyz").status_code == 200
    assert BANNER not in web.get("/audit").text
    signed = checkpoints(engine)

    edit_entry(engine, 2)
    fill(engine, 2)
    with pytest.raises(HistoryMismatch):
        sign(engine, settings)
    assert web.get("/api/v1/audit/checkpoint").json()["error"] == "audit_log_alarm"
    assert checkpoints(engine) == signed

    ready = web.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"] == "not_ready"
    assert "audit_log_alarm: checkpoint_root_mismatch" in ready.json()["detail"]
    for path in AUDIT_PAGES:
        page = web.get(path)
        assert page.status_code == 200, path
        assert BANNER in page.text, path
        assert "checkpoint_root_mismatch" in page.text, path
    spanish = web.get("/audit?lang=es").text
    assert "Alarma de la bitácora de auditoría" in spanish
