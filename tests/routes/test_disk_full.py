"""A full database, simulated with SQLite's `max_page_count` (runs everywhere): every request that
needs a write answers 507 with the clear message (JSON for the API, a page for people), /readyz
says so, nothing is half-stored, and raising the limit brings the same requests back without a
restart. The real full disk (a small tmpfs) is in tests/test_disk_full_tmpfs.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select

from crypto.receipt import new_receipt
from routes.app import create_app
from service.audit.models import AuditEntry, PendingAuditEntry
from service.config import Settings
from service.tips.models import ReceiptLockout, Tip
from tests.factories import Border, tip_json
from tests.staff_util import api_login

FULL_EN = "Please come back later"
FULL_ES = "Vuelva más tarde"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(eq=False)
class PageLimit:
    """`PRAGMA max_page_count` applied to every connection the app checks out: set it to the
    database's size and the database is full; lift it and there is room again (no restart)."""

    pages: int | None = None

    def __call__(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        limit = self.pages if self.pages is not None else 1_073_741_823
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit}")

    def fill(self, engine: Engine) -> None:
        with engine.connect() as connection:
            self.pages = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())


@pytest.fixture
def web(settings: Settings, border: Border) -> Iterator[TestClient]:
    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("simulated with SQLite's max_page_count; PostgreSQL's 53100 is mapped alike")
    with TestClient(create_app(settings)) as client:
        yield client


def _count(engine: Engine, what: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(what)) or 0)


def _wrong() -> str:
    """A well-formed receipt nobody holds: each failed attempt is a new lockout row."""
    return new_receipt().format()


def _assert_full_json(response: Any) -> None:
    assert response.status_code == 507, response.text
    assert response.json() == {
        "error": "insufficient_storage",
        "detail": "the server's storage is full; nothing was stored; please try again later",
    }
    assert response.headers["retry-after"]


def _assert_full_page(response: Any, text: str) -> None:
    assert response.status_code == 507, response.text[:300]
    assert text in response.text
    assert response.headers["content-type"].startswith("text/html")


def _until_full(send: Any, rows: Any, attempts: int = 300) -> Any:
    """Send until the write needs a page the database may not have (a row may still fit in a
    half-filled page); every answer before that is an ordinary success. The failed request
    must leave the `rows` count as it found it."""
    for _ in range(attempts):
        before = rows()
        response = send()
        if response.status_code == 507:
            assert rows() == before, "a failed request left rows behind"
            return response
        assert response.status_code < 500, response.text[:300]
    pytest.fail(f"no 507 after {attempts} attempts")


def test_a_full_database_is_507_everywhere_then_recovers_without_restart(
    web: TestClient, engine: Engine, border: Border
) -> None:
    receipt = web.post("/api/v1/tips", json=tip_json()).json()["receipt"]
    staff = api_login(web, border.reviewer_us)
    cookie = {"Cookie": "probity_staff=" + staff["Authorization"].removeprefix("Bearer ")}
    tip_id = web.get("/api/v1/queue", headers=staff).json()["tips"][0]["id"]
    limit = PageLimit()
    app_engine: Engine = web.app.state.engine  # type: ignore[attr-defined]
    event.listen(app_engine, "checkout", limit)
    limit.fill(app_engine)

    def tips() -> int:
        return _count(engine, Tip)

    def lockouts() -> int:
        return _count(engine, ReceiptLockout)

    def audit() -> int:
        return _count(engine, AuditEntry) + _count(engine, PendingAuditEntry)

    # Submissions until one needs a page: 507, and nothing of it stays.
    _assert_full_json(_until_full(lambda: web.post("/api/v1/tips", json=tip_json()), tips))
    ready = web.get("/readyz")
    assert ready.status_code == 503
    assert "storage full" in ready.json()["detail"]
    # While the database stays full, submissions are refused at once, not queued.
    _assert_full_json(web.post("/api/v1/tips", json=tip_json()))
    # Reads that need a write: a receipt sign-in (a failed attempt is counted) and a tip view
    # (audited before any content is served); pages answer in the reader's language.
    _assert_full_json(
        _until_full(
            lambda: web.post("/api/v1/reporter/session", json={"receipt": _wrong()}), lockouts
        )
    )
    view = _until_full(lambda: web.get(f"/api/v1/tips/{tip_id}", headers=staff), audit)
    _assert_full_json(view)
    page = _until_full(lambda: web.get(f"/staff/tips/{tip_id}", headers=cookie), audit)
    _assert_full_page(page, FULL_EN)
    assert "Nothing was stored" not in page.text  # a page view, not a sent form
    status = web.get("/status?lang=es")
    csrf = CSRF.search(status.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1)}
    signin = _until_full(
        lambda: web.post("/status?lang=es", data={**form, "receipt": _wrong()}), lockouts
    )
    _assert_full_page(signin, FULL_ES)
    assert "No se guardó nada" in signin.text
    assert "Ysleta" not in view.text + page.text  # no content without its audit entry

    # Room again: the same requests work, with no restart.
    limit.pages = None
    assert web.get("/readyz").json() == {"status": "ready"}
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201
    assert web.post("/api/v1/reporter/session", json={"receipt": receipt}).status_code == 200
    assert web.get(f"/api/v1/tips/{tip_id}", headers=staff).status_code == 200
    assert web.get(f"/staff/tips/{tip_id}", headers=cookie).status_code == 200
