"""Oversight on the approvals page, JavaScript-free with CSRF: the review's sequence closed from
the tip page waits for another supervisor; a closure nobody else can decide is decided by an
oversight supervisor without a link to the tip; contested closures are listed content-free with
a reroute request."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.approvals.models import Approval
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.staff.models import Role
from service.tips.contest import contest_closure
from tests.factories import Border, add_staff, in_tx, reporter_session, submit, tip_row
from tests.staff_util import csrf_of, page_login, signed_in


@pytest.fixture
def otto(engine: Engine, settings: Settings, border: Border) -> Iterator[TestClient]:
    """An oversight supervisor, signed in on his own client."""
    handle = add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"])
    with signed_in(settings, handle) as client:
        yield client


def _close_from_page(web: TestClient, tip_id: uuid.UUID) -> None:
    for form in ({"to": "triage"}, {"to": "closed", "reason": "spam"}):
        page = web.get(f"/staff/tips/{tip_id}").text
        sent = web.post(
            f"/staff/tips/{tip_id}/transition",
            data={"csrf": csrf_of(page), **form},
            follow_redirects=False,
        )
        assert sent.status_code == 303


def test_closing_as_spam_from_the_tip_page_only_asks(
    web: TestClient, engine: Engine, ana_tip: uuid.UUID
) -> None:
    _close_from_page(web, ana_tip)
    assert tip_row(engine, ana_tip).status == "triage"
    page = web.get(f"/staff/tips/{ana_tip}").text
    assert "Waiting for approval" in page
    assert "Another supervisor must decide your request." in page


def test_an_oversight_supervisor_decides_a_closure_nobody_else_can_without_a_tip_link(
    web: TestClient, engine: Engine, settings: Settings, border: Border, otto: TestClient
) -> None:
    tip_id, _ = submit(engine, settings, agency="tijuana-municipal")  # no supervisor reads it
    page_login(web, border.reviewer_mx)
    _close_from_page(web, tip_id)
    mine = web.get("/staff/approvals").text
    assert "an oversight supervisor will, without reading the tip" in mine
    listing = otto.get("/staff/approvals")
    assert "You decide without reading the tip." in listing.text
    assert f"/staff/tips/{tip_id}" not in listing.text
    assert "Sergeant" not in listing.text  # never content
    approval = re.search(r'action="/staff/approvals/([0-9a-f-]+)/decision', listing.text)
    assert approval is not None
    decided = otto.post(
        f"/staff/approvals/{approval.group(1)}/decision",
        data={"csrf": csrf_of(listing.text), "approve": "1"},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert tip_row(engine, tip_id).status == "closed"
    assert otto.get(f"/staff/tips/{tip_id}").status_code == 404


def test_oversight_lists_a_contested_closure_and_asks_for_a_reroute(
    web: TestClient, engine: Engine, settings: Settings, border: Border, otto: TestClient
) -> None:
    tip_id, receipt = submit(engine, settings, agency="tijuana-municipal")
    page_login(web, border.reviewer_mx)
    _close_from_page(web, tip_id)
    decide_page = otto.get("/staff/approvals").text
    approval = re.search(r'action="/staff/approvals/([0-9a-f-]+)/decision', decide_page)
    assert approval is not None
    otto.post(
        f"/staff/approvals/{approval.group(1)}/decision",
        data={"csrf": csrf_of(decide_page), "approve": "1"},
    )
    assert "No closure is contested." in otto.get("/staff/approvals").text
    assert "Contested closures" not in web.get("/staff/approvals").text  # reviewers: no section
    reporter = reporter_session(engine, settings, receipt, now=utcnow())
    in_tx(engine, lambda s: contest_closure(s, reporter, None, today=utcnow().date()))
    listing = otto.get("/staff/approvals?lang=es")
    assert "Cierres impugnados" in listing.text
    assert "Sergeant" not in listing.text
    action = f"/staff/contested/{tip_id}/reroute"
    assert action in listing.text
    asked = otto.post(action, data={"csrf": csrf_of(listing.text)}, follow_redirects=False)
    assert asked.status_code == 303
    assert "Reasignación solicitada" in otto.get("/staff/approvals?lang=es").text
    tip_page = web.get(f"/staff/tips/{tip_id}").text  # luis, in the audience
    assert "Contested by the reporter on" in tip_page
    with make_session_factory(engine)() as session:
        kinds = session.scalars(select(Approval.kind).where(Approval.tip_id == tip_id)).all()
    assert sorted(kinds) == ["close_with_reason", "reroute"]
    again = otto.post(action, data={"csrf": csrf_of(listing.text)})
    assert again.status_code == 409
    assert otto.post(action, data={"csrf": "forged"}).status_code in (400, 403)
