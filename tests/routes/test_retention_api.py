"""Retention warnings over HTTP: `GET /api/v1/retention/expiring` and the approvals page list a
closed tip whose retention ends soon for the supervisors of its compartment only, content-free;
a system purge request shows up to decide, and the approval answer says the worker purges it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.config import Settings
from service.db import utcnow
from service.staff.models import Role
from tests.factories import Border, add_staff, submit
from tests.service.retention_util import close_as_of, run_sweep
from tests.staff_util import api_login, page_login


def test_supervisors_of_the_compartment_see_expiring_tips_and_decide_the_system_request(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    soon, _ = submit(engine, settings)
    close_as_of(engine, soon, utcnow() - timedelta(days=350))
    expired, _ = submit(engine, settings)
    close_as_of(engine, expired, utcnow() - timedelta(days=400))
    sam, ana = api_login(web, border.supervisor_us), api_login(web, border.reviewer_us)
    listed = web.get("/api/v1/retention/expiring", headers=sam)
    assert listed.status_code == 200, listed.text
    tips = listed.json()["tips"]
    assert [t["tip_id"] for t in tips] == [str(expired), str(soon)]
    assert set(tips[0]) == {
        "tip_id",
        "compartment",
        "closed_on",
        "expires_on",
        "legal_hold",
        "purge_requested",
    }
    assert web.get("/api/v1/retention/expiring", headers=ana).status_code == 403
    assert web.get("/api/v1/retention/expiring").status_code == 401
    mx = add_staff(engine, settings, "maria", Role.SUPERVISOR, ["mx"])
    otto = api_login(web, mx)  # a supervisor of another compartment only
    assert web.get("/api/v1/retention/expiring", headers=otto).json()["tips"] == []

    assert run_sweep(engine, settings, utcnow()).requested == 1
    tips = web.get("/api/v1/retention/expiring", headers=sam).json()["tips"]
    assert [t["purge_requested"] for t in tips] == [True, False]
    (pending,) = web.get("/api/v1/approvals", headers=sam).json()["approvals"]
    assert (pending["tip_id"], pending["requested_by"]) == (str(expired), "system")
    decided = web.post(
        f"/api/v1/approvals/{pending['id']}/decision", headers=sam, json={"approve": True}
    )
    assert decided.status_code == 200, decided.text
    assert "worker" in decided.json()["detail"]

    page_login(web, border.supervisor_us)
    page = web.get("/staff/approvals")
    assert page.status_code == 200
    assert "Retention ending" in page.text
    assert str(soon)[:8] in page.text
    assert uuid.UUID(str(expired))  # ids only: the page shows no content
