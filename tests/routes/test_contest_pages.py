"""A reporter contests a closure from the status page (no JavaScript, English and Spanish)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.approvals.service import decide
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.staff.models import Role
from service.tips.models import Message, Tip
from service.tips.workflow import transition
from tests.factories import Border, in_tx, principal, submit, tip_row
from tests.routes.reporter_pages_util import forms


def _close(engine: Engine, border: Border, tip_id: uuid.UUID) -> None:
    ana = principal(border.reviewer_us)
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    in_tx(engine, lambda s: transition(s, ana, tip_id, to="triage", now=utcnow()))
    asked = in_tx(
        engine, lambda s: transition(s, ana, tip_id, to="closed", reason="spam", now=utcnow())
    )
    approval_id = asked.approval_id
    assert approval_id is not None
    in_tx(engine, lambda s: decide(s, sam, approval_id, approve=True, now=utcnow()))


def _messages(engine: Engine, tip_id: uuid.UUID) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).where(Message.tip_id == tip_id)) or 0


def _sign_in(web: TestClient, receipt: str, lang: str) -> str:
    token = forms(web.get(f"/status?lang={lang}").text)[0].value("csrf")
    signed = web.post(
        f"/status?lang={lang}", data={"csrf": token, "receipt": receipt}, follow_redirects=False
    )
    assert signed.status_code == 303
    return web.get(f"/status/tip?lang={lang}").text


def _contest_form(page: str) -> dict[str, str] | None:
    found = [f for f in forms(page) if f.action.split("?")[0].endswith("/status/contest")]
    return {"csrf": found[0].value("csrf")} if found else None


@pytest.mark.parametrize(
    ("lang", "done"), [("en", "You contested this closure"), ("es", "Usted impugnó este cierre")]
)
def test_a_reporter_contests_a_closure_from_the_status_page_once(
    web: TestClient, engine: Engine, settings: Settings, border: Border, lang: str, done: str
) -> None:
    tip_id, receipt = submit(engine, settings)
    assert _contest_form(_sign_in(web, receipt, lang)) is None  # open: nothing to contest
    _close(engine, border, tip_id)
    page = web.get(f"/status/tip?lang={lang}").text
    form = _contest_form(page)
    assert form is not None
    answer = web.post(
        f"/status/contest?lang={lang}",
        data={**form, "message": "Not spam at all."},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    page = web.get(answer.headers["location"]).text
    assert done in page
    assert "Not spam at all." in page
    assert _contest_form(page) is None
    assert tip_row(engine, tip_id).contested_on == utcnow().date()
    again = web.post(f"/status/contest?lang={lang}", data={**form, "message": "Again"})
    assert again.status_code == 409
    assert _messages(engine, tip_id) == 1


def test_contesting_without_a_session_a_token_or_on_an_open_tip_changes_nothing(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, receipt = submit(engine, settings)
    _sign_in(web, receipt, "en")
    token = forms(web.get("/status/tip").text)[-1].value("csrf")  # the sign-out token
    assert web.post("/status/contest", data={"csrf": token}).status_code in (400, 403)
    _close(engine, border, tip_id)
    form = _contest_form(web.get("/status/tip").text)
    assert form is not None
    too_long = web.post("/status/contest", data={**form, "message": "x" * 10_001})
    assert too_long.status_code == 422
    assert "too long" in too_long.text
    web.cookies.clear()
    anonymous = web.post("/status/contest", data=form, follow_redirects=False)
    assert anonymous.status_code == 303
    assert "/status" in anonymous.headers["location"]
    assert tip_row(engine, tip_id).contested_on is None
    assert _messages(engine, tip_id) == 0


def test_contesting_an_open_tip_from_a_stale_page_is_409(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, receipt = submit(engine, settings)
    _close(engine, border, tip_id)
    form = _contest_form(_sign_in(web, receipt, "en"))
    assert form is not None

    def reopen(session: object) -> None:
        tip = session.get(Tip, tip_id)  # type: ignore[attr-defined]
        tip.status = "triage"

    in_tx(engine, reopen)
    answer = web.post("/status/contest", data=form)
    assert answer.status_code == 409
    assert "Only a closed report can be contested." in answer.text
    assert tip_row(engine, tip_id).contested_on is None
