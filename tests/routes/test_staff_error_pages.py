"""Refusals on staff pages are staff pages that say why, not the reporter's expired-form page."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.factories import Border
from tests.staff_util import page_login


def test_a_wrong_role_gets_a_staff_page_saying_it_may_not(web: TestClient, border: Border) -> None:
    page_login(web, border.reviewer_us)
    response = web.get("/staff/admin")
    assert response.status_code == 403
    assert "You may not do this" in response.text
    assert "no longer be used" not in response.text
    assert 'class="staff"' in response.text


def test_a_tip_outside_the_audience_is_a_staff_not_found_page(
    web: TestClient, border: Border
) -> None:
    page_login(web, border.reviewer_us)
    response = web.get(f"/staff/tips/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "Not found" in response.text
    assert 'class="staff"' in response.text


def test_reporter_pages_keep_their_own_error_page(web: TestClient) -> None:
    missing = web.get("/no-such-page")
    assert missing.status_code == 404
    assert 'class="staff"' not in missing.text
