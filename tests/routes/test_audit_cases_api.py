"""The case list over real HTTP on both backends: `GET /api/v1/audit/cases.csv`, `GET
/api/v1/audit/cases` with `Accept: text/csv`, and the `/audit/cases.csv` page download.

Tips come in through the intake API (with marker strings in every field a reporter writes) and
the dated workflow history of tests/service/stats_util.py; one is purged through the approvals
API. The rows themselves are checked column by column in tests/service/test_audit_cases.py.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from routes.app import create_app
from service.audit import cases
from service.audit.canonical import decode_entry
from service.audit.cases import COLUMNS, CaseFilters, case_csv
from service.audit.models import AuditEntry
from service.cli import app as cli_app
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.retention.sweep import purge_job
from service.staff.models import Role
from service.tips.models import Tip
from tests.factories import Border, StaffHandle, add_staff, intake, tip_json, transaction
from tests.service.stats_util import build_history
from tests.staff_util import api_login, page_login

PATHS = ("/api/v1/audit/cases.csv", "/api/v1/audit/cases", "/audit/cases.csv")
CSV = {"Accept": "text/csv"}
MARKED = tip_json(
    narrative="zqnarrative: the marker text",
    subjects=[{"name": "Zqname Zqsurname", "badge": "ZQ9911", "rank": "zq", "unit": "zqunit"}],
    location="zqlocation",
    incident_date="1999-04",
    contact="zqcontact signal 555-0199",
)


@pytest.fixture
def auditor(engine: Engine, settings: Settings, border: Border) -> StaffHandle:
    return add_staff(engine, settings, "audrey", Role.AUDITOR, [])


def _exports(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.scalars(
            select(AuditEntry.canonical)
            .where(AuditEntry.action == "audit.cases_exported")
            .order_by(AuditEntry.index)
        )
        return [decode_entry(bytes(c)).details for c in rows]


def _table(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def _expected(engine: Engine, filters: CaseFilters | None = None) -> bytes:
    with transaction(engine) as session:
        return b"".join(case_csv(session, filters or CaseFilters(), today=utcnow().date()))


# ---- Who may read it ----


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("who", ["reviewer_us", "supervisor_us", "admin"])
def test_other_roles_get_403_and_nothing_is_recorded(
    web: TestClient, engine: Engine, settings: Settings, border: Border, path: str, who: str
) -> None:
    member = (
        add_staff(engine, settings, "adam", Role.ADMIN, [])
        if who == "admin"
        else getattr(border, who)
    )
    if path.startswith("/api/"):
        response = web.get(path, headers={**api_login(web, member), **CSV})
    else:
        page_login(web, member)
        response = web.get(path)
    assert response.status_code == 403
    assert "text/csv" not in response.headers["content-type"]
    assert _exports(engine) == []


@pytest.mark.parametrize("path", PATHS)
def test_anonymous_gets_401_or_the_sign_in(web: TestClient, engine: Engine, path: str) -> None:
    response = web.get(path, headers=CSV, follow_redirects=False)
    if path.startswith("/api/"):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
    else:
        assert response.status_code == 303
        assert response.headers["location"].startswith("/staff/login")
    assert _exports(engine) == []


# ---- What it says ----


def test_auditor_gets_the_same_list_from_all_three_and_each_read_is_recorded(
    web: TestClient, engine: Engine, settings: Settings, border: Border, auditor: StaffHandle
) -> None:
    build_history(engine, settings, border)
    assert web.post("/api/v1/tips", json=MARKED).status_code == 201
    today = utcnow().date()
    with transaction(engine) as session:  # listed once its day is over (no finer dating)
        moved = update(Tip).where(Tip.received_on == today)
        session.execute(moved.values(received_on=today - timedelta(days=1)))
    ana, sam = api_login(web, border.reviewer_us), api_login(web, border.supervisor_us)
    doomed = web.get("/api/v1/queue", headers=ana).json()["tips"][0]["id"]
    asked = web.post(f"/api/v1/tips/{doomed}/approvals", headers=ana, json={"kind": "purge"})
    decision = f"/api/v1/approvals/{asked.json()['approval_id']}/decision"
    assert web.post(decision, headers=sam, json={"approve": True}).status_code == 200
    assert purge_job(make_session_factory(engine), settings) == 1  # the worker carries it out

    headers = api_login(web, auditor)
    by_path = web.get("/api/v1/audit/cases.csv", headers=headers)
    by_accept = web.get("/api/v1/audit/cases", headers={**headers, "Accept": "text/csv"})
    by_wildcard = web.get("/api/v1/audit/cases", headers={**headers, "Accept": "*/*"})
    page_login(web, auditor)
    by_page = web.get("/audit/cases.csv")
    for response in (by_path, by_accept, by_wildcard, by_page):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"].startswith("attachment; filename=")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content == by_path.content
    assert by_path.content == _expected(engine)

    rows = _table(by_path.content)
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 10
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert [r["id"] for r in rows if r["purged"] == "true"] == [doomed]
    states = {r["status"] for r in rows}
    assert states == {"received", "triage", "investigating", "closed"}
    closed = sorted((r["closure_reason"], r["findings"]) for r in rows if r["status"] == "closed")
    assert closed == [
        ("duplicate", ""),
        ("findings", "bribery:sustained;leaking:not_sustained"),
        ("spam", ""),
    ]
    # Received 2026-11-10 and never acknowledged: long overdue by now.
    overdue = [r for r in rows if r["received_on"] == "2026-11-10" and r["status"] == "received"]
    assert [r["acknowledgement_deadline"] for r in overdue] == ["missed"]

    text = by_path.content.decode()
    for marker in ("Ramirez", "Ramírez", "Ysleta", "4471", "Bridge Unit", "1999", "555-0199"):
        assert marker not in text, marker
    assert "zq" not in text.lower()
    assert [(e["via"], e["count"]) for e in _exports(engine)] == [
        ("api", 10),
        ("api", 10),
        ("api", 10),
        ("page", 10),
    ]


def test_other_media_types_get_406_and_nothing_is_recorded(
    web: TestClient, engine: Engine, auditor: StaffHandle
) -> None:
    headers = api_login(web, auditor)
    for accept in ("application/json", "text/html, application/xml;q=0.9", "text/csv;q=0"):
        response = web.get("/api/v1/audit/cases", headers={**headers, "Accept": accept})
        assert response.status_code == 406, accept
        assert response.json()["error"] == "not_acceptable"
    assert _exports(engine) == []
    weighted = web.get(
        "/api/v1/audit/cases", headers={**headers, "Accept": "application/json, text/*;q=0.5"}
    )
    assert weighted.status_code == 200
    assert weighted.headers["content-type"] == "text/csv; charset=utf-8"


def test_the_audit_pages_offer_the_download(web: TestClient, auditor: StaffHandle) -> None:
    page_login(web, auditor)
    overview = web.get("/audit").text
    assert 'href="/audit/cases.csv"' in overview
    assert 'action="/audit/cases.csv"' in overview
    assert 'name="closed_since"' in overview
    refused = web.get("/audit/cases.csv?compartment=nowhere")
    assert refused.status_code == 422
    assert "text/html" in refused.headers["content-type"]


def test_filters_and_refused_filters(
    web: TestClient, engine: Engine, settings: Settings, border: Border, auditor: StaffHandle
) -> None:
    build_history(engine, settings, border)
    headers = api_login(web, auditor)
    mx = web.get("/api/v1/audit/cases.csv?compartment=mx", headers=headers)
    assert {r["compartment"] for r in _table(mx.content)} == {"mx"}
    assert len(_table(mx.content)) == 2
    november = web.get(
        "/api/v1/audit/cases.csv?closed_since=2026-11-13&closed_until=2026-11-20", headers=headers
    )
    assert sorted(r["closed_on"] for r in _table(november.content)) == [
        "2026-11-13",
        "2026-11-20",
    ]
    open_ended = web.get(
        "/api/v1/audit/cases.csv?closed_since=0001-01-01&closed_until=9999-12-31", headers=headers
    )
    assert len(_table(open_ended.content)) == 3  # every closed tip
    recorded = _exports(engine)
    assert [e["count"] for e in recorded] == [2, 2, 3]
    assert recorded[1]["closed_since"] == "2026-11-13"
    for query in (
        "compartment=nowhere",
        "closed_since=yesterday",
        "closed_since=2026-11-20&closed_until=2026-11-13",
        "compartment=" + "x" * 65,
    ):
        response = web.get(f"/api/v1/audit/cases.csv?{query}", headers=headers)
        assert response.status_code == 422, query
    assert len(_exports(engine)) == 3


def test_a_long_list_streams_in_order(
    web: TestClient,
    engine: Engine,
    settings: Settings,
    auditor: StaffHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = {intake(engine, settings, received_on=date(2026, 11, 2))[0] for _ in range(300)}
    monkeypatch.setattr(cases, "PAGE", 64)  # five pages
    response = web.get("/api/v1/audit/cases.csv", headers=api_login(web, auditor))
    assert response.status_code == 200
    assert [uuid.UUID(r["id"]) for r in _table(response.content)] == sorted(ids)
    assert _exports(engine)[0]["count"] == 300


def test_cli_writes_the_same_bytes_as_the_api(
    web: TestClient,
    engine: Engine,
    cheap_kdf_env: Settings,
    border: Border,
    auditor: StaffHandle,
) -> None:
    build_history(engine, cheap_kdf_env, border)
    response = web.get("/api/v1/audit/cases.csv?compartment=us", headers=api_login(web, auditor))
    result = CliRunner().invoke(cli_app, ["audit", "cases", "-", "--compartment", "us"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == response.content
    assert [e["via"] for e in _exports(engine)] == ["api", "cli"]


def test_openapi_documents_the_csv_answer() -> None:
    schema = create_app(Settings(database_url="sqlite://")).openapi()
    for path in ("/api/v1/audit/cases", "/api/v1/audit/cases.csv"):
        operation = schema["paths"][path]["get"]
        answer = operation["responses"]["200"]
        assert answer["content"]["text/csv"]["schema"]["type"] == "string"
        assert ",".join(COLUMNS) in answer["description"].replace(", ", ",")
        assert {"401", "403", "422"} <= set(operation["responses"])
        names = {p["name"] for p in operation["parameters"]}
        assert {"compartment", "closed_since", "closed_until"} <= names
    assert "406" in schema["paths"]["/api/v1/audit/cases"]["get"]["responses"]
