"""The tip page's action forms and the approvals page, JavaScript-free, with CSRF."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.config import Settings
from service.db import make_session_factory
from service.staff.models import Role
from service.tips.models import Tip
from tests.factories import REFERRAL_RECIPIENT, Border, add_staff, submit, tip_row
from tests.service.workflow_util import actions
from tests.staff_util import csrf_of, page_login, signed_in


def _changes(engine: Engine, tip_id: uuid.UUID) -> list[str]:
    """The tip's audit entries other than page views."""
    return [a for a in actions(engine, tip_id) if a != "tip.viewed"]


@pytest.fixture
def sue(engine: Engine, settings: Settings, border: Border) -> Iterator[TestClient]:
    """A second US supervisor, signed in on her own client (cookie session)."""
    handle = add_staff(engine, settings, "sue", Role.SUPERVISOR, ["us"])
    with signed_in(settings, handle) as client:
        yield client


def test_a_reviewer_moves_a_tip_through_the_page_forms(
    web: TestClient, engine: Engine, ana_tip: uuid.UUID
) -> None:
    page = web.get(f"/staff/tips/{ana_tip}")
    assert page.status_code == 200
    assert f'action="/staff/tips/{ana_tip}/transition?lang=en"' in page.text
    token = csrf_of(page.text)
    moved = web.post(
        f"/staff/tips/{ana_tip}/transition?lang=es",
        data={"csrf": token, "to": "triage"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/staff/tips/{ana_tip}?lang=es"
    assert tip_row(engine, ana_tip).status == "triage"
    asked = web.post(
        f"/staff/tips/{ana_tip}/transition",
        data={"csrf": token, "to": "needs_info", "message": "Which night?"},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    note = web.post(
        f"/staff/tips/{ana_tip}/note",
        data={"csrf": token, "body": "Roster"},
        follow_redirects=False,
    )
    assert note.status_code == 303
    assert _changes(engine, ana_tip) == [
        "tip.transitioned",
        "message.sent",
        "tip.transitioned",
        "note.added",
    ]


def test_a_refused_action_shows_a_staff_error_page_and_changes_nothing(
    web: TestClient, engine: Engine, ana_tip: uuid.UUID
) -> None:
    token = csrf_of(web.get(f"/staff/tips/{ana_tip}").text)
    illegal = web.post(
        f"/staff/tips/{ana_tip}/transition?lang=es", data={"csrf": token, "to": "closed"}
    )
    assert illegal.status_code == 409
    assert "Este cambio de estado no es posible ahora" in illegal.text
    assert f'href="/staff/tips/{ana_tip}?lang=es"' in illegal.text
    bad = web.post(f"/staff/tips/{ana_tip}/priority", data={"csrf": token, "priority": "high"})
    assert bad.status_code == 422
    forged = web.post(f"/staff/tips/{ana_tip}/note", data={"csrf": "forged", "body": "x"})
    assert forged.status_code == 403
    assert tip_row(engine, ana_tip).status == "received"
    assert _changes(engine, ana_tip) == []


def test_closing_with_findings_goes_through_another_supervisor_on_the_approvals_page(
    web: TestClient, engine: Engine, settings: Settings, border: Border, sue: TestClient
) -> None:
    tip_id, _ = submit(engine, settings)
    with make_session_factory(engine)() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        tip.status = "decision_review"
        session.commit()
    page_login(web, border.reviewer_us)
    page = web.get(f"/staff/tips/{tip_id}")
    assert 'name="finding:bribery"' in page.text
    assert 'name="finding:leaking"' in page.text
    form = {"csrf": csrf_of(page.text), "to": "closed"}
    form |= {"finding:bribery": "sustained", "finding:leaking": "unfounded"}
    asked = web.post(f"/staff/tips/{tip_id}/transition", data=form, follow_redirects=False)
    assert asked.status_code == 303
    listing = sue.get("/staff/approvals?lang=es")
    assert listing.status_code == 200
    assert "Cerrar con resoluciones" in listing.text
    assert "Sergeant" not in listing.text  # never content
    approval = re.search(r'action="/staff/approvals/([0-9a-f-]+)/decision', listing.text)
    assert approval is not None
    decided = sue.post(
        f"/staff/approvals/{approval.group(1)}/decision?lang=es",
        data={"csrf": csrf_of(listing.text), "approve": "1", "back": "list"},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert decided.headers["location"] == "/staff/approvals?lang=es"
    assert tip_row(engine, tip_id).status == "closed"
    again = sue.post(
        f"/staff/approvals/{approval.group(1)}/decision",
        data={"csrf": csrf_of(listing.text), "approve": "0"},
    )
    assert again.status_code == 409


def test_a_reviewer_sees_own_requests_but_cannot_decide(
    web: TestClient, engine: Engine, ana_tip: uuid.UUID
) -> None:
    token = csrf_of(web.get(f"/staff/tips/{ana_tip}").text)
    sent = web.post(
        f"/staff/tips/{ana_tip}/request",
        data={
            "csrf": token,
            "kind": "export",
            "reason": "Prosecutor",
            "recipient": REFERRAL_RECIPIENT,
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303
    page = web.get("/staff/approvals")
    assert page.status_code == 200
    assert "Export or refer" in page.text
    assert "Waiting for your decision" not in page.text
    refused = web.post(
        f"/staff/approvals/{uuid.uuid4()}/decision", data={"csrf": token, "approve": "1"}
    )
    assert refused.status_code == 403
